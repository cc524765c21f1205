/*
 * A session: one peer serving one export's image. The peer's stream (a
 * browser's WebSocket, or unframed: a source's nbdkit, source.c) goes
 * through the NBD handshake, then the validating relay, to
 * the kernel (device exports, through blockd) or local clients (socket
 * exports). Buffers are bounded both ways: a full side pauses the other,
 * but a local client that does not read holds up only its own requests
 * (local.c), and a peer that does not read is cut off.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "libevent_tv.h"
#include "log.h"
#include "nbd_proto.h"
#include "sessiond.h"
#include "stream.h"

#define STREAM_IN_MAX (1024 * 1024) /* unmasked, not yet relayed */
#define PONG_QUEUE_MAX (64 * 1024)  /* pongs the peer has not read */

static void session_free(struct session *);
static void session_lost(struct session *, const char *);
static void resume_refuse(struct session *, uint16_t, const char *);
static int nsessions;

int
session_count(void)
{
	return nsessions;
}

int
session_count_user(const char *user)
{
	struct export_rt *table;
	int i, n, count = 0;

	table = sd_exports(&n);
	for (i = 0; i < n; i++)
		if (table[i].session != NULL &&
		    strcmp(table[i].session->user, user) == 0)
			count++;
	return count;
}

static void
session_audit(const struct session *s, int event, const char *reason)
{
	const struct conf_export *e = &s->ex->conf;
	struct msg_audit a;

	msg_audit_init(&a, event, s->user, s->addr, e->name, reason);
	a.session = s->id;
	snprintf(a.target, sizeof(a.target), "%s",
	    e->device[0] ? e->device : e->socket);
	a.size = s->transmitting ? s->relay.size : 0;
	a.bytes_read = s->relay.bytes_read;
	a.bytes_written = s->relay.bytes_written;
	a.duration_ms = (uint64_t)(time(NULL) - s->since) * 1000;
	sd_audit(&a);
}
static void peer_read(struct stream *, void *);

static void
session_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)events;
	if (s->ending)
		session_free(s);
	else if (s->resuming)
		resume_refuse(s, WS_CLOSE_RESUME_FAILED,
		    "resume refused: the handshake timed out");
	else
		session_end(s, "handshake timed out", WS_CLOSE_POLICY);
}

/* Whether losing the peer now opens the reconnect window. */
static int
session_may_wait(const struct session *s)
{
	return s->window && s->transmitting && !s->sampling &&
	    !s->reconnecting && s->ex->state == EXPORT_ACTIVE;
}

/*
 * Requests in flight and no reply for the export's timeout: the peer has
 * stalled. Without this a local client would wait for ever.
 */
static void
session_watchdog(evutil_socket_t fd, short events, void *arg)
{
	struct session *s = arg;
	time_t now = time(NULL);
	char why[64];

	(void)fd;
	(void)events;
	if (s->ending || s->reconnecting)
		return;
	ra_tick(&s->relay);
	if (relay_inflight(&s->relay) == 0 ||
	    s->relay.replies != s->seen_replies) {
		s->seen_replies = s->relay.replies;
		s->last_progress = now;
		return;
	}
	if (now - s->last_progress < s->ex->conf.timeout)
		return;
	snprintf(why, sizeof(why), "the peer stopped answering (%d s)",
	    s->ex->conf.timeout);
	log_warnx("session %u: export %s: %s", s->id, s->ex->conf.name, why);
	if (session_may_wait(s))
		session_lost(s, why);
	else
		session_end(s, why, WS_CLOSE_POLICY);
}

/* What a downstream's requests came to; ends or closes as needed. */
void
session_down_done(struct session *s, struct relay_down *d, enum relay_result r)
{
	flow_peer_output(s);
	if (r == RELAY_OK || r == RELAY_FULL || r == RELAY_BACKLOG)
		return;
	if (d == &s->kdown) {
		session_end(s,
		    r == RELAY_DISC ? "kernel disconnected" : s->relay.reason,
		    WS_CLOSE_NORMAL);
		return;
	}
	local_client_close(d->owner,
	    r == RELAY_DISC ? "client disconnected" : s->relay.reason);
}

static void
kernel_read(struct stream *st, void *arg)
{
	struct session *s = arg;

	(void)st;
	if (s->ending || s->reconnecting || s->relay.resend_rest)
		return; /* requests wait for the resume */
	session_down_done(s, &s->kdown,
	    relay_requests(&s->relay, &s->kdown, s->stream_out));
}

static void
kernel_write(struct stream *st, void *arg)
{
	(void)st;
	flow_downstream_drained(arg);
}

static void
kernel_event(struct stream *st, short what, void *arg)
{
	struct session *s = arg;

	(void)what;
	/* Before blockd has answered this means a refusal: let it say why. */
	if (s->attach_sent && !s->attach_answered) {
		relay_down_gone(&s->relay, &s->kdown);
		stream_free(st);
		s->kernel = NULL;
		return;
	}
	session_end(s, "the kernel closed the device socket", WS_CLOSE_NORMAL);
}

/* Slots came free or the peer drained: let waiting requests go. */
void
session_kick_downstreams(struct session *s)
{
	struct local_client *lc, *next;

	if (s->ending || s->downstreams == FLOW_PAUSED || !s->transmitting ||
	    s->reconnecting || s->relay.resend_rest)
		return;
	if (s->kernel != NULL &&
	    evbuffer_get_length(s->kdown.in) >= NBD_REQUEST_SIZE)
		kernel_read(s->kernel, s);
	for (lc = TAILQ_FIRST(&s->locals);
	     lc != NULL && !s->ending && s->downstreams == FLOW_OPEN;
	     lc = next) {
		next = TAILQ_NEXT(lc, entry);
		if (lc->relaying &&
		    evbuffer_get_length(lc->down.in) >= NBD_REQUEST_SIZE)
			local_client_requests(lc);
	}
}

void
session_downstream_setup(struct stream *st, struct relay_down *d, void *owner)
{
	flow_downstream_setup(st);
	d->in = stream_input(st);
	d->out = stream_output(st);
	d->inflight = 0;
	d->owed = 0;
	d->replies_max = 0;
	d->structured = 0;
	d->block_status = 0;
	d->owner = owner;
}

/* Device export: one end of a socketpair to blockd, one for the relay. */
static int
attach_device(struct session *s)
{
	struct msg_attach a;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		sv) == -1) {
		log_warn("session %u: socketpair", s->id);
		return -1;
	}
	s->kernel = stream_new(sv[0]);
	session_downstream_setup(s->kernel, &s->kdown, s);
	stream_setcb(s->kernel, kernel_read, kernel_write, kernel_event, s);
	/* Relay at once: the kernel reads while the start hook runs. */
	stream_enable_read(s->kernel);
	memset(&a, 0, sizeof(a));
	snprintf(a.export, sizeof(a.export), "%s", s->ex->conf.name);
	snprintf(a.user, sizeof(a.user), "%s", s->user);
	a.size = s->relay.size;
	a.session = s->id;
	a.flags = s->relay.flags;
	sd_send_blockd(MSG_ATTACH, &a, sizeof(a), sv[1]); /* takes sv[1] */
	s->attach_sent = 1;
	return 0;
}

static int transmission_go(struct session *);

/* The peer's handshake is done: check what it offers, then connect. */
static int
transmission_begin(struct session *s)
{
	const struct conf_export *e = &s->ex->conf;
	uint64_t size = s->hs.size;
	uint16_t flags = s->hs.flags;

	if (size == 0) {
		session_end(s, "the peer offers an empty image",
		    WS_CLOSE_POLICY);
		return 0;
	}
	if (size > e->max_size) {
		char why[96];

		snprintf(why, sizeof(why),
		    "image of %" PRIu64 " bytes exceeds max-size %" PRIu64,
		    size, e->max_size);
		session_end(s, why, WS_CLOSE_POLICY);
		return 0;
	}
	s->peer_flags = flags;
	if (!(flags & NBD_TFLAG_HAS_FLAGS))
		flags = 0;
	flags = (flags & NBD_TFLAG_RELAYED) | NBD_TFLAG_HAS_FLAGS;
	if (e->read_only)
		flags |= NBD_TFLAG_READ_ONLY;
	relay_init(&s->relay, size, flags);
	ra_init(&s->relay.ra, e->read_ahead, e->timeout);
	if (e->reconnect > 0 && s->framed) {
		/* The reconnect window: a secret and samples, then on. */
		s->window = 1;
		relay_keep(&s->relay);
		if (getrandom(s->secret, sizeof(s->secret), 0) !=
		    (ssize_t)sizeof(s->secret))
			fatal("getrandom");
		sample_plan(&s->samples, size);
		sample_start(&s->sampler, &s->samples, s->stream_out);
		flow_peer_output(s);
		s->sampling = 1;
		return 1;
	}
	return transmission_go(s);
}

/* The samples are in: they are what a resuming peer must match. */
static int
samples_taken(struct session *s)
{
	int i;

	s->samples = s->sampler.set;
	for (i = 0; i < SAMPLE_COUNT; i++) {
		s->relay.mark_offset[i] = s->samples.offset[i];
		s->relay.mark_length[i] = s->samples.length[i];
	}
	s->relay.marks = s->samples.have;
	return transmission_go(s);
}

/* Relaying starts: the device is attached, or local clients may come. */
static int
transmission_go(struct session *s)
{
	static const struct libevent_tv watchdog_tick = { 1, 0 };
	const struct conf_export *e = &s->ex->conf;
	uint64_t size = s->relay.size;
	uint16_t flags = s->relay.flags;

	s->transmitting = 1;
	s->last_progress = time(NULL);
	evtimer_add(s->watchdog, LIBEVENT_TV(&watchdog_tick));
	log_info("session %u: export %s: peer serves %" PRIu64 " bytes%s (%s)",
	    s->id, e->name, size,
	    (flags & NBD_TFLAG_READ_ONLY) ? ", read-only" : "",
	    s->hs.fell_back ? "EXPORT_NAME" : "GO");
	session_audit(s, AUDIT_EV_SESSION_START, "");
	if (!s->framed)
		insert_attached(s->ex);
	if (e->device[0] != '\0') {
		if (attach_device(s) == 0)
			return 1;
		session_end(s, "cannot reach the device", WS_CLOSE_INTERNAL);
		return 0;
	}
	s->ex->state = EXPORT_ACTIVE;
	evtimer_del(s->timer);
	return 1;
}

static int resume_handshake_done(struct session *);
static int resume_samples_done(struct session *);

/*
 * Handshake, samples, then replies. Returns 0 once the session has ended
 * or a resuming peer was refused (its stream is no longer ours).
 */
static int
stream_process(struct session *s)
{
	enum nbd_client_result hr;
	enum sample_result sr;

	if (s->sampling) {
		sr = sample_input(&s->sampler, s->stream_in);
		if (sr == SAMPLE_MORE)
			return 1;
		s->sampling = 0;
		if (sr == SAMPLE_ERROR) {
			if (s->resuming)
				resume_refuse(s, WS_CLOSE_RESUME_FAILED,
				    s->sampler.reason);
			else
				session_end(s, s->sampler.reason,
				    WS_CLOSE_PROTOCOL);
			return 0;
		}
		if (s->resuming ? !resume_samples_done(s) : !samples_taken(s))
			return 0;
	} else if (!s->transmitting || s->resuming) {
		hr = nbd_client_input(&s->hs, s->stream_in, s->stream_out);
		flow_peer_output(s);
		if (hr == NBD_CLIENT_ERROR) {
			if (s->resuming)
				resume_refuse(s, WS_CLOSE_RESUME_FAILED,
				    s->hs.reason);
			else
				session_end(s, s->hs.reason, WS_CLOSE_PROTOCOL);
			return 0;
		}
		if (hr == NBD_CLIENT_MORE)
			return 1;
		if (s->resuming)
			return resume_handshake_done(s);
		if (!transmission_begin(s))
			return 0;
		if (s->sampling)
			return 1;
	}
	if (relay_replies(&s->relay, s->stream_in) == RELAY_VIOLATION) {
		log_warnx("session %u: export %s: protocol violation by the "
			  "peer: %s",
		    s->id, s->ex->conf.name, s->relay.reason);
		session_audit(s, AUDIT_EV_PROTOCOL_VIOLATION, s->relay.reason);
		session_end(s, s->relay.reason, WS_CLOSE_PROTOCOL);
		return 0;
	}
	if (relay_resend_due(&s->relay)) {
		if (relay_resend(&s->relay, s->stream_out) < 0) {
			session_end(s, "a write to resend was not kept",
			    WS_CLOSE_INTERNAL);
			return 0;
		}
		flow_peer_output(s);
		flow_release(s);
	}
	flow_downstreams_filled(s);
	session_kick_downstreams(s);
	return !s->ending;
}

/*
 * Each ping is answered, but a peer that pings without reading would have
 * us queue pongs for ever: past PONG_QUEUE_MAX bytes of them since its
 * output last drained to the low mark, it is cut off.
 */
static int
peer_pong(struct session *s, const struct ws_event *ev)
{
	char why[96];

	s->pongs_queued += 2 + ev->len;
	if (s->pongs_queued > PONG_QUEUE_MAX) {
		snprintf(why, sizeof(why),
		    "the peer does not read what it is "
		    "sent (%zu bytes of pongs queued)",
		    s->pongs_queued);
		if (s->resuming)
			resume_refuse(s, WS_CLOSE_POLICY, why);
		else
			session_end(s, why, WS_CLOSE_POLICY);
		return 0;
	}
	ws_write_control(stream_output(s->peer), WS_OP_PONG, ev->payload,
	    ev->len);
	return 1;
}

static int
peer_control(struct session *s, const struct ws_event *ev)
{
	switch (ev->type) {
	case WS_OP_PING:
		return peer_pong(s, ev);
	case WS_OP_CLOSE:
		if (s->resuming) {
			resume_refuse(s, WS_CLOSE_NORMAL,
			    "the resuming peer closed the WebSocket");
			return 0;
		}
		session_end(s, "the peer closed the WebSocket",
		    ev->close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL :
							   ev->close_code);
		return 0;
	default:
		return 1;
	}
}

/* A source's nbdkit: its bytes are the NBD stream itself, no frames. */
static int
peer_read_unframed(struct evbuffer *in, struct evbuffer *stream_in, size_t room)
{
	if (room > 0 && evbuffer_get_length(in) > 0 &&
	    evbuffer_remove_buffer(in, stream_in, room) == -1)
		fatalx("peer input");
	return WS_READ_MORE;
}

static void
peer_read(struct stream *st, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = stream_input(st);
	struct ws_event ev;
	size_t room, queued, left;
	int r;

	while (!s->ending && s->peer_input == FLOW_OPEN) {
		left = evbuffer_get_length(in);
		queued = evbuffer_get_length(s->stream_in);
		room = queued < STREAM_IN_MAX ? STREAM_IN_MAX - queued : 0;
		r = s->framed ? ws_read(&s->ws, in, s->stream_in, room, &ev) :
				peer_read_unframed(in, s->stream_in, room);
		if (r == WS_READ_ERROR) {
			log_warnx("session %u: WebSocket: %s", s->id, ev.error);
			if (s->resuming)
				resume_refuse(s, ev.close_code, ev.error);
			else
				session_end(s, ev.error, ev.close_code);
			return;
		}
		if (r == WS_READ_EVENT) {
			if (!peer_control(s, &ev))
				return;
			continue;
		}
		if (!stream_process(s))
			return;
		/* Done when the input is used up or the reader took nothing. */
		if (evbuffer_get_length(in) == 0 ||
		    evbuffer_get_length(in) == left)
			break;
	}
	if (s->ending)
		evbuffer_drain(in, evbuffer_get_length(in));
}

/* The peer may go on: read what waits in its socket. */
void
session_peer_input(struct session *s)
{
	peer_read(s->peer, s);
}

static void
peer_write(struct stream *st, void *arg)
{
	struct session *s = arg;
	struct evbuffer *out = stream_output(st);

	if (s->ending) {
		if (evbuffer_get_length(out) == 0)
			session_free(s);
		return;
	}
	s->pongs_queued = 0;
	flow_peer_drained(s);
}

static void
peer_event(struct stream *st, short what, void *arg)
{
	struct session *s = arg;

	const char *why = (what & STREAM_EOF) ?
	    "the peer went away" :
	    "connection error with the peer";

	(void)st;
	if (s->resuming) {
		resume_refuse(s, 0, why);
		return;
	}
	if (!s->ending && session_may_wait(s)) {
		session_lost(s, why);
		return;
	}
	if (!s->ending)
		session_end(s, why, WS_CLOSE_GOING_AWAY);
	session_free(s);
}

static void window_ended(evutil_socket_t, short, void *);

int
session_start(struct export_rt *ex, struct stream *peer, const char *addr,
    const char *user, int framed)
{
	struct libevent_tv tv = { sd_child->conf->global.handshake_timeout, 0 };
	struct session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	nsessions++;
	s->id = sd_next_session_id();
	s->ex = ex;
	s->peer = peer;
	s->framed = framed;
	s->since = time(NULL);
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	snprintf(s->user, sizeof(s->user), "%s", user);
	TAILQ_INIT(&s->locals);
	if ((s->stream_in = evbuffer_new()) == NULL ||
	    (s->stream_out = evbuffer_new()) == NULL ||
	    (s->timer = evtimer_new(sd_child->base, session_timeout, s)) ==
		NULL ||
	    (s->watchdog = event_new(sd_child->base, -1, EV_PERSIST,
		 session_watchdog, s)) == NULL ||
	    (s->window_timer = evtimer_new(sd_child->base, window_ended, s)) ==
		NULL)
		fatalx("session buffers");
	ws_reader_init(&s->ws, NBD_MAX_PAYLOAD + 4096);
	nbd_client_init(&s->hs);
	ex->session = s;
	ex->state = EXPORT_CONNECTING;
	stream_setcb(peer, peer_read, peer_write, peer_event, s);
	flow_peer_setup(peer);
	evtimer_add(s->timer, LIBEVENT_TV(&tv));
	log_info("session %u: %s connects to export %s", s->id, addr,
	    ex->conf.name);
	stream_enable_read(peer);
	if (evbuffer_get_length(stream_input(peer)) > 0)
		peer_read(peer, s);
	return 0;
}

/*
 * Ends a session: close frame to the peer, local clients dropped, the
 * device released through blockd. The session itself is freed once the
 * close frame is out, the peer is gone, or a timer says enough.
 */
void
session_end(struct session *s, const char *reason, uint16_t code)
{
	struct export_rt *ex = s->ex;
	struct libevent_tv tv = { SESSIOND_CLOSE_SEC, 0 };
	struct msg_detach det;
	char text[124];

	if (s->ending)
		return;
	s->ending = 1;
	log_info("session %u: export %s ended: %s (%s, read %" PRIu64
		 ", written %" PRIu64 " bytes, %lld s)",
	    s->id, ex->conf.name, reason, s->addr, s->relay.bytes_read,
	    s->relay.bytes_written, (long long)(time(NULL) - s->since));
	ex->last_read = s->relay.bytes_read;
	ex->last_written = s->relay.bytes_written;
	session_audit(s, AUDIT_EV_SESSION_END, reason);
	local_close_all(s, reason);
	if (s->kernel != NULL) {
		relay_down_gone(&s->relay, &s->kdown);
		stream_free(s->kernel);
		s->kernel = NULL;
	}
	ex->session = NULL;
	ex->state = EXPORT_IDLE;
	if (s->attach_sent && !s->attach_refused) {
		memset(&det, 0, sizeof(det));
		snprintf(det.export, sizeof(det.export), "%s", ex->conf.name);
		det.session = s->id;
		sd_send_blockd(MSG_DETACH, &det, sizeof(det), -1);
		ex->state = EXPORT_CLOSING;
		ex->closing_session = s->id;
	}
	if (s->peer != NULL) {
		snprintf(text, sizeof(text), "%s", reason);
		if (s->framed)
			ws_write_close(stream_output(s->peer), code, text);
		stream_disable_read(s->peer);
	}
	evtimer_del(s->watchdog);
	evtimer_del(s->window_timer);
	s->reconnecting = 0;
	s->resuming = 0;
	explicit_bzero(s->secret, sizeof(s->secret));
	explicit_bzero(s->armed_for, sizeof(s->armed_for));
	evtimer_del(s->timer);
	evtimer_add(s->timer, LIBEVENT_TV(&tv));
}

static void
session_free(struct session *s)
{
	stream_free(s->peer);
	relay_free(&s->relay);
	evbuffer_free(s->stream_in);
	evbuffer_free(s->stream_out);
	event_free(s->timer);
	event_free(s->watchdog);
	event_free(s->window_timer);
	free(s);
	nsessions--;
}

void
session_attached(const struct msg_attach_result *res)
{
	struct export_rt *ex = sd_export(res->export);
	struct session *s = ex ? ex->session : NULL;

	if (s == NULL || s->id != res->session || s->ending)
		return; /* an answer for a session already gone */
	s->attach_answered = 1;
	if (!res->ok) {
		s->attach_refused = 1;
		session_end(s, res->reason, WS_CLOSE_INTERNAL);
		return;
	}
	ex->state = EXPORT_ACTIVE;
	evtimer_del(s->timer);
	log_info("session %u: export %s attached as %s", s->id, ex->conf.name,
	    res->device);
}

void
session_detached(const struct msg_detach *det)
{
	struct export_rt *ex = sd_export(det->export);

	if (ex != NULL && ex->state == EXPORT_CLOSING &&
	    ex->closing_session == det->session) {
		ex->state = EXPORT_IDLE;
		log_debug("export %s: device released", ex->conf.name);
	}
}

/* --- the reconnect window (ARCHITECTURE.md) ---------------------------- */

/*
 * The peer's connection is lost but the window applies: the device (or
 * the local clients) stays, requests wait, unanswered ones are kept.
 */
static void
session_lost(struct session *s, const char *why)
{
	struct libevent_tv tv = { s->ex->conf.reconnect, 0 };

	log_info("session %u: export %s: %s; reconnecting for %d s", s->id,
	    s->ex->conf.name, why, s->ex->conf.reconnect);
	session_audit(s, AUDIT_EV_RECONNECTING, why);
	stream_free(s->peer);
	s->peer = NULL;
	relay_peer_lost(&s->relay);
	evbuffer_drain(s->stream_in, evbuffer_get_length(s->stream_in));
	evbuffer_drain(s->stream_out, evbuffer_get_length(s->stream_out));
	s->pongs_queued = 0;
	flow_hold(s);
	s->reconnecting = 1;
	s->armed_until = 0;
	s->deadline = time(NULL) + s->ex->conf.reconnect;
	s->ex->state = EXPORT_RECONNECTING;
	evtimer_add(s->window_timer, LIBEVENT_TV(&tv));
}

/* Nobody resumed in time: today's teardown, with EIO to what waits. */
static void
window_ended(evutil_socket_t fd, short events, void *arg)
{
	struct session *s = arg;
	const char *why = "the reconnect window ended";

	(void)fd;
	(void)events;
	if (s->ending || !s->reconnecting)
		return;
	log_info("session %u: export %s: %s", s->id, s->ex->conf.name, why);
	session_audit(s, AUDIT_EV_RECONNECT_ENDED, why);
	local_fail_all(s, why);
	session_end(s, why, WS_CLOSE_WINDOW_ENDED);
}

/* A refused resume's WebSocket: its close frame goes out, then it goes. */
struct discard {
	struct stream *st;
	struct event *timer;
};

static void
discard_free(struct discard *d)
{
	stream_free(d->st);
	event_free(d->timer);
	free(d);
}

/* Read and dropped until it closes: a reset would lose the close frame. */
static void
discard_read(struct stream *st, void *arg)
{
	struct evbuffer *in = stream_input(st);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
discard_write(struct stream *st, void *arg)
{
	(void)st;
	(void)arg;
}

static void
discard_event(struct stream *st, short what, void *arg)
{
	(void)st;
	(void)what;
	discard_free(arg);
}

static void
discard_timeout(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	discard_free(arg);
}

/* code 0: the resuming peer is gone already; else close it with code. */
static void
resume_refuse(struct session *s, uint16_t code, const char *why)
{
	struct libevent_tv tv = { SESSIOND_CLOSE_SEC, 0 };
	struct stream *st = s->peer;
	struct msg_audit a;
	struct discard *d;
	char text[124];

	log_warnx("session %u: export %s: resume refused: %s", s->id,
	    s->ex->conf.name, why);
	msg_audit_init(&a, AUDIT_EV_RESUME_REFUSED, s->user, s->addr,
	    s->ex->conf.name, why);
	a.session = s->id;
	sd_audit(&a);
	s->peer = NULL;
	s->resuming = 0;
	s->sampling = 0;
	evtimer_del(s->timer);
	evbuffer_drain(s->stream_in, evbuffer_get_length(s->stream_in));
	evbuffer_drain(s->stream_out, evbuffer_get_length(s->stream_out));
	if (code == 0) {
		stream_free(st);
		return;
	}
	snprintf(text, sizeof(text), "%s", why);
	ws_write_close(stream_output(st), code, text);
	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("calloc");
	d->st = st;
	if ((d->timer = evtimer_new(sd_child->base, discard_timeout, d)) ==
	    NULL)
		fatalx("evtimer_new");
	stream_setcb(st, discard_read, discard_write, discard_event, d);
	evbuffer_drain(stream_input(st), evbuffer_get_length(stream_input(st)));
	evtimer_add(d->timer, LIBEVENT_TV(&tv));
}

/* The new peer's image: same size and flags, then the samples again. */
static int
resume_handshake_done(struct session *s)
{
	if (s->hs.size != s->relay.size || s->hs.flags != s->peer_flags) {
		resume_refuse(s, WS_CLOSE_RESUME_IMAGE,
		    "resume refused: the image's size or flags differ");
		return 0;
	}
	sample_start(&s->sampler, &s->samples, s->stream_out);
	flow_peer_output(s);
	s->sampling = 1;
	return 1;
}

/* Samples match: the unanswered requests go again, downstreams go on. */
static int
resume_samples_done(struct session *s)
{
	char why[96];
	int n;

	if (sample_differs(&s->samples, s->relay.marks, &s->sampler.set)) {
		resume_refuse(s, WS_CLOSE_RESUME_CONTENT,
		    "resume refused: the image's content differs");
		return 0;
	}
	if ((n = relay_resend(&s->relay, s->stream_out)) < 0) {
		session_end(s, "a write to resend was not kept",
		    WS_CLOSE_INTERNAL);
		return 0;
	}
	s->resuming = 0;
	s->reconnecting = 0;
	evtimer_del(s->timer);
	evtimer_del(s->window_timer);
	s->ex->state = EXPORT_ACTIVE;
	s->last_progress = time(NULL);
	s->seen_replies = s->relay.replies;
	snprintf(why, sizeof(why), "%d requests sent again%s", n,
	    s->relay.resend_rest ? ", a cut-off read first" : "");
	log_info("session %u: export %s: resumed from %s; %s", s->id,
	    s->ex->conf.name, s->addr, why);
	session_audit(s, AUDIT_EV_RESUMED, why);
	flow_peer_output(s);
	if (!s->relay.resend_rest)
		flow_release(s);
	return !s->ending;
}

/* The secret, once per attach, while attached; hex is NUL-terminated. */
int
session_resume_secret(struct session *s, char hex[2 * SESSION_SECRET_LEN + 1])
{
	int i;

	if (!s->window || s->ending || s->secret_given || !s->transmitting ||
	    s->ex->state != EXPORT_ACTIVE)
		return -1;
	for (i = 0; i < SESSION_SECRET_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", s->secret[i]);
	s->secret_given = 1;
	return 0;
}

/* Whether a resume may be asked for now (else 409). */
int
session_resumable(const struct session *s)
{
	return !s->ending && s->window &&
	    (s->reconnecting || session_may_wait(s));
}

/*
 * 0: armed for who (a login token or an address); -1: wrong secret. A
 * session still attached is taken as lost first: its owner, with the
 * secret, says the old connection is gone, though no reset reached us
 * (a half-open connection after a roam). The watchdog would find it only
 * after the export's timeout.
 */
int
session_resume_arm(struct session *s, const unsigned char *secret,
    const char *who)
{
	if (!session_resumable(s) ||
	    CRYPTO_memcmp(secret, s->secret, SESSION_SECRET_LEN) != 0)
		return -1;
	if (!s->reconnecting)
		session_lost(s, "its owner resumes from a new connection");
	snprintf(s->armed_for, sizeof(s->armed_for), "%s", who);
	s->armed_until = time(NULL) + SESSION_ARM_SEC;
	return 0;
}

int
session_resume_armed(struct session *s, const char *who)
{
	return s->reconnecting && !s->resuming && !s->ending &&
	    s->armed_until != 0 && time(NULL) <= s->armed_until &&
	    strcmp(s->armed_for, who) == 0;
}

/* An armed resume's WebSocket: the handshake, as at attach. */
void
session_resume(struct session *s, struct stream *peer, const char *addr)
{
	struct libevent_tv tv = { sd_child->conf->global.handshake_timeout, 0 };

	s->armed_until = 0;
	explicit_bzero(s->armed_for, sizeof(s->armed_for));
	s->peer = peer;
	s->resuming = 1;
	evbuffer_drain(s->stream_in, evbuffer_get_length(s->stream_in));
	evbuffer_drain(s->stream_out, evbuffer_get_length(s->stream_out));
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	ws_reader_init(&s->ws, NBD_MAX_PAYLOAD + 4096);
	nbd_client_init(&s->hs);
	s->peer_input = FLOW_OPEN;
	stream_setcb(peer, peer_read, peer_write, peer_event, s);
	flow_peer_setup(peer);
	evtimer_del(s->timer);
	evtimer_add(s->timer, LIBEVENT_TV(&tv));
	log_info("session %u: %s resumes export %s", s->id, addr,
	    s->ex->conf.name);
	stream_enable_read(peer);
	if (evbuffer_get_length(stream_input(peer)) > 0)
		peer_read(peer, s);
}
