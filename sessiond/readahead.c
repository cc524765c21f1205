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
 * Up to RA_STREAMS sequential readers at once (the connections of a
 * multi-conn client each read their own part of the image, a copy may go
 * on beside random reads): a read is sequential if it starts where a
 * read of one of those streams ended, and the stream follows it. A read
 * that starts nowhere known takes the place of the stream no read has
 * followed for longest, whose blocks are dropped. Each stream reading
 * ahead may hold an equal share of the window (one over its share, as
 * when another starts, asks for more only once its reader has taken
 * enough); a stream no read has followed for RA_IDLE reads is idle: it
 * counts for no share, and a stream that needs room drops what an idle
 * one holds. Memory: at most
 * window bytes of payload per session, and RA_BLOCKS blocks.
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
	ra->streams[b->stream].held -= b->length - b->taken;
	ra->dropped += b->length - b->taken;
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
	r->ra.streams[b->stream].held -= skip + length;
	r->ra.dropped += skip;
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

/*
 * Drops the blocks of stream i; those in flight are dropped when they
 * come. Its reads ahead start again at from.
 */
static void
stream_reset(struct readahead *ra, int i, uint64_t from)
{
	struct ra_block *b;
	int j;

	for (j = 0; j < RA_BLOCKS; j++) {
		b = &ra->blocks[j];
		if (b->stream != i)
			continue;
		if (b->state == RA_READY)
			block_release(ra, b);
		else if (b->state == RA_INFLIGHT)
			b->state = RA_STALE;
	}
	ra->streams[i].end = from;
}

static int
stream_idle(const struct readahead *ra, const struct ra_stream *st)
{
	return ra->clock - st->used > RA_IDLE;
}

/*
 * The stream a READ of [offset, end) follows, now moved on past it; -1
 * if it starts where no stream's last read ended: it then takes the
 * place of the stream followed longest ago. (Streams never followed have
 * next 0: a read from the start is sequential.)
 */
static int
stream_follow(struct readahead *ra, uint64_t offset, uint64_t end)
{
	struct ra_stream *st;
	int i, lru = 0;

	ra->clock++;
	for (i = 0; i < RA_STREAMS; i++) {
		st = &ra->streams[i];
		if (st->next == offset) {
			st->next = end;
			st->used = ra->clock;
			st->sequential = 1;
			return i;
		}
		if (st->used < ra->streams[lru].used)
			lru = i;
	}
	stream_reset(ra, lru, end);
	ra->streams[lru].next = end;
	ra->streams[lru].used = ra->clock;
	ra->streams[lru].sequential = 0;
	return -1;
}

/*
 * How much stream i may hold or have in flight: an equal share of limit
 * among the sequential streams that are not idle, i among them.
 */
static uint64_t
stream_share(const struct readahead *ra, int i, uint64_t limit, uint32_t length)
{
	const struct ra_stream *st;
	uint64_t share;
	int j, active = 1;

	for (j = 0; j < RA_STREAMS; j++) {
		st = &ra->streams[j];
		if (j != i && st->sequential && !stream_idle(ra, st))
			active++;
	}
	share = limit / (uint64_t)active;
	return share < length ? length : share;
}

/* Stream i needs room: what idle streams hold is dropped. */
static void
drop_idle(struct readahead *ra, int i)
{
	struct ra_stream *st;
	int j;

	for (j = 0; j < RA_STREAMS; j++) {
		st = &ra->streams[j];
		if (j != i && st->held > 0 &&
		    (!st->sequential || stream_idle(ra, st)))
			stream_reset(ra, j, st->next);
	}
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
 * sequential one tops its stream's share of the window up with reads of
 * its size after the furthest asked for, leaving half the slots to the
 * downstreams.
 */
void
ra_follow(struct relay *r, const struct nbd_request *req, struct evbuffer *up)
{
	struct readahead *ra = &r->ra;
	uint64_t end = req->offset + req->length;
	uint64_t limit, share;
	struct nbd_request ask;
	struct ra_stream *st;
	struct ra_block *b;
	uint32_t length;
	int i;

	if ((i = stream_follow(ra, req->offset, end)) == -1 ||
	    req->length > ra->window)
		return;
	st = &ra->streams[i];
	if (st->end < end || st->end > end + ra->window)
		stream_reset(ra, i, end);
	limit = ra_limit(ra, req->length);
	share = stream_share(ra, i, limit, req->length);
	if (ra->held - st->held + share > limit)
		drop_idle(ra, i); /* the others leave it less than its share */
	while (ra->held + req->length <= limit &&
	    st->held + req->length <= share && st->end < r->size &&
	    r->nfree > RELAY_SLOTS / 2) {
		length = r->size - st->end < req->length ?
		    (uint32_t)(r->size - st->end) :
		    req->length;
		if (relay_write_pending(r, st->end, length) ||
		    (b = block_free_one(ra)) == NULL)
			break;
		b->state = RA_INFLIGHT;
		b->stream = i;
		b->offset = st->end;
		b->length = length;
		b->taken = 0;
		b->nwaiters = 0;
		ra->held += b->length;
		st->held += b->length;
		ra->asked += b->length;
		st->end += b->length;
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
