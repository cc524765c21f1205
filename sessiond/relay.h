/*
 * The validating relay of the transmission phase: requests from the
 * kernel or local clients go to the peer under our own handles; every
 * reply from the peer is checked before its owner sees it.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stdint.h>

#define RELAY_SLOTS 256 /* requests in flight to the peer */

struct evbuffer;

/*
 * One source of requests: the kernel's socket or a local NBD client. With
 * replies_max set, its requests wait while the replies it has not read
 * (queued in out, or owed by the peer) come to that many bytes.
 */
struct relay_down {
	struct evbuffer *in;  /* its requests */
	struct evbuffer *out; /* our replies to it */
	uint32_t inflight;
	void *owner;
	uint64_t owed;	    /* reply bytes still to come */
	size_t replies_max; /* 0: no bound */
};

struct relay_slot {
	uint64_t handle;	 /* the downstream's own */
	struct relay_down *down; /* NULL once it has gone */
	uint32_t length;
	uint16_t type;
	uint16_t gen;
	int busy;
};

struct relay {
	uint64_t size;
	uint16_t flags; /* transmission flags in force */
	struct relay_slot slots[RELAY_SLOTS];
	uint16_t free[RELAY_SLOTS];
	int nfree;
	struct relay_slot *reading; /* READ payload in progress */
	uint32_t read_left;
	uint64_t bytes_read;	/* payload sent to downstreams */
	uint64_t bytes_written; /* payload sent to the peer */
	uint64_t requests;
	uint64_t replies;
	char reason[128];
};

enum relay_result {
	RELAY_OK,	   /* consumed what it could */
	RELAY_FULL,	   /* no free slot: call again after replies */
	RELAY_BACKLOG,	   /* replies_max reached: call again once the
			      downstream has read some */
	RELAY_DISC,	   /* the downstream asked to disconnect */
	RELAY_BAD_REQUEST, /* the downstream broke the protocol */
	RELAY_VIOLATION,   /* the peer broke the protocol */
};

void relay_init(struct relay *, uint64_t, uint16_t);
enum relay_result
relay_requests(struct relay *, struct relay_down *, struct evbuffer *);
enum relay_result relay_replies(struct relay *, struct evbuffer *);
void relay_down_gone(struct relay *, struct relay_down *);
int relay_inflight(const struct relay *);

#endif
