/*
 * libFuzzer target for sessiond's HTTP parser: the input (after a first
 * byte giving the chunk size, 0 for all at once) arrives in pieces; every
 * request parsed is checked, answered and, if it asks, upgraded.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "json.h"
#include "ws.h"

#define CHECK(x) \
	do { \
		if (!(x)) \
			__builtin_trap(); \
	} while (0)

/* A field we keep: bounded, terminated, free of control bytes. */
static void
check_string(const char *s, size_t size)
{
	size_t len = strnlen(s, size);
	size_t i;

	CHECK(len < size);
	for (i = 0; i < len; i++)
		CHECK((unsigned char)s[i] >= 0x20 || s[i] == '\t');
}

/* What the JSON writer produced must be UTF-8 without raw controls. */
static void
check_json(struct evbuffer *out)
{
	size_t len = evbuffer_get_length(out), i;
	const char *s = (const char *)evbuffer_pullup(out, -1);

	CHECK(json_utf8_valid(s, len));
	for (i = 0; i < len; i++)
		CHECK((unsigned char)s[i] >= 0x20);
}

static void
check_request(const struct http_request *req, struct evbuffer *out)
{
	struct ws_handshake hs;
	const char *cur = req->ws_protocol, *tok;
	char proto[HTTP_WS_PROTOCOL_MAX];
	size_t len;

	check_string(req->path, sizeof(req->path));
	CHECK(req->path[0] == '/');
	check_string(req->query, sizeof(req->query));
	check_string(req->host, sizeof(req->host));
	check_string(req->upgrade, sizeof(req->upgrade));
	check_string(req->ws_key, sizeof(req->ws_key));
	check_string(req->ws_version, sizeof(req->ws_version));
	check_string(req->ws_protocol, sizeof(req->ws_protocol));
	check_string(req->origin, sizeof(req->origin));
	check_string(req->cookie, sizeof(req->cookie));
	check_string(req->authorization, sizeof(req->authorization));
	check_string(req->content_type, sizeof(req->content_type));
	CHECK(req->nheaders <= HTTP_NHEADERS_MAX);
	CHECK(req->nunknown <= req->nheaders);
	CHECK(req->body_len == req->content_length);
	CHECK(req->body_len <= HTTP_BODY_MAX);
	CHECK(
	    req->version == HTTP_VERSION_10 || req->version == HTTP_VERSION_11);
	CHECK(req->version == HTTP_VERSION_10 || req->has_host);

	/* Client bytes quoted back in JSON stay JSON. */
	json_escape(out, req->body, req->body_len);
	json_string(out, req->path);
	check_json(out);
	evbuffer_drain(out, evbuffer_get_length(out));

	if (ws_handshake_check(req, &hs) == -1) {
		CHECK(hs.status == 400 || hs.status == 405 || hs.status == 426);
		return;
	}
	CHECK(strlen(hs.accept) == WS_ACCEPT_LEN);
	if (ws_protocol_next(&cur, &tok, &len)) {
		CHECK(len > 0 && len < sizeof(proto));
		memcpy(proto, tok, len);
		proto[len] = '\0';
		CHECK(ws_protocol_offered(req->ws_protocol, proto));
		if (ws_handshake_response(out, hs.accept, proto) == -1)
			return;
	} else
		CHECK(ws_handshake_response(out, hs.accept, NULL) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req;
	struct http_parser p;
	struct evbuffer *in, *out;
	size_t chunk, off = 0, n;
	int rv = HTTP_PARSE_MORE;

	if (size < 1)
		return 0;
	chunk = data[0] != 0 ? data[0] : size;
	data++;
	size--;
	in = evbuffer_new();
	out = evbuffer_new();
	CHECK(in != NULL && out != NULL);
	http_parser_init(&p);
	while (off < size && rv != HTTP_PARSE_ERROR) {
		n = size - off < chunk ? size - off : chunk;
		evbuffer_add(in, data + off, n);
		off += n;
		while ((rv = http_parse(&p, in, &req)) == HTTP_PARSE_DONE) {
			check_request(&req, out);
			CHECK(http_error_json(out, 404, req.path,
				  http_keep_alive(&req)) == 0);
			evbuffer_drain(out, evbuffer_get_length(out));
		}
		/* Waiting, the parser holds at most one unfinished line. */
		if (rv == HTTP_PARSE_MORE)
			CHECK(evbuffer_get_length(in) <= HTTP_HEADERS_MAX);
	}
	if (rv == HTTP_PARSE_ERROR) {
		CHECK(p.status == 400 || p.status == 413 || p.status == 414 ||
		    p.status == 431 || p.status == 501 || p.status == 505);
		CHECK(p.error != NULL);
		CHECK(http_error_json(out, p.status, p.error, 0) == 0);
		CHECK(http_parse(&p, in, &req) == HTTP_PARSE_ERROR);
	}
	evbuffer_free(in);
	evbuffer_free(out);
	return 0;
}
