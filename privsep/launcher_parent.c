/*
 * The parent's side of the launcher (launcher.c): it forks the launcher
 * before its own sandbox, asks it to start each source's nbdkit, hands
 * the socket SOURCE_STARTED brings to sessiond (SOURCE_PEER), and starts
 * nbdkit again with back-off when it exits; inserts, ejects and reloads
 * of sources go through here.
 */
#include <sys/socket.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "launcher.h"
#include "libevent_tv.h"
#include "log.h"
#include "vmediad.h"

#define SOURCE_BACKOFF_MAX 60 /* seconds between starts, at most */
#define SOURCE_STEADY 60      /* ran this long: the back-off starts over */

/*
 * Forked at start when an export has a source or an allow-source: the
 * parent's filter forbids fork, so a reload cannot bring one later.
 */
int
launcher_wanted(const struct conf *conf)
{
	int i;

	for (i = 0; i < conf->nexports; i++)
		if (conf->exports[i].source[0] != '\0' ||
		    conf->exports[i].allow_source[0] != '\0')
			return 1;
	return 0;
}

/* Before the event loop, the sandbox and every other fd: the launcher. */
void
launcher_fork(struct vmediad *env)
{
	int sp[2];

	env->launcher_pid = 0;
	env->launcher_fd = -1;
	if (!launcher_wanted(env->conf))
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	switch (env->launcher_pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		/* syslog's socket closed by its owner, not under it. */
		closelog();
		if (dup2(sp[1], LAUNCHER_FD) == -1)
			_exit(127);
		closefrom(LAUNCHER_FD + 1);
		log_init("launcher", env->foreground, env->verbose);
		launcher_main(&env->conf->global);
	}
	close(sp[1]);
	env->launcher_fd = sp[0];
	log_debug("started launcher (pid %d)", env->launcher_pid);
}

static struct source_run *
run_of(struct vmediad *env, const char *export)
{
	int i;

	for (i = 0; i < env->nsources; i++)
		if (strcmp(env->sources[i].export, export) == 0)
			return &env->sources[i];
	return NULL;
}

static void source_retry(evutil_socket_t, short, void *);

/* A fresh run for export: its old one, a gone one, a new one; or NULL. */
static struct source_run *
run_new(struct vmediad *env, const char *export)
{
	struct source_run *run = run_of(env, export);
	struct event *timer;
	int i;

	for (i = 0; run == NULL && i < env->nsources; i++)
		if (env->sources[i].state == SOURCE_GONE)
			run = &env->sources[i];
	if (run == NULL) {
		if (env->nsources == CONF_EXPORT_MAX)
			return NULL;
		run = &env->sources[env->nsources++];
		run->timer = NULL;
	}
	if ((timer = run->timer) == NULL &&
	    (timer = evtimer_new(env->base, source_retry, run)) == NULL)
		fatalx("cannot make the timer of source %s", export);
	free(run->cas);
	memset(run, 0, sizeof(*run));
	run->timer = timer;
	run->state = SOURCE_GONE;
	run->env = env;
	snprintf(run->export, sizeof(run->export), "%s", export);
	return run;
}

/* No more starts: its credentials and CAs are forgotten. */
static void
run_gone(struct source_run *run)
{
	run->state = SOURCE_GONE;
	explicit_bzero(run->cred_user, sizeof(run->cred_user));
	explicit_bzero(run->cred_password, sizeof(run->cred_password));
	free(run->cas);
	run->cas = NULL;
	run->ncas = 0;
}

/* The export of a config source, as it is now configured. */
static const struct conf_export *
export_of(struct vmediad *env, const char *name)
{
	int i;

	for (i = 0; i < env->conf->nexports; i++)
		if (strcmp(env->conf->exports[i].name, name) == 0 &&
		    env->conf->exports[i].source[0] != '\0')
			return &env->conf->exports[i];
	return NULL;
}

/* The export an inserted uri goes to, if the config lets it; or why not. */
static const struct conf_export *
insert_allowed(struct vmediad *env, const char *name, const char *uri,
    char *why, size_t size)
{
	const struct conf_export *e = conf_find_export(env->conf, name);
	struct conf_source src;
	char perr[160];

	if (e == NULL)
		snprintf(why, size, "export no longer configured");
	else if (e->allow_source[0] == '\0')
		snprintf(why, size, "export no longer takes inserted sources");
	else if (conf_source_parse(uri, &src, perr, sizeof(perr)) != NULL ||
	    !conf_source_allowed(e->allow_source, &src))
		snprintf(why, size, "source not in the export's allow-source");
	else
		return e;
	return NULL;
}

/* sessiond hears why a source is gone: it answers an insert with it. */
static void
source_tell_sessiond(struct vmediad *env, const char *export, pid_t pid,
    const char *reason)
{
	struct msg_source s;

	if (env->procs[PROC_SESSIOND].pid == 0)
		return;
	memset(&s, 0, sizeof(s));
	snprintf(s.export, sizeof(s.export), "%s", export);
	snprintf(s.reason, sizeof(s.reason), "%s", reason);
	s.pid = pid;
	chan_send(&env->procs[PROC_SESSIOND].chan, MSG_SOURCE_ENDED, &s,
	    sizeof(s), -1);
}

static time_t
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Before its SOURCE_START: the launcher writes them for nbdkit. */
static void
source_send_credentials(struct source_run *run)
{
	struct msg_credentials cr;

	memset(&cr, 0, sizeof(cr));
	snprintf(cr.export, sizeof(cr.export), "%s", run->export);
	memcpy(cr.user, run->cred_user, sizeof(cr.user));
	memcpy(cr.password, run->cred_password, sizeof(cr.password));
	chan_send(&run->env->launcher, MSG_SOURCE_CREDENTIALS, &cr, sizeof(cr),
	    -1);
	explicit_bzero(&cr, sizeof(cr));
}

/*
 * Before its SOURCE_START, after the credentials: the CAs it trusts
 * alone, or that it checks none.
 */
static void
source_send_cas(struct source_run *run)
{
	static struct msg_ca ca;
	int i;

	memset(&ca, 0, sizeof(ca));
	snprintf(ca.export, sizeof(ca.export), "%s", run->export);
	ca.verify = run->verify;
	if (!run->verify) {
		chan_send(&run->env->launcher, MSG_SOURCE_CA, &ca, sizeof(ca),
		    -1);
		return;
	}
	ca.count = run->ncas;
	for (i = 0; i < run->ncas; i++) {
		ca.index = i;
		memcpy(ca.pem, run->cas[i], sizeof(ca.pem));
		chan_send(&run->env->launcher, MSG_SOURCE_CA, &ca, sizeof(ca),
		    -1);
	}
}

/*
 * The export as it is now configured; gone from the config, no more. An
 * inserted source goes as its export is, with its URI and no file but
 * the export's source-ca (conf_check.c allows no other).
 */
static void
source_request(struct source_run *run)
{
	static struct conf_export copy; /* 3 KiB, off the stack */
	struct vmediad *env = run->env;
	const struct conf_export *e;
	char why[128];

	if (env->stopping || env->launcher_pid == 0)
		return;
	if (run->uri[0] != '\0') {
		if ((e = insert_allowed(env, run->export, run->uri, why,
			 sizeof(why))) == NULL) {
			log_info("source %s: %s", run->export, why);
			run_gone(run);
			source_tell_sessiond(env, run->export, 0, why);
			return;
		}
		copy = *e;
		snprintf(copy.source, sizeof(copy.source), "%s", run->uri);
		memset(copy.source_certificate, 0,
		    sizeof(copy.source_certificate));
		memset(copy.source_key, 0, sizeof(copy.source_key));
		memset(copy.source_psk, 0, sizeof(copy.source_psk));
		memset(copy.source_credentials, 0,
		    sizeof(copy.source_credentials));
		e = &copy;
		if (run->cred_user[0] != '\0')
			source_send_credentials(run);
		if (!run->verify || run->ncas > 0)
			source_send_cas(run);
	} else if ((e = export_of(env, run->export)) == NULL) {
		log_info("source %s: no longer configured", run->export);
		run->state = SOURCE_GONE;
		return;
	}
	snprintf(run->started, sizeof(run->started), "%s", e->source);
	run->state = SOURCE_STARTING;
	chan_send(&env->launcher, MSG_SOURCE_START, e, sizeof(*e), -1);
}

static void
source_retry(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	source_request(arg);
}

/* Never started again: ejected, or a reload took it away or changed it. */
static void
source_end(struct source_run *run)
{
	struct msg_source s;

	switch (run->state) {
	case SOURCE_WAITING:
		evtimer_del(run->timer);
		run_gone(run);
		break;
	case SOURCE_STARTING:
		run->ending = 1; /* stopped once it says it runs */
		break;
	case SOURCE_RUNNING:
		run->ending = 1;
		memset(&s, 0, sizeof(s));
		snprintf(s.export, sizeof(s.export), "%s", run->export);
		s.pid = run->pid;
		chan_send(&run->env->launcher, MSG_SOURCE_STOP, &s, sizeof(s),
		    -1);
		break;
	case SOURCE_GONE:
	default:
		break;
	}
}

static void
source_exited(struct source_run *run, const struct msg_source *s)
{
	struct libevent_tv tv = { 0, 0 };
	char why[128];

	run->pid = 0;
	if (run->ending) {
		run->ending = 0;
		run_gone(run);
		log_info("source %s: %s; stopped", run->export, s->reason);
		snprintf(why, sizeof(why), "%.100s; stopped", s->reason);
		audit_source(run->env, AUDIT_EV_SOURCE_EXITED, run->export,
		    why);
		/* A reload changed it: the export's source as it is now. */
		if (export_of(run->env, run->export) != NULL) {
			run->uri[0] = '\0';
			run->backoff = 0;
			source_request(run);
		}
		return;
	}
	if (run->state == SOURCE_RUNNING && now() - run->since >= SOURCE_STEADY)
		run->backoff = 0;
	run->backoff = run->backoff == 0	  ? 1 :
	    run->backoff * 2 > SOURCE_BACKOFF_MAX ? SOURCE_BACKOFF_MAX :
						    run->backoff * 2;
	run->state = SOURCE_WAITING;
	run->since = now();
	log_warnx("source %s: %s; starting it again in %d s", run->export,
	    s->reason, run->backoff);
	snprintf(why, sizeof(why), "%.100s; again in %d s", s->reason,
	    run->backoff);
	audit_source(run->env, AUDIT_EV_SOURCE_EXITED, run->export, why);
	tv.tv_sec = run->backoff;
	if (evtimer_add(run->timer, LIBEVENT_TV(&tv)) == -1)
		fatalx("cannot arm the timer of source %s", run->export);
	source_tell_sessiond(run->env, run->export, s->pid, s->reason);
}

static void
launcher_dispatch(struct chan *c, struct msg *m, void *arg)
{
	struct vmediad *env = arg;
	struct source_run *run;
	char why[64];

	(void)c;
	if ((run = run_of(env, m->u.source.export)) == NULL ||
	    (run->state != SOURCE_STARTING &&
		(m->type != MSG_SOURCE_EXITED || run->state != SOURCE_RUNNING ||
		    m->u.source.pid != run->pid)))
		fatalx("%s from launcher for %s, which was not expected",
		    msg_type_name(m->type), m->u.source.export);
	switch (m->type) {
	case MSG_SOURCE_STARTED:
		/* sessiond serves it as the export's peer; the fd is its. */
		run->pid = m->u.source.pid;
		run->state = SOURCE_RUNNING;
		run->since = now();
		log_info("source %s: nbdkit (pid %d) started", run->export,
		    run->pid);
		snprintf(why, sizeof(why), "nbdkit pid %d", run->pid);
		audit_source(env, AUDIT_EV_SOURCE_STARTED, run->export, why);
		if (run->ending) {
			/* Ejected or taken away while it started. */
			close(m->fd);
			run->ending = 0;
			source_end(run);
		} else if (env->procs[PROC_SESSIOND].pid != 0)
			chan_send(&env->procs[PROC_SESSIOND].chan,
			    MSG_SOURCE_PEER, &m->u.source, sizeof(m->u.source),
			    m->fd);
		else
			close(m->fd);
		break;
	case MSG_SOURCE_EXITED:
		source_exited(run, &m->u.source);
		break;
	default:
		fatalx("%s from launcher allowed but not handled",
		    msg_type_name(m->type));
	}
}

static void
launcher_closed(struct chan *c, void *arg)
{
	struct vmediad *env = arg;

	(void)c;
	if (!env->stopping) {
		log_warnx("launcher closed its channel; stopping");
		proc_stop_all(env, 1);
	}
}

/* In the loop: the channel, and a start asked for every source. */
void
launcher_attach(struct vmediad *env)
{
	struct source_run *run;
	int i;

	env->nsources = 0;
	if (env->launcher_fd == -1)
		return;
	chan_init(&env->launcher, env->base, env->launcher_fd, PROC_PARENT,
	    PROC_LAUNCHER, launcher_dispatch, launcher_closed, env);
	for (i = 0; i < env->conf->nexports; i++) {
		if (env->conf->exports[i].source[0] == '\0')
			continue;
		if ((run = run_new(env, env->conf->exports[i].name)) == NULL)
			fatalx("more sources than exports");
		source_request(run);
	}
}

/*
 * sessiond's INSERT_CAs, in order, for the SOURCE_INSERT right behind
 * them (one insert at a time comes down the channel).
 */
static struct {
	char export[CONF_NAME_MAX];
	int n; /* -1: out of order */
	char pem[MSG_CAS_MAX][MSG_PEM_MAX];
} incoming;

void
launcher_insert_ca(struct vmediad *env, const struct msg_ca *ca)
{
	(void)env;
	if (ca->index == 0) {
		memset(&incoming, 0, sizeof(incoming));
		snprintf(incoming.export, sizeof(incoming.export), "%s",
		    ca->export);
	}
	if (strcmp(incoming.export, ca->export) != 0 ||
	    ca->index != incoming.n) {
		incoming.n = -1;
		return;
	}
	memcpy(incoming.pem[incoming.n++], ca->pem, MSG_PEM_MAX);
}

/*
 * POST /api/exports/NAME/insert, checked by sessiond: checked again
 * here against our config, then started as a source of that export.
 * Whatever stops it, sessiond hears (SOURCE_ENDED) and answers.
 */
void
launcher_insert(struct vmediad *env, const struct msg_insert *in)
{
	struct source_run *run;
	char why[128];

	if (env->launcher_pid == 0 || env->stopping) {
		snprintf(why, sizeof(why),
		    "no launcher: allow-source came with a reload; restart "
		    "vmediad");
		source_tell_sessiond(env, in->export, 0, why);
		return;
	}
	if (insert_allowed(env, in->export, in->uri, why, sizeof(why)) ==
	    NULL) {
		source_tell_sessiond(env, in->export, 0, why);
		return;
	}
	if ((run = run_of(env, in->export)) != NULL &&
	    run->state != SOURCE_GONE) {
		source_tell_sessiond(env, in->export, 0,
		    "the last source is still stopping; try again");
		return;
	}
	if (in->ncas > 0 &&
	    (incoming.n != in->ncas ||
		strcmp(incoming.export, in->export) != 0)) {
		memset(&incoming, 0, sizeof(incoming));
		source_tell_sessiond(env, in->export, 0,
		    "its certificates did not all come");
		return;
	}
	if ((run = run_new(env, in->export)) == NULL) {
		source_tell_sessiond(env, in->export, 0, "too many sources");
		return;
	}
	run->verify = in->verify;
	if (in->ncas > 0) {
		if ((run->cas = calloc(in->ncas, MSG_PEM_MAX)) == NULL)
			fatal("the certificates of source %s", in->export);
		memcpy(run->cas, incoming.pem, (size_t)in->ncas * MSG_PEM_MAX);
		run->ncas = in->ncas;
	}
	memset(&incoming, 0, sizeof(incoming));
	snprintf(run->uri, sizeof(run->uri), "%s", in->uri);
	memcpy(run->cred_user, in->cred_user, sizeof(run->cred_user));
	memcpy(run->cred_password, in->cred_password,
	    sizeof(run->cred_password));
	log_info("source %s: %s inserted by %s", run->export, run->uri,
	    in->user[0] != '\0' ? in->user : "an anonymous user");
	source_request(run);
}

/* An inserted source ejected (or its insert failed): never again. */
void
launcher_eject(struct vmediad *env, const struct msg_source *s)
{
	struct source_run *run = run_of(env, s->export);

	if (run == NULL || run->uri[0] == '\0' || run->state == SOURCE_GONE)
		return;
	log_info("source %s: %s", run->export, s->reason);
	source_end(run);
}

/*
 * A reload: a source it took away or whose URI it changed stops (the
 * changed one starts again as configured); an inserted one the export
 * no longer allows stops; a new source starts. Without a launcher (the
 * config at start had no source) nothing can start: say so.
 */
void
launcher_reload(struct vmediad *env)
{
	const struct conf_export *e;
	struct source_run *run;
	char why[128];
	int i;

	if (env->launcher_pid == 0) {
		if (launcher_wanted(env->conf))
			log_warnx("reload: a source or allow-source needs the "
				  "launcher, which vmediad forks at start only "
				  "when an export has one: restart vmediad");
		return;
	}
	for (i = 0; i < env->nsources; i++) {
		run = &env->sources[i];
		if (run->state == SOURCE_GONE)
			continue;
		if (run->uri[0] != '\0') {
			if (insert_allowed(env, run->export, run->uri, why,
				sizeof(why)) == NULL) {
				log_info("source %s: %s; stopping it",
				    run->export, why);
				source_end(run);
			}
			continue;
		}
		e = export_of(env, run->export);
		if (e == NULL || strcmp(e->source, run->started) != 0) {
			log_info("source %s: %s; stopping it", run->export,
			    e == NULL ? "taken away by the reload" :
					"changed by the reload");
			source_end(run);
		}
	}
	for (i = 0; i < env->conf->nexports; i++) {
		e = &env->conf->exports[i];
		if (e->source[0] == '\0' ||
		    ((run = run_of(env, e->name)) != NULL &&
			run->state != SOURCE_GONE))
			continue;
		if ((run = run_new(env, e->name)) == NULL)
			fatalx("more sources than exports");
		log_info("source %s: added by the reload", e->name);
		source_request(run);
	}
}
/* Stopping: the channel closes, and the launcher stops every nbdkit. */
void
launcher_stop(struct vmediad *env)
{
	int i;

	for (i = 0; i < env->nsources; i++)
		evtimer_del(env->sources[i].timer);
	if (env->launcher_fd != -1)
		chan_close(&env->launcher);
	env->launcher_fd = -1;
}

/* SIGCHLD: 1 if pid was the launcher; its death unplanned stops all. */
int
launcher_reaped(struct vmediad *env, pid_t pid, int status)
{
	if (pid == 0 || pid != env->launcher_pid)
		return 0;
	env->launcher_pid = 0;
	if (!env->stopping) {
		log_warnx("launcher (pid %d) %s; stopping", pid,
		    WIFSIGNALED(status) ? "was killed" : "exited");
		proc_stop_all(env, 1);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("launcher (pid %d) failed while stopping", pid);
		env->exit_code = 1;
	}
	return 1;
}
