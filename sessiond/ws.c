/*
 * WebSocket frames for sessiond's NBD stream: a reader that checks each
 * client frame header and streams binary payload out unmasked, and the
 * writers for the frames we send (never masked: we are the server).
 *
 * Frame boundaries carry no meaning here, so payload is delivered as it
 * arrives, never buffered to a message end; only control frames (at most
 * 125 bytes) are collected whole.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"
#include "ws.h"

enum ws_state {
	WS_S_HEADER = 0,
	WS_S_DATA,
	WS_S_CONTROL,
	WS_S_CLOSED,
	WS_S_ERROR,
};

#define WS_HEADER_MAX 14	 /* 2 + 8 length + 4 mask */
#define WS_MOVE_STEP (64 * 1024) /* one reservation in data_out */
#define WS_PEEK_VECS 16
#define WS_WRITE_MAX (1U << 30) /* evbuffer_remove_buffer takes int */

/* max_frame: the largest data frame payload accepted, 0 for the default. */
void
ws_reader_init(struct ws_reader *r, size_t max_frame)
{
	memset(r, 0, sizeof(*r));
	r->max_frame = max_frame != 0 ? max_frame : WS_MAX_FRAME_DEFAULT;
	r->state = WS_S_HEADER;
}

/*
 * dst = src XOR mask, the mask starting at byte off of its 4. 32 bytes a
 * step in vectors of 16 (SSE2 or NEON where the target has them; the
 * compiler splits them into words where not), then 8, then single bytes,
 * each against a copy of the mask rotated by off. memcpy keeps unaligned
 * access defined and compiles to plain loads and stores.
 */
typedef uint64_t ws_v16 __attribute__((vector_size(16)));

void
ws_unmask_copy(uint8_t *restrict dst, const uint8_t *restrict src, size_t len,
    const uint8_t mask[4], size_t off)
{
	uint8_t rot[16];
	ws_v16 m16, a, b;
	uint64_t m64, w;
	size_t i;

	for (i = 0; i < sizeof(rot); i++)
		rot[i] = mask[(off + i) & 3];
	memcpy(&m16, rot, sizeof(m16));
	memcpy(&m64, rot, sizeof(m64));
	for (i = 0; i + 32 <= len; i += 32) {
		memcpy(&a, src + i, sizeof(a));
		memcpy(&b, src + i + 16, sizeof(b));
		a ^= m16;
		b ^= m16;
		memcpy(dst + i, &a, sizeof(a));
		memcpy(dst + i + 16, &b, sizeof(b));
	}
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, src + i, sizeof(w));
		w ^= m64;
		memcpy(dst + i, &w, sizeof(w));
	}
	for (; i < len; i++)
		dst[i] = src[i] ^ rot[i & 7];
}

static int
ws_fail(struct ws_reader *r, uint16_t code, const char *why)
{
	r->state = WS_S_ERROR;
	r->error_code = code;
	r->error = why;
	return -1;
}

/*
 * Reads and checks one client frame header. Returns 1 when it is consumed,
 * 0 when more input is needed, -1 on a violation. What the first two bytes
 * show is checked before waiting for the rest of the header.
 */
static int
ws_read_header(struct ws_reader *r, struct evbuffer *in)
{
	uint8_t h[WS_HEADER_MAX];
	size_t avail = evbuffer_get_length(in), need, i;
	uint64_t len;
	uint8_t fin, op, len7;

	if (avail < 2)
		return 0;
	if (evbuffer_copyout(in, h, avail < sizeof(h) ? avail : sizeof(h)) < 2)
		return ws_fail(r, WS_CLOSE_INTERNAL, "buffer failure");
	fin = (h[0] & 0x80) != 0;
	op = h[0] & 0x0f;
	len7 = h[1] & 0x7f;

	if (h[0] & 0x70)
		return ws_fail(r, WS_CLOSE_PROTOCOL, "reserved bits set");
	switch (op) {
	case WS_OP_CONTINUATION:
		if (!r->fragmented)
			return ws_fail(r, WS_CLOSE_PROTOCOL,
			    "continuation without a message");
		break;
	case WS_OP_TEXT:
		return ws_fail(r, WS_CLOSE_UNSUPPORTED,
		    "text frames not accepted");
	case WS_OP_BINARY:
		if (r->fragmented)
			return ws_fail(r, WS_CLOSE_PROTOCOL,
			    "new message inside a fragmented one");
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!fin)
			return ws_fail(r, WS_CLOSE_PROTOCOL,
			    "fragmented control frame");
		if (len7 > WS_CONTROL_MAX)
			return ws_fail(r, WS_CLOSE_PROTOCOL,
			    "control frame too long");
		break;
	default:
		return ws_fail(r, WS_CLOSE_PROTOCOL, "reserved opcode");
	}
	if (!(h[1] & 0x80))
		return ws_fail(r, WS_CLOSE_PROTOCOL, "unmasked client frame");

	need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
	if (avail < need)
		return 0;
	if (len7 == 126)
		len = (uint64_t)h[2] << 8 | h[3];
	else if (len7 == 127) {
		if (h[2] & 0x80)
			return ws_fail(r, WS_CLOSE_PROTOCOL,
			    "64-bit length with the top bit set");
		for (len = 0, i = 2; i < 10; i++)
			len = len << 8 | h[i];
	} else
		len = len7;
	/* Non-minimal length encodings are tolerated: they harm nothing. */
	if (op < WS_OP_CLOSE && len > r->max_frame)
		return ws_fail(r, WS_CLOSE_TOO_BIG, "frame too big");
	need += 4;
	if (avail < need)
		return 0;

	memcpy(r->mask, h + need - 4, 4);
	evbuffer_drain(in, need);
	r->opcode = op;
	r->fin = fin;
	r->remaining = len;
	r->mask_off = 0;
	if (op < WS_OP_CLOSE) {
		r->fragmented = !fin;
		r->state = WS_S_DATA;
	} else {
		r->ctl_len = 0;
		r->state = WS_S_CONTROL;
	}
	return 1;
}

/*
 * Moves n payload bytes from in to out, unmasking on the way: each step
 * reserves one contiguous extent in out and XORs the input's own segments
 * into it (evbuffer_peek), so nothing is pulled up or copied twice.
 */
static int
ws_move(struct ws_reader *r, struct evbuffer *in, struct evbuffer *out,
    size_t n)
{
	struct evbuffer_iovec src[WS_PEEK_VECS], dst;
	size_t step, done, len;
	int nsrc, i;

	while (n > 0) {
		step = n < WS_MOVE_STEP ? n : WS_MOVE_STEP;
		nsrc = evbuffer_peek(in, step, NULL, src, WS_PEEK_VECS);
		if (nsrc <= 0)
			return -1;
		if (nsrc > WS_PEEK_VECS)
			nsrc = WS_PEEK_VECS;
		if (evbuffer_reserve_space(out, step, &dst, 1) != 1)
			return -1;
		done = 0;
		for (i = 0; i < nsrc && done < step; i++) {
			len = src[i].iov_len;
			if (len > step - done)
				len = step - done;
			ws_unmask_copy((uint8_t *)dst.iov_base + done,
			    src[i].iov_base, len, r->mask, r->mask_off);
			r->mask_off = (r->mask_off + len) & 3;
			done += len;
		}
		dst.iov_len = done;
		if (evbuffer_commit_space(out, &dst, 1) == -1 ||
		    evbuffer_drain(in, done) == -1)
			return -1;
		n -= done;
	}
	return 0;
}

/* Close codes a peer may send (RFC 6455 7.4, IANA registry). */
static int
ws_close_code_valid(uint16_t code)
{
	if (code >= 3000 && code <= 4999)
		return 1;
	if (code < 1000 || code > 1014)
		return 0;
	return code != 1004 && code != 1005 && code != 1006;
}

/* A whole control frame is in r->ctl: report it. */
static int
ws_control(struct ws_reader *r, struct ws_event *ev)
{
	ev->type = r->opcode;
	ev->close_code = 0;
	ev->error = NULL;
	if (r->opcode != WS_OP_CLOSE) {
		memcpy(ev->payload, r->ctl, r->ctl_len);
		ev->len = r->ctl_len;
		ev->payload[ev->len] = '\0';
		return WS_READ_EVENT;
	}
	if (r->ctl_len == 1)
		return ws_fail(r, WS_CLOSE_PROTOCOL, "close payload of 1 byte");
	if (r->ctl_len == 0) {
		ev->close_code = WS_CLOSE_NO_STATUS;
		ev->len = 0;
	} else {
		ev->close_code = (uint16_t)(r->ctl[0] << 8 | r->ctl[1]);
		if (!ws_close_code_valid(ev->close_code))
			return ws_fail(r, WS_CLOSE_PROTOCOL,
			    "invalid close code");
		if (!json_utf8_valid((const char *)r->ctl + 2, r->ctl_len - 2))
			return ws_fail(r, WS_CLOSE_INVALID_DATA,
			    "close reason not UTF-8");
		ev->len = r->ctl_len - 2;
		memcpy(ev->payload, r->ctl + 2, ev->len);
	}
	ev->payload[ev->len] = '\0';
	r->state = WS_S_CLOSED;
	return WS_READ_EVENT;
}

/*
 * Consumes what it can of in: binary payload goes to data_out unmasked, at
 * most room bytes per call (WS_NO_LIMIT for none); headers and control
 * frames are read even when room is 0. Returns WS_READ_EVENT for each
 * control frame (answer a ping with its payload in a pong, a close with a
 * close), WS_READ_MORE when in is used up or room is, WS_READ_ERROR with
 * the close code to send in ev->close_code. After a close, input is
 * discarded.
 */
int
ws_read(struct ws_reader *r, struct evbuffer *in, struct evbuffer *data_out,
    size_t room, struct ws_event *ev)
{
	size_t avail, n;
	int rv;

	for (;;) {
		switch (r->state) {
		case WS_S_HEADER:
			if ((rv = ws_read_header(r, in)) == 0)
				return WS_READ_MORE;
			if (rv == -1)
				goto error;
			break;
		case WS_S_DATA:
			if (r->remaining == 0) {
				r->state = WS_S_HEADER;
				break;
			}
			avail = evbuffer_get_length(in);
			n = avail < room ? avail : room;
			if (n > r->remaining)
				n = r->remaining;
			if (n == 0)
				return WS_READ_MORE;
			if (ws_move(r, in, data_out, n) == -1) {
				ws_fail(r, WS_CLOSE_INTERNAL, "buffer failure");
				goto error;
			}
			r->remaining -= n;
			room -= n;
			break;
		case WS_S_CONTROL:
			avail = evbuffer_get_length(in);
			n = avail < r->remaining ? avail : r->remaining;
			if (n > 0) {
				uint8_t raw[WS_CONTROL_MAX];

				evbuffer_remove(in, raw, n);
				ws_unmask_copy(r->ctl + r->ctl_len, raw, n,
				    r->mask, r->mask_off);
				r->mask_off = (r->mask_off + n) & 3;
				r->ctl_len += n;
				r->remaining -= n;
			}
			if (r->remaining > 0)
				return WS_READ_MORE;
			r->state = WS_S_HEADER;
			if ((rv = ws_control(r, ev)) == -1)
				goto error;
			return rv;
		case WS_S_CLOSED:
			evbuffer_drain(in, evbuffer_get_length(in));
			return WS_READ_MORE;
		case WS_S_ERROR:
		default:
			goto error;
		}
	}
error:
	ev->type = WS_OP_CLOSE;
	ev->close_code = r->error_code;
	ev->error = r->error;
	ev->len = 0;
	ev->payload[0] = '\0';
	return WS_READ_ERROR;
}

/* Server frame header, never masked; returns its length. */
static size_t
ws_frame_header(uint8_t h[10], uint8_t fin_op, uint64_t len)
{
	int i;

	h[0] = fin_op;
	if (len < 126) {
		h[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		return 4;
	}
	h[1] = 127;
	for (i = 0; i < 8; i++)
		h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

/*
 * Moves all of data into out as final binary frames of at most max_frame
 * payload bytes each (0: as few frames as possible). The payload moves
 * by evbuffer chains, not by copying.
 */
int
ws_write_binary(struct evbuffer *out, struct evbuffer *data, size_t max_frame)
{
	uint8_t h[10];
	size_t len, n, hlen;

	if (max_frame == 0 || max_frame > WS_WRITE_MAX)
		max_frame = WS_WRITE_MAX;
	while ((len = evbuffer_get_length(data)) > 0) {
		n = len < max_frame ? len : max_frame;
		hlen = ws_frame_header(h, 0x80 | WS_OP_BINARY, n);
		if (evbuffer_add(out, h, hlen) == -1 ||
		    evbuffer_remove_buffer(data, out, n) != (int)n)
			return -1;
	}
	return 0;
}

int
ws_write_control(struct evbuffer *out, enum ws_opcode op, const void *payload,
    size_t len)
{
	uint8_t frame[2 + WS_CONTROL_MAX];

	if ((op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG) ||
	    len > WS_CONTROL_MAX)
		return -1;
	ws_frame_header(frame, 0x80 | op, len);
	if (len > 0)
		memcpy(frame + 2, payload, len);
	return evbuffer_add(out, frame, 2 + len);
}

/*
 * A close frame. Codes that must not go on the wire (0, 1005, 1006, 1015)
 * send an empty close; the reason is cut to fit 125 bytes on a UTF-8
 * character boundary, and to its valid UTF-8 prefix.
 */
int
ws_write_close(struct evbuffer *out, uint16_t code, const char *reason)
{
	uint8_t payload[WS_CONTROL_MAX];
	const unsigned char *s = (const unsigned char *)reason;
	size_t len = 0, n, rlen;

	if (code == 0 || code == 1005 || code == 1006 || code == 1015)
		return ws_write_control(out, WS_OP_CLOSE, NULL, 0);
	if (!ws_close_code_valid(code))
		return -1;
	payload[0] = code >> 8;
	payload[1] = code & 0xff;
	rlen = reason != NULL ? strlen(reason) : 0;
	while (len < rlen) {
		n = json_utf8_char(s + len, rlen - len);
		if (n == 0 || len + n > WS_CONTROL_MAX - 2)
			break;
		len += n;
	}
	if (len > 0)
		memcpy(payload + 2, reason, len);
	return ws_write_control(out, WS_OP_CLOSE, payload, 2 + len);
}
