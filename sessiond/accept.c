/*
 * sessiond's listeners, HTTP and local NBD clients alike. accept() failing
 * for want of file descriptors (EMFILE, ENFILE) leaves the connection
 * queued and the listener readable: retried at once it would spin and log
 * without end. We pause accepting instead, and say so once per shortage.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "libevent_tv.h"
#include "log.h"
#include "sessiond.h"

#define ACCEPT_PAUSE_MS 250

struct acceptor {
	struct evconnlistener *listener;
	struct event *retry;
	acceptor_fn fn;
	void *arg;
};

/*
 * A shortage is logged when it begins: once, until accept() has gone
 * ACCEPT_QUIET_SEC without failing (a shortage ends in fits and starts,
 * as connections close and queued ones come in).
 */
#define ACCEPT_QUIET_SEC 60
static time_t last_failure;

static void
accepted(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct acceptor *a = arg;

	(void)l;
	(void)sa;
	(void)salen;
	a->fn(fd, a->arg);
}

/* Not a retriable error (libevent retries EINTR, EAGAIN, ECONNABORTED). */
static void
accept_failed(struct evconnlistener *l, void *arg)
{
	static const struct libevent_tv pause = { 0, ACCEPT_PAUSE_MS * 1000 };
	struct acceptor *a = arg;
	int err = EVUTIL_SOCKET_ERROR();
	time_t now = time(NULL), before = last_failure;

	evconnlistener_disable(l);
	evtimer_add(a->retry, LIBEVENT_TV(&pause));
	last_failure = now;
	if (before != 0 && now - before < ACCEPT_QUIET_SEC)
		return;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
		log_warnx("out of file descriptors or memory (accept: %s): "
			  "new connections wait until some close",
		    strerror(err));
	else
		log_warnx("accept: %s: new connections wait a moment",
		    strerror(err));
}

static void
accept_retry(evutil_socket_t fd, short events, void *arg)
{
	struct acceptor *a = arg;

	(void)fd;
	(void)events;
	evconnlistener_enable(a->listener);
}

struct acceptor *
acceptor_new(int fd, acceptor_fn fn, void *arg)
{
	struct acceptor *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("calloc");
	a->fn = fn;
	a->arg = arg;
	a->listener = evconnlistener_new(sd_child->base, accepted, a,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	a->retry = evtimer_new(sd_child->base, accept_retry, a);
	if (a->listener == NULL || a->retry == NULL) {
		if (a->listener != NULL)
			evconnlistener_free(a->listener);
		if (a->retry != NULL)
			event_free(a->retry);
		free(a);
		return NULL;
	}
	evconnlistener_set_error_cb(a->listener, accept_failed);
	return a;
}

void
acceptor_free(struct acceptor *a)
{
	evconnlistener_free(a->listener);
	event_free(a->retry);
	free(a);
}
