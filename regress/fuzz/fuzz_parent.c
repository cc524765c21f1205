/*
 * libFuzzer target for the parent's handlers: PONG and AUDIT from each
 * child through proc.c's own proc_dispatch, with the audit file a pipe
 * read back after every record, and the parent's pings and reload
 * records as the world's doing (handler.h: the input). Asserts:
 * - every audit record is one line of valid JSON (RFC 8259, UTF-8) that
 *   holds the time, the event's name and the record's fields, only those
 *   the event carries, in order, each string as the child sent it (bytes
 *   that are no UTF-8 as U+FFFD), each number as sent;
 * - a PONG is taken only for a ping sent, and then is the last answered;
 *   one ahead of the pings is a protocol error;
 * - the pings count up per child; what the parent sends passes each
 *   child's table.
 */
#include <errno.h>
#include <fcntl.h>

#include "handler.h"

/* The parent's side of its children: proc_dispatch in reach. */
#include "proc.c"

/* The input's first byte. */
#define OPT_NO_AUDIT 0x01 /* no audit file: the log only */

/* Things the world does: a record from the parent to itself, by type. */
enum world {
	WORLD_PING,	  /* the ping timer fires */
	WORLD_RELOAD,	  /* audited, with the payload as the reason */
	WORLD_CHILD_GONE, /* child flags % 3 closes its channel */
	WORLD_COUNT
};

#define FAKE_PID_BASE 0x40000000 /* above any real pid (2^22) */

static struct vmediad env;
static struct conf conf;
static int audit_in = -1;

/* The message being dispatched, from whom, and that child's pings. */
static enum msg_proc cur_from;
static uint64_t cur_pings;

static const char *const parent_fatal_ok[] = {
	"PONG from %s for a ping never sent", NULL
};

/* Only proc_reap() calls it, for a child that died: none does here. */
void
devices_release(struct vmediad *e)
{
	(void)e;
	handler_fail("devices_release without a child reaped");
}

/* The fuzzed config has no launcher: proc.c's calls into launcher.c. */
int
launcher_reaped(struct vmediad *e, pid_t pid, int status)
{
	(void)status;
	if (e->launcher_pid != 0 || pid == 0)
		handler_fail("a launcher in the fuzzed parent");
	return 0;
}

void
launcher_stop(struct vmediad *e)
{
	if (e->launcher_fd > 0)
		handler_fail("a launcher channel in the fuzzed parent");
}

/*
 * sessiond's SOURCE_INSERT and SOURCE_EJECT reach launcher.c, which is
 * not fuzzed here: what the decoder let through must be well formed.
 */
void
launcher_insert(struct vmediad *e, const struct msg_insert *in)
{
	(void)e;
	if (memchr(in->uri, '\0', sizeof(in->uri)) == NULL ||
	    strncmp(in->uri, "nbd+unix:", 9) == 0)
		handler_fail("SOURCE_INSERT with a uri the decoder refuses");
}

void
launcher_insert_ca(struct vmediad *e, const struct msg_ca *ca)
{
	(void)e;
	if (ca->count < 1 || ca->index >= ca->count ||
	    strncmp(ca->pem, "-----BEGIN CERTIFICATE-----\n", 28) != 0)
		handler_fail("INSERT_CA the decoder refuses");
}

void
launcher_eject(struct vmediad *e, const struct msg_source *s)
{
	(void)e;
	if (s->reason[0] == '\0' || s->pid != 0)
		handler_fail("SOURCE_EJECT the decoder refuses");
}

/* --- a strict reader for the one line ----------------------------------- */

#define FIELDS_MAX 16
#define VALUE_MAX 4096

struct field {
	char key[32];
	int is_number;
	uint64_t number;
	char text[VALUE_MAX];
	size_t len;
};

/* A well-formed UTF-8 sequence's length (RFC 3629), 0 if there is none. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t need, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		need = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) ||
	    (need == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

static void
put_utf8(struct field *f, uint32_t cp)
{
	unsigned char *o = (unsigned char *)f->text + f->len;

	if (f->len + 4 >= sizeof(f->text))
		handler_fail("audit: a value too long");
	if (cp < 0x80) {
		o[0] = cp;
		f->len += 1;
	} else if (cp < 0x800) {
		o[0] = 0xc0 | cp >> 6;
		o[1] = 0x80 | (cp & 0x3f);
		f->len += 2;
	} else if (cp < 0x10000) {
		o[0] = 0xe0 | cp >> 12;
		o[1] = 0x80 | ((cp >> 6) & 0x3f);
		o[2] = 0x80 | (cp & 0x3f);
		f->len += 3;
	} else {
		o[0] = 0xf0 | cp >> 18;
		o[1] = 0x80 | ((cp >> 12) & 0x3f);
		o[2] = 0x80 | ((cp >> 6) & 0x3f);
		o[3] = 0x80 | (cp & 0x3f);
		f->len += 4;
	}
}

static const char *
skip_ws(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++;
	return s;
}

static int
hex4(const char *s, const char *end, uint32_t *v)
{
	int i;

	*v = 0;
	if (end - s < 4)
		return 0;
	for (i = 0; i < 4; i++) {
		*v <<= 4;
		if (s[i] >= '0' && s[i] <= '9')
			*v |= s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			*v |= s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			*v |= s[i] - 'A' + 10;
		else
			return 0;
	}
	return 1;
}

/* A JSON string at s into f's text; returns what follows, NULL if bad. */
static const char *
read_string(const char *s, const char *end, struct field *f)
{
	uint32_t cp, lo;
	size_t n;

	f->len = 0;
	if (s == end || *s++ != '"')
		return NULL;
	while (s < end && *s != '"') {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s != '\\') {
			if ((n = utf8_len((const unsigned char *)s, end - s)) ==
				0 ||
			    f->len + n >= sizeof(f->text))
				return NULL;
			memcpy(f->text + f->len, s, n);
			f->len += n;
			s += n;
			continue;
		}
		if (++s == end)
			return NULL;
		switch (*s++) {
		case '"':
			cp = '"';
			break;
		case '\\':
			cp = '\\';
			break;
		case '/':
			cp = '/';
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (!hex4(s, end, &cp))
				return NULL;
			s += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return NULL;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - s < 6 || s[0] != '\\' ||
				    s[1] != 'u' || !hex4(s + 2, end, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return NULL;
				s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			break;
		default:
			return NULL;
		}
		put_utf8(f, cp);
	}
	if (s == end)
		return NULL;
	f->text[f->len] = '\0';
	return s + 1;
}

/* An object of strings and unsigned integers: the audit line's grammar. */
static int
read_object(const char *s, const char *end, struct field *fields)
{
	struct field *f;
	int n = 0;

	s = skip_ws(s, end);
	if (s == end || *s++ != '{')
		return -1;
	s = skip_ws(s, end);
	if (s < end && *s == '}')
		return skip_ws(s + 1, end) == end ? 0 : -1;
	for (;;) {
		if (n == FIELDS_MAX)
			return -1;
		f = &fields[n++];
		if ((s = read_string(s, end, f)) == NULL ||
		    f->len >= sizeof(f->key) || strlen(f->text) != f->len)
			return -1;
		memcpy(f->key, f->text, f->len + 1);
		s = skip_ws(s, end);
		if (s == end || *s++ != ':')
			return -1;
		s = skip_ws(s, end);
		f->is_number = s < end && *s >= '0' && *s <= '9';
		if (f->is_number) {
			if (*s == '0' && s + 1 < end && s[1] >= '0' &&
			    s[1] <= '9')
				return -1; /* no leading zeros */
			for (f->number = 0; s < end && *s >= '0' && *s <= '9';
			     s++) {
				if (f->number > (UINT64_MAX - (*s - '0')) / 10)
					return -1;
				f->number = f->number * 10 + (*s - '0');
			}
		} else if ((s = read_string(s, end, f)) == NULL)
			return -1;
		s = skip_ws(s, end);
		if (s == end)
			return -1;
		if (*s == '}')
			return skip_ws(s + 1, end) == end ? n : -1;
		if (*s++ != ',')
			return -1;
		s = skip_ws(s, end);
	}
}

/* --- what the line must say -------------------------------------------- */

/* A string as JSON carries it: what is no UTF-8 becomes U+FFFD. */
static void
expect_text(const char *s, char *out, size_t size)
{
	size_t len = strlen(s), i = 0, o = 0, n;

	while (i < len) {
		if ((n = utf8_len((const unsigned char *)s + i, len - i)) ==
		    0) {
			if (o + 3 >= size)
				break;
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		if (o + n >= size)
			break;
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
}

struct expect {
	struct field *fields;
	int n;
	int at;
};

static void
want_text(struct expect *x, const char *key, const char *value)
{
	char text[VALUE_MAX];
	struct field *f;

	if (value[0] == '\0')
		return; /* an empty field is left out */
	expect_text(value, text, sizeof(text));
	if (x->at == x->n)
		handler_fail("audit: no \"%s\"", key);
	f = &x->fields[x->at++];
	if (strcmp(f->key, key) != 0 || f->is_number ||
	    f->len != strlen(text) || memcmp(f->text, text, f->len) != 0)
		handler_fail("audit: \"%s\" where \"%s\": \"%s\" belongs",
		    f->key, key, text);
}

static void
want_number(struct expect *x, const char *key, uint64_t value)
{
	struct field *f;

	if (x->at == x->n)
		handler_fail("audit: no \"%s\"", key);
	f = &x->fields[x->at++];
	if (strcmp(f->key, key) != 0 || !f->is_number || f->number != value)
		handler_fail("audit: \"%s\" where \"%s\": %llu belongs", f->key,
		    key, (unsigned long long)value);
}

static void
check_time(const struct field *f)
{
	static const char form[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t i;

	if (strcmp(f->key, "time") != 0 || f->is_number ||
	    f->len != sizeof(form) - 1)
		handler_fail("audit: the line does not start with the time");
	for (i = 0; i < f->len; i++)
		if (form[i] == 'd' ? f->text[i] < '0' || f->text[i] > '9' :
				     f->text[i] != form[i])
			handler_fail("audit: time %s", f->text);
}

/* The one line written for record a, as the record says it. */
static void
check_line(const char *line, size_t len, const struct msg_audit *a)
{
	static struct field fields[FIELDS_MAX];
	struct expect x = { fields, 0, 2 };
	int ev = a->event, session_event;

	if (len < 2 || line[len - 1] != '\n' ||
	    memchr(line, '\n', len - 1) != NULL)
		handler_fail("audit: not one line (%zu bytes)", len);
	if ((x.n = read_object(line, line + len - 1, fields)) < 2)
		handler_fail("audit: not a JSON object: %.*s", (int)len, line);
	check_time(&fields[0]);
	if (strcmp(fields[1].key, "event") != 0 || fields[1].is_number ||
	    strcmp(fields[1].text, audit_names[ev]) != 0)
		handler_fail("audit: event %s for %d", fields[1].text, ev);
	session_event =
	    ev == AUDIT_EV_SESSION_START || ev == AUDIT_EV_SESSION_END;
	if (a->session != 0)
		want_number(&x, "session", a->session);
	want_text(&x, "user", a->user);
	want_text(&x, "address", a->addr);
	want_text(&x, "export", a->export);
	want_text(&x, "target", a->target);
	if (a->status != 0)
		want_number(&x, "status", (uint64_t)a->status);
	if (session_event)
		want_number(&x, "size", a->size);
	if (ev == AUDIT_EV_SESSION_END) {
		want_number(&x, "bytes_read", a->bytes_read);
		want_number(&x, "bytes_written", a->bytes_written);
		want_number(&x, "duration_ms", a->duration_ms);
	}
	want_text(&x, "reason", a->reason);
	if (x.at != x.n)
		handler_fail("audit: \"%s\" is not the record's",
		    fields[x.at].key);
}

/* What the audit file got since the last look: exactly one line, or none. */
static void
check_audit_file(const struct msg_audit *a)
{
	static char buf[65536];
	ssize_t n;

	if (audit_in == -1)
		return;
	n = read(audit_in, buf, sizeof(buf));
	if (n == -1 && errno != EAGAIN)
		handler_fail("audit pipe: %s", strerror(errno));
	if (a == NULL) {
		if (n > 0)
			handler_fail("audit: a line with no record");
		return;
	}
	if (n <= 0)
		handler_fail("audit: nothing written for a record");
	check_line(buf, n, a);
}

/* --- the run ------------------------------------------------------------ */

static void
parent_start(uint8_t opts)
{
	struct proc *p;
	int i, audit[2];

	memset(&env, 0, sizeof(env));
	handler_view(&conf, PROC_PARENT, 2);
	env.conf = &conf;
	env.generation = 1;
	if ((env.base = event_base_new()) == NULL)
		handler_fail("event_base_new");
	env.audit_fd = -1;
	if (!(opts & OPT_NO_AUDIT)) {
		if (pipe2(audit, O_CLOEXEC | O_NONBLOCK) == -1)
			handler_fail("pipe: %s", strerror(errno));
		audit_in = audit[0];
		env.audit_fd = audit[1];
	}
	/* As proc_spawn_all() and proc_spawn() leave them, forked. */
	for (i = 0; i < PROC_COUNT; i++) {
		p = &env.procs[i];
		p->id = i;
		p->name = msg_proc_name(i);
		p->env = &env;
		p->stderr_fd = -1;
		p->pid = FAKE_PID_BASE + i;
		chan_init(&p->chan, env.base, 100 + i, PROC_PARENT, p->id,
		    proc_dispatch, proc_closed, p);
		p->chan.full = proc_full;
	}
}

static struct chan *
parent_chan_from(enum msg_proc peer)
{
	return peer < PROC_COUNT ? &env.procs[peer].chan : NULL;
}

static void
parent_world(const struct rec *r)
{
	struct msg_audit a;
	char reason[128];
	size_t len;

	switch (r->type % WORLD_COUNT) {
	case WORLD_PING:
		proc_ping(&env);
		break;
	case WORLD_RELOAD:
		len = r->len < sizeof(reason) ? r->len : sizeof(reason) - 1;
		memcpy(reason, r->payload, len);
		reason[len] = '\0';
		audit_reload(&env, reason);
		msg_audit_init(&a, AUDIT_EV_CONFIG_RELOAD, "", "", "", reason);
		check_audit_file(&a);
		break;
	case WORLD_CHILD_GONE:
		handler_closed(&env.procs[r->flags % PROC_COUNT].chan);
		break;
	}
}

static void
parent_before(enum msg_proc peer, const struct msg *m, int fd_kind)
{
	(void)m;
	(void)fd_kind;
	cur_from = peer;
	cur_pings = env.procs[peer].pings;
}

static void
parent_after(const struct msg *m)
{
	const struct proc *p = &env.procs[cur_from];

	switch (m->type) {
	case MSG_AUDIT:
		check_audit_file(&m->u.audit);
		break;
	case MSG_PONG:
		if (m->u.ping.seq > cur_pings || p->pongs != m->u.ping.seq)
			handler_fail("PONG %llu from %s taken; %llu pings, "
				     "%llu answered",
			    (unsigned long long)m->u.ping.seq, p->name,
			    (unsigned long long)cur_pings,
			    (unsigned long long)p->pongs);
		break;
	default:
		handler_fail("%s from %s dispatched", msg_type_name(m->type),
		    p->name);
	}
}

static void
parent_sent(const struct chan *c, const struct msg *m)
{
	const struct proc *p = &env.procs[c->peer];

	if (m->type == MSG_PING) {
		if (m->u.ping.seq != p->pings)
			handler_fail("PING %llu to %s after %llu",
			    (unsigned long long)m->u.ping.seq, p->name,
			    (unsigned long long)p->pings);
	} else if (m->type != MSG_SHUTDOWN || !env.stopping)
		handler_fail("the parent sent %s to %s", msg_type_name(m->type),
		    p->name);
}

static void
parent_settle(void)
{
}

static void
parent_check(void)
{
	int i;

	for (i = 0; i < PROC_COUNT; i++)
		if (env.procs[i].pongs > env.procs[i].pings)
			handler_fail("%s: %llu pongs, %llu pings",
			    env.procs[i].name,
			    (unsigned long long)env.procs[i].pongs,
			    (unsigned long long)env.procs[i].pings);
	check_audit_file(NULL);
}

static void
parent_end(enum handler_end how)
{
	if (how == HANDLER_EXITED)
		handler_fail("the parent exited");
}

static void
parent_cleanup(void)
{
	if (env.stop_timer != NULL)
		event_free(env.stop_timer);
	event_base_free(env.base);
	if (env.audit_fd != -1)
		close(env.audit_fd);
	if (audit_in != -1)
		close(audit_in);
	audit_in = -1;
	memset(&env, 0, sizeof(env));
}

static const struct handler_target parent_target = {
	.self = PROC_PARENT,
	.fatal_ok = parent_fatal_ok,
	.start = parent_start,
	.chan_from = parent_chan_from,
	.world = parent_world,
	.before = parent_before,
	.after = parent_after,
	.sent = parent_sent,
	.settle = parent_settle,
	.check = parent_check,
	.end = parent_end,
	.cleanup = parent_cleanup,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return handler_run(&parent_target, data, size);
}
