/*
 * The WebSocket opening handshake (RFC 6455 4.2): check the upgrade request,
 * compute Sec-WebSocket-Accept, pick nothing itself but let the caller echo
 * one offered subprotocol (webui-vue sends its session token as one).
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <openssl/evp.h>

#include "http.h"
#include "ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN 24 /* base64 of 16 bytes */

static EVP_MD *ws_sha1;

/*
 * Fetches SHA-1 once, before the sandbox: OpenSSL 3 loads its config and
 * providers on the first fetch, which opens files sessiond may not open.
 */
int
ws_init(void)
{
	if (ws_sha1 == NULL)
		ws_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	return ws_sha1 != NULL ? 0 : -1;
}

static int
ws_base64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* The key must be base64 of 16 bytes: 22 characters and "==". */
int
ws_key_valid(const char *key)
{
	size_t i;

	if (strlen(key) != WS_KEY_LEN)
		return 0;
	for (i = 0; i < WS_KEY_LEN - 2; i++)
		if (!ws_base64_char(key[i]))
			return 0;
	return key[22] == '=' && key[23] == '=';
}

/* base64(SHA-1(key GUID)) into out, NUL-terminated; -1 for a bad key. */
int
ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char input[WS_KEY_LEN + sizeof(WS_GUID) - 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	out[0] = '\0';
	if (!ws_key_valid(key) || ws_init() == -1)
		return -1;
	memcpy(input, key, WS_KEY_LEN);
	memcpy(input + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
	if (EVP_Digest(input, sizeof(input), md, &mdlen, ws_sha1, NULL) != 1 ||
	    mdlen != 20)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)out, md, mdlen) != WS_ACCEPT_LEN)
		return -1;
	return 0;
}

/*
 * Steps through a comma-separated header list (Sec-WebSocket-Protocol,
 * Upgrade): 1 with the next non-empty element, trimmed, or 0 at the end.
 */
int
ws_protocol_next(const char **cursor, const char **tok, size_t *len)
{
	const char *s = *cursor, *start, *end;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0') {
			*cursor = s;
			return 0;
		}
		start = s;
		while (*s != '\0' && *s != ',')
			s++;
		end = s;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*cursor = s;
		*tok = start;
		*len = end - start;
		return 1;
	}
}

/* Whether value is one of the offered ones; subprotocols match exactly. */
int
ws_protocol_offered(const char *list, const char *value)
{
	const char *tok;
	size_t len, vlen = strlen(value);

	while (ws_protocol_next(&list, &tok, &len))
		if (len == vlen && memcmp(tok, value, len) == 0)
			return 1;
	return 0;
}

static int
ws_list_has_ci(const char *list, const char *value)
{
	const char *tok;
	size_t len, vlen = strlen(value);

	while (ws_protocol_next(&list, &tok, &len))
		if (len == vlen && strncasecmp(tok, value, len) == 0)
			return 1;
	return 0;
}

static int
ws_refuse(struct ws_handshake *hs, int status, const char *why)
{
	hs->status = status;
	hs->error = why;
	return -1;
}

/*
 * RFC 6455 4.2.1. On -1, answer hs->status: 405 needs "Allow: GET",
 * 426 needs "Sec-WebSocket-Version: 13". On 0, hs->accept is ready.
 */
int
ws_handshake_check(const struct http_request *req, struct ws_handshake *hs)
{
	memset(hs, 0, sizeof(*hs));
	if (req->method != HTTP_METHOD_GET)
		return ws_refuse(hs, 405, "WebSocket upgrade needs GET");
	if (req->version != HTTP_VERSION_11)
		return ws_refuse(hs, 400, "WebSocket upgrade needs HTTP/1.1");
	if (!ws_list_has_ci(req->upgrade, "websocket"))
		return ws_refuse(hs, 400, "not a WebSocket upgrade");
	if (!(req->connection & HTTP_CONN_UPGRADE))
		return ws_refuse(hs, 400, "Connection lacks upgrade");
	if (req->ws_version[0] == '\0')
		return ws_refuse(hs, 400, "missing Sec-WebSocket-Version");
	if (strcmp(req->ws_version, "13") != 0)
		return ws_refuse(hs, 426, "unsupported WebSocket version");
	if (ws_accept_key(req->ws_key, hs->accept) == -1)
		return ws_refuse(hs, 400, "bad Sec-WebSocket-Key");
	return 0;
}

static int
ws_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') ||
			strchr("!#$%&'*+-.^_`|~", c) != NULL))
			return 0;
	}
	return 1;
}

/*
 * The 101 answer. protocol is the offered value to echo, or NULL; it must
 * be a token (browsers only offer tokens), so it cannot inject a header.
 */
int
ws_handshake_response(struct evbuffer *out, const char *accept,
    const char *protocol)
{
	size_t i;

	if (strlen(accept) != WS_ACCEPT_LEN ||
	    (protocol != NULL && !ws_token(protocol)))
		return -1;
	for (i = 0; i < WS_ACCEPT_LEN; i++)
		if (!ws_base64_char(accept[i]) && accept[i] != '=')
			return -1;
	if (evbuffer_add_printf(out,
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
		accept) == -1)
		return -1;
	if (protocol != NULL &&
	    evbuffer_add_printf(out, "Sec-WebSocket-Protocol: %s\r\n",
		protocol) == -1)
		return -1;
	return evbuffer_add(out, "\r\n", 2);
}
