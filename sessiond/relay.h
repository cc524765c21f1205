/*
 * The validating relay of the transmission phase: requests from the
 * kernel or local clients go to the peer under our own handles; every
 * reply from the peer is checked before its owner sees it.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stdint.h>

#define RELAY_SLOTS 256 /* requests in flight to the peer */
#define RA_BLOCKS 32	/* read-ahead requests held or in flight */
#define RA_WAITERS 8	/* reads waiting for one such request */
#define RA_STREAMS 4	/* sequential readers followed at once */
#define RA_IDLE 256 /* READs after which a stream no read followed is idle */
#define RELAY_KEEP_MAX (64 * 1024 * 1024) /* WRITE payload kept to resend */
#define RELAY_MARKS 4			  /* ranges a write unmarks */

struct evbuffer;
struct nbd_request;

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
	uint64_t owed;	    /* reply bytes still to come (as simple replies) */
	size_t replies_max; /* 0: no bound */
	int structured;	    /* its replies are structured */
	int block_status;   /* it chose base:allocation */
};

struct ra_block;

struct relay_slot {
	uint64_t handle;	 /* the downstream's own */
	struct relay_down *down; /* NULL once it has gone */
	struct ra_block *ra;	 /* a read-ahead request's block */
	uint64_t offset;
	uint32_t length;
	uint16_t type;
	uint16_t gen;
	uint16_t cmd_flags;
	int busy;
	int partial;	     /* its reply header has been passed on */
	uint64_t seq;	     /* order sent in */
	unsigned char *kept; /* a WRITE's payload, while keeping */
};

/* A read of ours on the peer, for a downstream that reads ahead of it. */
struct ra_waiter {
	struct relay_down *down; /* NULL once it has gone */
	uint64_t handle;
	uint64_t offset;
	uint32_t length;
};

enum ra_state {
	RA_FREE = 0,
	RA_INFLIGHT, /* asked of the peer */
	RA_READY,    /* here, handed out from the front */
	RA_STALE,    /* in flight, overwritten since: dropped on arrival */
};

struct ra_block {
	enum ra_state state;
	uint64_t offset;
	uint32_t length;
	uint32_t taken;	       /* from the front: handed out or skipped */
	struct evbuffer *data; /* bytes [offset + taken, offset + length) */
	int stream;	       /* the readahead.streams[] it was read for */
	struct ra_waiter waiters[RA_WAITERS];
	int nwaiters;
};

/*
 * A sequential reader read-ahead follows: reads that start where one of
 * its reads ended are its. Several readers (the connections of one
 * multi-conn client, a reader beside a random one) each keep their own.
 */
struct ra_stream {
	uint64_t next;	/* where its next read would start */
	uint64_t end;	/* end of the furthest block asked for it */
	uint64_t held;	/* in its blocks, not yet handed out */
	uint64_t used;	/* readahead.clock when a read last was its */
	int sequential; /* a read followed one of its own */
};

/*
 * Read-ahead: once a downstream reads where a read ended, reads of the
 * same size follow it to the peer, up to window bytes held or owed (in
 * all, shared by the streams reading ahead), and later reads are answered
 * from them.
 */
struct readahead {
	uint64_t window;  /* 0: off */
	uint64_t held;	  /* in blocks, not yet handed out */
	uint64_t hits;	  /* reads answered from blocks */
	uint64_t asked;	  /* bytes read ahead */
	uint64_t dropped; /* of those, never handed out */
	uint64_t rate;	  /* READ payload from the peer per second, lately */
	uint64_t seen;	  /* relay.payload_in at the last tick */
	uint64_t clock;	  /* READs seen */
	int pace;	  /* seconds of that rate held ahead; 0: no cap */
	struct ra_stream streams[RA_STREAMS];
	struct ra_block blocks[RA_BLOCKS];
};

struct relay {
	uint64_t size;
	uint16_t flags; /* transmission flags in force */
	struct relay_slot slots[RELAY_SLOTS];
	uint16_t free[RELAY_SLOTS];
	int nfree;
	int writes;		    /* WRITEs and TRIMs in flight */
	struct relay_slot *reading; /* READ payload in progress */
	uint32_t read_left;
	uint64_t bytes_read;	/* payload sent to downstreams */
	uint64_t bytes_written; /* payload sent to the peer */
	uint64_t payload_in;	/* READ payload from the peer, ours too */
	uint64_t requests;
	uint64_t replies;
	struct readahead ra;
	/* our own answers to the downstream whose READ payload is passing */
	struct evbuffer *parked;
	struct relay_down *parked_for;
	/*
	 * The reconnect window: WRITE payloads kept until answered, a READ
	 * cut off mid-payload by the drop, ranges a write unmarks (samples).
	 */
	int keep;
	uint64_t kept_bytes;
	struct relay_slot *partial;
	int resend_rest; /* the others wait for partial to be whole */
	uint64_t mark_offset[RELAY_MARKS];
	uint32_t mark_length[RELAY_MARKS];
	unsigned int marks; /* bit i: mark i stands */
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
void relay_free(struct relay *);
enum relay_result
relay_requests(struct relay *, struct relay_down *, struct evbuffer *);
enum relay_result relay_replies(struct relay *, struct evbuffer *);
void relay_down_gone(struct relay *, struct relay_down *);
int relay_inflight(const struct relay *);
void relay_keep(struct relay *);
void relay_peer_lost(struct relay *);
int relay_resend(struct relay *, struct evbuffer *);
int relay_resend_due(const struct relay *);
int relay_fail_down(struct relay *, struct relay_down *, uint32_t);
void relay_forward(struct relay *, struct relay_down *, struct ra_block *,
    struct nbd_request *, struct evbuffer *);
struct evbuffer *relay_answer_out(struct relay *, struct relay_down *);
int relay_write_pending(const struct relay *, uint64_t, uint32_t);
void relay_owed_paid(struct relay_down *, uint64_t);
void
relay_reply_header(struct relay *, struct relay_down *, uint64_t, uint32_t);
void relay_read_header(struct relay *, struct relay_down *, uint64_t, uint64_t,
    uint32_t);

/* readahead.c */
void ra_init(struct readahead *, uint64_t, int);
void ra_tick(struct relay *);
void ra_free(struct readahead *);
int ra_read(struct relay *, struct relay_down *, const struct nbd_request *);
void ra_follow(struct relay *, const struct nbd_request *, struct evbuffer *);
void ra_overwritten(struct relay *, uint64_t, uint32_t);
void ra_payload(struct relay *, struct ra_block *, struct evbuffer *, size_t);
void ra_arrived(struct relay *, struct ra_block *, uint32_t);
void ra_down_gone(struct relay *, struct relay_down *);
void ra_fail_down(struct relay *, struct relay_down *, uint32_t);

#endif
