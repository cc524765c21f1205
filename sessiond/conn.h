/*
 * An HTTP connection between accept and its end or its upgrade, shared
 * by conn.c (lifecycle) and route.c (what each request gets).
 */
#ifndef CONN_H
#define CONN_H

#include <sys/queue.h>

#include "auth.h"
#include "http.h"

struct bufferevent;
struct event;

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct bufferevent *bev;
	struct http_parser parser;
	struct http_request *req;
	struct event *timer; /* idle, then request deadline */
	char addr[64];
	char host[48]; /* addr without the port */
	int listen_index;
	int tls;
	int local;	/* loopback or Unix listener */
	int closing;	/* close once output is out */
	int waiting;	/* a password check runs */
	int in_request; /* bytes of a request came */
	struct identity id;
	struct cred cred;	     /* while a check runs */
	struct export_rt *inserting; /* waits for its insert's answer */
};

void conn_close_after_write(struct conn *);
void conn_error(struct conn *, int, const char *);
void conn_error_headers(struct conn *, int, const char *,
    const struct http_header *, size_t);
void conn_free(struct conn *);
void conn_request_done(struct conn *, int);
void conn_resume(struct conn *);
void conn_hold(struct conn *, int);
struct bufferevent *conn_take_bev(struct conn *);

void route_request(struct conn *);

#endif
