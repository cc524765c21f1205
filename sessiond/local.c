/*
 * Local NBD clients of a socket export (nbdcopy, qemu): sessiond is
 * their NBD server. While a peer serves an image their requests join the
 * relay under our handles; with none, the handshake says so and ends.
 * What we send a client is bounded: its requests wait while it has
 * LOCAL_REPLIES_MAX bytes of replies unread, and one that reads nothing
 * for its export's timeout is disconnected, alone.
 */
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "libevent_tv.h"
#include "log.h"
#include "nbd_proto.h"
#include "sessiond.h"
#include "stream.h"

#define LOCAL_HANDSHAKE_SEC 10
#define LOCAL_REPLIES_MAX (8 * 1024 * 1024) /* unread, per client */

/* Local clients not yet in a session's list: still negotiating. */
static struct local_list negotiating = TAILQ_HEAD_INITIALIZER(negotiating);
static int nlocal;
static unsigned int local_seq;

static struct local_list *
client_list(struct local_client *lc)
{
	return lc->relaying ? &lc->ex->session->locals : &negotiating;
}

void
local_client_close(struct local_client *lc, const char *why)
{
	log_debug("export %s: %s closed: %s", lc->ex->conf.name, lc->name, why);
	if (lc->relaying && lc->ex->session != NULL)
		relay_down_gone(&lc->ex->session->relay, &lc->down);
	TAILQ_REMOVE(client_list(lc), lc, entry);
	stream_free(lc->stream);
	event_free(lc->timer);
	nlocal--;
	free(lc);
}

void
local_close_all(struct session *s, const char *why)
{
	struct local_client *lc;

	while ((lc = TAILQ_FIRST(&s->locals)) != NULL)
		local_client_close(lc, why);
}

/*
 * The reconnect window ended: each client's unanswered requests get EIO,
 * then it is closed once that is written (or after its timeout).
 */
void
local_fail_all(struct session *s, const char *why)
{
	struct local_client *lc;

	while ((lc = TAILQ_FIRST(&s->locals)) != NULL) {
		int cut = relay_fail_down(&s->relay, &lc->down, NBD_EIO) == -1;

		TAILQ_REMOVE(&s->locals, lc, entry);
		lc->relaying = 0;
		TAILQ_INSERT_TAIL(&negotiating, lc, entry);
		snprintf(lc->hs.reason, sizeof(lc->hs.reason), "%s%s", why,
		    cut ? "; a read of its was cut off mid-payload, no EIO "
			  "can follow it" :
			  "");
		stream_disable_read(lc->stream);
		lc->closing = 1;
		if (evbuffer_get_length(stream_output(lc->stream)) == 0)
			local_client_close(lc, why);
	}
}

/* This client misbehaves: it goes, with a line saying who and why. */
static void
local_client_cut(struct local_client *lc, const char *why)
{
	log_warnx("export %s: %s: %s; disconnected", lc->ex->conf.name,
	    lc->name, why);
	local_client_close(lc, why);
}

/* Handshake errors are written first; close once they are out. */
static void
close_after_write(struct local_client *lc)
{
	stream_disable_read(lc->stream);
	lc->closing = 1;
	if (evbuffer_get_length(stream_output(lc->stream)) == 0)
		local_client_close(lc, lc->hs.reason);
}

void
local_client_requests(struct local_client *lc)
{
	struct session *s = lc->ex->session;

	if (s->reconnecting || s->relay.resend_rest)
		return; /* its requests wait for the resume */
	session_down_done(s, &lc->down,
	    relay_requests(&s->relay, &lc->down, s->stream_out));
}

static void
handshake(struct local_client *lc)
{
	struct export_rt *ex = lc->ex;
	struct session *s = ex->session;
	struct nbd_export_info info;
	enum nbd_server_result r;

	memset(&info, 0, sizeof(info));
	info.name = ex->conf.name;
	info.description = ex->conf.description;
	info.attached = s != NULL && ex->state == EXPORT_ACTIVE;
	if (info.attached) {
		info.size = s->relay.size;
		info.flags = s->relay.flags;
	}
	r = nbd_server_input(&lc->hs, &info, stream_input(lc->stream),
	    stream_output(lc->stream));
	if (r == NBD_SERVER_MORE)
		return;
	if (r == NBD_SERVER_UNREAD) {
		local_client_cut(lc, lc->hs.reason);
		return;
	}
	if (r == NBD_SERVER_CLOSE) {
		close_after_write(lc);
		return;
	}
	evtimer_del(lc->timer);
	TAILQ_REMOVE(&negotiating, lc, entry);
	lc->relaying = 1;
	TAILQ_INSERT_TAIL(&s->locals, lc, entry);
	flow_downstream_joined(s, lc);
	log_debug("session %u: %s joined", s->id, lc->name);
	local_client_requests(lc);
}

static void
local_read(struct stream *st, void *arg)
{
	struct local_client *lc = arg;

	(void)st;
	if (lc->closing)
		return;
	if (lc->relaying)
		local_client_requests(lc);
	else
		handshake(lc);
}

/* It read some replies: requests that waited for room may go. */
static void
local_write(struct stream *st, void *arg)
{
	struct local_client *lc = arg;

	if (lc->closing) {
		if (evbuffer_get_length(stream_output(st)) == 0)
			local_client_close(lc, lc->hs.reason);
		return;
	}
	if (lc->relaying && lc->ex->session->downstreams == FLOW_OPEN &&
	    evbuffer_get_length(lc->down.in) >= NBD_REQUEST_SIZE)
		local_client_requests(lc);
}

static void
local_event(struct stream *st, short what, void *arg)
{
	struct local_client *lc = arg;
	char why[128];

	if (what & STREAM_TIMEOUT) {
		snprintf(why, sizeof(why),
		    "stopped reading its replies (%zu bytes unread for %d s)",
		    evbuffer_get_length(stream_output(st)),
		    lc->ex->conf.timeout);
		local_client_cut(lc, why);
		return;
	}
	local_client_close(lc, (what & STREAM_EOF) ? "hung up" : "error");
}

static void
local_timeout(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	local_client_close(arg, "handshake timed out");
}

/* Who it is, for the log: a number, and the process at the other end. */
static void
local_client_name(struct local_client *lc, int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	local_seq++;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0)
		snprintf(lc->name, sizeof(lc->name),
		    "local client %u (pid %ld, uid %lu)", local_seq,
		    (long)uc.pid, (unsigned long)uc.uid);
	else
		snprintf(lc->name, sizeof(lc->name), "local client %u",
		    local_seq);
}

static void
local_accepted(int fd, void *arg)
{
	struct libevent_tv tv = { LOCAL_HANDSHAKE_SEC, 0 };
	struct export_rt *ex = arg;
	struct local_client *lc;

	if (!conn_admit("a local NBD client")) {
		close(fd);
		return;
	}
	if ((lc = calloc(1, sizeof(*lc))) == NULL)
		fatal("calloc");
	lc->ex = ex;
	lc->stream = stream_new(fd);
	if ((lc->timer = evtimer_new(sd_child->base, local_timeout, lc)) ==
	    NULL)
		fatalx("local client timer");
	local_client_name(lc, fd);
	session_downstream_setup(lc->stream, &lc->down, lc);
	lc->down.replies_max = LOCAL_REPLIES_MAX;
	/* Pending output and no progress for that long: cut off. */
	stream_set_write_timeout(lc->stream, ex->conf.timeout);
	stream_setcb(lc->stream, local_read, local_write, local_event, lc);
	TAILQ_INSERT_TAIL(&negotiating, lc, entry);
	nlocal++;
	nbd_server_init(&lc->hs, stream_output(lc->stream));
	evtimer_add(lc->timer, LIBEVENT_TV(&tv));
	stream_enable_read(lc->stream);
}

void
local_listen(struct export_rt *ex, int fd)
{
	ex->listener = acceptor_new(fd, local_accepted, ex);
	if (ex->listener == NULL)
		fatalx("cannot listen on %s", ex->conf.socket);
	log_debug("export %s: local clients on %s", ex->conf.name,
	    ex->conf.socket);
}

int
local_count(void)
{
	return nlocal;
}

/* The export left the config: no new clients; current ones finish. */
void
local_unlisten(struct export_rt *ex)
{
	acceptor_free(ex->listener);
	ex->listener = NULL;
}
