/*
 * The body of POST /api/exports/NAME/resume: exactly one JSON object
 * with one member, "secret", a string of 64 hexadecimal digits (either
 * case), with JSON whitespace around the tokens. Anything else is
 * refused: no escapes, no other member, nothing after the object.
 */
#include <stddef.h>
#include <string.h>

#include "resume.h"

struct body_in {
	const char *p;
	const char *end;
};

static void
skip_ws(struct body_in *in)
{
	while (in->p < in->end &&
	    (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' ||
		*in->p == '\r'))
		in->p++;
}

static int
token(struct body_in *in, const char *t)
{
	size_t n = strlen(t);

	skip_ws(in);
	if ((size_t)(in->end - in->p) < n || memcmp(in->p, t, n) != 0)
		return 0;
	in->p += n;
	return 1;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 0 with secret (SESSION_SECRET_LEN bytes) filled, -1 for anything else. */
int
resume_body_parse(const char *body, size_t len, unsigned char *secret)
{
	struct body_in in = { body, body + len };
	int i, hi, lo;

	if (!token(&in, "{") || !token(&in, "\"secret\"") || !token(&in, ":") ||
	    !token(&in, "\""))
		goto bad;
	if ((size_t)(in.end - in.p) < 2 * SESSION_SECRET_LEN + 1)
		goto bad;
	for (i = 0; i < SESSION_SECRET_LEN; i++) {
		hi = hex_digit(in.p[2 * i]);
		lo = hex_digit(in.p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		secret[i] = (unsigned char)(hi << 4 | lo);
	}
	in.p += 2 * SESSION_SECRET_LEN;
	if (*in.p++ != '"' || !token(&in, "}"))
		goto bad;
	skip_ws(&in);
	if (in.p != in.end)
		goto bad;
	return 0;
bad:
	memset(secret, 0, SESSION_SECRET_LEN);
	return -1;
}
