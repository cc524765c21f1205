/*
 * sessiond as an NBD server for local clients of a socket export
 * (nbdcopy, qemu): fixed newstyle, GO, INFO, EXPORT_NAME, LIST, ABORT.
 */
#ifndef NBD_SERVER_H
#define NBD_SERVER_H

#include <stdint.h>

struct evbuffer;

/* What the handshake may tell a client about the export right now. */
struct nbd_export_info {
	const char *name;
	const char *description;
	int attached; /* a peer serves an image */
	uint64_t size;
	uint16_t flags;
};

enum nbd_server_state {
	NBD_SERVER_CLIENT_FLAGS,
	NBD_SERVER_OPTIONS,
	NBD_SERVER_DONE,
	NBD_SERVER_CLOSED,
};

/* Option replies the client has not read; past this it is dropped. */
#define NBD_SERVER_OUT_MAX (64 * 1024)

enum nbd_server_result {
	NBD_SERVER_MORE,   /* feed more bytes */
	NBD_SERVER_READY,  /* transmission starts */
	NBD_SERVER_CLOSE,  /* flush out, then close; reason says why */
	NBD_SERVER_UNREAD, /* out is past NBD_SERVER_OUT_MAX: close now */
};

struct nbd_server {
	enum nbd_server_state state;
	int no_zeroes;
	char reason[128];
};

void nbd_server_init(struct nbd_server *, struct evbuffer *);
enum nbd_server_result nbd_server_input(struct nbd_server *,
    const struct nbd_export_info *, struct evbuffer *, struct evbuffer *);

#endif
