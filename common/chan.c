/*
 * A channel: one peer's socket in the event loop. What arrives is checked
 * against the message table as sent by that peer to us; what we send never
 * blocks the loop: what the socket does not take waits, bounded, in order.
 */
#include <sys/socket.h>

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"

/* One message the socket did not take yet; its fd is ours until sent. */
struct chan_out {
	TAILQ_ENTRY(chan_out) entry;
	enum msg_type type;
	int fd;
	size_t len;
	unsigned char payload[];
};

/* What a message costs the queue: the header counts too. */
static size_t
out_bytes(size_t len)
{
	return sizeof(struct msg_hdr) + len;
}

static void
chan_readable(evutil_socket_t fd, short events, void *arg)
{
	struct chan *c = arg;
	struct msg m;
	const char *why;
	int r;

	(void)fd;
	(void)events;
	for (;;) {
		r = msg_recv(c->fd, c->self, c->peer, &m, &why);
		if (r == 1) {
			c->dispatch(c, &m, c->arg);
			if (c->fd == -1)
				return; /* the dispatcher closed us */
			continue;
		}
		if (r == 0) {
			chan_close(c);
			c->closed(c, c->arg);
			return;
		}
		if (why != NULL)
			fatalx("protocol error from %s: %s",
			    msg_proc_name(c->peer), why);
		return;
	}
}

static void
chan_drop_queue(struct chan *c)
{
	struct chan_out *o;

	while ((o = TAILQ_FIRST(&c->queue)) != NULL) {
		TAILQ_REMOVE(&c->queue, o, entry);
		if (o->fd != -1)
			close(o->fd);
		free(o);
	}
	c->nqueued = 0;
	c->queued_bytes = 0;
	if (c->wev != NULL)
		event_del(c->wev);
}

/*
 * Writes what is queued while the socket takes it; flags go to sendmsg.
 * A peer that is gone takes nothing more: its closed callback will come.
 */
static void
chan_write_queue(struct chan *c, int flags)
{
	struct chan_out *o;

	while ((o = TAILQ_FIRST(&c->queue)) != NULL) {
		if (msg_write(c->fd, o->type, o->payload, o->len, o->fd,
			flags) == -1) {
			if (errno == EAGAIN)
				return;
			if (errno == EPIPE || errno == ECONNRESET) {
				chan_drop_queue(c);
				return;
			}
			fatal("send %s to %s", msg_type_name(o->type),
			    msg_proc_name(c->peer));
		}
		TAILQ_REMOVE(&c->queue, o, entry);
		c->nqueued--;
		c->queued_bytes -= out_bytes(o->len);
		if (o->fd != -1)
			close(o->fd);
		free(o);
	}
	event_del(c->wev);
}

static void
chan_writable(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	chan_write_queue(arg, MSG_DONTWAIT);
}

void
chan_init(struct chan *c, struct event_base *base, int fd, enum msg_proc self,
    enum msg_proc peer, chan_dispatch_fn dispatch, chan_closed_fn closed,
    void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->self = self;
	c->peer = peer;
	c->dispatch = dispatch;
	c->closed = closed;
	c->arg = arg;
	TAILQ_INIT(&c->queue);
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, chan_readable, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, chan_writable, c);
	if (c->ev == NULL || c->wev == NULL || event_add(c->ev, NULL) == -1)
		fatalx("cannot watch the channel to %s", msg_proc_name(peer));
}

/* Unsent messages go with it, and the fds they held are closed. */
void
chan_close(struct chan *c)
{
	chan_drop_queue(c);
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->wev != NULL) {
		event_free(c->wev);
		c->wev = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
}

/*
 * The peer stopped reading: a broken invariant between our processes.
 * Fatal, unless the owner handles it (the parent stops its children).
 */
static void
chan_overflow(struct chan *c, enum msg_type type)
{
	char why[160];

	snprintf(why, sizeof(why),
	    "channel to %s full: %zu messages, %zu bytes unsent; %s refused",
	    msg_proc_name(c->peer), c->nqueued, c->queued_bytes,
	    msg_type_name(type));
	if (c->full == NULL)
		fatalx("%s", why);
	log_warnx("%s", why);
	chan_close(c);
	c->full(c, c->arg);
}

/*
 * Sends a message, or queues it while the socket is full. An fd goes
 * with it and, as with imsg, is ours from here on: closed once it was
 * sent, or when it never can be; the caller must not close it. A peer
 * that is gone is its closed callback's business, not ours.
 */
void
chan_send(struct chan *c, enum msg_type type, const void *payload, size_t len,
    int fd)
{
	struct chan_out *o;

	if (len > MSG_PAYLOAD_MAX)
		fatalx("%s to %s: %zu bytes of payload", msg_type_name(type),
		    msg_proc_name(c->peer), len);
	if (c->fd == -1) {
		if (fd != -1)
			close(fd);
		return;
	}
	if (TAILQ_EMPTY(&c->queue)) {
		if (msg_write(c->fd, type, payload, len, fd, MSG_DONTWAIT) ==
			0 ||
		    errno == EPIPE || errno == ECONNRESET) {
			if (fd != -1)
				close(fd);
			return;
		}
		if (errno != EAGAIN)
			fatal("send %s to %s", msg_type_name(type),
			    msg_proc_name(c->peer));
	}
	if (c->nqueued == CHAN_QUEUE_MSGS ||
	    c->queued_bytes + out_bytes(len) > CHAN_QUEUE_BYTES) {
		if (fd != -1)
			close(fd);
		chan_overflow(c, type);
		return;
	}
	if ((o = malloc(sizeof(*o) + len)) == NULL)
		fatal("queue %s to %s", msg_type_name(type),
		    msg_proc_name(c->peer));
	o->type = type;
	o->fd = fd;
	o->len = len;
	if (len > 0)
		memcpy(o->payload, payload, len);
	if (TAILQ_EMPTY(&c->queue) && event_add(c->wev, NULL) == -1)
		fatalx("cannot watch the channel to %s",
		    msg_proc_name(c->peer));
	TAILQ_INSERT_TAIL(&c->queue, o, entry);
	c->nqueued++;
	c->queued_bytes += out_bytes(len);
}

/*
 * Writes what is queued, waiting for room: for a child about to exit,
 * whose loop will not run again. A stalled peer keeps us here until the
 * parent's stop timer ends us.
 */
void
chan_flush(struct chan *c)
{
	if (c->fd != -1)
		chan_write_queue(c, 0);
}
