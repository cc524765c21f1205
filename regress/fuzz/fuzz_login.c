/*
 * libFuzzer target for the JSON bodies (sessiond/cred_json.c), the
 * login's and, from the same bytes, an insert's: the
 * input is the body as sessiond hands it over, bounded, not NUL-ended.
 * What it accepts, written back as JSON, must parse to the same values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"

#define CHECK(x) \
	do { \
		if (!(x)) \
			__builtin_trap(); \
	} while (0)

static int
all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* s as a JSON string body: quotes, backslashes and controls escaped. */
static size_t
json_escape(char *out, const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			out[n++] = '\\';
			out[n++] = *s;
		} else if ((unsigned char)*s < 0x20)
			n += sprintf(out + n, "\\u%04x", (unsigned char)*s);
		else
			out[n++] = *s;
	}
	out[n] = '\0';
	return n;
}

static void
check_round_trip(const struct cred *c)
{
	char body[64 + CONF_NAME_MAX + 6 * CRED_PASSWORD_MAX];
	char password[6 * CRED_PASSWORD_MAX];
	struct cred again;
	int n;

	json_escape(password, c->password);
	n = snprintf(body, sizeof(body),
	    "{\"password\":\"%s\",\"username\":\"%s\"}", password, c->user);
	CHECK(n > 0 && (size_t)n < sizeof(body));
	CHECK(cred_login_body(body, n, &again) == 0);
	CHECK(strcmp(again.user, c->user) == 0);
	CHECK(strcmp(again.password, c->password) == 0);
	cred_clear(&again);
}

/*
 * The same bytes as an insert body: a url accepted is a non-empty,
 * terminated string that comes back the same from its JSON; refused, it
 * is empty.
 */
static void
check_insert(const char *body, size_t size)
{
	static struct cred_insert in, again;
	static char esc[3][6 * CRED_PASSWORD_MAX];
	static char round[64 + 18 * CRED_PASSWORD_MAX];
	int n;

	memset(&in, 0xa5, sizeof(in));
	if (cred_insert_body(body, size, &in) == -1) {
		CHECK(all_zero(&in, sizeof(in)));
		return;
	}
	CHECK(memchr(in.url, '\0', sizeof(in.url)) != NULL && in.url[0]);
	CHECK(memchr(in.user, '\0', sizeof(in.user)) != NULL);
	CHECK(memchr(in.password, '\0', sizeof(in.password)) != NULL);
	CHECK((in.user[0] == '\0') == (in.password[0] == '\0'));
	CHECK(size >= strlen(in.url) + 10);
	json_escape(esc[0], in.url);
	json_escape(esc[1], in.user);
	json_escape(esc[2], in.password);
	n = in.user[0] == '\0' ?
	    snprintf(round, sizeof(round), "{\"url\":\"%s\"}", esc[0]) :
	    snprintf(round, sizeof(round),
		"{\"password\":\"%s\",\"url\":\"%s\",\"username\":\"%s\"}",
		esc[2], esc[0], esc[1]);
	CHECK(n > 0 && (size_t)n < sizeof(round));
	CHECK(cred_insert_body(round, n, &again) == 0);
	CHECK(strcmp(again.url, in.url) == 0);
	CHECK(strcmp(again.user, in.user) == 0);
	CHECK(strcmp(again.password, in.password) == 0);
	explicit_bzero(&in, sizeof(in));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cred c;
	char *body;
	size_t ulen, plen;

	/* A copy of exactly size bytes: ASan sees any read past the end. */
	if ((body = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(body, data, size);
	memset(&c, 0xa5, sizeof(c));
	if (cred_login_body(body, size, &c) == 0) {
		CHECK(c.kind == CRED_BASIC);
		CHECK(memchr(c.user, '\0', sizeof(c.user)) != NULL);
		CHECK(memchr(c.password, '\0', sizeof(c.password)) != NULL);
		ulen = strlen(c.user);
		plen = strlen(c.password);
		CHECK(ulen > 0 && ulen < CONF_NAME_MAX);
		CHECK(plen < CRED_PASSWORD_MAX);
		CHECK(conf_name_valid(c.user));
		CHECK(c.token[0] == '\0');
		/* A body holds at least its own decoded strings. */
		CHECK(size >= ulen + plen + 2 * 12);
		CHECK(memchr(body, '{', size) != NULL);
		check_round_trip(&c);
	} else
		CHECK(all_zero(&c, sizeof(c)));
	check_insert(body, size);
	cred_clear(&c);
	CHECK(all_zero(&c, sizeof(c)) || c.kind == CRED_BAD);
	free(body);
	return 0;
}
