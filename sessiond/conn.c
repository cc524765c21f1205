/*
 * HTTP connections: accept (evicting the connection idle longest when
 * full), parse one request at a time, hand each to route.c. An idle
 * connection times out; one that starts a request must finish it within
 * request-timeout, however slowly it trickles. A request is read only
 * once the answer to the last one is out: a client that sends without
 * reading fills its own socket, not our memory.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "conn.h"
#include "redfish.h"
#include "libevent_tv.h"
#include "log.h"
#include "passwd.h"
#include "sessiond.h"
#include "tls.h"

/* Least recently active first: eviction takes the first idle one. */
static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static int nconns;
static unsigned long refused; /* since the last connection accepted */

int
conn_count(void)
{
	return nconns;
}

void
conn_free(struct conn *c)
{
	TAILQ_REMOVE(&conns, c, entry);
	nconns--;
	if (c->inserting != NULL)
		insert_forget(c);
	else if (c->waiting)
		passwd_forget(c);
	cred_clear(&c->cred);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->timer);
	free(c->req);
	free(c);
}

static void
timer_arm(struct conn *c, int seconds)
{
	struct libevent_tv tv = { seconds, 0 };

	evtimer_add(c->timer, LIBEVENT_TV(&tv));
}

void
conn_close_after_write(struct conn *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

void
conn_error_headers(struct conn *c, int status, const char *message,
    const struct http_header *hdrs, size_t n)
{
	int flags = c->req->method == HTTP_METHOD_HEAD ? HTTP_RESPONSE_HEAD : 0;

	log_debug("%s: %d %s", c->addr, status, message);
	if (redfish_path(c->req->path)) {
		redfish_conn_error(c, status, message, hdrs, n);
		conn_close_after_write(c);
		return;
	}
	http_error_json_headers(bufferevent_get_output(c->bev), status, message,
	    flags, hdrs, n);
	conn_close_after_write(c);
}

void
conn_error(struct conn *c, int status, const char *message)
{
	conn_error_headers(c, status, message, NULL, 0);
}

static void conn_read(struct bufferevent *, void *);

/* It sent something or was answered: last in line for eviction. */
static void
conn_touch(struct conn *c)
{
	TAILQ_REMOVE(&conns, c, entry);
	TAILQ_INSERT_TAIL(&conns, c, entry);
}

/* A response is out (or queued): wait for the next request, or close. */
void
conn_request_done(struct conn *c, int keep)
{
	c->in_request = 0;
	conn_touch(c);
	if (!keep) {
		conn_close_after_write(c);
		return;
	}
	timer_arm(c, sd_child->conf->global.idle_timeout);
}

/*
 * After a password check: read on. Deferred, so that the caller may
 * still be answering (or have handed the connection on) when it runs.
 */
void
conn_resume(struct conn *c)
{
	c->waiting = 0;
	bufferevent_enable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		bufferevent_trigger(c->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * An answer that takes a while (an insert): nothing more is read, and
 * the request may take seconds more than request-timeout allows.
 */
void
conn_hold(struct conn *c, int seconds)
{
	c->waiting = 1;
	bufferevent_disable(c->bev, EV_READ);
	timer_arm(c, seconds);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	int r;

	if (c->closing || c->waiting)
		return;
	conn_touch(c);
	/* The last answer is still going out: conn_write reads on. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (!c->in_request && evbuffer_get_length(bufferevent_get_input(bev))) {
		c->in_request = 1;
		timer_arm(c, sd_child->conf->global.request_timeout);
	}
	r = http_parse(&c->parser, bufferevent_get_input(bev), c->req);
	if (r == HTTP_PARSE_MORE)
		return;
	if (r == HTTP_PARSE_ERROR) {
		conn_error(c, c->parser.status, c->parser.error);
		return;
	}
	http_parser_init(&c->parser);
	route_request(c); /* may free c, or hand it to a session */
}

/* Output drained: close if asked, else read on. */
static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing) {
		conn_free(c);
		return;
	}
	if (c->waiting)
		return;
	bufferevent_enable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		conn_read(bev, c);
}

/* End of stream, an error or a timeout; "connected" ends a TLS handshake. */
static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(arg);
}

static void
conn_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)events;
	if (c->closing || !c->in_request) {
		log_debug("%s: idle, closing", c->addr);
		conn_free(c);
		return;
	}
	log_info("%s: request not complete in %d s; closing", c->addr,
	    sd_child->conf->global.request_timeout);
	conn_error(c, 408, "request timeout");
}

static void
format_addr(int fd, struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

	snprintf(c->addr, sizeof(c->addr), "local");
	snprintf(c->host, sizeof(c->host), "local");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET &&
	    inet_ntop(AF_INET, &sin->sin_addr, c->host, sizeof(c->host)) !=
		NULL)
		snprintf(c->addr, sizeof(c->addr), "%s:%u", c->host,
		    ntohs(sin->sin_port));
	else if (ss.ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &sin6->sin6_addr, c->host, sizeof(c->host)) !=
		NULL)
		snprintf(c->addr, sizeof(c->addr), "[%s]:%u", c->host,
		    ntohs(sin6->sin6_port));
}

/* Nothing under way: no request coming in, checked, or going out. */
static int
conn_idle(const struct conn *c)
{
	return !c->in_request && !c->waiting && !c->closing &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

/*
 * At the limit, the HTTP connection idle longest makes room: idle sockets
 * cannot lock others out. A request under way is never cut (request-
 * timeout bounds it), nor a session or a local client.
 */
static int
conn_make_room(void)
{
	struct conn *c;
	int limit = sd_child->conf->global.max_connections;

	if (nconns + session_count() + local_count() < limit)
		return 1;
	TAILQ_FOREACH (c, &conns, entry) {
		if (conn_idle(c)) {
			log_info("%s: idle longest, closed to make room "
				 "(max-connections %d)",
			    c->addr, limit);
			conn_free(c);
			return 1;
		}
	}
	return 0;
}

/*
 * Whether a new connection (what: for the log) may come in. Refusals are
 * logged when they begin and when they end: each costs a client no more
 * than a connect, and must not cost us a log line.
 */
int
conn_admit(const char *what)
{
	if (!conn_make_room()) {
		if (refused++ == 0)
			log_warnx(
			    "max-connections %d reached, every connection "
			    "busy: refusing %s and any more until one ends",
			    sd_child->conf->global.max_connections, what);
		return 0;
	}
	if (refused > 0) {
		log_info("accepting again after refusing %lu connections",
		    refused);
		refused = 0;
	}
	return 1;
}

static void
conn_accept(int fd, void *arg)
{
	int listen_index = (int)(intptr_t)arg;
	const struct conf_listen *l;
	struct conn *c;
	int one = 1;

	if (!conn_admit("an HTTP client")) {
		close(fd);
		return;
	}
	l = &sd_child->conf->global.listen[listen_index];
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->req = calloc(1, sizeof(*c->req))) == NULL)
		fatal("calloc");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	format_addr(fd, c);
	c->listen_index = listen_index;
	c->tls = l->tls;
	c->local = conf_listen_is_local(l);
	http_parser_init(&c->parser);
	c->bev = c->tls ?
	    tls_bufferevent(sd_child->base, fd) :
	    bufferevent_socket_new(sd_child->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(sd_child->base, conn_timeout, c);
	if (c->bev == NULL || c->timer == NULL)
		fatalx("connection buffers");
	TAILQ_INSERT_TAIL(&conns, c, entry);
	nconns++;
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	timer_arm(c, sd_child->conf->global.idle_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

void
conn_http_listen(int fd, int index)
{
	if (acceptor_new(fd, conn_accept, (void *)(intptr_t)index) == NULL)
		fatalx("cannot listen on %s",
		    sd_child->conf->global.listen[index].text);
	log_debug("listening on %s%s",
	    sd_child->conf->global.listen[index].text,
	    sd_child->conf->global.listen[index].tls ? " (TLS)" : "");
}

/* The upgrade took the socket: the connection object goes, not it. */
struct bufferevent *
conn_take_bev(struct conn *c)
{
	struct bufferevent *bev = c->bev;

	c->bev = NULL;
	conn_free(c);
	return bev;
}
