/*
 * The peer's WebSocket output (RFC 6455, client side): stream bytes
 * are cut into masked binary frames and leave with one writev.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

#define WS_RAW_CAP (256 * 1024)
#define WS_IN_CAP (4 * 1024 * 1024)
#define WS_OUT_CAP (8 * 1024 * 1024)
#define WS_BATCH 64 /* frames per writev */
#define WS_HDR_MAX 14
#define WS_CLOSE_WAIT 2000 /* ms to wait for the server's close */

int
ws_init(struct ws *ws, struct peer_io *io, size_t max_frame)
{
	memset(ws, 0, sizeof(*ws));
	ws->io = io;
	ws->max_frame = max_frame;
	ws->raw_cap = WS_RAW_CAP;
	ws->in_cap = WS_IN_CAP;
	ws->out_cap = WS_OUT_CAP;
	ws->raw = malloc(ws->raw_cap);
	ws->in = malloc(ws->in_cap);
	ws->out = malloc(ws->out_cap);
	if (ws->raw == NULL || ws->in == NULL || ws->out == NULL)
		return -1;
	/*
	 * Masks only need to be unpredictable to the server, not secret:
	 * one getrandom seeds a fast generator rather than a syscall a frame.
	 */
	if (getrandom(&ws->rng, sizeof(ws->rng), 0) != sizeof(ws->rng))
		ws->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)ws;
	return 0;
}

void
ws_free(struct ws *ws)
{
	free(ws->raw);
	free(ws->in);
	free(ws->out);
	ws->raw = ws->in = ws->out = NULL;
}

/* splitmix64: good enough spread for masking keys. */
static uint32_t
ws_random(struct ws *ws)
{
	uint64_t z;

	z = (ws->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)(z ^ (z >> 31));
}

/*
 * XOR eight bytes at a time with the key repeated twice; the key is laid
 * out in memory order so this works on any endianness.
 */
static void
ws_mask(uint8_t *p, size_t len, const uint8_t key[4])
{
	uint8_t key8[8];
	uint64_t k, v;
	size_t i;

	memcpy(key8, key, 4);
	memcpy(key8 + 4, key, 4);
	memcpy(&k, key8, 8);
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&v, p + i, 8);
		v ^= k;
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] ^= key[i & 3];
}

/* Writes a FIN frame header with a fresh key into h; returns its size. */
static size_t
ws_header(struct ws *ws, uint8_t *h, int op, uint64_t len, uint8_t key[4])
{
	size_t n;
	uint32_t r = ws_random(ws);

	h[0] = 0x80 | op;
	if (len < 126) {
		h[1] = 0x80 | len;
		n = 2;
	} else if (len <= 0xffff) {
		h[1] = 0x80 | 126;
		be16_put(h + 2, len);
		n = 4;
	} else {
		h[1] = 0x80 | 127;
		be64_put(h + 2, len);
		n = 10;
	}
	memcpy(key, &r, 4);
	memcpy(h + n, key, 4);
	return n + 4;
}

/* Ends the connection without a close frame (fault, or transport gone). */
void
ws_abort(struct ws *ws, int status)
{
	if (!ws->ended) {
		ws->io->close(ws->io);
		ws->ended = 1;
		ws->status = status;
	}
	ws->out_len = 0;
}

/*
 * The connection dropped, as by a peer that vanished, but ended with a
 * FIN rather than a reset: what we have not read is read and thrown away
 * (for up to two seconds) before the socket closes. QEMU's user
 * networking (libslirp 4.7) aborts when a host socket it forwards to a
 * guest is reset while its buffer towards the guest is full, and with
 * read-ahead sessiond has requests in flight when the peer goes.
 */
void
ws_drop(struct ws *ws, int status)
{
	struct pollfd pfd = { ws->io->fd, POLLIN, 0 };
	char sink[16384];
	time_t until = time(NULL) + 2;

	if (!ws->ended && ws->io->fd != -1 &&
	    shutdown(ws->io->fd, SHUT_WR) == 0) {
		while (time(NULL) < until && poll(&pfd, 1, 250) >= 0) {
			if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (read(ws->io->fd, sink, sizeof(sink)) <= 0)
				break;
		}
	}
	ws_abort(ws, status);
}

/* Writes all iovecs, resuming after short writes. */
static int
ws_writev_all(struct ws *ws, struct iovec *iov, int n)
{
	ssize_t w;

	while (n > 0) {
		w = ws->io->writev(ws->io, iov, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			peer_warnx("write: %s",
			    w == 0 ? "closed" : strerror(errno));
			ws_abort(ws, PEER_EXIT_ABNORMAL);
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	return 0;
}

/* Sends every pending stream byte as binary frames of at most max_frame. */
int
ws_flush(struct ws *ws)
{
	struct iovec iov[2 * WS_BATCH];
	uint8_t hdr[WS_BATCH][WS_HDR_MAX], key[4];
	size_t off = 0, len;
	int n;

	if (ws->ended)
		return -1;
	while (off < ws->out_len) {
		for (n = 0; off < ws->out_len && n < WS_BATCH; n++) {
			len = ws->out_len - off;
			if (len > ws->max_frame)
				len = ws->max_frame;
			iov[2 * n].iov_base = hdr[n];
			iov[2 * n].iov_len =
			    ws_header(ws, hdr[n], WS_OP_BINARY, len, key);
			ws_mask(ws->out + off, len, key);
			iov[2 * n + 1].iov_base = ws->out + off;
			iov[2 * n + 1].iov_len = len;
			off += len;
		}
		if (ws_writev_all(ws, iov, 2 * n) == -1)
			return -1;
	}
	ws->out_len = 0;
	return 0;
}

/* Room for len stream bytes (len <= out_cap), flushing if need be. */
uint8_t *
ws_out_reserve(struct ws *ws, size_t len)
{
	if (ws->out_cap - ws->out_len < len && ws_flush(ws) == -1)
		return NULL;
	return ws->out + ws->out_len;
}

void
ws_out_commit(struct ws *ws, size_t len)
{
	ws->out_len += len;
}

int
ws_send_control(struct ws *ws, int op, const uint8_t *data, size_t len)
{
	uint8_t hdr[WS_HDR_MAX], body[125], key[4];
	struct iovec iov[2];

	iov[0].iov_base = hdr;
	iov[0].iov_len = ws_header(ws, hdr, op, len, key);
	memcpy(body, data, len);
	ws_mask(body, len, key);
	iov[1].iov_base = body;
	iov[1].iov_len = len;
	return ws_writev_all(ws, iov, 2);
}

void
ws_send_close(struct ws *ws, int code, const char *reason)
{
	uint8_t body[125];
	size_t len = 0;

	if (ws->sent_close)
		return;
	ws->sent_close = 1;
	if (code != 1005) {
		be16_put(body, code);
		len = strlen(reason);
		if (len > sizeof(body) - 2)
			len = sizeof(body) - 2;
		memcpy(body + 2, reason, len);
		len += 2;
	}
	(void)ws_send_control(ws, WS_OP_CLOSE, body, len);
}

/*
 * Fails the connection on a server protocol violation: close frame with
 * the code, then drop TCP at once (no waiting on a broken peer).
 */
void
ws_fail(struct ws *ws, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	peer_warnx("%s", msg);
	if (ws->ended)
		return;
	ws->out_len = 0;
	ws_send_close(ws, code, msg);
	ws_abort(ws, PEER_EXIT_ABNORMAL);
}

/*
 * Our side ends the session: pending replies, a close frame, then a short
 * wait for the server's close before dropping TCP. Always returns -1.
 */
int
ws_close(struct ws *ws, int code, const char *reason)
{
	if (ws->ended)
		return -1;
	if (ws->out_len > 0 && ws_flush(ws) == -1)
		return -1;
	ws->status =
	    (code == 1000 || code == 1001) ? PEER_EXIT_OK : PEER_EXIT_ABNORMAL;
	ws_send_close(ws, code, reason);
	(void)ws_idle(ws, WS_CLOSE_WAIT);
	ws_abort(ws, ws->status);
	return -1;
}
