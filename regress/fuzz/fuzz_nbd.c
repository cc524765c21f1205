/*
 * libFuzzer target for sessiond's NBD layers: the client handshake with
 * a peer, the server handshake with a local client, and the relay's
 * request and reply checks. The first byte picks the layer and a chunk
 * size (and for the relay, with bit 3, a client of structured replies);
 * the rest arrives in chunks of that size.
 */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_client.h"
#include "nbd_proto.h"
#include "nbd_server.h"
#include "relay.h"
#include "relay_model.h"

static void
fuzz_client(const uint8_t *data, size_t size, size_t chunk)
{
	struct nbd_client c;
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	enum nbd_client_result r = NBD_CLIENT_MORE;
	size_t off, n;

	nbd_client_init(&c);
	for (off = 0; off < size && r == NBD_CLIENT_MORE; off += n) {
		n = size - off < chunk ? size - off : chunk;
		evbuffer_add(in, data + off, n);
		r = nbd_client_input(&c, in, out);
	}
	if (r == NBD_CLIENT_READY && !c.have_export)
		abort();
	if (r == NBD_CLIENT_ERROR && c.reason[0] == '\0')
		abort();
	evbuffer_free(in);
	evbuffer_free(out);
}

static void
fuzz_server(const uint8_t *data, size_t size, size_t chunk, int attached)
{
	struct nbd_export_info info = { "lab", "Lab", attached, 1 << 20, 3 };
	struct nbd_server s;
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	enum nbd_server_result r = NBD_SERVER_MORE;
	size_t off, n;

	nbd_server_init(&s, out);
	for (off = 0; off < size && r == NBD_SERVER_MORE; off += n) {
		n = size - off < chunk ? size - off : chunk;
		evbuffer_add(in, data + off, n);
		r = nbd_server_input(&s, &info, in, out);
	}
	if (r == NBD_SERVER_READY && !attached)
		abort();
	evbuffer_free(in);
	evbuffer_free(out);
}

/*
 * Requests from a client and replies from a peer, interleaved; the client
 * negotiated structured replies and base:allocation, or not.
 */
static void
fuzz_relay(const uint8_t *data, size_t size, size_t chunk, int structured)
{
	struct relay r;
	struct relay_down d = { evbuffer_new(), evbuffer_new(), 0, NULL, 0, 0,
		0, 0 };
	struct evbuffer *up = evbuffer_new(), *peer = evbuffer_new();
	enum relay_result res;
	size_t off, n;
	int turn = 0;

	d.structured = d.block_status = structured;
	relay_init(&r, 1 << 20,
	    NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH | NBD_TFLAG_SEND_TRIM);
	for (off = 0; off < size; off += n, turn ^= 1) {
		n = size - off < chunk ? size - off : chunk;
		if (turn == 0) {
			evbuffer_add(d.in, data + off, n);
			res = relay_requests(&r, &d, up);
			if (res == RELAY_BAD_REQUEST || res == RELAY_DISC)
				break;
		} else {
			evbuffer_add(peer, data + off, n);
			if (relay_replies(&r, peer) == RELAY_VIOLATION)
				break;
		}
		if (relay_inflight(&r) > RELAY_SLOTS ||
		    d.inflight > RELAY_SLOTS)
			abort();
		evbuffer_drain(up, evbuffer_get_length(up));
		evbuffer_drain(d.out, evbuffer_get_length(d.out));
	}
	evbuffer_free(d.in);
	evbuffer_free(d.out);
	evbuffer_free(up);
	evbuffer_free(peer);
}

/* The relay in a model world: any wrong or lost reply is a crash. */
static void
fuzz_relay_model(const uint8_t *data, size_t size)
{
	char why[160];

	if (relay_model_run(data, size, why, sizeof(why)) != 0) {
		fprintf(stderr, "relay model: %s\n", why);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk;

	if (size < 1)
		return 0;
	chunk = (data[0] >> 2) + 1;
	switch (data[0] & 3) {
	case 0:
		fuzz_client(data + 1, size - 1, chunk);
		break;
	case 1:
		fuzz_server(data + 1, size - 1, chunk, 1);
		break;
	case 2:
		fuzz_server(data + 1, size - 1, chunk, 0);
		break;
	default:
		if (data[0] & 4)
			fuzz_relay_model(data + 1, size - 1);
		else
			fuzz_relay(data + 1, size - 1, chunk * 16,
			    (data[0] & 8) != 0);
		break;
	}
	return 0;
}
