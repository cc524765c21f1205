/*
 * sessiond as an NBD server for local clients of a socket export
 * (nbdcopy, qemu): fixed newstyle, GO, INFO, EXPORT_NAME, LIST, ABORT,
 * STRUCTURED_REPLY, LIST_META_CONTEXT and SET_META_CONTEXT
 * (base:allocation), and STARTTLS where the caller offers TLS; anything
 * else gets ERR_UNSUP.
 */
#ifndef NBD_SERVER_H
#define NBD_SERVER_H

#include <stddef.h>
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

/*
 * Where the server finds exports. find: the export a name stands for
 * ("" for the default), or an NBD_REP_ERR_* code with why (ERR_UNKNOWN,
 * or ERR_POLICY for one this client may not use). nth: the i-th export
 * this client may use, for LIST; 0 past the last.
 */
struct nbd_server_exports {
	uint32_t (*find)(void *, const unsigned char *, uint32_t,
	    struct nbd_export_info *, char *, size_t);
	int (*nth)(void *, int, struct nbd_export_info *);
	void *arg;
};

/* Exports one LIST names at most. */
#define NBD_SERVER_LIST_MAX 64

enum nbd_server_tls {
	NBD_SERVER_TLS_NONE,	 /* STARTTLS is not offered (ERR_UNSUP) */
	NBD_SERVER_TLS_REQUIRED, /* nothing but STARTTLS and ABORT before it */
	NBD_SERVER_TLS_ON,	 /* STARTTLS done */
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
	NBD_SERVER_MORE,     /* feed more bytes */
	NBD_SERVER_READY,    /* transmission starts */
	NBD_SERVER_CLOSE,    /* flush out, then close; reason says why */
	NBD_SERVER_UNREAD,   /* out is past NBD_SERVER_OUT_MAX, or more than
				NBD_SERVER_OPTIONS_MAX options: close now */
	NBD_SERVER_STARTTLS, /* flush out, start TLS (as the server), then
				nbd_server_tls_started() and feed again */
};

struct nbd_server {
	enum nbd_server_state state;
	int no_zeroes;
	int structured;		 /* NBD_OPT_STRUCTURED_REPLY was acked */
	int meta_allocation;	 /* base:allocation was chosen */
	int options;		 /* how many it sent */
	enum nbd_server_tls tls; /* set by the caller after init */
	char export[64];	 /* the one chosen, once READY */
	char reason[128];
};

void nbd_server_init(struct nbd_server *, struct evbuffer *);
/* One export (a Unix socket's). */
enum nbd_server_result nbd_server_input(struct nbd_server *,
    const struct nbd_export_info *, struct evbuffer *, struct evbuffer *);
enum nbd_server_result nbd_server_input_from(struct nbd_server *,
    const struct nbd_server_exports *, struct evbuffer *, struct evbuffer *);
void nbd_server_tls_started(struct nbd_server *);

#endif
