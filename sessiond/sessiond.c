/*
 * sessiond's start and its messages: the config and listeners from the
 * parent, attach answers from blockd, and the table of exports that the
 * HTTP side and the sessions share.
 */
#include <sys/socket.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "export_table.h"
#include "libevent_tv.h"
#include "log.h"
#include "auth.h"
#include "http.h"
#include "passwd.h"
#include "sessiond.h"
#include "tls.h"

struct child *sd_child;
static struct export_rt sd_table[CONF_EXPORT_MAX];
static struct export_table sd_index =
    EXPORT_TABLE(sd_table, struct export_rt, conf.name);
static uint32_t sd_session_seq;

uint32_t
sd_next_session_id(void)
{
	return ++sd_session_seq;
}

struct export_rt *
sd_exports(int *n)
{
	*n = sd_index.n;
	return sd_table;
}

struct export_rt *
sd_export(const char *name)
{
	struct export_rt *ex = export_table_find(&sd_index, name);

	return ex != NULL && ex->present ? ex : NULL;
}

/* "/" serves the default export, or the only one the caller may use. */
struct export_rt *
sd_default_export(const struct identity *id)
{
	int i, usable = 0;
	struct export_rt *only = NULL;

	for (i = 0; i < sd_index.n; i++) {
		if (!sd_table[i].present ||
		    !auth_may_use(id, &sd_table[i].conf))
			continue;
		if (sd_table[i].conf.is_default)
			return &sd_table[i];
		usable++;
		only = &sd_table[i];
	}
	return usable == 1 ? only : NULL;
}

void
sd_audit(struct msg_audit *a)
{
	chan_send(&sd_child->chan, MSG_AUDIT, a, sizeof(*a), -1);
}

/* As chan_send: the fd is the channel's from here, closed once sent. */
void
sd_send_blockd(int type, const void *payload, size_t len, int fd)
{
	chan_send(&sd_child->sib[0], type, payload, len, fd);
}

/* An entry of an export a reload took away, with nothing left open. */
static int
export_unused(const void *entry, const void *arg)
{
	const struct export_rt *ex = entry;

	(void)arg;
	return !ex->present && ex->session == NULL && ex->listener == NULL &&
	    ex->state == EXPORT_IDLE;
}

/* The entry of an export by name, present or not; a new one if none. */
static struct export_rt *
export_slot(const char *name)
{
	struct export_rt *ex;
	int i;

	if ((ex = export_table_find(&sd_index, name)) != NULL)
		return ex;
	if ((ex = export_table_slot(&sd_index, export_unused, NULL)) == NULL)
		fatalx("export table full: %d exports in use", sd_index.n);
	/* A gone export's Redfish certificates go with its entry. */
	for (i = 0; i < MSG_CAS_MAX; i++)
		free(ex->cas[i]);
	memset(ex, 0, sizeof(*ex));
	return ex;
}

/*
 * A new config: exports keep their runtime state by name; a running
 * session keeps the export's old settings until it ends.
 */
static void
sessiond_conf_applied(struct child *c, const struct conf *old)
{
	const struct conf_export *e;
	struct export_rt *ex;
	int i;

	sd_child = c;
	/* A reload brings login-idle back over a PATCHed SessionTimeout. */
	auth_login_idle_set(0);
	if (old == NULL) {
		/* Before the sandbox: what needs files, threads or keys. */
		if (ws_init() == -1)
			fatalx("cannot initialise SHA-1 for WebSocket");
		if (sample_init() == -1)
			fatalx("cannot initialise SHA-256 for samples");
		web_load(c->conf->global.web);
		if (passwd_init(c->base) == -1)
			fatal("password worker");
		tls_init(&c->conf->global, auth_user);
	} else
		log_info("config %u in force", c->generation);
	http_set_limits((size_t)c->conf->global.max_header_size,
	    (unsigned int)c->conf->global.max_headers);
	for (i = 0; i < sd_index.n; i++)
		sd_table[i].present = 0;
	for (i = 0; i < c->conf->nexports; i++) {
		e = &c->conf->exports[i];
		ex = export_slot(e->name);
		source_conf_applied(ex, e);
		if (ex->session == NULL)
			ex->conf = *e;
		ex->present = 1;
		insert_conf_applied(ex, e);
	}
	for (i = 0; i < sd_index.n; i++)
		if (!sd_table[i].present) {
			source_conf_applied(&sd_table[i], NULL);
			insert_conf_applied(&sd_table[i], NULL);
		}
	for (i = 0; i < sd_index.n; i++)
		if (!sd_table[i].present && sd_table[i].listener != NULL)
			local_unlisten(&sd_table[i]);
}

static void
listener_msg(struct child *c, struct msg *m)
{
	struct msg_listener *l = &m->u.listener;
	struct export_rt *ex;

	if (l->kind == MSG_LISTEN_HTTP && l->index >= 0 &&
	    l->index < c->conf->global.nlisten &&
	    !c->conf->global.listen[l->index].nbd) {
		conn_http_listen(m->fd, l->index);
		return;
	}
	if (l->kind == MSG_LISTEN_NBD && l->index >= 0 &&
	    l->index < c->conf->global.nlisten &&
	    c->conf->global.listen[l->index].nbd) {
		net_listen(m->fd, l->index);
		return;
	}
	if (l->kind == MSG_LISTEN_EXPORT &&
	    (ex = sd_export(l->export)) != NULL && ex->conf.socket[0] != '\0' &&
	    ex->listener == NULL) {
		local_listen(ex, m->fd);
		return;
	}
	fatalx("LISTENER from parent for nothing we serve");
}

/* The table let through only these, each from its one sender. */
static int
sessiond_dispatch(struct child *c, struct chan *from, struct msg *m)
{
	(void)from;
	switch (m->type) {
	case MSG_LISTENER:
		listener_msg(c, m);
		return 1;
	case MSG_ATTACHED:
		session_attached(&m->u.attached);
		return 1;
	case MSG_DETACHED:
		session_detached(&m->u.detach);
		return 1;
	case MSG_SOURCE_PEER:
		source_peer(&m->u.source, m->fd);
		return 1;
	case MSG_SOURCE_ENDED:
		insert_source_ended(&m->u.source);
		return 1;
	default:
		return 0;
	}
}

/* Peers see a WebSocket close, local clients a hang-up. */
static int
sessiond_stop(struct child *c)
{
	static const struct libevent_tv close_grace = { 0, 200000 };
	int i;

	for (i = 0; i < sd_index.n; i++)
		if (sd_table[i].session != NULL)
			session_end(sd_table[i].session, "vmediad stopping",
			    WS_CLOSE_GOING_AWAY);
	/* Give the close frames a moment to leave, then go. */
	event_base_loopexit(c->base, LIBEVENT_TV(&close_grace));
	return 0;
}

static const struct child_role sessiond_role = {
	.self = PROC_SESSIOND,
	.policy = &sessiond_policy,
	.conf_applied = sessiond_conf_applied,
	.dispatch = sessiond_dispatch,
	.stop = sessiond_stop,
};

int
main(int argc, char **argv)
{
	struct child c;

	child_start(&c, &sessiond_role, argc, argv);
	child_run(&c);
	return 1;
}
