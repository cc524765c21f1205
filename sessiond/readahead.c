/*
 * Read-ahead for sequential readers. A peer far away answers one read per
 * round trip; a reader that reads one request at a time (a USB gadget, a
 * copy with one request in flight) gets at most a request per round trip.
 * Once a read starts where the last one ended, reads of the same size go
 * on to the peer after it, as many as the export's window holds, and the
 * reader's next reads are answered from them, or wait for the one under
 * way. Random reads start nothing. Payload moves by evbuffer chain.
 *
 * Writes are never reordered across reads of the same range: a WRITE or
 * TRIM drops what overlaps it, and a block still in flight is dropped when
 * it comes; reads that already wait for it were sent before the write, so
 * they are answered from it, as the peer would have. Nothing is read
 * ahead over a WRITE or TRIM in flight: the peer may carry out the two in
 * either order.
 *
 * One sequential stream per session: reads from two places at once see
 * each other as random. Memory: at most window bytes of payload per
 * session, and RA_BLOCKS blocks.
 *
 * Reads ahead go to the peer before the downstream's later reads, which
 * wait behind them: on a slow link a whole window could outlast the
 * kernel's request timeout. So the window is also held to what the peer
 * delivers in a quarter of the export's timeout, at the rate measured
 * each second (ra_tick); until a rate is known, one read ahead.
 */
#include <event2/buffer.h>
#include <string.h>

#include "nbd_proto.h"
#include "relay.h"

/* timeout: the export's, in seconds; 0 for no cap by the rate. */
void
ra_init(struct readahead *ra, uint64_t window, int timeout)
{
	ra->window = window;
	ra->pace = timeout > 0 ? (timeout + 3) / 4 : 0;
}

/*
 * Once a second: the rate the peer delivers READ payload at. It rises at
 * once and falls by halves; a second with nothing asked of the peer
 * tells nothing.
 */
void
ra_tick(struct relay *r)
{
	struct readahead *ra = &r->ra;
	uint64_t got = r->payload_in - ra->seen;

	ra->seen = r->payload_in;
	if (got == 0 && relay_inflight(r) == 0)
		return;
	ra->rate = got >= ra->rate ? got : (ra->rate + got) / 2;
}

/* How much may be held or in flight ahead of a reader of size length. */
static uint64_t
ra_limit(const struct readahead *ra, uint32_t length)
{
	uint64_t paced;

	if (ra->pace == 0)
		return ra->window;
	paced = ra->rate * (uint64_t)ra->pace;
	if (paced < length)
		paced = length;
	return paced < ra->window ? paced : ra->window;
}

void
ra_free(struct readahead *ra)
{
	int i;

	for (i = 0; i < RA_BLOCKS; i++)
		if (ra->blocks[i].data != NULL)
			evbuffer_free(ra->blocks[i].data);
	memset(ra, 0, sizeof(*ra));
}

static void
block_release(struct readahead *ra, struct ra_block *b)
{
	ra->held -= b->length - b->taken;
	evbuffer_drain(b->data, evbuffer_get_length(b->data));
	b->state = RA_FREE;
	b->nwaiters = 0;
}

/* The block that holds or will hold all of [offset, offset + length). */
static struct ra_block *
block_find(struct readahead *ra, uint64_t offset, uint32_t length)
{
	struct ra_block *b;
	int i;

	for (i = 0; i < RA_BLOCKS; i++) {
		b = &ra->blocks[i];
		if ((b->state == RA_READY || b->state == RA_INFLIGHT) &&
		    offset >= b->offset &&
		    offset + length <= b->offset + b->length)
			return b;
	}
	return NULL;
}

/* Answers a read from a block that has come; what it skips is dropped. */
static void
serve(struct relay *r, struct ra_block *b, struct relay_down *d,
    uint64_t offset, uint32_t length)
{
	uint64_t skip = offset - (b->offset + b->taken);

	evbuffer_drain(b->data, skip);
	evbuffer_remove_buffer(b->data, relay_answer_out(r, d), length);
	b->taken += skip + length;
	r->ra.held -= skip + length;
	r->bytes_read += length;
	r->ra.hits++;
	if (b->taken == b->length)
		block_release(&r->ra, b);
}

/*
 * A READ that read-ahead answers (now, or when its block comes): returns
 * 1 if it took the request, 0 if the peer must be asked.
 */
int
ra_read(struct relay *r, struct relay_down *d, const struct nbd_request *req)
{
	struct ra_block *b;
	struct ra_waiter *w, *last;

	if ((b = block_find(&r->ra, req->offset, req->length)) == NULL)
		return 0;
	if (b->state == RA_READY) {
		if (req->offset < b->offset + b->taken)
			return 0; /* handed out already */
		relay_read_header(r, d, req->handle, req->offset, req->length);
		serve(r, b, d, req->offset, req->length);
		return 1;
	}
	/* Waiters are served in order, each after the one before. */
	last = b->nwaiters > 0 ? &b->waiters[b->nwaiters - 1] : NULL;
	if (b->nwaiters == RA_WAITERS ||
	    (last != NULL && req->offset < last->offset + last->length))
		return 0;
	w = &b->waiters[b->nwaiters++];
	w->down = d;
	w->handle = req->handle;
	w->offset = req->offset;
	w->length = req->length;
	d->owed += NBD_REPLY_SIZE + req->length;
	return 1;
}

/* Drops every block; those in flight are dropped when they come. */
static void
ra_reset(struct readahead *ra, uint64_t from)
{
	struct ra_block *b;
	int i;

	for (i = 0; i < RA_BLOCKS; i++) {
		b = &ra->blocks[i];
		if (b->state == RA_READY)
			block_release(ra, b);
		else if (b->state == RA_INFLIGHT)
			b->state = RA_STALE;
	}
	ra->end = from;
}

static struct ra_block *
block_free_one(struct readahead *ra)
{
	int i;

	for (i = 0; i < RA_BLOCKS; i++)
		if (ra->blocks[i].state == RA_FREE) {
			if (ra->blocks[i].data == NULL &&
			    (ra->blocks[i].data = evbuffer_new()) == NULL)
				return NULL; /* no memory: no read-ahead */
			return &ra->blocks[i];
		}
	return NULL;
}

/*
 * Called with each READ a downstream sends (answered or not). A
 * sequential one tops the window up with reads of its size after the
 * furthest asked for, leaving half the slots to the downstreams.
 */
void
ra_follow(struct relay *r, const struct nbd_request *req, struct evbuffer *up)
{
	struct readahead *ra = &r->ra;
	uint64_t end = req->offset + req->length;
	struct nbd_request ask;
	struct ra_block *b;
	uint32_t length;
	int sequential = req->offset == ra->next;

	ra->next = end;
	if (!sequential || req->length > ra->window)
		return;
	if (ra->end < end || ra->end > end + ra->window)
		ra_reset(ra, end);
	while (ra->held + req->length <= ra_limit(ra, req->length) &&
	    ra->end < r->size && r->nfree > RELAY_SLOTS / 2) {
		length = r->size - ra->end < req->length ?
		    (uint32_t)(r->size - ra->end) :
		    req->length;
		if (relay_write_pending(r, ra->end, length) ||
		    (b = block_free_one(ra)) == NULL)
			break;
		b->state = RA_INFLIGHT;
		b->offset = ra->end;
		b->length = length;
		b->taken = 0;
		b->nwaiters = 0;
		ra->held += b->length;
		ra->asked += b->length;
		ra->end += b->length;
		memset(&ask, 0, sizeof(ask));
		ask.magic = NBD_REQUEST_MAGIC;
		ask.type = NBD_CMD_READ;
		ask.offset = b->offset;
		ask.length = b->length;
		relay_forward(r, NULL, b, &ask, up);
	}
}

/* A WRITE or TRIM of [offset, offset + length) is on its way. */
void
ra_overwritten(struct relay *r, uint64_t offset, uint32_t length)
{
	struct ra_block *b;
	int i;

	for (i = 0; i < RA_BLOCKS; i++) {
		b = &r->ra.blocks[i];
		if (b->state == RA_FREE || b->state == RA_STALE ||
		    offset >= b->offset + b->length ||
		    offset + length <= b->offset)
			continue;
		if (b->state == RA_READY)
			block_release(&r->ra, b);
		else
			b->state = RA_STALE;
	}
}

void
ra_payload(struct relay *r, struct ra_block *b, struct evbuffer *in, size_t n)
{
	(void)r;
	if (b->state == RA_STALE && b->nwaiters == 0)
		evbuffer_drain(in, n);
	else
		evbuffer_remove_buffer(in, b->data, n);
}

/* The peer has answered a block's read: its waiters are answered. */
void
ra_arrived(struct relay *r, struct ra_block *b, uint32_t error)
{
	struct ra_waiter *w;
	int i;

	for (i = 0; i < b->nwaiters; i++) {
		w = &b->waiters[i];
		if (w->down == NULL)
			continue;
		relay_owed_paid(w->down, NBD_REPLY_SIZE + w->length);
		if (error != 0)
			relay_reply_header(r, w->down, w->handle, error);
		else {
			relay_read_header(r, w->down, w->handle, w->offset,
			    w->length);
			serve(r, b, w->down, w->offset, w->length);
		}
		if (b->state == RA_FREE)
			return; /* all of it handed out */
	}
	b->nwaiters = 0;
	if (error != 0 || b->state == RA_STALE)
		block_release(&r->ra, b);
	else
		b->state = RA_READY;
}

void
ra_down_gone(struct relay *r, struct relay_down *d)
{
	int i, j;

	for (i = 0; i < RA_BLOCKS; i++)
		for (j = 0; j < r->ra.blocks[i].nwaiters; j++)
			if (r->ra.blocks[i].waiters[j].down == d)
				r->ra.blocks[i].waiters[j].down = NULL;
}

/* The window ended: reads of d waiting for a block get error. */
void
ra_fail_down(struct relay *r, struct relay_down *d, uint32_t error)
{
	struct ra_waiter *w;
	int i, j;

	for (i = 0; i < RA_BLOCKS; i++)
		for (j = 0; j < r->ra.blocks[i].nwaiters; j++) {
			w = &r->ra.blocks[i].waiters[j];
			if (w->down == d)
				relay_reply_header(r, d, w->handle, error);
		}
}
