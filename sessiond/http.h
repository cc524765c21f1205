/*
 * sessiond's HTTP/1.1 request parser and response writer: incremental,
 * bounded, on libevent evbuffers; it never touches a socket.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Limits; past them the request is answered with an error and closed. */
#define HTTP_LINE_MAX 8192     /* request line, 414 beyond */
#define HTTP_HEADERS_MAX 16384 /* header lines with CRLFs, 431 beyond */
#define HTTP_NHEADERS_MAX 64   /* header lines, 431 beyond */
#define HTTP_BODY_MAX 8192     /* Content-Length, 413 beyond */
#define HTTP_EMPTY_LINES_MAX 8 /* CRLFs tolerated before a request */

/* Field sizes, terminating NUL included; a longer path or query is 414,
 * a longer header value 431. */
#define HTTP_METHOD_MAX 16
#define HTTP_PATH_MAX 1025
#define HTTP_QUERY_MAX 2049
#define HTTP_HOST_MAX 513
#define HTTP_ORIGIN_MAX 513
#define HTTP_UPGRADE_MAX 129
#define HTTP_WS_KEY_MAX 65
#define HTTP_WS_VERSION_MAX 17
#define HTTP_WS_PROTOCOL_MAX 513
#define HTTP_COOKIE_MAX 4097
#define HTTP_AUTHORIZATION_MAX 1025
#define HTTP_CONTENT_TYPE_MAX 257
#define HTTP_X_AUTH_TOKEN_MAX 129
#define HTTP_IF_MATCH_MAX 257

enum http_method {
	HTTP_METHOD_OTHER = 0, /* answered 405 by the caller */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PATCH,  /* Redfish only; 405 elsewhere */
	HTTP_METHOD_DELETE, /* Redfish only; 405 elsewhere */
};

enum http_version {
	HTTP_VERSION_10 = 10,
	HTTP_VERSION_11 = 11,
};

/* Connection header tokens. */
#define HTTP_CONN_CLOSE 0x01
#define HTTP_CONN_KEEP_ALIVE 0x02
#define HTTP_CONN_UPGRADE 0x04

/* One request. Strings are NUL-terminated and hold no control bytes. */
struct http_request {
	enum http_method method;
	char method_name[HTTP_METHOD_MAX]; /* truncated */
	char path[HTTP_PATH_MAX];	   /* not percent-decoded */
	char query[HTTP_QUERY_MAX];	   /* after '?', no '?' */
	int has_query;
	enum http_version version;

	char host[HTTP_HOST_MAX];
	int has_host;
	unsigned int connection; /* HTTP_CONN_* */
	char upgrade[HTTP_UPGRADE_MAX];
	char ws_key[HTTP_WS_KEY_MAX];
	char ws_version[HTTP_WS_VERSION_MAX];
	char ws_protocol[HTTP_WS_PROTOCOL_MAX]; /* raw list */
	char origin[HTTP_ORIGIN_MAX];
	int has_origin;
	char cookie[HTTP_COOKIE_MAX];
	char authorization[HTTP_AUTHORIZATION_MAX];
	char content_type[HTTP_CONTENT_TYPE_MAX];
	char x_auth_token[HTTP_X_AUTH_TOKEN_MAX]; /* Redfish sessions */
	char if_match[HTTP_IF_MATCH_MAX];	  /* Redfish PATCH, actions */
	int has_content_length;
	uint64_t content_length;
	unsigned int nheaders; /* header lines, all of them */
	unsigned int nunknown; /* of which skipped */

	size_t body_len;	      /* == content_length */
	char body[HTTP_BODY_MAX + 1]; /* NUL after */
};

enum http_parse_result {
	HTTP_PARSE_ERROR = -1, /* see parser status and error */
	HTTP_PARSE_MORE = 0,   /* needs more input */
	HTTP_PARSE_DONE = 1,   /* one whole request, body included */
};

struct http_parser {
	int state;
	int status;	   /* HTTP status to answer an error */
	const char *error; /* why, for the log and the answer */
	size_t scanned;	   /* bytes already searched for LF */
	size_t header_bytes;
	unsigned int empty_lines;
	unsigned int seen; /* header fields met, by bit */
};

/* An extra response header, for http_response_header and friends. */
struct http_header {
	const char *name;
	const char *value;
};

void http_set_limits(size_t, unsigned int);
void http_parser_init(struct http_parser *);
int http_parse(struct http_parser *, struct evbuffer *, struct http_request *);
int http_keep_alive(const struct http_request *);
int http_token(const char *, size_t);

/* http_error_json flags; keep-alive is 1, as a plain boolean would be. */
#define HTTP_RESPONSE_KEEP_ALIVE 0x01 /* the connection stays open */
#define HTTP_RESPONSE_HEAD 0x02	      /* a HEAD request: no body */

const char *http_reason(int);
int http_response_begin(struct evbuffer *, int, const char *, size_t, int);
int http_response_header(struct evbuffer *, const char *, const char *);
int http_response_end(struct evbuffer *);
int http_error_json(struct evbuffer *, int, const char *, int);
int http_error_json_headers(struct evbuffer *, int, const char *, int,
    const struct http_header *, size_t);

#endif
