/*
 * Big-endian packing of NBD requests and replies: the one place that
 * knows the byte layout of the fixed headers.
 */
#include <endian.h>
#include <string.h>

#include "nbd_proto.h"

uint16_t
nbd_get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

uint32_t
nbd_get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

uint64_t
nbd_get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

void
nbd_put16(unsigned char *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

void
nbd_put32(unsigned char *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

void
nbd_put64(unsigned char *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

void
nbd_request_decode(const unsigned char *p, struct nbd_request *r)
{
	r->magic = nbd_get32(p);
	r->flags = nbd_get16(p + 4);
	r->type = nbd_get16(p + 6);
	r->handle = nbd_get64(p + 8);
	r->offset = nbd_get64(p + 16);
	r->length = nbd_get32(p + 24);
}

void
nbd_request_encode(const struct nbd_request *r, unsigned char *p)
{
	nbd_put32(p, r->magic);
	nbd_put16(p + 4, r->flags);
	nbd_put16(p + 6, r->type);
	nbd_put64(p + 8, r->handle);
	nbd_put64(p + 16, r->offset);
	nbd_put32(p + 24, r->length);
}

void
nbd_reply_decode(const unsigned char *p, struct nbd_reply *r)
{
	r->magic = nbd_get32(p);
	r->error = nbd_get32(p + 4);
	r->handle = nbd_get64(p + 8);
}

void
nbd_reply_encode(const struct nbd_reply *r, unsigned char *p)
{
	nbd_put32(p, r->magic);
	nbd_put32(p + 4, r->error);
	nbd_put64(p + 8, r->handle);
}
