/*
 * sessiond as an NBD server for local clients of a socket export
 * (nbdcopy, qemu): fixed newstyle, GO, INFO, EXPORT_NAME, LIST, ABORT,
 * STRUCTURED_REPLY, LIST_META_CONTEXT and SET_META_CONTEXT
 * (base:allocation); anything else gets ERR_UNSUP.
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
#define NBD_SERVER_OUT_MAX (16 * 1024)
/* Options one client may send; past this it is dropped. */
#define NBD_SERVER_OPTIONS_MAX 64
/* Longest option we read (a GO with a long name and info requests, or a
 * META_CONTEXT with a name and a few queries); longer ends the client. */
#define NBD_SERVER_OPTION_MAX (2 * 4096 + 64)

enum nbd_server_result {
	NBD_SERVER_MORE,   /* feed more bytes */
	NBD_SERVER_READY,  /* transmission starts */
	NBD_SERVER_CLOSE,  /* flush out, then close; reason says why */
	NBD_SERVER_UNREAD, /* out is past NBD_SERVER_OUT_MAX, or more than
			      NBD_SERVER_OPTIONS_MAX options: close now */
};

struct nbd_server {
	enum nbd_server_state state;
	int no_zeroes;
	int structured;	     /* NBD_OPT_STRUCTURED_REPLY was acked */
	int meta_allocation; /* base:allocation was chosen */
	int options;	     /* how many it sent */
	char reason[128];
};

void nbd_server_init(struct nbd_server *, struct evbuffer *);
enum nbd_server_result nbd_server_input(struct nbd_server *,
    const struct nbd_export_info *, struct evbuffer *, struct evbuffer *);

#endif
