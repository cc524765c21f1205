/*
 * libFuzzer target for the header credential parsers (sessiond/cred.c).
 * The first byte picks the parser, even ('0'): the Cookie header, odd
 * ('1'): Authorization; the rest, NUL-terminated, is the header value.
 * A Basic result, encoded again, must parse to the same user and password.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static void
check_cookie(const char *header)
{
	char token[CRED_TOKEN_LEN + 2];

	memset(token, 'X', sizeof(token));
	if (cred_cookie_token(header, token)) {
		CHECK(token[CRED_TOKEN_LEN] == '\0');
		CHECK(cred_token_valid(token, CRED_TOKEN_LEN));
		/* Copied from the header, right after our cookie's name. */
		CHECK(strstr(header, token) != NULL);
		CHECK(strstr(header, CRED_COOKIE_NAME "=") != NULL);
	}
	CHECK(token[CRED_TOKEN_LEN + 1] == 'X');
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
check_basic_round_trip(const struct cred *c)
{
	char raw[CONF_NAME_MAX + CRED_PASSWORD_MAX + 1];
	char header[8 + 4 * sizeof(raw) / 3 + 4];
	struct cred again;
	size_t len, i, n = 6;
	unsigned v;

	len = snprintf(raw, sizeof(raw), "%s:%s", c->user, c->password);
	CHECK(len < sizeof(raw));
	memcpy(header, "Basic ", 6);
	for (i = 0; i < len; i += 3) {
		v = (unsigned char)raw[i] << 16;
		if (i + 1 < len)
			v |= (unsigned char)raw[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)raw[i + 2];
		header[n++] = b64[v >> 18 & 63];
		header[n++] = b64[v >> 12 & 63];
		header[n++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		header[n++] = i + 2 < len ? b64[v & 63] : '=';
	}
	header[n] = '\0';
	cred_authorization(header, &again);
	CHECK(again.kind == CRED_BASIC);
	CHECK(strcmp(again.user, c->user) == 0);
	CHECK(strcmp(again.password, c->password) == 0);
	cred_clear(&again);
}

static void
check_authorization(const char *header)
{
	struct cred c;
	const char *p;

	memset(&c, 0xa5, sizeof(c));
	cred_authorization(header, &c);
	CHECK(memchr(c.user, '\0', sizeof(c.user)) != NULL);
	CHECK(memchr(c.password, '\0', sizeof(c.password)) != NULL);
	CHECK(memchr(c.token, '\0', sizeof(c.token)) != NULL);
	switch (c.kind) {
	case CRED_NONE:
		CHECK(header[0] == '\0');
		break;
	case CRED_BASIC:
		CHECK(strncasecmp(header, "Basic ", 6) == 0);
		CHECK(c.user[0] != '\0');
		CHECK(strchr(c.user, ':') == NULL);
		CHECK(conf_name_valid(c.user));
		CHECK(c.token[0] == '\0');
		for (p = c.password; *p != '\0'; p++)
			CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
		check_basic_round_trip(&c);
		break;
	case CRED_BEARER:
		CHECK(strncasecmp(header, "Bearer ", 7) == 0);
		CHECK(strlen(c.token) == CRED_TOKEN_LEN);
		CHECK(cred_token_valid(c.token, CRED_TOKEN_LEN));
		CHECK(strcmp(header + 7, c.token) == 0);
		CHECK(c.user[0] == '\0' && c.password[0] == '\0');
		break;
	case CRED_BAD:
		/* Nothing of a refused header is kept. */
		CHECK(header[0] != '\0');
		CHECK(all_zero(c.user, sizeof(c.user)));
		CHECK(all_zero(c.password, sizeof(c.password)));
		CHECK(all_zero(c.token, sizeof(c.token)));
		break;
	default:
		CHECK(0);
	}
	cred_clear(&c);
	CHECK(c.kind == CRED_NONE || c.kind == CRED_BAD);
	CHECK(all_zero(c.user, sizeof(c.user)));
	CHECK(all_zero(c.password, sizeof(c.password)));
	CHECK(all_zero(c.token, sizeof(c.token)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header;

	if (size < 1)
		return 0;
	/* Exactly the bytes and the NUL: ASan sees any read past it. */
	if ((header = malloc(size)) == NULL)
		return 0;
	memcpy(header, data + 1, size - 1);
	header[size - 1] = '\0';
	if (data[0] & 1)
		check_authorization(header);
	else
		check_cookie(header);
	free(header);
	return 0;
}
