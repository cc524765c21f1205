/*
 * vmediad -P: reads a password (without echo on a terminal, asked twice)
 * and prints its crypt(3) hash, yescrypt, for a [user] section.
 */
#include <crypt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "vmediad.h"

#define PW_MAX 256

static int
read_line(const char *prompt, char *buf, size_t size, int tty)
{
	struct termios old, quiet;
	size_t len;
	int ok;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	ok = fgets(buf, (int)size, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!ok)
		return -1;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (len == size - 1)
		return -1; /* longer than we take */
	return 0;
}

int
hashpw_main(void)
{
	static struct crypt_data data;
	char pw[PW_MAX], again[PW_MAX], salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *hash;
	int tty = isatty(STDIN_FILENO);

	if (read_line("Password: ", pw, sizeof(pw), tty) == -1 ||
	    (tty && read_line("Again: ", again, sizeof(again), tty) == -1)) {
		fprintf(stderr,
		    "vmediad: no password read (at most %d characters)\n",
		    PW_MAX - 2);
		return 1;
	}
	if (tty && strcmp(pw, again) != 0) {
		fprintf(stderr, "vmediad: the passwords differ\n");
		return 1;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "vmediad: empty password refused\n");
		return 1;
	}
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL ||
	    (hash = crypt_rn(pw, salt, &data, sizeof(data))) == NULL ||
	    hash[0] == '*') {
		fprintf(stderr, "vmediad: crypt failed\n");
		return 1;
	}
	printf("%s\n", hash);
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
	explicit_bzero(&data, sizeof(data));
	return 0;
}
