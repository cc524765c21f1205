/*
 * The audit trail: one JSON object per line, written by the parent to
 * the configured file (append-only, one write per record) and to the
 * log. Children report events; none of them can read or rewrite it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "vmediad.h"

/*
 * The longest line a record makes: no byte of it takes more than 6 in
 * JSON (\u00XX; a number's 20 digits come from 8 bytes), and the names
 * and punctuation take less than 512. Any record the table lets through
 * is written whole.
 */
#define AUDIT_LINE_MAX (6 * sizeof(struct msg_audit) + 512)

/* The names of the events, as vmediad.8 lists them. */
const char *const audit_names[AUDIT_EV_COUNT] = {
	[AUDIT_EV_LOGIN] = "login",
	[AUDIT_EV_LOGIN_FAILED] = "login_failed",
	[AUDIT_EV_LOGOUT] = "logout",
	[AUDIT_EV_SESSION_START] = "session_start",
	[AUDIT_EV_SESSION_END] = "session_end",
	[AUDIT_EV_EJECT] = "eject",
	[AUDIT_EV_PROTOCOL_VIOLATION] = "protocol_violation",
	[AUDIT_EV_HOOK_FAILED] = "hook_failed",
	[AUDIT_EV_ACCESS_DENIED] = "access_denied",
	[AUDIT_EV_NOT_RECORDED] = "not_recorded",
	[AUDIT_EV_SOURCE_INSERTED] = "source_inserted",
	[AUDIT_EV_INSERT_REFUSED] = "insert_refused",
	[AUDIT_EV_INSERT_FAILED] = "insert_failed",
	[AUDIT_EV_CONFIG_RELOAD] = "config_reload",
	[AUDIT_EV_SOURCE_STARTED] = "source_started",
	[AUDIT_EV_SOURCE_EXITED] = "source_exited",
	[AUDIT_EV_RECONNECTING] = "reconnecting",
	[AUDIT_EV_RESUMED] = "resumed",
	[AUDIT_EV_RESUME_REFUSED] = "resume_refused",
	[AUDIT_EV_RECONNECT_ENDED] = "reconnect_ended",
	[AUDIT_EV_SETTING_CHANGED] = "setting_changed",
};

/* Before the sandbox: the file, created 0600 if need be, append-only. */
void
audit_open(struct vmediad *env)
{
	const char *path = env->conf->global.audit;

	env->audit_fd = -1;
	if (path[0] == '\0')
		return;
	env->audit_fd = open(path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (env->audit_fd == -1)
		fatal("audit %s", path);
}

static void
field_string(struct evbuffer *b, const char *name, const char *value)
{
	if (value[0] == '\0')
		return;
	evbuffer_add_printf(b, ", \"%s\": ", name);
	json_string(b, value);
}

static void
field_number(struct evbuffer *b, const char *name, uint64_t value)
{
	evbuffer_add_printf(b, ", \"%s\": %" PRIu64, name, value);
}

/* Which fields an event carries: the numbers only where they mean something. */
static void
audit_fields(struct evbuffer *b, const struct msg_audit *a)
{
	if (a->session != 0)
		field_number(b, "session", a->session);
	field_string(b, "user", a->user);
	field_string(b, "address", a->addr);
	field_string(b, "export", a->export);
	field_string(b, "target", a->target);
	if (a->status != 0)
		field_number(b, "status", (uint64_t)a->status);
	if (a->event == AUDIT_EV_SESSION_START ||
	    a->event == AUDIT_EV_SESSION_END)
		field_number(b, "size", a->size);
	if (a->event == AUDIT_EV_SESSION_END) {
		field_number(b, "bytes_read", a->bytes_read);
		field_number(b, "bytes_written", a->bytes_written);
		field_number(b, "duration_ms", a->duration_ms);
	}
	field_string(b, "reason", a->reason);
}

void
audit_record(struct vmediad *env, const struct msg_audit *a)
{
	struct evbuffer *b;
	struct timespec ts;
	struct tm tm;
	char line[AUDIT_LINE_MAX];
	size_t len;

	if ((b = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	evbuffer_add_printf(b,
	    "{\"time\": \"%04d-%02d-%02dT%02d:%02d:%02d."
	    "%03ldZ\", \"event\": \"%s\"",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts.tv_nsec / 1000000, audit_names[a->event]);
	audit_fields(b, a);
	evbuffer_add(b, "}\n", 2);
	len = evbuffer_get_length(b);
	if (len > sizeof(line))
		fatalx("audit record too long");
	evbuffer_remove(b, line, len);
	evbuffer_free(b);
	if (env->audit_fd != -1 &&
	    write(env->audit_fd, line, len) != (ssize_t)len)
		log_warn("audit %s", env->conf->global.audit);
	line[len - 1] = '\0';
	log_info("audit: %s", line);
}

void
audit_reload(struct vmediad *env, const char *reason)
{
	struct msg_audit a;

	msg_audit_init(&a, AUDIT_EV_CONFIG_RELOAD, "", "", "", reason);
	audit_record(env, &a);
}

/* A source's nbdkit started, or gone (launcher.c). */
void
audit_source(struct vmediad *env, int event, const char *export,
    const char *reason)
{
	struct msg_audit a;

	msg_audit_init(&a, event, "", "", export, reason);
	audit_record(env, &a);
}
