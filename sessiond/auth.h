/*
 * Who a request comes from and what they may do: login sessions behind
 * the cookie, users and groups from the config, each export's allow.
 */
#ifndef AUTH_H
#define AUTH_H

#include <time.h>

#include "conf.h"
#include "cred.h"

enum auth_how {
	AUTH_HOW_NONE,	    /* not (yet) known */
	AUTH_HOW_ANONYMOUS, /* auth = none */
	AUTH_HOW_COOKIE,
	AUTH_HOW_BEARER,
	AUTH_HOW_PROTOCOL, /* token offered as a WebSocket subprotocol */
	AUTH_HOW_BASIC,
	AUTH_HOW_X_AUTH_TOKEN, /* Redfish's session header */
	AUTH_HOW_CERTIFICATE,  /* an NBD client's X.509 certificate */
};

#define AUTH_RID_LEN 16 /* hex: a login's public name (Redfish Session Id) */

struct identity {
	enum auth_how how;
	char user[CONF_NAME_MAX];
	int admin;
	char token[CRED_TOKEN_LEN + 1]; /* login sessions */
	char rid[AUTH_RID_LEN + 1];	/* and their public name */
};

/* A login that had to end so that a new one fits. */
struct auth_dropped {
	char user[CONF_NAME_MAX]; /* empty: none ended */
	int table_full;		  /* else: its user had too many */
};

int auth_required(void);
const struct conf_user *auth_user(const char *);
void auth_identity_user(struct identity *, enum auth_how, const char *);
int auth_may_use(const struct identity *, const struct conf_export *);
int auth_login_create(const char *, char[CRED_TOKEN_LEN + 1],
    struct auth_dropped *);
int auth_login_find(const char *, struct identity *, enum auth_how);
void auth_login_idle_set(int);
int auth_login_idle(void);
void auth_login_remove(const char *);
int auth_login_next(int *, char[AUTH_RID_LEN + 1], char[CONF_NAME_MAX]);
int auth_login_rid_user(const char *, char[CONF_NAME_MAX]);
void auth_login_remove_rid(const char *);

#endif
