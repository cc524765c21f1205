/*
 * HTTP/1.1 responses from sessiond: the status line and framing headers,
 * extra headers checked against injection, and JSON error answers.
 */
#include <stddef.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "json.h"

const char *
http_reason(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 421:
		return "Misdirected Request";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "";
	}
}

/* A value we send must not end the header early: no CR, LF or NUL. */
static int
http_value_valid(const char *v)
{
	for (; *v != '\0'; v++) {
		unsigned char c = *v;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * Status line and the framing headers. Add more with http_response_header,
 * finish with http_response_end. 1xx, 204 and 304 carry no Content-Length
 * (RFC 9110 8.6). Returns -1 on a bad argument or no memory.
 */
int
http_response_begin(struct evbuffer *out, int status, const char *content_type,
    size_t content_length, int keep_alive)
{
	if (status < 100 || status > 999)
		return -1;
	if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
		http_reason(status)) == -1)
		return -1;
	if (content_type != NULL &&
	    http_response_header(out, "Content-Type", content_type) == -1)
		return -1;
	if (status >= 200 && status != 204 && status != 304 &&
	    evbuffer_add_printf(out, "Content-Length: %zu\r\n",
		content_length) == -1)
		return -1;
	if (evbuffer_add_printf(out, "Connection: %s\r\n",
		keep_alive ? "keep-alive" : "close") == -1)
		return -1;
	return 0;
}

int
http_response_header(struct evbuffer *out, const char *name, const char *value)
{
	if (!http_token(name, strlen(name)) || !http_value_valid(value))
		return -1;
	return evbuffer_add_printf(out, "%s: %s\r\n", name, value) == -1 ? -1 :
									   0;
}

int
http_response_end(struct evbuffer *out)
{
	return evbuffer_add(out, "\r\n", 2);
}

/*
 * {"error": "message"} with extra headers (Allow, WWW-Authenticate...).
 * flags: HTTP_RESPONSE_KEEP_ALIVE, and HTTP_RESPONSE_HEAD when answering
 * a HEAD request, which gets the headers a GET would, Content-Length
 * included, and no body (RFC 9110 9.3.2).
 */
int
http_error_json_headers(struct evbuffer *out, int status, const char *message,
    int flags, const struct http_header *headers, size_t nheaders)
{
	struct evbuffer *body;
	size_t i;
	int rv = -1;

	if ((body = evbuffer_new()) == NULL)
		return -1;
	if (evbuffer_add(body, "{\"error\": ", 10) == -1 ||
	    json_string(body, message) == -1 ||
	    evbuffer_add(body, "}", 1) == -1)
		goto done;
	if (http_response_begin(out, status, "application/json",
		evbuffer_get_length(body),
		flags & HTTP_RESPONSE_KEEP_ALIVE) == -1 ||
	    http_response_header(out, "Cache-Control", "no-store") == -1)
		goto done;
	for (i = 0; i < nheaders; i++)
		if (http_response_header(out, headers[i].name,
			headers[i].value) == -1)
			goto done;
	if (http_response_end(out) == -1)
		goto done;
	if (!(flags & HTTP_RESPONSE_HEAD) &&
	    evbuffer_add_buffer(out, body) == -1)
		goto done;
	rv = 0;
done:
	evbuffer_free(body);
	return rv;
}

int
http_error_json(struct evbuffer *out, int status, const char *message,
    int flags)
{
	return http_error_json_headers(out, status, message, flags, NULL, 0);
}
