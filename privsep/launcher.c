/*
 * The launcher and the parent's side of it. vmediad's own filter forbids
 * fork and exec (vmediad_sandbox.c), so nbdkit cannot be started by the
 * sandboxed parent: when an export has a source, the parent forks this
 * process first, before its own sandbox and before anything else is open.
 * The launcher keeps root's uid with only the capabilities starting an
 * unprivileged nbdkit takes (launcher_sandbox.c), and does one thing:
 * asked SOURCE_START with an export, it prepares the source's private
 * folder and starts nbdkit (privsep/source.c), answers SOURCE_STARTED
 * with the parent's end of nbdkit's socketpair, and SOURCE_EXITED when
 * that nbdkit is reaped or could not start. The parent hands the socket
 * to sessiond (SOURCE_PEER), and starts nbdkit again with back-off. When
 * its channel closes the launcher stops every nbdkit, removes their
 * folders and exits.
 */
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "launcher.h"
#include "libevent_tv.h"
#include "log.h"
#include "source.h"
#include "vmediad.h"

#define LAUNCHER_FD 3	       /* its channel to the parent */
#define SOURCE_BACKOFF_MAX 60  /* seconds between starts, at most */
#define SOURCE_STEADY 60       /* ran this long: the back-off starts over */
#define LAUNCHER_RUNDIR "/run" /* where its folder of folders is made */

/* --- the launcher process ------------------------------------------------ */

static struct launched {
	char export[CONF_NAME_MAX];
	char dir[CONF_PATH_MAX];
	pid_t pid;  /* 0: a free slot */
	int err_fd; /* nbdkit's stderr, non-blocking; -1: none */
	char err[SOURCE_STDERR_MAX]; /* its tail */
	size_t errlen;
	size_t logged; /* of err, what went to the log */
} launched[CONF_EXPORT_MAX];
static char rundir[64];
/* An inserted source's HTTP credentials, for its next SOURCE_START. */
static struct msg_credentials pending;
/* Its CAs (SOURCE_CA), joined, or verification off; for the same. */
static struct {
	char export[CONF_NAME_MAX];
	int verify;
	int count;
	int n; /* came so far; -1: out of order */
	size_t len;
	char bundle[MSG_CAS_MAX * MSG_PEM_MAX];
} trust;

static void
launcher_describe(int status, char *buf, size_t size)
{
	const char *sig;

	if (WIFEXITED(status))
		snprintf(buf, size, "nbdkit exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status)) {
		sig = sigabbrev_np(WTERMSIG(status));
		snprintf(buf, size, "nbdkit killed by SIG%s", sig ? sig : "?");
	} else
		snprintf(buf, size, "nbdkit stopped (status %#x)", status);
}

static void __attribute__((noreturn)) launcher_exit(void);
/* Each whole line of nbdkit's not yet logged, printable bytes only. */
static void
launcher_log_lines(struct launched *l)
{
	char line[256];
	size_t i, n;

	while (l->logged < l->errlen) {
		for (i = l->logged; i < l->errlen && l->err[i] != '\n'; i++)
			;
		if (i == l->errlen)
			return;
		for (n = 0; l->logged < i; l->logged++)
			if (n + 1 < sizeof(line))
				line[n++] = l->err[l->logged] >= 0x20 &&
					l->err[l->logged] < 0x7f ?
				    l->err[l->logged] :
				    '?';
		line[n] = '\0';
		l->logged++; /* the newline */
		log_info("source %s: %s", l->export, line);
	}
}

/*
 * What nbdkit wrote on its stderr since the last call, without blocking:
 * the tail is kept (the oldest half goes when full), lines are logged.
 * Returns 0 at its end (EOF), else 1.
 */
static int
launcher_read_stderr(struct launched *l)
{
	char buf[512];
	size_t keep;
	ssize_t n;

	for (;;) {
		if ((n = read(l->err_fd, buf, sizeof(buf))) == -1)
			return errno == EAGAIN || errno == EINTR ? 1 : 0;
		if (n == 0)
			return 0;
		if (l->errlen + n > sizeof(l->err)) {
			keep = sizeof(l->err) / 2;
			if ((size_t)n > keep)
				n = keep; /* a single read of 512 never is */
			memmove(l->err, l->err + l->errlen - keep, keep);
			l->logged = l->logged > l->errlen - keep ?
			    l->logged - (l->errlen - keep) :
			    0;
			l->errlen = keep;
		}
		memcpy(l->err + l->errlen, buf, n);
		l->errlen += n;
		launcher_log_lines(l);
	}
}

static void
launcher_close_stderr(struct launched *l)
{
	if (l->err_fd != -1) {
		launcher_read_stderr(l);
		close(l->err_fd);
	}
	l->err_fd = -1;
}

/* The parent gone (stopping closed our channel): stop as on EOF. */
static void
launcher_tell(enum msg_type type, const char *export, pid_t pid,
    const char *reason, int fd)
{
	struct msg_source s;

	memset(&s, 0, sizeof(s));
	snprintf(s.export, sizeof(s.export), "%s", export);
	snprintf(s.reason, sizeof(s.reason), "%s", reason);
	s.pid = pid;
	if (msg_send(LAUNCHER_FD, type, &s, sizeof(s), fd) == -1) {
		if (errno != EPIPE && errno != ECONNRESET)
			fatal("send to parent");
		if (fd != -1)
			close(fd);
		launcher_exit();
	}
}

/* Every nbdkit asked to stop, a second's grace, then killed; folders go. */
static void
launcher_exit(void)
{
	struct timespec tenth = { 0, 100000000 };
	int i, n, left;

	for (i = 0; i < CONF_EXPORT_MAX; i++)
		if (launched[i].pid != 0)
			kill(launched[i].pid, SIGTERM);
	for (n = 0; n < 10; n++) {
		for (i = 0, left = 0; i < CONF_EXPORT_MAX; i++) {
			if (launched[i].pid == 0)
				continue;
			if (waitpid(launched[i].pid, NULL, WNOHANG) ==
			    launched[i].pid) {
				launched[i].pid = 0;
				source_cleanup(launched[i].dir);
			} else
				left++;
		}
		if (left == 0)
			break;
		nanosleep(&tenth, NULL);
	}
	for (i = 0; i < CONF_EXPORT_MAX; i++)
		if (launched[i].pid != 0) {
			kill(launched[i].pid, SIGKILL);
			waitpid(launched[i].pid, NULL, 0);
			source_cleanup(launched[i].dir);
		}
	rmdir(rundir);
	log_debug("exiting");
	exit(0);
}

/*
 * The credentials that came for export e, as a file root alone reads
 * ("user:password", what source_prepare copies for nbdkit), named in a
 * copy of e. Returns e itself if none came, NULL if the file could not
 * be written; the file is there if file[0] != 0.
 */
static const struct conf_export *
launcher_credentials(const struct conf_export *e, char *file, size_t size)
{
	static struct conf_export with;
	char line[CONF_NAME_MAX + MSG_SECRET_MAX + 2];
	int fd, n, ok;

	file[0] = '\0';
	if (pending.user[0] == '\0' || strcmp(pending.export, e->name) != 0) {
		explicit_bzero(&pending, sizeof(pending));
		return e;
	}
	n = snprintf(line, sizeof(line), "%s:%s\n", pending.user,
	    pending.password);
	explicit_bzero(&pending, sizeof(pending));
	if ((size_t)snprintf(file, size, "%s/%s.credentials", rundir,
		e->name) >= size)
		fatalx("credentials file for %s too long", e->name);
	unlink(file);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	ok = fd != -1 && n > 0 && write(fd, line, n) == n;
	explicit_bzero(line, sizeof(line));
	if (fd != -1)
		close(fd);
	if (!ok) {
		log_warn("source %s: %s", e->name, file);
		unlink(file);
		file[0] = '\0';
		return NULL;
	}
	with = *e;
	snprintf(with.source_credentials, sizeof(with.source_credentials), "%s",
	    file);
	return &with;
}

/* A SOURCE_CA: one more CA for the next start, or none to check. */
static void
launcher_trust_add(const struct msg_ca *ca)
{
	size_t len = strlen(ca->pem);

	if (ca->index == 0) {
		memset(&trust, 0, sizeof(trust));
		snprintf(trust.export, sizeof(trust.export), "%s", ca->export);
		trust.verify = ca->verify;
		trust.count = ca->count;
	}
	if (strcmp(trust.export, ca->export) != 0 || ca->index != trust.n ||
	    ca->verify != trust.verify || ca->count != trust.count ||
	    trust.len + len > sizeof(trust.bundle)) {
		trust.n = -1;
		return;
	}
	if (ca->verify) {
		memcpy(trust.bundle + trust.len, ca->pem, len);
		trust.len += len;
		trust.n++;
	}
}

/*
 * The trust that came for export e: the CAs as a file root alone reads,
 * named as source-ca in a copy of e (nbdkit's cainfo= trusts them
 * alone), or SOURCE_NO_VERIFY in *flags. Returns e itself if none came,
 * NULL if they cannot be used; the file is there if file[0] != 0.
 */
static const struct conf_export *
launcher_trust(const struct conf_export *e, char *file, size_t size,
    unsigned int *flags)
{
	static struct conf_export with;
	int fd, ok;

	file[0] = '\0';
	if (trust.export[0] == '\0' || strcmp(trust.export, e->name) != 0) {
		memset(&trust, 0, sizeof(trust));
		return e;
	}
	if (trust.n == -1 || (trust.verify && trust.n != trust.count)) {
		memset(&trust, 0, sizeof(trust));
		return NULL;
	}
	if (!trust.verify) {
		*flags |= SOURCE_NO_VERIFY;
		memset(&trust, 0, sizeof(trust));
		return e;
	}
	if ((size_t)snprintf(file, size, "%s/%s.cas", rundir, e->name) >= size)
		fatalx("CA file for %s too long", e->name);
	unlink(file);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	ok = fd != -1 &&
	    write(fd, trust.bundle, trust.len) == (ssize_t)trust.len;
	if (fd != -1)
		close(fd);
	memset(&trust, 0, sizeof(trust));
	if (!ok) {
		log_warn("source %s: its CA file", e->name);
		unlink(file);
		file[0] = '\0';
		return NULL;
	}
	with = *e;
	snprintf(with.source_ca, sizeof(with.source_ca), "%s", file);
	return &with;
}

static void
launcher_start(const struct conf_export *e, uid_t uid, gid_t gid)
{
	struct source_child c;
	char why[256], credentials[CONF_PATH_MAX], cas[CONF_PATH_MAX];
	unsigned int flags = SOURCE_STDERR;
	int i, slot = -1;

	for (i = 0; i < CONF_EXPORT_MAX; i++) {
		if (launched[i].pid != 0 &&
		    strcmp(launched[i].export, e->name) == 0)
			fatalx("SOURCE_START from parent for %s, whose nbdkit "
			       "runs",
			    e->name);
		if (launched[i].pid == 0 && slot == -1)
			slot = i;
	}
	if (slot == -1)
		fatalx("SOURCE_START from parent past %d sources",
		    CONF_EXPORT_MAX);
	snprintf(launched[slot].export, sizeof(launched[slot].export), "%s",
	    e->name);
	if ((size_t)snprintf(launched[slot].dir, sizeof(launched[slot].dir),
		"%s/%s", rundir, e->name) >= sizeof(launched[slot].dir))
		fatalx("source folder for %s too long", e->name);
	if ((e = launcher_credentials(e, credentials, sizeof(credentials))) ==
	    NULL) {
		memset(&trust, 0, sizeof(trust));
		launcher_tell(MSG_SOURCE_EXITED, launched[slot].export, 0,
		    "cannot write the credentials for nbdkit", -1);
		return;
	}
	if ((e = launcher_trust(e, cas, sizeof(cas), &flags)) == NULL) {
		if (credentials[0] != '\0')
			unlink(credentials);
		launcher_tell(MSG_SOURCE_EXITED, launched[slot].export, 0,
		    "cannot write the certificates for nbdkit", -1);
		return;
	}
	if (source_prepare(e, launched[slot].dir, uid, gid, why, sizeof(why)) ==
		-1 ||
	    source_spawn(e, launched[slot].dir, uid, gid, flags, &c, why,
		sizeof(why)) == -1) {
		if (credentials[0] != '\0')
			unlink(credentials);
		if (cas[0] != '\0')
			unlink(cas);
		source_cleanup(launched[slot].dir);
		log_warnx("source %s: %s", e->name, why);
		launcher_tell(MSG_SOURCE_EXITED, e->name, 0, why, -1);
		return;
	}
	/* Copied into nbdkit's folder: ours goes. */
	if (credentials[0] != '\0')
		unlink(credentials);
	if (cas[0] != '\0')
		unlink(cas);
	launched[slot].pid = c.pid;
	launched[slot].err_fd = c.err_fd;
	launched[slot].errlen = launched[slot].logged = 0;
	if (c.err_fd != -1 &&
	    fcntl(c.err_fd, F_SETFL, fcntl(c.err_fd, F_GETFL) | O_NONBLOCK) ==
		-1)
		fatal("launcher: nbdkit's stderr");
	log_debug("source %s: nbdkit (pid %d)", e->name, c.pid);
	launcher_tell(MSG_SOURCE_STARTED, e->name, c.pid, "", c.fd);
	close(c.fd);
}

/* SOURCE_STOP: that nbdkit is asked to go; its reaping answers. */
static void
launcher_stop_one(const struct msg_source *s)
{
	int i;

	for (i = 0; i < CONF_EXPORT_MAX; i++)
		if (launched[i].pid == s->pid &&
		    strcmp(launched[i].export, s->export) == 0) {
			kill(launched[i].pid, SIGTERM);
			return;
		}
	/* Gone already: its SOURCE_EXITED is on its way. */
}

static void
launcher_reap(void)
{
	char how[128];
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (i = 0; i < CONF_EXPORT_MAX; i++) {
			if (launched[i].pid != pid)
				continue;
			launched[i].pid = 0;
			source_cleanup(launched[i].dir);
			launcher_close_stderr(&launched[i]);
			/* Its words, unless a signal (ours, or a kill) ended
			 * it. */
			if (!WIFEXITED(status) ||
			    !source_reason(launched[i].err, launched[i].errlen,
				how, sizeof(how)))
				launcher_describe(status, how, sizeof(how));
			launcher_tell(MSG_SOURCE_EXITED, launched[i].export,
			    pid, how, -1);
		}
}

static void __attribute__((noreturn)) launcher_main(const struct conf_global *g)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2 + CONF_EXPORT_MAX];
	int slot[2 + CONF_EXPORT_MAX];
	struct msg m;
	const char *why;
	sigset_t set;
	int r, i, n;

	prctl(PR_SET_NAME, "launcher", 0, 0, 0);
	/* The parent gone: SIGTERM, read below, stops all as EOF would. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1)
		fatal("launcher: parent-death signal");
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (pfd[1].fd = signalfd(-1, &set, SFD_CLOEXEC)) == -1)
		fatal("launcher: signalfd");
	sandbox_enter(&launcher_policy, g);
	/* Once nothing can stop us before it is removed again: */
	snprintf(rundir, sizeof(rundir), "%s/vmediad-sources.XXXXXX",
	    LAUNCHER_RUNDIR);
	/* root's; the account may pass through to its own folder only. */
	if (mkdtemp(rundir) == NULL || chmod(rundir, 0711) == -1)
		fatal("launcher: %s", rundir);
	for (i = 0; i < CONF_EXPORT_MAX; i++)
		launched[i].err_fd = -1;
	pfd[0].fd = LAUNCHER_FD;
	pfd[0].events = pfd[1].events = POLLIN;
	for (;;) {
		/* nbdkit's stderr read as it comes: a full pipe would stop it.
		 */
		for (i = 0, n = 2; i < CONF_EXPORT_MAX; i++)
			if (launched[i].pid != 0 && launched[i].err_fd != -1) {
				pfd[n].fd = launched[i].err_fd;
				pfd[n].events = POLLIN;
				slot[n++] = i;
			}
		if (poll(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("launcher: poll");
		}
		for (i = 2; i < n; i++)
			if (pfd[i].revents != 0 &&
			    launcher_read_stderr(&launched[slot[i]]) == 0) {
				close(launched[slot[i]].err_fd);
				launched[slot[i]].err_fd = -1;
			}
		if (pfd[1].revents & POLLIN &&
		    read(pfd[1].fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM)
				launcher_exit();
			launcher_reap();
		}
		if (pfd[0].revents == 0)
			continue;
		r = msg_recv(LAUNCHER_FD, PROC_LAUNCHER, PROC_PARENT, &m, &why);
		if (r == 0)
			launcher_exit();
		if (r == -1 && why != NULL)
			fatalx("protocol error from parent: %s", why);
		if (r == 1 && m.type == MSG_SOURCE_START)
			launcher_start(&m.u.export, g->uid, g->gid);
		else if (r == 1 && m.type == MSG_SOURCE_STOP)
			launcher_stop_one(&m.u.source);
		else if (r == 1 && m.type == MSG_SOURCE_CA)
			launcher_trust_add(&m.u.ca);
		else if (r == 1 && m.type == MSG_SOURCE_CREDENTIALS) {
			pending = m.u.credentials;
			explicit_bzero(&m.u.credentials,
			    sizeof(m.u.credentials));
		}
	}
}

/* --- the parent's side ---------------------------------------------------- */

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
