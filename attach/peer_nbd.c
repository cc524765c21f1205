/*
 * The peer's NBD handshake as a fixed-newstyle server that speaks
 * first: greeting, options (GO/INFO, or EXPORT_NAME only as jsnbd does).
 */
#include <stdio.h>
#include <string.h>

#include "peer.h"
#include "peer_nbd.h"

#define NBD_OPT_MAX 65536 /* longer: skipped, ERR_TOO_BIG */
#define SLOW_HANDSHAKE_MS 60000

/* Stream bytes the caller may read at the returned pointer, n of them. */
const uint8_t *
nbd_need(struct ws *ws, size_t n)
{
	while (ws->in_len < n)
		if (ws_fill(ws) == -1)
			return NULL;
	return ws->in + ws->in_off;
}

/* Throws away n stream bytes without holding them all at once. */
int
nbd_skip(struct ws *ws, uint64_t n)
{
	size_t k;

	while (n > 0) {
		if (ws->in_len == 0 && ws_fill(ws) == -1)
			return -1;
		k = ws->in_len < n ? ws->in_len : n;
		ws_consume(ws, k);
		n -= k;
	}
	return 0;
}

uint16_t
nbd_tflags(const struct peer_opts *o)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH;

	if (o->read_only)
		f |= NBD_FLAG_READ_ONLY;
	else
		f |= NBD_FLAG_SEND_TRIM;
	return f;
}

static const char *
nbd_opt_name(uint32_t opt)
{
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return "EXPORT_NAME";
	case NBD_OPT_ABORT:
		return "ABORT";
	case NBD_OPT_LIST:
		return "LIST";
	case NBD_OPT_INFO:
		return "INFO";
	case NBD_OPT_GO:
		return "GO";
	case NBD_OPT_STRUCTURED_REPLY:
		return "STRUCTURED_REPLY";
	}
	return "unknown";
}

static int
nbd_opt_reply(struct ws *ws, const struct peer_opts *o, uint32_t opt,
    uint32_t type, const uint8_t *data, uint32_t len)
{
	uint64_t magic = NBD_REP_MAGIC;
	uint8_t *p;

	if (PEER_FAULT(o) == FAULT_BAD_OPTION_REPLY &&
	    (opt == NBD_OPT_GO || opt == NBD_OPT_INFO)) {
		peer_log(1, "fault: bad option reply magic");
		magic ^= 0xff;
	}
	if ((p = ws_out_reserve(ws, 20 + len)) == NULL)
		return -1;
	be64_put(p, magic);
	be32_put(p + 8, opt);
	be32_put(p + 12, type);
	be32_put(p + 16, len);
	if (len > 0)
		memcpy(p + 20, data, len);
	ws_out_commit(ws, 20 + len);
	return 0;
}

static int
nbd_greeting(struct ws *ws, const struct peer_opts *o)
{
	uint64_t magic = NBD_MAGIC;
	uint8_t *p;

	if (PEER_FAULT(o) == FAULT_SLOW_HANDSHAKE) {
		peer_log(1, "fault: %d s before the greeting",
		    SLOW_HANDSHAKE_MS / 1000);
		if (ws_idle(ws, SLOW_HANDSHAKE_MS) == -1)
			return -1;
	}
	if (PEER_FAULT(o) == FAULT_BAD_GREETING) {
		peer_log(1, "fault: bad greeting magic");
		magic ^= 0xff;
	}
	if ((p = ws_out_reserve(ws, 18)) == NULL)
		return -1;
	be64_put(p, magic);
	be64_put(p + 8, NBD_IHAVEOPT);
	be16_put(p + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	ws_out_commit(ws, 18);
	return ws_flush(ws);
}

/* GO and INFO: validate the request, describe the one export. */
static int
nbd_opt_go(struct ws *ws, const struct peer_opts *o, uint32_t opt,
    const uint8_t *data, uint32_t len, uint64_t size)
{
	uint8_t info[14];
	uint32_t namelen;
	uint16_t ninfo, i;

	if (len < 6 || (namelen = be32_get(data)) > len - 6 ||
	    (ninfo = be16_get(data + 4 + namelen),
		6 + namelen + 2 * (uint64_t)ninfo != len))
		return nbd_opt_reply(ws, o, opt, NBD_REP_ERR_INVALID, NULL, 0);
	peer_log(1, "option %s name \"%.*s\", %u info requests",
	    nbd_opt_name(opt), (int)namelen, (const char *)data + 4, ninfo);
	be16_put(info, NBD_INFO_EXPORT);
	be64_put(info + 2, size);
	be16_put(info + 10, nbd_tflags(o));
	if (nbd_opt_reply(ws, o, opt, NBD_REP_INFO, info, 12) == -1)
		return -1;
	for (i = 0; i < ninfo; i++) {
		if (be16_get(data + 6 + namelen + 2 * i) != NBD_INFO_BLOCK_SIZE)
			continue;
		be16_put(info, NBD_INFO_BLOCK_SIZE);
		be32_put(info + 2, 1);
		be32_put(info + 6, 4096);
		be32_put(info + 10, NBD_MAX_BLOCK);
		if (nbd_opt_reply(ws, o, opt, NBD_REP_INFO, info, 14) == -1)
			return -1;
	}
	if (nbd_opt_reply(ws, o, opt, NBD_REP_ACK, NULL, 0) == -1)
		return -1;
	return opt == NBD_OPT_GO;
}

/* The old way in: no reply header, and zero padding unless NO_ZEROES. */
static int
nbd_opt_export_name(struct ws *ws, const struct peer_opts *o,
    const uint8_t *data, uint32_t len, uint64_t size, int no_zeroes)
{
	size_t rlen = no_zeroes ? 10 : 10 + 124;
	uint8_t *p;

	peer_log(1, "option EXPORT_NAME \"%.*s\"", (int)len,
	    (const char *)data);
	if ((p = ws_out_reserve(ws, rlen)) == NULL)
		return -1;
	be64_put(p, size);
	be16_put(p + 8, nbd_tflags(o));
	memset(p + 10, 0, rlen - 10);
	ws_out_commit(ws, rlen);
	return 1;
}

/* Returns 1 when transmission starts, 0 for the next option, -1 if over. */
static int
nbd_option(struct ws *ws, const struct peer_opts *o, uint32_t opt,
    const uint8_t *data, uint32_t len, uint64_t size, int no_zeroes)
{
	if (opt == NBD_OPT_EXPORT_NAME)
		return nbd_opt_export_name(ws, o, data, len, size, no_zeroes);
	if (opt == NBD_OPT_ABORT) {
		peer_log(1, "option ABORT");
		if (nbd_opt_reply(ws, o, opt, NBD_REP_ACK, NULL, 0) == -1)
			return -1;
		return ws_close(ws, 1000, "NBD abort");
	}
	if (!o->export_name_only && (opt == NBD_OPT_GO || opt == NBD_OPT_INFO))
		return nbd_opt_go(ws, o, opt, data, len, size);
	peer_log(1, "option %s (%u): unsupported", nbd_opt_name(opt), opt);
	return nbd_opt_reply(ws, o, opt, NBD_REP_ERR_UNSUP, NULL, 0);
}

static int
nbd_client_flags(struct ws *ws, int *no_zeroes)
{
	const uint8_t *p;
	uint32_t cflags;

	if ((p = nbd_need(ws, 4)) == NULL)
		return -1;
	cflags = be32_get(p);
	ws_consume(ws, 4);
	peer_log(1, "client flags 0x%x", cflags);
	if (cflags &
	    ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return ws_close(ws, 1002, "NBD: unknown client flags");
	*no_zeroes = (cflags & NBD_FLAG_C_NO_ZEROES) != 0;
	return 0;
}

/*
 * The whole handshake. Returns 0 once transmission starts (replies
 * flushed), -1 when the connection is over (ws->status says how).
 */
int
nbd_handshake(struct ws *ws, const struct peer_opts *o, uint64_t size)
{
	const uint8_t *p;
	uint32_t opt, len;
	int no_zeroes = 0, r;

	if (nbd_greeting(ws, o) == -1 || nbd_client_flags(ws, &no_zeroes))
		return -1;
	for (;;) {
		if ((p = nbd_need(ws, 16)) == NULL)
			return -1;
		if (be64_get(p) != NBD_IHAVEOPT)
			return ws_close(ws, 1002, "NBD: bad option magic");
		opt = be32_get(p + 8);
		len = be32_get(p + 12);
		ws_consume(ws, 16);
		if (len > NBD_OPT_MAX) {
			peer_log(1, "option %u: %u bytes, too big", opt, len);
			if (nbd_skip(ws, len) == -1 ||
			    nbd_opt_reply(ws, o, opt, NBD_REP_ERR_TOO_BIG, NULL,
				0) == -1)
				return -1;
			continue;
		}
		if ((p = nbd_need(ws, len)) == NULL)
			return -1;
		r = nbd_option(ws, o, opt, p, len, size, no_zeroes);
		if (r == -1)
			return -1;
		ws_consume(ws, len);
		if (r == 1)
			return ws_flush(ws);
	}
}
