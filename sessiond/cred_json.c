/*
 * The login body: one flat JSON object with string members "username"
 * and "password"; other members may be strings, numbers, true, false or
 * null and are ignored. Nothing nested, nothing unbounded.
 */
#include <string.h>

#include "cred.h"
#include "json_in.h"

static int
member(struct json_in *in, struct cred *c, int *seen)
{
	char key[32];

	if (json_in_string(in, key, sizeof(key)) == -1)
		return -1;
	json_in_ws(in);
	if (in->p >= in->end || *in->p++ != ':')
		return -1;
	json_in_ws(in);
	if (strcmp(key, "username") == 0) {
		if (*seen & 1 ||
		    json_in_string(in, c->user, sizeof(c->user)) == -1)
			return -1;
		*seen |= 1;
	} else if (strcmp(key, "password") == 0) {
		if (*seen & 2 ||
		    json_in_string(in, c->password, sizeof(c->password)) == -1)
			return -1;
		*seen |= 2;
	} else if (json_in_skip(in) == -1)
		return -1;
	json_in_ws(in);
	return 0;
}

/* 0 with user and password filled, -1 for anything else. */
int
cred_login_body(const char *body, size_t len, struct cred *c)
{
	struct json_in in = { body, body + len };
	int seen = 0;

	memset(c, 0, sizeof(*c));
	json_in_ws(&in);
	if (in.p >= in.end || *in.p++ != '{')
		goto bad;
	json_in_ws(&in);
	while (in.p < in.end && *in.p != '}') {
		if (member(&in, c, &seen) == -1)
			goto bad;
		if (in.p < in.end && *in.p == ',') {
			in.p++;
			json_in_ws(&in);
			if (in.p < in.end && *in.p == '}')
				goto bad;
		} else if (in.p < in.end && *in.p != '}')
			goto bad;
	}
	if (in.p >= in.end)
		goto bad;
	in.p++;
	json_in_ws(&in);
	if (in.p != in.end || seen != 3 || !conf_name_valid(c->user))
		goto bad;
	c->kind = CRED_BASIC;
	return 0;
bad:
	explicit_bzero(c, sizeof(*c));
	return -1;
}
