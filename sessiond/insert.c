/*
 * POST /api/exports/NAME/insert: a source named by URL becomes an
 * export's peer, as a config source does (source.c), and the answer waits
 * until its NBD handshake is done (200) or it failed (502, in plain
 * words from the launcher). Eject ends it for good.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "child.h"
#include "conn.h"
#include "json.h"
#include "log.h"
#include "redfish.h"
#include "route.h"
#include "sessiond.h"

/* Seconds an insert may take past the handshake timeout: nbdkit starts. */
#define INSERT_GRACE 30

static void
insert_refuse(struct conn *c, int status, const char *export, const char *why)
{
	refuse(c, status, AUDIT_EV_INSERT_REFUSED, c->id.user, export, why);
}

static void
insert_tell_parent(enum msg_type type, const void *payload, size_t len)
{
	chan_send(&sd_child->chan, type, payload, len, -1);
}

/* The parent starts it no more: ejected, or its insert failed. */
void
insert_end(struct export_rt *ex, const char *why)
{
	struct msg_source s;

	memset(&s, 0, sizeof(s));
	snprintf(s.export, sizeof(s.export), "%s", ex->conf.name);
	snprintf(s.reason, sizeof(s.reason), "%s", why);
	insert_tell_parent(MSG_SOURCE_EJECT, &s, sizeof(s));
	ex->inserted[0] = '\0';
	ex->inserted_by[0] = '\0';
}

/* The waiting request answered, and let go. */
static void
insert_answer(struct export_rt *ex, int status, const char *why)
{
	struct conn *c = ex->inserting;
	struct evbuffer *b;

	ex->inserting = NULL;
	if (c == NULL)
		return;
	c->inserting = NULL;
	c->waiting = 0;
	if (status != 200) {
		conn_error(c, status, why);
		return;
	}
	if (redfish_path(c->req->path)) {
		redfish_inserted(c);
		return;
	}
	b = route_body_new();
	evbuffer_add_printf(b, "{\"inserted\": true, \"uri\": ");
	json_string(b, ex->inserted);
	evbuffer_add_printf(b, "}\n");
	conn_resume(c);
	route_respond_json(c, 200, b, NULL, 0);
}

/*
 * What is wrong with an insert's body for export ex, in the words of a
 * refusal with its status, or NULL. Credentials are held to what
 * SOURCE_INSERT's check takes.
 */
static const char *
insert_check(const struct export_rt *ex, const struct cred_insert *b,
    struct conf_source *src, char *why, size_t size, int *status)
{
	static const char name_chars[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-";
	const char *r;
	size_t i;

	*status = 403;
	if (ex->conf.allow_source[0] == '\0')
		return "this export takes no inserted source (no "
		       "allow-source)";
	*status = 400;
	if ((r = conf_source_parse(b->url, src, why, size)) != NULL) {
		snprintf(why, size, "url: %.160s", r);
		return why;
	}
	if (!conf_source_allowed(ex->conf.allow_source, src)) {
		*status = 403;
		return "scheme or host not in the export's allow-source";
	}
	if (b->user[0] == '\0')
		return NULL;
	if (src->scheme != CONF_SCHEME_HTTPS && src->scheme != CONF_SCHEME_HTTP)
		return "credentials go only with an https:// or http:// url";
	if (strspn(b->user, name_chars) != strlen(b->user))
		return "username: letters, digits, '.', '_', '@' and '-' only";
	for (i = 0; b->password[i] != '\0'; i++)
		if ((unsigned char)b->password[i] < 0x20 ||
		    b->password[i] == 0x7f)
			return "password: no control characters";
	return NULL;
}

/*
 * The member's trust for the insert: VerifyCertificate, and its
 * Certificates as INSERT_CAs just before the SOURCE_INSERT.
 */
static void
insert_send_cas(const struct export_rt *ex, struct msg_insert *in)
{
	static struct msg_ca ca;
	int i, n = 0;

	in->verify = !ex->no_verify;
	for (i = 0; in->verify && i < MSG_CAS_MAX; i++)
		n += ex->cas[i] != NULL;
	memset(&ca, 0, sizeof(ca));
	snprintf(ca.export, sizeof(ca.export), "%s", ex->conf.name);
	ca.count = n;
	ca.verify = 1;
	for (i = 0; n > 0 && i < MSG_CAS_MAX; i++) {
		if (ex->cas[i] == NULL)
			continue;
		snprintf(ca.pem, sizeof(ca.pem), "%s", ex->cas[i]);
		insert_tell_parent(MSG_INSERT_CA, &ca, sizeof(ca));
		ca.index++;
	}
	in->ncas = n;
}

/*
 * An insert into ex for c, whoever parsed the request (the JSON API
 * below, Redfish's InsertMedia): the export's allow-source decides, the
 * answer comes when the source attached or failed (insert_answer), in
 * the request's form (conn_error's, or redfish.c's). body is wiped.
 */
void
insert_start(struct conn *c, struct export_rt *ex, struct cred_insert *body)
{
	const char *name = ex->conf.name;
	struct conf_source src;
	struct msg_insert in;
	char why[200];
	const char *r;
	int status = 400;

	if ((r = insert_check(ex, body, &src, why, sizeof(why), &status)) ==
		NULL &&
	    (ex->insert_pending || ex->inserted[0] != '\0' ||
		ex->session != NULL || ex->state != EXPORT_IDLE)) {
		r = "export busy: an image is attached or being inserted";
		status = 409;
	}
	if (r != NULL) {
		explicit_bzero(body, sizeof(*body));
		insert_refuse(c, status, name, r);
		return;
	}
	memset(&in, 0, sizeof(in));
	snprintf(in.export, sizeof(in.export), "%s", ex->conf.name);
	snprintf(in.user, sizeof(in.user), "%s", c->id.user);
	memcpy(in.uri, body->url, sizeof(in.uri));
	memcpy(in.cred_user, body->user, sizeof(in.cred_user));
	memcpy(in.cred_password, body->password, sizeof(in.cred_password));
	explicit_bzero(body, sizeof(*body));
	snprintf(ex->inserted, sizeof(ex->inserted), "%s", in.uri);
	snprintf(ex->inserted_by, sizeof(ex->inserted_by), "%s", c->id.user);
	snprintf(ex->inserted_from, sizeof(ex->inserted_from), "%s", c->addr);
	ex->source_reason[0] = '\0';
	ex->insert_pending = 1;
	ex->inserting = c;
	c->inserting = ex;
	conn_hold(c,
	    sd_child->conf->global.handshake_timeout +
		sd_child->conf->global.request_timeout + INSERT_GRACE);
	insert_send_cas(ex, &in);
	log_info("export %s: %s inserts %s%s%s", ex->conf.name,
	    c->id.user[0] ? c->id.user : c->addr, in.uri,
	    in.cred_user[0] ? " with credentials" : "",
	    !in.verify	    ? ", its certificate not verified" :
		in.ncas > 0 ? ", trusting the member's certificates" :
			      "");
	insert_tell_parent(MSG_SOURCE_INSERT, &in, sizeof(in));
	explicit_bzero(&in, sizeof(in));
}

/* POST /api/exports/NAME/insert with {"url": ...}. */
void
insert_serve(struct conn *c, const char *name)
{
	struct export_rt *ex = sd_export(name);
	struct cred_insert body;
	int parsed;

	if (ex == NULL || !auth_may_use(&c->id, &ex->conf)) {
		/* Not theirs: as for every export call, it does not exist. */
		refusal_audit(c, 404, AUDIT_EV_ACCESS_DENIED, c->id.user,
		    ex != NULL ? ex->conf.name : "",
		    ex != NULL ? "not allowed to use this export" :
				 "no such export");
		conn_error(c, 404, "no such export");
		return;
	}
	parsed = cred_insert_body(c->req->body, c->req->body_len, &body);
	explicit_bzero(c->req->body, sizeof(c->req->body));
	if (parsed == -1) {
		explicit_bzero(&body, sizeof(body));
		insert_refuse(c, 400, name,
		    "expected {\"url\": \"...\"} (and \"username\" with "
		    "\"password\")");
		return;
	}
	insert_start(c, ex, &body);
}

/*
 * Its NBD handshake is done: the insert succeeded (audited even if the
 * request gave up waiting).
 */
void
insert_attached(struct export_rt *ex)
{
	struct msg_audit a;

	if (!ex->insert_pending)
		return;
	ex->insert_pending = 0;
	msg_audit_init(&a, AUDIT_EV_SOURCE_INSERTED, ex->inserted_by,
	    ex->inserted_from, ex->conf.name, ex->inserted);
	sd_audit(&a);
	insert_answer(ex, 200, "");
}

/*
 * The parent says a source's nbdkit is gone (or never started), and why.
 * An insert waiting for it failed: answered, audited, and not retried.
 * Otherwise the reason is shown in /api/exports until the next start.
 */
void
insert_source_ended(const struct msg_source *s)
{
	struct export_rt *ex = sd_export(s->export);
	struct msg_audit a;
	char why[160];

	if (ex == NULL)
		return;
	snprintf(ex->source_reason, sizeof(ex->source_reason), "%s", s->reason);
	if (!ex->insert_pending)
		return;
	ex->insert_pending = 0;
	log_warnx("export %s: insert of %s failed: %s", ex->conf.name,
	    ex->inserted, s->reason);
	msg_audit_init(&a, AUDIT_EV_INSERT_FAILED, ex->inserted_by,
	    ex->inserted_from, ex->conf.name, s->reason);
	sd_audit(&a);
	snprintf(why, sizeof(why), "insert failed: %s", s->reason);
	insert_answer(ex, 502, why);
	insert_end(ex, "its insert failed");
}

/* The waiting request went away: the insert goes on without it. */
void
insert_forget(struct conn *c)
{
	if (c->inserting != NULL && c->inserting->inserting == c)
		c->inserting->inserting = NULL;
	c->inserting = NULL;
}

/*
 * A reload: an inserted source the export no longer allows is dropped
 * (the parent stops its nbdkit; a waiting insert fails).
 */
void
insert_conf_applied(struct export_rt *ex, const struct conf_export *e)
{
	struct conf_source src;
	char why[160];

	if (ex->inserted[0] == '\0')
		return;
	if (e != NULL && e->allow_source[0] != '\0' &&
	    conf_source_parse(ex->inserted, &src, why, sizeof(why)) == NULL &&
	    conf_source_allowed(e->allow_source, &src))
		return;
	log_info("export %s: the reload no longer allows %s", ex->conf.name,
	    ex->inserted);
	insert_answer(ex, 502, "insert failed: the configuration changed");
	ex->insert_pending = 0;
	ex->inserted[0] = '\0';
	ex->inserted_by[0] = '\0';
	if (ex->session != NULL && !ex->session->framed && !ex->session->ending)
		session_end(ex->session, "its source is no longer allowed",
		    WS_CLOSE_NORMAL);
}
