/*
 * HTTP connections: accept (evicting the oldest idle connection when
 * full), parse one request at a time, hand each to route.c. An idle
 * connection times out; one that starts a request must finish it within
 * request-timeout, however slowly it trickles.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "conn.h"
#include "libevent_tv.h"
#include "log.h"
#include "passwd.h"
#include "sessiond.h"
#include "tls.h"

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static int nconns;

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
	if (c->waiting)
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
	http_error_json_headers(bufferevent_get_output(c->bev), status,
	    message, flags, hdrs, n);
	conn_close_after_write(c);
}

void
conn_error(struct conn *c, int status, const char *message)
{
	conn_error_headers(c, status, message, NULL, 0);
}

static void conn_read(struct bufferevent *, void *);

/* A response is out (or queued): wait for the next request, or close. */
void
conn_request_done(struct conn *c, int keep)
{
	c->in_request = 0;
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
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	int r;

	if (c->closing || c->waiting)
		return;
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
	route_request(c);	/* may free c, or hand it to a session */
}

/* Output drained: close if asked, else go on with buffered input. */
static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing) {
		conn_free(c);
		return;
	}
	if (!c->waiting && evbuffer_get_length(bufferevent_get_input(bev)) > 0)
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
	if (ss.ss_family == AF_INET && inet_ntop(AF_INET, &sin->sin_addr,
	    c->host, sizeof(c->host)) != NULL)
		snprintf(c->addr, sizeof(c->addr), "%s:%u", c->host,
		    ntohs(sin->sin_port));
	else if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
	    &sin6->sin6_addr, c->host, sizeof(c->host)) != NULL)
		snprintf(c->addr, sizeof(c->addr), "[%s]:%u", c->host,
		    ntohs(sin6->sin6_port));
}

/*
 * At the limit, the connection idle longest (no request under way, no
 * check running) makes room: idle sockets cannot lock others out.
 */
int
conn_make_room(void)
{
	struct conn *c;
	int limit = sd_child->conf->global.max_connections;

	if (nconns + session_count() + local_count() < limit)
		return 1;
	TAILQ_FOREACH(c, &conns, entry) {
		if (!c->waiting && !c->closing) {
			log_info("%s: closed to make room (max-connections "
			    "%d)", c->addr, limit);
			conn_free(c);
			return 1;
		}
	}
	return 0;
}

static void
conn_accept(int fd, int listen_index)
{
	const struct conf_listen *l;
	struct conn *c;
	int one = 1;

	if (!conn_make_room()) {
		log_warnx("too many connections; refusing one");
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
	c->bev = c->tls ? tls_bufferevent(sd_child->base, fd) :
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

static void
http_accepted(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	conn_accept(fd, (int)(intptr_t)arg);
}

void
conn_http_listen(int fd, int index)
{
	struct evconnlistener *l;

	l = evconnlistener_new(sd_child->base, http_accepted,
	    (void *)(intptr_t)index, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l == NULL)
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
