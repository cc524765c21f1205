/*
 * Incremental HTTP/1.1 request parser for sessiond: a request line, header
 * lines and a small Content-Length body, each bounded, read from an evbuffer.
 *
 * Line endings are strict CRLF: a bare LF or a stray CR is a 400. Tolerating
 * bare LF buys nothing for our clients (browsers, curl) and would let a
 * front proxy and vmediad disagree about where a request ends.
 * Only origin-form targets ("/path?query") are accepted; absolute-form is
 * for proxies and "*" for OPTIONS, neither of which sessiond is or serves.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "http.h"

enum http_state {
	HTTP_S_START = 0,
	HTTP_S_LINE,
	HTTP_S_HEADERS,
	HTTP_S_BODY,
	HTTP_S_ERROR,
};

enum http_field_kind {
	HTTP_F_STRING, /* stored; join == NULL: duplicates are 400 */
	HTTP_F_HOST,
	HTTP_F_ORIGIN,
	HTTP_F_CONNECTION,
	HTTP_F_CONTENT_LENGTH,
	HTTP_F_TRANSFER_ENCODING,
};

struct http_field {
	const char *name;
	enum http_field_kind kind;
	size_t off; /* of the char array, for strings */
	size_t size;
	const char *join; /* separator for a repeated list */
};

#define HTTP_FIELD(n, k, m, s, j) \
	{ \
		n, k, offsetof(struct http_request, m), s, j \
	}

static const struct http_field http_fields[] = {
	HTTP_FIELD("Host", HTTP_F_HOST, host, HTTP_HOST_MAX, NULL),
	{ "Connection", HTTP_F_CONNECTION, 0, 0, NULL },
	HTTP_FIELD("Upgrade", HTTP_F_STRING, upgrade, HTTP_UPGRADE_MAX, ", "),
	HTTP_FIELD("Sec-WebSocket-Key", HTTP_F_STRING, ws_key, HTTP_WS_KEY_MAX,
	    NULL),
	HTTP_FIELD("Sec-WebSocket-Version", HTTP_F_STRING, ws_version,
	    HTTP_WS_VERSION_MAX, NULL),
	HTTP_FIELD("Sec-WebSocket-Protocol", HTTP_F_STRING, ws_protocol,
	    HTTP_WS_PROTOCOL_MAX, ", "),
	HTTP_FIELD("Origin", HTTP_F_ORIGIN, origin, HTTP_ORIGIN_MAX, NULL),
	HTTP_FIELD("Cookie", HTTP_F_STRING, cookie, HTTP_COOKIE_MAX, "; "),
	HTTP_FIELD("Authorization", HTTP_F_STRING, authorization,
	    HTTP_AUTHORIZATION_MAX, NULL),
	{ "Content-Length", HTTP_F_CONTENT_LENGTH, 0, 0, NULL },
	HTTP_FIELD("Content-Type", HTTP_F_STRING, content_type,
	    HTTP_CONTENT_TYPE_MAX, NULL),
	{ "Transfer-Encoding", HTTP_F_TRANSFER_ENCODING, 0, 0, NULL },
	HTTP_FIELD("X-Auth-Token", HTTP_F_STRING, x_auth_token,
	    HTTP_X_AUTH_TOKEN_MAX, NULL),
	HTTP_FIELD("If-Match", HTTP_F_STRING, if_match, HTTP_IF_MATCH_MAX,
	    ", "),
};

#define HTTP_NFIELDS (sizeof(http_fields) / sizeof(http_fields[0]))

/* RFC 9110 tchar: what a method or a field name may be made of. */
static int
http_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int
http_token(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!http_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
http_fail(struct http_parser *p, int status, const char *why)
{
	p->state = HTTP_S_ERROR;
	p->status = status;
	p->error = why;
	return HTTP_PARSE_ERROR;
}

/* Lower limits from the config; never above the compiled ones. */
static size_t http_headers_max = HTTP_HEADERS_MAX;
static unsigned int http_nheaders_max = HTTP_NHEADERS_MAX;

void
http_set_limits(size_t headers_max, unsigned int nheaders_max)
{
	http_headers_max =
	    headers_max < HTTP_HEADERS_MAX ? headers_max : HTTP_HEADERS_MAX;
	http_nheaders_max =
	    nheaders_max < HTTP_NHEADERS_MAX ? nheaders_max : HTTP_NHEADERS_MAX;
}

void
http_parser_init(struct http_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = HTTP_S_START;
}

/*
 * Finds the next CRLF-terminated line of at most max bytes before the CRLF
 * and makes it contiguous. Returns 1 with the line, 0 for more input,
 * -1 when it is already too long, -2 for a bare LF. The search resumes
 * where the last one stopped, so a slow client costs no rescans.
 */
static int
http_line(struct http_parser *p, struct evbuffer *in, size_t max,
    const char **line, size_t *len)
{
	struct evbuffer_ptr ptr;
	size_t avail = evbuffer_get_length(in), eol_len, pos;
	const char *data;

	if (p->scanned >= avail)
		return avail >= max + 2 ? -1 : 0;
	if (evbuffer_ptr_set(in, &ptr, p->scanned, EVBUFFER_PTR_SET) == -1)
		return -1;
	ptr = evbuffer_search_eol(in, &ptr, &eol_len, EVBUFFER_EOL_LF);
	if (ptr.pos == -1) {
		p->scanned = avail;
		return avail >= max + 2 ? -1 : 0;
	}
	pos = ptr.pos;
	if (pos > max + 1)
		return -1;
	if ((data = (const char *)evbuffer_pullup(in, pos + 1)) == NULL)
		return -1;
	if (pos == 0 || data[pos - 1] != '\r')
		return -2;
	*line = data;
	*len = pos - 1;
	return 1;
}

static void
http_line_done(struct http_parser *p, struct evbuffer *in, size_t len)
{
	evbuffer_drain(in, len + 2);
	p->scanned = 0;
}

static int
http_version(struct http_parser *p, struct http_request *req, const char *v,
    size_t len)
{
	if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
	    v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return http_fail(p, 400, "malformed HTTP version");
	if (v[5] == '1' && v[7] == '1')
		req->version = HTTP_VERSION_11;
	else if (v[5] == '1' && v[7] == '0')
		req->version = HTTP_VERSION_10;
	else
		return http_fail(p, 505, "HTTP version not supported");
	return 0;
}

/* origin-form only: "/" path ["?" query], printable ASCII, no fragment. */
static int
http_target(struct http_parser *p, struct http_request *req, const char *t,
    size_t len)
{
	const char *q;
	size_t i, plen;

	if (len == 0 || t[0] != '/')
		return http_fail(p, 400, "request target is not a path");
	for (i = 0; i < len; i++) {
		unsigned char c = t[i];

		if (c <= 0x20 || c >= 0x7f || c == '#')
			return http_fail(p, 400, "bad byte in request target");
	}
	q = memchr(t, '?', len);
	plen = q != NULL ? (size_t)(q - t) : len;
	if (plen >= sizeof(req->path))
		return http_fail(p, 414, "path too long");
	memcpy(req->path, t, plen);
	req->path[plen] = '\0';
	if (q != NULL) {
		len -= plen + 1;
		if (len >= sizeof(req->query))
			return http_fail(p, 414, "query too long");
		memcpy(req->query, q + 1, len);
		req->query[len] = '\0';
		req->has_query = 1;
	}
	return 0;
}

/*
 * While a request line is incomplete, its start must still look like a
 * method: a TLS hello or other binary noise gets its 400 at once, not
 * after 8 KiB or a timeout.
 */
static int
http_method_prefix(struct http_parser *p, struct evbuffer *in)
{
	unsigned char head[HTTP_METHOD_MAX];
	ev_ssize_t n;
	ev_ssize_t i;

	n = evbuffer_copyout(in, head, sizeof(head));
	for (i = 0; i < n && head[i] != ' '; i++) {
		/* CR and LF only as an empty line before the request. */
		if (head[i] == '\r' && (i + 1 == n || head[i + 1] == '\n'))
			break;
		if (!http_tchar(head[i]))
			return http_fail(p, 400, "malformed method");
	}
	return HTTP_PARSE_MORE;
}

/* method SP request-target SP HTTP-version, single spaces. */
static int
http_request_line(struct http_parser *p, struct http_request *req,
    const char *line, size_t len)
{
	const char *end = line + len, *sp1, *sp2;
	size_t mlen;

	if ((sp1 = memchr(line, ' ', len)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1)) == NULL)
		return http_fail(p, 400, "malformed request line");
	mlen = sp1 - line;
	if (!http_token(line, mlen))
		return http_fail(p, 400, "malformed method");
	/*
	 * The method first, so that an error in the rest of the line is
	 * answered as HEAD needs, without a body. Methods are
	 * case-sensitive (RFC 9110 9.1).
	 */
	if (mlen == 3 && memcmp(line, "GET", 3) == 0)
		req->method = HTTP_METHOD_GET;
	else if (mlen == 4 && memcmp(line, "HEAD", 4) == 0)
		req->method = HTTP_METHOD_HEAD;
	else if (mlen == 4 && memcmp(line, "POST", 4) == 0)
		req->method = HTTP_METHOD_POST;
	else if (mlen == 5 && memcmp(line, "PATCH", 5) == 0)
		req->method = HTTP_METHOD_PATCH;
	else if (mlen == 6 && memcmp(line, "DELETE", 6) == 0)
		req->method = HTTP_METHOD_DELETE;
	else
		req->method = HTTP_METHOD_OTHER;
	if (mlen >= sizeof(req->method_name))
		mlen = sizeof(req->method_name) - 1;
	memcpy(req->method_name, line, mlen);
	req->method_name[mlen] = '\0';
	if (http_version(p, req, sp2 + 1, end - sp2 - 1) == HTTP_PARSE_ERROR)
		return HTTP_PARSE_ERROR;
	return http_target(p, req, sp1 + 1, sp2 - sp1 - 1);
}

static int
http_host_valid(const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = v[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (strchr("-._~!$&'()*+,;=:[]%", c) == NULL || c == '\0')
			return 0;
	}
	return 1;
}

/* Connection is a token list; only three tokens matter to us. */
static void
http_connection(struct http_request *req, const char *v, size_t len)
{
	const char *end = v + len, *tok, *comma;
	size_t tlen;

	while (v < end) {
		comma = memchr(v, ',', end - v);
		tok = v;
		tlen = (comma != NULL ? comma : end) - tok;
		v = comma != NULL ? comma + 1 : end;
		while (tlen > 0 && (*tok == ' ' || *tok == '\t')) {
			tok++;
			tlen--;
		}
		while (
		    tlen > 0 && (tok[tlen - 1] == ' ' || tok[tlen - 1] == '\t'))
			tlen--;
		if (tlen == 5 && strncasecmp(tok, "close", 5) == 0)
			req->connection |= HTTP_CONN_CLOSE;
		else if (tlen == 10 && strncasecmp(tok, "keep-alive", 10) == 0)
			req->connection |= HTTP_CONN_KEEP_ALIVE;
		else if (tlen == 7 && strncasecmp(tok, "upgrade", 7) == 0)
			req->connection |= HTTP_CONN_UPGRADE;
	}
}

/* Digits only: a list ("5, 5") or a sign is a 400, as RFC 9112 6.3 allows. */
static int
http_content_length(struct http_parser *p, struct http_request *req,
    const char *v, size_t len)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0)
		return http_fail(p, 400, "malformed Content-Length");
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return http_fail(p, 400, "malformed Content-Length");
		if (n > (UINT64_MAX - 9) / 10)
			return http_fail(p, 413, "body too large");
		n = n * 10 + (v[i] - '0');
	}
	if (req->has_content_length && req->content_length != n)
		return http_fail(p, 400, "conflicting Content-Length");
	req->has_content_length = 1;
	req->content_length = n;
	return 0;
}

static int
http_store(struct http_parser *p, struct http_request *req,
    const struct http_field *f, int again, const char *v, size_t len)
{
	char *dst = (char *)req + f->off;
	size_t have = 0, jlen = 0;

	if (again) {
		if (f->join == NULL)
			return http_fail(p, 400, "repeated header field");
		have = strlen(dst);
		jlen = strlen(f->join);
	}
	if (have + jlen + len >= f->size)
		return http_fail(p, 431, "header field too large");
	if (jlen > 0)
		memcpy(dst + have, f->join, jlen);
	memcpy(dst + have + jlen, v, len);
	dst[have + jlen + len] = '\0';
	return 0;
}

static int
http_header_line(struct http_parser *p, struct http_request *req,
    const char *line, size_t len)
{
	const struct http_field *f = NULL;
	const char *colon, *v;
	size_t nlen, vlen, i;
	int again;

	if (line[0] == ' ' || line[0] == '\t')
		return http_fail(p, 400, "obsolete line folding");
	if (++req->nheaders > http_nheaders_max)
		return http_fail(p, 431, "too many header fields");
	if ((colon = memchr(line, ':', len)) == NULL)
		return http_fail(p, 400, "malformed header field");
	nlen = colon - line;
	if (!http_token(line, nlen))
		return http_fail(p, 400, "malformed header field name");

	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (i = 0; i < vlen; i++) {
		unsigned char c = v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return http_fail(p, 400,
			    "control byte in header field");
	}

	for (i = 0; i < HTTP_NFIELDS; i++) {
		if (strlen(http_fields[i].name) == nlen &&
		    strncasecmp(http_fields[i].name, line, nlen) == 0) {
			f = &http_fields[i];
			break;
		}
	}
	if (f == NULL) {
		req->nunknown++;
		return 0;
	}
	again = (p->seen & (1U << i)) != 0;
	p->seen |= 1U << i;

	switch (f->kind) {
	case HTTP_F_HOST:
		/* RFC 9112 3.2: more than one Host, or a bad one, is 400. */
		if (!http_host_valid(v, vlen))
			return http_fail(p, 400, "malformed Host");
		req->has_host = 1;
		return http_store(p, req, f, again, v, vlen);
	case HTTP_F_ORIGIN:
		req->has_origin = 1;
		return http_store(p, req, f, again, v, vlen);
	case HTTP_F_CONNECTION:
		http_connection(req, v, vlen);
		return 0;
	case HTTP_F_CONTENT_LENGTH:
		return http_content_length(p, req, v, vlen);
	case HTTP_F_TRANSFER_ENCODING:
		/* Request bodies are small JSON: never chunked. */
		return http_fail(p, 501, "Transfer-Encoding not supported");
	case HTTP_F_STRING:
		return http_store(p, req, f, again, v, vlen);
	}
	return 0;
}

static int
http_headers_end(struct http_parser *p, struct http_request *req)
{
	if (req->version == HTTP_VERSION_11 && !req->has_host)
		return http_fail(p, 400, "missing Host");
	if (req->content_length > HTTP_BODY_MAX)
		return http_fail(p, 413, "body too large");
	return 0;
}

/*
 * Parses as much of one request as `in` holds, consuming what it used.
 * After DONE the next call starts the next request on the same buffer
 * (pipelining) and clears `req`; between calls the caller must leave `req`
 * alone. After ERROR the framing is lost: answer p->status and close.
 * The caller bounds its reads; this rejects a line or header block as soon
 * as the buffer holds more than the limit without its end.
 */
int
http_parse(struct http_parser *p, struct evbuffer *in, struct http_request *req)
{
	const char *line;
	size_t len, budget, n;
	int r;

	for (;;) {
		switch (p->state) {
		case HTTP_S_START:
			memset(req, 0, sizeof(*req));
			p->scanned = 0;
			p->header_bytes = 0;
			p->empty_lines = 0;
			p->seen = 0;
			p->state = HTTP_S_LINE;
			break;
		case HTTP_S_LINE:
			r = http_line(p, in, HTTP_LINE_MAX, &line, &len);
			if (r == 0)
				return http_method_prefix(p, in);
			if (r == -1)
				return http_fail(p, 414,
				    "request line too long");
			if (r == -2)
				return http_fail(p, 400, "bare LF");
			if (len == 0) {
				/* RFC 9112 2.2: ignore CRLFs before a request.
				 */
				if (++p->empty_lines > HTTP_EMPTY_LINES_MAX)
					return http_fail(p, 400,
					    "empty lines before request");
				http_line_done(p, in, len);
				break;
			}
			if (http_request_line(p, req, line, len) ==
			    HTTP_PARSE_ERROR)
				return HTTP_PARSE_ERROR;
			http_line_done(p, in, len);
			p->state = HTTP_S_HEADERS;
			break;
		case HTTP_S_HEADERS:
			budget = http_headers_max - p->header_bytes;
			if (budget < 2)
				return http_fail(p, 431,
				    "header block too large");
			r = http_line(p, in, budget - 2, &line, &len);
			if (r == 0)
				return HTTP_PARSE_MORE;
			if (r == -1)
				return http_fail(p, 431,
				    "header block too large");
			if (r == -2)
				return http_fail(p, 400, "bare LF");
			p->header_bytes += len + 2;
			if (len == 0) {
				http_line_done(p, in, len);
				if (http_headers_end(p, req) ==
				    HTTP_PARSE_ERROR)
					return HTTP_PARSE_ERROR;
				p->state = HTTP_S_BODY;
				break;
			}
			if (http_header_line(p, req, line, len) ==
			    HTTP_PARSE_ERROR)
				return HTTP_PARSE_ERROR;
			http_line_done(p, in, len);
			break;
		case HTTP_S_BODY:
			n = req->content_length - req->body_len;
			if (n > evbuffer_get_length(in))
				n = evbuffer_get_length(in);
			if (n > 0 &&
			    evbuffer_remove(in, req->body + req->body_len, n) !=
				(int)n)
				return http_fail(p, 500, "buffer failure");
			req->body_len += n;
			if (req->body_len < req->content_length)
				return HTTP_PARSE_MORE;
			req->body[req->body_len] = '\0';
			p->state = HTTP_S_START;
			return HTTP_PARSE_DONE;
		case HTTP_S_ERROR:
		default:
			return HTTP_PARSE_ERROR;
		}
	}
}

/* Whether the connection may carry another request after this one. */
int
http_keep_alive(const struct http_request *req)
{
	if (req->connection & HTTP_CONN_CLOSE)
		return 0;
	if (req->version == HTTP_VERSION_11)
		return 1;
	return (req->connection & HTTP_CONN_KEEP_ALIVE) != 0;
}
