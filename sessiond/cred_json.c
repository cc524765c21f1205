/*
 * JSON bodies: the login's, one flat object with string members
 * "username" and "password", and an insert's, with "url"; other members
 * may be strings, numbers, true, false or null and are ignored. Nothing
 * nested, nothing unbounded.
 */
#include <string.h>

#include "cred.h"
#include "json_in.h"

/* One member's value, by its key; -1 refuses the whole body. */
typedef int (*json_member_fn)(struct json_in *, const char *, void *);

/* One flat object, each member handed to fn; 0, or -1 for anything else. */
static int
json_object(const char *body, size_t len, json_member_fn fn, void *arg)
{
	struct json_in in = { body, body + len };
	char key[32];

	json_in_ws(&in);
	if (in.p >= in.end || *in.p++ != '{')
		return -1;
	json_in_ws(&in);
	while (in.p < in.end && *in.p != '}') {
		if (json_in_string(&in, key, sizeof(key)) == -1)
			return -1;
		json_in_ws(&in);
		if (in.p >= in.end || *in.p++ != ':')
			return -1;
		json_in_ws(&in);
		if (fn(&in, key, arg) == -1)
			return -1;
		json_in_ws(&in);
		if (in.p < in.end && *in.p == ',') {
			in.p++;
			json_in_ws(&in);
			if (in.p < in.end && *in.p == '}')
				return -1;
		} else if (in.p < in.end && *in.p != '}')
			return -1;
	}
	if (in.p >= in.end)
		return -1;
	in.p++;
	json_in_ws(&in);
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
		    json_in_string(in, b->c->user, sizeof(b->c->user)) == -1)
			return -1;
		b->seen |= 1;
	} else if (strcmp(key, "password") == 0) {
		if (b->seen & 2 ||
		    json_in_string(in, b->c->password,
			sizeof(b->c->password)) == -1)
			return -1;
		b->seen |= 2;
	} else if (json_in_skip(in) == -1)
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
		    json_in_string(in, o->url, sizeof(o->url)) == -1)
			return -1;
		b->seen |= 1;
	} else if (strcmp(key, "username") == 0) {
		if (b->seen & 2 ||
		    json_in_string(in, o->user, sizeof(o->user)) == -1)
			return -1;
		b->seen |= 2;
	} else if (strcmp(key, "password") == 0) {
		if (b->seen & 4 ||
		    json_in_string(in, o->password, sizeof(o->password)) == -1)
			return -1;
		b->seen |= 4;
	} else
		return json_in_skip(in);
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
