/*
 * The peer that plays the browser, an NBD server reached over a WebSocket:
 * vmedia-attach, the tool for people (attach.c), and vmedia-peer, the test
 * peer (regress/peer/peer.c), built from these sources with -DPEER_TEST,
 * which compiles in the faults and drops the tests inject. Shared types of
 * its I/O, WebSocket and NBD layers.
 */
#ifndef PEER_H
#define PEER_H

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Exit codes, also the status a failing layer leaves in struct ws. The
 * test peer keeps the codes the suites know: every refusal is 2.
 */
#define PEER_EXIT_OK 0	  /* clean end */
#define PEER_EXIT_LOCAL 1 /* usage or local error */
#define PEER_EXIT_LOGIN 2 /* 401, or 429 with Retry-After (back-off) */
#ifdef PEER_TEST
#define PEER_EXIT_REFUSED 2  /* HTTP status other than 101 */
#define PEER_EXIT_ABNORMAL 3 /* abnormal close, network error */
#else
#define PEER_EXIT_REFUSED 3  /* another HTTP status than 101 */
#define PEER_EXIT_ABNORMAL 4 /* abnormal close, network or TLS error */
#endif

/*
 * The byte transport under the WebSocket: plain TCP, or TLS for wss://
 * (peer_tls.c), behind the same four calls.
 */
struct peer_io {
	int fd;
	void *tls;
	ssize_t (*read)(struct peer_io *, void *, size_t);
	ssize_t (*writev)(struct peer_io *, const struct iovec *, int);
	int (*pending)(struct peer_io *); /* buffered above fd */
	void (*close)(struct peer_io *);
};

struct peer_url {
	int tls;
	char host[256]; /* no brackets: getaddrinfo */
	char port[8];
	char authority[300]; /* as written: Host header */
	char path[2048];
};

#define PEER_MAX_LIST 16

enum peer_fault {
	FAULT_NONE,
	FAULT_BAD_MAGIC,
	FAULT_BAD_HANDLE,
	FAULT_SHORT_READ,
	FAULT_LONG_READ,
	FAULT_CLOSE_MID_READ,
	FAULT_STALL,
	FAULT_BAD_GREETING,
	FAULT_ZERO_SIZE,
	FAULT_HUGE_SIZE,
	FAULT_BAD_OPTION_REPLY,
	FAULT_SLOW_HANDSHAKE,
};

/*
 * The faults and the reconnect window's cuts exist in the test build
 * only: elsewhere these are constants and the code that injects them
 * compiles away.
 */
#ifdef PEER_TEST
#define PEER_FAULT(o) ((o)->fault)
#define PEER_DIE_AFTER(o) ((o)->die_after_bytes)
#define PEER_CUT_RST(o) ((o)->cut_rst)
#define PEER_CUT_SILENT(o) ((o)->cut_silent)
#define PEER_CUT_AFTER_REQUESTS(o) ((o)->cut_after_requests)
#define PEER_CUT_AFTER_WRITTEN(o) ((o)->cut_after_written)
#else
#define PEER_FAULT(o) ((void)(o), FAULT_NONE)
#define PEER_DIE_AFTER(o) ((void)(o), UINT64_MAX)
#define PEER_CUT_RST(o) ((void)(o), 0)
#define PEER_CUT_SILENT(o) ((void)(o), 0)
#define PEER_CUT_AFTER_REQUESTS(o) ((void)(o), (uint64_t)0)
#define PEER_CUT_AFTER_WRITTEN(o) ((void)(o), (uint64_t)0)
#endif

struct peer_opts {
	int verbose;
	int read_only;
	int export_name_only;
	int have_size;
	uint64_t size;
	size_t max_frame;
	enum peer_fault fault;
	uint64_t fault_after;	  /* requests served first */
	uint64_t die_after_bytes; /* UINT64_MAX: never */
	/* After the NBD handshake; -1 ends the session (a local error). */
	int (*on_ready)(const struct peer_opts *, uint64_t);
	const char *ready_file;
	const char *protocols[PEER_MAX_LIST];
	int nprotocols;
	const char *headers[PEER_MAX_LIST];
	int nheaders;
	const char *basic;   /* "user:password" */
	const char *ca_file; /* instead of the system store */
	int insecure;	     /* no certificate check */
#ifdef PEER_TEST
	/* the reconnect window: the test peer's (regress/peer/peer.c) */
	const char *login;	  /* "user:password": POST /api/login */
	char cookie[128];	  /* the login's token */
	int resume;		  /* fetch the secret; resume after a cut */
	int resume_after;	  /* seconds after the cut */
	const char *resume_wait;  /* or once this file exists */
	const char *resume_image; /* serve this one after the cut */
	const char *secret_file;  /* tests: the secret, written here */
	int cut_rst;		  /* the cut resets instead of a FIN */
	int cut_silent;		  /* the cut leaves the socket open, unused */
	uint64_t cut_after_requests; /* cut between requests; 0: never */
	uint64_t cut_after_written;  /* cut once this much is written */
#endif
};

struct peer_stats {
	uint64_t requests;
	uint64_t bytes_read;	/* READ payload served */
	uint64_t bytes_written; /* WRITE payload stored */
	struct timespec start;
	int cut; /* --die-after-bytes dropped the connection */
};

#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xa

/*
 * One WebSocket connection seen as two byte streams: "in" holds unframed
 * payload the server sent, "out" collects stream bytes until ws_flush
 * cuts them into masked frames.
 */
struct ws {
	struct peer_io *io;
	size_t max_frame;
	uint64_t rng; /* mask generator state */

	uint8_t *raw; /* socket bytes, framed */
	size_t raw_off, raw_len, raw_cap;
	uint64_t frame_left; /* of the data frame */
	int in_message;	     /* fragmented, open */

	uint8_t *in;
	size_t in_off, in_len, in_cap;

	uint8_t *out;
	size_t out_len, out_cap;

	int ended;  /* status is final */
	int status; /* PEER_EXIT_* */
	int sent_close;
};

/* peer_run.c */
void peer_log(int, const char *, ...) __attribute__((format(printf, 2, 3)));
void peer_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
int peer_parse_size(const char *, uint64_t *);
int peer_parse_url(const char *, struct peer_url *);
int peer_open_image(const char *, const struct peer_opts *, struct stat *);
uint64_t peer_export_size(const struct peer_opts *, const struct stat *);
int peer_run(const struct peer_url *, int, const struct peer_opts *, uint64_t);
extern int peer_verbose;
extern const char *peer_progname;
extern struct peer_stats peer_stats;
extern volatile sig_atomic_t peer_stop;	     /* set by a signal: end cleanly */
extern volatile sig_atomic_t peer_live;	     /* upgraded: a session to end */
extern volatile sig_atomic_t peer_line_open; /* stderr: a line unended */

/* peer_io.c */
int io_connect(struct peer_io *, const struct peer_url *);
int io_wait_readable(struct peer_io *, int);

/* peer_tls.c */
int tls_init(const char *, int);
int tls_connect(struct peer_io *, const struct peer_url *);

/* peer_api.c */
size_t api_auth_headers(const struct peer_url *, const struct peer_opts *,
    char *, size_t);
int api_login(const struct peer_url *, struct peer_opts *);
int
api_fetch_secret(const struct peer_url *, const struct peer_opts *, pid_t *);
int api_secret_collect(int, pid_t, char[65]);
int api_resume(const struct peer_url *, const struct peer_opts *, const char *);

/* peer_http.c */
int
http_upgrade(struct ws *, const struct peer_url *, const struct peer_opts *);

/* peer_ws.c */
int ws_init(struct ws *, struct peer_io *, size_t);
void ws_free(struct ws *);
uint8_t *ws_out_reserve(struct ws *, size_t);
void ws_out_commit(struct ws *, size_t);
int ws_flush(struct ws *);
int ws_send_control(struct ws *, int, const uint8_t *, size_t);
void ws_send_close(struct ws *, int, const char *);
int ws_close(struct ws *, int, const char *);
void ws_abort(struct ws *, int);
void ws_drop(struct ws *, int);
void ws_fail(struct ws *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* peer_wsin.c */
int ws_fill(struct ws *);
void ws_consume(struct ws *, size_t);
int ws_idle(struct ws *, int);

/* peer_nbd.c */
int nbd_handshake(struct ws *, const struct peer_opts *, uint64_t);
const uint8_t *nbd_need(struct ws *, size_t);
int nbd_skip(struct ws *, uint64_t);

/* peer_xmit.c */
int xmit_serve(struct ws *, int, const struct peer_opts *, uint64_t,
    struct peer_stats *);

/* Big-endian access without alignment assumptions. */
static inline uint16_t
be16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
be64_get(const uint8_t *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

static inline void
be16_put(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static inline void
be32_put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static inline void
be64_put(uint8_t *p, uint64_t v)
{
	be32_put(p, v >> 32);
	be32_put(p + 4, v);
}

#endif
