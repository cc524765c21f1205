/*
 * Transmission relay. Requests are parsed, checked against the export's
 * size and flags, and sent to the peer under a handle naming one of our
 * slots; a reply must name a busy slot, carry the simple-reply magic, and
 * a successful READ exactly the requested payload. Payload bytes move
 * between evbuffers by chain, never byte by byte.
 */
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_proto.h"
#include "relay.h"

void
relay_init(struct relay *r, uint64_t size, uint16_t flags)
{
	int i;

	memset(r, 0, sizeof(*r));
	r->size = size;
	r->flags = flags;
	for (i = 0; i < RELAY_SLOTS; i++)
		r->free[i] = RELAY_SLOTS - 1 - i;
	r->nfree = RELAY_SLOTS;
}

void
relay_free(struct relay *r)
{
	int i;

	for (i = 0; i < RELAY_SLOTS; i++) {
		free(r->slots[i].kept);
		r->slots[i].kept = NULL;
	}
	ra_free(&r->ra);
	if (r->parked != NULL)
		evbuffer_free(r->parked);
	r->parked = NULL;
	r->parked_for = NULL;
}

/*
 * Where an answer of our own to d goes. While a READ's payload from the
 * peer is passing into d->out, nothing may come between its bytes: such
 * answers (an error, a read answered from read-ahead) are parked and
 * follow it once it is whole.
 */
struct evbuffer *
relay_answer_out(struct relay *r, struct relay_down *d)
{
	if ((r->reading == NULL || r->reading->down != d) &&
	    (r->partial == NULL || r->partial->down != d))
		return d->out;
	if (r->parked == NULL && (r->parked = evbuffer_new()) == NULL)
		abort(); /* out of memory for a buffer header */
	r->parked_for = d;
	return r->parked;
}

static void
unpark(struct relay *r)
{
	if (r->parked_for != NULL)
		evbuffer_add_buffer(r->parked_for->out, r->parked);
	r->parked_for = NULL;
}

/* What d has not read of our replies, or will get of them. */
static size_t
replies_pending(const struct relay *r, const struct relay_down *d)
{
	size_t n = evbuffer_get_length(d->out) + d->owed;

	if (r->parked_for == d)
		n += evbuffer_get_length(r->parked);
	return n;
}

int
relay_inflight(const struct relay *r)
{
	return RELAY_SLOTS - r->nfree;
}

static enum relay_result
relay_fail(struct relay *r, enum relay_result result, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return result;
}

/*
 * The header of one reply to d, in the form d negotiated: a simple reply,
 * or one structured chunk that ends the reply (an error, no data, or a
 * READ's data whose payload follows). A successful READ takes
 * relay_read_header.
 */
static void
reply_header(struct relay *r, struct relay_down *d, uint64_t handle,
    uint32_t error, int data, uint64_t offset, uint32_t length)
{
	struct nbd_reply rep = { NBD_SIMPLE_REPLY_MAGIC, error, handle };
	unsigned char buf[NBD_STRUCTURED_REPLY_SIZE + 8];
	uint16_t type = NBD_REPLY_TYPE_NONE;
	uint32_t len = 0;

	if (!d->structured) {
		nbd_reply_encode(&rep, buf);
		evbuffer_add(relay_answer_out(r, d), buf, NBD_REPLY_SIZE);
		return;
	}
	if (error != 0) {
		type = NBD_REPLY_TYPE_ERROR;
		len = 6; /* error, message length 0 */
		nbd_put32(buf + 20, error);
		nbd_put16(buf + 24, 0);
	} else if (data) {
		type = NBD_REPLY_TYPE_OFFSET_DATA;
		len = 8 + length;
		nbd_put64(buf + 20, offset);
	}
	nbd_put32(buf, NBD_STRUCTURED_REPLY_MAGIC);
	nbd_put16(buf + 4, NBD_REPLY_FLAG_DONE);
	nbd_put16(buf + 6, type);
	nbd_put64(buf + 8, handle);
	nbd_put32(buf + 16, len);
	evbuffer_add(relay_answer_out(r, d), buf,
	    NBD_STRUCTURED_REPLY_SIZE + (len < 8 ? len : 8));
}

void
relay_reply_header(struct relay *r, struct relay_down *d, uint64_t handle,
    uint32_t error)
{
	reply_header(r, d, handle, error, 0, 0, 0);
}

/* A READ's success: its length bytes of payload follow. */
void
relay_read_header(struct relay *r, struct relay_down *d, uint64_t handle,
    uint64_t offset, uint32_t length)
{
	reply_header(r, d, handle, 0, 1, offset, length);
}

/*
 * base:allocation for a downstream that chose it: all of an export is
 * data, one extent for the range asked (which request_check bounded).
 */
static void
reply_block_status(struct relay *r, struct relay_down *d,
    const struct nbd_request *req)
{
	unsigned char buf[NBD_STRUCTURED_REPLY_SIZE + 12];

	nbd_put32(buf, NBD_STRUCTURED_REPLY_MAGIC);
	nbd_put16(buf + 4, NBD_REPLY_FLAG_DONE);
	nbd_put16(buf + 6, NBD_REPLY_TYPE_BLOCK_STATUS);
	nbd_put64(buf + 8, req->handle);
	nbd_put32(buf + 16, 12);
	nbd_put32(buf + 20, NBD_META_ID_ALLOCATION);
	nbd_put32(buf + 24, req->length);
	nbd_put32(buf + 28, 0); /* allocated, not zero */
	evbuffer_add(relay_answer_out(r, d), buf, sizeof(buf));
}

/* The error we answer ourselves, or 0 when the peer should see it. */
static uint32_t
request_check(const struct relay *r, const struct relay_down *d,
    const struct nbd_request *req)
{
	uint64_t end = req->offset + req->length;
	int ro = (r->flags & NBD_TFLAG_READ_ONLY) != 0;

	if (req->type == NBD_CMD_BLOCK_STATUS) {
		if (!d->block_status || (req->flags & ~NBD_CMD_FLAG_REQ_ONE))
			return NBD_EINVAL;
	} else if (req->flags & ~NBD_CMD_FLAG_FUA)
		return NBD_EINVAL;
	if ((req->flags & NBD_CMD_FLAG_FUA) && !(r->flags & NBD_TFLAG_SEND_FUA))
		return NBD_EINVAL;
	switch (req->type) {
	case NBD_CMD_FLUSH:
		return (r->flags & NBD_TFLAG_SEND_FLUSH) ? 0 : NBD_EINVAL;
	case NBD_CMD_TRIM:
		if (!(r->flags & NBD_TFLAG_SEND_TRIM))
			return NBD_EINVAL;
		if (ro)
			return NBD_EPERM;
		break;
	case NBD_CMD_WRITE:
		if (ro)
			return NBD_EPERM;
		/* FALLTHROUGH */
	case NBD_CMD_READ:
		if (req->length > NBD_MAX_PAYLOAD)
			return NBD_EINVAL;
		break;
	}
	if (req->length == 0 || end < req->offset || end > r->size)
		return NBD_EINVAL;
	return 0;
}

static struct relay_slot *
slot_take(struct relay *r, uint16_t *index)
{
	struct relay_slot *s;

	*index = r->free[--r->nfree];
	s = &r->slots[*index];
	s->busy = 1;
	s->gen++;
	return s;
}

/* n bytes of what a downstream is owed have reached its output. */
void
relay_owed_paid(struct relay_down *d, uint64_t n)
{
	if (d != NULL)
		d->owed -= n < d->owed ? n : d->owed;
}

static void
slot_release(struct relay *r, struct relay_slot *s)
{
	if (s->down != NULL)
		s->down->inflight--;
	if (s->type == NBD_CMD_WRITE || s->type == NBD_CMD_TRIM)
		r->writes--;
	if (s->kept != NULL) {
		r->kept_bytes -= s->length;
		free(s->kept);
		s->kept = NULL;
	}
	s->busy = 0;
	s->partial = 0;
	s->down = NULL;
	s->ra = NULL;
	r->free[r->nfree++] = (uint16_t)(s - r->slots);
}

/*
 * Sends one checked request to the peer under a slot's handle, for a
 * downstream (whose request header has been read: a WRITE's payload
 * follows in d->in) or for a read-ahead block. A slot must be free.
 */
void
relay_forward(struct relay *r, struct relay_down *d, struct ra_block *ra,
    struct nbd_request *req, struct evbuffer *up)
{
	unsigned char hdr[NBD_REQUEST_SIZE];
	struct relay_slot *s;
	uint16_t index;

	s = slot_take(r, &index);
	s->handle = req->handle;
	s->down = d;
	s->ra = ra;
	s->offset = req->offset;
	s->length = req->length;
	s->type = req->type;
	s->cmd_flags = req->flags;
	if (s->type == NBD_CMD_WRITE || s->type == NBD_CMD_TRIM)
		r->writes++;
	s->seq = r->requests++;
	req->handle = ((uint64_t)s->gen << 32) | index;
	nbd_request_encode(req, hdr);
	evbuffer_add(up, hdr, sizeof(hdr));
	if (d == NULL)
		return;
	d->inflight++;
	d->owed +=
	    NBD_REPLY_SIZE + (req->type == NBD_CMD_READ ? req->length : 0);
	if (req->type == NBD_CMD_WRITE) {
		if (r->keep) {
			if ((s->kept = malloc(req->length)) == NULL)
				abort(); /* out of memory */
			evbuffer_copyout(d->in, s->kept, req->length);
			r->kept_bytes += req->length;
		}
		evbuffer_remove_buffer(d->in, up, req->length);
		r->bytes_written += req->length;
	}
}

/* A write or trim of [offset, offset + length) unmarks what it covers. */
static void
unmark(struct relay *r, uint64_t offset, uint32_t length)
{
	int i;

	for (i = 0; i < RELAY_MARKS; i++)
		if ((r->marks & (1u << i)) &&
		    offset < r->mark_offset[i] + r->mark_length[i] &&
		    r->mark_offset[i] < offset + length)
			r->marks &= ~(1u << i);
}

/*
 * Whether a WRITE or TRIM of any of [offset, offset + length) is in
 * flight: the peer may carry it out after a read sent later, so such a
 * read may not stand for the range once the write is answered.
 */
int
relay_write_pending(const struct relay *r, uint64_t offset, uint32_t length)
{
	const struct relay_slot *s;
	int i;

	for (i = 0; i < RELAY_SLOTS && r->writes > 0; i++) {
		s = &r->slots[i];
		if (s->busy &&
		    (s->type == NBD_CMD_WRITE || s->type == NBD_CMD_TRIM) &&
		    offset < s->offset + s->length &&
		    s->offset < offset + length)
			return 1;
	}
	return 0;
}

/*
 * A READ is answered from read-ahead, or waits for it, or goes to the
 * peer; a sequential one then draws the read-ahead after it. Returns 0
 * when it must wait for a free slot.
 */
static int
request_read(struct relay *r, struct relay_down *d, struct nbd_request *req,
    struct evbuffer *up)
{
	struct nbd_request seen = *req;

	if (r->ra.window != 0 && ra_read(r, d, req)) {
		evbuffer_drain(d->in, NBD_REQUEST_SIZE);
		ra_follow(r, &seen, up);
		return 1;
	}
	if (r->nfree == 0)
		return 0;
	evbuffer_drain(d->in, NBD_REQUEST_SIZE);
	relay_forward(r, d, NULL, req, up);
	if (r->ra.window != 0)
		ra_follow(r, &seen, up);
	return 1;
}

/*
 * Moves every complete request waiting in d->in to the peer's stream `up`
 * (or answers it locally when it is not allowed). A WRITE goes on only
 * once its whole payload is here, so the peer's stream never holds half
 * a request of a client that vanished.
 */
enum relay_result
relay_requests(struct relay *r, struct relay_down *d, struct evbuffer *up)
{
	unsigned char hdr[NBD_REQUEST_SIZE];
	struct nbd_request req;
	uint32_t error;
	size_t payload;

	for (;;) {
		if (evbuffer_copyout(d->in, hdr, sizeof(hdr)) <
		    (ssize_t)sizeof(hdr))
			return RELAY_OK;
		if (d->replies_max != 0 &&
		    replies_pending(r, d) >= d->replies_max)
			return RELAY_BACKLOG;
		nbd_request_decode(hdr, &req);
		if (req.magic != NBD_REQUEST_MAGIC)
			return relay_fail(r, RELAY_BAD_REQUEST,
			    "bad request magic %#x", req.magic);
		if (req.type == NBD_CMD_DISC) {
			evbuffer_drain(d->in, sizeof(hdr));
			return RELAY_DISC;
		}
		if (req.type > NBD_CMD_TRIM &&
		    !(req.type == NBD_CMD_BLOCK_STATUS && d->structured))
			return relay_fail(r, RELAY_BAD_REQUEST,
			    "unknown command %u", req.type);
		payload = req.type == NBD_CMD_WRITE ? req.length : 0;
		if (payload > NBD_MAX_PAYLOAD)
			return relay_fail(r, RELAY_BAD_REQUEST,
			    "write of %u bytes", req.length);
		if (evbuffer_get_length(d->in) < sizeof(hdr) + payload)
			return RELAY_OK;
		if ((error = request_check(r, d, &req)) != 0) {
			evbuffer_drain(d->in, sizeof(hdr) + payload);
			relay_reply_header(r, d, req.handle, error);
			continue;
		}
		if (req.type == NBD_CMD_BLOCK_STATUS) {
			evbuffer_drain(d->in, sizeof(hdr));
			reply_block_status(r, d, &req);
			continue;
		}
		if (req.type == NBD_CMD_READ) {
			if (!request_read(r, d, &req, up))
				return RELAY_FULL;
			continue;
		}
		if (r->nfree == 0)
			return RELAY_FULL;
		if (r->keep && r->kept_bytes > 0 &&
		    r->kept_bytes + payload > RELAY_KEEP_MAX)
			return RELAY_FULL;
		if (req.type == NBD_CMD_WRITE || req.type == NBD_CMD_TRIM) {
			ra_overwritten(r, req.offset, req.length);
			if (r->marks != 0)
				unmark(r, req.offset, req.length);
		}
		evbuffer_drain(d->in, NBD_REQUEST_SIZE);
		relay_forward(r, d, NULL, &req, up);
	}
}

/* Passes on (or drops, if its owner is gone) READ payload as it comes. */
static void
reply_payload(struct relay *r, struct evbuffer *in)
{
	size_t n = evbuffer_get_length(in);
	struct relay_down *d = r->reading->down;
	struct ra_block *ra = r->reading->ra;

	if (n > r->read_left)
		n = r->read_left;
	if (ra != NULL)
		ra_payload(r, ra, in, n);
	else if (d != NULL)
		evbuffer_remove_buffer(in, d->out, n);
	else
		evbuffer_drain(in, n);
	relay_owed_paid(d, n);
	r->read_left -= n;
	r->payload_in += n;
	if (ra == NULL)
		r->bytes_read += n;
	if (r->read_left == 0) {
		slot_release(r, r->reading);
		r->reading = NULL;
		unpark(r);
		if (ra != NULL)
			ra_arrived(r, ra, 0);
	}
}

/* Checks every reply in the peer's stream and hands it to its owner. */
enum relay_result
relay_replies(struct relay *r, struct evbuffer *in)
{
	unsigned char hdr[NBD_REPLY_SIZE];
	struct nbd_reply rep;
	struct relay_slot *s;
	uint32_t index;

	for (;;) {
		if (r->reading != NULL) {
			reply_payload(r, in);
			if (r->reading != NULL)
				return RELAY_OK;
		}
		if (evbuffer_copyout(in, hdr, sizeof(hdr)) <
		    (ssize_t)sizeof(hdr))
			return RELAY_OK;
		nbd_reply_decode(hdr, &rep);
		if (rep.magic == NBD_STRUCTURED_REPLY_MAGIC)
			return relay_fail(r, RELAY_VIOLATION,
			    "structured reply, never negotiated");
		if (rep.magic != NBD_SIMPLE_REPLY_MAGIC)
			return relay_fail(r, RELAY_VIOLATION,
			    "bad reply magic %#x", rep.magic);
		index = (uint32_t)rep.handle;
		s = index < RELAY_SLOTS ? &r->slots[index] : NULL;
		if (s == NULL || !s->busy || s->gen != rep.handle >> 32)
			return relay_fail(r, RELAY_VIOLATION,
			    "reply for handle %#llx, which is not outstanding",
			    (unsigned long long)rep.handle);
		evbuffer_drain(in, sizeof(hdr));
		r->replies++;
		if (r->resend_rest) {
			/* only the cut-off READ is out again: its rest now */
			if (s != r->partial)
				return relay_fail(r, RELAY_VIOLATION,
				    "reply for handle %#llx, not sent again yet",
				    (unsigned long long)rep.handle);
			if (rep.error != 0)
				return relay_fail(r, RELAY_VIOLATION,
				    "error %u for the rest of a read the "
				    "previous peer began to answer",
				    rep.error);
			r->partial = NULL;
			r->reading = s;
			r->read_left = s->length;
			continue;
		}
		if (s->ra != NULL &&
		    (s->type != NBD_CMD_READ || rep.error != 0)) {
			struct ra_block *ra = s->ra;

			slot_release(r, s);
			ra_arrived(r, ra, rep.error);
			continue;
		}
		if (s->down != NULL && s->type == NBD_CMD_READ &&
		    rep.error == 0)
			relay_read_header(r, s->down, s->handle, s->offset,
			    s->length);
		else if (s->down != NULL)
			relay_reply_header(r, s->down, s->handle, rep.error);
		relay_owed_paid(s->down, sizeof(hdr));
		if (s->type == NBD_CMD_READ && rep.error == 0) {
			r->reading = s;
			r->read_left = s->length;
			continue;
		}
		if (s->type == NBD_CMD_READ) /* no payload after an error */
			relay_owed_paid(s->down, s->length);
		slot_release(r, s);
	}
}

/* Its outstanding requests still get replies from the peer: we drop them. */
void
relay_down_gone(struct relay *r, struct relay_down *d)
{
	int i;

	for (i = 0; i < RELAY_SLOTS; i++)
		if (r->slots[i].busy && r->slots[i].down == d)
			r->slots[i].down = NULL;
	d->inflight = 0;
	d->owed = 0;
	ra_down_gone(r, d);
	if (r->parked_for == d) {
		evbuffer_drain(r->parked, evbuffer_get_length(r->parked));
		r->parked_for = NULL;
	}
}

/* The reconnect window is open for this relay: WRITE payloads are kept. */
void
relay_keep(struct relay *r)
{
	r->keep = 1;
}

/*
 * The peer is gone mid-stream. A READ whose payload was passing stays
 * owed from where it stopped: sent again, only its rest is asked for.
 */
void
relay_peer_lost(struct relay *r)
{
	struct relay_slot *s = r->reading;

	if (s == NULL)
		return;
	s->offset += s->length - r->read_left;
	s->length = r->read_left;
	s->partial = 1;
	r->partial = s;
	r->reading = NULL;
	r->read_left = 0;
}

static int
by_seq(const void *a, const void *b)
{
	const struct relay_slot *x = *(struct relay_slot *const *)a;
	const struct relay_slot *y = *(struct relay_slot *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * A new peer: every request still unanswered goes to it again, under
 * the same handle, in the order first sent, WRITEs with their payload.
 * A READ cut off mid-payload goes first and alone (resend_rest): nothing
 * may come between its payload's parts; once it is whole, relay_resend
 * again sends the others (relay_resend_due). Returns how many were sent;
 * -1 if a WRITE's payload was not kept.
 */
int
relay_resend(struct relay *r, struct evbuffer *up)
{
	struct relay_slot *order[RELAY_SLOTS], *s;
	unsigned char hdr[NBD_REQUEST_SIZE];
	struct nbd_request req;
	int i, n = 0;

	r->resend_rest = r->partial != NULL;
	if (r->partial != NULL)
		order[n++] = r->partial;
	else
		for (i = 0; i < RELAY_SLOTS; i++)
			if (r->slots[i].busy)
				order[n++] = &r->slots[i];
	qsort(order, n, sizeof(order[0]), by_seq);
	for (i = 0; i < n; i++) {
		s = order[i];
		if (s->type == NBD_CMD_WRITE && s->kept == NULL)
			return -1;
		memset(&req, 0, sizeof(req));
		req.magic = NBD_REQUEST_MAGIC;
		req.flags = s->cmd_flags;
		req.type = s->type;
		req.handle =
		    ((uint64_t)s->gen << 32) | (uint64_t)(s - r->slots);
		req.offset = s->offset;
		req.length = s->length;
		nbd_request_encode(&req, hdr);
		evbuffer_add(up, hdr, sizeof(hdr));
		if (s->type == NBD_CMD_WRITE)
			evbuffer_add(up, s->kept, s->length);
	}
	return n;
}

/* The cut-off READ is whole again: the others may be sent now. */
int
relay_resend_due(const struct relay *r)
{
	return r->resend_rest && r->partial == NULL && r->reading == NULL;
}

/*
 * The window ended: d's unanswered requests get error (in the order
 * sent) and d is gone. Returns 0, or -1 when a READ of d's had begun to
 * pass (nothing can follow its cut-off payload: d must just close).
 */
int
relay_fail_down(struct relay *r, struct relay_down *d, uint32_t error)
{
	struct relay_slot *order[RELAY_SLOTS];
	int i, n = 0, ret = 0;

	if (r->partial != NULL && r->partial->down == d)
		ret = -1;
	for (i = 0; i < RELAY_SLOTS && ret == 0; i++)
		if (r->slots[i].busy && r->slots[i].down == d &&
		    r->slots[i].ra == NULL)
			order[n++] = &r->slots[i];
	qsort(order, n, sizeof(order[0]), by_seq);
	for (i = 0; i < n; i++)
		relay_reply_header(r, d, order[i]->handle, error);
	if (ret == 0)
		ra_fail_down(r, d, error);
	relay_down_gone(r, d);
	return ret;
}
