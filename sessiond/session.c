/*
 * A session: one peer serving one export's image. The peer's stream (a
 * browser's WebSocket, or unframed: a source's nbdkit, source.c) goes
 * through the NBD handshake, then the validating relay, to
 * the kernel (device exports, through blockd) or local clients (socket
 * exports). Buffers are bounded both ways: a full side pauses the other,
 * but a local client that does not read holds up only its own requests
 * (local.c), and a peer that does not read is cut off.
 */
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <inttypes.h>
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
	else
		session_end(s, "handshake timed out", WS_CLOSE_POLICY);
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
	if (s->ending)
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
	if (s->ending)
		return;
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

	if (s->ending || s->downstreams == FLOW_PAUSED || !s->transmitting)
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

/* The peer's handshake is done: check what it offers, then connect. */
static int
transmission_begin(struct session *s)
{
	static const struct libevent_tv watchdog_tick = { 1, 0 };
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
	if (!(flags & NBD_TFLAG_HAS_FLAGS))
		flags = 0;
	flags = (flags & NBD_TFLAG_RELAYED) | NBD_TFLAG_HAS_FLAGS;
	if (e->read_only)
		flags |= NBD_TFLAG_READ_ONLY;
	relay_init(&s->relay, size, flags);
	ra_init(&s->relay.ra, e->read_ahead, e->timeout);
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

/* Handshake, then replies. Returns 0 once the session has ended. */
static int
stream_process(struct session *s)
{
	enum nbd_client_result hr;

	if (!s->transmitting) {
		hr = nbd_client_input(&s->hs, s->stream_in, s->stream_out);
		flow_peer_output(s);
		if (hr == NBD_CLIENT_ERROR) {
			session_end(s, s->hs.reason, WS_CLOSE_PROTOCOL);
			return 0;
		}
		if (hr == NBD_CLIENT_MORE || !transmission_begin(s))
			return hr == NBD_CLIENT_MORE;
	}
	if (relay_replies(&s->relay, s->stream_in) == RELAY_VIOLATION) {
		log_warnx("session %u: export %s: protocol violation by the "
			  "peer: %s",
		    s->id, s->ex->conf.name, s->relay.reason);
		session_audit(s, AUDIT_EV_PROTOCOL_VIOLATION, s->relay.reason);
		session_end(s, s->relay.reason, WS_CLOSE_PROTOCOL);
		return 0;
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

	(void)st;
	if (!s->ending)
		session_end(s,
		    (what & STREAM_EOF) ? "the peer went away" :
					  "connection error with the peer",
		    WS_CLOSE_GOING_AWAY);
	session_free(s);
}

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
		 session_watchdog, s)) == NULL)
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
