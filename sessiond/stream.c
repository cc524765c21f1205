/*
 * The relay's byte streams. libevent's socket bufferevent reads at most
 * 4 KiB per call and asks FIONREAD first, and adds and removes its write
 * event with every burst: at relay rates that is hundreds of thousands of
 * system calls per GiB. A plain socket here is registered once, edge-
 * triggered, and read in steps of up to STREAM_READ_STEP straight into
 * the input evbuffer's own memory. A short read or write means the socket
 * is drained or full until its next edge, so no call is made only to
 * learn EAGAIN. Output is written once per turn of the loop, however many
 * times it grew in that turn. Interest in writing is registered only
 * while the socket is full: a Unix socket whose reader takes it in small
 * pieces would otherwise wake us for each piece, with nothing to write.
 *
 * A TLS peer keeps its bufferevent (OpenSSL does the socket I/O) behind
 * the same calls.
 *
 * Sockets handed in must be non-blocking (the listeners' and our own
 * socketpairs are).
 */
#include <sys/uio.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <unistd.h>

#include "child.h"
#include "libevent_tv.h"
#include "log.h"
#include "sessiond.h"
#include "stream.h"

/* One readv at most: with evbuffer's chain header, a 256 KiB allocation. */
#define STREAM_READ_STEP (256 * 1024 - 256)
#define STREAM_TURNS 8 /* reads per wake before others get a turn */
#define STREAM_TLS_STEP (1024 * 1024)

struct stream {
	int fd;			 /* -1 behind a bufferevent */
	struct bufferevent *bev; /* TLS */
	struct event *rev;	 /* edge-triggered, registered once */
	struct event *wev;	 /* edge-triggered, while full */
	struct event *later;	 /* a write or read deferred to the loop */
	struct event *timer;	 /* write timeout */
	struct evbuffer *in;
	struct evbuffer *out;
	size_t in_max;	/* input held before reading stops */
	size_t out_low; /* writecb once output drains to this */
	struct libevent_tv wtimeout;
	int reading;   /* enabled by the owner */
	int can_read;  /* no short read since the last edge */
	int can_write; /* no short write since the last edge */
	int pump_due;  /* a deferred read is scheduled */
	int ended;     /* EOF or an error was reported */
	int busy;      /* callbacks running */
	int doomed;    /* freed by one of them */
	stream_fn readcb;
	stream_fn writecb;
	stream_event_fn eventcb;
	void *arg;
};

static void stream_pump(struct stream *);
static int stream_write(struct stream *);

/*
 * Callbacks may free the stream they are called for: freeing is then put
 * off until the outermost callback has returned (leave() says so).
 */
static void
enter(struct stream *s)
{
	s->busy++;
}

static int
leave(struct stream *s)
{
	if (--s->busy > 0 || !s->doomed)
		return 1;
	stream_free(s);
	return 0;
}

static int
call_read(struct stream *s)
{
	enter(s);
	if (s->readcb != NULL)
		s->readcb(s, s->arg);
	return leave(s);
}

static int
call_write(struct stream *s)
{
	enter(s);
	if (s->writecb != NULL)
		s->writecb(s, s->arg);
	return leave(s);
}

static void
call_event(struct stream *s, short what)
{
	s->ended = 1;
	event_del(s->timer);
	enter(s);
	if (s->eventcb != NULL)
		s->eventcb(s, what, s->arg);
	leave(s);
}

static void
stream_readable(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	(void)fd;
	(void)what;
	s->can_read = 1;
	stream_pump(s);
}

static void
stream_writable(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	(void)fd;
	(void)what;
	s->can_write = 1;
	if (stream_write(s) && s->can_write)
		event_del(s->wev);
}

static void
stream_later(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	(void)fd;
	(void)what;
	if (!stream_write(s))
		return;
	if (s->pump_due) {
		s->pump_due = 0;
		stream_pump(s);
	}
}

static void
stream_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	call_event(arg, STREAM_TIMEOUT);
}

/* Output grew: write it once this turn of the loop is done. */
static void
output_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct stream *s = arg;

	(void)buf;
	if (info->n_added > 0 && s->can_write)
		event_active(s->later, EV_TIMEOUT, 0);
}

struct stream *
stream_new(int fd)
{
	struct event_base *base = sd_child->base;
	struct stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	s->fd = fd;
	s->can_read = 1;
	s->can_write = 1;
	s->in_max = STREAM_READ_STEP;
	if ((s->in = evbuffer_new()) == NULL ||
	    (s->out = evbuffer_new()) == NULL ||
	    (s->rev = event_new(base, fd, EV_READ | EV_PERSIST | EV_ET,
		 stream_readable, s)) == NULL ||
	    (s->wev = event_new(base, fd, EV_WRITE | EV_PERSIST | EV_ET,
		 stream_writable, s)) == NULL ||
	    (s->later = event_new(base, -1, 0, stream_later, s)) == NULL ||
	    (s->timer = evtimer_new(base, stream_timeout, s)) == NULL ||
	    evbuffer_add_cb(s->out, output_changed, s) == NULL ||
	    event_add(s->rev, NULL) == -1)
		fatalx("stream buffers");
	return s;
}

static void
bev_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	call_read(arg);
}

static void
bev_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	call_write(arg);
}

static void
bev_event(struct bufferevent *bev, short what, void *arg)
{
	short w = 0;

	(void)bev;
	if (what & BEV_EVENT_EOF)
		w |= STREAM_EOF;
	if (what & BEV_EVENT_ERROR)
		w |= STREAM_ERROR;
	if (what & BEV_EVENT_TIMEOUT)
		w |= STREAM_TIMEOUT;
	if (w != 0)
		call_event(arg, w);
}

/*
 * Takes over an HTTP connection's bufferevent. A plain socket's becomes
 * a stream of our own, with what it had read and not yet written; a TLS
 * one is kept, as OpenSSL reads and writes that socket.
 */
struct stream *
stream_from_bufferevent(struct bufferevent *bev)
{
	struct stream *s;

	if (bufferevent_openssl_get_ssl(bev) == NULL) {
		s = stream_new(bufferevent_getfd(bev));
		/* Without a socket the bufferevent lets go of its buffers. */
		if (bufferevent_setfd(bev, -1) == -1 ||
		    evbuffer_add_buffer(s->in, bufferevent_get_input(bev)) ==
			-1 ||
		    evbuffer_add_buffer(s->out, bufferevent_get_output(bev)) ==
			-1)
			fatalx("stream from a bufferevent");
		bufferevent_free(bev);
		return s;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	s->fd = -1;
	s->bev = bev;
	s->in = bufferevent_get_input(bev);
	s->out = bufferevent_get_output(bev);
	if ((s->timer = evtimer_new(sd_child->base, stream_timeout, s)) == NULL)
		fatalx("stream timer");
	bufferevent_setcb(bev, bev_read, bev_write, bev_event, s);
	bufferevent_set_timeouts(bev, NULL, NULL);
	/* OpenSSL's records, many to a call (libevent's default: 16 KiB). */
	bufferevent_set_max_single_read(bev, STREAM_TLS_STEP);
	bufferevent_set_max_single_write(bev, STREAM_TLS_STEP);
	bufferevent_disable(bev, EV_READ);
	bufferevent_enable(bev, EV_WRITE);
	return s;
}

void
stream_setcb(struct stream *s, stream_fn readcb, stream_fn writecb,
    stream_event_fn eventcb, void *arg)
{
	s->readcb = readcb;
	s->writecb = writecb;
	s->eventcb = eventcb;
	s->arg = arg;
}

/*
 * in_max: reading stops while the input holds that much. out_low: the
 * write callback runs when a write leaves at most that much queued.
 */
void
stream_set_limits(struct stream *s, size_t in_max, size_t out_low)
{
	s->in_max = in_max;
	s->out_low = out_low;
	if (s->bev != NULL) {
		bufferevent_setwatermark(s->bev, EV_READ, 0, in_max);
		bufferevent_setwatermark(s->bev, EV_WRITE, out_low, 0);
	}
}

/* STREAM_TIMEOUT when output waits and none is written for secs. */
void
stream_set_write_timeout(struct stream *s, int secs)
{
	s->wtimeout.tv_sec = secs;
	s->wtimeout.tv_usec = 0;
	if (s->bev != NULL)
		bufferevent_set_timeouts(s->bev, NULL,
		    LIBEVENT_TV(&s->wtimeout));
}

struct evbuffer *
stream_input(struct stream *s)
{
	return s->in;
}

struct evbuffer *
stream_output(struct stream *s)
{
	return s->out;
}

int
stream_fd(struct stream *s)
{
	return s->bev != NULL ? bufferevent_getfd(s->bev) : s->fd;
}

/* Reading goes on from the next turn of the loop. */
void
stream_enable_read(struct stream *s)
{
	if (s->bev != NULL) {
		bufferevent_enable(s->bev, EV_READ);
		return;
	}
	s->reading = 1;
	if (s->can_read && !s->pump_due) {
		s->pump_due = 1;
		event_active(s->later, EV_TIMEOUT, 0);
	}
}

void
stream_disable_read(struct stream *s)
{
	if (s->bev != NULL)
		bufferevent_disable(s->bev, EV_READ);
	s->reading = 0;
}

/*
 * One readv into space reserved in the input: returns what it read, 0 at
 * the end of the stream, -1 with errno.
 */
static ssize_t
read_step(struct stream *s, size_t *asked)
{
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	size_t want, left;
	ssize_t n;
	int i, nv;

	want = s->in_max - evbuffer_get_length(s->in);
	if (want > STREAM_READ_STEP)
		want = STREAM_READ_STEP;
	if ((nv = evbuffer_reserve_space(s->in, want, v, 2)) <= 0)
		fatalx("stream: no input buffer");
	for (i = 0, *asked = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
		*asked += v[i].iov_len;
	}
	n = readv(s->fd, iov, nv);
	for (i = 0, left = n > 0 ? (size_t)n : 0; i < nv; i++) {
		v[i].iov_len = left < v[i].iov_len ? left : v[i].iov_len;
		left -= v[i].iov_len;
	}
	if (evbuffer_commit_space(s->in, v, nv) == -1)
		fatalx("stream: commit");
	return n;
}

/*
 * Reads while allowed and there is room, hands the owner what came, and
 * goes on while the owner makes room and the socket may hold more.
 */
static void
stream_pump(struct stream *s)
{
	size_t asked;
	ssize_t n;
	int turns, got;
	short end = 0;

	for (turns = 0; turns < STREAM_TURNS; turns++) {
		got = 0;
		while (s->reading && s->can_read && !s->ended &&
		    evbuffer_get_length(s->in) < s->in_max) {
			n = read_step(s, &asked);
			if (n > 0) {
				got = 1;
				if ((size_t)n < asked)
					s->can_read = 0;
			} else if (n == 0) {
				end = STREAM_EOF;
				break;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				s->can_read = 0;
			} else if (errno != EINTR) {
				end = STREAM_ERROR;
				break;
			}
		}
		if (got && !call_read(s))
			return;
		if (end != 0) {
			call_event(s, end);
			return;
		}
		if (!got || !s->reading || !s->can_read ||
		    evbuffer_get_length(s->in) >= s->in_max)
			return;
	}
	/* Others wait: go on in the next turn of the loop. */
	s->pump_due = 1;
	event_active(s->later, EV_TIMEOUT, 0);
}

/* Output waits: STREAM_TIMEOUT unless some is written in time. */
static void
timer_update(struct stream *s, int progress)
{
	if (s->wtimeout.tv_sec == 0)
		return;
	if (evbuffer_get_length(s->out) == 0)
		evtimer_del(s->timer);
	else if (progress || !evtimer_pending(s->timer, NULL))
		evtimer_add(s->timer, LIBEVENT_TV(&s->wtimeout));
}

/*
 * Writes what is queued; a short write waits for the next edge. Returns
 * 0 if the stream was freed by a callback.
 */
static int
stream_write(struct stream *s)
{
	size_t before = evbuffer_get_length(s->out);
	int n;

	if (before == 0 || !s->can_write || s->ended || s->bev != NULL)
		return 1;
	n = evbuffer_write_atmost(s->out, s->fd, -1);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		enter(s);
		call_event(s, STREAM_ERROR);
		return leave(s);
	}
	if (n == -1 || (size_t)n < before) {
		s->can_write = 0;
		if (event_add(s->wev, NULL) == -1)
			fatalx("stream: write event");
	}
	timer_update(s, n > 0);
	if (n > 0 && evbuffer_get_length(s->out) <= s->out_low)
		return call_write(s);
	return 1;
}

void
stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->busy > 0) {
		s->doomed = 1;
		s->readcb = s->writecb = NULL;
		s->eventcb = NULL;
		s->reading = 0;
		s->ended = 1;
		return;
	}
	event_free(s->timer);
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		free(s);
		return;
	}
	event_free(s->rev);
	event_free(s->wev);
	event_free(s->later);
	evbuffer_free(s->in);
	evbuffer_free(s->out);
	if (s->fd != -1)
		close(s->fd);
	free(s);
}

/*
 * Frees a plain stream but keeps its socket open, for its owner to go on
 * with (STARTTLS): our events on it are gone at once, even if the stream
 * itself goes only once its callbacks return, so that other events may
 * be set on the socket now.
 */
int
stream_take_fd(struct stream *s)
{
	int fd = s->fd;

	event_del(s->rev);
	event_del(s->wev);
	event_del(s->later);
	event_del(s->timer);
	s->fd = -1;
	stream_free(s);
	return fd;
}
