/*
 * The message contract between vmediad's processes and its decoder: one
 * table says, per type, who sends it to whom, its payload and fd, and what
 * its fields must hold; every receiver checks every message against it.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"
#include "nbd_proto.h"

#define BY_PARENT PROC_BIT(PROC_PARENT)
#define BY_SESSIOND PROC_BIT(PROC_SESSIOND)
#define BY_BLOCKD PROC_BIT(PROC_BLOCKD)
#define BY_HOOKD PROC_BIT(PROC_HOOKD)
#define BY_LAUNCHER PROC_BIT(PROC_LAUNCHER)
#define BY_CHILDREN (BY_SESSIOND | BY_BLOCKD | BY_HOOKD)

static const char *const msg_procs[PROC_MAX] = {
	[PROC_SESSIOND] = "sessiond",
	[PROC_BLOCKD] = "blockd",
	[PROC_HOOKD] = "hookd",
	[PROC_PARENT] = "parent",
	[PROC_LAUNCHER] = "launcher",
};

/* Who sits on a child's sibling fds, MSG_SIBLING_FD and MSG_SIBLING2_FD. */
static const int msg_siblings[PROC_MAX][2] = {
	[PROC_SESSIOND] = { PROC_BLOCKD, PROC_NONE },
	[PROC_BLOCKD] = { PROC_SESSIOND, PROC_HOOKD },
	[PROC_HOOKD] = { PROC_BLOCKD, PROC_NONE },
	[PROC_PARENT] = { PROC_NONE, PROC_NONE },
	[PROC_LAUNCHER] = { PROC_NONE, PROC_NONE },
};

/* --- what the fields must hold --------------------------------------- */

/* An export or user name as the config allows it. */
static int
name_ok(const char *field, size_t size)
{
	return conf_terminated(field, size) && conf_name_valid(field);
}

/* A session's user: a name, or none when logins are off. */
static int
user_ok(const char *field, size_t size)
{
	return conf_terminated(field, size) &&
	    (field[0] == '\0' || conf_name_valid(field));
}

static int
bool_ok(int32_t v)
{
	return v == 0 || v == 1;
}

static int
action_ok(int32_t action)
{
	return action == MSG_HOOK_START || action == MSG_HOOK_STOP;
}

static const char *
check_conf_global(const struct msg *m, enum msg_proc from)
{
	(void)from;
	return conf_global_valid(&m->u.global) ?
	    NULL :
	    "not a valid [vmediad] section";
}

static const char *
check_conf_export(const struct msg *m, enum msg_proc from)
{
	(void)from;
	return conf_export_valid(&m->u.export) ? NULL : "not a valid export";
}

static const char *
check_conf_user(const struct msg *m, enum msg_proc from)
{
	(void)from;
	return conf_user_valid(&m->u.user) ? NULL : "not a valid user";
}

static const char *
check_conf_end(const struct msg *m, enum msg_proc from)
{
	const struct msg_conf_end *end = &m->u.conf_end;

	(void)from;
	if (end->nexports < 0 || end->nexports > CONF_EXPORT_MAX)
		return "export count out of range";
	if (end->nusers < 0 || end->nusers > CONF_USER_MAX)
		return "user count out of range";
	return NULL;
}

static const char *
check_ping(const struct msg *m, enum msg_proc from)
{
	(void)from;
	return m->u.ping.seq != 0 ? NULL : "sequence number 0";
}

static const char *
check_listener(const struct msg *m, enum msg_proc from)
{
	const struct msg_listener *l = &m->u.listener;

	(void)from;
	if (!conf_terminated(l->export, sizeof(l->export)))
		return "export not terminated";
	switch (l->kind) {
	case MSG_LISTEN_HTTP:
	case MSG_LISTEN_NBD:
		if (l->export[0] != '\0')
			return "HTTP or NBD listener names an export";
		if (l->index < 0 || l->index >= CONF_LISTEN_MAX)
			return "listener index out of range";
		return NULL;
	case MSG_LISTEN_EXPORT:
		if (!conf_name_valid(l->export))
			return "export is not a valid name";
		return l->index == 0 ? NULL : "export listener with an index";
	default:
		return "unknown listener kind";
	}
}

static const char *
check_attach(const struct msg *m, enum msg_proc from)
{
	const struct msg_attach *a = &m->u.attach;

	(void)from;
	if (!name_ok(a->export, sizeof(a->export)))
		return "export is not a valid name";
	if (!user_ok(a->user, sizeof(a->user)))
		return "user is not a valid name";
	/* sessiond ended sessions of empty images; the kernel's is signed. */
	if (a->size == 0 || a->size > INT64_MAX)
		return "size out of range";
	if (a->session == 0)
		return "session 0";
	/* sessiond passes on only what it relays, and says it does. */
	if (!(a->flags & NBD_TFLAG_HAS_FLAGS) ||
	    (a->flags & ~(uint32_t)NBD_TFLAG_RELAYED))
		return "transmission flags outside what is relayed";
	return NULL;
}

static const char *
check_attached(const struct msg *m, enum msg_proc from)
{
	const struct msg_attach_result *r = &m->u.attached;

	(void)from;
	if (!name_ok(r->export, sizeof(r->export)))
		return "export is not a valid name";
	if (!conf_terminated(r->device, sizeof(r->device)) ||
	    !conf_terminated(r->reason, sizeof(r->reason)))
		return "device or reason not terminated";
	if (r->session == 0)
		return "session 0";
	if (!bool_ok(r->ok))
		return "ok neither 0 nor 1";
	if (r->ok ? r->reason[0] != '\0' : r->device[0] != '\0')
		return "a device with a refusal, or a reason with success";
	return NULL;
}

static const char *
check_detach(const struct msg *m, enum msg_proc from)
{
	const struct msg_detach *d = &m->u.detach;

	(void)from;
	if (!name_ok(d->export, sizeof(d->export)))
		return "export is not a valid name";
	return d->session != 0 ? NULL : "session 0";
}

/* Session 0 is blockd's own: the stop hooks it runs at start. */
static const char *
check_hook_run(const struct msg *m, enum msg_proc from)
{
	const struct msg_hook *h = &m->u.hook;

	(void)from;
	if (!name_ok(h->export, sizeof(h->export)))
		return "export is not a valid name";
	if (!user_ok(h->user, sizeof(h->user)))
		return "user is not a valid name";
	if (!action_ok(h->action))
		return "unknown action";
	return bool_ok(h->read_only) ? NULL : "read_only neither 0 nor 1";
}

static const char *
check_hook_done(const struct msg *m, enum msg_proc from)
{
	const struct msg_hook_done *h = &m->u.hook_done;

	(void)from;
	if (!name_ok(h->export, sizeof(h->export)))
		return "export is not a valid name";
	if (!conf_terminated(h->reason, sizeof(h->reason)))
		return "reason not terminated";
	if (!action_ok(h->action))
		return "unknown action";
	return bool_ok(h->ok) ? NULL : "ok neither 0 nor 1";
}

/*
 * The user and export of a failed login are what the client typed: only
 * terminated, never taken for names. blockd reports hook failures only.
 */
static const char *
check_audit(const struct msg *m, enum msg_proc from)
{
	const struct msg_audit *a = &m->u.audit;

	if (!conf_terminated(a->user, sizeof(a->user)) ||
	    !conf_terminated(a->addr, sizeof(a->addr)) ||
	    !conf_terminated(a->export, sizeof(a->export)) ||
	    !conf_terminated(a->target, sizeof(a->target)) ||
	    !conf_terminated(a->reason, sizeof(a->reason)))
		return "a string not terminated";
	if (a->event <= 0 || a->event >= AUDIT_EV_COUNT ||
	    (a->event >= AUDIT_EV_CONFIG_RELOAD &&
		a->event <= AUDIT_EV_SOURCE_EXITED))
		return "event out of range";
	if (a->status < 0 || a->status > 999)
		return "status is no HTTP status";
	if (from == PROC_BLOCKD && a->event != AUDIT_EV_HOOK_FAILED)
		return "blockd reports hook failures only";
	return NULL;
}

/* The whole export, its source's files too: the launcher reads them. */
static const char *
check_source_start(const struct msg *m, enum msg_proc from)
{
	(void)from;
	if (!conf_export_valid(&m->u.export))
		return "not a valid export";
	return m->u.export.source[0] != '\0' ? NULL :
					       "an export without a source";
}

/*
 * What every struct msg_source carries: a valid export name and a
 * terminated reason, which a start leaves empty (reason 0) and an exit or
 * an eject gives (reason 1).
 */
static const char *
source_msg_bad(const struct msg_source *s, int reason)
{
	if (!name_ok(s->export, sizeof(s->export)))
		return "export is not a valid name";
	if (!conf_terminated(s->reason, sizeof(s->reason)) ||
	    (s->reason[0] != '\0') != reason)
		return reason ? "reason empty or not terminated" :
				"a reason with a start";
	return NULL;
}

static const char *
check_source_started(const struct msg *m, enum msg_proc from)
{
	const struct msg_source *s = &m->u.source;
	const char *r;

	(void)from;
	if ((r = source_msg_bad(s, 0)) != NULL)
		return r;
	return s->pid > 1 ? NULL : "no pid";
}

static const char *
check_source_exited(const struct msg *m, enum msg_proc from)
{
	const struct msg_source *s = &m->u.source;
	const char *r;

	(void)from;
	if ((r = source_msg_bad(s, 1)) != NULL)
		return r;
	return s->pid == 0 || s->pid > 1 ? NULL : "pid out of range";
}

/*
 * HTTP credentials as nbdkit's file takes them: a user of letters,
 * digits, '.', '_', '@' and '-', a password without control bytes; both
 * or neither.
 */
static const char *
credentials_bad(const char *user, size_t usize, const char *password,
    size_t psize)
{
	size_t i, ulen;

	if (!conf_terminated(user, usize) || !conf_terminated(password, psize))
		return "credentials not terminated";
	ulen = strlen(user);
	if ((ulen == 0) != (password[0] == '\0'))
		return "a user without a password, or a password without one";
	if (strspn(user,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789._@-") != ulen)
		return "a user of other characters";
	for (i = 0; password[i] != '\0'; i++)
		if ((unsigned char)password[i] < 0x20 || password[i] == 0x7f)
			return "a control byte in the password";
	return NULL;
}

/* The URI parses as a source does, and is one an insert may name. */
static const char *
check_source_insert(const struct msg *m, enum msg_proc from)
{
	const struct msg_insert *in = &m->u.insert;
	struct conf_source src;
	const char *r;
	char why[160];

	(void)from;
	if (!name_ok(in->export, sizeof(in->export)))
		return "export is not a valid name";
	if (!user_ok(in->user, sizeof(in->user)))
		return "user is not a valid name";
	if (!conf_terminated(in->uri, sizeof(in->uri)) ||
	    conf_source_parse(in->uri, &src, why, sizeof(why)) != NULL)
		return "uri is not a valid source";
	if (src.scheme == CONF_SCHEME_NBD_UNIX)
		return "nbd+unix:// is never inserted";
	if ((r = credentials_bad(in->cred_user, sizeof(in->cred_user),
		 in->cred_password, sizeof(in->cred_password))) != NULL)
		return r;
	if ((in->verify != 0 && in->verify != 1) || in->ncas < 0 ||
	    in->ncas > MSG_CAS_MAX || (in->verify == 0 && in->ncas != 0))
		return "verify or ncas out of range";
	return in->cred_user[0] == '\0' || src.scheme == CONF_SCHEME_HTTPS ||
		src.scheme == CONF_SCHEME_HTTP ?
	    NULL :
	    "credentials for a source that is not https:// or http://";
}

/*
 * One certificate in PEM as sessiond writes it (PEM_write_bio_X509):
 * its BEGIN line, base64 lines, its END line, nothing else.
 */
static const char *
pem_bad(const char *pem, size_t size)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----\n",
			  end[] = "-----END CERTIFICATE-----\n";
	size_t len, body;

	if (!conf_terminated(pem, size))
		return "pem not terminated";
	len = strlen(pem);
	if (len < sizeof(begin) - 1 + sizeof(end) - 1 + 2 ||
	    strncmp(pem, begin, sizeof(begin) - 1) != 0 ||
	    strcmp(pem + len - (sizeof(end) - 1), end) != 0)
		return "pem is not one certificate";
	body = len - (sizeof(begin) - 1) - (sizeof(end) - 1);
	if (strspn(pem + sizeof(begin) - 1,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/=\n") != body)
		return "pem is not one certificate";
	return NULL;
}

static const char *
check_insert_ca(const struct msg *m, enum msg_proc from)
{
	const struct msg_ca *ca = &m->u.ca;

	(void)from;
	if (!name_ok(ca->export, sizeof(ca->export)))
		return "export is not a valid name";
	if (ca->count < 1 || ca->count > MSG_CAS_MAX || ca->index < 0 ||
	    ca->index >= ca->count)
		return "index or count out of range";
	if (ca->verify != 1)
		return "a CA with verification off";
	return pem_bad(ca->pem, sizeof(ca->pem));
}

static const char *
check_source_ca(const struct msg *m, enum msg_proc from)
{
	const struct msg_ca *ca = &m->u.ca;

	(void)from;
	if (!name_ok(ca->export, sizeof(ca->export)))
		return "export is not a valid name";
	if (ca->verify == 0)
		return ca->count == 0 && ca->index == 0 && ca->pem[0] == '\0' &&
			conf_terminated(ca->pem, sizeof(ca->pem)) ?
		    NULL :
		    "a CA with verification off";
	if (ca->verify != 1)
		return "verify neither 0 nor 1";
	if (ca->count < 1 || ca->count > MSG_CAS_MAX || ca->index < 0 ||
	    ca->index >= ca->count)
		return "index or count out of range";
	return pem_bad(ca->pem, sizeof(ca->pem));
}

static const char *
check_source_credentials(const struct msg *m, enum msg_proc from)
{
	const struct msg_credentials *cr = &m->u.credentials;

	(void)from;
	if (!name_ok(cr->export, sizeof(cr->export)))
		return "export is not a valid name";
	if (cr->user[0] == '\0')
		return "no user";
	return credentials_bad(cr->user, sizeof(cr->user), cr->password,
	    sizeof(cr->password));
}

static const char *
check_source_eject(const struct msg *m, enum msg_proc from)
{
	const struct msg_source *s = &m->u.source;
	const char *r;

	(void)from;
	if ((r = source_msg_bad(s, 1)) != NULL)
		return r;
	return s->pid == 0 ? NULL : "a pid";
}

/* --- the table -------------------------------------------------------- */

static const struct msg_info msg_table[MSG_TYPE_COUNT] = {
	[MSG_CONF_GLOBAL] = { "CONF_GLOBAL", "struct conf_global",
	    sizeof(struct conf_global), MSG_FD_NEVER, BY_PARENT, BY_CHILDREN,
	    check_conf_global,
	    "starts a config push; strings terminated, "
	    "limits positive, auth known" },
	[MSG_CONF_EXPORT] = { "CONF_EXPORT", "struct conf_export",
	    sizeof(struct conf_export), MSG_FD_NEVER, BY_PARENT, BY_CHILDREN,
	    check_conf_export,
	    "one export the receiver needs; name a config "
	    "name, a /dev/nbdN device or a socket, timeout 1-3600, max-size > "
	    "0" },
	[MSG_CONF_USER] = { "CONF_USER", "struct conf_user",
	    sizeof(struct conf_user), MSG_FD_NEVER, BY_PARENT, BY_SESSIOND,
	    check_conf_user,
	    "one login; name a config name, hash and groups terminated, "
	    "TLS-PSK key 0 or 16-64 bytes" },
	[MSG_CONF_END] = { "CONF_END", "struct msg_conf_end",
	    sizeof(struct msg_conf_end), MSG_FD_NEVER, BY_PARENT, BY_CHILDREN,
	    check_conf_end,
	    "ends a push; counts within the config's "
	    "limits (and equal to what came: child.c)" },
	[MSG_PING] = { "PING", "struct msg_ping", sizeof(struct msg_ping),
	    MSG_FD_NEVER, BY_PARENT, BY_CHILDREN, check_ping,
	    "liveness; sequence number not 0" },
	[MSG_PONG] = { "PONG", "struct msg_ping", sizeof(struct msg_ping),
	    MSG_FD_NEVER, BY_CHILDREN, BY_PARENT, check_ping,
	    "the ping echoed; not 0 (nor ahead of the pings: proc.c)" },
	[MSG_SHUTDOWN] = { "SHUTDOWN", "none", 0, MSG_FD_NEVER, BY_PARENT,
	    BY_CHILDREN, NULL, "stop: release what you hold, then exit 0" },
#ifdef VMEDIAD_TEST
	[MSG_TEST_SYSCALL] = { "TEST_SYSCALL", "none", 0, MSG_FD_NEVER,
	    BY_PARENT, BY_CHILDREN, NULL,
	    "test builds only: call ptrace, which no allow-list has" },
#endif
	[MSG_LISTENER] = { "LISTENER", "struct msg_listener",
	    sizeof(struct msg_listener), MSG_FD_ALWAYS, BY_PARENT, BY_SESSIOND,
	    check_listener,
	    "a bound socket to serve; kind "
	    "HTTP or NBD with a listen index, or EXPORT with an export name" },
	[MSG_ATTACH] = { "ATTACH", "struct msg_attach",
	    sizeof(struct msg_attach), MSG_FD_ALWAYS, BY_SESSIOND, BY_BLOCKD,
	    check_attach,
	    "a session's kernel-side socket; export and user "
	    "names, size 1 to 2^63-1, session not 0, flags HAS_FLAGS within "
	    "the relayed ones" },
	[MSG_ATTACHED] = { "ATTACHED", "struct msg_attach_result",
	    sizeof(struct msg_attach_result), MSG_FD_NEVER, BY_BLOCKD,
	    BY_SESSIOND, check_attached,
	    "the answer; export a name, session "
	    "not 0, ok 0 or 1, a device only with success, a reason only "
	    "with a refusal" },
	[MSG_DETACH] = { "DETACH", "struct msg_detach",
	    sizeof(struct msg_detach), MSG_FD_NEVER, BY_SESSIOND, BY_BLOCKD,
	    check_detach, "the session ended; export a name, session not 0" },
	[MSG_DETACHED] = { "DETACHED", "struct msg_detach",
	    sizeof(struct msg_detach), MSG_FD_NEVER, BY_BLOCKD, BY_SESSIOND,
	    check_detach,
	    "the device is free again; export a name, session not 0" },
	[MSG_HOOK_RUN] = { "HOOK_RUN", "struct msg_hook",
	    sizeof(struct msg_hook), MSG_FD_NEVER, BY_BLOCKD, BY_HOOKD,
	    check_hook_run,
	    "run an export's hook; export and user names, "
	    "action start or stop, read_only 0 or 1" },
	[MSG_HOOK_DONE] = { "HOOK_DONE", "struct msg_hook_done",
	    sizeof(struct msg_hook_done), MSG_FD_NEVER, BY_HOOKD, BY_BLOCKD,
	    check_hook_done,
	    "how it went; export a name, reason terminated, "
	    "action start or stop, ok 0 or 1" },
	[MSG_AUDIT] = { "AUDIT", "struct msg_audit", sizeof(struct msg_audit),
	    MSG_FD_NEVER, BY_SESSIOND | BY_BLOCKD, BY_PARENT, check_audit,
	    "an event for the audit file; strings "
	    "terminated, a child's event, status 0 to 999, blockd's only "
	    "hook_failed" },
	[MSG_SOURCE_START] = { "SOURCE_START", "struct conf_export",
	    sizeof(struct conf_export), MSG_FD_NEVER, BY_PARENT, BY_LAUNCHER,
	    check_source_start,
	    "start the nbdkit of an export, with its source's files; a valid "
	    "export that has a source" },
	[MSG_SOURCE_STARTED] = { "SOURCE_STARTED", "struct msg_source",
	    sizeof(struct msg_source), MSG_FD_ALWAYS, BY_LAUNCHER, BY_PARENT,
	    check_source_started,
	    "nbdkit runs; the fd is our end of its socketpair; export a name, "
	    "pid above 1, no reason" },
	[MSG_SOURCE_EXITED] = { "SOURCE_EXITED", "struct msg_source",
	    sizeof(struct msg_source), MSG_FD_NEVER, BY_LAUNCHER, BY_PARENT,
	    check_source_exited,
	    "nbdkit is gone (pid 0: never started); export a name, a "
	    "reason, pid 0 or above 1" },
	[MSG_SOURCE_PEER] = { "SOURCE_PEER", "struct msg_source",
	    sizeof(struct msg_source), MSG_FD_ALWAYS, BY_PARENT, BY_SESSIOND,
	    check_source_started,
	    "an export's nbdkit, to serve as its session's peer without "
	    "WebSocket framing; export a name, pid above 1, no reason" },
	[MSG_SOURCE_INSERT] = { "SOURCE_INSERT", "struct msg_insert",
	    sizeof(struct msg_insert), MSG_FD_NEVER, BY_SESSIOND, BY_PARENT,
	    check_source_insert,
	    "insert a source into an export (POST .../insert); export a "
	    "name, user a name or none, uri a source but nbd+unix, "
	    "credentials both or neither and only for https:// or http://, "
	    "verify 0 or 1, ncas 0-4 and 0 without verify" },
	[MSG_SOURCE_EJECT] = { "SOURCE_EJECT", "struct msg_source",
	    sizeof(struct msg_source), MSG_FD_NEVER, BY_SESSIOND, BY_PARENT,
	    check_source_eject,
	    "an inserted source is ejected (or its insert failed): start it "
	    "no more; export a name, a reason, pid 0" },
	[MSG_SOURCE_ENDED] = { "SOURCE_ENDED", "struct msg_source",
	    sizeof(struct msg_source), MSG_FD_NEVER, BY_PARENT, BY_SESSIOND,
	    check_source_exited,
	    "a source's nbdkit is gone, or an insert was not started, and "
	    "why in plain words; export a name, a reason, pid 0 or above 1" },
	[MSG_SOURCE_STOP] = { "SOURCE_STOP", "struct msg_source",
	    sizeof(struct msg_source), MSG_FD_NEVER, BY_PARENT, BY_LAUNCHER,
	    check_source_started,
	    "stop an export's nbdkit (a reload took its source away, or it "
	    "was ejected); export a name, pid above 1, no reason" },
	[MSG_SOURCE_CREDENTIALS] = { "SOURCE_CREDENTIALS",
	    "struct msg_credentials", sizeof(struct msg_credentials),
	    MSG_FD_NEVER, BY_PARENT, BY_LAUNCHER, check_source_credentials,
	    "an inserted source's HTTP user and password, for the SOURCE_START "
	    "that follows; export a name, a user of name characters, a "
	    "password without control bytes" },
	[MSG_INSERT_CA] = { "INSERT_CA", "struct msg_ca", sizeof(struct msg_ca),
	    MSG_FD_NEVER, BY_SESSIOND, BY_PARENT, check_insert_ca,
	    "one CA certificate the SOURCE_INSERT that follows is to trust "
	    "alone (Redfish Certificates); export a name, index below count, "
	    "count 1-4, verify 1, one PEM certificate" },
	[MSG_SOURCE_CA] = { "SOURCE_CA", "struct msg_ca", sizeof(struct msg_ca),
	    MSG_FD_NEVER, BY_PARENT, BY_LAUNCHER, check_source_ca,
	    "an inserted source's CA for the SOURCE_START that follows "
	    "(cainfo=), or verify 0: no check (sslverify=false); export a "
	    "name, index below count 1-4 and one PEM certificate, or count "
	    "0 and no PEM with verify 0" },
};

_Static_assert(sizeof(struct conf_global) <= MSG_PAYLOAD_MAX,
    "conf_global must fit one message");
_Static_assert(sizeof(struct conf_export) <= MSG_PAYLOAD_MAX,
    "conf_export must fit one message");
_Static_assert(sizeof(struct msg_ca) <= MSG_PAYLOAD_MAX,
    "a CA must fit one message");
/* Twice the largest burst, a whole config push, fits a channel's queue. */
#define MSG_OUT(type) (sizeof(struct msg_hdr) + sizeof(type))
_Static_assert(2 *
	    (MSG_OUT(struct conf_global) +
		CONF_EXPORT_MAX * MSG_OUT(struct conf_export) +
		CONF_USER_MAX * MSG_OUT(struct conf_user) +
		MSG_OUT(struct msg_conf_end) +
		(CONF_LISTEN_MAX + CONF_EXPORT_MAX) *
		    MSG_OUT(struct msg_listener)) <=
	CHAN_QUEUE_BYTES,
    "a channel holds two whole config pushes");

/* The row of a type, NULL for types this build does not know. */
const struct msg_info *
msg_info(uint32_t type)
{
	if (type >= MSG_TYPE_COUNT || msg_table[type].name == NULL)
		return NULL;
	return &msg_table[type];
}

const char *
msg_type_name(uint32_t type)
{
	const struct msg_info *info = msg_info(type);

	return info != NULL ? info->name : "unknown";
}

const char *
msg_proc_name(int proc)
{
	if (proc < 0 || proc >= PROC_MAX)
		return "nobody";
	return msg_procs[proc];
}

/* Who is on a child's i-th sibling fd; PROC_NONE if nobody. */
int
msg_sibling(enum msg_proc self, int i)
{
	if ((unsigned)self >= PROC_MAX || i < 0 || i > 1)
		return PROC_NONE;
	return msg_siblings[self][i];
}

/* --- one datagram ------------------------------------------------------ */

/*
 * Checks one datagram that peer sent to self (with the fd that came with
 * it, or -1) against the table and copies it into m. Returns NULL or the
 * problem, leaving m untouched; the fd is then the caller's to close.
 */
const char *
msg_decode(const void *buf, size_t n, int fd, enum msg_proc self,
    enum msg_proc peer, struct msg *m)
{
	static char why[128];
	const struct msg_info *info;
	struct msg_hdr hdr;
	struct msg tmp;
	const char *bad;

	if (n < sizeof(hdr))
		return "truncated header";
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.len != n - sizeof(hdr))
		return "length does not match the datagram";
	if ((info = msg_info(hdr.type)) == NULL)
		return "unknown message type";
	if ((unsigned)self >= PROC_MAX || (unsigned)peer >= PROC_MAX ||
	    !(info->from & PROC_BIT(peer)) || !(info->to & PROC_BIT(self))) {
		snprintf(why, sizeof(why), "%s not allowed from %s to %s",
		    info->name, msg_proc_name(peer), msg_proc_name(self));
		return why;
	}
	if (hdr.len != info->size)
		return "wrong payload size for its type";
	if (info->fd == MSG_FD_ALWAYS && fd == -1)
		return "fd missing";
	if (info->fd == MSG_FD_NEVER && fd != -1)
		return "unexpected fd";
	/* Checked where it is aligned, copied only once it passed. */
	memcpy(tmp.u.bytes, (const unsigned char *)buf + sizeof(hdr), hdr.len);
	if (info->check != NULL && (bad = info->check(&tmp, peer)) != NULL) {
		snprintf(why, sizeof(why), "%s: %s", info->name, bad);
		return why;
	}
	m->type = hdr.type;
	m->len = hdr.len;
	m->fd = fd;
	memcpy(m->u.bytes, tmp.u.bytes, hdr.len);
	return NULL;
}

/*
 * Extracts the single fd a datagram may carry; -2 if it was malformed.
 * Every other descriptor that came along is closed, whatever happens.
 */
static int
msg_control_fd(struct msghdr *mh)
{
	struct cmsghdr *cm;
	int fd = -1, extra = 0, got;
	size_t i, n;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS) {
			extra = 1;
			continue;
		}
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&got, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
			if (fd == -1)
				fd = got;
			else {
				close(got);
				extra = 1;
			}
		}
	}
	if (extra || (mh->msg_flags & MSG_CTRUNC)) {
		if (fd != -1)
			close(fd);
		return -2;
	}
	return fd;
}

/*
 * Reads one message that peer sent to self, without blocking. Returns 1
 * with m filled, 0 when the peer has closed, -1 with errno EAGAIN when
 * nothing waits, or -1 with *why set when the message broke the contract.
 */
int
msg_recv(int sock, enum msg_proc self, enum msg_proc peer, struct msg *m,
    const char **why)
{
	unsigned char buf[sizeof(struct msg_hdr) + MSG_PAYLOAD_MAX + 1];
	union {
		struct cmsghdr hdr;
		unsigned char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	ssize_t n;
	int fd;

	*why = NULL;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == ECONNRESET || errno == EPIPE))
		return 0;
	if (n == -1) {
		if (errno != EAGAIN)
			*why = strerror(errno);
		return -1;
	}
	if ((fd = msg_control_fd(&mh)) == -2) {
		*why = "bad control data";
		return -1;
	}
	if (n == 0 && fd == -1)
		return 0;
	if (mh.msg_flags & MSG_TRUNC)
		*why = "oversized message";
	else
		*why = msg_decode(buf, n, fd, self, peer, m);
	if (*why != NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	return 1;
}

/*
 * Writes one message; flags go to sendmsg (MSG_DONTWAIT from a channel).
 * Returns 0, or -1 with errno set (EPIPE when the peer is gone).
 */
int
msg_write(int sock, enum msg_type type, const void *payload, size_t len, int fd,
    int flags)
{
	struct msg_hdr hdr = { type, (uint32_t)len };
	union {
		struct cmsghdr hdr;
		unsigned char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec iov[2] = {
		{ &hdr, sizeof(hdr) },
		{ (void *)payload, len },
	};
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	if (len > MSG_PAYLOAD_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = len > 0 ? 2 : 1;
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != sizeof(hdr) + len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/*
 * One message, waiting for room if the socket is full: for the tests'
 * harnesses. The daemons send through a channel, which never waits. The
 * fd stays the caller's.
 */
int
msg_send(int sock, enum msg_type type, const void *payload, size_t len, int fd)
{
	return msg_write(sock, type, payload, len, fd, 0);
}
