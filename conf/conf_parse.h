/*
 * Internal to conf/: the parse context shared by the reader, the value
 * parsers and the whole-config checks.
 */
#ifndef CONF_PARSE_H
#define CONF_PARSE_H

#include <stddef.h>

#include "conf.h"

struct conf_ctx {
	struct conf *conf;
	const char *file;
	int line;
	int errors;
	conf_error_fn err;
	void *arg;
};

enum conf_kind {
	CONF_K_TEXT,	   /* printable text */
	CONF_K_PATH,	   /* absolute path */
	CONF_K_DEVICE,	   /* /dev/nbdN */
	CONF_K_SOCKET,	   /* absolute path that fits sun_path */
	CONF_K_USERNAME,   /* a system account name */
	CONF_K_NAMELIST,   /* names and @groups, blank separated */
	CONF_K_HASH,	   /* a crypt(3) hash */
	CONF_K_BOOL,	   /* yes or no */
	CONF_K_TIMEOUT,	   /* seconds, 1..3600 */
	CONF_K_SIZE,	   /* bytes, with K, M, G or T */
	CONF_K_WINDOW,	   /* 0, or a size up to CONF_READ_AHEAD_MAX */
	CONF_K_LISTEN,	   /* address:port, [v6]:port or /unix/path */
	CONF_K_NBD_LISTEN, /* address[:port] or [v6][:port], then "plain" */
	CONF_K_AUTH,	   /* users or none */
	CONF_K_NUMBER,	   /* an integer from min to max */
	CONF_K_ORIGINS,	   /* http(s)://host[:port], blank separated */
	CONF_K_HOSTS,	   /* host names and addresses, blank separated */
	CONF_K_MODULES,	   /* kernel module names, blank separated */
	CONF_K_SOURCE,	   /* nbd://, nbds://, nbd+unix://, https://, http:// */
	CONF_K_ALLOW_SOURCE, /* SCHEME://HOST[:PORT][/BITS], blank separated */
};

struct conf_key {
	const char *name;
	enum conf_kind kind;
	size_t offset; /* into the section's struct */
	size_t size;   /* of a string field */
	int repeatable;
	int32_t min; /* CONF_K_NUMBER */
	int32_t max;
};

void conf_error(struct conf_ctx *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void conf_set_value(struct conf_ctx *, const char *, const struct conf_key *,
    void *, const char *);
void conf_check(struct conf_ctx *);

#endif
