/*
 * Logging in and out: the JSON login, the password checks that Basic
 * shares, the back-off around them, and logout, which ends the login
 * whichever way its token came (cookie or Bearer).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "json.h"
#include "log.h"
#include "ratelimit.h"
#include "route.h"
#include "sessiond.h"

/*
 * Passwords travel only inside TLS or over a loopback or Unix listener:
 * anywhere else they would cross the network in the clear. Returns 1 if
 * this connection may carry one; else the credentials are wiped and the
 * client told to use TLS.
 */
int
login_password_allowed(struct conn *c)
{
	char user[CONF_NAME_MAX];

	if (c->tls || c->local)
		return 1;
	snprintf(user, sizeof(user), "%s", c->cred.user);
	cred_clear(&c->cred);
	refuse(c, 403, AUDIT_EV_LOGIN_FAILED, user, "",
	    "passwords are "
	    "accepted only over TLS (https://) or a loopback listener");
	return 0;
}

static int
rate_limited(struct conn *c, const char *user)
{
	char addr[RATELIMIT_ADDR_MAX], value[16];
	struct http_header h = { "Retry-After", value };
	int wait;

	ratelimit_addr(c->host, addr);
	if ((wait = ratelimit_wait(addr, user, time(NULL))) == 0)
		return 0;
	snprintf(value, sizeof(value), "%d", wait);
	refusal_audit(c, 429, AUDIT_EV_LOGIN_FAILED, user, "",
	    "too many failed logins; backing off");
	conn_error_headers(c, 429, "too many failed logins; try again later",
	    &h, 1);
	return 1;
}

/* Starts a password check; done(c, ok) follows from the event loop. */
int
login_check_password(struct conn *c, passwd_done_fn done)
{
	const struct conf_user *u = auth_user(c->cred.user);

	if (rate_limited(c, c->cred.user)) {
		cred_clear(&c->cred);
		return -1;
	}
	if (passwd_check(u ? u->password : passwd_dummy_hash(),
		c->cred.password, done, c) == -1) {
		refuse(c, 503, AUDIT_EV_LOGIN_FAILED, c->cred.user, "",
		    "busy checking passwords; try again");
		cred_clear(&c->cred);
		return -1;
	}
	explicit_bzero(c->cred.password, sizeof(c->cred.password));
	c->waiting = 1;
	bufferevent_disable(c->bev, EV_READ);
	return 0;
}

/*
 * The worker's verdict: 1 with the identity set, or 0 after a 401. The
 * credentials are wiped either way.
 */
int
login_password_checked(struct conn *c, int ok, enum auth_how how)
{
	char addr[RATELIMIT_ADDR_MAX];
	const char *user = c->cred.user;

	c->waiting = 0;
	ratelimit_addr(c->host, addr);
	if (!ok || auth_user(user) == NULL) {
		ratelimit_failed(addr, user, time(NULL));
		log_info("%s: login as %s failed: wrong user or password",
		    c->addr, user);
		refuse(c, 401, AUDIT_EV_LOGIN_FAILED, user, "",
		    "wrong user or password");
		cred_clear(&c->cred);
		return 0;
	}
	ratelimit_passed(addr, user);
	auth_identity_user(&c->id, how, user);
	cred_clear(&c->cred);
	return 1;
}

/* The login record says what the new login cost, if anything. */
void
login_record(struct conn *c, const struct auth_dropped *dropped)
{
	char why[128] = "";

	if (dropped->user[0] != '\0' && !dropped->table_full)
		snprintf(why, sizeof(why),
		    "ended the user's oldest login (logins-per-user %d)",
		    sd_child->conf->global.logins_per_user);
	log_info("%s: %s logged in%s%s", c->addr, c->id.user,
	    why[0] ? "; " : "", why);
	route_audit(c, AUDIT_EV_LOGIN, c->id.user, "", why);
	if (dropped->table_full) {
		log_info("login table full: %s's oldest login ends",
		    dropped->user);
		snprintf(why, sizeof(why),
		    "login table full: ended for a login of %s", c->id.user);
		route_audit(c, AUDIT_EV_LOGOUT, dropped->user, "", why);
	}
}

static void
login_done(void *arg, int ok)
{
	struct conn *c = arg;
	char token[CRED_TOKEN_LEN + 1], cookie[256];
	struct http_header h = { "Set-Cookie", cookie };
	struct auth_dropped dropped;
	struct evbuffer *b;

	if (!login_password_checked(c, ok, AUTH_HOW_COOKIE))
		return;
	if (auth_login_create(c->id.user, token, &dropped) == -1) {
		conn_error(c, 503, "cannot create a login");
		return;
	}
	login_record(c, &dropped);
	snprintf(cookie, sizeof(cookie),
	    "%s=%s; Path=/; HttpOnly; SameSite=Strict%s; Max-Age=%d",
	    CRED_COOKIE_NAME, token, c->tls ? "; Secure" : "",
	    sd_child->conf->global.login_lifetime);
	explicit_bzero(token, sizeof(token));
	b = route_body_new();
	evbuffer_add_printf(b, "{\"user\": ");
	json_string(b, c->id.user);
	evbuffer_add_printf(b, ", \"admin\": %s}\n",
	    c->id.admin ? "true" : "false");
	conn_resume(c);
	route_respond_json(c, 200, b, &h, 1);
	explicit_bzero(cookie, sizeof(cookie));
}

/* POST /api/login with {"username": ..., "password": ...}. */
void
login_serve(struct conn *c)
{
	if (!auth_required()) {
		explicit_bzero(c->req->body, sizeof(c->req->body));
		conn_error(c, 400, "this server does not use logins");
		return;
	}
	if (cred_login_body(c->req->body, c->req->body_len, &c->cred) == -1) {
		explicit_bzero(c->req->body, sizeof(c->req->body));
		refuse(c, 400, AUDIT_EV_LOGIN_FAILED, "", "",
		    "expected {\"username\": ..., \"password\": ...}");
		return;
	}
	explicit_bzero(c->req->body, sizeof(c->req->body));
	if (login_password_allowed(c))
		login_check_password(c, login_done);
}

/* POST /api/logout: the token that identified the request stops working. */
void
login_logout(struct conn *c)
{
	char cookie[128];
	struct http_header h = { "Set-Cookie", cookie };
	struct evbuffer *b = route_body_new();

	if (c->id.token[0] != '\0') {
		auth_login_remove(c->id.token);
		log_info("%s: %s logged out", c->addr, c->id.user);
		route_audit(c, AUDIT_EV_LOGOUT, c->id.user, "",
		    c->id.how == AUTH_HOW_COOKIE ? "" : "token revoked");
	}
	snprintf(cookie, sizeof(cookie),
	    "%s=; Path=/; HttpOnly; SameSite=Strict%s; Max-Age=0",
	    CRED_COOKIE_NAME, c->tls ? "; Secure" : "");
	evbuffer_add_printf(b, "{\"logged_out\": true}\n");
	route_respond_json(c, 200, b, &h, 1);
}
