/*
 * Reading small JSON request bodies: whitespace, strings (escapes and
 * surrogate pairs decoded into a bounded buffer) and bare scalars. Shared
 * by the login body (cred_json.c) and Redfish's (redfish_body.c).
 */
#include <string.h>

#include "json_in.h"

void
json_in_ws(struct json_in *in)
{
	while (in->p < in->end &&
	    (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' ||
		*in->p == '\r'))
		in->p++;
}

static int
hex4(const char *p, unsigned *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		*v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			*v |= p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			*v |= p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			*v |= p[i] - 'A' + 10;
		else
			return -1;
	}
	return 0;
}

static int
put_utf8(unsigned cp, char *out, size_t *n, size_t size)
{
	unsigned char b[4];
	size_t len, i;

	if (cp < 0x80) {
		b[0] = cp;
		len = 1;
	} else if (cp < 0x800) {
		b[0] = 0xc0 | cp >> 6;
		b[1] = 0x80 | (cp & 0x3f);
		len = 2;
	} else if (cp < 0x10000) {
		b[0] = 0xe0 | cp >> 12;
		b[1] = 0x80 | ((cp >> 6) & 0x3f);
		b[2] = 0x80 | (cp & 0x3f);
		len = 3;
	} else {
		b[0] = 0xf0 | cp >> 18;
		b[1] = 0x80 | ((cp >> 12) & 0x3f);
		b[2] = 0x80 | ((cp >> 6) & 0x3f);
		b[3] = 0x80 | (cp & 0x3f);
		len = 4;
	}
	if (out == NULL)
		return 0;
	if (*n + len >= size)
		return -1;
	for (i = 0; i < len; i++)
		out[(*n)++] = b[i];
	return 0;
}

/* \uXXXX, with a surrogate pair when it takes two. */
static int
unicode_escape(struct json_in *in, char *out, size_t *n, size_t size)
{
	unsigned hi, lo;

	if (in->end - in->p < 4 || hex4(in->p, &hi) == -1)
		return -1;
	in->p += 4;
	if (hi == 0 || (hi >= 0xdc00 && hi <= 0xdfff))
		return -1;
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (in->end - in->p < 6 || in->p[0] != '\\' ||
		    in->p[1] != 'u' || hex4(in->p + 2, &lo) == -1 ||
		    lo < 0xdc00 || lo > 0xdfff)
			return -1;
		in->p += 6;
		hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	}
	return put_utf8(hi, out, n, size);
}

/*
 * A string into out (NUL-terminated, at most size-1 bytes); out NULL:
 * checked and skipped, however long.
 */
int
json_in_string(struct json_in *in, char *out, size_t size)
{
	size_t n = 0;
	char c;

	if (in->p >= in->end || *in->p++ != '"')
		return -1;
	while (in->p < in->end && *in->p != '"') {
		c = *in->p++;
		if ((unsigned char)c < 0x20)
			return -1;
		if (c == '\\') {
			if (in->p >= in->end)
				return -1;
			switch (c = *in->p++) {
			case '"':
			case '\\':
			case '/':
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				if (unicode_escape(in, out, &n, size) == -1)
					return -1;
				continue;
			default:
				return -1;
			}
		}
		if (out == NULL)
			continue;
		if (n + 1 >= size)
			return -1;
		out[n++] = c;
	}
	if (in->p >= in->end)
		return -1;
	in->p++;
	if (out != NULL)
		out[n] = '\0';
	return 0;
}

static int
digits(const char **p, const char *end)
{
	const char *start = *p;

	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++;
	return *p > start;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, exactly. */
static int
json_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (!digits(&p, end))
		return 0;
	if (p < end && *p == '.') {
		p++;
		if (!digits(&p, end))
			return 0;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!digits(&p, end))
			return 0;
	}
	return p == end;
}

/* A member we ignore: a string or a bare scalar, nothing nested. */
int
json_in_skip(struct json_in *in)
{
	const char *start = in->p;
	size_t len;

	if (in->p < in->end && *in->p == '"')
		return json_in_string(in, NULL, 0);
	while (in->p < in->end &&
	    ((*in->p >= '0' && *in->p <= '9') ||
		(*in->p >= 'a' && *in->p <= 'z') || *in->p == '-' ||
		*in->p == '+' || *in->p == '.' || *in->p == 'E'))
		in->p++;
	len = in->p - start;
	if ((len == 4 && memcmp(start, "true", 4) == 0) ||
	    (len == 5 && memcmp(start, "false", 5) == 0) ||
	    (len == 4 && memcmp(start, "null", 4) == 0) ||
	    json_number(start, in->p))
		return 0;
	return -1;
}
