/*
 * Parsers for what clients claim to be. Every input is a NUL-terminated
 * header value or a bounded body; every output is bounded and checked.
 * A password never outlives the request: cred_clear wipes it.
 */
#include <string.h>

#include "cred.h"

int
cred_token_valid(const char *s, size_t len)
{
	size_t i;

	if (len != CRED_TOKEN_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Finds our cookie among "a=b; c=d"; 1 with a well-formed token. */
int
cred_cookie_token(const char *header, char token[CRED_TOKEN_LEN + 1])
{
	const char *p = header, *value, *end;
	size_t namelen = strlen(CRED_COOKIE_NAME);

	while (*p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > namelen &&
		    strncmp(p, CRED_COOKIE_NAME, namelen) == 0 &&
		    p[namelen] == '=') {
			value = p + namelen + 1;
			while (end > value && end[-1] == ' ')
				end--;
			if (cred_token_valid(value, end - value)) {
				memcpy(token, value, CRED_TOKEN_LEN);
				token[CRED_TOKEN_LEN] = '\0';
				return 1;
			}
		}
		p = end;
	}
	return 0;
}

static int
b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 with padding; returns the decoded length or -1. */
static int
b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize)
{
	size_t i, n = 0;
	int v[4], j, pad;

	if (inlen == 0 || inlen % 4 != 0)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		pad = 0;
		for (j = 0; j < 4; j++) {
			if (in[i + j] == '=' && i + 4 == inlen && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad > 0 || (v[j] = b64_value(in[i + j])) < 0)
				return -1;
		}
		if (n + 3 - pad > outsize)
			return -1;
		out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (unsigned char)(v[2] << 6 | v[3]);
	}
	return (int)n;
}

/* "user:password": the name must be a valid name, no control bytes. */
static int
basic_split(const unsigned char *d, int n, struct cred *c)
{
	const unsigned char *colon = memchr(d, ':', n);
	size_t ulen, plen;
	int i;

	if (colon == NULL)
		return -1;
	ulen = colon - d;
	plen = n - ulen - 1;
	if (ulen == 0 || ulen >= sizeof(c->user) || plen >= sizeof(c->password))
		return -1;
	for (i = 0; i < n; i++)
		if (d[i] < 0x20 || d[i] == 0x7f)
			return -1;
	memcpy(c->user, d, ulen);
	c->user[ulen] = '\0';
	if (!conf_name_valid(c->user))
		return -1;
	memcpy(c->password, colon + 1, plen);
	c->password[plen] = '\0';
	return 0;
}

void
cred_authorization(const char *header, struct cred *c)
{
	unsigned char decoded[CONF_NAME_MAX + CRED_PASSWORD_MAX + 4];
	int n;

	memset(c, 0, sizeof(*c));
	if (header[0] == '\0')
		return;
	c->kind = CRED_BAD;
	if (strncasecmp(header, "Basic ", 6) == 0) {
		n = b64_decode(header + 6, strlen(header + 6), decoded,
		    sizeof(decoded));
		if (n > 0 && basic_split(decoded, n, c) == 0)
			c->kind = CRED_BASIC;
		explicit_bzero(decoded, sizeof(decoded));
	} else if (strncasecmp(header, "Bearer ", 7) == 0 &&
	    cred_token_valid(header + 7, strlen(header + 7))) {
		memcpy(c->token, header + 7, CRED_TOKEN_LEN);
		c->kind = CRED_BEARER;
	}
	if (c->kind == CRED_BAD)
		cred_clear(c);
}

void
cred_clear(struct cred *c)
{
	enum cred_kind kind = c->kind;

	explicit_bzero(c, sizeof(*c));
	c->kind = kind == CRED_BAD ? CRED_BAD : CRED_NONE;
}
