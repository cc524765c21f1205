/*
 * The handshake with a local NBD client. Options are bounded before we
 * wait for them (in length, in number, and in replies unread); an export
 * without an attached image is refused with a message saying so, which
 * nbdinfo and qemu show to the user. Structured replies and the one meta
 * context we know, base:allocation, are offered to clients that ask.
 */
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nbd_proto.h"
#include "nbd_server.h"

#define OPTION_HEADER 16 /* IHAVEOPT option32 length32 */
#define OPTION_MAX NBD_SERVER_OPTION_MAX
#define META_QUERIES_MAX 16 /* in one META_CONTEXT option */

static const unsigned char zeroes[124];

static enum nbd_server_result
server_close(struct nbd_server *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	s->state = NBD_SERVER_CLOSED;
	return NBD_SERVER_CLOSE;
}

void
nbd_server_init(struct nbd_server *s, struct evbuffer *out)
{
	unsigned char g[18];

	memset(s, 0, sizeof(*s));
	s->state = NBD_SERVER_CLIENT_FLAGS;
	nbd_put64(g, NBD_MAGIC);
	nbd_put64(g + 8, NBD_IHAVEOPT);
	nbd_put16(g + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	evbuffer_add(out, g, sizeof(g));
}

static void
reply(struct evbuffer *out, uint32_t option, uint32_t type, const void *data,
    uint32_t len)
{
	unsigned char hdr[20];

	nbd_put64(hdr, NBD_REP_MAGIC);
	nbd_put32(hdr + 8, option);
	nbd_put32(hdr + 12, type);
	nbd_put32(hdr + 16, len);
	evbuffer_add(out, hdr, sizeof(hdr));
	if (len > 0)
		evbuffer_add(out, data, len);
}

static void
reply_error(struct evbuffer *out, uint32_t option, uint32_t type,
    const char *text)
{
	reply(out, option, type, text, (uint32_t)strlen(text));
}

/*
 * A read-only export looks the same through every connection: clients
 * may open several at once (nbdcopy --connections).
 */
static uint16_t
export_flags(const struct nbd_export_info *e)
{
	if (e->flags & NBD_TFLAG_READ_ONLY)
		return e->flags | NBD_TFLAG_CAN_MULTI_CONN;
	return e->flags;
}

static void
reply_info_export(struct evbuffer *out, uint32_t option,
    const struct nbd_export_info *e)
{
	unsigned char info[12];

	nbd_put16(info, NBD_INFO_EXPORT);
	nbd_put64(info + 2, e->size);
	nbd_put16(info + 10, export_flags(e));
	reply(out, option, NBD_REP_INFO, info, sizeof(info));
}

static void
reply_info_text(struct evbuffer *out, uint32_t option, uint16_t type,
    const char *text)
{
	unsigned char info[2 + 256];
	size_t len = strnlen(text, sizeof(info) - 2);

	nbd_put16(info, type);
	memcpy(info + 2, text, len);
	reply(out, option, NBD_REP_INFO, info, (uint32_t)(2 + len));
}

static void
reply_info_block_size(struct evbuffer *out, uint32_t option)
{
	unsigned char info[14];

	nbd_put16(info, NBD_INFO_BLOCK_SIZE);
	nbd_put32(info + 2, 1);
	nbd_put32(info + 6, 4096);
	nbd_put32(info + 10, NBD_MAX_PAYLOAD);
	reply(out, option, NBD_REP_INFO, info, sizeof(info));
}

/* "" names the default export: a Unix socket has only one. */
static uint32_t
single_find(void *arg, const unsigned char *name, uint32_t len,
    struct nbd_export_info *info, char *why, size_t whylen)
{
	const struct nbd_export_info *e = arg;

	if (len != 0 &&
	    (len != strlen(e->name) || memcmp(name, e->name, len) != 0)) {
		snprintf(why, whylen, "no such export on this socket");
		return NBD_REP_ERR_UNKNOWN;
	}
	*info = *e;
	return 0;
}

static int
single_nth(void *arg, int i, struct nbd_export_info *info)
{
	if (i != 0)
		return 0;
	*info = *(const struct nbd_export_info *)arg;
	return 1;
}

/* The export a name stands for, or the error to answer and why. */
static uint32_t
find(const struct nbd_server_exports *x, const unsigned char *name,
    uint32_t len, struct nbd_export_info *info, char *why, size_t whylen)
{
	uint32_t error;

	memset(info, 0, sizeof(*info));
	why[0] = '\0';
	error = x->find(x->arg, name, len, info, why, whylen);
	if (error != 0 && why[0] == '\0')
		snprintf(why, whylen, "no such export");
	return error;
}

static enum nbd_server_result
option_go(struct nbd_server *s, uint32_t option, const unsigned char *data,
    uint32_t len, const struct nbd_server_exports *x, struct evbuffer *out)
{
	struct nbd_export_info info, *e = &info;
	char text[160];
	uint32_t namelen, error;
	uint16_t ninfo, i, type;
	unsigned int sent = 0; /* each asked once, however often */

	/* name length, name, count of info requests, 16 bits each */
	if (len < 6 || (namelen = nbd_get32(data)) > len - 6) {
		reply_error(out, option, NBD_REP_ERR_INVALID,
		    "malformed option");
		return NBD_SERVER_MORE;
	}
	ninfo = nbd_get16(data + 4 + namelen);
	if (6 + namelen + 2 * (uint32_t)ninfo != len) {
		reply_error(out, option, NBD_REP_ERR_INVALID,
		    "malformed option");
		return NBD_SERVER_MORE;
	}
	if ((error = find(x, data + 4, namelen, e, text, sizeof(text))) != 0) {
		reply_error(out, option, error, text);
		return NBD_SERVER_MORE;
	}
	if (!e->attached) {
		snprintf(text, sizeof(text),
		    "no image attached to export "
		    "\"%s\": open the vmediad web page and attach one",
		    e->name);
		reply_error(out, option, NBD_REP_ERR_UNKNOWN, text);
		return NBD_SERVER_MORE;
	}
	for (i = 0; i < ninfo; i++) {
		type = nbd_get16(data + 6 + namelen + 2 * i);
		if (type > NBD_INFO_BLOCK_SIZE || (sent & (1u << type)))
			continue;
		sent |= 1u << type;
		switch (type) {
		case NBD_INFO_NAME:
			reply_info_text(out, option, NBD_INFO_NAME, e->name);
			break;
		case NBD_INFO_DESCRIPTION:
			reply_info_text(out, option, NBD_INFO_DESCRIPTION,
			    e->description);
			break;
		case NBD_INFO_BLOCK_SIZE:
			reply_info_block_size(out, option);
			break;
		}
	}
	reply_info_export(out, option, e);
	reply(out, option, NBD_REP_ACK, NULL, 0);
	if (option == NBD_OPT_INFO)
		return NBD_SERVER_MORE;
	snprintf(s->export, sizeof(s->export), "%s", e->name);
	s->state = NBD_SERVER_DONE;
	return NBD_SERVER_READY;
}

static enum nbd_server_result
option_export_name(struct nbd_server *s, const unsigned char *data,
    uint32_t len, const struct nbd_server_exports *x, struct evbuffer *out)
{
	struct nbd_export_info info, *e = &info;
	unsigned char rep[10];
	char why[160];

	if (find(x, data, len, e, why, sizeof(why)) != 0)
		return server_close(s, "EXPORT_NAME refused: %s", why);
	if (!e->attached)
		return server_close(s, "no image attached");
	nbd_put64(rep, e->size);
	nbd_put16(rep + 8, export_flags(e));
	evbuffer_add(out, rep, sizeof(rep));
	if (!s->no_zeroes)
		evbuffer_add(out, zeroes, sizeof(zeroes));
	snprintf(s->export, sizeof(s->export), "%s", e->name);
	s->state = NBD_SERVER_DONE;
	return NBD_SERVER_READY;
}

/* Every export this client may use: at most NBD_SERVER_LIST_MAX. */
static void
option_list(uint32_t len, const struct nbd_server_exports *x,
    struct evbuffer *out)
{
	unsigned char server[4 + 64 + 128];
	struct nbd_export_info e;
	size_t namelen, desclen;
	int i;

	if (len != 0) {
		reply_error(out, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
		    "NBD_OPT_LIST takes no data");
		return;
	}
	for (i = 0; i < NBD_SERVER_LIST_MAX; i++) {
		memset(&e, 0, sizeof(e));
		if (!x->nth(x->arg, i, &e))
			break;
		/* name, then its description (nbdinfo --list shows it) */
		namelen = strnlen(e.name, 64);
		desclen =
		    e.description != NULL ? strnlen(e.description, 128) : 0;
		nbd_put32(server, (uint32_t)namelen);
		memcpy(server + 4, e.name, namelen);
		if (desclen > 0)
			memcpy(server + 4 + namelen, e.description, desclen);
		reply(out, NBD_OPT_LIST, NBD_REP_SERVER, server,
		    (uint32_t)(4 + namelen + desclen));
	}
	reply(out, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* Whether a query names base:allocation (or lists all of "base:"). */
static int
meta_matches(const unsigned char *q, uint32_t len, int list)
{
	static const char ctx[] = NBD_META_BASE_ALLOCATION;

	if (len == sizeof(ctx) - 1 && memcmp(q, ctx, len) == 0)
		return 1;
	return list && len == 5 && memcmp(q, "base:", 5) == 0;
}

static void
reply_meta_context(struct evbuffer *out, uint32_t option)
{
	static const char ctx[] = NBD_META_BASE_ALLOCATION;
	unsigned char rep[4 + sizeof(ctx) - 1];

	nbd_put32(rep, NBD_META_ID_ALLOCATION);
	memcpy(rep + 4, ctx, sizeof(ctx) - 1);
	reply(out, option, NBD_REP_META_CONTEXT, rep, sizeof(rep));
}

/*
 * LIST_META_CONTEXT and SET_META_CONTEXT: export name, then a count of
 * queries each with its length. At most one context reply follows,
 * whatever the queries, so the reply is bounded by what we know.
 */
static void
option_meta(struct nbd_server *s, uint32_t option, const unsigned char *data,
    uint32_t len, const struct nbd_server_exports *x, struct evbuffer *out)
{
	int list = option == NBD_OPT_LIST_META_CONTEXT, found = 0;
	uint32_t namelen, nq, qlen, at, i, error;
	struct nbd_export_info e;
	char why[160];

	if (!s->structured) {
		reply_error(out, option, NBD_REP_ERR_INVALID,
		    "negotiate structured replies first");
		return;
	}
	if (len < 8 || (namelen = nbd_get32(data)) > len - 8)
		goto malformed;
	at = 4 + namelen;
	nq = nbd_get32(data + at);
	at += 4;
	if (nq > META_QUERIES_MAX) {
		reply_error(out, option, NBD_REP_ERR_TOO_BIG,
		    "too many queries");
		return;
	}
	for (i = 0; i < nq; i++) {
		if (len - at < 4 ||
		    (qlen = nbd_get32(data + at)) > len - at - 4)
			goto malformed;
		if (meta_matches(data + at + 4, qlen, list))
			found = 1;
		at += 4 + qlen;
	}
	if (at != len)
		goto malformed;
	if ((error = find(x, data + 4, namelen, &e, why, sizeof(why))) != 0) {
		reply_error(out, option, error, why);
		return;
	}
	if (nq == 0 && list)
		found = 1; /* all we have */
	if (!list)
		s->meta_allocation = found;
	if (found)
		reply_meta_context(out, option);
	reply(out, option, NBD_REP_ACK, NULL, 0);
	return;
malformed:
	reply_error(out, option, NBD_REP_ERR_INVALID, "malformed option");
}

static void
option_structured(struct nbd_server *s, uint32_t len, struct evbuffer *out)
{
	if (len != 0) {
		reply_error(out, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
		    "NBD_OPT_STRUCTURED_REPLY takes no data");
		return;
	}
	s->structured = 1;
	reply(out, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
}

/*
 * STARTTLS where it is offered: acked, and the caller starts TLS once the
 * ack is out. A byte after it in the clear would be read as if it came
 * through TLS: such a client is dropped.
 */
static enum nbd_server_result
option_starttls(struct nbd_server *s, uint32_t len, struct evbuffer *in,
    struct evbuffer *out)
{
	if (s->tls == NBD_SERVER_TLS_NONE) {
		reply_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_UNSUP,
		    "no TLS on this socket");
		return NBD_SERVER_MORE;
	}
	if (s->tls == NBD_SERVER_TLS_ON) {
		reply_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
		    "TLS is on already");
		return NBD_SERVER_MORE;
	}
	if (len != 0) {
		reply_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
		    "NBD_OPT_STARTTLS takes no data");
		return NBD_SERVER_MORE;
	}
	if (evbuffer_get_length(in) != 0)
		return server_close(s,
		    "sent bytes after STARTTLS in the clear");
	reply(out, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
	return NBD_SERVER_STARTTLS;
}

void
nbd_server_tls_started(struct nbd_server *s)
{
	s->tls = NBD_SERVER_TLS_ON;
	s->structured = 0;
	s->meta_allocation = 0;
}

static enum nbd_server_result
server_option(struct nbd_server *s, const struct nbd_server_exports *x,
    struct evbuffer *in, struct evbuffer *out)
{
	unsigned char hdr[OPTION_HEADER], data[OPTION_MAX];
	uint32_t option, len;

	if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ssize_t)sizeof(hdr))
		return NBD_SERVER_MORE;
	if (nbd_get64(hdr) != NBD_IHAVEOPT)
		return server_close(s, "bad option magic");
	option = nbd_get32(hdr + 8);
	len = nbd_get32(hdr + 12);
	if (len > OPTION_MAX)
		return server_close(s, "option %u of %u bytes", option, len);
	if (evbuffer_get_length(in) < sizeof(hdr) + len)
		return NBD_SERVER_MORE;
	if (++s->options > NBD_SERVER_OPTIONS_MAX) {
		server_close(s, "sent more than %d options",
		    NBD_SERVER_OPTIONS_MAX);
		return NBD_SERVER_UNREAD;
	}
	evbuffer_drain(in, sizeof(hdr));
	evbuffer_remove(in, data, len);
	if (option == NBD_OPT_STARTTLS)
		return option_starttls(s, len, in, out);
	if (s->tls == NBD_SERVER_TLS_REQUIRED) {
		switch (option) {
		case NBD_OPT_EXPORT_NAME:
			return server_close(s, "EXPORT_NAME before STARTTLS");
		case NBD_OPT_ABORT:
			break;
		default:
			reply_error(out, option, NBD_REP_ERR_TLS_REQD,
			    "TLS is required: send NBD_OPT_STARTTLS first");
			return NBD_SERVER_MORE;
		}
	}
	switch (option) {
	case NBD_OPT_EXPORT_NAME:
		return option_export_name(s, data, len, x, out);
	case NBD_OPT_GO:
	case NBD_OPT_INFO:
		return option_go(s, option, data, len, x, out);
	case NBD_OPT_LIST:
		option_list(len, x, out);
		return NBD_SERVER_MORE;
	case NBD_OPT_STRUCTURED_REPLY:
		option_structured(s, len, out);
		return NBD_SERVER_MORE;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		option_meta(s, option, data, len, x, out);
		return NBD_SERVER_MORE;
	case NBD_OPT_ABORT:
		reply(out, option, NBD_REP_ACK, NULL, 0);
		return server_close(s, "client aborted");
	default:
		reply_error(out, option, NBD_REP_ERR_UNSUP,
		    "option not supported");
		return NBD_SERVER_MORE;
	}
}

enum nbd_server_result
nbd_server_input(struct nbd_server *s, const struct nbd_export_info *e,
    struct evbuffer *in, struct evbuffer *out)
{
	struct nbd_server_exports x = { single_find, single_nth, (void *)e };

	return nbd_server_input_from(s, &x, in, out);
}

enum nbd_server_result
nbd_server_input_from(struct nbd_server *s, const struct nbd_server_exports *x,
    struct evbuffer *in, struct evbuffer *out)
{
	unsigned char flags[4];
	enum nbd_server_result r;
	uint32_t cflags;
	size_t before;

	if (s->state == NBD_SERVER_CLIENT_FLAGS) {
		if (evbuffer_get_length(in) < sizeof(flags))
			return NBD_SERVER_MORE;
		evbuffer_remove(in, flags, sizeof(flags));
		cflags = nbd_get32(flags);
		if (cflags &
		    ~(uint32_t)(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES))
			return server_close(s, "unknown client flags %#x",
			    cflags);
		s->no_zeroes = (cflags & NBD_FLAG_NO_ZEROES) != 0;
		s->state = NBD_SERVER_OPTIONS;
	}
	while (s->state == NBD_SERVER_OPTIONS) {
		/* A client that asks without reading would fill our memory. */
		if (evbuffer_get_length(out) > NBD_SERVER_OUT_MAX) {
			server_close(s,
			    "does not read its option replies (%zu "
			    "bytes unread)",
			    evbuffer_get_length(out));
			return NBD_SERVER_UNREAD;
		}
		before = evbuffer_get_length(in);
		r = server_option(s, x, in, out);
		if (r != NBD_SERVER_MORE || evbuffer_get_length(in) == before)
			return r;
	}
	return s->state == NBD_SERVER_DONE ? NBD_SERVER_READY :
					     NBD_SERVER_CLOSE;
}
