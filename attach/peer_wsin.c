/*
 * The peer's WebSocket input (RFC 6455, client side): server frames
 * are unframed into one byte stream; control frames are answered here.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "peer.h"

#define WS_DIRECT_MIN 4096 /* payload worth its own read(2) */

static void
ws_got_close(struct ws *ws, const uint8_t *p, size_t len)
{
	char reason[126];
	size_t i;
	int code = 1005;

	if (len == 1) {
		ws_fail(ws, 1002, "close frame with a 1-byte body");
		return;
	}
	if (len >= 2)
		code = be16_get(p);
	for (i = 0; i + 2 < len; i++)
		reason[i] =
		    (p[i + 2] >= 0x20 && p[i + 2] < 0x7f) ? p[i + 2] : '?';
	reason[i] = '\0';
	peer_warnx("server closed: %d%s%s", code, i ? " " : "", reason);
	if (!ws->sent_close) {
		ws->status = (code == 1000 || code == 1001 || code == 1005) ?
		    PEER_EXIT_OK :
		    PEER_EXIT_ABNORMAL;
		ws->out_len = 0;
		ws_send_close(ws, code, "");
	}
	if (!ws->ended) {
		ws->io->close(ws->io);
		ws->ended = 1;
	}
}

static void
ws_control(struct ws *ws, int op, const uint8_t *p, size_t len)
{
	switch (op) {
	case WS_OP_PING:
		peer_log(2, "ping, %zu bytes", len);
		if (!ws->sent_close &&
		    ws_send_control(ws, WS_OP_PONG, p, len) == -1)
			return;
		break;
	case WS_OP_PONG:
		break;
	case WS_OP_CLOSE:
		ws_got_close(ws, p, len);
		break;
	}
}

/* Data frame bookkeeping: binary starts a message, continuation goes on. */
static int
ws_data_start(struct ws *ws, int op, int fin)
{
	if (op == WS_OP_TEXT) {
		ws_fail(ws, 1003, "text frame from server");
		return -1;
	}
	if (op == WS_OP_BINARY && ws->in_message) {
		ws_fail(ws, 1002, "binary frame inside a fragmented message");
		return -1;
	}
	if (op == WS_OP_CONT && !ws->in_message) {
		ws_fail(ws, 1002, "continuation frame without a message");
		return -1;
	}
	ws->in_message = !fin;
	return 0;
}

/*
 * Parses one frame header at p. Control frames are handled whole. Returns
 * the bytes used, 0 if more are needed, or avail after failing.
 */
static size_t
ws_frame_start(struct ws *ws, const uint8_t *p, size_t avail)
{
	size_t hlen = 2;
	uint64_t len;
	int op, fin;

	if (avail < 2)
		return 0;
	fin = p[0] & 0x80;
	op = p[0] & 0x0f;
	len = p[1] & 0x7f;
	if (p[0] & 0x70) {
		ws_fail(ws, 1002, "reserved bits set in a server frame");
		return avail;
	}
	if (p[1] & 0x80) {
		ws_fail(ws, 1002, "masked server frame");
		return avail;
	}
	if (len == 126)
		hlen = 4;
	else if (len == 127)
		hlen = 10;
	if (avail < hlen)
		return 0;
	if (len == 126)
		len = be16_get(p + 2);
	else if (len == 127)
		len = be64_get(p + 2);
	if (op >= 0x8) {
		if (op > WS_OP_PONG || len > 125 || !fin) {
			ws_fail(ws, 1002, "bad control frame, opcode %d", op);
			return avail;
		}
		if (avail < hlen + len)
			return 0;
		ws_control(ws, op, p + hlen, len);
		return hlen + len;
	}
	if (op > WS_OP_BINARY) {
		ws_fail(ws, 1002, "unknown opcode %d", op);
		return avail;
	}
	if (ws_data_start(ws, op, fin) == -1)
		return avail;
	ws->frame_left = len;
	return hlen;
}

/* Moves payload from raw into in; returns the raw bytes used. */
static size_t
ws_parse(struct ws *ws)
{
	size_t used = 0, n, space;
	uint8_t *p;

	while (ws->raw_len > 0 && !ws->ended) {
		p = ws->raw + ws->raw_off;
		if (ws->frame_left > 0) {
			n = ws->raw_len;
			if (n > ws->frame_left)
				n = ws->frame_left;
			/* Once closing, payload is moot. */
			if (!ws->sent_close) {
				space = ws->in_cap - ws->in_off - ws->in_len;
				if (n > space)
					n = space;
				if (n == 0)
					break;
				memcpy(ws->in + ws->in_off + ws->in_len, p, n);
				ws->in_len += n;
			}
			ws->frame_left -= n;
		} else if ((n = ws_frame_start(ws, p, ws->raw_len)) == 0)
			break;
		ws->raw_off += n;
		ws->raw_len -= n;
		used += n;
	}
	if (ws->raw_len == 0)
		ws->raw_off = 0;
	return used;
}

/*
 * A signal asked for the end (vmedia-attach's ^C): the session ends as an
 * eject does, with a normal close, once. 1 if it did.
 */
static int
ws_stopped(struct ws *ws)
{
	if (!peer_stop || ws->sent_close || ws->ended)
		return 0;
	peer_log(1, "interrupted: ending the session");
	(void)ws_close(ws, 1000, "ended by the user");
	return 1;
}

/* One read of the socket; a signal that asks for the end ends it. */
static ssize_t
ws_read_some(struct ws *ws, void *buf, size_t len)
{
	ssize_t n;

	for (;;) {
		n = ws->io->read(ws->io, buf, len);
		if (n != -1 || errno != EINTR)
			return n;
		if (ws_stopped(ws))
			return -2;
	}
}

static int
ws_read_end(struct ws *ws, ssize_t n)
{
	if (n == 0 && ws->sent_close) {
		ws_abort(ws, ws->status);
		return -1;
	}
	if (n == 0)
		peer_warnx("connection closed without a close frame");
	else
		peer_warnx("read: %s", strerror(errno));
	ws_abort(ws, ws->sent_close ? ws->status : PEER_EXIT_ABNORMAL);
	return -1;
}

/* A large payload goes straight into the stream buffer, skipping raw. */
static int
ws_read_direct(struct ws *ws)
{
	size_t len = ws->in_cap - ws->in_off - ws->in_len;
	ssize_t n;

	if (len > ws->frame_left)
		len = ws->frame_left;
	n = ws_read_some(ws, ws->in + ws->in_off + ws->in_len, len);
	if (n == -2)
		return -1;
	if (n <= 0)
		return ws_read_end(ws, n);
	ws->in_len += n;
	ws->frame_left -= n;
	return 0;
}

static void
ws_compact(uint8_t *buf, size_t *off, size_t len)
{
	if (*off > 0 && len > 0)
		memmove(buf, buf + *off, len);
	*off = 0;
}

/*
 * Gets more stream bytes into ws->in: parses what raw holds, else flushes
 * pending output (we are about to block) and reads once. Returns 0 (look
 * at in_len again) or -1 once the connection is over.
 */
int
ws_fill(struct ws *ws)
{
	ssize_t n;

	if (ws->ended || ws_stopped(ws))
		return -1;
	/* Callers only ask for more when what is left is a fragment. */
	ws_compact(ws->in, &ws->in_off, ws->in_len);
	if (ws->raw_len > 0 && ws_parse(ws) > 0)
		return ws->ended ? -1 : 0;
	if (ws->out_len > 0 && ws_flush(ws) == -1)
		return -1;
	if (ws->raw_len == 0 && ws->frame_left >= WS_DIRECT_MIN &&
	    !ws->sent_close && ws->in_cap - ws->in_len >= WS_DIRECT_MIN)
		return ws_read_direct(ws);
	ws_compact(ws->raw, &ws->raw_off, ws->raw_len);
	if (ws->raw_len == ws->raw_cap) {
		ws_fail(ws, 1011, "stream buffer full");
		return -1;
	}
	n = ws_read_some(ws, ws->raw + ws->raw_len, ws->raw_cap - ws->raw_len);
	if (n == -2)
		return -1;
	if (n <= 0)
		return ws_read_end(ws, n);
	ws->raw_len += n;
	ws_parse(ws);
	return ws->ended ? -1 : 0;
}

void
ws_consume(struct ws *ws, size_t n)
{
	ws->in_off += n;
	ws->in_len -= n;
	if (ws->in_len == 0)
		ws->in_off = 0;
}

static int64_t
ws_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Serves pings and notices a close for timeout_ms without blocking on a
 * read; stream bytes stay in ws->in. 0 at the timeout, -1 once ended.
 */
int
ws_idle(struct ws *ws, int timeout_ms)
{
	int64_t deadline = ws_now_ms() + timeout_ms, left;
	int r;

	while (!ws->ended && (left = deadline - ws_now_ms()) > 0) {
		/* Frames may already sit in raw, behind the HTTP response. */
		if (ws->raw_len > 0 && ws_parse(ws) > 0)
			continue;
		r = io_wait_readable(ws->io, (int)left);
		if (r == -1) {
			peer_warnx("poll: %s", strerror(errno));
			ws_abort(ws, PEER_EXIT_ABNORMAL);
		} else if (r > 0)
			(void)ws_fill(ws);
	}
	return ws->ended ? -1 : 0;
}
