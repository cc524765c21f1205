/*
 * Every message vmediad's processes exchange: one table of types (msg.c),
 * each with its payload, sender, receiver, fd and field checks.
 */
#ifndef MSG_H
#define MSG_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/*
 * Channels on fixed fds in each child (msg_sibling() says who is where):
 *	sessiond: 3 parent, 4 blockd
 *	blockd:   3 parent, 4 sessiond, 5 hookd
 *	hookd:    3 parent, 4 blockd
 */
#define MSG_CHANNEL_FD 3  /* a child's channel to the parent */
#define MSG_SIBLING_FD 4  /* its first sibling */
#define MSG_SIBLING2_FD 5 /* blockd's second, to hookd */
#define MSG_PAYLOAD_MAX 4096

/*
 * What a channel may hold unsent. The largest burst is a config push to
 * sessiond: CONF_GLOBAL, 64 exports, 256 users and CONF_END (about 320
 * messages, 300 KiB since exports carry their source) and its 72
 * listeners; twice that, a reload right behind the start, still fits
 * (msg.c asserts it). More means the reader has stopped: fatal.
 */
#define CHAN_QUEUE_MSGS 1024
#define CHAN_QUEUE_BYTES (768 * 1024)

/*
 * The processes, as each end of a channel names itself and its peer.
 * The children come first: the parent's procs[] is in this order. The
 * launcher (privsep/launcher.c) is forked by the parent, not executed,
 * and talks to the parent alone.
 */
enum msg_proc {
	PROC_SESSIOND,
	PROC_BLOCKD,
	PROC_HOOKD,
	PROC_PARENT,
	PROC_LAUNCHER, /* the parent's fork that starts sources' nbdkit */
	PROC_MAX
};
#define PROC_NONE (-1) /* no process on that fd */
#define PROC_BIT(p) (1u << (p))

/*
 * Who sends each type to whom, its payload, its fd and what the receiver
 * checks: msg_table in msg.c, the one place; ARCHITECTURE.md prints it.
 */
enum msg_type {
	MSG_NONE = 0,
	MSG_CONF_GLOBAL,
	MSG_CONF_EXPORT,
	MSG_CONF_USER,
	MSG_CONF_END,
	MSG_PING,
	MSG_PONG,
	MSG_SHUTDOWN,
	MSG_TEST_SYSCALL, /* test builds only */
	MSG_LISTENER,
	MSG_ATTACH,
	MSG_ATTACHED,
	MSG_DETACH,
	MSG_DETACHED,
	MSG_HOOK_RUN,
	MSG_HOOK_DONE,
	MSG_AUDIT,
	MSG_SOURCE_START,
	MSG_SOURCE_STARTED,
	MSG_SOURCE_EXITED,
	MSG_SOURCE_PEER,
	MSG_SOURCE_INSERT,
	MSG_SOURCE_EJECT,
	MSG_SOURCE_ENDED,
	MSG_SOURCE_STOP,
	MSG_SOURCE_CREDENTIALS,
	MSG_INSERT_CA,
	MSG_SOURCE_CA,
	MSG_TYPE_COUNT
};

enum msg_fd {
	MSG_FD_NEVER,
	MSG_FD_ALWAYS,
};

struct msg;

/*
 * One row of the table: each type has one sender or one receiver, so the
 * two sets name exactly the channels it may travel.
 */
struct msg_info {
	const char *name;
	const char *payload; /* the struct, in words */
	size_t size;	     /* exact payload size */
	enum msg_fd fd;
	unsigned int from; /* PROC_BIT()s of its senders */
	unsigned int to;   /* and of its receivers */
	/* NULL, or what is wrong with the fields; from is the sender. */
	const char *(*check)(const struct msg *, enum msg_proc from);
	const char *checks; /* what check() insists on, in words */
};

/* Ends a config push; the counts let the receiver see nothing was lost. */
struct msg_conf_end {
	uint32_t generation;
	int32_t nexports;
	int32_t nusers;
};

struct msg_ping {
	uint64_t seq;
};

enum msg_listen_kind {
	MSG_LISTEN_HTTP = 1,   /* index names global.listen[] */
	MSG_LISTEN_EXPORT = 2, /* export names a socket export */
	MSG_LISTEN_NBD = 3,    /* index names global.listen[], an nbd-listen */
};

struct msg_listener {
	char export[CONF_NAME_MAX];
	int32_t kind;
	int32_t index;
};

/* A request names an export, never a device: blockd maps it itself. */
struct msg_attach {
	char export[CONF_NAME_MAX];
	char user[CONF_NAME_MAX];
	uint64_t size;
	uint32_t session;
	uint32_t flags; /* NBD transmission flags */
};

struct msg_attach_result {
	char export[CONF_NAME_MAX];
	char device[CONF_NAME_MAX];
	char reason[128];
	uint32_t session;
	int32_t ok;
};

struct msg_detach {
	char export[CONF_NAME_MAX];
	uint32_t session;
	int32_t unused;
};

enum msg_hook_action {
	MSG_HOOK_START = 1,
	MSG_HOOK_STOP = 2,
};

/* hookd finds the hook and the device in its own copy of the config. */
struct msg_hook {
	char export[CONF_NAME_MAX];
	char user[CONF_NAME_MAX];
	uint64_t size;
	uint32_t session;
	int32_t action;
	int32_t read_only;
	int32_t unused;
};

/* What happened, for the audit trail the parent writes. */
enum msg_audit_event {
	AUDIT_EV_LOGIN = 1,
	AUDIT_EV_LOGIN_FAILED,
	AUDIT_EV_LOGOUT,
	AUDIT_EV_SESSION_START,
	AUDIT_EV_SESSION_END,
	AUDIT_EV_EJECT,
	AUDIT_EV_PROTOCOL_VIOLATION,
	AUDIT_EV_HOOK_FAILED,
	AUDIT_EV_ACCESS_DENIED,
	AUDIT_EV_NOT_RECORDED, /* refusals past an address's bound */
	AUDIT_EV_SOURCE_INSERTED,
	AUDIT_EV_INSERT_REFUSED,
	AUDIT_EV_INSERT_FAILED,
	AUDIT_EV_CONFIG_RELOAD, /* the parent's own, from here on */
	AUDIT_EV_SOURCE_STARTED,
	AUDIT_EV_SOURCE_EXITED,
	AUDIT_EV_RECONNECTING, /* sessiond's again: the reconnect window */
	AUDIT_EV_RESUMED,
	AUDIT_EV_RESUME_REFUSED,
	AUDIT_EV_RECONNECT_ENDED,
	AUDIT_EV_SETTING_CHANGED, /* Redfish: what inserts trust, logins' idle
				   */
	AUDIT_EV_COUNT
};

struct msg_audit {
	char user[CONF_NAME_MAX];
	char addr[64];
	char export[CONF_NAME_MAX];
	char target[CONF_PATH_MAX]; /* device or socket */
	char reason[128];
	uint64_t size;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t duration_ms;
	uint32_t session;
	int32_t event;	/* enum msg_audit_event */
	int32_t status; /* HTTP status of a refusal, or 0 */
	int32_t unused;
};

struct msg_hook_done {
	char export[CONF_NAME_MAX];
	char reason[128];
	uint32_t session;
	int32_t action;
	int32_t ok;
	int32_t unused;
};

/*
 * A source's nbdkit: started (with the parent's end of its socketpair),
 * or gone (pid 0: it never started) and why.
 */
struct msg_source {
	char export[CONF_NAME_MAX];
	char reason[128];
	int32_t pid;
	int32_t unused;
};

/*
 * POST /api/exports/NAME/insert, as sessiond checked it (the caller may
 * use the export, allow-source names the URI, nothing is attached): the
 * parent checks the URI against its own config again.
 */
#define MSG_SECRET_MAX 256 /* an inserted source's password, with NUL */
struct msg_insert {
	char export[CONF_NAME_MAX];
	char user[CONF_NAME_MAX];
	char uri[CONF_URI_MAX];
	/* HTTP credentials for an https:// or http:// source, or empty */
	char cred_user[CONF_NAME_MAX];
	char cred_password[MSG_SECRET_MAX];
	/* Redfish: the image server's certificate checked (1) or not (0) */
	int32_t verify;
	int32_t ncas; /* INSERT_CAs just before: the CAs to trust alone */
};

/*
 * One CA certificate (PEM) an inserted https:// source is to trust, of
 * count: sessiond's INSERT_CAs come just before their SOURCE_INSERT, the
 * parent's SOURCE_CAs just before each SOURCE_START of that source. A
 * SOURCE_CA with verify 0 (count 0, no PEM) turns verification off.
 */
#define MSG_CAS_MAX 4
#define MSG_PEM_MAX 3584
struct msg_ca {
	char export[CONF_NAME_MAX];
	int32_t index;
	int32_t count;
	int32_t verify;
	char pem[MSG_PEM_MAX];
};

/*
 * An inserted source's HTTP credentials, for the SOURCE_START of that
 * export that follows: the launcher writes them to a file for nbdkit.
 */
struct msg_credentials {
	char export[CONF_NAME_MAX];
	char user[CONF_NAME_MAX];
	char password[MSG_SECRET_MAX];
};

struct msg_hdr {
	uint32_t type;
	uint32_t len;
};

struct msg {
	uint32_t type;
	uint32_t len;
	int fd; /* -1 if none */
	union {
		unsigned char bytes[MSG_PAYLOAD_MAX];
		struct conf_global global;
		struct conf_export export;
		struct conf_user user;
		struct msg_conf_end conf_end;
		struct msg_ping ping;
		struct msg_listener listener;
		struct msg_attach attach;
		struct msg_attach_result attached;
		struct msg_detach detach;
		struct msg_hook hook;
		struct msg_hook_done hook_done;
		struct msg_audit audit;
		struct msg_source source;
		struct msg_insert insert;
		struct msg_credentials credentials;
		struct msg_ca ca;
		uint64_t align;
	} u;
};

struct event_base;
struct chan;
struct chan_out;

typedef void (*chan_dispatch_fn)(struct chan *, struct msg *, void *);
typedef void (*chan_closed_fn)(struct chan *, void *);

/*
 * A channel to one peer. Sends never block: what the socket does not take
 * waits in the queue, written when the socket is writable again.
 */
struct chan {
	int fd;
	enum msg_proc self;
	enum msg_proc peer;
	struct event *ev;  /* readable */
	struct event *wev; /* writable, while queued */
	TAILQ_HEAD(, chan_out) queue;
	size_t nqueued;
	size_t queued_bytes;
	chan_dispatch_fn dispatch;
	chan_closed_fn closed;
	/* The queue overflowed (closed by then); NULL makes it fatal. */
	chan_closed_fn full;
	void *arg;
};

void msg_audit_init(struct msg_audit *, int, const char *, const char *,
    const char *, const char *);
const struct msg_info *msg_info(uint32_t);
const char *msg_type_name(uint32_t);
const char *msg_proc_name(int);
int msg_sibling(enum msg_proc, int);
const char *msg_decode(const void *, size_t, int, enum msg_proc, enum msg_proc,
    struct msg *);
int msg_recv(int, enum msg_proc, enum msg_proc, struct msg *, const char **);
int msg_write(int, enum msg_type, const void *, size_t, int, int);
int msg_send(int, enum msg_type, const void *, size_t, int);
void chan_init(struct chan *, struct event_base *, int, enum msg_proc,
    enum msg_proc, chan_dispatch_fn, chan_closed_fn, void *);
void chan_close(struct chan *);
void chan_send(struct chan *, enum msg_type, const void *, size_t, int);
void chan_flush(struct chan *);

#endif
