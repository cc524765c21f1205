/*
 * NBD clients: local ones of a socket export (nbdcopy, qemu), and network
 * ones of an nbd-listen, which choose among the exports with nbd-clients
 * = yes that their user may use (STARTTLS first unless the listener is a
 * plain loopback one). sessiond is their NBD server. While a peer serves an
 * image their requests join the relay under our handles; with none, the
 * handshake says so and ends. What we send a client is bounded: its requests
 * wait while it has LOCAL_REPLIES_MAX bytes of replies unread, and one that
 * reads nothing for its export's timeout is disconnected, alone.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "child.h"
#include "libevent_tv.h"
#include "log.h"
#include "nbd_proto.h"
#include "route.h"
#include "sessiond.h"
#include "stream.h"
#include "tls.h"

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

/* For the log: the export, or the listener a net client came in on. */
static const char *
where(const struct local_client *lc)
{
	return lc->ex != NULL ? lc->ex->conf.name : "(none chosen)";
}

void
local_client_close(struct local_client *lc, const char *why)
{
	log_debug("export %s: %s closed: %s", where(lc), lc->name, why);
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
	log_warnx("export %s: %s: %s; disconnected", where(lc), lc->name, why);
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

/* What a client may learn of an export now. */
static void
export_info(struct export_rt *ex, struct nbd_export_info *info)
{
	struct session *s = ex->session;

	memset(info, 0, sizeof(*info));
	info->name = ex->conf.name;
	info->description = ex->conf.description;
	info->attached = s != NULL && ex->state == EXPORT_ACTIVE;
	if (info->attached) {
		info->size = s->relay.size;
		info->flags = s->relay.flags;
	}
}

/* The identity a net client's user has for the export ACLs. */
static void
net_identity(const struct local_client *lc, struct identity *id)
{
	memset(id, 0, sizeof(*id));
	if (lc->anonymous)
		id->how = AUTH_HOW_ANONYMOUS;
	else if (lc->user[0] != '\0')
		auth_identity_user(id, AUTH_HOW_CERTIFICATE, lc->user);
}

static int
net_may_use(const struct local_client *lc, const struct export_rt *ex)
{
	struct identity id;

	if (!ex->present || !ex->conf.nbd_clients)
		return 0;
	net_identity(lc, &id);
	return auth_may_use(&id, &ex->conf);
}

/* "" is the default export, or the only one this client may use. */
static struct export_rt *
net_default(const struct local_client *lc)
{
	struct export_rt *ex, *only = NULL;
	int i, n, usable = 0;

	ex = sd_exports(&n);
	for (i = 0; i < n; i++) {
		if (!net_may_use(lc, &ex[i]))
			continue;
		if (ex[i].conf.is_default)
			return &ex[i];
		usable++;
		only = &ex[i];
	}
	return usable == 1 ? only : NULL;
}

static void
net_audit_denied(const struct local_client *lc, const struct export_rt *ex,
    const char *why)
{
	struct msg_audit a;

	msg_audit_init(&a, AUDIT_EV_ACCESS_DENIED, lc->user, lc->addr,
	    ex->conf.name, why);
	sd_audit(&a);
}

/* Network clients of that user, negotiating or served, but lc. */
static int
net_count_user(const struct local_client *lc)
{
	const struct local_client *o;
	struct export_rt *ex;
	int i, n, count = 0;

	TAILQ_FOREACH (o, &negotiating, entry)
		count += o != lc && o->net && strcmp(o->user, lc->user) == 0;
	ex = sd_exports(&n);
	for (i = 0; i < n; i++) {
		if (ex[i].session == NULL)
			continue;
		TAILQ_FOREACH (o, &ex[i].session->locals, entry)
			count += o->net && strcmp(o->user, lc->user) == 0;
	}
	return count;
}

/* Network clients an export serves now. */
static int
net_count_export(const struct export_rt *ex)
{
	const struct local_client *o;
	int count = 0;

	if (ex->session == NULL)
		return 0;
	TAILQ_FOREACH (o, &ex->session->locals, entry)
		count += o->net;
	return count;
}

static uint32_t
net_find(void *arg, const unsigned char *name, uint32_t len,
    struct nbd_export_info *info, char *why, size_t whylen)
{
	struct local_client *lc = arg;
	struct export_rt *ex = NULL;
	char n[CONF_NAME_MAX];

	if (len == 0) {
		if ((ex = net_default(lc)) == NULL) {
			snprintf(why, whylen,
			    "no default export: name one (nbdinfo --list)");
			return NBD_REP_ERR_UNKNOWN;
		}
	} else if (len < sizeof(n)) {
		memcpy(n, name, len);
		n[len] = '\0';
		if (strlen(n) == len && (ex = sd_export(n)) != NULL &&
		    !ex->conf.nbd_clients)
			ex = NULL;
	}
	if (ex == NULL) {
		snprintf(why, whylen, "no such export for network clients");
		return NBD_REP_ERR_UNKNOWN;
	}
	if (!net_may_use(lc, ex)) {
		if (lc->user[0] != '\0')
			snprintf(why, whylen, "user %s may not use export %s",
			    lc->user, ex->conf.name);
		else if (lc->certname[0] != '\0')
			snprintf(why, whylen,
			    "certificate of \"%s\", who is no user, may not use "
			    "export %s",
			    lc->certname, ex->conf.name);
		else
			snprintf(why, whylen,
			    "a client without a user's certificate may not use "
			    "export %s",
			    ex->conf.name);
		log_warnx("%s: %s", lc->name, why);
		net_audit_denied(lc, ex, why);
		return NBD_REP_ERR_POLICY;
	}
	if (net_count_export(ex) >= ex->conf.nbd_connections) {
		snprintf(why, whylen,
		    "export %s has its nbd-connections %d network clients",
		    ex->conf.name, ex->conf.nbd_connections);
		log_warnx("%s: %s", lc->name, why);
		return NBD_REP_ERR_POLICY;
	}
	export_info(ex, info);
	return 0;
}

static int
net_nth(void *arg, int i, struct nbd_export_info *info)
{
	struct local_client *lc = arg;
	struct export_rt *ex;
	int j, n;

	ex = sd_exports(&n);
	for (j = 0; j < n; j++) {
		if (!net_may_use(lc, &ex[j]))
			continue;
		if (i-- == 0) {
			export_info(&ex[j], info);
			return 1;
		}
	}
	return 0;
}

/* A net client chose its export: it joins that export's session. */
static int
net_chosen(struct local_client *lc)
{
	struct export_rt *ex = sd_export(lc->hs.export);

	if (ex == NULL || ex->session == NULL || ex->state != EXPORT_ACTIVE ||
	    !net_may_use(lc, ex))
		return 0;
	lc->ex = ex;
	stream_set_write_timeout(lc->stream, ex->conf.timeout);
	return 1;
}

static void local_read(struct stream *, void *);
static void local_write(struct stream *, void *);
static void local_event(struct stream *, short, void *);

/*
 * The STARTTLS ack is out: the same socket goes on through OpenSSL, as
 * the TLS server, and the options start over inside it.
 */
static void
net_start_tls(struct local_client *lc)
{
	struct bufferevent *bev;
	int fd;

	lc->starttls = 0;
	fd = stream_take_fd(lc->stream);
	lc->stream = NULL;
	if ((bev = tls_bufferevent_nbd(sd_child->base, fd, &lc->psk)) == NULL) {
		local_client_close(lc, "TLS could not start");
		return;
	}
	lc->stream = stream_from_bufferevent(bev);
	lc->tls = bev;
	session_downstream_setup(lc->stream, &lc->down, lc);
	lc->down.replies_max = LOCAL_REPLIES_MAX;
	stream_set_write_timeout(lc->stream,
	    sd_child->conf->global.handshake_timeout);
	stream_setcb(lc->stream, local_read, local_write, local_event, lc);
	nbd_server_tls_started(&lc->hs);
	stream_enable_read(lc->stream);
}

static int
is_user(const char *name)
{
	return auth_user(name) != NULL;
}

/* 0 if its user has nbd-connections-per-user network clients already. */
static int
net_user_fits(struct local_client *lc)
{
	if (net_count_user(lc) < sd_child->conf->global.nbd_per_user)
		return 1;
	snprintf(lc->hs.reason, sizeof(lc->hs.reason),
	    "user %s has nbd-connections-per-user %d already", lc->user,
	    sd_child->conf->global.nbd_per_user);
	return 0;
}

/*
 * The TLS handshake after STARTTLS failed. If for its PSK identity (one
 * that names no user with a key, or a user's with another key), that is
 * logged and audited as a failed login; a failure of any other kind is
 * the client's own business.
 */
static void
net_tls_failed(struct local_client *lc)
{
	char why[128];
	int wrong = tls_psk_wrong_key(lc->tls, &lc->psk);

	if (lc->psk.state == TLS_PSK_UNKNOWN)
		snprintf(why, sizeof(why),
		    "TLS-PSK identity %s%s%s names no "
		    "user with a key",
		    lc->psk.identity[0] != '\0' ? "\"" : "(not a name)",
		    lc->psk.identity, lc->psk.identity[0] != '\0' ? "\"" : "");
	else if (wrong)
		snprintf(why, sizeof(why),
		    "TLS-PSK key of identity \"%s\" is not user %s's",
		    lc->psk.identity, lc->psk.identity);
	else
		return;
	log_warnx("%s: %s", lc->name, why);
	refusal_audit_from(lc->host, lc->addr, 0, AUDIT_EV_LOGIN_FAILED,
	    lc->psk.identity, "", why);
}

/*
 * Inside TLS, once: who its PSK identity or its certificate (if any) says
 * it is. 0 if that
 * user has nbd-connections-per-user network clients already: this one
 * is closed.
 */
static int
net_identify(struct local_client *lc)
{
	char name[sizeof(lc->certname)];

	lc->identified = 1;
	if (tls_psk_used(lc->tls, &lc->psk)) {
		snprintf(lc->user, sizeof(lc->user), "%s", lc->psk.identity);
		tls_describe(lc->tls, name, sizeof(name));
		log_info("%s: TLS-PSK identity of user %s (%s)", lc->name,
		    lc->user, name);
		return net_user_fits(lc);
	}
	switch (tls_peer_user(lc->tls, is_user, name, sizeof(name))) {
	case 1: /* a user's name: shorter than CONF_NAME_MAX */
		snprintf(lc->user, sizeof(lc->user), "%.*s",
		    (int)sizeof(lc->user) - 1, name);
		log_info("%s: certificate of user %s", lc->name, lc->user);
		return net_user_fits(lc);
	case 0:
		snprintf(lc->certname, sizeof(lc->certname), "%s", name);
		log_warnx("%s: certificate of \"%s\" names no user", lc->name,
		    name);
		break;
	default:
		log_debug("%s: no client certificate", lc->name);
		break;
	}
	return 1;
}

static void
handshake(struct local_client *lc)
{
	struct nbd_export_info info;
	struct nbd_server_exports x = { net_find, net_nth, lc };
	enum nbd_server_result r;
	struct session *s;

	if (lc->tls != NULL && !lc->identified && !net_identify(lc)) {
		local_client_cut(lc, lc->hs.reason);
		return;
	}
	if (lc->net)
		r = nbd_server_input_from(&lc->hs, &x, stream_input(lc->stream),
		    stream_output(lc->stream));
	else {
		export_info(lc->ex, &info);
		r = nbd_server_input(&lc->hs, &info, stream_input(lc->stream),
		    stream_output(lc->stream));
	}
	if (r == NBD_SERVER_MORE)
		return;
	if (r == NBD_SERVER_UNREAD) {
		local_client_cut(lc, lc->hs.reason);
		return;
	}
	if (r == NBD_SERVER_STARTTLS) {
		stream_disable_read(lc->stream);
		lc->starttls = 1;
		if (evbuffer_get_length(stream_output(lc->stream)) == 0)
			net_start_tls(lc);
		return;
	}
	if (r != NBD_SERVER_READY) {
		close_after_write(lc);
		return;
	}
	if (lc->net && !net_chosen(lc)) {
		snprintf(lc->hs.reason, sizeof(lc->hs.reason),
		    "export %s went away", lc->hs.export);
		close_after_write(lc);
		return;
	}
	s = lc->ex->session;
	evtimer_del(lc->timer);
	lc->down.structured = lc->hs.structured;
	lc->down.block_status = lc->hs.meta_allocation;
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
	if (lc->starttls) {
		if (evbuffer_get_length(stream_output(st)) == 0)
			net_start_tls(lc);
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
		    lc->ex != NULL ? lc->ex->conf.timeout :
				     sd_child->conf->global.handshake_timeout);
		local_client_cut(lc, why);
		return;
	}
	if (lc->tls != NULL && !lc->identified && !(what & STREAM_EOF))
		net_tls_failed(lc);
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

/* The address of a net client, for the log and the audit. */
static void
net_peer_addr(int fd, char *buf, size_t len, char *host, size_t hostlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
	char ip[INET6_ADDRSTRLEN];

	snprintf(buf, len, "unknown");
	snprintf(host, hostlen, "unknown");
	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == -1)
		return;
	if (ss.ss_family == AF_INET &&
	    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	else if (ss.ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	else
		return;
	snprintf(host, hostlen, "%s", ip);
}

static void
net_accepted(int fd, void *arg)
{
	struct libevent_tv tv = { LOCAL_HANDSHAKE_SEC, 0 };
	const struct conf_listen *l;
	struct local_client *lc;
	int one = 1;

	if (!conn_admit("a network NBD client")) {
		close(fd);
		return;
	}
	l = &sd_child->conf->global.listen[(int)(intptr_t)arg];
	if ((lc = calloc(1, sizeof(*lc))) == NULL)
		fatal("calloc");
	lc->net = 1;
	lc->anonymous = !auth_required();
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	net_peer_addr(fd, lc->addr, sizeof(lc->addr), lc->host,
	    sizeof(lc->host));
	snprintf(lc->name, sizeof(lc->name), "network client %u (%s)",
	    ++local_seq, lc->addr);
	lc->stream = stream_new(fd);
	if ((lc->timer = evtimer_new(sd_child->base, local_timeout, lc)) ==
	    NULL)
		fatalx("network client timer");
	session_downstream_setup(lc->stream, &lc->down, lc);
	lc->down.replies_max = LOCAL_REPLIES_MAX;
	stream_set_write_timeout(lc->stream,
	    sd_child->conf->global.handshake_timeout);
	stream_setcb(lc->stream, local_read, local_write, local_event, lc);
	TAILQ_INSERT_TAIL(&negotiating, lc, entry);
	nlocal++;
	nbd_server_init(&lc->hs, stream_output(lc->stream));
	lc->hs.tls = l->tls ? NBD_SERVER_TLS_REQUIRED : NBD_SERVER_TLS_NONE;
	evtimer_add(lc->timer, LIBEVENT_TV(&tv));
	stream_enable_read(lc->stream);
}

/* An nbd-listen the parent bound: index names it in global.listen[]. */
void
net_listen(int fd, int index)
{
	const struct conf_listen *l = &sd_child->conf->global.listen[index];

	if (acceptor_new(fd, net_accepted, (void *)(intptr_t)index) == NULL)
		fatalx("cannot listen on %s", l->text);
	log_debug("NBD clients on %s%s", l->text,
	    l->tls ? " (STARTTLS required)" : " (plain)");
}
