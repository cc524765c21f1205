/*
 * Reading small JSON request bodies (json_in.c): pure, bounded.
 */
#ifndef JSON_IN_H
#define JSON_IN_H

#include <stddef.h>

struct json_in {
	const char *p;
	const char *end;
};

void json_in_ws(struct json_in *);
int json_in_string(struct json_in *, char *, size_t);
int json_in_skip(struct json_in *);

#endif
