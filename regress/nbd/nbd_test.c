/*
 * sessiond's NBD layers on crafted bytes: the client handshake with a
 * peer, the server handshake with local clients, and the relay's checks.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_client.h"
#include "nbd_proto.h"
#include "nbd_server.h"
#include "relay.h"
#include "relay_model.h"
#include "sample.h"
#include "sessiond.h"
#include "test.h"

static struct evbuffer *
buf(void)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		abort();
	return b;
}

static void
add16(struct evbuffer *b, uint16_t v)
{
	unsigned char p[2];

	nbd_put16(p, v);
	evbuffer_add(b, p, 2);
}

static void
add32(struct evbuffer *b, uint32_t v)
{
	unsigned char p[4];

	nbd_put32(p, v);
	evbuffer_add(b, p, 4);
}

static void
add64(struct evbuffer *b, uint64_t v)
{
	unsigned char p[8];

	nbd_put64(p, v);
	evbuffer_add(b, p, 8);
}

static void
greeting(struct evbuffer *b, uint16_t flags)
{
	add64(b, NBD_MAGIC);
	add64(b, NBD_IHAVEOPT);
	add16(b, flags);
}

static void
option_reply(struct evbuffer *b, uint32_t option, uint32_t type,
    const void *data, uint32_t len)
{
	add64(b, NBD_REP_MAGIC);
	add32(b, option);
	add32(b, type);
	add32(b, len);
	evbuffer_add(b, data, len);
}

static void
info_export(struct evbuffer *b, uint64_t size, uint16_t flags)
{
	unsigned char d[12];

	nbd_put16(d, NBD_INFO_EXPORT);
	nbd_put64(d + 2, size);
	nbd_put16(d + 10, flags);
	option_reply(b, NBD_OPT_GO, NBD_REP_INFO, d, sizeof(d));
}

/* Feeds all of src to the client one byte at a time if bytewise. */
static enum nbd_client_result
client_feed(struct nbd_client *c, struct evbuffer *src, struct evbuffer *out,
    int bytewise)
{
	struct evbuffer *in = buf();
	enum nbd_client_result r = NBD_CLIENT_MORE;
	unsigned char byte;

	while (evbuffer_get_length(src) > 0 && r == NBD_CLIENT_MORE) {
		if (bytewise) {
			evbuffer_remove(src, &byte, 1);
			evbuffer_add(in, &byte, 1);
		} else
			evbuffer_add_buffer(in, src);
		r = nbd_client_input(c, in, out);
	}
	evbuffer_free(in);
	return r;
}

static void
test_client_go(int bytewise)
{
	struct nbd_client c;
	struct evbuffer *src = buf(), *out = buf();
	unsigned char sent[26];
	enum nbd_client_result r;

	nbd_client_init(&c);
	greeting(src, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	info_export(src, 5ULL << 32,
	    NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH);
	option_reply(src, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	r = client_feed(&c, src, out, bytewise);
	evbuffer_copyout(out, sent, sizeof(sent));
	test_result(bytewise ? "nbd_client_go_fed_bytewise_is_ready" :
			       "nbd_client_go_is_ready",
	    r == NBD_CLIENT_READY && c.size == 5ULL << 32 &&
		c.flags == (NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH) &&
		!c.fell_back && evbuffer_get_length(out) == 26 &&
		nbd_get32(sent) == 3 && nbd_get64(sent + 4) == NBD_IHAVEOPT &&
		nbd_get32(sent + 12) == NBD_OPT_GO,
	    "r %d size %llu flags %#x out %zu", r, (unsigned long long)c.size,
	    c.flags, evbuffer_get_length(out));
	evbuffer_free(src);
	evbuffer_free(out);
}

static void
test_client_fallback(int no_zeroes)
{
	struct nbd_client c;
	struct evbuffer *src = buf(), *out = buf();
	unsigned char sent[26 + 16], zero[124] = { 0 };
	enum nbd_client_result r;

	nbd_client_init(&c);
	greeting(src,
	    NBD_FLAG_FIXED_NEWSTYLE | (no_zeroes ? NBD_FLAG_NO_ZEROES : 0));
	option_reply(src, NBD_OPT_GO, NBD_REP_ERR_UNSUP, NULL, 0);
	add64(src, 1000000);
	add16(src, NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY);
	if (!no_zeroes)
		evbuffer_add(src, zero, sizeof(zero));
	r = client_feed(&c, src, out, 0);
	evbuffer_copyout(out, sent, sizeof(sent));
	test_result(no_zeroes ?
		"nbd_client_falls_back_to_export_name" :
		"nbd_client_falls_back_to_export_name_with_zeroes",
	    r == NBD_CLIENT_READY && c.fell_back && c.size == 1000000 &&
		c.flags == 3 &&
		nbd_get32(sent + 26 + 8) == NBD_OPT_EXPORT_NAME &&
		nbd_get32(sent) == (no_zeroes ? 3u : 1u),
	    "r %d size %llu", r, (unsigned long long)c.size);
	evbuffer_free(src);
	evbuffer_free(out);
}

/* One bad handshake: r must be ERROR and the reason contain want. */
static void
client_refuses(const char *name, struct evbuffer *src, const char *want)
{
	struct nbd_client c;
	struct evbuffer *out = buf();
	enum nbd_client_result r;

	nbd_client_init(&c);
	r = client_feed(&c, src, out, 0);
	test_result(name, r == NBD_CLIENT_ERROR && strstr(c.reason, want),
	    "r %d reason \"%s\"", r, c.reason);
	evbuffer_free(src);
	evbuffer_free(out);
}

static void
test_client_errors(void)
{
	struct evbuffer *b;
	unsigned char big[8] = { 0 };

	b = buf();
	add64(b, 0x1234);
	add64(b, NBD_IHAVEOPT);
	add16(b, 1);
	client_refuses("nbd_client_bad_greeting_magic_fails", b,
	    "bad greeting magic");
	b = buf();
	add64(b, NBD_MAGIC);
	add64(b, 0x00420281861253ULL);
	add16(b, 1);
	client_refuses("nbd_client_oldstyle_fails", b, "oldstyle");
	b = buf();
	greeting(b, 0);
	client_refuses("nbd_client_without_fixed_newstyle_fails", b,
	    "fixed newstyle");
	b = buf();
	greeting(b, 1);
	add64(b, 0x1111);
	add32(b, NBD_OPT_GO);
	add32(b, NBD_REP_ACK);
	add32(b, 0);
	client_refuses("nbd_client_bad_option_reply_magic_fails", b,
	    "bad option reply magic");
	b = buf();
	greeting(b, 1);
	option_reply(b, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
	client_refuses("nbd_client_reply_to_unsent_option_fails", b,
	    "never sent");
	b = buf();
	greeting(b, 1);
	add64(b, NBD_REP_MAGIC);
	add32(b, NBD_OPT_GO);
	add32(b, NBD_REP_INFO);
	add32(b, 1u << 30);
	evbuffer_add(b, big, sizeof(big));
	client_refuses("nbd_client_huge_option_reply_fails_without_waiting", b,
	    "option reply of");
	b = buf();
	greeting(b, 1);
	option_reply(b, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	client_refuses("nbd_client_ack_without_export_info_fails", b,
	    "without export information");
	b = buf();
	greeting(b, 1);
	option_reply(b, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "no \"such\"\n", 11);
	client_refuses("nbd_client_error_reply_keeps_printable_text", b,
	    "no such");
	b = buf();
	greeting(b, 1);
	{
		unsigned char d[4] = { 0, 0, 0, 0 };
		option_reply(b, NBD_OPT_GO, NBD_REP_INFO, d, sizeof(d));
	}
	client_refuses("nbd_client_short_info_export_fails", b,
	    "NBD_INFO_EXPORT of 4 bytes");
}

/* --- server handshake ------------------------------------------------- */

static struct nbd_export_info srv_info = { "lab", "Lab image", 1, 1 << 20,
	NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH };

static void
client_option(struct evbuffer *b, uint32_t option, const void *data,
    uint32_t len)
{
	add64(b, NBD_IHAVEOPT);
	add32(b, option);
	add32(b, len);
	evbuffer_add(b, data, len);
}

static void
go_data(struct evbuffer *b, uint32_t option, const char *name)
{
	struct evbuffer *d = buf();
	unsigned char tmp[64];
	size_t n;

	add32(d, (uint32_t)strlen(name));
	evbuffer_add(d, name, strlen(name));
	add16(d, 1);
	add16(d, NBD_INFO_BLOCK_SIZE);
	n = evbuffer_remove(d, tmp, sizeof(tmp));
	client_option(b, option, tmp, (uint32_t)n);
	evbuffer_free(d);
}

/* Reads option replies from out: returns the count and the last type. */
static int
replies(struct evbuffer *out, uint32_t *last_type, char *text, size_t size)
{
	unsigned char hdr[20];
	uint32_t len;
	int n = 0;

	text[0] = '\0';
	while (evbuffer_copyout(out, hdr, 20) == 20 &&
	    nbd_get64(hdr) == NBD_REP_MAGIC) {
		len = nbd_get32(hdr + 16);
		evbuffer_drain(out, 20);
		*last_type = nbd_get32(hdr + 12);
		if (*last_type & NBD_REP_FLAG_ERROR && len < size) {
			evbuffer_remove(out, text, len);
			text[len] = '\0';
		} else
			evbuffer_drain(out, len);
		n++;
	}
	return n;
}

/* A META_CONTEXT option's data: export name and up to two queries. */
static void
meta_data(struct evbuffer *b, uint32_t option, const char *name, uint32_t nq,
    const char *q1, const char *q2)
{
	struct evbuffer *d = buf();
	const char *q[2] = { q1, q2 };
	unsigned char tmp[256];
	uint32_t i;
	size_t n;

	add32(d, (uint32_t)strlen(name));
	evbuffer_add(d, name, strlen(name));
	add32(d, nq);
	for (i = 0; i < nq; i++) {
		add32(d, (uint32_t)strlen(q[i]));
		evbuffer_add(d, q[i], strlen(q[i]));
	}
	n = evbuffer_remove(d, tmp, sizeof(tmp));
	client_option(b, option, tmp, (uint32_t)n);
	evbuffer_free(d);
}

/*
 * Reads option replies: their types in order (up to max), and the id and
 * name of the last NBD_REP_META_CONTEXT. Returns the count.
 */
static int
reply_types(struct evbuffer *out, uint32_t *types, int max, uint32_t *id,
    char *ctx, size_t size)
{
	unsigned char hdr[20], body[64];
	uint32_t len;
	int n = 0;

	ctx[0] = '\0';
	while (evbuffer_copyout(out, hdr, 20) == 20 &&
	    nbd_get64(hdr) == NBD_REP_MAGIC) {
		len = nbd_get32(hdr + 16);
		evbuffer_drain(out, 20);
		if (n < max)
			types[n] = nbd_get32(hdr + 12);
		if (nbd_get32(hdr + 12) == NBD_REP_META_CONTEXT && len >= 4 &&
		    len - 4 < size && len <= sizeof(body)) {
			evbuffer_remove(out, body, len);
			*id = nbd_get32(body);
			memcpy(ctx, body + 4, len - 4);
			ctx[len - 4] = '\0';
		} else
			evbuffer_drain(out, len);
		n++;
	}
	return n;
}

/* The flags of the first NBD_INFO_EXPORT in out's replies, or -1. */
static int
export_flags_in(struct evbuffer *out)
{
	unsigned char hdr[20], body[12];
	uint32_t len;
	int flags = -1;

	while (evbuffer_copyout(out, hdr, 20) == 20 &&
	    nbd_get64(hdr) == NBD_REP_MAGIC) {
		len = nbd_get32(hdr + 16);
		evbuffer_drain(out, 20);
		if (nbd_get32(hdr + 12) == NBD_REP_INFO && len == 12 &&
		    flags < 0) {
			evbuffer_remove(out, body, len);
			if (nbd_get16(body) == NBD_INFO_EXPORT)
				flags = nbd_get16(body + 10);
		} else
			evbuffer_drain(out, len);
	}
	return flags;
}

static enum nbd_server_result
server_run(struct nbd_server *s, const struct nbd_export_info *e,
    struct evbuffer *src, struct evbuffer *out, int bytewise)
{
	struct evbuffer *in = buf();
	enum nbd_server_result r = NBD_SERVER_MORE;
	unsigned char byte, g[18];

	nbd_server_init(s, out);
	evbuffer_remove(out, g, sizeof(g));
	while (evbuffer_get_length(src) > 0 && r == NBD_SERVER_MORE) {
		if (bytewise) {
			evbuffer_remove(src, &byte, 1);
			evbuffer_add(in, &byte, 1);
		} else
			evbuffer_add_buffer(in, src);
		r = nbd_server_input(s, e, in, out);
	}
	evbuffer_free(in);
	return r;
}

static void
test_server(void)
{
	struct nbd_server s;
	struct evbuffer *src, *out;
	struct nbd_export_info idle = srv_info;
	enum nbd_server_result r;
	uint32_t type = 0;
	char text[200];
	int n;

	src = buf(), out = buf();
	add32(src, 3);
	go_data(src, NBD_OPT_INFO, "lab");
	go_data(src, NBD_OPT_GO, "");
	r = server_run(&s, &srv_info, src, out, 1);
	n = replies(out, &type, text, sizeof(text));
	test_result("nbd_server_info_then_go_bytewise_is_ready",
	    r == NBD_SERVER_READY && n == 6 && type == NBD_REP_ACK,
	    "r %d replies %d type %u", r, n, type);
	evbuffer_free(src);
	evbuffer_free(out);

	src = buf(), out = buf();
	idle.attached = 0;
	add32(src, 3);
	go_data(src, NBD_OPT_GO, "lab");
	r = server_run(&s, &idle, src, out, 0);
	n = replies(out, &type, text, sizeof(text));
	test_result("nbd_server_without_peer_says_no_image_attached",
	    r == NBD_SERVER_MORE && type == NBD_REP_ERR_UNKNOWN &&
		strstr(text, "no image attached") != NULL,
	    "type %#x text %s", type, text);
	evbuffer_free(src);
	evbuffer_free(out);

	src = buf(), out = buf();
	add32(src, 1);
	client_option(src, 99, "xyz", 3);
	client_option(src, NBD_OPT_LIST, NULL, 0);
	client_option(src, NBD_OPT_EXPORT_NAME, "lab", 3);
	r = server_run(&s, &srv_info, src, out, 0);
	n = replies(out, &type, text, sizeof(text));
	test_result(
	    "nbd_server_unknown_option_unsup_then_list_then_export_name",
	    r == NBD_SERVER_READY && n == 3 &&
		evbuffer_get_length(out) == 10 + 124,
	    "r %d n %d left %zu", r, n, evbuffer_get_length(out));
	evbuffer_free(src);
	evbuffer_free(out);

	src = buf(), out = buf();
	add32(src, 3);
	go_data(src, NBD_OPT_GO, "other");
	r = server_run(&s, &srv_info, src, out, 0);
	replies(out, &type, text, sizeof(text));
	test_result("nbd_server_unknown_export_name_err_unknown",
	    r == NBD_SERVER_MORE && type == NBD_REP_ERR_UNKNOWN, "type %#x",
	    type);
	evbuffer_free(src);
	evbuffer_free(out);

	src = buf(), out = buf();
	add32(src, 3);
	client_option(src, NBD_OPT_GO, "\0\0\0\x09lab", 7);
	r = server_run(&s, &srv_info, src, out, 0);
	replies(out, &type, text, sizeof(text));
	test_result("nbd_server_malformed_go_err_invalid",
	    r == NBD_SERVER_MORE && type == NBD_REP_ERR_INVALID, "type %#x",
	    type);
	evbuffer_free(src);
	evbuffer_free(out);

	src = buf(), out = buf();
	add32(src, 3);
	add64(src, NBD_IHAVEOPT);
	add32(src, NBD_OPT_GO);
	add32(src, 1u << 31);
	r = server_run(&s, &srv_info, src, out, 0);
	test_result("nbd_server_huge_option_closes_without_waiting",
	    r == NBD_SERVER_CLOSE, "r %d", r);
	evbuffer_free(src);
	evbuffer_free(out);

	src = buf(), out = buf();
	add32(src, 0x80);
	r = server_run(&s, &srv_info, src, out, 0);
	test_result("nbd_server_unknown_client_flags_close",
	    r == NBD_SERVER_CLOSE && strstr(s.reason, "client flags"), "r %d",
	    r);
	evbuffer_free(src);
	evbuffer_free(out);

	src = buf(), out = buf();
	add32(src, 1);
	client_option(src, NBD_OPT_ABORT, NULL, 0);
	r = server_run(&s, &srv_info, src, out, 0);
	n = replies(out, &type, text, sizeof(text));
	test_result("nbd_server_abort_acks_and_closes",
	    r == NBD_SERVER_CLOSE && n == 1 && type == NBD_REP_ACK, "r %d", r);
	evbuffer_free(src);
	evbuffer_free(out);

	/* INFOs asking for name and description, none of the replies read. */
	src = buf(), out = buf();
	{
		struct nbd_export_info wordy = srv_info;
		char desc[256];
		unsigned char opt[13] = { 0, 0, 0, 3, 'l', 'a', 'b', 0, 2, 0,
			NBD_INFO_NAME, 0, NBD_INFO_DESCRIPTION };

		memset(desc, 'd', sizeof(desc) - 1);
		desc[sizeof(desc) - 1] = '\0';
		wordy.description = desc;
		add32(src, 3);
		for (n = 0; n < NBD_SERVER_OPTIONS_MAX; n++)
			client_option(src, NBD_OPT_INFO, opt, sizeof(opt));
		r = server_run(&s, &wordy, src, out, 0);
	}
	test_result("unbounded_option_replies_opt_list_flood_unread_closes",
	    r == NBD_SERVER_UNREAD &&
		evbuffer_get_length(out) <= NBD_SERVER_OUT_MAX + 1024 &&
		strstr(s.reason, "does not read"),
	    "r %d, %zu bytes out", r, evbuffer_get_length(out));
	evbuffer_free(src);
	evbuffer_free(out);

	/* One INFO asking for its name 2000 times: answered once. */
	src = buf(), out = buf();
	{
		unsigned char opt[6 + 2 * 2000 + 3];

		memset(opt, 0, sizeof(opt));
		nbd_put32(opt, 3);
		memcpy(opt + 4, "lab", 3);
		nbd_put16(opt + 7, 2000);
		for (n = 0; n < 2000; n++)
			nbd_put16(opt + 9 + 2 * n, NBD_INFO_NAME);
		add32(src, 3);
		client_option(src, NBD_OPT_INFO, opt, sizeof(opt));
		r = server_run(&s, &srv_info, src, out, 0);
		n = replies(out, &type, text, sizeof(text));
	}
	test_result("nbd_server_repeated_info_request_answered_once",
	    r == NBD_SERVER_MORE && n == 3 && type == NBD_REP_ACK, "r %d n %d",
	    r, n);
	evbuffer_free(src);
	evbuffer_free(out);

	/* Structured replies, then base:allocation, then GO. */
	src = buf(), out = buf();
	add32(src, 3);
	client_option(src, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	meta_data(src, NBD_OPT_SET_META_CONTEXT, "lab", 2, "qemu:dirty",
	    NBD_META_BASE_ALLOCATION);
	go_data(src, NBD_OPT_GO, "lab");
	r = server_run(&s, &srv_info, src, out, 1);
	{
		uint32_t types[8], id = 0;
		char ctx[32];

		n = reply_types(out, types, 8, &id, ctx, sizeof(ctx));
		test_result("nbd_server_structured_then_set_meta_base_"
			    "allocation_then_go",
		    r == NBD_SERVER_READY && s.structured &&
			s.meta_allocation && n == 6 &&
			types[0] == NBD_REP_ACK &&
			types[1] == NBD_REP_META_CONTEXT &&
			id == NBD_META_ID_ALLOCATION &&
			strcmp(ctx, NBD_META_BASE_ALLOCATION) == 0 &&
			types[2] == NBD_REP_ACK && types[5] == NBD_REP_ACK,
		    "r %d n %d structured %d meta %d ctx %s", r, n,
		    s.structured, s.meta_allocation, ctx);
	}
	evbuffer_free(src);
	evbuffer_free(out);

	/* Out of order: a meta context before structured replies. */
	src = buf(), out = buf();
	add32(src, 3);
	meta_data(src, NBD_OPT_SET_META_CONTEXT, "lab", 1,
	    NBD_META_BASE_ALLOCATION, NULL);
	go_data(src, NBD_OPT_GO, "lab");
	r = server_run(&s, &srv_info, src, out, 0);
	{
		uint32_t types[8], id = 0;
		char ctx[32];

		n = reply_types(out, types, 8, &id, ctx, sizeof(ctx));
		test_result("nbd_server_meta_context_before_structured_"
			    "err_invalid_then_go_simple",
		    r == NBD_SERVER_READY && !s.structured &&
			!s.meta_allocation && n == 4 &&
			types[0] == NBD_REP_ERR_INVALID,
		    "r %d n %d type0 %#x", r, n, types[0]);
	}
	evbuffer_free(src);
	evbuffer_free(out);

	/* LIST with no queries lists all: base:allocation; other names none. */
	src = buf(), out = buf();
	add32(src, 3);
	client_option(src, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	meta_data(src, NBD_OPT_LIST_META_CONTEXT, "", 0, NULL, NULL);
	meta_data(src, NBD_OPT_LIST_META_CONTEXT, "lab", 1, "qemu:", NULL);
	meta_data(src, NBD_OPT_LIST_META_CONTEXT, "lab", 1, "base:", NULL);
	meta_data(src, NBD_OPT_SET_META_CONTEXT, "nosuch", 1,
	    NBD_META_BASE_ALLOCATION, NULL);
	r = server_run(&s, &srv_info, src, out, 0);
	{
		uint32_t types[16], id = 0;
		char ctx[32];

		n = reply_types(out, types, 16, &id, ctx, sizeof(ctx));
		test_result("nbd_server_list_meta_context_lists_base_"
			    "allocation_unknown_export_err_unknown",
		    r == NBD_SERVER_MORE && !s.meta_allocation && n == 7 &&
			types[1] == NBD_REP_META_CONTEXT &&
			types[2] == NBD_REP_ACK && types[3] == NBD_REP_ACK &&
			types[4] == NBD_REP_META_CONTEXT &&
			types[5] == NBD_REP_ACK &&
			types[6] == NBD_REP_ERR_UNKNOWN,
		    "r %d n %d", r, n);
	}
	evbuffer_free(src);
	evbuffer_free(out);

	/* A query longer than its option; too many queries. */
	src = buf(), out = buf();
	add32(src, 3);
	client_option(src, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	client_option(src, NBD_OPT_SET_META_CONTEXT,
	    "\0\0\0\0\0\0\0\1\0\0\0@base", 16);
	{
		unsigned char many[8 + 17 * 4];

		memset(many, 0, sizeof(many));
		nbd_put32(many + 4, 17);
		client_option(src, NBD_OPT_SET_META_CONTEXT, many,
		    sizeof(many));
	}
	client_option(src, NBD_OPT_EXTENDED_HEADERS, NULL, 0);
	r = server_run(&s, &srv_info, src, out, 0);
	{
		uint32_t types[8], id = 0;
		char ctx[32];

		n = reply_types(out, types, 8, &id, ctx, sizeof(ctx));
		test_result("nbd_server_truncated_query_invalid_too_many_"
			    "queries_too_big_extended_headers_unsup",
		    r == NBD_SERVER_MORE && n == 4 &&
			types[1] == NBD_REP_ERR_INVALID &&
			types[2] == NBD_REP_ERR_TOO_BIG &&
			types[3] == NBD_REP_ERR_UNSUP,
		    "r %d n %d", r, n);
	}
	evbuffer_free(src);
	evbuffer_free(out);

	/* A read-only export: CAN_MULTI_CONN, in INFO and EXPORT_NAME. */
	src = buf(), out = buf();
	{
		struct nbd_export_info ro = srv_info;
		unsigned char rep[10];

		ro.flags |= NBD_TFLAG_READ_ONLY;
		add32(src, 3);
		go_data(src, NBD_OPT_INFO, "lab");
		client_option(src, NBD_OPT_EXPORT_NAME, "lab", 3);
		r = server_run(&s, &ro, src, out, 0);
		n = export_flags_in(out);
		evbuffer_remove(out, rep, sizeof(rep));
		test_result("nbd_server_read_only_export_can_multi_conn",
		    r == NBD_SERVER_READY && n >= 0 &&
			(n & NBD_TFLAG_CAN_MULTI_CONN) &&
			(nbd_get16(rep + 8) & NBD_TFLAG_CAN_MULTI_CONN),
		    "r %d flags %#x", r, n);
		src = (evbuffer_free(src), buf());
		evbuffer_free(out), out = buf();
		add32(src, 3);
		go_data(src, NBD_OPT_GO, "lab");
		r = server_run(&s, &srv_info, src, out, 0);
		n = export_flags_in(out);
		test_result("nbd_server_writable_export_not_multi_conn",
		    r == NBD_SERVER_READY && n >= 0 &&
			!(n & NBD_TFLAG_CAN_MULTI_CONN),
		    "r %d flags %#x", r, n);
	}
	evbuffer_free(src);
	evbuffer_free(out);

	/* Options are counted, whether or not their replies are read. */
	src = buf(), out = buf();
	add32(src, 3);
	for (n = 0; n < NBD_SERVER_OPTIONS_MAX + 1; n++)
		client_option(src, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	r = server_run(&s, &srv_info, src, out, 0);
	n = replies(out, &type, text, sizeof(text));
	test_result("nbd_server_option_count_bounded_closes",
	    r == NBD_SERVER_UNREAD && n == NBD_SERVER_OPTIONS_MAX &&
		strstr(s.reason, "options"),
	    "r %d n %d %s", r, n, s.reason);
	evbuffer_free(src);
	evbuffer_free(out);
}

/* --- server handshake for network clients: several exports, TLS ------ */

static struct nbd_export_info net_exports[3] = {
	{ "lab", "Lab image", 1, 1 << 20, NBD_TFLAG_HAS_FLAGS },
	{ "cd", "Install CD", 1, 1 << 21,
	    NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY },
	{ "secret", "Not for this client", 1, 1 << 20, NBD_TFLAG_HAS_FLAGS },
};

static uint32_t
net_find(void *arg, const unsigned char *name, uint32_t len,
    struct nbd_export_info *info, char *why, size_t whylen)
{
	int i;

	(void)arg;
	if (len == 0)
		len = 3, name = (const unsigned char *)"lab";
	for (i = 0; i < 3; i++) {
		if (len != strlen(net_exports[i].name) ||
		    memcmp(name, net_exports[i].name, len) != 0)
			continue;
		if (i == 2) {
			snprintf(why, whylen, "not allowed");
			return NBD_REP_ERR_POLICY;
		}
		*info = net_exports[i];
		return 0;
	}
	return NBD_REP_ERR_UNKNOWN;
}

static int
net_nth(void *arg, int i, struct nbd_export_info *info)
{
	(void)arg;
	if (i >= 2)
		return 0;
	*info = net_exports[i];
	return 1;
}

static const struct nbd_server_exports net_x = { net_find, net_nth, NULL };

/* Feeds src at once; stops at anything but MORE. */
static enum nbd_server_result
net_feed(struct nbd_server *s, struct evbuffer *src, struct evbuffer *out)
{
	return nbd_server_input_from(s, &net_x, src, out);
}

static void
net_start(struct nbd_server *s, struct evbuffer *out)
{
	unsigned char g[18];

	nbd_server_init(s, out);
	evbuffer_remove(out, g, sizeof(g));
	s->tls = NBD_SERVER_TLS_REQUIRED;
}

static void
test_server_network(void)
{
	struct nbd_server s;
	struct evbuffer *src = buf(), *out = buf();
	enum nbd_server_result r;
	uint32_t types[16], id = 0;
	char ctx[32], text[200];
	uint32_t type = 0;
	int n;

	/* Everything but STARTTLS (and ABORT) before TLS: ERR_TLS_REQD. */
	net_start(&s, out);
	add32(src, 3);
	go_data(src, NBD_OPT_GO, "lab");
	client_option(src, NBD_OPT_LIST, NULL, 0);
	client_option(src, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	client_option(src, NBD_OPT_STARTTLS, NULL, 0);
	r = net_feed(&s, src, out);
	n = reply_types(out, types, 16, &id, ctx, sizeof(ctx));
	test_result("nbd_server_tls_required_go_list_structured_get_tls_reqd_"
		    "then_starttls",
	    r == NBD_SERVER_STARTTLS && n == 4 &&
		types[0] == NBD_REP_ERR_TLS_REQD &&
		types[1] == NBD_REP_ERR_TLS_REQD &&
		types[2] == NBD_REP_ERR_TLS_REQD && types[3] == NBD_REP_ACK &&
		!s.structured,
	    "r %d n %d %#x %#x", r, n, types[0], types[3]);

	/* After TLS: STARTTLS twice is invalid; LIST, GO of a chosen one. */
	nbd_server_tls_started(&s);
	client_option(src, NBD_OPT_STARTTLS, NULL, 0);
	client_option(src, NBD_OPT_LIST, NULL, 0);
	go_data(src, NBD_OPT_INFO, "secret");
	go_data(src, NBD_OPT_INFO, "nosuch");
	go_data(src, NBD_OPT_GO, "cd");
	r = net_feed(&s, src, out);
	n = reply_types(out, types, 16, &id, ctx, sizeof(ctx));
	test_result("nbd_server_starttls_twice_invalid_list_two_policy_"
		    "unknown_then_go_chosen",
	    r == NBD_SERVER_READY && n == 9 &&
		types[0] == NBD_REP_ERR_INVALID && types[1] == NBD_REP_SERVER &&
		types[2] == NBD_REP_SERVER && types[3] == NBD_REP_ACK &&
		types[4] == NBD_REP_ERR_POLICY &&
		types[5] == NBD_REP_ERR_UNKNOWN && types[8] == NBD_REP_ACK &&
		strcmp(s.export, "cd") == 0,
	    "r %d n %d export %s", r, n, s.export);
	evbuffer_drain(src, evbuffer_get_length(src));
	evbuffer_drain(out, evbuffer_get_length(out));

	/* Bytes behind STARTTLS in the clear: dropped, no ack. */
	net_start(&s, out);
	add32(src, 3);
	client_option(src, NBD_OPT_STARTTLS, NULL, 0);
	go_data(src, NBD_OPT_GO, "lab");
	r = net_feed(&s, src, out);
	n = replies(out, &type, text, sizeof(text));
	test_result("nbd_server_bytes_after_starttls_in_clear_close",
	    r == NBD_SERVER_CLOSE && n == 0 && strstr(s.reason, "STARTTLS"),
	    "r %d n %d %s", r, n, s.reason);
	evbuffer_drain(src, evbuffer_get_length(src));
	evbuffer_drain(out, evbuffer_get_length(out));

	/* EXPORT_NAME cannot be refused politely: before TLS it closes. */
	net_start(&s, out);
	add32(src, 3);
	client_option(src, NBD_OPT_EXPORT_NAME, "lab", 3);
	r = net_feed(&s, src, out);
	test_result("nbd_server_export_name_before_starttls_closes",
	    r == NBD_SERVER_CLOSE && evbuffer_get_length(out) == 0, "r %d", r);
	evbuffer_drain(src, evbuffer_get_length(src));

	/* With data, STARTTLS is invalid; where TLS is not offered, unsup. */
	net_start(&s, out);
	add32(src, 3);
	client_option(src, NBD_OPT_STARTTLS, "x", 1);
	r = net_feed(&s, src, out);
	replies(out, &type, text, sizeof(text));
	test_result("nbd_server_starttls_with_data_invalid",
	    r == NBD_SERVER_MORE && type == NBD_REP_ERR_INVALID, "r %d %#x", r,
	    type);
	evbuffer_drain(out, evbuffer_get_length(out));
	nbd_server_init(&s, out);
	evbuffer_drain(out, evbuffer_get_length(out));
	add32(src, 3);
	client_option(src, NBD_OPT_STARTTLS, NULL, 0);
	r = net_feed(&s, src, out);
	replies(out, &type, text, sizeof(text));
	test_result("nbd_server_starttls_not_offered_unsup",
	    r == NBD_SERVER_MORE && type == NBD_REP_ERR_UNSUP, "r %d %#x", r,
	    type);
	evbuffer_free(src);
	evbuffer_free(out);
}

/* --- relay ---------------------------------------------------------------- */

static void
request(struct evbuffer *b, uint16_t type, uint64_t handle, uint64_t off,
    uint32_t len)
{
	struct nbd_request req = { NBD_REQUEST_MAGIC, 0, type, handle, off,
		len };
	unsigned char p[NBD_REQUEST_SIZE];

	nbd_request_encode(&req, p);
	evbuffer_add(b, p, sizeof(p));
}

static void
reply(struct evbuffer *b, uint32_t magic, uint32_t error, uint64_t handle)
{
	struct nbd_reply rep = { magic, error, handle };
	unsigned char p[NBD_REPLY_SIZE];

	nbd_reply_encode(&rep, p);
	evbuffer_add(b, p, sizeof(p));
}

#define RA_TEST_BLOCK 4096

/* The 64-bit field at byte field of the request at byte at of up. */
static uint64_t
up_field(struct evbuffer *up, size_t at, size_t field)
{
	unsigned char p[NBD_REQUEST_SIZE];
	struct evbuffer_ptr ptr;

	evbuffer_ptr_set(up, &ptr, at, EVBUFFER_PTR_SET);
	evbuffer_copyout_from(up, &ptr, p, sizeof(p));
	return nbd_get64(p + field);
}

/* The handle the relay used for the request at byte at of up. */
static uint64_t
up_handle(struct evbuffer *up, size_t at)
{
	return up_field(up, at, 8);
}

/*
 * The relay fixture: a relay of size bytes with those transmission flags,
 * one downstream (of structured replies or not), the upstream's buffer
 * and the peer's; relay_fixture_free ends them all.
 */
static void
relay_fixture(struct relay *r, struct relay_down *d, struct evbuffer **up,
    struct evbuffer **peer, uint64_t size, uint16_t tflags, int structured)
{
	*d = (struct relay_down){
		.in = buf(),
		.out = buf(),
		.structured = structured,
	};
	*up = buf();
	*peer = buf();
	relay_init(r, size, tflags);
}

static void
relay_fixture_free(struct relay *r, struct relay_down *d, struct evbuffer *up,
    struct evbuffer *peer)
{
	relay_free(r);
	evbuffer_free(d->in);
	evbuffer_free(d->out);
	evbuffer_free(up);
	evbuffer_free(peer);
}

static void
test_relay(void)
{
	struct relay r;
	struct relay_down d;
	struct relay_down d2 = { .in = buf(), .out = buf() };
	struct evbuffer *up, *peer;
	unsigned char data[4096], hdr[NBD_REPLY_SIZE];
	enum relay_result res;
	uint64_t h;
	int i;

	memset(data, 0x5a, sizeof(data));
	relay_fixture(&r, &d, &up, &peer, 1 << 20,
	    NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY | NBD_TFLAG_SEND_FLUSH,
	    0);
	request(d.in, NBD_CMD_READ, 0xabcdef, 4096, 4096);
	res = relay_requests(&r, &d, up);
	h = up_handle(up, 0);
	test_result("relay_read_forwarded_under_our_handle",
	    res == RELAY_OK && evbuffer_get_length(up) == NBD_REQUEST_SIZE &&
		h != 0xabcdef && relay_inflight(&r) == 1,
	    "res %d h %#llx", res, (unsigned long long)h);
	evbuffer_drain(up, evbuffer_get_length(up));

	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h);
	evbuffer_add(peer, data, 1000);
	res = relay_replies(&r, peer);
	test_result("relay_partial_read_payload_passes_on",
	    res == RELAY_OK && evbuffer_get_length(d.out) == 16 + 1000 &&
		relay_inflight(&r) == 1,
	    "res %d out %zu", res, evbuffer_get_length(d.out));
	evbuffer_add(peer, data, 3096);
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h);
	res = relay_replies(&r, peer);
	evbuffer_copyout(d.out, hdr, sizeof(hdr));
	test_result("relay_read_reply_restores_client_handle",
	    nbd_get64(hdr + 8) == 0xabcdef &&
		evbuffer_get_length(d.out) == 16 + 4096,
	    "handle %#llx", (unsigned long long)nbd_get64(hdr + 8));
	test_result("relay_second_reply_to_same_handle_is_violation",
	    res == RELAY_VIOLATION && strstr(r.reason, "not outstanding"),
	    "res %d %s", res, r.reason);
	evbuffer_drain(d.out, evbuffer_get_length(d.out));
	evbuffer_drain(peer, evbuffer_get_length(peer));

	relay_init(&r, 1 << 20, NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY);
	request(d.in, NBD_CMD_WRITE, 7, 0, 512);
	evbuffer_add(d.in, data, 512);
	request(d.in, NBD_CMD_READ, 8, (1 << 20) - 512, 1024);
	request(d.in, NBD_CMD_FLUSH, 9, 0, 0);
	res = relay_requests(&r, &d, up);
	{
		unsigned char a[16], b[16], c[16];

		evbuffer_remove(d.out, a, 16);
		evbuffer_remove(d.out, b, 16);
		evbuffer_remove(d.out, c, 16);
		test_result("relay_refuses_locally_write_ro_eperm_beyond_end_"
			    "einval_unadvertised_flush_einval",
		    res == RELAY_OK && evbuffer_get_length(up) == 0 &&
			evbuffer_get_length(d.in) == 0 &&
			nbd_get32(a + 4) == NBD_EPERM &&
			nbd_get64(a + 8) == 7 &&
			nbd_get32(b + 4) == NBD_EINVAL &&
			nbd_get64(b + 8) == 8 && nbd_get32(c + 4) == NBD_EINVAL,
		    "res %d up %zu", res, evbuffer_get_length(up));
	}

	relay_init(&r, 1 << 20, NBD_TFLAG_HAS_FLAGS);
	request(d.in, NBD_CMD_WRITE, 10, 0, 4096);
	evbuffer_add(d.in, data, 100);
	res = relay_requests(&r, &d, up);
	test_result("relay_write_waits_for_its_whole_payload",
	    res == RELAY_OK && evbuffer_get_length(up) == 0, "up %zu",
	    evbuffer_get_length(up));
	evbuffer_add(d.in, data + 100, 3996);
	res = relay_requests(&r, &d, up);
	test_result("relay_write_forwarded_with_payload",
	    res == RELAY_OK && evbuffer_get_length(up) == 28 + 4096 &&
		r.bytes_written == 4096,
	    "up %zu", evbuffer_get_length(up));
	h = up_handle(up, 0);
	evbuffer_drain(up, evbuffer_get_length(up));

	relay_down_gone(&r, &d);
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h);
	res = relay_replies(&r, peer);
	test_result("relay_reply_for_departed_client_is_dropped",
	    res == RELAY_OK && evbuffer_get_length(d.out) == 0 &&
		relay_inflight(&r) == 0,
	    "res %d", res);

	reply(peer, 0x668e33ef, 0, 1);
	res = relay_replies(&r, peer);
	test_result("relay_structured_reply_is_violation",
	    res == RELAY_VIOLATION && strstr(r.reason, "structured"), "%s",
	    r.reason);
	evbuffer_drain(peer, evbuffer_get_length(peer));
	reply(peer, 0xdeadbeef, 0, 1);
	res = relay_replies(&r, peer);
	test_result("relay_bad_reply_magic_is_violation",
	    res == RELAY_VIOLATION && strstr(r.reason, "bad reply magic"), "%s",
	    r.reason);
	evbuffer_drain(peer, evbuffer_get_length(peer));
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, 0xffffffffffffULL);
	res = relay_replies(&r, peer);
	test_result("relay_unknown_handle_is_violation", res == RELAY_VIOLATION,
	    "res %d", res);
	evbuffer_drain(peer, evbuffer_get_length(peer));

	relay_init(&r, 1 << 20, NBD_TFLAG_HAS_FLAGS);
	for (i = 0; i < RELAY_SLOTS + 3; i++)
		request(d2.in, NBD_CMD_READ, i, 0, 512);
	res = relay_requests(&r, &d2, up);
	test_result("relay_full_when_every_slot_is_busy",
	    res == RELAY_FULL && relay_inflight(&r) == RELAY_SLOTS &&
		evbuffer_get_length(d2.in) == 3 * NBD_REQUEST_SIZE,
	    "res %d", res);
	h = up_handle(up, 0);
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 5, h); /* EIO: no payload */
	res = relay_replies(&r, peer);
	res = relay_requests(&r, &d2, up);
	test_result("relay_resumes_after_a_reply_frees_a_slot",
	    res == RELAY_FULL &&
		evbuffer_get_length(d2.in) == 2 * NBD_REQUEST_SIZE,
	    "res %d left %zu", res, evbuffer_get_length(d2.in));
	evbuffer_drain(d2.in, evbuffer_get_length(d2.in));

	/*
	 * A client that reads nothing: its requests wait once the replies it
	 * has not read (queued, or still owed by the peer) reach the bound,
	 * and go on as it reads.
	 */
	relay_down_gone(&r, &d2);
	evbuffer_drain(d2.out, evbuffer_get_length(d2.out));
	relay_init(&r, 1 << 20, NBD_TFLAG_HAS_FLAGS);
	evbuffer_drain(up, evbuffer_get_length(up));
	d2.replies_max = 3 * (4096 + NBD_REPLY_SIZE);
	for (i = 0; i < 10; i++)
		request(d2.in, NBD_CMD_READ, i, 0, 4096);
	res = relay_requests(&r, &d2, up);
	test_result("stalled_local_client_requests_wait_at_replies_max",
	    res == RELAY_BACKLOG && relay_inflight(&r) == 3 &&
		d2.owed == 3 * (4096 + NBD_REPLY_SIZE),
	    "res %d inflight %d", res, relay_inflight(&r));
	for (i = 0; i < 3; i++) {
		reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0,
		    up_handle(up, i * NBD_REQUEST_SIZE));
		evbuffer_add(peer, data, 4096);
	}
	relay_replies(&r, peer);
	res = relay_requests(&r, &d2, up);
	test_result("stalled_local_client_replies_queued_still_count",
	    res == RELAY_BACKLOG && d2.owed == 0 && relay_inflight(&r) == 0 &&
		evbuffer_get_length(d2.out) == 3 * (4096 + NBD_REPLY_SIZE),
	    "res %d owed %llu", res, (unsigned long long)d2.owed);
	evbuffer_drain(d2.out, 4096 + NBD_REPLY_SIZE);
	res = relay_requests(&r, &d2, up);
	test_result("stalled_local_client_requests_go_on_as_it_reads",
	    res == RELAY_BACKLOG && relay_inflight(&r) == 1 &&
		evbuffer_get_length(d2.in) == 6 * NBD_REQUEST_SIZE,
	    "res %d", res);
	relay_down_gone(&r, &d2);
	evbuffer_drain(d2.in, evbuffer_get_length(d2.in));
	evbuffer_drain(d2.out, evbuffer_get_length(d2.out));
	evbuffer_drain(up, evbuffer_get_length(up));
	d2.replies_max = 0;

	request(d.in, NBD_CMD_DISC, 1, 0, 0);
	res = relay_requests(&r, &d, up);
	test_result("relay_disc_reported", res == RELAY_DISC, "res %d", res);
	evbuffer_add(d.in, "garbage-garbage-garbage-garbage", 30);
	res = relay_requests(&r, &d, up);
	test_result("relay_bad_request_magic_reported",
	    res == RELAY_BAD_REQUEST, "res %d", res);
	evbuffer_drain(d.in, evbuffer_get_length(d.in));
	request(d.in, 77, 1, 0, 0);
	res = relay_requests(&r, &d, up);
	test_result("relay_unknown_command_reported",
	    res == RELAY_BAD_REQUEST && strstr(r.reason, "unknown command"),
	    "res %d", res);
	evbuffer_free(d.in);
	evbuffer_free(d.out);
	evbuffer_free(d2.in);
	evbuffer_free(d2.out);
	evbuffer_free(up);
	evbuffer_free(peer);
}

/* The offset of the request at byte at of up. */
static uint64_t
up_offset(struct evbuffer *up, size_t at)
{
	return up_field(up, at, 16);
}

/* The peer answers the request at byte at of up with block's bytes. */
static void
peer_answers(struct evbuffer *peer, struct evbuffer *up, size_t at,
    const unsigned char *image, uint32_t error)
{
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, error, up_handle(up, at));
	if (error == 0)
		evbuffer_add(peer, image + up_offset(up, at), RA_TEST_BLOCK);
}

/* A reply of RA_TEST_BLOCK bytes for handle, holding image at off. */
static int
answered(struct evbuffer *out, uint64_t handle, const unsigned char *image,
    uint64_t off)
{
	unsigned char hdr[NBD_REPLY_SIZE], got[RA_TEST_BLOCK];

	if (evbuffer_get_length(out) < sizeof(hdr) + sizeof(got))
		return 0;
	evbuffer_remove(out, hdr, sizeof(hdr));
	evbuffer_remove(out, got, sizeof(got));
	return nbd_get32(hdr) == NBD_SIMPLE_REPLY_MAGIC &&
	    nbd_get32(hdr + 4) == 0 && nbd_get64(hdr + 8) == handle &&
	    memcmp(got, image + off, sizeof(got)) == 0;
}

/*
 * Read-ahead: a sequential reader draws reads of its size after it, up to
 * the window; its next reads are answered from them or wait for them; a
 * random read draws nothing; a write drops what it overlaps.
 */
static void
test_readahead(void)
{
	static unsigned char image[1 << 20];
	struct relay r;
	struct relay_down d;
	struct evbuffer *up, *peer;
	const uint64_t window = 4 * RA_TEST_BLOCK;
	size_t i, n;
	int good;

	for (i = 0; i < sizeof(image); i++)
		image[i] = (unsigned char)(i * 7 + (i >> 12));
	relay_fixture(&r, &d, &up, &peer, sizeof(image), NBD_TFLAG_HAS_FLAGS,
	    0);
	ra_init(&r.ra, window, 0);

	request(d.in, NBD_CMD_READ, 100, 0, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	n = evbuffer_get_length(up) / NBD_REQUEST_SIZE;
	good = n == 5;
	for (i = 0; good && i < n; i++)
		good = up_offset(up, i * NBD_REQUEST_SIZE) == i * RA_TEST_BLOCK;
	test_result("readahead_sequential_read_asks_ahead_up_to_the_window",
	    good && r.ra.held == window, "%zu requests, held %llu", n,
	    (unsigned long long)r.ra.held);

	/* The next read waits for the block under way: no request of its own.
	 */
	request(d.in, NBD_CMD_READ, 101, RA_TEST_BLOCK, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	test_result("readahead_read_of_a_block_in_flight_asks_the_peer_nothing",
	    evbuffer_get_length(up) == 5 * NBD_REQUEST_SIZE &&
		evbuffer_get_length(d.in) == 0,
	    "up %zu", evbuffer_get_length(up));
	/* Replies in the peer's order: the reader's own, then the blocks. */
	peer_answers(peer, up, 0, image, 0);
	peer_answers(peer, up, 2 * NBD_REQUEST_SIZE, image, 0);
	relay_replies(&r, peer);
	good = answered(d.out, 100, image, 0);
	test_result("readahead_block_not_yet_read_is_held_not_sent",
	    good && evbuffer_get_length(d.out) == 0, "out %zu",
	    evbuffer_get_length(d.out));
	peer_answers(peer, up, NBD_REQUEST_SIZE, image, 0);
	relay_replies(&r, peer);
	test_result("readahead_waiting_read_answered_with_the_right_bytes",
	    answered(d.out, 101, image, RA_TEST_BLOCK), "out %zu",
	    evbuffer_get_length(d.out));

	/* A block already here answers at once and the window moves on. */
	evbuffer_drain(up, 3 * NBD_REQUEST_SIZE);
	request(d.in, NBD_CMD_READ, 102, 2 * RA_TEST_BLOCK, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	test_result("readahead_read_of_a_block_here_answered_at_once",
	    answered(d.out, 102, image, 2 * RA_TEST_BLOCK) && r.ra.hits == 2 &&
		r.bytes_read == 3 * RA_TEST_BLOCK,
	    "hits %llu", (unsigned long long)r.ra.hits);
	n = evbuffer_get_length(up) / NBD_REQUEST_SIZE;
	test_result("readahead_window_moves_on_as_blocks_are_read",
	    n == 4 &&
		up_offset(up, 2 * NBD_REQUEST_SIZE) == 5 * RA_TEST_BLOCK &&
		up_offset(up, 3 * NBD_REQUEST_SIZE) == 6 * RA_TEST_BLOCK &&
		r.ra.held <= window,
	    "%zu requests, held %llu", n, (unsigned long long)r.ra.held);

	/* A write over a block here and one under way: both dropped. */
	request(d.in, NBD_CMD_WRITE, 103, 3 * RA_TEST_BLOCK, 2 * RA_TEST_BLOCK);
	evbuffer_add(d.in, image, 2 * RA_TEST_BLOCK);
	peer_answers(peer, up, 0, image, 0); /* block 3 comes */
	relay_replies(&r, peer);
	relay_requests(&r, &d, up);
	peer_answers(peer, up, NBD_REQUEST_SIZE, image, 0); /* block 4: stale */
	relay_replies(&r, peer);
	evbuffer_drain(up, evbuffer_get_length(up));
	request(d.in, NBD_CMD_READ, 104, 3 * RA_TEST_BLOCK, RA_TEST_BLOCK);
	request(d.in, NBD_CMD_READ, 105, 4 * RA_TEST_BLOCK, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	/* Both reads go to the peer (after the read-ahead they draw). */
	n = evbuffer_get_length(up);
	test_result("readahead_write_drops_what_it_overlaps",
	    n >= 2 * NBD_REQUEST_SIZE &&
		up_offset(up, 0) == 3 * RA_TEST_BLOCK &&
		up_offset(up, n - NBD_REQUEST_SIZE) == 4 * RA_TEST_BLOCK &&
		evbuffer_get_length(d.out) == 0,
	    "up %zu out %zu", n, evbuffer_get_length(d.out));

	/*
	 * An answer of ours (from read-ahead, or an error) for a reader whose
	 * READ payload is still coming waits until that payload is whole.
	 */
	relay_down_gone(&r, &d);
	relay_free(&r);
	evbuffer_drain(up, evbuffer_get_length(up));
	evbuffer_drain(d.out, evbuffer_get_length(d.out));
	relay_init(&r, sizeof(image), NBD_TFLAG_HAS_FLAGS);
	ra_init(&r.ra, window, 0);
	request(d.in, NBD_CMD_READ, 110, 0, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	peer_answers(peer, up, NBD_REQUEST_SIZE, image, 0); /* block 1 */
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, up_handle(up, 0));
	evbuffer_add(peer, image, 1000);
	relay_replies(&r, peer);
	request(d.in, NBD_CMD_READ, 111, RA_TEST_BLOCK, RA_TEST_BLOCK);
	request(d.in, NBD_CMD_READ, 112, sizeof(image), RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	good = evbuffer_get_length(d.out) == NBD_REPLY_SIZE + 1000;
	evbuffer_add(peer, image + 1000, RA_TEST_BLOCK - 1000);
	relay_replies(&r, peer);
	good = good && answered(d.out, 110, image, 0) &&
	    answered(d.out, 111, image, RA_TEST_BLOCK);
	{
		unsigned char hdr[NBD_REPLY_SIZE];

		good = good &&
		    evbuffer_remove(d.out, hdr, sizeof(hdr)) ==
			(int)sizeof(hdr) &&
		    nbd_get64(hdr + 8) == 112 &&
		    nbd_get32(hdr + 4) == NBD_EINVAL &&
		    evbuffer_get_length(d.out) == 0;
	}
	test_result("answers_of_ours_wait_for_the_read_payload_passing", good,
	    "out %zu", evbuffer_get_length(d.out));
	evbuffer_drain(peer, evbuffer_get_length(peer));

	/* A random read draws nothing. */
	relay_down_gone(&r, &d);
	relay_free(&r);
	evbuffer_drain(up, evbuffer_get_length(up));
	evbuffer_drain(d.out, evbuffer_get_length(d.out));
	relay_init(&r, sizeof(image), NBD_TFLAG_HAS_FLAGS);
	ra_init(&r.ra, window, 0);
	request(d.in, NBD_CMD_READ, 106, 9 * RA_TEST_BLOCK, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	test_result("readahead_random_read_asks_nothing_ahead",
	    evbuffer_get_length(up) == NBD_REQUEST_SIZE && r.ra.held == 0,
	    "up %zu", evbuffer_get_length(up));

	/* An error for a block goes to whoever waits for it. */
	request(d.in, NBD_CMD_READ, 107, 10 * RA_TEST_BLOCK, RA_TEST_BLOCK);
	request(d.in, NBD_CMD_READ, 108, 11 * RA_TEST_BLOCK, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	peer_answers(peer, up, 0, image, 0);
	peer_answers(peer, up, NBD_REQUEST_SIZE, image, 0);
	peer_answers(peer, up, 2 * NBD_REQUEST_SIZE, image, NBD_EIO);
	relay_replies(&r, peer);
	{
		unsigned char hdr[NBD_REPLY_SIZE];

		answered(d.out, 106, image, 9 * RA_TEST_BLOCK);
		answered(d.out, 107, image, 10 * RA_TEST_BLOCK);
		evbuffer_remove(d.out, hdr, sizeof(hdr));
		test_result("readahead_error_reaches_the_read_waiting_for_it",
		    nbd_get64(hdr + 8) == 108 &&
			nbd_get32(hdr + 4) == NBD_EIO &&
			evbuffer_get_length(d.out) == 0 && d.owed == 0,
		    "handle %llu error %u out %zu",
		    (unsigned long long)nbd_get64(hdr + 8), nbd_get32(hdr + 4),
		    evbuffer_get_length(d.out));
	}

	/* A reader gone while it waits: its block still comes, unseen. */
	request(d.in, NBD_CMD_READ, 109, 12 * RA_TEST_BLOCK, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	relay_down_gone(&r, &d);
	for (i = 3 * NBD_REQUEST_SIZE; i < evbuffer_get_length(up);
	     i += NBD_REQUEST_SIZE)
		peer_answers(peer, up, i, image, 0);
	test_result("readahead_reader_gone_while_waiting_harms_nothing",
	    relay_replies(&r, peer) == RELAY_OK && relay_inflight(&r) == 0 &&
		evbuffer_get_length(d.out) == 0 && r.ra.held <= window,
	    "inflight %d", relay_inflight(&r));

	relay_fixture_free(&r, &d, up, peer);
}

/* The peer answers every request in up (each of one block), in order. */
static void
peer_answers_all(struct relay *r, struct evbuffer *peer, struct evbuffer *up,
    const unsigned char *image)
{
	size_t i;

	for (i = 0; i < evbuffer_get_length(up); i += NBD_REQUEST_SIZE)
		peer_answers(peer, up, i, image, 0);
	evbuffer_drain(up, evbuffer_get_length(up));
	relay_replies(r, peer);
}

/*
 * Read-ahead follows several sequential readers at once (the connections
 * of a multi-conn client, each reading its own part): one's reads do not
 * drop another's blocks, those reading share the window, random reads in
 * between leave a reader its blocks, and what an idle one holds goes to
 * one that reads.
 */
static void
test_readahead_streams(void)
{
	static unsigned char image[4 << 20];
	const uint64_t B = RA_TEST_BLOCK, window = 4 * B, mid = 128 * B;
	struct relay r;
	struct relay_down a = { buf(), buf(), 0, NULL, 0, 0, 0, 0 };
	struct relay_down b = { buf(), buf(), 0, NULL, 0, 0, 0, 0 };
	struct evbuffer *up = buf(), *peer = buf();
	uint64_t handle = 1, next;
	size_t i, n;
	int good;

	for (i = 0; i < sizeof(image); i++)
		image[i] = (unsigned char)(i * 7 + (i >> 12));
	relay_init(&r, sizeof(image), NBD_TFLAG_HAS_FLAGS);
	ra_init(&r.ra, window, 0);

	/* A reads from 0 and draws the whole window; B starts at mid. */
	request(a.in, NBD_CMD_READ, handle++, 0, B);
	relay_requests(&r, &a, up);
	request(b.in, NBD_CMD_READ, handle++, mid, B);
	request(b.in, NBD_CMD_READ, handle++, mid + B, B);
	relay_requests(&r, &b, up);
	/* A's next read still waits for its block, asking nothing. */
	request(a.in, NBD_CMD_READ, handle++, B, B);
	relay_requests(&r, &a, up);
	n = evbuffer_get_length(up) / NBD_REQUEST_SIZE;
	test_result("readahead_second_reader_keeps_the_first_ones_blocks",
	    n == 7 && up_offset(up, 6 * NBD_REQUEST_SIZE) == mid + B &&
		r.ra.held == window && r.ra.dropped == 0,
	    "%zu requests, held %llu, dropped %llu", n,
	    (unsigned long long)r.ra.held, (unsigned long long)r.ra.dropped);

	/*
	 * All come; A reads block 2 from what is here. Both read on: each
	 * holds half the window.
	 */
	peer_answers_all(&r, peer, up, image);
	good = answered(a.out, 1, image, 0) && answered(a.out, 4, image, B) &&
	    answered(b.out, 2, image, mid) &&
	    answered(b.out, 3, image, mid + B);
	request(a.in, NBD_CMD_READ, handle++, 2 * B, B);
	relay_requests(&r, &a, up);
	good = good && answered(a.out, handle - 1, image, 2 * B) &&
	    evbuffer_get_length(up) == 0;
	request(b.in, NBD_CMD_READ, handle++, mid + 2 * B, B);
	relay_requests(&r, &b, up);
	n = evbuffer_get_length(up) / NBD_REQUEST_SIZE;
	test_result("readahead_readers_share_the_window",
	    good && n == 3 && up_offset(up, NBD_REQUEST_SIZE) == mid + 3 * B &&
		up_offset(up, 2 * NBD_REQUEST_SIZE) == mid + 4 * B &&
		r.ra.held == window && r.ra.hits == 2 && r.ra.dropped == 0,
	    "good %d, %zu requests, held %llu hits %llu dropped %llu", good, n,
	    (unsigned long long)r.ra.held, (unsigned long long)r.ra.hits,
	    (unsigned long long)r.ra.dropped);
	peer_answers_all(&r, peer, up, image);
	evbuffer_drain(b.out, evbuffer_get_length(b.out));

	/* Two random reads between A's: A's next is answered from its block. */
	request(b.in, NBD_CMD_READ, handle++, 700 * B, B);
	request(b.in, NBD_CMD_READ, handle++, 900 * B, B);
	relay_requests(&r, &b, up);
	peer_answers_all(&r, peer, up, image);
	evbuffer_drain(b.out, evbuffer_get_length(b.out));
	request(a.in, NBD_CMD_READ, handle++, 3 * B, B);
	relay_requests(&r, &a, up);
	test_result("readahead_random_reads_between_leave_a_reader_its_blocks",
	    answered(a.out, handle - 1, image, 3 * B) && r.ra.hits == 3 &&
		r.ra.dropped == 0,
	    "hits %llu dropped %llu", (unsigned long long)r.ra.hits,
	    (unsigned long long)r.ra.dropped);
	peer_answers_all(&r, peer, up, image);

	/*
	 * A stops (its blocks 4 and 5 held); B reads on alone: once A is
	 * idle, B takes the whole window, A's blocks dropped for the room.
	 */
	good = 1;
	for (i = 0, next = mid + 3 * B; good && i < RA_IDLE + 8;
	     i++, next += B) {
		request(b.in, NBD_CMD_READ, handle++, next, B);
		relay_requests(&r, &b, up);
		peer_answers_all(&r, peer, up, image);
		good = answered(b.out, handle - 1, image, next);
	}
	request(b.in, NBD_CMD_READ, handle++, next, B);
	relay_requests(&r, &b, up);
	n = evbuffer_get_length(up) / NBD_REQUEST_SIZE;
	test_result("readahead_idle_readers_room_goes_to_one_reading",
	    good && r.ra.dropped == 2 * B && r.ra.held == window &&
		answered(b.out, handle - 1, image, next),
	    "good %d, %zu requests, held %llu dropped %llu", good, n,
	    (unsigned long long)r.ra.held, (unsigned long long)r.ra.dropped);

	relay_down_gone(&r, &a);
	relay_down_gone(&r, &b);
	relay_free(&r);
	evbuffer_free(a.in);
	evbuffer_free(a.out);
	evbuffer_free(b.in);
	evbuffer_free(b.out);
	evbuffer_free(up);
	evbuffer_free(peer);
}

/*
 * Paced read-ahead: until the peer's rate is known one block goes ahead;
 * then as much as it delivers in a quarter of the timeout, within the
 * window.
 */
static void
test_readahead_pace(void)
{
	static unsigned char image[1 << 20];
	struct relay r;
	struct relay_down d;
	struct evbuffer *up, *peer;
	const uint64_t window = 8 * RA_TEST_BLOCK;
	size_t n, i;

	relay_fixture(&r, &d, &up, &peer, sizeof(image), NBD_TFLAG_HAS_FLAGS,
	    0);
	ra_init(&r.ra, window, 8); /* a rate's 2 s ahead */
	request(d.in, NBD_CMD_READ, 1, 0, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	n = evbuffer_get_length(up) / NBD_REQUEST_SIZE;
	test_result("readahead_paced_one_block_ahead_before_a_rate_is_known",
	    n == 2 && r.ra.held == RA_TEST_BLOCK, "%zu requests", n);
	for (i = 0; i < n; i++)
		peer_answers(peer, up, i * NBD_REQUEST_SIZE, image, 0);
	relay_replies(&r, peer);
	ra_tick(&r); /* 2 blocks in this second */
	evbuffer_drain(up, evbuffer_get_length(up));
	request(d.in, NBD_CMD_READ, 2, RA_TEST_BLOCK, RA_TEST_BLOCK);
	relay_requests(&r, &d, up);
	n = evbuffer_get_length(up) / NBD_REQUEST_SIZE;
	test_result("readahead_paced_to_the_rate_times_a_quarter_timeout",
	    r.ra.rate == 2 * RA_TEST_BLOCK && r.ra.held == 4 * RA_TEST_BLOCK &&
		n == 4,
	    "rate %llu held %llu, %zu requests", (unsigned long long)r.ra.rate,
	    (unsigned long long)r.ra.held, n);
	relay_down_gone(&r, &d);
	relay_fixture_free(&r, &d, up, peer);
}

/*
 * The relay in a model world (relay_model.c), read-ahead on and off, to
 * a downstream of simple or structured replies, for many byte strings
 * from a fixed seed: every reply right, none lost.
 */
static void
test_relay_model(void)
{
	static uint8_t data[4096];
	char why[160] = "";
	uint32_t x = 20261128;
	int run, i, bad = -1, structured = 0;
	size_t len = 0;

	for (run = 0; run < 3000 && bad < 0; run++) {
		len = 64 + run % (sizeof(data) - 64);
		for (i = 0; i < (int)len; i++) {
			x = x * 1103515245 + 12345;
			data[i] = (uint8_t)(x >> 16);
		}
		structured += (data[0] & 0x80) != 0;
		if (relay_model_run(data, len, why, sizeof(why)) != 0)
			bad = run;
	}
	test_result("relay_model_every_reply_right_none_lost_3000_runs",
	    bad < 0 && structured > 1000,
	    "run %d (%zu bytes, read-ahead %s, %s replies; %d structured): %s",
	    bad, len, (data[0] & 1) ? "on" : "off",
	    (data[0] & 0x80) ? "structured" : "simple", structured, why);
}

/* A structured chunk's header at the front of out, drained. */
struct chunk {
	uint32_t magic;
	uint16_t flags, type;
	uint64_t handle;
	uint32_t length;
};

static int
chunk_take(struct evbuffer *out, struct chunk *c)
{
	unsigned char h[20];

	if (evbuffer_remove(out, h, sizeof(h)) != sizeof(h))
		return 0;
	c->magic = nbd_get32(h);
	c->flags = nbd_get16(h + 4);
	c->type = nbd_get16(h + 6);
	c->handle = nbd_get64(h + 8);
	c->length = nbd_get32(h + 16);
	return c->magic == NBD_STRUCTURED_REPLY_MAGIC &&
	    c->flags == NBD_REPLY_FLAG_DONE;
}

static void
test_structured(void)
{
	struct relay r;
	struct relay_down d;
	struct evbuffer *up, *peer;
	unsigned char data[4096], got[4096], p[12];
	enum relay_result res;
	struct chunk c;
	uint64_t h;
	int ok;

	memset(data, 0x3c, sizeof(data));
	relay_fixture(&r, &d, &up, &peer, 1 << 20,
	    NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH, 1);
	request(d.in, NBD_CMD_READ, 0x51, 8192, 4096);
	res = relay_requests(&r, &d, up);
	h = up_handle(up, 0);
	evbuffer_drain(up, evbuffer_get_length(up));
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h);
	evbuffer_add(peer, data, sizeof(data));
	relay_replies(&r, peer);
	ok = chunk_take(d.out, &c) && evbuffer_remove(d.out, p, 8) == 8 &&
	    evbuffer_remove(d.out, got, sizeof(got)) == sizeof(got);
	test_result("relay_structured_read_is_one_offset_data_chunk",
	    res == RELAY_OK && ok && c.type == NBD_REPLY_TYPE_OFFSET_DATA &&
		c.handle == 0x51 && c.length == 8 + 4096 &&
		nbd_get64(p) == 8192 && memcmp(got, data, 4096) == 0 &&
		evbuffer_get_length(d.out) == 0,
	    "ok %d type %u handle %#llx len %u", ok, c.type,
	    (unsigned long long)c.handle, c.length);

	request(d.in, NBD_CMD_READ, 0x52, (1 << 20) - 512, 1024);
	request(d.in, NBD_CMD_FLUSH, 0x53, 0, 0);
	relay_requests(&r, &d, up);
	ok = chunk_take(d.out, &c) && evbuffer_remove(d.out, p, 6) == 6;
	test_result("relay_structured_refusal_is_an_error_chunk",
	    ok && c.type == NBD_REPLY_TYPE_ERROR && c.handle == 0x52 &&
		c.length == 6 && nbd_get32(p) == NBD_EINVAL &&
		nbd_get16(p + 4) == 0,
	    "ok %d type %#x len %u", ok, c.type, c.length);
	h = up_handle(up, 0);
	evbuffer_drain(up, evbuffer_get_length(up));
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h);
	relay_replies(&r, peer);
	ok = chunk_take(d.out, &c);
	test_result("relay_structured_flush_is_a_none_chunk",
	    ok && c.type == NBD_REPLY_TYPE_NONE && c.handle == 0x53 &&
		c.length == 0 && evbuffer_get_length(d.out) == 0,
	    "ok %d type %#x len %u", ok, c.type, c.length);

	request(d.in, NBD_CMD_READ, 0x54, 0, 4096);
	relay_requests(&r, &d, up);
	h = up_handle(up, 0);
	evbuffer_drain(up, evbuffer_get_length(up));
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, NBD_EIO, h);
	relay_replies(&r, peer);
	ok = chunk_take(d.out, &c) && evbuffer_remove(d.out, p, 6) == 6;
	test_result("relay_structured_peer_error_is_an_error_chunk",
	    ok && c.type == NBD_REPLY_TYPE_ERROR && c.handle == 0x54 &&
		nbd_get32(p) == NBD_EIO && evbuffer_get_length(d.out) == 0 &&
		d.owed == 0,
	    "ok %d type %#x owed %llu", ok, c.type, (unsigned long long)d.owed);

	request(d.in, NBD_CMD_BLOCK_STATUS, 0x55, 4096, 65536);
	relay_requests(&r, &d, up);
	ok = chunk_take(d.out, &c) && evbuffer_remove(d.out, p, 4) == 4;
	test_result("relay_block_status_without_meta_context_einval",
	    ok && c.type == NBD_REPLY_TYPE_ERROR && nbd_get32(p) == NBD_EINVAL,
	    "ok %d type %#x", ok, c.type);
	evbuffer_drain(d.out, evbuffer_get_length(d.out));

	d.block_status = 1;
	request(d.in, NBD_CMD_BLOCK_STATUS, 0x56, 4096, 65536);
	request(d.in, NBD_CMD_BLOCK_STATUS, 0x57, (1 << 20) - 4096, 8192);
	res = relay_requests(&r, &d, up);
	ok = chunk_take(d.out, &c) && evbuffer_remove(d.out, p, 12) == 12;
	test_result("relay_block_status_one_data_extent_answered_here",
	    res == RELAY_OK && ok && c.type == NBD_REPLY_TYPE_BLOCK_STATUS &&
		c.handle == 0x56 && c.length == 12 &&
		nbd_get32(p) == NBD_META_ID_ALLOCATION &&
		nbd_get32(p + 4) == 65536 && nbd_get32(p + 8) == 0 &&
		evbuffer_get_length(up) == 0,
	    "ok %d type %#x len %u up %zu", ok, c.type, c.length,
	    evbuffer_get_length(up));
	ok = chunk_take(d.out, &c) && evbuffer_remove(d.out, p, 6) == 6;
	test_result("relay_block_status_beyond_end_einval",
	    ok && c.type == NBD_REPLY_TYPE_ERROR && c.handle == 0x57 &&
		nbd_get32(p) == NBD_EINVAL,
	    "ok %d type %#x", ok, c.type);

	/* Read-ahead answers a structured reader in chunks too. */
	relay_init(&r, 1 << 20, NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY);
	ra_init(&r.ra, 4 * 4096, 0);
	request(d.in, NBD_CMD_READ, 0x60, 0, 4096);
	request(d.in, NBD_CMD_READ, 0x61, 4096, 4096);
	relay_requests(&r, &d, up);
	while (evbuffer_get_length(up) >= NBD_REQUEST_SIZE) {
		h = up_handle(up, 0);
		evbuffer_drain(up, NBD_REQUEST_SIZE);
		reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h);
		evbuffer_add(peer, data, sizeof(data));
	}
	relay_replies(&r, peer);
	request(d.in, NBD_CMD_READ, 0x62, 8192, 4096);
	relay_requests(&r, &d, up);
	ok = 1;
	for (h = 0x60; h <= 0x62 && ok; h++)
		ok = chunk_take(d.out, &c) &&
		    c.type == NBD_REPLY_TYPE_OFFSET_DATA && c.handle == h &&
		    c.length == 8 + 4096 && evbuffer_remove(d.out, p, 8) == 8 &&
		    nbd_get64(p) == (h - 0x60) * 4096 &&
		    evbuffer_remove(d.out, got, 4096) == 4096 &&
		    memcmp(got, data, 4096) == 0;
	test_result("readahead_answers_structured_reader_in_chunks",
	    ok && r.ra.hits >= 1 && evbuffer_get_length(d.out) == 0,
	    "ok %d hits %llu left %zu", ok, (unsigned long long)r.ra.hits,
	    evbuffer_get_length(d.out));
	relay_fixture_free(&r, &d, up, peer);
}

/*
 * The reconnect window: unanswered requests kept, sent again in their
 * order (a cut-off READ first and alone, for its rest only), WRITEs with
 * their payload; samples unmarked by a write; EIO at the window's end.
 */
static void
test_relay_resend(void)
{
	struct relay r;
	struct relay_down d;
	struct evbuffer *up, *peer;
	unsigned char data[4096], wdata[512], got[4096], hdr[NBD_REPLY_SIZE];
	uint64_t h1, h2, h3;
	enum relay_result res;
	int n, ok;

	memset(data, 0x5a, sizeof(data));
	memset(wdata, 0xc3, sizeof(wdata));
	relay_fixture(&r, &d, &up, &peer, 1 << 20,
	    NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FUA, 0);
	relay_keep(&r);
	r.mark_offset[0] = 8192 + 256;
	r.mark_length[0] = 4096;
	r.mark_offset[1] = 65536;
	r.mark_length[1] = 4096;
	r.marks = 3;
	request(d.in, NBD_CMD_READ, 1, 0, 4096);
	request(d.in, NBD_CMD_WRITE, 2, 8192, 512);
	evbuffer_add(d.in, wdata, sizeof(wdata));
	request(d.in, NBD_CMD_READ, 3, 16384, 4096);
	res = relay_requests(&r, &d, up);
	h1 = up_handle(up, 0);
	h2 = up_handle(up, 28);
	h3 = up_handle(up, 28 + 28 + 512);
	test_result("relay_write_over_a_sample_unmarks_it_only",
	    res == RELAY_OK && r.marks == 2 && r.kept_bytes == 512, "marks %u",
	    r.marks);
	evbuffer_drain(up, evbuffer_get_length(up));

	/* The first READ's header and 1000 bytes arrive; then the drop. */
	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h1);
	evbuffer_add(peer, data, 1000);
	res = relay_replies(&r, peer);
	relay_peer_lost(&r);
	n = relay_resend(&r, up);
	test_result("relay_resend_cut_off_read_first_alone_for_its_rest",
	    n == 1 && evbuffer_get_length(up) == 28 && up_handle(up, 0) == h1 &&
		up_field(up, 0, 16) == 1000 &&
		(up_field(up, 0, 20) & 0xffffffff) == 3096 &&
		!relay_resend_due(&r),
	    "n %d up %zu", n, evbuffer_get_length(up));
	evbuffer_drain(up, evbuffer_get_length(up));

	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h3);
	res = relay_replies(&r, peer);
	test_result("relay_reply_to_a_request_not_resent_yet_is_violation",
	    res == RELAY_VIOLATION && strstr(r.reason, "not sent again"), "%s",
	    r.reason);
	evbuffer_drain(peer, evbuffer_get_length(peer));

	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h1);
	evbuffer_add(peer, data + 1000, 3096);
	res = relay_replies(&r, peer);
	test_result("relay_cut_off_read_completes_without_a_second_header",
	    res == RELAY_OK && evbuffer_get_length(d.out) == 16 + 4096 &&
		relay_resend_due(&r) && relay_inflight(&r) == 2,
	    "res %d out %zu", res, evbuffer_get_length(d.out));
	evbuffer_drain(d.out, evbuffer_get_length(d.out));

	n = relay_resend(&r, up);
	ok = n == 2 && evbuffer_get_length(up) == 28 + 512 + 28 &&
	    up_handle(up, 0) == h2 && up_field(up, 0, 16) == 8192 &&
	    up_handle(up, 28 + 512) == h3;
	if (ok) {
		struct evbuffer_ptr ptr;

		evbuffer_ptr_set(up, &ptr, 28, EVBUFFER_PTR_SET);
		evbuffer_copyout_from(up, &ptr, got, 512);
		ok = memcmp(got, wdata, 512) == 0;
	}
	test_result("relay_resend_the_rest_in_order_write_with_its_payload", ok,
	    "n %d up %zu", n, evbuffer_get_length(up));
	evbuffer_drain(up, evbuffer_get_length(up));

	reply(peer, NBD_SIMPLE_REPLY_MAGIC, 0, h2);
	res = relay_replies(&r, peer);
	test_result("relay_write_answered_frees_its_kept_payload",
	    res == RELAY_OK && r.kept_bytes == 0 && relay_inflight(&r) == 1,
	    "kept %llu", (unsigned long long)r.kept_bytes);
	evbuffer_drain(d.out, evbuffer_get_length(d.out));

	/* The window ends: the READ still out gets EIO, d is gone. */
	relay_peer_lost(&r);
	n = relay_fail_down(&r, &d, NBD_EIO);
	evbuffer_copyout(d.out, hdr, sizeof(hdr));
	test_result("relay_window_end_answers_eio",
	    n == 0 && evbuffer_get_length(d.out) == 16 &&
		nbd_get32(hdr + 4) == NBD_EIO && nbd_get64(hdr + 8) == 3,
	    "n %d out %zu", n, evbuffer_get_length(d.out));
	relay_free(&r);

	/* Without the window nothing is kept. */
	relay_init(&r, 1 << 20, NBD_TFLAG_HAS_FLAGS);
	request(d.in, NBD_CMD_WRITE, 2, 8192, 512);
	evbuffer_add(d.in, wdata, sizeof(wdata));
	res = relay_requests(&r, &d, up);
	test_result("relay_keeps_no_write_payload_without_the_window",
	    res == RELAY_OK && r.kept_bytes == 0 &&
		r.slots[up_handle(up, 0) & 0xffff].kept == NULL,
	    "kept %llu", (unsigned long long)r.kept_bytes);
	relay_fixture_free(&r, &d, up, peer);
}

/* A peer's answers to the sample reads, from image. */
static void
sample_answers(struct evbuffer *in, const struct sample_set *plan,
    const unsigned char *image, int order_reversed, int fail_one)
{
	int k, i;

	for (k = 0; k < SAMPLE_COUNT; k++) {
		i = order_reversed ? SAMPLE_COUNT - 1 - k : k;
		reply(in, NBD_SIMPLE_REPLY_MAGIC, i == fail_one ? NBD_EIO : 0,
		    SAMPLE_HANDLE | (uint64_t)i);
		if (i != fail_one)
			evbuffer_add(in, image + plan->offset[i],
			    plan->length[i]);
	}
}

static void
test_samples(void)
{
	static unsigned char image[1 << 20], other[1 << 20];
	struct sample_set plan;
	struct sampler a, b;
	struct evbuffer *out = buf(), *in = buf();
	enum sample_result r;
	size_t i;
	int ok;

	for (i = 0; i < sizeof(image); i++)
		image[i] = (unsigned char)(i * 7 + (i >> 12));
	memcpy(other, image, sizeof(other));
	other[(1 << 20) - 1] ^= 1; /* the last byte differs */

	sample_plan(&plan, sizeof(image));
	ok = plan.offset[0] == 0 && plan.offset[3] == sizeof(image) - 4096;
	for (i = 0; i < SAMPLE_COUNT; i++)
		ok = ok && plan.length[i] == 4096 &&
		    plan.offset[i] + plan.length[i] <= sizeof(image);
	test_result("sample_plan_spreads_four_blocks_to_the_end", ok,
	    "offsets %llu %llu", (unsigned long long)plan.offset[1],
	    (unsigned long long)plan.offset[3]);
	sample_plan(&plan, 1000);
	test_result("sample_plan_small_image_whole",
	    plan.offset[3] == 0 && plan.length[0] == 1000, "len %u",
	    plan.length[0]);

	sample_plan(&plan, sizeof(image));
	sample_start(&a, &plan, out);
	test_result("sample_reads_sent_under_their_own_handles",
	    evbuffer_get_length(out) == 4 * NBD_REQUEST_SIZE &&
		up_field(out, 0, 8) == SAMPLE_HANDLE &&
		up_field(out, 3 * 28, 8) == (SAMPLE_HANDLE | 3),
	    "out %zu", evbuffer_get_length(out));
	evbuffer_drain(out, evbuffer_get_length(out));
	sample_answers(in, &plan, image, 0, -1);
	/* fed a byte at a time for the first reply: partial input */
	r = SAMPLE_MORE;
	{
		struct evbuffer *drip = buf();
		unsigned char byte;

		while (evbuffer_get_length(in) > 0 && r == SAMPLE_MORE) {
			evbuffer_remove(in, &byte, 1);
			evbuffer_add(drip, &byte, 1);
			r = sample_input(&a, drip);
		}
		evbuffer_free(drip);
	}
	test_result("sample_replies_hashed_byte_by_byte",
	    r == SAMPLE_DONE && a.set.have == 15, "r %d have %u", r,
	    a.set.have);

	sample_start(&b, &plan, out);
	sample_answers(in, &plan, image, 1, -1);
	r = sample_input(&b, in);
	test_result("sample_same_image_in_any_order_matches",
	    r == SAMPLE_DONE && sample_differs(&a.set, 15, &b.set) == 0, "r %d",
	    r);

	sample_start(&b, &plan, out);
	sample_answers(in, &plan, other, 0, -1);
	r = sample_input(&b, in);
	test_result("sample_other_image_differs_at_its_last_block",
	    r == SAMPLE_DONE && sample_differs(&a.set, 15, &b.set) == 4, "r %d",
	    r);
	test_result("sample_written_over_does_not_count",
	    sample_differs(&a.set, 7, &b.set) == 0, "differs");

	sample_start(&b, &plan, out);
	sample_answers(in, &plan, image, 0, 2);
	r = sample_input(&b, in);
	test_result("sample_refused_by_the_new_peer_differs",
	    r == SAMPLE_DONE && b.set.have == 11 &&
		sample_differs(&a.set, 15, &b.set) == 3,
	    "r %d have %u", r, b.set.have);

	sample_start(&b, &plan, out);
	reply(in, NBD_SIMPLE_REPLY_MAGIC, 0, 0x1234);
	r = sample_input(&b, in);
	test_result("sample_reply_not_asked_for_is_an_error",
	    r == SAMPLE_ERROR && strstr(b.reason, "not asked for"), "%s",
	    b.reason);
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_free(in);
	evbuffer_free(out);
}

static void
test_resume_body(void)
{
	static const char *const bad[] = {
		"",
		"{}",
		"{\"secret\":\"00\"}",
		"{\"secret\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdeg\"}",
		"{\"secret\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef0\"}",
		"{\"secret\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef\",\"x\":1}",
		"{\"secret\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef\"}x",
		"[\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
		"cdef\"]",
		"{\"secret\":0123456789}",
		"{\"secret\":\"\\u0030123456789abcdef0123456789abcdef0123456789a"
		"bcdef0123456789abcdef\"}",
	};
	const char *good =
	    " {\n \"secret\" : \"0123456789ABCDEF0123456789abcdef"
	    "0123456789abcdef0123456789abcdef\" } \n";
	unsigned char secret[SESSION_SECRET_LEN];
	size_t i;
	int refused = 1, took;

	memset(secret, 0, sizeof(secret));
	took = resume_body_parse(good, strlen(good), secret) == 0;
	test_result("resume_body_takes_64_hex_digits",
	    took && secret[0] == 0x01 && secret[7] == 0xef &&
		secret[31] == 0xef,
	    "%02x", secret[0]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (resume_body_parse(bad[i], strlen(bad[i]), secret) != -1)
			refused = 0;
	test_result("resume_body_refuses_anything_else", refused,
	    "one was taken");
	/* a body cut short anywhere is refused, and never read past */
	for (i = 0; i < strlen(good) - 4; i++) {
		char *cut = malloc(i ? i : 1);

		memcpy(cut, good, i);
		if (resume_body_parse(cut, i, secret) != -1)
			refused = 0;
		free(cut);
	}
	test_result("resume_body_cut_short_is_refused", refused, "taken");
}

int
main(void)
{
	test_client_go(0);
	test_client_go(1);
	test_client_fallback(1);
	test_client_fallback(0);
	test_client_errors();
	test_server();
	test_server_network();
	test_relay();
	test_structured();
	test_relay_resend();
	test_samples();
	test_resume_body();
	test_readahead();
	test_readahead_pace();
	test_readahead_streams();
	test_relay_model();
	return test_done();
}
