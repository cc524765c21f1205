/*
 * HTTP connections: accept, parse one request at a time, answer it or
 * hand the connection to a session on a WebSocket upgrade. Everything a
 * client sends is bounded by the parser; idle connections time out.
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
#include "http.h"
#include "log.h"
#include "sessiond.h"

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	struct bufferevent	*bev;
	struct http_parser	 parser;
	struct http_request	*req;
	char			 addr[64];
	int			 listen_index;
	int			 closing;	/* close once output is out */
};

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static int nconns;

int
conn_count(void)
{
	return nconns;
}

static void
conn_free(struct conn *c)
{
	TAILQ_REMOVE(&conns, c, entry);
	nconns--;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c->req);
	free(c);
}

static void
conn_close_after_write(struct conn *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void
conn_error(struct conn *c, int status, const char *message)
{
	log_debug("%s: %d %s", c->addr, status, message);
	http_error_json(bufferevent_get_output(c->bev), status, message, 0);
	conn_close_after_write(c);
}

static void
serve_static(struct conn *c, const struct http_request *req, int keep)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const struct web_file *f;

	if ((f = web_find(req->path)) == NULL) {
		conn_error(c, 404, "not found");
		return;
	}
	http_response_begin(out, 200, f->type, f->len, keep);
	http_response_header(out, "Cache-Control", "no-cache");
	http_response_header(out, "X-Content-Type-Options", "nosniff");
	http_response_end(out);
	if (req->method != HTTP_METHOD_HEAD)
		evbuffer_add_reference(out, f->data, f->len, NULL, NULL);
}

static void
serve_json(struct conn *c, const struct http_request *req,
    struct evbuffer *body, int status, int keep)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	http_response_begin(out, status, "application/json",
	    evbuffer_get_length(body), keep);
	http_response_header(out, "Cache-Control", "no-store");
	http_response_end(out);
	if (req->method != HTTP_METHOD_HEAD)
		evbuffer_add_buffer(out, body);
}

/* POST /api/exports/NAME/eject */
static void
serve_eject(struct conn *c, const struct http_request *req, int keep)
{
	char name[CONF_NAME_MAX];
	const char *p = req->path + strlen("/api/exports/");
	const char *slash = strchr(p, '/');
	struct export_rt *ex;
	struct evbuffer *body;

	if (slash == NULL || strcmp(slash, "/eject") != 0 ||
	    (size_t)(slash - p) >= sizeof(name)) {
		conn_error(c, 404, "not found");
		return;
	}
	memcpy(name, p, slash - p);
	name[slash - p] = '\0';
	if ((ex = sd_export(name)) == NULL) {
		conn_error(c, 404, "no such export");
		return;
	}
	if (ex->session == NULL || ex->session->ending) {
		conn_error(c, 409, "nothing attached to this export");
		return;
	}
	log_info("export %s: eject requested from %s", name, c->addr);
	session_end(ex->session, "ejected", WS_CLOSE_NORMAL);
	if ((body = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	evbuffer_add_printf(body, "{\"ejected\": true}");
	serve_json(c, req, body, 200, keep);
	evbuffer_free(body);
}

/* Chooses the subprotocol to echo: "binary" if offered, else the first. */
static int
choose_protocol(const char *offered, char *chosen, size_t size)
{
	const char *cursor = offered, *tok;
	size_t len;

	chosen[0] = '\0';
	if (ws_protocol_offered(offered, "binary")) {
		snprintf(chosen, size, "binary");
		return 1;
	}
	if (ws_protocol_next(&cursor, &tok, &len) && len < size) {
		memcpy(chosen, tok, len);
		chosen[len] = '\0';
		return 1;
	}
	return 0;
}

static void
serve_upgrade(struct conn *c, const struct http_request *req)
{
	struct export_rt *ex;
	struct ws_handshake hs;
	char protocol[HTTP_WS_PROTOCOL_MAX];
	struct bufferevent *bev;

	if (strcmp(req->path, "/") == 0)
		ex = sd_default_export();
	else if (strncmp(req->path, "/nbd/", 5) == 0)
		ex = sd_export(req->path + 5);
	else
		ex = NULL;
	if (ex == NULL) {
		conn_error(c, 404, "no such export");
		return;
	}
	if (ws_handshake_check(req, &hs) != 0) {
		conn_error(c, hs.status ? hs.status : 400, hs.error ?
		    hs.error : "bad WebSocket handshake");
		return;
	}
	if (ex->state != EXPORT_IDLE) {
		conn_error(c, 409, "export busy: an image is attached");
		return;
	}
	choose_protocol(req->ws_protocol, protocol, sizeof(protocol));
	ws_handshake_response(bufferevent_get_output(c->bev), hs.accept,
	    protocol[0] ? protocol : NULL);
	bev = c->bev;
	c->bev = NULL;
	if (session_start(ex, bev, c->addr, "") == -1)
		bufferevent_free(bev);
	conn_free(c);
}

static void
serve_request(struct conn *c)
{
	const struct http_request *req = c->req;
	int keep = http_keep_alive(req);
	struct evbuffer *body;

	if (req->connection & HTTP_CONN_UPGRADE || req->upgrade[0] != '\0') {
		serve_upgrade(c, req);
		return;
	}
	if (strncmp(req->path, "/api/exports/", 13) == 0) {
		if (req->method != HTTP_METHOD_POST) {
			conn_error(c, 405, "use POST");
			return;
		}
		serve_eject(c, req, keep);
	} else if (strcmp(req->path, "/api/exports") == 0) {
		if (req->method != HTTP_METHOD_GET &&
		    req->method != HTTP_METHOD_HEAD) {
			conn_error(c, 405, "use GET");
			return;
		}
		if ((body = evbuffer_new()) == NULL)
			fatal("evbuffer_new");
		api_exports(body);
		serve_json(c, req, body, 200, keep);
		evbuffer_free(body);
	} else if (req->method == HTTP_METHOD_GET ||
	    req->method == HTTP_METHOD_HEAD)
		serve_static(c, req, keep);
	else {
		conn_error(c, 405, "method not allowed");
		return;
	}
	if (!keep)
		conn_close_after_write(c);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	int r;

	while (!c->closing) {
		r = http_parse(&c->parser, bufferevent_get_input(bev), c->req);
		if (r == HTTP_PARSE_MORE)
			return;
		if (r == HTTP_PARSE_ERROR) {
			conn_error(c, c->parser.status, c->parser.error);
			return;
		}
		http_parser_init(&c->parser);
		serve_request(c);	/* may free c */
		return;
	}
}

/* Output drained: close if asked, else read the next request. */
static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing) {
		conn_free(c);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		conn_read(bev, c);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("%s: idle, closing", c->addr);
	conn_free(c);
}

static void
format_addr(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

	snprintf(buf, size, "local");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET && inet_ntop(AF_INET, &sin->sin_addr,
	    host, sizeof(host)) != NULL)
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	else if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
	    &sin6->sin6_addr, host, sizeof(host)) != NULL)
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
}

void
conn_accept(int fd, const char *why, int listen_index)
{
	struct timeval idle = { SESSIOND_HTTP_IDLE_SEC, 0 };
	struct conn *c;
	int one = 1;

	(void)why;
	if (nconns >= SESSIOND_CONN_MAX) {
		log_warnx("too many connections; refusing one");
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->req = malloc(sizeof(*c->req))) == NULL)
		fatal("calloc");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	format_addr(fd, c->addr, sizeof(c->addr));
	c->listen_index = listen_index;
	http_parser_init(&c->parser);
	c->bev = bufferevent_socket_new(sd_child->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new");
	TAILQ_INSERT_TAIL(&conns, c, entry);
	nconns++;
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
http_accepted(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	conn_accept(fd, "http", (int)(intptr_t)arg);
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
	log_debug("listening on %s", sd_child->conf->global.listen[index].text);
}
