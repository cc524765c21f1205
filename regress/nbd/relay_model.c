/*
 * The relay in a model world, for the unit tests and the fuzzer: one
 * downstream whose requests, and a peer whose answers (in any order, a
 * reply's payload in pieces, now and then an error), are chosen by a byte
 * string. The downstream plays by NBD's rules (no request overlaps a
 * WRITE or TRIM it has not seen answered); every reply it gets is checked
 * as a server's must be: for a request it has outstanding, once, well
 * framed, and a READ carries the image as it was when the READ was sent.
 * In the end every request must have its answer. Read-ahead is on when
 * the first byte says so (two sequential readers interleave, beside
 * random reads, and what it holds stays within its window); with its top bit
 * the downstream negotiated structured replies and base:allocation, and sends
 * BLOCK_STATUS too.
 */
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_proto.h"
#include "relay.h"
#include "relay_model.h"

#define MODEL_SIZE (256 * 1024)
#define MODEL_UNIT 512
#define MODEL_OUT 64	/* downstream requests outstanding */
#define MODEL_QUEUE 600 /* requests the peer has not answered */
#define MODEL_FLAGS \
	(NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH | NBD_TFLAG_SEND_TRIM)

struct asked {
	int busy;
	uint64_t handle;
	uint16_t type;
	uint64_t offset;
	uint32_t length;
	unsigned char *expect; /* a READ's bytes when it was sent */
};

struct peer_req {
	uint64_t handle;
	uint16_t type;
	uint64_t offset;
	uint32_t length;
	unsigned char *payload; /* a WRITE's */
};

struct model {
	unsigned char image[MODEL_SIZE];	       /* the peer's */
	unsigned char failed[MODEL_SIZE / MODEL_UNIT]; /* an EIO was given */
	struct relay r;
	struct relay_down d;
	struct evbuffer *up, *peer;
	struct asked asked[MODEL_OUT];
	uint64_t next_handle;
	uint64_t next_offset[2]; /* where each sequential reader goes on */
	int reader;		 /* the one whose READ is being sent */
	struct peer_req queue[MODEL_QUEUE];
	int nqueue;
	unsigned char *partial; /* a reply being sent in pieces */
	size_t partial_len, partial_sent;
	int structured;
	char *why;
	size_t whylen;
};

static int __attribute__((format(printf, 2, 3)))
fail(struct model *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->why, m->whylen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
overlaps(uint64_t a, uint32_t alen, uint64_t b, uint32_t blen)
{
	return a < b + blen && b < a + alen;
}

/* NBD's rule for the downstream: nothing overlaps a write in flight. */
static int
may_send(const struct model *m, uint16_t type, uint64_t off, uint32_t len)
{
	int i;

	for (i = 0; i < MODEL_OUT; i++) {
		const struct asked *a = &m->asked[i];

		if (!a->busy || !overlaps(off, len, a->offset, a->length))
			continue;
		if (type != NBD_CMD_READ || a->type != NBD_CMD_READ)
			return 0;
	}
	return 1;
}

static void
send_request(struct model *m, uint16_t type, uint64_t off, uint32_t len,
    unsigned char fill)
{
	struct nbd_request req = { NBD_REQUEST_MAGIC, 0, type, 0, off, len };
	unsigned char hdr[NBD_REQUEST_SIZE], data[32 * MODEL_UNIT];
	struct asked *a = NULL;
	int i;

	for (i = 0; i < MODEL_OUT && a == NULL; i++)
		if (!m->asked[i].busy)
			a = &m->asked[i];
	if (a == NULL || len == 0 || off + len > MODEL_SIZE ||
	    !may_send(m, type, off, len))
		return;
	memset(a, 0, sizeof(*a));
	a->busy = 1;
	a->handle = req.handle = ++m->next_handle;
	a->type = type;
	a->offset = off;
	a->length = len;
	if (type == NBD_CMD_READ) {
		if ((a->expect = malloc(len)) == NULL)
			abort();
		memcpy(a->expect, m->image + off, len);
		m->next_offset[m->reader] = off + len;
	}
	nbd_request_encode(&req, hdr);
	evbuffer_add(m->d.in, hdr, sizeof(hdr));
	if (type == NBD_CMD_WRITE) {
		memset(data, fill, len);
		evbuffer_add(m->d.in, data, len);
	}
}

/* What the relay sent the peer joins the peer's queue. */
static int
peer_receive(struct model *m)
{
	unsigned char hdr[NBD_REQUEST_SIZE];
	struct nbd_request req;
	struct peer_req *q;

	while (evbuffer_get_length(m->up) >= NBD_REQUEST_SIZE) {
		evbuffer_copyout(m->up, hdr, sizeof(hdr));
		nbd_request_decode(hdr, &req);
		if (req.magic != NBD_REQUEST_MAGIC || req.length == 0 ||
		    req.offset + req.length > MODEL_SIZE)
			return fail(m, "relay sent a bad request at %llu+%u",
			    (unsigned long long)req.offset, req.length);
		if (req.type == NBD_CMD_WRITE &&
		    evbuffer_get_length(m->up) < sizeof(hdr) + req.length)
			return fail(m, "relay sent half a WRITE of %u bytes",
			    req.length);
		if (m->nqueue == MODEL_QUEUE)
			return fail(m, "more than %d requests at the peer",
			    MODEL_QUEUE);
		evbuffer_drain(m->up, sizeof(hdr));
		q = &m->queue[m->nqueue++];
		q->handle = req.handle;
		q->type = req.type;
		q->offset = req.offset;
		q->length = req.length;
		q->payload = NULL;
		if (req.type == NBD_CMD_WRITE) {
			if ((q->payload = malloc(req.length)) == NULL)
				abort();
			evbuffer_remove(m->up, q->payload, req.length);
		}
	}
	return 0;
}

/* The peer carries out its i-th request now and starts its reply. */
static void
peer_answer(struct model *m, int i, int error, size_t first)
{
	struct peer_req q = m->queue[i];
	struct nbd_reply rep = { NBD_SIMPLE_REPLY_MAGIC, 0, q.handle };
	size_t n = NBD_REPLY_SIZE, u;

	m->queue[i] = m->queue[--m->nqueue];
	if (q.type == NBD_CMD_READ && error) {
		rep.error = NBD_EIO;
		for (u = q.offset / MODEL_UNIT;
		     u * MODEL_UNIT < q.offset + q.length; u++)
			m->failed[u] = 1;
	}
	if (q.type == NBD_CMD_WRITE)
		memcpy(m->image + q.offset, q.payload, q.length);
	if (q.type == NBD_CMD_TRIM)
		memset(m->image + q.offset, 0, q.length);
	free(q.payload);
	if (q.type == NBD_CMD_READ && rep.error == 0)
		n += q.length;
	if ((m->partial = malloc(n)) == NULL)
		abort();
	nbd_reply_encode(&rep, m->partial);
	if (n > NBD_REPLY_SIZE)
		memcpy(m->partial + NBD_REPLY_SIZE, m->image + q.offset,
		    q.length);
	m->partial_len = n;
	m->partial_sent = 0;
	if (first == 0)
		first = n;
	if (first > n)
		first = n;
	evbuffer_add(m->peer, m->partial, first);
	m->partial_sent = first;
}

/* The rest of the reply being sent, or a piece of it. */
static void
peer_go_on(struct model *m, size_t piece)
{
	size_t left = m->partial_len - m->partial_sent;

	if (piece == 0 || piece > left)
		piece = left;
	evbuffer_add(m->peer, m->partial + m->partial_sent, piece);
	m->partial_sent += piece;
	if (m->partial_sent == m->partial_len) {
		free(m->partial);
		m->partial = NULL;
	}
}

static struct asked *
asked_find(struct model *m, uint64_t handle)
{
	int i;

	for (i = 0; i < MODEL_OUT; i++)
		if (m->asked[i].busy && m->asked[i].handle == handle)
			return &m->asked[i];
	return NULL;
}

static int
read_failed(const struct model *m, const struct asked *a)
{
	uint64_t u;

	for (u = a->offset / MODEL_UNIT; u * MODEL_UNIT < a->offset + a->length;
	     u++)
		if (m->failed[u])
			return 1;
	return 0;
}

/* A READ's data, as the downstream received it, against what it expects. */
static int
data_check(struct model *m, struct asked *a)
{
	unsigned char *got;
	int bad;

	if ((got = malloc(a->length)) == NULL)
		abort();
	evbuffer_remove(m->d.out, got, a->length);
	bad = memcmp(got, a->expect, a->length) != 0;
	free(got);
	if (bad)
		return fail(m, "READ at %llu of %u bytes: wrong data",
		    (unsigned long long)a->offset, a->length);
	return 0;
}

/*
 * Structured replies: each one chunk that ends it, of the kind its
 * request calls for, well framed.
 */
static int
down_read_structured(struct model *m)
{
	unsigned char h[NBD_STRUCTURED_REPLY_SIZE + 12];
	uint32_t magic, len, error;
	uint16_t flags, type;
	uint64_t handle;
	struct asked *a;

	while (evbuffer_get_length(m->d.out) >= NBD_STRUCTURED_REPLY_SIZE) {
		evbuffer_copyout(m->d.out, h, NBD_STRUCTURED_REPLY_SIZE);
		magic = nbd_get32(h);
		flags = nbd_get16(h + 4);
		type = nbd_get16(h + 6);
		handle = nbd_get64(h + 8);
		len = nbd_get32(h + 16);
		if (magic != NBD_STRUCTURED_REPLY_MAGIC ||
		    flags != NBD_REPLY_FLAG_DONE)
			return fail(m, "chunk magic %#x flags %#x", magic,
			    flags);
		if ((a = asked_find(m, handle)) == NULL)
			return fail(m, "chunk for handle %llu, not outstanding",
			    (unsigned long long)handle);
		if (evbuffer_get_length(m->d.out) <
		    NBD_STRUCTURED_REPLY_SIZE + (size_t)len)
			return 0;
		evbuffer_remove(m->d.out, h, NBD_STRUCTURED_REPLY_SIZE);
		if (type == NBD_REPLY_TYPE_ERROR) {
			if (len != 6)
				return fail(m, "error chunk of %u bytes", len);
			evbuffer_remove(m->d.out, h, 6);
			error = nbd_get32(h);
			if (error == 0 || a->type != NBD_CMD_READ ||
			    !read_failed(m, a))
				return fail(m, "error %u for handle %llu",
				    error, (unsigned long long)handle);
		} else if (a->type == NBD_CMD_READ) {
			if (type != NBD_REPLY_TYPE_OFFSET_DATA ||
			    len != 8 + a->length)
				return fail(m,
				    "READ answered by chunk %u of %u "
				    "bytes",
				    type, len);
			evbuffer_remove(m->d.out, h, 8);
			if (nbd_get64(h) != a->offset)
				return fail(m, "data chunk at %llu for %llu",
				    (unsigned long long)nbd_get64(h),
				    (unsigned long long)a->offset);
			if (data_check(m, a) == -1)
				return -1;
		} else if (a->type == NBD_CMD_BLOCK_STATUS) {
			if (type != NBD_REPLY_TYPE_BLOCK_STATUS || len != 12)
				return fail(m,
				    "BLOCK_STATUS answered by chunk "
				    "%u of %u bytes",
				    type, len);
			evbuffer_remove(m->d.out, h, 12);
			if (nbd_get32(h) != NBD_META_ID_ALLOCATION ||
			    nbd_get32(h + 4) != a->length || nbd_get32(h + 8))
				return fail(m,
				    "extent %u of %u bytes, flags %u",
				    nbd_get32(h), nbd_get32(h + 4),
				    nbd_get32(h + 8));
		} else if (type != NBD_REPLY_TYPE_NONE || len != 0)
			return fail(m, "command %u answered by chunk %u",
			    a->type, type);
		free(a->expect);
		a->expect = NULL;
		a->busy = 0;
	}
	return 0;
}

/* The downstream reads and checks every whole reply it has. */
static int
down_read(struct model *m)
{
	unsigned char hdr[NBD_REPLY_SIZE];
	struct nbd_reply rep;
	struct asked *a;
	size_t need;

	if (m->structured)
		return down_read_structured(m);
	while (evbuffer_get_length(m->d.out) >= NBD_REPLY_SIZE) {
		evbuffer_copyout(m->d.out, hdr, sizeof(hdr));
		nbd_reply_decode(hdr, &rep);
		if (rep.magic != NBD_SIMPLE_REPLY_MAGIC)
			return fail(m, "reply magic %#x", rep.magic);
		if ((a = asked_find(m, rep.handle)) == NULL)
			return fail(m, "reply for handle %llu, not outstanding",
			    (unsigned long long)rep.handle);
		if (rep.error != 0 &&
		    (a->type != NBD_CMD_READ || !read_failed(m, a)))
			return fail(m, "error %u for handle %llu", rep.error,
			    (unsigned long long)rep.handle);
		need = NBD_REPLY_SIZE;
		if (a->type == NBD_CMD_READ && rep.error == 0)
			need += a->length;
		if (evbuffer_get_length(m->d.out) < need)
			return 0;
		evbuffer_drain(m->d.out, NBD_REPLY_SIZE);
		if (need > NBD_REPLY_SIZE && data_check(m, a) == -1)
			return -1;
		free(a->expect);
		a->expect = NULL;
		a->busy = 0;
	}
	return 0;
}

/* Read-ahead holds at most its window, its streams' shares add up. */
static int
ra_check(struct model *m)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < RA_STREAMS; i++)
		sum += m->r.ra.streams[i].held;
	if (m->r.ra.held > m->r.ra.window || sum != m->r.ra.held)
		return fail(m,
		    "read-ahead holds %llu (streams %llu), window %llu",
		    (unsigned long long)m->r.ra.held, (unsigned long long)sum,
		    (unsigned long long)m->r.ra.window);
	return 0;
}

static int
relay_turn(struct model *m)
{
	enum relay_result res;

	res = relay_requests(&m->r, &m->d, m->up);
	if (res == RELAY_BAD_REQUEST || res == RELAY_DISC)
		return fail(m, "relay refused a request: %d", (int)res);
	if (peer_receive(m) == -1)
		return -1;
	if (relay_replies(&m->r, m->peer) != RELAY_OK)
		return fail(m, "relay saw a violation: %s", m->r.reason);
	if (ra_check(m) == -1)
		return -1;
	return down_read(m);
}

static int
step(struct model *m, const uint8_t *p)
{
	uint64_t off = (uint64_t)(p[1] << 8 | p[2]) * MODEL_UNIT % MODEL_SIZE;
	uint32_t len = ((uint32_t)(p[3] & 31) + 1) * MODEL_UNIT;

	if (off + len > MODEL_SIZE)
		len = (uint32_t)(MODEL_SIZE - off);
	switch (p[0] & 7) {
	case 0:
	case 1: /* sequential, reader 0 or 1 (starting mid-image) */
		m->reader = p[0] & 1;
		off = m->next_offset[m->reader];
		if (off >= MODEL_SIZE)
			off = m->reader * (MODEL_SIZE / 2);
		if (off + len > MODEL_SIZE)
			len = (uint32_t)(MODEL_SIZE - off);
		send_request(m, NBD_CMD_READ, off, len, 0);
		m->reader = 0;
		break;
	case 2:
		m->reader = 1; /* random: reader 1 goes on from it */
		send_request(m, NBD_CMD_READ, off, len, 0);
		m->reader = 0;
		break;
	case 3:
		if (m->structured && (p[0] & 16))
			send_request(m, NBD_CMD_BLOCK_STATUS, off, len, 0);
		else
			send_request(m,
			    (p[0] & 8) ? NBD_CMD_TRIM : NBD_CMD_WRITE, off, len,
			    p[3]);
		break;
	default: /* the peer */
		if (m->partial != NULL)
			peer_go_on(m, (size_t)p[1] * 64);
		else if (m->nqueue > 0)
			peer_answer(m, p[1] % m->nqueue, (p[0] & 0xf8) == 0xf8,
			    (size_t)p[2] * 64);
		break;
	}
	return relay_turn(m);
}

/* Everything still asked of the peer is answered, and must arrive. */
static int
finish(struct model *m)
{
	int i, turns;

	for (turns = 0; turns < 100000; turns++) {
		if (m->partial != NULL)
			peer_go_on(m, 0);
		else if (m->nqueue > 0)
			peer_answer(m, 0, 0, 0);
		else
			break;
		if (relay_turn(m) == -1)
			return -1;
	}
	if (relay_turn(m) == -1)
		return -1;
	for (i = 0; i < MODEL_OUT; i++)
		if (m->asked[i].busy)
			return fail(m,
			    "handle %llu (offset %llu) never answered",
			    (unsigned long long)m->asked[i].handle,
			    (unsigned long long)m->asked[i].offset);
	if (evbuffer_get_length(m->d.out) != 0 || relay_inflight(&m->r) != 0)
		return fail(m, "%zu bytes of replies left, %d in flight",
		    evbuffer_get_length(m->d.out), relay_inflight(&m->r));
	return 0;
}

int
relay_model_run(const uint8_t *data, size_t size, char *why, size_t whylen)
{
	struct model *m;
	size_t i;
	int rc = 0;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		abort();
	m->why = why;
	m->whylen = whylen;
	for (i = 0; i < MODEL_SIZE; i++)
		m->image[i] = (unsigned char)(i * 131 + (i >> 9));
	m->d.in = evbuffer_new();
	m->d.out = evbuffer_new();
	m->up = evbuffer_new();
	m->peer = evbuffer_new();
	relay_init(&m->r, MODEL_SIZE, MODEL_FLAGS);
	if (size > 0 && (data[0] & 1))
		ra_init(&m->r.ra, (uint64_t)(((data[0] >> 1) & 63) + 1) * 4096,
		    0);
	m->structured = size > 0 && (data[0] & 0x80);
	m->d.structured = m->d.block_status = m->structured;
	for (i = 1; rc == 0 && i + 4 <= size; i += 4)
		rc = step(m, data + i);
	if (rc == 0)
		rc = finish(m);
	relay_free(&m->r);
	for (i = 0; i < MODEL_OUT; i++)
		free(m->asked[i].expect);
	for (i = 0; i < (size_t)m->nqueue; i++)
		free(m->queue[i].payload);
	free(m->partial);
	evbuffer_free(m->d.in);
	evbuffer_free(m->d.out);
	evbuffer_free(m->up);
	evbuffer_free(m->peer);
	free(m);
	return rc;
}
