/*
 * What each request gets. Order matters: a Host not ours and a foreign
 * Origin are refused first, then the caller is identified (cookie,
 * Bearer, token as subprotocol, or Basic through the password worker),
 * then the endpoint decides what that caller may see or do.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "conn.h"
#include "json.h"
#include "log.h"
#include "ratelimit.h"
#include "redfish.h"
#include "route.h"
#include "sessiond.h"
#include "stream.h"

static void route_identified(struct conn *);

/* What happened, not refused: logins, logouts, ejects. */
void
route_audit(const struct conn *c, int event, const char *user,
    const char *export, const char *reason)
{
	struct msg_audit a;

	msg_audit_init(&a, event, user, c->addr, export, reason);
	sd_audit(&a);
}

void
route_respond_json(struct conn *c, int status, struct evbuffer *body,
    const struct http_header *hdrs, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int keep = http_keep_alive(c->req);
	size_t i;

	http_response_begin(out, status, "application/json",
	    evbuffer_get_length(body), keep);
	http_response_header(out, "Cache-Control", "no-store");
	for (i = 0; i < n; i++)
		http_response_header(out, hdrs[i].name, hdrs[i].value);
	http_response_end(out);
	if (c->req->method != HTTP_METHOD_HEAD)
		evbuffer_add_buffer(out, body);
	evbuffer_free(body);
	conn_request_done(c, keep);
}

struct evbuffer *
route_body_new(void)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatal("evbuffer_new");
	return b;
}

/* --- origin ------------------------------------------------------------ */

/* The Origin a page served by us would send: our scheme and Host. */
static int
origin_is_host(const struct conn *c, const char *origin)
{
	const char *scheme = c->tls ? "https://" : "http://";
	size_t n = strlen(scheme);

	return c->req->has_host && strncmp(origin, scheme, n) == 0 &&
	    strcasecmp(origin + n, c->req->host) == 0;
}

static int
origin_allowed(const struct conn *c)
{
	const char *origin = c->req->origin;
	const char *list = sd_child->conf->global.origins;
	char o[CONF_LIST_MAX];

	if (origin_is_host(c, origin))
		return 1;
	while (conf_list_next(&list, " \t", o, sizeof(o)))
		if (strcasecmp(o, origin) == 0)
			return 1;
	return 0;
}

/* --- identity ---------------------------------------------------------- */

/* webui-vue offers the session token as a subprotocol: find it. */
static void
identify_protocol(struct conn *c)
{
	const char *cursor = c->req->ws_protocol, *tok;
	char token[CRED_TOKEN_LEN + 1];
	size_t len;

	while (ws_protocol_next(&cursor, &tok, &len)) {
		if (!cred_token_valid(tok, len))
			continue;
		memcpy(token, tok, len);
		token[len] = '\0';
		if (auth_login_find(token, &c->id, AUTH_HOW_PROTOCOL) == 0)
			return;
	}
}

static void
basic_done(void *arg, int ok)
{
	struct conn *c = arg;

	if (!login_password_checked(c, ok, AUTH_HOW_BASIC))
		return;
	conn_resume(c);
	route_identified(c); /* may free c */
}

/*
 * Who is asking. Returns 1 when known (or known to be nobody), 0 when a
 * password check runs or an error was sent.
 */
static int
identify(struct conn *c)
{
	char token[CRED_TOKEN_LEN + 1];
	int found;

	memset(&c->id, 0, sizeof(c->id));
	if (!auth_required()) {
		c->id.how = AUTH_HOW_ANONYMOUS;
		return 1;
	}
	/* Redfish's session header: a login token under another name. */
	if (c->req->x_auth_token[0] != '\0') {
		found = cred_token_valid(c->req->x_auth_token,
			    strlen(c->req->x_auth_token)) ?
		    auth_login_find(c->req->x_auth_token, &c->id,
			AUTH_HOW_X_AUTH_TOKEN) :
		    -1;
		if (found == 0)
			return 1;
		refuse(c, 401, AUDIT_EV_LOGIN_FAILED, "", "",
		    found == -2 ? "expired token" : "unknown token");
		return 0;
	}
	if (cred_cookie_token(c->req->cookie, token) &&
	    auth_login_find(token, &c->id, AUTH_HOW_COOKIE) == 0)
		return 1;
	cred_authorization(c->req->authorization, &c->cred);
	switch (c->cred.kind) {
	case CRED_BEARER:
		if ((found = auth_login_find(c->cred.token, &c->id,
			 AUTH_HOW_BEARER)) == 0)
			return 1;
		refuse(c, 401, AUDIT_EV_LOGIN_FAILED, "", "",
		    found == -2 ? "expired token" : "unknown token");
		return 0;
	case CRED_BASIC:
		if (login_password_allowed(c))
			login_check_password(c, basic_done);
		return 0;
	case CRED_BAD:
		refuse(c, 401, AUDIT_EV_LOGIN_FAILED, "", "",
		    "malformed Authorization header");
		return 0;
	case CRED_NONE:
	default:
		break;
	}
	/* The token may come as a subprotocol; if not, endpoints decide. */
	if (c->req->upgrade[0] != '\0')
		identify_protocol(c);
	return 1;
}

/* --- endpoints --------------------------------------------------------- */

static int
need_identity(struct conn *c)
{
	if (c->id.how != AUTH_HOW_NONE)
		return 1;
	refuse(c, 401, AUDIT_EV_ACCESS_DENIED, "", "",
	    "authentication required");
	return 0;
}

static void
serve_session(struct conn *c)
{
	struct evbuffer *b = route_body_new();

	evbuffer_add_printf(b, "{\"auth\": \"%s\", \"user\": ",
	    auth_required() ? "users" : "none");
	if (c->id.how != AUTH_HOW_NONE && c->id.user[0] != '\0')
		json_string(b, c->id.user);
	else
		evbuffer_add_printf(b, "null");
	evbuffer_add_printf(b, ", \"admin\": %s}\n",
	    c->id.admin || c->id.how == AUTH_HOW_ANONYMOUS ? "true" : "false");
	route_respond_json(c, 200, b, NULL, 0);
}

static void
serve_exports(struct conn *c)
{
	struct evbuffer *b = route_body_new();

	if (!need_identity(c)) {
		evbuffer_free(b);
		return;
	}
	api_exports(b, &c->id);
	route_respond_json(c, 200, b, NULL, 0);
}

static void
forbidden(struct conn *c, const char *export, const char *why)
{
	refuse(c, 403, AUDIT_EV_ACCESS_DENIED, c->id.user, export, why);
}

/*
 * To a caller who may not use it, an export does not exist (404); the
 * audit says which it was.
 */
static struct export_rt *
usable_export(struct conn *c, struct export_rt *ex)
{
	if (ex != NULL && auth_may_use(&c->id, &ex->conf))
		return ex;
	refusal_audit(c, 404, AUDIT_EV_ACCESS_DENIED, c->id.user,
	    ex != NULL ? ex->conf.name : "",
	    ex != NULL ? "not allowed to use this export" : "no such export");
	conn_error(c, 404, "no such export");
	return NULL;
}

/*
 * Ends what is attached to ex at c's request, for its owner or an admin:
 * a browser's or peer's session, or an inserted source (insert.c), which
 * then ends for good. The JSON API and Redfish's EjectMedia answer the
 * outcome each in its own form. A refusal is audited here.
 */
enum route_eject_result
route_eject(struct conn *c, struct export_rt *ex)
{
	const char *owner;
	char why[128];

	if (ex->inserted[0] != '\0') {
		if (ex->insert_pending)
			return ROUTE_EJECT_INSERTING;
		owner = ex->inserted_by;
	} else if (ex->session == NULL || ex->session->ending)
		return ROUTE_EJECT_NOTHING;
	else
		owner = ex->session->user;
	if (c->id.how != AUTH_HOW_ANONYMOUS && !c->id.admin &&
	    strcmp(owner, c->id.user) != 0) {
		refusal_audit(c, 403, AUDIT_EV_ACCESS_DENIED, c->id.user,
		    ex->conf.name, "only its owner or an admin may eject");
		return ROUTE_EJECT_NOT_OWNER;
	}
	snprintf(why, sizeof(why), "ejected by %s",
	    c->id.user[0] ? c->id.user : c->addr);
	if (ex->inserted[0] != '\0')
		log_info("export %s: %s (inserted %s)", ex->conf.name, why,
		    ex->inserted);
	else
		log_info("export %s: %s", ex->conf.name, why);
	route_audit(c, AUDIT_EV_EJECT, c->id.user, ex->conf.name, owner);
	if (ex->inserted[0] != '\0')
		insert_end(ex, why);
	if (ex->session != NULL && !ex->session->ending)
		session_end(ex->session, "ejected", WS_CLOSE_NORMAL);
	return ROUTE_EJECT_DONE;
}

/* POST /api/exports/NAME/eject: the owner or an admin. */
static void
serve_eject(struct conn *c, const char *name)
{
	struct export_rt *ex;
	struct evbuffer *b;

	if ((ex = usable_export(c, sd_export(name))) == NULL)
		return;
	switch (route_eject(c, ex)) {
	case ROUTE_EJECT_NOTHING:
		conn_error(c, 409, "nothing attached to this export");
		return;
	case ROUTE_EJECT_INSERTING:
		conn_error(c, 409,
		    "an insert is under way; wait for its answer");
		return;
	case ROUTE_EJECT_NOT_OWNER:
		conn_error(c, 403, "only its owner or an admin may eject");
		return;
	case ROUTE_EJECT_DONE:
	default:
		break;
	}
	b = route_body_new();
	evbuffer_add_printf(b, "{\"ejected\": true}\n");
	route_respond_json(c, 200, b, NULL, 0);
}

/*
 * Who a resume is armed for: the login's token; without one (Basic, or
 * no logins at all), the user from this address.
 */
static void
resume_who(const struct conn *c, char *who, size_t size)
{
	if (c->id.token[0] != '\0')
		snprintf(who, size, "token %s", c->id.token);
	else
		snprintf(who, size, "user %s address %s", c->id.user, c->host);
}

/* The session's user, an admin, or anyone when there are no logins. */
static int
may_resume(const struct conn *c, const struct session *s)
{
	return c->id.how == AUTH_HOW_ANONYMOUS || c->id.admin ||
	    strcmp(s->user, c->id.user) == 0;
}

/*
 * POST /api/exports/NAME/resume-secret: the attached session's user
 * (anyone who may use the export without logins), once per attach.
 */
static void
serve_resume_secret(struct conn *c, const char *name)
{
	char hex[2 * SESSION_SECRET_LEN + 1];
	struct export_rt *ex;
	struct session *s;
	struct evbuffer *b;

	if ((ex = usable_export(c, sd_export(name))) == NULL)
		return;
	s = ex->session;
	if (s != NULL && c->id.how != AUTH_HOW_ANONYMOUS &&
	    strcmp(s->user, c->id.user) != 0) {
		forbidden(c, name, "only the session's user gets its secret");
		return;
	}
	if (s == NULL || session_resume_secret(s, hex) == -1) {
		conn_error(c, 409,
		    "no resume secret: nothing attached with a reconnect "
		    "window, or it was given already");
		return;
	}
	b = route_body_new();
	evbuffer_add_printf(b, "{\"secret\": \"%s\", \"reconnect\": %d}\n", hex,
	    ex->conf.reconnect);
	explicit_bzero(hex, sizeof(hex));
	route_respond_json(c, 200, b, NULL, 0);
}

/* A refused resume: audited, counted by the login rate limiter. */
static void
resume_refused(struct conn *c, int status, const char *name, const char *why,
    int count)
{
	char addr[RATELIMIT_ADDR_MAX];

	if (count) {
		ratelimit_addr(c->host, addr);
		ratelimit_failed(addr, c->id.user, time(NULL));
	}
	refusal_audit(c, status, AUDIT_EV_RESUME_REFUSED, c->id.user, name,
	    why);
	conn_error(c, status, why);
}

/*
 * POST /api/exports/NAME/resume {"secret": "<64 hex>"}: the session's
 * user or an admin, while it is reconnecting; arms a resume for this
 * login for SESSION_ARM_SEC.
 */
static void
serve_resume(struct conn *c, const char *name)
{
	unsigned char secret[SESSION_SECRET_LEN];
	char addr[RATELIMIT_ADDR_MAX], who[SESSION_ARMED_MAX], value[16];
	struct http_header h = { "Retry-After", value };
	struct export_rt *ex = sd_export(name);
	struct session *s = ex != NULL ? ex->session : NULL;
	struct evbuffer *b;
	int wait, ok;

	ok = resume_body_parse(c->req->body, c->req->body_len, secret) == 0;
	explicit_bzero(c->req->body, sizeof(c->req->body));
	ratelimit_addr(c->host, addr);
	if ((wait = ratelimit_wait(addr, c->id.user, time(NULL))) != 0) {
		explicit_bzero(secret, sizeof(secret));
		snprintf(value, sizeof(value), "%d", wait);
		refusal_audit(c, 429, AUDIT_EV_RESUME_REFUSED, c->id.user, name,
		    "too many failed resumes; backing off");
		conn_error_headers(c, 429,
		    "too many failed resumes; try again later", &h, 1);
		return;
	}
	if (ex == NULL || !auth_may_use(&c->id, &ex->conf) ||
	    (s != NULL && !may_resume(c, s))) {
		explicit_bzero(secret, sizeof(secret));
		resume_refused(c, 404, ex != NULL ? name : "",
		    ex != NULL ? "not allowed to resume this export" :
				 "no such export",
		    1);
		return;
	}
	if (s == NULL || !session_resumable(s)) {
		explicit_bzero(secret, sizeof(secret));
		resume_refused(c, 409, name, "nothing is reconnecting", 0);
		return;
	}
	if (!ok) {
		resume_refused(c, 400, name,
		    "expected {\"secret\": \"<64 hex>\"}", 1);
		return;
	}
	resume_who(c, who, sizeof(who));
	ok = session_resume_arm(s, secret, who) == 0;
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(who, sizeof(who));
	if (!ok) {
		resume_refused(c, 403, name, "wrong resume secret", 1);
		return;
	}
	log_info("export %s: resume armed by %s", name,
	    c->id.user[0] ? c->id.user : c->addr);
	b = route_body_new();
	evbuffer_add_printf(b, "{\"resume\": true, \"expires\": %d}\n",
	    SESSION_ARM_SEC);
	route_respond_json(c, 200, b, NULL, 0);
}

/* POST /api/exports/NAME/ACTION: eject, insert, resume-secret, resume. */
static void
serve_export_call(struct conn *c)
{
	char name[CONF_NAME_MAX];
	const char *p = c->req->path + strlen("/api/exports/");
	const char *slash = strchr(p, '/');

	if (slash == NULL || (size_t)(slash - p) >= sizeof(name) ||
	    (strcmp(slash, "/eject") != 0 && strcmp(slash, "/insert") != 0 &&
		strcmp(slash, "/resume") != 0 &&
		strcmp(slash, "/resume-secret") != 0)) {
		explicit_bzero(c->req->body, sizeof(c->req->body));
		conn_error(c, 404, "not found");
		return;
	}
	memcpy(name, p, slash - p);
	name[slash - p] = '\0';
	if (!need_identity(c)) {
		explicit_bzero(c->req->body, sizeof(c->req->body));
		return;
	}
	if (strcmp(slash, "/eject") == 0)
		serve_eject(c, name);
	else if (strcmp(slash, "/insert") == 0)
		insert_serve(c, name);
	else if (strcmp(slash, "/resume-secret") == 0)
		serve_resume_secret(c, name);
	else
		serve_resume(c, name);
}

/* "binary" if offered, the login token if that is how we know them. */
static void
choose_protocol(const struct conn *c, char *chosen, size_t size)
{
	const char *cursor = c->req->ws_protocol, *tok;
	size_t len;

	chosen[0] = '\0';
	if (c->id.how == AUTH_HOW_PROTOCOL)
		snprintf(chosen, size, "%s", c->id.token);
	else if (ws_protocol_offered(c->req->ws_protocol, "binary"))
		snprintf(chosen, size, "binary");
	else if (ws_protocol_next(&cursor, &tok, &len) && len < size) {
		memcpy(chosen, tok, len);
		chosen[len] = '\0';
	}
}

static void
serve_upgrade(struct conn *c)
{
	struct export_rt *ex = NULL;
	struct ws_handshake hs;
	char protocol[HTTP_WS_PROTOCOL_MAX], who[SESSION_ARMED_MAX];

	if (!need_identity(c))
		return;
	if (strcmp(c->req->path, "/") == 0)
		ex = sd_default_export(&c->id);
	else if (strncmp(c->req->path, "/nbd/", 5) == 0)
		ex = sd_export(c->req->path + 5);
	if (usable_export(c, ex) == NULL)
		return;
	if (ws_handshake_check(c->req, &hs) != 0) {
		refuse(c, hs.status ? hs.status : 400,
		    AUDIT_EV_PROTOCOL_VIOLATION, c->id.user, ex->conf.name,
		    hs.error ? hs.error : "bad WebSocket handshake");
		return;
	}
	resume_who(c, who, sizeof(who));
	if (ex->state == EXPORT_RECONNECTING && ex->session != NULL &&
	    may_resume(c, ex->session) &&
	    session_resume_armed(ex->session, who)) {
		explicit_bzero(who, sizeof(who));
		choose_protocol(c, protocol, sizeof(protocol));
		ws_handshake_response(bufferevent_get_output(c->bev), hs.accept,
		    protocol[0] ? protocol : NULL);
		session_resume(ex->session,
		    stream_from_bufferevent(conn_take_bev(c)), c->addr);
		return;
	}
	explicit_bzero(who, sizeof(who));
	if (ex->state != EXPORT_IDLE) {
		refuse(c, 409, AUDIT_EV_ACCESS_DENIED, c->id.user,
		    ex->conf.name, "export busy: an image is attached");
		return;
	}
	/* An inserted source holds the export until ejected, even waiting. */
	if (ex->inserted[0] != '\0') {
		refuse(c, 409, AUDIT_EV_ACCESS_DENIED, c->id.user,
		    ex->conf.name, "export busy: a source is inserted");
		return;
	}
	if (c->id.how != AUTH_HOW_ANONYMOUS &&
	    session_count_user(c->id.user) >=
		sd_child->conf->global.sessions_per_user) {
		refuse(c, 429, AUDIT_EV_ACCESS_DENIED, c->id.user,
		    ex->conf.name, "too many sessions for this user");
		return;
	}
	choose_protocol(c, protocol, sizeof(protocol));
	ws_handshake_response(bufferevent_get_output(c->bev), hs.accept,
	    protocol[0] ? protocol : NULL);
	session_start(ex, stream_from_bufferevent(conn_take_bev(c)), c->addr,
	    c->id.user, 1);
}

static void
serve_static(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const struct web_file *f;
	int keep = http_keep_alive(c->req);

	if ((f = web_find(c->req->path)) == NULL) {
		conn_error(c, 404, "not found");
		return;
	}
	http_response_begin(out, 200, f->type, f->len, keep);
	http_response_header(out, "Cache-Control", "no-cache");
	http_response_header(out, "X-Content-Type-Options", "nosniff");
	http_response_header(out, "Content-Security-Policy",
	    "default-src 'self'; connect-src 'self' ws: wss:; "
	    "frame-ancestors 'none'");
	http_response_end(out);
	if (c->req->method != HTTP_METHOD_HEAD)
		evbuffer_add_reference(out, f->data, f->len, NULL, NULL);
	conn_request_done(c, keep);
}

static int
method_is(struct conn *c, enum http_method m)
{
	enum http_method got = c->req->method;

	if (got == m || (m == HTTP_METHOD_GET && got == HTTP_METHOD_HEAD))
		return 1;
	conn_error(c, 405, m == HTTP_METHOD_POST ? "use POST" : "use GET");
	return 0;
}

/* Once we know who asks (or that nobody does). */
static void
route_identified(struct conn *c)
{
	const char *path = c->req->path;
	int cookie = c->id.how == AUTH_HOW_COOKIE;
	int upgrade = c->req->upgrade[0] != '\0' ||
	    (c->req->connection & HTTP_CONN_UPGRADE);

	/* A cookie rides along by itself: such requests must say whence. */
	if (cookie &&
	    (upgrade ||
		(c->req->method != HTTP_METHOD_GET &&
		    c->req->method != HTTP_METHOD_HEAD)) &&
	    !c->req->has_origin) {
		forbidden(c, "", "a cookie request needs an Origin header");
		return;
	}
	if (upgrade)
		serve_upgrade(c);
	else if (redfish_path(path))
		redfish_serve(c);
	else if (strcmp(path, "/api/session") == 0) {
		if (method_is(c, HTTP_METHOD_GET))
			serve_session(c);
	} else if (strcmp(path, "/api/logout") == 0) {
		if (method_is(c, HTTP_METHOD_POST))
			login_logout(c);
	} else if (strcmp(path, "/api/exports") == 0) {
		if (method_is(c, HTTP_METHOD_GET))
			serve_exports(c);
	} else if (strncmp(path, "/api/exports/", 13) == 0) {
		if (method_is(c, HTTP_METHOD_POST))
			serve_export_call(c);
	} else if (strncmp(path, "/api/", 5) == 0)
		conn_error(c, 404, "not found");
	else if (method_is(c, HTTP_METHOD_GET))
		serve_static(c);
}

void
route_request(struct conn *c)
{
	if (!host_served(c)) {
		refuse(c, 421, AUDIT_EV_ACCESS_DENIED, "", "",
		    "Host is not a name of this server");
		return;
	}
	if (c->req->has_origin && !origin_allowed(c)) {
		forbidden(c, "", "origin not allowed");
		return;
	}
	if (strcmp(c->req->path, "/api/login") == 0) {
		if (method_is(c, HTTP_METHOD_POST))
			login_serve(c);
		return;
	}
	/* Redfish's login: credentials in the body, none in the headers. */
	if (c->req->method == HTTP_METHOD_POST && redfish_is_login(c)) {
		redfish_login(c);
		return;
	}
	if (identify(c))
		route_identified(c);
}
