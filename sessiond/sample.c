/*
 * Sample blocks of an image, hashed: what a resuming peer's image must
 * match (sample.h). Four reads of up to 4 KiB, at the start, a third, two
 * thirds and the end of the image, each answered by a simple reply; a
 * read the peer refuses (an error reply) is not a sample.
 */
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "nbd_proto.h"
#include "sample.h"

static EVP_MD *sha256;

/* Before the sandbox: the digest is fetched (it may read a config). */
int
sample_init(void)
{
	if (sha256 == NULL)
		sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	return sha256 != NULL ? 0 : -1;
}

void
sample_plan(struct sample_set *set, uint64_t size)
{
	uint32_t len = size < SAMPLE_LEN ? (uint32_t)size : SAMPLE_LEN;
	uint64_t span = size - len;
	int i;

	memset(set, 0, sizeof(*set));
	for (i = 0; i < SAMPLE_COUNT; i++) {
		set->offset[i] =
		    (span / (SAMPLE_COUNT - 1) * i) & ~(uint64_t)511;
		if (i == SAMPLE_COUNT - 1)
			set->offset[i] = span;
		set->length[i] = len;
	}
}

/* Sends the reads of the plan's offsets; replies go to sample_input. */
void
sample_start(struct sampler *sp, const struct sample_set *plan,
    struct evbuffer *out)
{
	unsigned char hdr[NBD_REQUEST_SIZE];
	struct nbd_request req;
	int i;

	memset(sp, 0, sizeof(*sp));
	memcpy(sp->set.offset, plan->offset, sizeof(plan->offset));
	memcpy(sp->set.length, plan->length, sizeof(plan->length));
	sp->reading = -1;
	for (i = 0; i < SAMPLE_COUNT; i++) {
		memset(&req, 0, sizeof(req));
		req.magic = NBD_REQUEST_MAGIC;
		req.type = NBD_CMD_READ;
		req.handle = SAMPLE_HANDLE | (uint64_t)i;
		req.offset = plan->offset[i];
		req.length = plan->length[i];
		nbd_request_encode(&req, hdr);
		evbuffer_add(out, hdr, sizeof(hdr));
		sp->pending |= 1u << i;
	}
}

static enum sample_result
fail(struct sampler *sp, const char *why)
{
	snprintf(sp->reason, sizeof(sp->reason), "%s", why);
	return SAMPLE_ERROR;
}

static int
hash(const unsigned char *data, size_t len, unsigned char md[32])
{
	unsigned int n = 0;

	return sample_init() == 0 &&
	    EVP_Digest(data, len, md, &n, sha256, NULL) == 1 && n == 32;
}

enum sample_result
sample_input(struct sampler *sp, struct evbuffer *in)
{
	unsigned char hdr[NBD_REPLY_SIZE];
	struct nbd_reply rep;
	uint64_t i;
	size_t n;

	while (sp->pending != 0) {
		if (sp->reading >= 0) {
			n = evbuffer_get_length(in);
			if (n > sp->left)
				n = sp->left;
			evbuffer_remove(in,
			    sp->buf + sp->set.length[sp->reading] - sp->left,
			    n);
			sp->left -= n;
			if (sp->left > 0)
				return SAMPLE_MORE;
			if (!hash(sp->buf, sp->set.length[sp->reading],
				sp->set.hash[sp->reading]))
				return fail(sp, "cannot hash a sample");
			sp->set.have |= 1u << sp->reading;
			sp->pending &= ~(1u << sp->reading);
			sp->reading = -1;
			continue;
		}
		if (evbuffer_copyout(in, hdr, sizeof(hdr)) <
		    (ssize_t)sizeof(hdr))
			return SAMPLE_MORE;
		nbd_reply_decode(hdr, &rep);
		if (rep.magic != NBD_SIMPLE_REPLY_MAGIC)
			return fail(sp, "bad reply magic to a sample read");
		i = rep.handle - SAMPLE_HANDLE;
		if (rep.handle < SAMPLE_HANDLE || i >= SAMPLE_COUNT ||
		    !(sp->pending & (1u << i)))
			return fail(sp, "reply to a sample read not asked for");
		evbuffer_drain(in, sizeof(hdr));
		if (rep.error != 0) {
			sp->pending &= ~(1u << i);
			continue;
		}
		sp->reading = (int)i;
		sp->left = sp->set.length[i];
	}
	return SAMPLE_DONE;
}

/*
 * Whether b differs from a at a sample both have and that still stands
 * (bit i of stand): the index of the first such sample plus one, or 0.
 */
int
sample_differs(const struct sample_set *a, unsigned int stand,
    const struct sample_set *b)
{
	int i;

	for (i = 0; i < SAMPLE_COUNT; i++) {
		if (!(stand & a->have & (1u << i)))
			continue;
		if (!(b->have & (1u << i)) ||
		    memcmp(a->hash[i], b->hash[i], 32) != 0)
			return i + 1;
	}
	return 0;
}
