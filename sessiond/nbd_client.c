/*
 * The handshake with the peer, as its NBD client. Input is untrusted:
 * every length is bounded before we wait for it, every reply checked.
 */
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nbd_client.h"
#include "nbd_proto.h"

#define GREETING_SIZE 18     /* NBDMAGIC IHAVEOPT flags16 */
#define OPTION_REPLY_SIZE 20 /* magic64 option32 type32 len32 */
#define EXPORT_NAME_REPLY 10 /* size64 flags16, then 124 zeroes */
#define OLDSTYLE_MAGIC UINT64_C(0x00420281861253)

static enum nbd_client_result
client_fail(struct nbd_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	c->state = NBD_CLIENT_FAILED;
	return NBD_CLIENT_ERROR;
}

void
nbd_client_init(struct nbd_client *c)
{
	memset(c, 0, sizeof(*c));
	c->state = NBD_CLIENT_GREETING;
}

/* NBD_OPT_GO for the default export (""), no info requests. */
static void
send_go(struct evbuffer *out)
{
	unsigned char opt[16 + 4 + 2];

	nbd_put64(opt, NBD_IHAVEOPT);
	nbd_put32(opt + 8, NBD_OPT_GO);
	nbd_put32(opt + 12, 6);
	nbd_put32(opt + 16, 0); /* name length */
	nbd_put16(opt + 20, 0); /* no info requests */
	evbuffer_add(out, opt, sizeof(opt));
}

static void
send_export_name(struct evbuffer *out)
{
	unsigned char opt[16];

	nbd_put64(opt, NBD_IHAVEOPT);
	nbd_put32(opt + 8, NBD_OPT_EXPORT_NAME);
	nbd_put32(opt + 12, 0);
	evbuffer_add(out, opt, sizeof(opt));
}

static enum nbd_client_result
client_greeting(struct nbd_client *c, struct evbuffer *in, struct evbuffer *out)
{
	unsigned char g[GREETING_SIZE], flags[4];
	uint16_t hsflags;

	if (evbuffer_get_length(in) < GREETING_SIZE)
		return NBD_CLIENT_MORE;
	evbuffer_remove(in, g, sizeof(g));
	if (nbd_get64(g) != NBD_MAGIC)
		return client_fail(c, "not an NBD server (bad greeting magic)");
	if (nbd_get64(g + 8) == OLDSTYLE_MAGIC)
		return client_fail(c, "oldstyle NBD is not supported");
	if (nbd_get64(g + 8) != NBD_IHAVEOPT)
		return client_fail(c, "bad greeting: expected IHAVEOPT");
	hsflags = nbd_get16(g + 16);
	if (!(hsflags & NBD_FLAG_FIXED_NEWSTYLE))
		return client_fail(c, "peer lacks fixed newstyle");
	c->no_zeroes = (hsflags & NBD_FLAG_NO_ZEROES) != 0;
	nbd_put32(flags,
	    NBD_FLAG_FIXED_NEWSTYLE | (c->no_zeroes ? NBD_FLAG_NO_ZEROES : 0));
	evbuffer_add(out, flags, sizeof(flags));
	send_go(out);
	c->state = NBD_CLIENT_GO;
	return NBD_CLIENT_MORE;
}

/* Error replies may carry a message: keep its printable part. */
static void
reply_text(const unsigned char *data, uint32_t len, char *text, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 1 < size; i++)
		if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' &&
		    data[i] != '\\')
			text[n++] = data[i];
	text[n] = '\0';
}

static enum nbd_client_result
client_go_reply(struct nbd_client *c, uint32_t type, const unsigned char *data,
    uint32_t len, struct evbuffer *out)
{
	char text[100];

	switch (type) {
	case NBD_REP_INFO:
		if (len < 2)
			return client_fail(c, "NBD_REP_INFO too short");
		if (nbd_get16(data) != NBD_INFO_EXPORT)
			return NBD_CLIENT_MORE; /* others are optional */
		if (len != 12)
			return client_fail(c, "NBD_INFO_EXPORT of %u bytes",
			    len);
		c->size = nbd_get64(data + 2);
		c->flags = nbd_get16(data + 10);
		c->have_export = 1;
		return NBD_CLIENT_MORE;
	case NBD_REP_ACK:
		if (!c->have_export)
			return client_fail(c,
			    "NBD_OPT_GO acknowledged "
			    "without export information");
		c->state = NBD_CLIENT_DONE;
		return NBD_CLIENT_READY;
	case NBD_REP_ERR_UNSUP:
		/* jsnbd's nbd.js and webui-vue only know EXPORT_NAME. */
		send_export_name(out);
		c->fell_back = 1;
		c->state = NBD_CLIENT_EXPORT_NAME;
		return NBD_CLIENT_MORE;
	default:
		if (type & NBD_REP_FLAG_ERROR) {
			reply_text(data, len, text, sizeof(text));
			return client_fail(c,
			    "peer refused the export (error %#x%s%s)", type,
			    text[0] ? ": " : "", text);
		}
		return client_fail(c, "unexpected option reply %u", type);
	}
}

static enum nbd_client_result
client_go(struct nbd_client *c, struct evbuffer *in, struct evbuffer *out)
{
	unsigned char hdr[OPTION_REPLY_SIZE], data[NBD_NAME_MAX];
	enum nbd_client_result r;
	uint32_t type, len;

	while (c->state == NBD_CLIENT_GO) {
		if (evbuffer_copyout(in, hdr, sizeof(hdr)) <
		    (ssize_t)sizeof(hdr))
			return NBD_CLIENT_MORE;
		len = nbd_get32(hdr + 16);
		if (nbd_get64(hdr) != NBD_REP_MAGIC)
			return client_fail(c, "bad option reply magic");
		if (nbd_get32(hdr + 8) != NBD_OPT_GO)
			return client_fail(c, "reply to an option never sent");
		if (len > sizeof(data))
			return client_fail(c, "option reply of %u bytes", len);
		if (evbuffer_get_length(in) < sizeof(hdr) + len)
			return NBD_CLIENT_MORE;
		evbuffer_drain(in, sizeof(hdr));
		evbuffer_remove(in, data, len);
		type = nbd_get32(hdr + 12);
		if ((r = client_go_reply(c, type, data, len, out)) !=
		    NBD_CLIENT_MORE)
			return r;
	}
	return NBD_CLIENT_MORE;
}

static enum nbd_client_result
client_export_name(struct nbd_client *c, struct evbuffer *in)
{
	unsigned char reply[EXPORT_NAME_REPLY + 124];
	size_t need = EXPORT_NAME_REPLY + (c->no_zeroes ? 0 : 124);

	if (evbuffer_get_length(in) < need)
		return NBD_CLIENT_MORE;
	evbuffer_remove(in, reply, need);
	c->size = nbd_get64(reply);
	c->flags = nbd_get16(reply + 8);
	c->have_export = 1;
	c->state = NBD_CLIENT_DONE;
	return NBD_CLIENT_READY;
}

/*
 * Consumes what it can of the peer's bytes in `in`, writing our side of
 * the handshake to `out`.
 */
enum nbd_client_result
nbd_client_input(struct nbd_client *c, struct evbuffer *in,
    struct evbuffer *out)
{
	enum nbd_client_result r;

	switch (c->state) {
	case NBD_CLIENT_GREETING:
		if ((r = client_greeting(c, in, out)) != NBD_CLIENT_MORE ||
		    c->state == NBD_CLIENT_GREETING)
			return r;
		/* FALLTHROUGH */
	case NBD_CLIENT_GO:
		if ((r = client_go(c, in, out)) != NBD_CLIENT_MORE ||
		    c->state == NBD_CLIENT_GO)
			return r;
		/* FALLTHROUGH */
	case NBD_CLIENT_EXPORT_NAME:
		return client_export_name(c, in);
	case NBD_CLIENT_DONE:
		return NBD_CLIENT_READY;
	case NBD_CLIENT_FAILED:
	default:
		return NBD_CLIENT_ERROR;
	}
}
