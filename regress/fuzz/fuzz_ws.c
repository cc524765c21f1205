/*
 * libFuzzer target for sessiond's WebSocket frame reader. Three header
 * bytes pick the chunk size, the room per call and the frame limit; the
 * rest is read twice, whole and in chunks with that room, and both reads
 * must yield the same data, events and close code.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"
#include "ws.h"

#define CHECK(x) \
	do { \
		if (!(x)) \
			__builtin_trap(); \
	} while (0)
#define MAX_EVENTS 64

struct outcome {
	struct evbuffer *data;
	struct evbuffer *replies; /* what the server would send */
	int nevents;
	struct ws_event events[MAX_EVENTS];
	int error;
	uint16_t code;
};

/* Reads what in holds; 1 if the stream is over (error). */
static int
drain(struct ws_reader *r, struct evbuffer *in, size_t room, struct outcome *o)
{
	struct ws_event ev;
	size_t before;
	int rv;

	for (;;) {
		before = evbuffer_get_length(o->data);
		rv = ws_read(r, in, o->data, room, &ev);
		CHECK(evbuffer_get_length(o->data) - before <= room);
		if (rv == WS_READ_ERROR) {
			CHECK(ev.close_code == 1002 || ev.close_code == 1003 ||
			    ev.close_code == 1007 || ev.close_code == 1009);
			CHECK(ev.error != NULL);
			CHECK(ws_write_close(o->replies, ev.close_code,
				  ev.error) == 0);
			o->error = 1;
			o->code = ev.close_code;
			return 1;
		}
		if (rv == WS_READ_EVENT) {
			CHECK(ev.len <= WS_CONTROL_MAX);
			if (ev.type == WS_OP_PING)
				CHECK(ws_write_control(o->replies, WS_OP_PONG,
					  ev.payload, ev.len) == 0);
			else if (ev.type == WS_OP_CLOSE) {
				CHECK(ev.len <= WS_CONTROL_MAX - 2);
				CHECK(json_utf8_valid((char *)ev.payload,
				    ev.len));
				CHECK(ws_write_close(o->replies, ev.close_code,
					  (char *)ev.payload) == 0);
			} else
				CHECK(ev.type == WS_OP_PONG);
			if (o->nevents < MAX_EVENTS)
				o->events[o->nevents++] = ev;
			continue;
		}
		CHECK(rv == WS_READ_MORE);
		/* Stopped for room, not input: come back for the rest. */
		if (room != WS_NO_LIMIT && room > 0 &&
		    evbuffer_get_length(o->data) - before == room)
			continue;
		return 0;
	}
}

static void
outcome_init(struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->data = evbuffer_new();
	o->replies = evbuffer_new();
	CHECK(o->data != NULL && o->replies != NULL);
}

static void
outcome_free(struct outcome *o)
{
	evbuffer_free(o->data);
	evbuffer_free(o->replies);
}

static int
same_events(const struct outcome *a, const struct outcome *b)
{
	int i;

	if (a->nevents != b->nevents || a->error != b->error ||
	    a->code != b->code)
		return 0;
	for (i = 0; i < a->nevents; i++) {
		if (a->events[i].type != b->events[i].type ||
		    a->events[i].close_code != b->events[i].close_code ||
		    a->events[i].len != b->events[i].len ||
		    memcmp(a->events[i].payload, b->events[i].payload,
			a->events[i].len) != 0)
			return 0;
	}
	return 1;
}

static int
same_bytes(struct evbuffer *a, struct evbuffer *b)
{
	size_t len = evbuffer_get_length(a);

	if (len != evbuffer_get_length(b))
		return 0;
	return len == 0 ||
	    memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), len) == 0;
}

/* The bulk XOR against the obvious one, on the input itself. */
static void
check_unmask(const uint8_t *data, size_t size)
{
	static uint8_t dst[4096 + 8];
	size_t off, i, len;

	if (size < 5)
		return;
	off = data[0] & 3;
	len = size - 4 < 4096 ? size - 4 : 4096;
	ws_unmask_copy(dst + (data[1] & 7), data + 4, len, data, off);
	for (i = 0; i < len; i++)
		CHECK(dst[(data[1] & 7) + i] ==
		    (data[4 + i] ^ data[(off + i) & 3]));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_reader whole_r, chunk_r;
	struct outcome whole, chunked;
	struct evbuffer *in, *data_copy, *frames;
	size_t chunk, room, max_frame, off = 0, n;

	if (size < 3)
		return 0;
	chunk = data[0] != 0 ? data[0] : 1;
	room = data[1] != 0 ? (size_t)data[1] * 3 : WS_NO_LIMIT;
	max_frame = data[2] < 255 ? (size_t)data[2] << 4 : WS_MAX_FRAME_DEFAULT;
	data += 3;
	size -= 3;
	check_unmask(data, size);

	outcome_init(&whole);
	outcome_init(&chunked);
	in = evbuffer_new();
	CHECK(in != NULL);

	ws_reader_init(&whole_r, max_frame);
	evbuffer_add(in, data, size);
	drain(&whole_r, in, WS_NO_LIMIT, &whole);
	CHECK(whole.error || evbuffer_get_length(in) < size + 1);
	evbuffer_drain(in, evbuffer_get_length(in));

	ws_reader_init(&chunk_r, max_frame);
	while (off < size) {
		n = size - off < chunk ? size - off : chunk;
		evbuffer_add(in, data + off, n);
		off += n;
		if (drain(&chunk_r, in, room, &chunked))
			break;
		/* Payload out never exceeds what came in. */
		CHECK(evbuffer_get_length(chunked.data) <= off);
		/* Waiting, only a partial header or control frame is kept,
		 * or data the room did not let through. */
		CHECK(room != WS_NO_LIMIT ||
		    evbuffer_get_length(in) < 14 + WS_CONTROL_MAX);
	}
	CHECK(same_events(&whole, &chunked));
	CHECK(same_bytes(whole.data, chunked.data));
	CHECK(same_bytes(whole.replies, chunked.replies));

	/* What came in goes back out as server frames, all of it. */
	data_copy = evbuffer_new();
	frames = evbuffer_new();
	CHECK(data_copy != NULL && frames != NULL);
	n = evbuffer_get_length(whole.data);
	evbuffer_add_buffer(data_copy, whole.data);
	CHECK(ws_write_binary(frames, data_copy, max_frame) == 0);
	CHECK(evbuffer_get_length(data_copy) == 0);
	CHECK(evbuffer_get_length(frames) >= n);

	evbuffer_free(data_copy);
	evbuffer_free(frames);
	evbuffer_free(in);
	outcome_free(&whole);
	outcome_free(&chunked);
	return 0;
}
