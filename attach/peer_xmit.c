/*
 * The peer's NBD transmission phase: requests served in arrival order
 * from the image file, and the reply faults the relay tests inject.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"
#include "peer_nbd.h"

#define LONG_READ_EXTRA 16 /* a bogus reply header's worth */

struct xmit {
	struct ws *ws;
	int fd;
	const struct peer_opts *o;
	uint64_t size;
	struct peer_stats *st;
	int fault_armed; /* not yet injected */
	int faulty;	 /* this request has it */
};

static uint32_t
xmit_errno(int e)
{
	switch (e) {
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	}
	return NBD_EIO;
}

static const char *
xmit_cmd_name(uint16_t type)
{
	static const char *names[] = { "READ", "WRITE", "DISC", "FLUSH",
		"TRIM" };

	return type < sizeof(names) / sizeof(names[0]) ? names[type] :
							 "unknown";
}

/* Does request number idx of this type carry the armed fault? */
static int
xmit_fault_hits(struct xmit *x, uint64_t idx, uint16_t type)
{
	if (!x->fault_armed || idx < x->o->fault_after)
		return 0;
	switch (PEER_FAULT(x->o)) {
	case FAULT_BAD_MAGIC:
	case FAULT_BAD_HANDLE:
		break;
	case FAULT_SHORT_READ:
	case FAULT_LONG_READ:
	case FAULT_CLOSE_MID_READ:
		if (type != NBD_CMD_READ)
			return 0;
		break;
	default:
		return 0;
	}
	x->fault_armed = 0;
	peer_log(1, "fault: injected on request %" PRIu64, idx);
	return 1;
}

static void
xmit_reply_put(struct xmit *x, uint8_t *p, uint32_t error, uint64_t handle)
{
	uint32_t magic = NBD_SIMPLE_REPLY_MAGIC;

	if (x->faulty && PEER_FAULT(x->o) == FAULT_BAD_MAGIC)
		magic ^= 0xff;
	if (x->faulty && PEER_FAULT(x->o) == FAULT_BAD_HANDLE)
		handle = ~handle; /* not outstanding, in practice */
	be32_put(p, magic);
	be32_put(p + 4, error);
	be64_put(p + 8, handle);
}

static int
xmit_reply(struct xmit *x, uint32_t error, uint64_t handle)
{
	uint8_t *p;

	if ((p = ws_out_reserve(x->ws, NBD_REPLY_LEN)) == NULL)
		return -1;
	xmit_reply_put(x, p, error, handle);
	ws_out_commit(x->ws, NBD_REPLY_LEN);
	return 0;
}

/* Fills buf from the image; past its real end (--size) reads zeroes. */
static int
xmit_pread(struct xmit *x, uint8_t *buf, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pread(x->fd, buf, len, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			memset(buf, 0, len);
			break;
		}
		buf += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Payload bytes of this READ to send before cutting it off, or len. */
static uint64_t
xmit_read_cut(struct xmit *x, uint32_t len)
{
	uint64_t cut = len, budget;

	if (x->faulty &&
	    (PEER_FAULT(x->o) == FAULT_SHORT_READ ||
		PEER_FAULT(x->o) == FAULT_CLOSE_MID_READ))
		cut = len / 2;
	if (PEER_DIE_AFTER(x->o) != UINT64_MAX) {
		budget = PEER_DIE_AFTER(x->o) - x->st->bytes_read;
		if (budget < cut)
			cut = budget;
	}
	return cut;
}

static int xmit_cut_off(struct xmit *);

/* --cut-after-requests: gone between two requests, nothing half sent. */
static int
xmit_cut_between(struct xmit *x)
{
	peer_log(1, "cutting the connection after %" PRIu64 " requests",
	    x->st->requests);
	return xmit_cut_off(x);
}

/* A READ cut short ends the session, cleanly or not as the fault says. */
static int
xmit_cut_off(struct xmit *x)
{
	if (x->faulty && PEER_FAULT(x->o) == FAULT_SHORT_READ) {
		peer_log(1, "fault: short read, closing");
		return ws_close(x->ws, 1000, "short-read fault");
	}
	peer_log(1, "fault: dropping the connection mid-read");
	if (ws_flush(x->ws) == -1)
		return -1;
	if (!x->faulty)
		x->st->cut = 1;
	if (!x->faulty && PEER_CUT_SILENT(x->o)) {
		/* half-open, as after a roam: left open, never used again */
		x->ws->ended = 1;
		x->ws->status = PEER_EXIT_OK;
		return -1;
	}
	if (!x->faulty && PEER_CUT_RST(x->o)) {
		struct linger l = { 1, 0 };

		/* a reset, as a network that gave up would leave it */
		setsockopt(x->ws->io->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		ws_abort(x->ws, PEER_EXIT_OK);
		return -1;
	}
	ws_drop(x->ws, PEER_EXIT_OK);
	return -1;
}

/*
 * pread lands straight in the output buffer after the reply header;
 * reads larger than that buffer go out in pieces.
 */
static int
xmit_read(struct xmit *x, uint64_t handle, uint64_t off, uint32_t len)
{
	uint64_t sent = 0, cut, n;
	size_t room = x->ws->out_cap - NBD_REPLY_LEN, chunk;
	uint8_t *p;

	if (off > x->size || len > x->size - off)
		return xmit_reply(x, NBD_EINVAL, handle);
	chunk = len < room ? len : room;
	if ((p = ws_out_reserve(x->ws, NBD_REPLY_LEN + chunk)) == NULL)
		return -1;
	if (xmit_pread(x, p + NBD_REPLY_LEN, chunk, off) == -1) {
		xmit_reply_put(x, p, xmit_errno(errno), handle);
		ws_out_commit(x->ws, NBD_REPLY_LEN);
		return 0;
	}
	xmit_reply_put(x, p, 0, handle);
	ws_out_commit(x->ws, NBD_REPLY_LEN);
	cut = xmit_read_cut(x, len);
	for (;;) {
		n = cut - sent < chunk ? cut - sent : chunk;
		ws_out_commit(x->ws, n);
		sent += n;
		x->st->bytes_read += n;
		if (sent == cut && cut < len)
			return xmit_cut_off(x);
		if (sent == len)
			break;
		chunk =
		    len - sent < x->ws->out_cap ? len - sent : x->ws->out_cap;
		if ((p = ws_out_reserve(x->ws, chunk)) == NULL)
			return -1;
		/* The header already said success: no way to report it. */
		if (xmit_pread(x, p, chunk, off + sent) == -1)
			return ws_close(x->ws, 1011, "image read error");
	}
	if (x->faulty && PEER_FAULT(x->o) == FAULT_LONG_READ) {
		if ((p = ws_out_reserve(x->ws, LONG_READ_EXTRA)) == NULL)
			return -1;
		memset(p, 0xee, LONG_READ_EXTRA);
		ws_out_commit(x->ws, LONG_READ_EXTRA);
	}
	return 0;
}

/* Stores the payload as it arrives; refused writes still drain it. */
static int
xmit_write(struct xmit *x, uint64_t handle, uint64_t off, uint32_t len)
{
	struct ws *ws = x->ws;
	uint32_t error = 0, done = 0;
	size_t n;
	ssize_t w;

	if (x->o->read_only)
		error = NBD_EPERM;
	else if (off > x->size || len > x->size - off)
		error = NBD_EINVAL;
	while (done < len) {
		if (ws->in_len == 0 && ws_fill(ws) == -1)
			return -1;
		n = ws->in_len < len - done ? ws->in_len : len - done;
		while (error == 0 && n > 0) {
			w = pwrite(x->fd, ws->in + ws->in_off, n, off + done);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1) {
				error = xmit_errno(errno);
				break;
			}
			ws_consume(ws, w);
			done += w;
			x->st->bytes_written += w;
			n -= w;
		}
		ws_consume(ws, n);
		done += n;
	}
	/* --cut-after-written: stored, but its reply never leaves */
	if (PEER_CUT_AFTER_WRITTEN(x->o) != 0 &&
	    x->st->bytes_written >= PEER_CUT_AFTER_WRITTEN(x->o))
		return xmit_cut_between(x);
	return xmit_reply(x, error, handle);
}

static int
xmit_trim(struct xmit *x, uint64_t handle, uint64_t off, uint32_t len)
{
	if (x->o->read_only)
		return xmit_reply(x, NBD_EPERM, handle);
	if (off > x->size || len > x->size - off)
		return xmit_reply(x, NBD_EINVAL, handle);
	/* TRIM is advisory: a file system without holes just says yes. */
	if (len > 0 &&
	    fallocate(x->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		len) == -1 &&
	    errno != EOPNOTSUPP)
		return xmit_reply(x, xmit_errno(errno), handle);
	return xmit_reply(x, 0, handle);
}

static int
xmit_flush(struct xmit *x, uint64_t handle)
{
	if (fdatasync(x->fd) == -1)
		return xmit_reply(x, xmit_errno(errno), handle);
	return xmit_reply(x, 0, handle);
}

/* The stall fault: hear everything, answer nothing but pings and close. */
static int
xmit_stall(struct xmit *x)
{
	peer_log(1, "fault: stalling after %" PRIu64 " requests",
	    x->st->requests);
	if (ws_flush(x->ws) == -1)
		return -1;
	for (;;) {
		ws_consume(x->ws, x->ws->in_len);
		if (ws_fill(x->ws) == -1)
			return -1;
	}
}

static int
xmit_request(struct xmit *x, const uint8_t *p)
{
	uint16_t flags = be16_get(p + 4), type = be16_get(p + 6);
	uint64_t handle = be64_get(p + 8), off = be64_get(p + 16);
	uint32_t len = be32_get(p + 24);
	uint64_t idx = x->st->requests++;

	if (be32_get(p) != NBD_REQUEST_MAGIC)
		return ws_close(x->ws, 1002, "NBD: bad request magic");
	peer_log(2,
	    "request %" PRIu64 " %s flags 0x%x handle 0x%" PRIx64
	    " offset %" PRIu64 " length %u",
	    idx, xmit_cmd_name(type), flags, handle, off, len);
	x->faulty = xmit_fault_hits(x, idx, type);
	ws_consume(x->ws, NBD_REQUEST_LEN);
	switch (type) {
	case NBD_CMD_READ:
		return xmit_read(x, handle, off, len);
	case NBD_CMD_WRITE:
		return xmit_write(x, handle, off, len);
	case NBD_CMD_DISC:
		peer_log(1, "NBD disconnect");
		return ws_close(x->ws, 1000, "NBD disconnect");
	case NBD_CMD_FLUSH:
		return xmit_flush(x, handle);
	case NBD_CMD_TRIM:
		return xmit_trim(x, handle, off, len);
	}
	return xmit_reply(x, NBD_EINVAL, handle);
}

/*
 * Serves requests until the connection ends; replies pile up in the
 * output buffer and leave in one writev whenever we would block.
 * Returns the exit status.
 */
int
xmit_serve(struct ws *ws, int fd, const struct peer_opts *o, uint64_t size,
    struct peer_stats *st)
{
	struct xmit x = { .ws = ws,
		.fd = fd,
		.o = o,
		.size = size,
		.st = st,
		.fault_armed = PEER_FAULT(o) != FAULT_NONE };
	const uint8_t *p;

	for (;;) {
		if (PEER_FAULT(o) == FAULT_STALL &&
		    st->requests >= o->fault_after) {
			(void)xmit_stall(&x);
			break;
		}
		if (PEER_CUT_AFTER_REQUESTS(o) != 0 &&
		    st->requests >= PEER_CUT_AFTER_REQUESTS(o)) {
			(void)xmit_cut_between(&x);
			break;
		}
		if ((p = nbd_need(ws, NBD_REQUEST_LEN)) == NULL)
			break;
		if (xmit_request(&x, p) == -1)
			break;
	}
	return ws->status;
}
