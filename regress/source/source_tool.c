/*
 * Drives privsep/source.c as vmediad will: source_tool CONF EXPORT DIR
 * prepares DIR for the export's source and prints nbdkit's arguments, one
 * a line, then its environment, each variable as "env NAME=VALUE"; with "--
 * COMMAND ARGS..." it then starts nbdkit and runs COMMAND with the NBD socket
 * on fd 3 and nbdkit's pid in SOURCE_PID.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "source.h"

static void
complain(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

int
main(int argc, char **argv)
{
	static struct conf conf;
	static struct source_argv a;
	const struct conf_export *e;
	struct source_child c;
	char why[512], pid[32];
	int i;

	if (argc < 4 ||
	    (argc > 4 && (strcmp(argv[4], "--") != 0 || argc < 6))) {
		fprintf(stderr,
		    "usage: source_tool CONF EXPORT DIR [-- COMMAND ...]\n");
		return 2;
	}
	if (conf_load(&conf, argv[1], complain, NULL) != 0)
		return 1;
	if ((e = conf_find_export(&conf, argv[2])) == NULL ||
	    e->source[0] == '\0') {
		fprintf(stderr, "no export %s with a source\n", argv[2]);
		return 1;
	}
	if (source_prepare(e, argv[3], conf.global.uid, conf.global.gid, why,
		sizeof(why)) == -1 ||
	    source_build_argv(e, argv[3], 0, &a, why, sizeof(why)) == -1) {
		fprintf(stderr, "source: %s\n", why);
		return 1;
	}
	if (argc == 4) {
		for (i = 0; i < a.argc; i++)
			printf("%s\n", a.argv[i]);
		for (i = 0; a.envp[i] != NULL; i++)
			printf("env %s\n", a.envp[i]);
		return 0;
	}
	if (source_spawn(e, argv[3], conf.global.uid, conf.global.gid, 0, &c,
		why, sizeof(why)) == -1) {
		fprintf(stderr, "source: %s\n", why);
		return 1;
	}
	snprintf(pid, sizeof(pid), "%d", (int)c.pid);
	/* dup2 onto itself would keep close-on-exec: clear it then. */
	if (setenv("SOURCE_PID", pid, 1) == -1 ||
	    (c.fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(c.fd, 3)) == -1)
		return 1;
	execvp(argv[5], argv + 5);
	perror(argv[5]);
	return 127;
}
