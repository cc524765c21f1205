/*
 * sessiond: the network-facing process. HTTP, WebSocket, the NBD
 * handshake, the validating relay, and the local clients of socket
 * exports; unprivileged, chrooted, holding no capability.
 */
#ifndef SESSIOND_H
#define SESSIOND_H

#include <sys/queue.h>

#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "msg.h"
#include "nbd_client.h"
#include "nbd_server.h"
#include "relay.h"
#include "resume.h"
#include "sample.h"
#include "sandbox.h"
#include "tls.h"
#include "ws.h"

struct acceptor;
struct bufferevent;
struct stream;
struct child;
struct evbuffer;
struct event;

#define SESSIOND_CLOSE_SEC 2 /* close handshake, then drop */
#define SESSION_ARMED_MAX 160
#define SESSION_ARM_SEC 10 /* a resume armed waits this long */
/* WebSocket close codes of a refused resume */
#define WS_CLOSE_RESUME_IMAGE 4001 /* size or flags differ */
#define WS_CLOSE_RESUME_CONTENT 4002
#define WS_CLOSE_RESUME_FAILED 4003
#define WS_CLOSE_WINDOW_ENDED 4004

enum export_state {
	EXPORT_IDLE,
	EXPORT_CONNECTING, /* NBD handshake or device attach */
	EXPORT_ACTIVE,
	EXPORT_CLOSING,	     /* device being released */
	EXPORT_RECONNECTING, /* the peer is lost: waiting for its resume */
};

struct session;
struct local_client;

/* Backpressure, one state per direction (flow.c). */
enum flow_state {
	FLOW_OPEN = 0,
	FLOW_PAUSED,
};

/* An export as sessiond serves it: its config and who uses it now. */
struct export_rt {
	struct conf_export conf;
	enum export_state state;
	struct session *session;
	struct acceptor *listener; /* socket exports */
	int present;		   /* still in the config */
	uint32_t closing_session;  /* awaiting DETACHED */
	/* the last session's figures, shown while idle */
	uint64_t last_read;
	uint64_t last_written;
	/* an inserted source (insert.c): its URI, "" if none, and who */
	char inserted[CONF_URI_MAX];
	char inserted_by[CONF_NAME_MAX];
	char inserted_from[64];	 /* the inserter's address */
	int insert_pending;	 /* not yet attached, nor failed */
	struct conn *inserting;	 /* waits for the insert's answer */
	char source_reason[128]; /* why its source last ended, or "" */
	/*
	 * Redfish: the CAs an https:// insert trusts alone (PEM as
	 * PEM_write_bio_X509 writes it, malloc'd; Id cas_id), and
	 * VerifyCertificate false. Kept until sessiond restarts.
	 */
	char *cas[MSG_CAS_MAX];
	unsigned int cas_id[MSG_CAS_MAX];
	unsigned int cas_next;
	int no_verify;
};

/*
 * An NBD client: of a socket export's Unix socket (local), or of an
 * nbd-listen (net), which names its export in the handshake.
 */
struct local_client {
	TAILQ_ENTRY(local_client) entry;
	char name[96];	      /* for the log */
	struct export_rt *ex; /* a net client's: once it chose one */
	struct stream *stream;
	struct nbd_server hs;
	struct relay_down down;
	struct event *timer; /* handshake timeout */
	int relaying;
	int closing;
	int net;		  /* from an nbd-listen */
	int starttls;		  /* TLS starts once the STARTTLS ack is out */
	char user[CONF_NAME_MAX]; /* net: who, "" for nobody */
	char certname[64];	  /* net: what a certificate of no user named */
	struct bufferevent *tls;  /* net: after STARTTLS, the stream's */
	struct tls_psk psk;	  /* net: the PSK identity it offered */
	int identified;		  /* net: its certificate was looked at */
	int anonymous;		  /* net: auth = none */
	char addr[64];		  /* net: the client's address */
	char host[48];		  /* net: and without the port */
};
TAILQ_HEAD(local_list, local_client);

struct session {
	uint32_t id;
	struct export_rt *ex;
	char user[CONF_NAME_MAX];
	char addr[64];
	time_t since;
	struct stream *peer;
	struct ws_reader ws;
	struct evbuffer *stream_in;  /* unmasked, from the peer */
	struct evbuffer *stream_out; /* to be framed to the peer */
	struct nbd_client hs;
	int transmitting; /* handshake done */
	struct relay relay;
	struct stream *kernel; /* device exports */
	struct relay_down kdown;
	int attach_sent;
	int attach_answered;
	int attach_refused;
	struct local_list locals; /* socket exports */
	struct event *timer;	  /* handshake, then close */
	struct event *watchdog;	  /* replies must keep coming */
	time_t last_progress;
	uint64_t seen_replies;
	size_t pongs_queued;	     /* since the output drained */
	enum flow_state peer_input;  /* paused: the kernel's is full */
	enum flow_state downstreams; /* paused: the peer is full */
	int ending;
	int framed; /* WebSocket; 0: a source's nbdkit (source.c) */
	/* the reconnect window (ARCHITECTURE.md) */
	int window;   /* it applies to this session */
	int sampling; /* sample reads under way */
	struct sampler sampler;
	struct sample_set samples; /* taken at attach */
	uint16_t peer_flags;	   /* as the first peer offered them */
	unsigned char secret[SESSION_SECRET_LEN];
	int secret_given;
	int reconnecting; /* the peer is lost */
	int resuming;	  /* a new peer's handshake and samples */
	time_t deadline;
	struct event *window_timer;
	char armed_for[SESSION_ARMED_MAX]; /* a login token or an address */
	time_t armed_until;
};

/* sessiond.c */
extern struct child *sd_child;
uint32_t sd_next_session_id(void);
struct export_rt *sd_export(const char *);
struct identity;
struct export_rt *sd_default_export(const struct identity *);
void sd_audit(struct msg_audit *);
struct export_rt *sd_exports(int *);
void sd_send_blockd(int, const void *, size_t, int);

/* accept.c: listeners that pause when out of file descriptors */
typedef void (*acceptor_fn)(int, void *);
struct acceptor *acceptor_new(int, acceptor_fn, void *);
void acceptor_free(struct acceptor *);

/* conn.c: HTTP connections */
int conn_count(void);
int conn_admit(const char *);
void conn_http_listen(int, int);

/* web.c: static files */
struct web_file {
	char path[128];
	const char *type;
	char *data;
	size_t len;
};
void web_load(const char *);
const struct web_file *web_find(const char *);

/* api.c */
void api_exports(struct evbuffer *, const struct identity *);

/* session.c */
int session_start(struct export_rt *, struct stream *, const char *,
    const char *, int);
void session_end(struct session *, const char *, uint16_t);
int session_resume_secret(struct session *, char[2 * SESSION_SECRET_LEN + 1]);
int session_resumable(const struct session *);
int session_resume_arm(struct session *, const unsigned char *, const char *);
int session_resume_armed(struct session *, const char *);
void session_resume(struct session *, struct stream *, const char *);

/* source.c: an export's nbdkit as its session's peer */
void source_peer(const struct msg_source *, int);
void source_conf_applied(struct export_rt *, const struct conf_export *);

/* insert.c: POST /api/exports/NAME/insert, and an inserted source's end */
struct conn;
void insert_serve(struct conn *, const char *);
struct cred_insert;
void insert_start(struct conn *, struct export_rt *, struct cred_insert *);
void insert_end(struct export_rt *, const char *);
void insert_attached(struct export_rt *);
void insert_source_ended(const struct msg_source *);
void insert_forget(struct conn *);
void insert_conf_applied(struct export_rt *, const struct conf_export *);
int session_count(void);
int session_count_user(const char *);
void session_attached(const struct msg_attach_result *);
void session_detached(const struct msg_detach *);
void session_kick_downstreams(struct session *);
void session_peer_input(struct session *);
void
session_down_done(struct session *, struct relay_down *, enum relay_result);
void session_downstream_setup(struct stream *, struct relay_down *, void *);

/* flow.c: backpressure between the peer and the downstreams */
void flow_peer_setup(struct stream *);
void flow_downstream_setup(struct stream *);
void flow_peer_output(struct session *);
void flow_peer_drained(struct session *);
void flow_downstreams_filled(struct session *);
void flow_downstream_drained(struct session *);
void flow_downstream_joined(struct session *, struct local_client *);
void flow_hold(struct session *);
void flow_release(struct session *);

/* local.c: local NBD clients of socket exports */
void local_listen(struct export_rt *, int);
void net_listen(int, int);
void local_close_all(struct session *, const char *);
void local_fail_all(struct session *, const char *);
void local_client_close(struct local_client *, const char *);
void local_client_requests(struct local_client *);
void local_unlisten(struct export_rt *);
int local_count(void);

extern const struct sandbox_policy sessiond_policy;

#endif
