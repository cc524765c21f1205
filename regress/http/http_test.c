/*
 * HTTP regress: what sessiond's request parser accepts, the status it
 * answers for what it refuses, and the bytes of the responses it writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "json.h"
#include "test.h"

static struct http_request *req;

/* Parses a whole input; returns the result, the status on error. */
static int
parse(const char *text, size_t len, int *status)
{
	struct http_parser p;
	struct evbuffer *in = evbuffer_new();
	int rv;

	http_parser_init(&p);
	evbuffer_add(in, text, len);
	rv = http_parse(&p, in, req);
	*status = rv == HTTP_PARSE_ERROR ? p.status : 0;
	evbuffer_free(in);
	return rv;
}

static int
parse_str(const char *text, int *status)
{
	return parse(text, strlen(text), status);
}

/* A request that must be refused with one status. */
static void
expect_status(const char *name, const char *text, size_t len, int want)
{
	int status, rv;

	rv = parse(text, len, &status);
	test_result(name, rv == HTTP_PARSE_ERROR && status == want,
	    "rv %d status %d", rv, status);
}

static void
expect_str(const char *name, const char *text, int want)
{
	expect_status(name, text, strlen(text), want);
}

static void
test_simple_get(void)
{
	int status, rv;

	rv = parse_str("GET /api/exports?x=1&y HTTP/1.1\r\n"
		       "Host: bmc.example:8443\r\nUser-Agent: test\r\n"
		       "Origin: https://bmc.example:8443\r\nCookie: a=1\r\n"
		       "Accept: */*\r\n\r\n",
	    &status);
	test_result("http_simple_get_is_parsed",
	    rv == HTTP_PARSE_DONE && req->method == HTTP_METHOD_GET &&
		req->version == HTTP_VERSION_11 &&
		strcmp(req->path, "/api/exports") == 0 && req->has_query &&
		strcmp(req->query, "x=1&y") == 0 &&
		strcmp(req->host, "bmc.example:8443") == 0 &&
		strcmp(req->origin, "https://bmc.example:8443") == 0 &&
		strcmp(req->cookie, "a=1") == 0 && req->nheaders == 5 &&
		req->nunknown == 2 && req->body_len == 0 &&
		http_keep_alive(req),
	    "rv %d status %d path %s", rv, status, req->path);

	rv = parse_str("PUT / HTTP/1.0\r\n\r\n", &status);
	test_result("http_unknown_method_is_other_for_405",
	    rv == HTTP_PARSE_DONE && req->method == HTTP_METHOD_OTHER &&
		strcmp(req->method_name, "PUT") == 0 && !http_keep_alive(req),
	    "rv %d", rv);
	rv = parse_str("get / HTTP/1.0\r\n\r\n", &status);
	test_result("http_methods_are_case_sensitive",
	    rv == HTTP_PARSE_DONE && req->method == HTTP_METHOD_OTHER, "rv %d",
	    rv);
	rv = parse_str("HEAD /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
	    &status);
	test_result("http10_keep_alive_when_asked",
	    rv == HTTP_PARSE_DONE && req->method == HTTP_METHOD_HEAD &&
		!req->has_query && http_keep_alive(req),
	    "rv %d", rv);
	rv = parse_str("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &status);
	test_result("http_empty_lines_before_request_are_skipped",
	    rv == HTTP_PARSE_DONE, "rv %d status %d", rv, status);
}

static void
test_case_insensitive(void)
{
	int status, rv;

	rv = parse_str("GET /nbd/cd HTTP/1.1\r\nhOST: h\r\n"
		       "UPGRADE: websocket\r\n"
		       "connection: keep-alive, Upgrade\r\n"
		       "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		       "SEC-WEBSOCKET-VERSION: 13\r\n"
		       "Sec-Websocket-Protocol: binary\r\n"
		       "sec-websocket-protocol: tok\r\n"
		       "AUTHORIZATION: Bearer abc\r\n"
		       "content-type: application/json\r\n\r\n",
	    &status);
	test_result("http_header_names_are_case_insensitive",
	    rv == HTTP_PARSE_DONE && strcmp(req->host, "h") == 0 &&
		strcmp(req->upgrade, "websocket") == 0 &&
		req->connection == (HTTP_CONN_KEEP_ALIVE | HTTP_CONN_UPGRADE) &&
		strcmp(req->ws_key, "dGhlIHNhbXBsZSBub25jZQ==") == 0 &&
		strcmp(req->ws_version, "13") == 0 &&
		strcmp(req->ws_protocol, "binary, tok") == 0 &&
		strcmp(req->authorization, "Bearer abc") == 0 &&
		strcmp(req->content_type, "application/json") == 0 &&
		req->nunknown == 0,
	    "rv %d status %d", rv, status);

	rv = parse_str("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	    &status);
	test_result("http_connection_close_ends_keep_alive",
	    rv == HTTP_PARSE_DONE && !http_keep_alive(req), "rv %d", rv);
	rv = parse_str("GET / HTTP/1.1\r\nHost:   h \t\r\n\r\n", &status);
	test_result("http_header_value_whitespace_is_trimmed",
	    rv == HTTP_PARSE_DONE && strcmp(req->host, "h") == 0, "rv %d", rv);
}

static void
test_pipelined(void)
{
	struct http_parser p;
	struct evbuffer *in = evbuffer_new();
	const char *two = "POST /api/login HTTP/1.1\r\nHost: h\r\n"
			  "Content-Length: 5\r\n\r\nhello"
			  "GET /second HTTP/1.1\r\nHost: h\r\n\r\n";
	int rv1, rv2, rv3, body_ok;

	http_parser_init(&p);
	evbuffer_add(in, two, strlen(two));
	rv1 = http_parse(&p, in, req);
	body_ok = req->method == HTTP_METHOD_POST && req->body_len == 5 &&
	    strcmp(req->body, "hello") == 0;
	rv2 = http_parse(&p, in, req);
	body_ok &= strcmp(req->path, "/second") == 0 && req->body_len == 0;
	rv3 = http_parse(&p, in, req);
	test_result("http_two_pipelined_requests_in_one_buffer",
	    rv1 == HTTP_PARSE_DONE && body_ok && rv2 == HTTP_PARSE_DONE &&
		rv3 == HTTP_PARSE_MORE && evbuffer_get_length(in) == 0,
	    "rv %d %d %d", rv1, rv2, rv3);
	evbuffer_free(in);
}

static void
test_bytewise(void)
{
	struct http_parser p;
	struct evbuffer *in = evbuffer_new();
	const char *text =
	    "POST /api/login?next=%2F HTTP/1.1\r\n"
	    "Host: h\r\nContent-Type: application/json\r\n"
	    "Content-Length: 31\r\n\r\n{\"user\":\"alice\",\"password\":\"x\"}";
	size_t i, len = strlen(text);
	int rv = HTTP_PARSE_MORE, early = 0;

	http_parser_init(&p);
	for (i = 0; i < len; i++) {
		evbuffer_add(in, text + i, 1);
		rv = http_parse(&p, in, req);
		if (rv != HTTP_PARSE_MORE && i + 1 < len)
			early = 1;
	}
	test_result("http_request_arriving_one_byte_at_a_time",
	    !early && rv == HTTP_PARSE_DONE &&
		strcmp(req->query, "next=%2F") == 0 && req->body_len == 31 &&
		strcmp(req->body, "{\"user\":\"alice\",\"password\":\"x\"}") ==
		    0,
	    "rv %d early %d", rv, early);
	evbuffer_free(in);
}

static void
test_body(void)
{
	struct http_parser p;
	struct evbuffer *in = evbuffer_new();
	char *body = malloc(HTTP_BODY_MAX);
	char head[128];
	int rv1, rv2, rv3, status;

	memset(body, 'b', HTTP_BODY_MAX);
	snprintf(head, sizeof(head),
	    "POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n",
	    HTTP_BODY_MAX);
	http_parser_init(&p);
	evbuffer_add(in, head, strlen(head));
	evbuffer_add(in, body, 100);
	rv1 = http_parse(&p, in, req);
	evbuffer_add(in, body, 5000);
	rv2 = http_parse(&p, in, req);
	evbuffer_add(in, body, HTTP_BODY_MAX - 5100);
	rv3 = http_parse(&p, in, req);
	test_result("http_post_body_split_across_reads",
	    rv1 == HTTP_PARSE_MORE && rv2 == HTTP_PARSE_MORE &&
		rv3 == HTTP_PARSE_DONE && req->body_len == HTTP_BODY_MAX &&
		memcmp(req->body, body, HTTP_BODY_MAX) == 0 &&
		req->body[HTTP_BODY_MAX] == '\0',
	    "rv %d %d %d", rv1, rv2, rv3);

	snprintf(head, sizeof(head),
	    "POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n",
	    HTTP_BODY_MAX + 1);
	expect_str("http_body_over_8k_is_413", head, 413);
	expect_str("http_content_length_overflow_is_413",
	    "POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 99999999999999999999999\r\n\r\n",
	    413);
	expect_str("http_conflicting_content_lengths_are_400",
	    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\nab",
	    400);
	rv1 = parse_str("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
			"content-length: 2\r\n\r\nab",
	    &status);
	test_result("http_repeated_equal_content_length_is_accepted",
	    rv1 == HTTP_PARSE_DONE && req->body_len == 2, "rv %d status %d",
	    rv1, status);
	expect_str("http_content_length_list_is_400",
	    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nab",
	    400);
	expect_str("http_negative_content_length_is_400",
	    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400);
	expect_str("http_chunked_transfer_encoding_is_501",
	    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n0\r\n\r\n",
	    501);
	expect_str("http_transfer_encoding_with_content_length_is_501",
	    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\nhello",
	    501);
	free(body);
	evbuffer_free(in);
}

/* A request line of exactly len bytes (CRLF not counted). */
static char *
request_line(size_t len, int crlf)
{
	char *s = malloc(len + 64);
	size_t plen = len - strlen("GET  HTTP/1.1");

	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', plen - 1);
	s[4 + plen] = '\0';
	strcat(s, " HTTP/1.1");
	if (crlf)
		strcat(s, "\r\nHost: h\r\n\r\n");
	return s;
}

/* A request with one or two Cookie lines of n1 and n2 bytes. */
static void
cookies(char *buf, size_t n1, size_t n2)
{
	size_t off;

	off = sprintf(buf, "GET / HTTP/1.1\r\nHost: h\r\nCookie: ");
	memset(buf + off, 'c', n1);
	off += n1;
	if (n2 > 0) {
		off += sprintf(buf + off, "\r\nCookie: ");
		memset(buf + off, 'd', n2);
		off += n2;
	}
	strcpy(buf + off, "\r\n\r\n");
}

static void
test_limits(void)
{
	struct http_parser p;
	struct evbuffer *in = evbuffer_new();
	char *s, *big;
	size_t i;
	int rv, status;

	s = request_line(HTTP_LINE_MAX + 1, 1);
	expect_str("http_request_line_over_8k_is_414", s, 414);
	free(s);
	s = request_line(HTTP_LINE_MAX + 2, 0);
	expect_str("http_request_line_over_8k_without_crlf_is_414_not_a_wait",
	    s, 414);
	free(s);

	/* 8192 bytes: the line fits, but its path is longer than 1024. */
	s = request_line(HTTP_LINE_MAX, 1);
	expect_str("http_path_over_1024_is_414", s, 414);
	free(s);
	s = request_line(1024 + strlen("GET  HTTP/1.1"), 1);
	rv = parse_str(s, &status);
	test_result("http_path_of_1024_is_accepted",
	    rv == HTTP_PARSE_DONE && strlen(req->path) == 1024,
	    "rv %d status %d", rv, status);
	free(s);

	big = malloc(HTTP_HEADERS_MAX + 256);
	strcpy(big, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; strlen(big) < HTTP_HEADERS_MAX; i++)
		sprintf(big + strlen(big), "X-Filler-%03zu: %0200d\r\n", i, 0);
	strcat(big, "\r\n");
	expect_str("http_header_block_over_16k_is_431", big, 431);

	/* Fed without its end: refused once the buffer passes the limit. */
	http_parser_init(&p);
	strcpy(big, "GET / HTTP/1.1\r\nX-Long: ");
	evbuffer_add(in, big, strlen(big));
	memset(big, 'x', 1024);
	for (i = 0, rv = HTTP_PARSE_MORE; i < 20 && rv == HTTP_PARSE_MORE;
	     i++) {
		evbuffer_add(in, big, 1024);
		rv = http_parse(&p, in, req);
	}
	test_result("http_header_line_without_end_is_431_at_16k",
	    rv == HTTP_PARSE_ERROR && p.status == 431 && i == 16,
	    "rv %d status %d after %zu KiB", rv, p.status, i);
	evbuffer_drain(in, evbuffer_get_length(in));

	strcpy(big, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 1; i < HTTP_NHEADERS_MAX; i++)
		sprintf(big + strlen(big), "X-%zu: y\r\n", i);
	strcat(big, "\r\n");
	rv = parse_str(big, &status);
	test_result("http_64_headers_are_accepted",
	    rv == HTTP_PARSE_DONE && req->nheaders == 64, "rv %d status %d", rv,
	    status);
	big[strlen(big) - 2] = '\0';
	strcat(big, "X-65: y\r\n\r\n");
	expect_str("http_65_headers_are_431", big, 431);

	cookies(big, HTTP_COOKIE_MAX - 1, 0);
	rv = parse_str(big, &status);
	test_result("http_cookie_of_4096_is_accepted",
	    rv == HTTP_PARSE_DONE && strlen(req->cookie) == HTTP_COOKIE_MAX - 1,
	    "rv %d status %d", rv, status);
	cookies(big, HTTP_COOKIE_MAX, 0);
	expect_str("http_cookie_over_4096_is_431", big, 431);
	rv = parse_str("GET / HTTP/1.1\r\nHost: h\r\n"
		       "Cookie: a=1\r\nCookie: b=2\r\n\r\n",
	    &status);
	test_result("http_repeated_cookies_are_joined",
	    rv == HTTP_PARSE_DONE && strcmp(req->cookie, "a=1; b=2") == 0,
	    "rv %d status %d", rv, status);
	cookies(big, 2100, 2100);
	expect_str("http_joined_cookies_over_4096_are_431", big, 431);
	free(big);
	evbuffer_free(in);
}

static void
test_syntax(void)
{
	expect_str("http_garbage_is_400", "\x01\x02zz\r\n\r\n", 400);
	expect_status("http_tls_client_hello_is_400_without_waiting",
	    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, 400);
	expect_str("http_partial_method_with_bad_byte_is_400_at_once", "GE{",
	    400);
	expect_str("http_request_line_without_version_is_400", "GET /\r\n\r\n",
	    400);
	expect_str("http_double_space_in_request_line_is_400",
	    "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_str("http_absolute_form_target_is_400",
	    "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_str("http_lowercase_version_is_400",
	    "GET / http/1.1\r\nHost: h\r\n\r\n", 400);
	expect_str("http_version_2_is_505", "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
	    505);
	expect_str("http_head_version_2_is_505", "HEAD / HTTP/2.0\r\n\r\n",
	    505);
	test_result("head_error_response_has_no_body_method_known_at_505",
	    req->method == HTTP_METHOD_HEAD, "method %d", req->method);
	expect_str("http_version_1_2_is_505",
	    "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505);
	expect_str("http_version_with_trailing_bytes_is_400",
	    "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400);
	expect_status("http_nul_in_path_is_400",
	    "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", 29, 400);
	expect_str("http_control_char_in_path_is_400",
	    "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_str("http_del_in_path_is_400",
	    "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_str("http_non_ascii_in_path_is_400",
	    "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_str("http_obs_fold_is_400",
	    "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400);
	expect_str("http_bare_lf_is_400", "GET / HTTP/1.1\nHost: h\n\n", 400);
	expect_str("http_bare_lf_in_headers_is_400",
	    "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400);
	expect_str("http_bare_cr_in_header_is_400",
	    "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
	expect_str("http_space_before_colon_is_400",
	    "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
	expect_str("http_header_without_colon_is_400",
	    "GET / HTTP/1.1\r\nHost h\r\n\r\n", 400);
	expect_str("http11_without_host_is_400", "GET / HTTP/1.1\r\n\r\n", 400);
	expect_str("http_two_hosts_are_400",
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	expect_str("http_host_with_slash_is_400",
	    "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
	expect_str("http_repeated_authorization_is_400",
	    "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\n"
	    "Authorization: b\r\n\r\n",
	    400);
	expect_str("http_too_many_empty_lines_first_is_400",
	    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n", 400);
}

static void
test_errors_stick(void)
{
	struct http_parser p;
	struct evbuffer *in = evbuffer_new();
	int rv1, rv2;

	http_parser_init(&p);
	evbuffer_add_printf(in, "BAD\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	rv1 = http_parse(&p, in, req);
	rv2 = http_parse(&p, in, req);
	test_result("http_after_an_error_the_parser_stays_failed",
	    rv1 == HTTP_PARSE_ERROR && rv2 == HTTP_PARSE_ERROR &&
		p.status == 400 && p.error != NULL,
	    "rv %d %d", rv1, rv2);
	evbuffer_free(in);
}

static int
out_is(struct evbuffer *out, const char *want)
{
	size_t len = evbuffer_get_length(out);
	int same;

	same = len == strlen(want) &&
	    memcmp(evbuffer_pullup(out, -1), want, len) == 0;
	if (!same)
		printf("# got: %.*s\n", (int)len,
		    (char *)evbuffer_pullup(out, -1));
	evbuffer_drain(out, len);
	return same;
}

static void
test_responses(void)
{
	struct evbuffer *out = evbuffer_new();
	static const struct http_header allow = { "Allow", "GET, HEAD" };
	static const int statuses[] = { 101, 200, 204, 301, 304, 400, 401, 403,
		404, 405, 408, 409, 413, 414, 426, 429, 431, 500, 501, 503,
		505 };
	size_t i;
	int rv, all = 1;

	rv = http_response_begin(out, 200, "text/html", 5, 1);
	rv |= http_response_header(out, "X-Frame-Options", "DENY");
	rv |= http_response_end(out);
	test_result("http_response_begin_writes_status_and_framing",
	    rv == 0 &&
		out_is(out,
		    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
		    "Content-Length: 5\r\nConnection: keep-alive\r\n"
		    "X-Frame-Options: DENY\r\n\r\n"),
	    "rv %d", rv);

	rv = http_response_begin(out, 204, NULL, 0, 0);
	rv |= http_response_end(out);
	test_result("http_204_has_no_content_length",
	    rv == 0 &&
		out_is(out,
		    "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"),
	    "rv %d", rv);

	test_result("http_response_header_refuses_crlf_injection",
	    http_response_header(out, "Set-Cookie", "a\r\nX: y") == -1 &&
		http_response_header(out, "Bad Name", "v") == -1 &&
		evbuffer_get_length(out) == 0,
	    "accepted");

	rv = http_error_json(out, 404, "no export \"cd\\rom\"\n", 0);
	test_result("http_error_json_has_json_body_and_length",
	    rv == 0 &&
		out_is(out,
		    "HTTP/1.1 404 Not Found\r\n"
		    "Content-Type: application/json\r\nContent-Length: 36\r\n"
		    "Connection: close\r\nCache-Control: no-store\r\n\r\n"
		    "{\"error\": \"no export \\\"cd\\\\rom\\\"\\n\"}"),
	    "rv %d", rv);

	rv = http_error_json_headers(out, 405, "method", 1, &allow, 1);
	test_result("http_error_json_carries_extra_headers",
	    rv == 0 &&
		out_is(out,
		    "HTTP/1.1 405 Method Not Allowed\r\n"
		    "Content-Type: application/json\r\nContent-Length: 19\r\n"
		    "Connection: keep-alive\r\nCache-Control: no-store\r\n"
		    "Allow: GET, HEAD\r\n\r\n{\"error\": \"method\"}"),
	    "rv %d", rv);

	rv = http_error_json_headers(out, 405, "method", HTTP_RESPONSE_HEAD,
	    &allow, 1);
	test_result("head_error_response_has_no_body",
	    rv == 0 &&
		out_is(out,
		    "HTTP/1.1 405 Method Not Allowed\r\n"
		    "Content-Type: application/json\r\nContent-Length: 19\r\n"
		    "Connection: close\r\nCache-Control: no-store\r\n"
		    "Allow: GET, HEAD\r\n\r\n"),
	    "rv %d", rv);

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (http_reason(statuses[i])[0] == '\0')
			all = 0;
	test_result("http_every_status_we_send_has_a_reason",
	    all &&
		strcmp(http_reason(431), "Request Header Fields Too Large") ==
		    0,
	    "missing");
	rv = http_error_json(out, 408, "request timeout", 0);
	test_result("request_timeout_408_status_line_has_reason_phrase",
	    rv == 0 && evbuffer_get_length(out) > 30 &&
		memcmp(evbuffer_pullup(out, 30),
		    "HTTP/1.1 408 Request Timeout\r\n", 30) == 0,
	    "%.30s", (char *)evbuffer_pullup(out, -1));
	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_free(out);
}

static int
escaped_is(const char *in, size_t len, const char *want)
{
	struct evbuffer *out = evbuffer_new();
	int same;

	same = json_escape(out, in, len) == 0 && out_is(out, want);
	evbuffer_free(out);
	return same;
}

static void
test_json(void)
{
	test_result("json_escape_quotes_and_backslashes",
	    escaped_is("a\"b\\c", 5, "a\\\"b\\\\c"), "wrong");
	test_result("json_escape_control_chars",
	    escaped_is("\n\r\t\b\f\x01\x1f\x7f", 8,
		"\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f"),
	    "wrong");
	test_result("json_escape_nul_inside_a_string",
	    escaped_is("a\0b", 3, "a\\u0000b"), "wrong");
	test_result("json_escape_keeps_utf8",
	    escaped_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbf", 14,
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbf"),
	    "wrong");
	test_result("json_escape_replaces_invalid_utf8",
	    escaped_is("a\xff\xc3(\xed\xa0\x80\xc0\xafz", 10,
		"a\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffdz"),
	    "wrong");
	test_result("json_utf8_valid_refuses_overlong_and_surrogates",
	    json_utf8_valid("ok \xc3\xa9", 5) &&
		!json_utf8_valid("\xc0\xaf", 2) &&
		!json_utf8_valid("\xed\xa0\x80", 3) &&
		!json_utf8_valid("\xf4\x90\x80\x80", 4) &&
		!json_utf8_valid("\xe2\x82", 2),
	    "wrong");
}

int
main(void)
{
	if ((req = malloc(sizeof(*req))) == NULL)
		return 1;
	test_simple_get();
	test_case_insensitive();
	test_pipelined();
	test_bytewise();
	test_body();
	test_limits();
	test_syntax();
	test_errors_stick();
	test_responses();
	test_json();
	free(req);
	return test_done();
}
