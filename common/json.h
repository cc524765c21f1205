/*
 * JSON output for sessiond's API answers: string escaping straight into an
 * evbuffer, and the UTF-8 check that escaping and WebSocket close reasons
 * share.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

struct evbuffer;

int json_escape(struct evbuffer *, const char *, size_t);
int json_string(struct evbuffer *, const char *);
size_t json_utf8_char(const unsigned char *, size_t);
int json_utf8_valid(const char *, size_t);

#endif
