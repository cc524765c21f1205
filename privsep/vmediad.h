/*
 * The parent: reads the config, spawns sessiond, blockd and hookd, pushes
 * them their config, watches that they live, and tears all down together.
 */
#ifndef VMEDIAD_H
#define VMEDIAD_H

#include <sys/types.h>
#include <sys/resource.h>

#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "msg.h"
#include "nbd_netlink.h"
#include "launcher.h"
#include "sandbox.h"

#define PROC_COUNT 3 /* the children, procs[] by enum msg_proc */

#define PROC_LINE_MAX 1024 /* a relayed stderr line, longer is cut */

struct vmediad;

enum source_state {
	SOURCE_STARTING = 1, /* asked of the launcher */
	SOURCE_RUNNING,	     /* nbdkit runs; sessiond has its socket */
	SOURCE_WAITING,	     /* gone; started again when the timer fires */
	SOURCE_GONE,	     /* its export is no longer configured */
};

/* An export's source as the parent follows it (launcher.c). */
struct source_run {
	char export[CONF_NAME_MAX];
	char uri[CONF_URI_MAX];	    /* an inserted source's; "": the config's */
	char started[CONF_URI_MAX]; /* the URI it was last started with */
	/* an inserted source's HTTP credentials, kept for its restarts */
	char cred_user[CONF_NAME_MAX];
	char cred_password[MSG_SECRET_MAX];
	/* and its trust (Redfish): verify 0 is sslverify=false; the CAs */
	int verify;
	int ncas;
	char (*cas)[MSG_PEM_MAX];
	enum source_state state;
	int ending; /* ejected, or a reload took it away: never again */
	pid_t pid;
	int backoff;  /* seconds, doubled up to a minute */
	time_t since; /* CLOCK_MONOTONIC of the last change */
	struct event *timer;
	struct vmediad *env;
};

struct proc {
	enum msg_proc id;
	const char *name;
	pid_t pid; /* 0 once reaped */
	struct chan chan;
	int stderr_fd; /* -1 in the foreground */
	struct event *stderr_ev;
	char line[PROC_LINE_MAX];
	size_t linelen;
	uint64_t pings; /* sent */
	uint64_t pongs; /* last answered */
	struct vmediad *env;
};

struct vmediad {
	struct event_base *base;
	const char *conffile;
	struct conf *conf;
	uint32_t generation;
	struct proc procs[PROC_COUNT];
	int foreground;
	int verbose;
	int stopping;
	int exit_code;
	struct event *stop_timer;
	struct event *ping_timer;
	const char *test_child; /* test builds: SIGUSR1 target */
	int http_fds[CONF_LISTEN_MAX];
	int nhttp;
	struct {
		char name[CONF_NAME_MAX];
		char path[CONF_SOCK_MAX];
	} bound[CONF_EXPORT_MAX]; /* export sockets */
	int nbound;
	struct nbd_nl nl;   /* fd -1 without NBD devices */
	int audit_fd;	    /* -1: no audit file */
	rlim_t nofile;	    /* RLIMIT_NOFILE of the children */
	pid_t launcher_pid; /* 0: none, or reaped */
	int launcher_fd;    /* -1: none */
	struct chan launcher;
	struct source_run sources[CONF_EXPORT_MAX];
	int nsources;
};

extern const struct sandbox_policy vmediad_policy;

void proc_spawn_all(struct vmediad *);
void proc_send_conf(struct vmediad *, struct proc *);
#ifdef VMEDIAD_TEST
void proc_flood(struct vmediad *, struct proc *);
#endif
void proc_reap(struct vmediad *);
void proc_stop_all(struct vmediad *, int);
void proc_ping(struct vmediad *);
int proc_alive(const struct vmediad *);
struct proc *proc_by_name(struct vmediad *, const char *);

void listen_bind_http(struct vmediad *);
void listen_send_http(struct vmediad *);
void listen_exports(struct vmediad *);
void listen_cleanup(struct vmediad *);

extern const char *const audit_names[AUDIT_EV_COUNT];
void audit_open(struct vmediad *);
void audit_record(struct vmediad *, const struct msg_audit *);
void audit_reload(struct vmediad *, const char *);
void audit_source(struct vmediad *, int, const char *, const char *);

int hashpw_main(void);

rlim_t nofile_needed(const struct conf *);
int nofile_raise(const struct conf *, rlim_t *, char *, size_t);
int nofile_fits(const struct conf *, rlim_t, char *, size_t);

void devices_open(struct vmediad *);
void devices_release(struct vmediad *);

#endif
