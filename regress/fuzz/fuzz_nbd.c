/*
 * libFuzzer target for sessiond's NBD layers: the client handshake with
 * a peer, the server handshake with a local client, and the relay's
 * request and reply checks. The first byte picks the layer and a chunk
 * size (with bit 2, the server handshake is a network listener's, TLS
 * required, several exports; with bit 3, the relay's client negotiated
 * structured replies); the rest arrives in chunks of that size.
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

/* A network listener's exports: two this client may use, one refused. */
static const char *const net_names[] = { "lab", "cd", "secret" };

static uint32_t
net_find(void *arg, const unsigned char *name, uint32_t len,
    struct nbd_export_info *info, char *why, size_t whylen)
{
	int i, attached = *(int *)arg;

	for (i = 0; i < 3; i++) {
		if (len != strlen(net_names[i]) ||
		    memcmp(name, net_names[i], len) != 0)
			continue;
		if (i == 2) {
			snprintf(why, whylen, "not allowed");
			return NBD_REP_ERR_POLICY;
		}
		info->name = net_names[i];
		info->description = "";
		info->attached = attached;
		info->size = 1 << 20;
		info->flags = i == 1 ? 3 : 1;
		return 0;
	}
	return NBD_REP_ERR_UNKNOWN;
}

static int
net_nth(void *arg, int i, struct nbd_export_info *info)
{
	char why[64];

	if (i >= 2)
		return 0;
	return net_find(arg, (const unsigned char *)net_names[i],
		   (uint32_t)strlen(net_names[i]), info, why, sizeof(why)) == 0;
}

/*
 * The option phase: a Unix socket's one export, or (network) several
 * behind STARTTLS, which "starts" whenever the server asks for it.
 */
static void
fuzz_server(const uint8_t *data, size_t size, size_t chunk, int attached,
    int network)
{
	struct nbd_export_info info = { "lab", "Lab", attached, 1 << 20, 3 };
	struct nbd_server_exports x = { net_find, net_nth, &attached };
	struct nbd_server s;
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	enum nbd_server_result r = NBD_SERVER_MORE;
	size_t off, n;

	nbd_server_init(&s, out);
	if (network)
		s.tls = NBD_SERVER_TLS_REQUIRED;
	for (off = 0; off < size && r == NBD_SERVER_MORE; off += n) {
		n = size - off < chunk ? size - off : chunk;
		evbuffer_add(in, data + off, n);
		do {
			if (network)
				r = nbd_server_input_from(&s, &x, in, out);
			else
				r = nbd_server_input(&s, &info, in, out);
			if (r != NBD_SERVER_STARTTLS)
				break;
			/* TLS starts only on a client that waits for it. */
			if (evbuffer_get_length(in) != 0 ||
			    s.tls != NBD_SERVER_TLS_REQUIRED)
				abort();
			nbd_server_tls_started(&s);
			r = NBD_SERVER_MORE;
		} while (0);
		if (evbuffer_get_length(out) > 2 * NBD_SERVER_OUT_MAX)
			abort();
	}
	if (r == NBD_SERVER_READY &&
	    (!attached || s.tls == NBD_SERVER_TLS_REQUIRED ||
		(network && strcmp(s.export, "secret") == 0)))
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
		fuzz_server(data + 1, size - 1, chunk, 1, (data[0] & 4) != 0);
		break;
	case 2:
		fuzz_server(data + 1, size - 1, chunk, 0, (data[0] & 4) != 0);
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
