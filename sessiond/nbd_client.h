/*
 * sessiond as the NBD client of the peer (browser or CLI), which speaks
 * first: fixed newstyle, NBD_OPT_GO with a fallback to EXPORT_NAME.
 */
#ifndef NBD_CLIENT_H
#define NBD_CLIENT_H

#include <stdint.h>

struct evbuffer;

enum nbd_client_state {
	NBD_CLIENT_GREETING,
	NBD_CLIENT_GO,
	NBD_CLIENT_EXPORT_NAME,
	NBD_CLIENT_DONE,
	NBD_CLIENT_FAILED,
};

enum nbd_client_result {
	NBD_CLIENT_MORE,  /* feed more bytes */
	NBD_CLIENT_READY, /* size and flags known: transmission */
	NBD_CLIENT_ERROR, /* reason says why */
};

struct nbd_client {
	enum nbd_client_state state;
	int no_zeroes;
	int have_export;
	int fell_back; /* peer only knew EXPORT_NAME */
	uint64_t size;
	uint16_t flags;
	char reason[160];
};

void nbd_client_init(struct nbd_client *);
enum nbd_client_result
nbd_client_input(struct nbd_client *, struct evbuffer *, struct evbuffer *);

#endif
