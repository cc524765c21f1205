/*
 * GET /api/exports: what each export is and who is using it, as JSON.
 */
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "auth.h"
#include "json.h"
#include "sessiond.h"

static const char *
state_name(enum export_state s)
{
	switch (s) {
	case EXPORT_CONNECTING:
		return "connecting";
	case EXPORT_ACTIVE:
		return "active";
	case EXPORT_CLOSING:
		return "closing";
	case EXPORT_RECONNECTING:
		return "reconnecting";
	case EXPORT_IDLE:
	default:
		return "idle";
	}
}

/*
 * The export's read-ahead window, and what the session holds of it now:
 * the memory it takes, how many reads it answered, the bytes it read
 * ahead and how many of those it dropped unread (overwritten, skipped,
 * or left behind by a reader that went elsewhere).
 */
static void
api_read_ahead(struct evbuffer *out, const struct export_rt *ex)
{
	const struct session *s = ex->session;
	const struct readahead *ra =
	    s != NULL && s->transmitting ? &s->relay.ra : NULL;

	evbuffer_add_printf(out,
	    ", \"read_ahead\": {\"window\": %" PRIu64 ", \"held\": %" PRIu64
	    ", \"hits\": %" PRIu64 ", \"bytes\": %" PRIu64
	    ", \"dropped\": %" PRIu64 "}}",
	    ex->conf.read_ahead, ra ? ra->held : 0, ra ? ra->hits : 0,
	    ra ? ra->asked : 0, ra ? ra->dropped : 0);
}

/*
 * The export's source: its URI, which holds no secret (conf_source_parse
 * refuses a user part and any query but nbd+unix's socket; the TLS files
 * never reach sessiond), whether it is the export's peer now, who
 * inserted it (an inserted one), and while it waits why it last ended.
 * An export that takes inserted sources shows its allow-source.
 */
static void
api_source(struct evbuffer *out, const struct export_rt *ex)
{
	const struct session *s = ex->session;
	const char *uri =
	    ex->conf.source[0] != '\0' ? ex->conf.source : ex->inserted;
	int waiting = s == NULL || s->framed;

	if (ex->conf.allow_source[0] != '\0') {
		evbuffer_add_printf(out, ", \"allow_source\": ");
		json_string(out, ex->conf.allow_source);
	}
	if (uri[0] == '\0') {
		evbuffer_add_printf(out, ", \"source\": null");
		return;
	}
	evbuffer_add_printf(out, ", \"source\": {\"uri\": ");
	json_string(out, uri);
	evbuffer_add_printf(out, ", \"state\": \"%s\"",
	    waiting		? "waiting" :
		s->transmitting ? "attached" :
				  "connecting");
	if (ex->conf.source[0] == '\0') {
		evbuffer_add_printf(out, ", \"inserted_by\": ");
		json_string(out, ex->inserted_by);
	}
	if (waiting && ex->source_reason[0] != '\0') {
		evbuffer_add_printf(out, ", \"reason\": ");
		json_string(out, ex->source_reason);
	}
	evbuffer_add_printf(out, "}");
}

/* The reconnect window: its length, and what is left of it now. */
static void
api_reconnect(struct evbuffer *out, const struct export_rt *ex)
{
	const struct session *s = ex->session;
	time_t now = time(NULL);

	evbuffer_add_printf(out,
	    ", \"reconnect\": %d, \"reconnect_left\": ", ex->conf.reconnect);
	if (s != NULL && s->reconnecting)
		evbuffer_add_printf(out, "%lld",
		    (long long)(s->deadline > now ? s->deadline - now : 0));
	else
		evbuffer_add_printf(out, "null");
}

static void
api_export(struct evbuffer *out, const struct export_rt *ex)
{
	const struct session *s = ex->session;
	char since[80];
	struct tm tm;

	evbuffer_add_printf(out, "{\"name\": ");
	json_string(out, ex->conf.name);
	evbuffer_add_printf(out, ", \"description\": ");
	json_string(out, ex->conf.description);
	evbuffer_add_printf(out,
	    ", \"kind\": \"%s\", \"read_only\": %s, "
	    "\"default\": %s, \"state\": \"%s\", \"user\": ",
	    ex->conf.device[0] ? "device" : "socket",
	    ex->conf.read_only ? "true" : "false",
	    ex->conf.is_default ? "true" : "false", state_name(ex->state));
	if (s != NULL && s->user[0] != '\0')
		json_string(out, s->user);
	else
		evbuffer_add_printf(out, "null");
	if (s == NULL) {
		evbuffer_add_printf(out,
		    ", \"size\": null, \"bytes_read\": "
		    "%" PRIu64 ", \"bytes_written\": %" PRIu64 ", \"since\": "
		    "null",
		    ex->last_read, ex->last_written);
		api_reconnect(out, ex);
		api_source(out, ex);
		api_read_ahead(out, ex);
		return;
	}
	/* The time zone was read before the sandbox (child_start). */
	gmtime_r(&s->since, &tm);
	snprintf(since, sizeof(since), "%04d-%02d-%02dT%02d:%02d:%02dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
	evbuffer_add_printf(out,
	    ", \"size\": %" PRIu64 ", \"bytes_read\": "
	    "%" PRIu64 ", \"bytes_written\": %" PRIu64 ", \"since\": \"%s\"",
	    s->transmitting ? s->relay.size : 0, s->relay.bytes_read,
	    s->relay.bytes_written, since);
	api_reconnect(out, ex);
	api_source(out, ex);
	api_read_ahead(out, ex);
}

/* Only what the caller may use: the others do not exist for them. */
void
api_exports(struct evbuffer *out, const struct identity *id)
{
	struct export_rt *table;
	int i, n, first = 1;

	table = sd_exports(&n);
	evbuffer_add_printf(out, "[");
	for (i = 0; i < n; i++) {
		if (!table[i].present || !auth_may_use(id, &table[i].conf))
			continue;
		evbuffer_add_printf(out, first ? "" : ", ");
		api_export(out, &table[i]);
		first = 0;
	}
	evbuffer_add_printf(out, "]\n");
}
