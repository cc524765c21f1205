/*
 * JSON bodies: the login's, one flat object with string members
 * "username" and "password", and an insert's, with "url"; other members
 * may be strings, numbers, true, false or null and are ignored. Nothing
 * nested, nothing unbounded.
 */
#include <string.h>

#include "cred.h"

struct json_in {
	const char *p;
	const char *end;
};

static void
skip_ws(struct json_in *in)
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

/* A string into out (NUL-terminated, at most size-1 bytes). */
static int
json_string_in(struct json_in *in, char *out, size_t size)
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
		if (n + 1 >= size)
			return -1;
		out[n++] = c;
	}
	if (in->p >= in->end)
		return -1;
	in->p++;
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
static int
json_skip_value(struct json_in *in)
{
	char scratch[CRED_PASSWORD_MAX * 4];
	const char *start = in->p;
	size_t len;

	if (in->p < in->end && *in->p == '"')
		return json_string_in(in, scratch, sizeof(scratch));
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

/* One member's value, by its key; -1 refuses the whole body. */
typedef int (*json_member_fn)(struct json_in *, const char *, void *);

/* One flat object, each member handed to fn; 0, or -1 for anything else. */
static int
json_object(const char *body, size_t len, json_member_fn fn, void *arg)
{
	struct json_in in = { body, body + len };
	char key[32];

	skip_ws(&in);
	if (in.p >= in.end || *in.p++ != '{')
		return -1;
	skip_ws(&in);
	while (in.p < in.end && *in.p != '}') {
		if (json_string_in(&in, key, sizeof(key)) == -1)
			return -1;
		skip_ws(&in);
		if (in.p >= in.end || *in.p++ != ':')
			return -1;
		skip_ws(&in);
		if (fn(&in, key, arg) == -1)
			return -1;
		skip_ws(&in);
		if (in.p < in.end && *in.p == ',') {
			in.p++;
			skip_ws(&in);
			if (in.p < in.end && *in.p == '}')
				return -1;
		} else if (in.p < in.end && *in.p != '}')
			return -1;
	}
	if (in.p >= in.end)
		return -1;
	in.p++;
	skip_ws(&in);
	return in.p == in.end ? 0 : -1;
}

struct login_body {
	struct cred *c;
	int seen;
};

static int
login_member(struct json_in *in, const char *key, void *arg)
{
	struct login_body *b = arg;

	if (strcmp(key, "username") == 0) {
		if (b->seen & 1 ||
		    json_string_in(in, b->c->user, sizeof(b->c->user)) == -1)
			return -1;
		b->seen |= 1;
	} else if (strcmp(key, "password") == 0) {
		if (b->seen & 2 ||
		    json_string_in(in, b->c->password,
			sizeof(b->c->password)) == -1)
			return -1;
		b->seen |= 2;
	} else if (json_skip_value(in) == -1)
		return -1;
	return 0;
}

/* 0 with user and password filled, -1 for anything else. */
int
cred_login_body(const char *body, size_t len, struct cred *c)
{
	struct login_body b = { c, 0 };

	memset(c, 0, sizeof(*c));
	if (json_object(body, len, login_member, &b) == -1 || b.seen != 3 ||
	    !conf_name_valid(c->user)) {
		explicit_bzero(c, sizeof(*c));
		return -1;
	}
	c->kind = CRED_BASIC;
	return 0;
}

struct insert_body {
	struct cred_insert *out;
	int seen;
};

static int
insert_member(struct json_in *in, const char *key, void *arg)
{
	struct insert_body *b = arg;
	struct cred_insert *o = b->out;

	if (strcmp(key, "url") == 0) {
		if (b->seen & 1 ||
		    json_string_in(in, o->url, sizeof(o->url)) == -1)
			return -1;
		b->seen |= 1;
	} else if (strcmp(key, "username") == 0) {
		if (b->seen & 2 ||
		    json_string_in(in, o->user, sizeof(o->user)) == -1)
			return -1;
		b->seen |= 2;
	} else if (strcmp(key, "password") == 0) {
		if (b->seen & 4 ||
		    json_string_in(in, o->password, sizeof(o->password)) == -1)
			return -1;
		b->seen |= 4;
	} else
		return json_skip_value(in);
	return 0;
}

/*
 * POST /api/exports/NAME/insert: {"url": "..."}, with "username" and
 * "password" for a web server that asks, other members ignored as in
 * the login body. 0 with out filled (url not empty; user and password
 * both or neither), -1 for anything else, out wiped.
 */
int
cred_insert_body(const char *body, size_t len, struct cred_insert *out)
{
	struct insert_body b = { out, 0 };

	memset(out, 0, sizeof(*out));
	if (json_object(body, len, insert_member, &b) == -1 ||
	    out->url[0] == '\0' ||
	    (out->user[0] == '\0') != (out->password[0] == '\0') ||
	    ((b.seen & 6) != 0 && out->user[0] == '\0')) {
		explicit_bzero(out, sizeof(*out));
		return -1;
	}
	return 0;
}
