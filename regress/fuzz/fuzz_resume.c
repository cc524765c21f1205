/*
 * libFuzzer target for the body of POST /api/exports/NAME/resume
 * (sessiond/resume.c): the input is the body as sessiond hands it over,
 * bounded, not NUL-ended. What it accepts holds exactly 64 hex digits,
 * and they must be the secret it returns; what it refuses leaves the
 * secret zeroed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resume.h"

#define CHECK(x) \
	do { \
		if (!(x)) \
			__builtin_trap(); \
	} while (0)

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char secret[SESSION_SECRET_LEN], zero[SESSION_SECRET_LEN];
	const char *q;
	char *body;
	int i;

	/* exactly size bytes: ASan sees any read past the end */
	if ((body = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(body, data, size);
	memset(secret, 0xa5, sizeof(secret));
	memset(zero, 0, sizeof(zero));
	if (resume_body_parse(body, size, secret) == -1) {
		CHECK(memcmp(secret, zero, sizeof(zero)) == 0);
		free(body);
		return 0;
	}
	q = memchr(body, ':', size);
	CHECK(q != NULL);
	q = memchr(q, '"', size - (q - body));
	CHECK(q != NULL &&
	    (size_t)(q - body) + 2 * SESSION_SECRET_LEN + 2 <= size);
	for (i = 0; i < SESSION_SECRET_LEN; i++)
		CHECK(hex(q[1 + 2 * i]) >= 0 && hex(q[2 + 2 * i]) >= 0 &&
		    secret[i] == (hex(q[1 + 2 * i]) << 4 | hex(q[2 + 2 * i])));
	CHECK(q[1 + 2 * SESSION_SECRET_LEN] == '"');
	free(body);
	return 0;
}
