/*
 * WebSocket regress: the handshake, the frame reader's data and close
 * codes as a client would see them, and the frames the server writes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "test.h"
#include "ws.h"

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* What a whole input yields: the data, the control events, an error. */
struct run {
	struct evbuffer *data;
	int nevents;
	struct ws_event events[8];
	int error;
	uint16_t code;
};

static void
run_init(struct run *run)
{
	memset(run, 0, sizeof(*run));
	if ((run->data = evbuffer_new()) == NULL)
		abort();
}

static void
run_free(struct run *run)
{
	evbuffer_free(run->data);
}

/* A client frame; the payload is masked the slow, obvious way. */
static void
frame(struct evbuffer *b, int fin, int op, int rsv, int masked,
    const uint8_t *payload, uint64_t len)
{
	uint8_t h[14], *p;
	size_t hlen, i;

	h[0] = (fin ? 0x80 : 0) | (rsv << 4) | op;
	if (len < 126) {
		h[1] = len;
		hlen = 2;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = len >> 8;
		h[3] = len;
		hlen = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = len >> (56 - 8 * i);
		hlen = 10;
	}
	if (masked) {
		h[1] |= 0x80;
		memcpy(h + hlen, key, 4);
		hlen += 4;
	}
	evbuffer_add(b, h, hlen);
	if (payload == NULL)
		return;
	if ((p = malloc(len + 1)) == NULL)
		abort();
	for (i = 0; i < len; i++)
		p[i] = masked ? payload[i] ^ key[i % 4] : payload[i];
	evbuffer_add(b, p, len);
	free(p);
}

static void
bin(struct evbuffer *b, int fin, int op, const uint8_t *payload, uint64_t len)
{
	frame(b, fin, op, 0, 1, payload, len);
}

static uint8_t *
pattern(size_t len)
{
	uint8_t *p;
	size_t i;

	if ((p = malloc(len + 1)) == NULL)
		abort();
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 8) + 1);
	return p;
}

/* Calls ws_read until it wants more input or fails. */
static int
run_read(struct ws_reader *r, struct evbuffer *in, struct run *run)
{
	struct ws_event ev;
	int rv;

	for (;;) {
		rv = ws_read(r, in, run->data, WS_NO_LIMIT, &ev);
		if (rv == WS_READ_EVENT) {
			if (run->nevents < 8)
				run->events[run->nevents++] = ev;
			continue;
		}
		if (rv == WS_READ_ERROR) {
			run->error = 1;
			run->code = ev.close_code;
		}
		return rv;
	}
}

static void
run_whole(struct evbuffer *in, size_t max_frame, struct run *run)
{
	struct ws_reader r;

	ws_reader_init(&r, max_frame);
	run_read(&r, in, run);
}

/* The same input handed over one byte at a time. */
static void
run_bytewise(struct evbuffer *src, size_t max_frame, struct run *run)
{
	struct ws_reader r;
	struct evbuffer *in = evbuffer_new();
	uint8_t c;

	ws_reader_init(&r, max_frame);
	while (evbuffer_remove(src, &c, 1) == 1) {
		evbuffer_add(in, &c, 1);
		if (run_read(&r, in, run) == WS_READ_ERROR)
			break;
	}
	evbuffer_free(in);
}

static int
data_is(struct run *run, const uint8_t *want, size_t len)
{
	size_t have = evbuffer_get_length(run->data);
	const uint8_t *p;

	if (have != len)
		return 0;
	if (len == 0)
		return 1;
	p = evbuffer_pullup(run->data, -1);
	return memcmp(p, want, len) == 0;
}

static void
test_accept_key(void)
{
	char out[WS_ACCEPT_LEN + 1];
	int rv;

	/* The example of RFC 6455 section 1.3. */
	rv = ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	test_result("ws_accept_key_rfc6455_sample",
	    rv == 0 && strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
	    "got %d %s", rv, out);
	test_result("ws_accept_key_rejects_short_key",
	    ws_accept_key("dGhlIHNhbXBsZQ==", out) == -1, "accepted");
	test_result("ws_accept_key_rejects_key_without_padding",
	    ws_accept_key("dGhlIHNhbXBsZSBub25jZQAA", out) == -1, "accepted");
	test_result("ws_accept_key_rejects_non_base64",
	    ws_accept_key("dGhlIHNhbXBsZSBub25j*Q==", out) == -1, "accepted");
	test_result("ws_accept_key_rejects_empty", ws_accept_key("", out) == -1,
	    "accepted");
}

static void
upgrade_request(struct http_request *req)
{
	memset(req, 0, sizeof(*req));
	req->method = HTTP_METHOD_GET;
	req->version = HTTP_VERSION_11;
	strcpy(req->path, "/nbd/cdrom");
	strcpy(req->host, "bmc");
	req->has_host = 1;
	strcpy(req->upgrade, "websocket");
	req->connection = HTTP_CONN_UPGRADE | HTTP_CONN_KEEP_ALIVE;
	strcpy(req->ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
	strcpy(req->ws_version, "13");
	strcpy(req->ws_protocol, "binary, tok.EN-1");
}

static void
test_handshake(void)
{
	struct http_request *req = malloc(sizeof(*req));
	struct ws_handshake hs;
	int rv;

	upgrade_request(req);
	rv = ws_handshake_check(req, &hs);
	test_result("ws_handshake_accepts_rfc6455_upgrade",
	    rv == 0 && strcmp(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
	    "rv %d status %d %s", rv, hs.status, hs.error);

	strcpy(req->upgrade, "WebSocket");
	test_result("ws_handshake_upgrade_token_case_insensitive",
	    ws_handshake_check(req, &hs) == 0, "status %d", hs.status);

	upgrade_request(req);
	req->method = HTTP_METHOD_POST;
	rv = ws_handshake_check(req, &hs);
	test_result("ws_handshake_post_is_405", rv == -1 && hs.status == 405,
	    "status %d", hs.status);

	upgrade_request(req);
	req->version = HTTP_VERSION_10;
	rv = ws_handshake_check(req, &hs);
	test_result("ws_handshake_http10_is_400", rv == -1 && hs.status == 400,
	    "status %d", hs.status);

	upgrade_request(req);
	req->upgrade[0] = '\0';
	rv = ws_handshake_check(req, &hs);
	test_result("ws_handshake_without_upgrade_is_400",
	    rv == -1 && hs.status == 400, "status %d", hs.status);

	upgrade_request(req);
	req->connection = HTTP_CONN_KEEP_ALIVE;
	rv = ws_handshake_check(req, &hs);
	test_result("ws_handshake_connection_without_upgrade_is_400",
	    rv == -1 && hs.status == 400, "status %d", hs.status);

	upgrade_request(req);
	strcpy(req->ws_version, "8");
	rv = ws_handshake_check(req, &hs);
	test_result("ws_handshake_version_8_is_426",
	    rv == -1 && hs.status == 426, "status %d", hs.status);

	upgrade_request(req);
	req->ws_version[0] = '\0';
	rv = ws_handshake_check(req, &hs);
	test_result("ws_handshake_missing_version_is_400",
	    rv == -1 && hs.status == 400, "status %d", hs.status);

	upgrade_request(req);
	strcpy(req->ws_key, "c2hvcnQ=");
	rv = ws_handshake_check(req, &hs);
	test_result("ws_handshake_bad_key_is_400", rv == -1 && hs.status == 400,
	    "status %d", hs.status);
	free(req);
}

static void
test_protocols(void)
{
	const char *list = " binary ,, tok.EN-1,\tx ", *cur = list, *tok;
	const char *want[] = { "binary", "tok.EN-1", "x" };
	size_t len;
	int n = 0, same = 1;

	while (ws_protocol_next(&cur, &tok, &len)) {
		if (n >= 3 || len != strlen(want[n]) ||
		    memcmp(tok, want[n], len) != 0)
			same = 0;
		n++;
	}
	test_result("ws_protocol_list_iterates_trimmed_values", same && n == 3,
	    "n %d", n);
	test_result("ws_protocol_offered_matches_exact_value",
	    ws_protocol_offered(list, "tok.EN-1") &&
		!ws_protocol_offered(list, "tok.en-1") &&
		!ws_protocol_offered(list, "bin") &&
		!ws_protocol_offered("", "binary"),
	    "mismatch");
}

static void
test_handshake_response(void)
{
	struct evbuffer *out = evbuffer_new();
	const char *want =
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	    "Sec-WebSocket-Protocol: binary\r\n\r\n";
	size_t len;
	int rv;

	rv = ws_handshake_response(out,
	    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "binary");
	len = evbuffer_get_length(out);
	test_result("ws_handshake_response_echoes_protocol",
	    rv == 0 && len == strlen(want) &&
		memcmp(evbuffer_pullup(out, -1), want, len) == 0,
	    "wrong answer");
	evbuffer_drain(out, len);

	rv = ws_handshake_response(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", NULL);
	test_result("ws_handshake_response_without_protocol",
	    rv == 0 &&
		evbuffer_search(out, "Sec-WebSocket-Protocol", 22, NULL).pos ==
		    -1,
	    "protocol sent");
	evbuffer_drain(out, evbuffer_get_length(out));

	rv = ws_handshake_response(out,
	    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "a\r\nSet-Cookie: x");
	test_result("ws_handshake_response_refuses_header_injection", rv == -1,
	    "accepted");
	evbuffer_free(out);
}

static void
test_lengths(void)
{
	static const size_t lens[] = { 0, 1, 125, 126, 65535, 65536,
		1024 * 1024 + 3 };
	char name[80];
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct evbuffer *in = evbuffer_new();
		uint8_t *p = pattern(lens[i]);
		struct run run;

		run_init(&run);
		bin(in, 1, WS_OP_BINARY, p, lens[i]);
		run_whole(in, 2 * 1024 * 1024, &run);
		snprintf(name, sizeof(name),
		    "ws_masked_frame_of_%zu_bytes_reads_back", lens[i]);
		test_result(name,
		    !run.error && data_is(&run, p, lens[i]) &&
			evbuffer_get_length(in) == 0,
		    "error %d code %u, %zu bytes", run.error, run.code,
		    evbuffer_get_length(run.data));
		run_free(&run);
		free(p);
		evbuffer_free(in);
	}
}

/* Several frames of awkward lengths, a ping among them. */
static void
mixed_stream(struct evbuffer *in, const uint8_t *p, size_t *total)
{
	static const size_t lens[] = { 3, 0, 130, 1, 70000, 7, 126 };
	size_t i, off = 0;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		bin(in, 1, WS_OP_BINARY, p + off, lens[i]);
		off += lens[i];
		if (i == 2)
			bin(in, 1, WS_OP_PING, (const uint8_t *)"hi", 2);
	}
	*total = off;
}

static void
test_bytewise(void)
{
	struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
	uint8_t *p = pattern(80000);
	struct run whole, bytes;
	size_t total;

	mixed_stream(a, p, &total);
	mixed_stream(b, p, &total);
	run_init(&whole);
	run_init(&bytes);
	run_whole(a, WS_MAX_FRAME_DEFAULT, &whole);
	run_bytewise(b, WS_MAX_FRAME_DEFAULT, &bytes);
	test_result("ws_byte_by_byte_equals_all_at_once",
	    !whole.error && !bytes.error && data_is(&whole, p, total) &&
		data_is(&bytes, p, total) && whole.nevents == 1 &&
		bytes.nevents == 1 && bytes.events[0].len == 2,
	    "differ: %zu %zu", evbuffer_get_length(whole.data),
	    evbuffer_get_length(bytes.data));
	run_free(&whole);
	run_free(&bytes);
	evbuffer_free(a);
	evbuffer_free(b);
	free(p);
}

/* The bulk XOR against the obvious loop, at every offset and length. */
static void
test_unmask(void)
{
	uint8_t src[64], dst[64], mask[4] = { 1, 0x80, 0x55, 0xfe };
	size_t off, len, i;
	int good = 1;

	for (i = 0; i < sizeof(src); i++)
		src[i] = i * 13;
	for (off = 0; off < 4; off++) {
		for (len = 0; len <= sizeof(src) - 3; len++) {
			ws_unmask_copy(dst + 3, src + 1, len, mask, off);
			for (i = 0; i < len; i++)
				if (dst[3 + i] !=
				    (src[1 + i] ^ mask[(off + i) % 4]))
					good = 0;
		}
	}
	test_result("ws_unmask_matches_bytewise_xor_at_every_offset", good,
	    "mismatch");
}

static void
test_fragmentation(void)
{
	struct evbuffer *in = evbuffer_new();
	uint8_t *p = pattern(300);
	struct run run;

	run_init(&run);
	bin(in, 0, WS_OP_BINARY, p, 100);
	bin(in, 1, WS_OP_PING, (const uint8_t *)"x", 1);
	bin(in, 0, WS_OP_CONTINUATION, p + 100, 0);
	bin(in, 0, WS_OP_CONTINUATION, p + 100, 150);
	bin(in, 1, WS_OP_CONTINUATION, p + 250, 50);
	bin(in, 1, WS_OP_BINARY, p, 0);
	run_whole(in, WS_MAX_FRAME_DEFAULT, &run);
	test_result("ws_fragmented_binary_with_continuations_reads_back",
	    !run.error && data_is(&run, p, 300) && run.nevents == 1 &&
		run.events[0].type == WS_OP_PING,
	    "error %d code %u", run.error, run.code);
	run_free(&run);
	evbuffer_free(in);
	free(p);
}

static void
test_ping(void)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	uint8_t *p = pattern(125), want[127];
	struct run run;
	int good;

	run_init(&run);
	bin(in, 1, WS_OP_PING, p, 125);
	run_whole(in, WS_MAX_FRAME_DEFAULT, &run);
	good = !run.error && run.nevents == 1 &&
	    run.events[0].type == WS_OP_PING && run.events[0].len == 125 &&
	    memcmp(run.events[0].payload, p, 125) == 0;
	if (good)
		good = ws_write_control(out, WS_OP_PONG, run.events[0].payload,
			   run.events[0].len) == 0;
	want[0] = 0x8a;
	want[1] = 125;
	memcpy(want + 2, p, 125);
	test_result("ws_ping_is_answered_by_pong_with_its_payload",
	    good && evbuffer_get_length(out) == 127 &&
		memcmp(evbuffer_pullup(out, -1), want, 127) == 0,
	    "bad pong");
	run_free(&run);
	evbuffer_free(in);
	evbuffer_free(out);
	free(p);
}

static void
test_pong(void)
{
	struct evbuffer *in = evbuffer_new();
	struct run run;

	run_init(&run);
	bin(in, 1, WS_OP_PONG, (const uint8_t *)"", 0);
	run_whole(in, WS_MAX_FRAME_DEFAULT, &run);
	test_result("ws_unsolicited_pong_is_reported",
	    !run.error && run.nevents == 1 && run.events[0].type == WS_OP_PONG,
	    "missed");
	run_free(&run);
	evbuffer_free(in);
}

static void
test_close(void)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	const uint8_t payload[] = { 0x03, 0xe8, 'b', 'y', 'e' };
	const uint8_t want[] = { 0x88, 5, 0x03, 0xe8, 'b', 'y', 'e' };
	struct run run;
	int good;

	run_init(&run);
	bin(in, 1, WS_OP_CLOSE, payload, sizeof(payload));
	bin(in, 1, WS_OP_BINARY, payload, sizeof(payload));
	run_whole(in, WS_MAX_FRAME_DEFAULT, &run);
	good = !run.error && run.nevents == 1 &&
	    run.events[0].type == WS_OP_CLOSE &&
	    run.events[0].close_code == 1000 &&
	    strcmp((char *)run.events[0].payload, "bye") == 0;
	test_result("ws_close_reports_code_and_reason", good,
	    "nevents %d code %u", run.nevents, run.events[0].close_code);
	test_result("ws_data_after_close_is_discarded",
	    evbuffer_get_length(run.data) == 0 && evbuffer_get_length(in) == 0,
	    "data delivered");
	ws_write_close(out, run.events[0].close_code,
	    (char *)run.events[0].payload);
	test_result("ws_close_is_answered_with_its_code",
	    evbuffer_get_length(out) == sizeof(want) &&
		memcmp(evbuffer_pullup(out, -1), want, sizeof(want)) == 0,
	    "bad close frame");
	run_free(&run);

	run_init(&run);
	bin(in, 1, WS_OP_CLOSE, payload, 0);
	run_whole(in, WS_MAX_FRAME_DEFAULT, &run);
	test_result("ws_empty_close_reports_1005",
	    !run.error && run.nevents == 1 && run.events[0].close_code == 1005,
	    "code %u", run.events[0].close_code);
	evbuffer_drain(out, evbuffer_get_length(out));
	ws_write_close(out, 1005, NULL);
	test_result("ws_close_1005_is_sent_empty",
	    evbuffer_get_length(out) == 2 &&
		memcmp(evbuffer_pullup(out, -1), "\x88\x00", 2) == 0,
	    "%zu bytes", evbuffer_get_length(out));
	run_free(&run);
	evbuffer_free(in);
	evbuffer_free(out);
}

/* One input that must fail with a close code, before any data of it. */
static void
expect_close(const char *name, struct evbuffer *in, size_t max_frame,
    uint16_t code)
{
	struct run run;

	run_init(&run);
	run_whole(in, max_frame, &run);
	test_result(name, run.error && run.code == code, "error %d code %u",
	    run.error, run.code);
	run_free(&run);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
test_errors(void)
{
	struct evbuffer *in = evbuffer_new();
	uint8_t *p = pattern(200);
	const uint8_t h64[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1 };

	frame(in, 1, WS_OP_BINARY, 0, 0, p, 10);
	expect_close("ws_unmasked_client_frame_closes_1002", in, 1 << 20, 1002);
	frame(in, 1, WS_OP_BINARY, 4, 1, p, 10);
	expect_close("ws_reserved_bit_set_closes_1002", in, 1 << 20, 1002);
	frame(in, 1, WS_OP_BINARY, 1, 1, p, 10);
	expect_close("ws_rsv3_set_closes_1002", in, 1 << 20, 1002);
	bin(in, 0, WS_OP_PING, p, 10);
	expect_close("ws_fragmented_control_frame_closes_1002", in, 1 << 20,
	    1002);
	bin(in, 1, WS_OP_PING, p, 126);
	expect_close("ws_ping_over_125_bytes_closes_1002", in, 1 << 20, 1002);
	bin(in, 1, WS_OP_CONTINUATION, p, 10);
	expect_close("ws_continuation_without_start_closes_1002", in, 1 << 20,
	    1002);
	bin(in, 0, WS_OP_BINARY, p, 10);
	bin(in, 1, WS_OP_BINARY, p, 10);
	expect_close("ws_new_data_frame_while_fragmented_closes_1002", in,
	    1 << 20, 1002);
	bin(in, 1, 0x3, p, 10);
	expect_close("ws_reserved_data_opcode_closes_1002", in, 1 << 20, 1002);
	bin(in, 1, 0xb, p, 10);
	expect_close("ws_reserved_control_opcode_closes_1002", in, 1 << 20,
	    1002);
	bin(in, 1, WS_OP_TEXT, (const uint8_t *)"hello", 5);
	expect_close("ws_text_frame_closes_1003", in, 1 << 20, 1003);
	bin(in, 1, WS_OP_BINARY, p, 101);
	expect_close("ws_frame_over_limit_closes_1009", in, 100, 1009);
	bin(in, 1, WS_OP_BINARY, NULL, (uint64_t)1 << 40);
	expect_close("ws_frame_announcing_1tib_closes_1009", in, 1 << 20, 1009);
	evbuffer_add(in, h64, sizeof(h64));
	expect_close("ws_64bit_length_with_top_bit_closes_1002", in, SIZE_MAX,
	    1002);
	bin(in, 1, WS_OP_CLOSE, (const uint8_t *)"\x03", 1);
	expect_close("ws_close_with_1_byte_payload_closes_1002", in, 1 << 20,
	    1002);
	bin(in, 1, WS_OP_CLOSE, (const uint8_t *)"\x03\xed", 2);
	expect_close("ws_close_code_1005_on_the_wire_closes_1002", in, 1 << 20,
	    1002);
	bin(in, 1, WS_OP_CLOSE, (const uint8_t *)"\x03\xe7", 2);
	expect_close("ws_close_code_999_closes_1002", in, 1 << 20, 1002);
	bin(in, 1, WS_OP_CLOSE, (const uint8_t *)"\x13\x88", 2);
	expect_close("ws_close_code_5000_closes_1002", in, 1 << 20, 1002);
	bin(in, 1, WS_OP_CLOSE, (const uint8_t *)"\x03\xe8\xc3\x28", 4);
	expect_close("ws_close_reason_not_utf8_closes_1007", in, 1 << 20, 1007);
	evbuffer_free(in);
	free(p);
}

static void
test_room(void)
{
	struct evbuffer *in = evbuffer_new(), *data = evbuffer_new();
	uint8_t *p = pattern(1000);
	struct ws_reader r;
	struct ws_event ev;
	size_t calls = 0, most = 0, len;
	int rv, good = 1;

	bin(in, 1, WS_OP_BINARY, p, 1000);
	ws_reader_init(&r, WS_MAX_FRAME_DEFAULT);
	rv = ws_read(&r, in, data, 0, &ev);
	if (rv != WS_READ_MORE || evbuffer_get_length(data) != 0)
		good = 0;
	while (evbuffer_get_length(in) > 0 && calls++ < 1000) {
		len = evbuffer_get_length(data);
		if (ws_read(&r, in, data, 64, &ev) != WS_READ_MORE)
			good = 0;
		if (evbuffer_get_length(data) - len > most)
			most = evbuffer_get_length(data) - len;
	}
	test_result("ws_read_moves_at_most_room_bytes_per_call",
	    good && most == 64 && evbuffer_get_length(data) == 1000 &&
		memcmp(evbuffer_pullup(data, -1), p, 1000) == 0,
	    "most %zu, %zu bytes", most, evbuffer_get_length(data));

	evbuffer_drain(data, evbuffer_get_length(data));
	bin(in, 1, WS_OP_BINARY, p, 0);
	bin(in, 1, WS_OP_PING, p, 4);
	rv = ws_read(&r, in, data, 0, &ev);
	test_result("ws_read_answers_control_frames_without_room",
	    rv == WS_READ_EVENT && ev.type == WS_OP_PING && ev.len == 4,
	    "rv %d", rv);
	evbuffer_free(in);
	evbuffer_free(data);
	free(p);
}

/* Reads back server frames: FIN, opcode, unmasked payload. */
static int
server_frames(struct evbuffer *out, struct evbuffer *payload, size_t *nframes,
    size_t *largest)
{
	uint8_t h[10];
	uint64_t len;
	size_t hlen, i;

	*nframes = 0;
	*largest = 0;
	while (evbuffer_get_length(out) > 0) {
		if (evbuffer_copyout(out, h, 10) < 2 || h[0] != 0x82 ||
		    (h[1] & 0x80))
			return -1;
		len = h[1] & 0x7f;
		hlen = 2;
		if (len == 126) {
			len = h[2] << 8 | h[3];
			hlen = 4;
		} else if (len == 127) {
			for (len = 0, i = 2; i < 10; i++)
				len = len << 8 | h[i];
			hlen = 10;
		}
		evbuffer_drain(out, hlen);
		if (evbuffer_remove_buffer(out, payload, len) != (int)len)
			return -1;
		(*nframes)++;
		if (len > *largest)
			*largest = len;
	}
	return 0;
}

static void
test_write_binary(void)
{
	struct evbuffer *data = evbuffer_new(), *out = evbuffer_new();
	struct evbuffer *back = evbuffer_new();
	uint8_t *p = pattern(200000);
	size_t nframes, largest;
	int rv;

	evbuffer_add(data, p, 200000);
	rv = ws_write_binary(out, data, 65536);
	rv |= server_frames(out, back, &nframes, &largest);
	test_result("ws_write_binary_splits_into_frames_of_max_frame",
	    rv == 0 && nframes == 4 && largest == 65536 &&
		evbuffer_get_length(data) == 0 &&
		evbuffer_get_length(back) == 200000 &&
		memcmp(evbuffer_pullup(back, -1), p, 200000) == 0,
	    "rv %d, %zu frames", rv, nframes);
	evbuffer_drain(back, evbuffer_get_length(back));

	evbuffer_add(data, p, 100);
	rv = ws_write_binary(out, data, 0);
	rv |= server_frames(out, back, &nframes, &largest);
	test_result("ws_write_binary_small_data_is_one_7bit_frame",
	    rv == 0 && nframes == 1 && evbuffer_get_length(back) == 100,
	    "rv %d, %zu frames", rv, nframes);

	rv = ws_write_binary(out, data, 0);
	test_result("ws_write_binary_of_nothing_writes_nothing",
	    rv == 0 && evbuffer_get_length(out) == 0, "wrote %zu",
	    evbuffer_get_length(out));

	test_result("ws_write_control_refuses_126_bytes",
	    ws_write_control(out, WS_OP_PING, p, 126) == -1 &&
		ws_write_control(out, WS_OP_BINARY, p, 1) == -1 &&
		evbuffer_get_length(out) == 0,
	    "accepted");
	evbuffer_free(data);
	evbuffer_free(out);
	evbuffer_free(back);
	free(p);
}

static void
test_write_close(void)
{
	struct evbuffer *out = evbuffer_new();
	char reason[200];
	const uint8_t *f;
	int rv;

	/* 61 two-byte characters: 122 bytes fit, the 62nd would not. */
	memset(reason, 0, sizeof(reason));
	for (int i = 0; i < 62; i++)
		memcpy(reason + 2 * i, "\xc3\xa9", 2);
	rv = ws_write_close(out, 1011, reason);
	f = evbuffer_pullup(out, -1);
	test_result("ws_write_close_cuts_reason_on_a_character_boundary",
	    rv == 0 && evbuffer_get_length(out) == 2 + 2 + 122 &&
		f[0] == 0x88 && f[1] == 124 && f[2] == 0x03 && f[3] == 0xf3,
	    "rv %d, %zu bytes", rv, evbuffer_get_length(out));
	evbuffer_drain(out, evbuffer_get_length(out));
	test_result("ws_write_close_refuses_invalid_code",
	    ws_write_close(out, 1004, "x") == -1 &&
		evbuffer_get_length(out) == 0,
	    "accepted");
	evbuffer_free(out);
}

int
main(void)
{
	test_accept_key();
	test_handshake();
	test_protocols();
	test_handshake_response();
	test_lengths();
	test_bytewise();
	test_unmask();
	test_fragmentation();
	test_ping();
	test_pong();
	test_close();
	test_errors();
	test_room();
	test_write_binary();
	test_write_close();
	return test_done();
}
