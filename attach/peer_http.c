/*
 * The peer's WebSocket opening handshake (RFC 6455 section 4, client):
 * the upgrade request, and the checks a browser makes on the 101 answer.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "peer.h"

#define HTTP_REQ_MAX 16384
#define HTTP_HEAD_MAX 16384 /* response head, read into ws->raw */
#define HTTP_BODY_MAX 65536
#define HTTP_BODY_WAIT 2000 /* ms to wait for more error body */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int
http_write_all(struct peer_io *io, const char *buf, size_t len)
{
	struct iovec iov;
	ssize_t w;

	while (len > 0) {
		iov.iov_base = (void *)buf;
		iov.iov_len = len;
		w = io->writev(io, &iov, 1);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= w;
	}
	return 0;
}

/* base64(SHA-1(key GUID)), the only answer that proves a WS server. */
static void
http_accept_for(const char *key, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char buf[64];

	snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
	EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, mdlen);
}

/* "Authorization: Basic base64(user:password)\r\n" at req + len. */
static size_t
http_basic(char *req, size_t len, const char *credentials)
{
	size_t n = strlen(credentials);
	const char *prefix = "Authorization: Basic ";
	size_t need = strlen(prefix) + 4 * ((n + 2) / 3) + 3;

	if (len + need >= HTTP_REQ_MAX)
		return HTTP_REQ_MAX;
	len += snprintf(req + len, HTTP_REQ_MAX - len, "%s", prefix);
	len += EVP_EncodeBlock((unsigned char *)req + len,
	    (const unsigned char *)credentials, n);
	len += snprintf(req + len, HTTP_REQ_MAX - len, "\r\n");
	return len;
}

static int
http_request(struct ws *ws, const struct peer_url *url,
    const struct peer_opts *o, const char *key)
{
	char *req;
	size_t len;
	int i, rc;

	if ((req = malloc(HTTP_REQ_MAX)) == NULL)
		return -1;
	len = snprintf(req, HTTP_REQ_MAX,
	    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n",
	    url->path, url->authority, key);
	for (i = 0; i < o->nprotocols && len < HTTP_REQ_MAX; i++)
		len += snprintf(req + len, HTTP_REQ_MAX - len,
		    "Sec-WebSocket-Protocol: %s\r\n", o->protocols[i]);
	for (i = 0; i < o->nheaders && len < HTTP_REQ_MAX; i++)
		len += snprintf(req + len, HTTP_REQ_MAX - len, "%s\r\n",
		    o->headers[i]);
#ifdef PEER_TEST
	/* The test peer's --login and --cookie (regress/peer/peer_api.c). */
	if (o->cookie[0] != '\0' && len < HTTP_REQ_MAX)
		len += api_auth_headers(url, o, req + len, HTTP_REQ_MAX - len);
	else
#endif
	    if (o->basic != NULL && len < HTTP_REQ_MAX)
		len = http_basic(req, len, o->basic);
	if (len < HTTP_REQ_MAX)
		len += snprintf(req + len, HTTP_REQ_MAX - len, "\r\n");
	if (len >= HTTP_REQ_MAX) {
		peer_warnx("upgrade request too long");
		free(req);
		return -1;
	}
	rc = http_write_all(ws->io, req, len);
	if (rc == -1)
		peer_warnx("write upgrade request: %s", strerror(errno));
	free(req);
	return rc;
}

/* Reads into ws->raw until the blank line; returns the head's length. */
static ssize_t
http_read_head(struct ws *ws)
{
	char *end;
	ssize_t n;

	for (;;) {
		ws->raw[ws->raw_len] = '\0';
		end = strstr((char *)ws->raw, "\r\n\r\n");
		if (end != NULL)
			return end + 4 - (char *)ws->raw;
		if (ws->raw_len >= HTTP_HEAD_MAX) {
			peer_warnx("HTTP response head too long");
			return -1;
		}
		n = ws->io->read(ws->io, ws->raw + ws->raw_len,
		    HTTP_HEAD_MAX - ws->raw_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			peer_warnx("connection closed during the upgrade%s%s",
			    n ? ": " : "", n ? strerror(errno) : "");
			return -1;
		}
		ws->raw_len += n;
	}
}

/* The value of header name in head, copied into val; 0 if found. */
static int
http_header(const char *head, const char *name, char *val, size_t vlen)
{
	const char *line, *eol, *v;
	size_t nlen = strlen(name), len;

	for (line = strstr(head, "\r\n"); line != NULL; line = eol) {
		line += 2;
		if ((eol = strstr(line, "\r\n")) == NULL || eol == line)
			break;
		if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
			continue;
		for (v = line + nlen + 1; *v == ' ' || *v == '\t'; v++)
			;
		len = eol - v;
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len >= vlen)
			len = vlen - 1;
		memcpy(val, v, len);
		val[len] = '\0';
		return 0;
	}
	return -1;
}

/* A refusal is for a person to read: status line and body on stderr. */
static void
http_refused(struct ws *ws, size_t headlen)
{
	char *head = (char *)ws->raw, val[32], saved;
	size_t want = HTTP_BODY_MAX, have = ws->raw_len - headlen, eol;
	uint8_t *body;
	ssize_t n;

	eol = strcspn(head, "\r\n");
	saved = head[eol];
	head[eol] = '\0';
	peer_warnx("upgrade refused: %s", head);
	head[eol] = saved;
	if (http_header(head, "Content-Length", val, sizeof(val)) == 0)
		want = strtoull(val, NULL, 10);
	if (want > HTTP_BODY_MAX)
		want = HTTP_BODY_MAX;
	if ((body = malloc(want + have + 1)) == NULL)
		return;
	memcpy(body, ws->raw + headlen, have);
	while (have < want && io_wait_readable(ws->io, HTTP_BODY_WAIT) > 0) {
		n = ws->io->read(ws->io, body + have, want - have);
		if (n <= 0)
			break;
		have += n;
	}
	if (have > 0) {
		fwrite(body, 1, have, stderr);
		if (body[have - 1] != '\n')
			fputc('\n', stderr);
	}
	free(body);
}

/* Whether val is one of the values offered; --protocol 'a, b' is two. */
static int
http_offered(const struct peer_opts *o, const char *val)
{
	const char *p, *end;
	size_t vlen = strlen(val), len;
	int i;

	for (i = 0; i < o->nprotocols; i++) {
		for (p = o->protocols[i]; *p != '\0'; p = end) {
			p += strspn(p, " \t,");
			end = p + strcspn(p, ",");
			len = end - p;
			while (len > 0 &&
			    (p[len - 1] == ' ' || p[len - 1] == '\t'))
				len--;
			if (len > 0 && len == vlen && memcmp(p, val, len) == 0)
				return 1;
		}
	}
	return 0;
}

static int
http_check(const char *head, const char *key, const struct peer_opts *o)
{
	char val[1024], accept[29];

	if (http_header(head, "Upgrade", val, sizeof(val)) == -1 ||
	    strcasecmp(val, "websocket") != 0) {
		peer_warnx("101 without Upgrade: websocket");
		return -1;
	}
	if (http_header(head, "Connection", val, sizeof(val)) == -1 ||
	    strcasestr(val, "upgrade") == NULL) {
		peer_warnx("101 without Connection: Upgrade");
		return -1;
	}
	http_accept_for(key, accept);
	if (http_header(head, "Sec-WebSocket-Accept", val, sizeof(val)) == -1 ||
	    strcmp(val, accept) != 0) {
		peer_warnx("bad Sec-WebSocket-Accept (want %s)", accept);
		return -1;
	}
	if (http_header(head, "Sec-WebSocket-Extensions", val, sizeof(val)) ==
	    0) {
		peer_warnx("server chose extensions \"%s\" we did not offer",
		    val);
		return -1;
	}
	if (http_header(head, "Sec-WebSocket-Protocol", val, sizeof(val)) == -1)
		return 0;
	if (!http_offered(o, val)) {
		peer_warnx("server chose subprotocol \"%s\" we did not offer",
		    val);
		return -1;
	}
	peer_log(1, "subprotocol: %s", val);
	return 0;
}

/*
 * Sends the upgrade and checks the answer. Returns 0, or the exit code.
 * Bytes after the response head are frames: they stay in ws->raw.
 */
int
http_upgrade(struct ws *ws, const struct peer_url *url,
    const struct peer_opts *o)
{
	unsigned char nonce[16];
	char key[25], *head, val[32];
	ssize_t headlen;
	int major, minor, status, login;

	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		peer_warnx("getrandom: %s", strerror(errno));
		return PEER_EXIT_LOCAL;
	}
	EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
	if (http_request(ws, url, o, key) == -1)
		return PEER_EXIT_ABNORMAL;
	if ((headlen = http_read_head(ws)) == -1)
		return PEER_EXIT_ABNORMAL;
	head = (char *)ws->raw;
	if (sscanf(head, "HTTP/%d.%d %d", &major, &minor, &status) != 3) {
		peer_warnx("not an HTTP response");
		return PEER_EXIT_ABNORMAL;
	}
	if (status != 101) {
		/* A login's back-off is a 429 with Retry-After; 429 alone
		 * is too many sessions. */
		login = status == 401 ||
		    (status == 429 &&
			http_header(head, "Retry-After", val, sizeof(val)) ==
			    0);
		http_refused(ws, headlen);
		return login ? PEER_EXIT_LOGIN : PEER_EXIT_REFUSED;
	}
	/* Cut after the last header's CRLF, which http_header needs. */
	head[headlen - 2] = '\0';
	if (http_check(head, key, o) == -1)
		return PEER_EXIT_ABNORMAL;
	ws->raw_off = headlen;
	ws->raw_len -= headlen;
	if (ws->raw_len == 0)
		ws->raw_off = 0;
	return 0;
}
