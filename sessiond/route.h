/*
 * The request side of sessiond, between conn.c and the endpoints:
 * routing (route.c), logins and their back-off (login.c), refusals and
 * their audit records (refusal.c), and whether a Host is ours (host.c).
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>

#include "conn.h"
#include "passwd.h"

struct evbuffer;

/* route.c */
enum route_eject_result {
	ROUTE_EJECT_DONE,
	ROUTE_EJECT_NOTHING,   /* nothing attached */
	ROUTE_EJECT_INSERTING, /* an insert waits for its answer */
	ROUTE_EJECT_NOT_OWNER, /* refused and audited */
};
struct export_rt;
enum route_eject_result route_eject(struct conn *, struct export_rt *);
struct evbuffer *route_body_new(void);
void route_respond_json(struct conn *, int, struct evbuffer *,
    const struct http_header *, size_t);
void
route_audit(const struct conn *, int, const char *, const char *, const char *);

/* login.c */
void login_serve(struct conn *);
void login_logout(struct conn *);
int login_password_allowed(struct conn *);
int login_check_password(struct conn *, passwd_done_fn);
int login_password_checked(struct conn *, int, enum auth_how);
void login_record(struct conn *, const struct auth_dropped *);

/* refusal.c */
void refuse(struct conn *, int, int, const char *, const char *, const char *);
void refusal_audit(const struct conn *, int, int, const char *, const char *,
    const char *);
void refusal_audit_from(const char *, const char *, int, int, const char *,
    const char *, const char *);

/* host.c */
int host_served(const struct conn *);

#endif
