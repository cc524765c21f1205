/*
 * The parent's view of its children: fork+exec with the channel on fd 3,
 * their stderr relayed to syslog, config pushes, liveness pings, and
 * reaping with a log line that says which child died and how.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "libevent_tv.h"
#include "log.h"
#include "vmediad.h"

#define PROC_PINGS_MISSED 3 /* unanswered pings before we give up */

/* Children live in ../libexec/vmediad/ relative to our own binary. */
static void
proc_path(const char *name, char *path, size_t size)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		fatalx("odd path to self: %s", self);
	*slash = '\0';
	if ((size_t)snprintf(path, size, "%s/../libexec/vmediad/%s", self,
		name) >= size)
		fatalx("path to %s too long", name);
}

/*
 * In the new child: its channels onto fds 3, 4 and 5 (sources first moved
 * out of the way, as they may sit on those very numbers), stdio, exec.
 */
static void
proc_exec(struct vmediad *env, struct proc *p, const int *chans, int nchans,
    int errfd)
{
	char path[PATH_MAX], *argv[3];
	char *envp[4] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int devnull, i, high[3];
#ifdef VMEDIAD_TEST
	static char log[64], rule[128];
	const char *v;
	int nenv = 1;

	/* Test builds hand the sandbox's test switches on (sandbox.c). */
	if ((v = getenv("VMEDIAD_SECCOMP_LOG")) != NULL) {
		snprintf(log, sizeof(log), "VMEDIAD_SECCOMP_LOG=%s", v);
		envp[nenv++] = log;
	}
	if ((v = getenv("VMEDIAD_TEST_SANDBOX_RULE")) != NULL) {
		snprintf(rule, sizeof(rule), "VMEDIAD_TEST_SANDBOX_RULE=%s", v);
		envp[nenv++] = rule;
	}
#endif

	proc_path(p->name, path, sizeof(path));
	i = 0;
	argv[i++] = (char *)p->name;
	if (env->verbose)
		argv[i++] = "-v";
	argv[i] = NULL;
	for (i = 0; i < nchans; i++)
		if ((high[i] = fcntl(chans[i], F_DUPFD_CLOEXEC, 16)) == -1)
			_exit(127);
	if ((devnull = open("/dev/null", O_RDWR)) == -1)
		_exit(127);
	if (dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(devnull, STDOUT_FILENO) == -1 ||
	    (errfd != -1 && dup2(errfd, STDERR_FILENO) == -1))
		_exit(127);
	for (i = 0; i < nchans; i++)
		if (dup2(high[i], MSG_CHANNEL_FD + i) == -1)
			_exit(127);
	closefrom(MSG_CHANNEL_FD + nchans);
	signal(SIGPIPE, SIG_DFL);
	execve(path, argv, envp);
	dprintf(STDERR_FILENO, "vmediad: exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* The table let through only these, checked, from this child. */
static void
proc_dispatch(struct chan *c, struct msg *m, void *arg)
{
	struct proc *p = arg;

	(void)c;
	switch (m->type) {
	case MSG_PONG:
		if (m->u.ping.seq > p->pings)
			fatalx("PONG from %s for a ping never sent", p->name);
		p->pongs = m->u.ping.seq;
		break;
	case MSG_AUDIT:
		audit_record(p->env, &m->u.audit);
		break;
	case MSG_SOURCE_INSERT:
		launcher_insert(p->env, &m->u.insert);
		break;
	case MSG_SOURCE_EJECT:
		launcher_eject(p->env, &m->u.source);
		break;
	case MSG_INSERT_CA:
		launcher_insert_ca(p->env, &m->u.ca);
		break;
	default:
		fatalx("%s from %s allowed but not handled",
		    msg_type_name(m->type), p->name);
	}
}

/* The channel closing is the child dying; SIGCHLD tells us how. */
static void
proc_closed(struct chan *c, void *arg)
{
	struct proc *p = arg;

	(void)c;
	log_debug("%s closed its channel", p->name);
}

/*
 * The child stopped reading and its queue overflowed (chan.c logged it).
 * For us fatal means what any child's death means: it goes, all stop.
 */
static void
proc_full(struct chan *c, void *arg)
{
	struct proc *p = arg;

	(void)c;
	if (p->pid == 0)
		return;
	log_warnx("%s (pid %d) does not read its channel; stopping", p->name,
	    p->pid);
	kill(p->pid, SIGKILL);
	proc_stop_all(p->env, 1);
}

/*
 * Relays what a child wrote on stderr, line by line, to our log. Returns
 * the bytes read, 0 once the pipe is closed, -1 when nothing waits.
 */
static ssize_t
proc_stderr_read(struct proc *p)
{
	char buf[4096], *start, *nl;
	ssize_t n;
	size_t take;

	n = read(p->stderr_fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		event_free(p->stderr_ev);
		p->stderr_ev = NULL;
		close(p->stderr_fd);
		p->stderr_fd = -1;
		return 0;
	}
	for (start = buf; start < buf + n; start = nl ? nl + 1 : buf + n) {
		nl = memchr(start, '\n', buf + n - start);
		take = (nl ? nl : buf + n) - start;
		if (take > sizeof(p->line) - 1 - p->linelen)
			take = sizeof(p->line) - 1 - p->linelen;
		memcpy(p->line + p->linelen, start, take);
		p->linelen += take;
		if (nl != NULL || p->linelen == sizeof(p->line) - 1) {
			p->line[p->linelen] = '\0';
			log_emit(LOG_NOTICE, p->line);
			p->linelen = 0;
		}
	}
	return n;
}

static void
proc_stderr(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	proc_stderr_read(arg);
}

/* siblings: the child's ends of its sibling channels, in fd order. */
static void
proc_spawn(struct vmediad *env, struct proc *p, const int *siblings,
    int nsiblings)
{
	int sp[2], errpipe[2] = { -1, -1 }, chans[3], i;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	if (!env->foreground &&
	    (pipe2(errpipe, O_CLOEXEC) == -1 ||
		fcntl(errpipe[0], F_SETFL, O_NONBLOCK) == -1))
		fatal("stderr pipe");
	switch (p->pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		chans[0] = sp[1];
		for (i = 0; i < nsiblings; i++)
			chans[1 + i] = siblings[i];
		proc_exec(env, p, chans, 1 + nsiblings, errpipe[1]);
		/* NOTREACHED */
	}
	close(sp[1]);
	chan_init(&p->chan, env->base, sp[0], PROC_PARENT, p->id, proc_dispatch,
	    proc_closed, p);
	p->chan.full = proc_full;
	p->stderr_fd = errpipe[0];
	if (errpipe[1] != -1) {
		close(errpipe[1]);
		p->stderr_ev = event_new(env->base, p->stderr_fd,
		    EV_READ | EV_PERSIST, proc_stderr, p);
		if (p->stderr_ev == NULL || event_add(p->stderr_ev, NULL) == -1)
			fatalx("cannot watch %s's stderr", p->name);
	}
	log_debug("started %s (pid %d)", p->name, p->pid);
}

/* sessiond and blockd, blockd and hookd talk directly; nobody else. */
void
proc_spawn_all(struct vmediad *env)
{
	int sb[2], bh[2], sess[1], blk[2], hook[1], i;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sb) == -1 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, bh) == -1)
		fatal("socketpair");
	sess[0] = sb[0];
	blk[0] = sb[1];
	blk[1] = bh[0];
	hook[0] = bh[1];
	for (i = 0; i < PROC_COUNT; i++) {
		env->procs[i].id = i;
		env->procs[i].name = msg_proc_name(i);
		env->procs[i].env = env;
		env->procs[i].stderr_fd = -1;
	}
	proc_spawn(env, &env->procs[PROC_SESSIOND], sess, 1);
	proc_spawn(env, &env->procs[PROC_BLOCKD], blk, 2);
	proc_spawn(env, &env->procs[PROC_HOOKD], hook, 1);
	for (i = 0; i < 2; i++) {
		close(sb[i]);
		close(bh[i]);
	}
}

/*
 * The globals a child is told. sessiond serves HTTP, TLS, the web
 * page and Redfish; blockd and hookd need to enter their sandboxes, and hookd
 * loads the hooks' modules before. The audit file is the parent's alone.
 */
static void
proc_global_view(enum msg_proc to, const struct conf_global *g,
    struct conf_global *v)
{
	*v = *g;
	memset(v->audit, 0, sizeof(v->audit));
	if (to == PROC_SESSIOND) {
		memset(v->hook_modules, 0, sizeof(v->hook_modules));
		return;
	}
	memset(v->listen, 0, sizeof(v->listen));
	v->nlisten = 0;
	memset(v->web, 0, sizeof(v->web));
	memset(v->tls_certificate, 0, sizeof(v->tls_certificate));
	memset(v->tls_key, 0, sizeof(v->tls_key));
	memset(v->nbd_client_ca, 0, sizeof(v->nbd_client_ca));
	memset(v->origins, 0, sizeof(v->origins));
	memset(v->redfish_manager, 0, sizeof(v->redfish_manager));
	if (to != PROC_HOOKD)
		memset(v->hook_modules, 0, sizeof(v->hook_modules));
}

/*
 * The exports a child is told, and of each what it uses; 0 if none of it.
 * sessiond serves them all but runs no hook and reads no source's files;
 * blockd connects the device exports; hookd runs the hooks of those that
 * have one. Strings are
 * cleared whole, so that nothing of them travels after the NUL.
 */
static int
proc_export_view(enum msg_proc to, const struct conf_export *e,
    struct conf_export *v)
{
	*v = *e;
	memset(v->hook, 0, sizeof(v->hook));
	/* A source re-attaches by its own back-off: no reconnect window. */
	if (e->source[0] != '\0')
		v->reconnect = 0;
	/* Where a source's TLS material and credentials are: ours alone. */
	memset(v->source_ca, 0, sizeof(v->source_ca));
	memset(v->source_certificate, 0, sizeof(v->source_certificate));
	memset(v->source_key, 0, sizeof(v->source_key));
	memset(v->source_psk, 0, sizeof(v->source_psk));
	memset(v->source_credentials, 0, sizeof(v->source_credentials));
	if (to == PROC_SESSIOND)
		return 1;
	memset(v->source, 0, sizeof(v->source));
	v->source_http = v->source_overlay = 0;
	memset(v->allow_source, 0, sizeof(v->allow_source));
	if (e->device[0] == '\0' || (to == PROC_HOOKD && e->hook[0] == '\0'))
		return 0;
	if (to == PROC_HOOKD)
		memcpy(v->hook, e->hook, sizeof(v->hook));
	memset(v->description, 0, sizeof(v->description));
	memset(v->allow, 0, sizeof(v->allow));
	return 1;
}

/* Each child gets the part of the config it needs: logins go to sessiond. */
void
proc_send_conf(struct vmediad *env, struct proc *p)
{
	const struct conf *conf = env->conf;
	struct conf_global g;
	struct conf_export e;
	struct msg_conf_end end;
	int i;

	if (p->pid == 0)
		return;
	memset(&end, 0, sizeof(end));
	proc_global_view(p->id, &conf->global, &g);
	chan_send(&p->chan, MSG_CONF_GLOBAL, &g, sizeof(g), -1);
	for (i = 0; i < conf->nexports; i++) {
		if (!proc_export_view(p->id, &conf->exports[i], &e))
			continue;
		chan_send(&p->chan, MSG_CONF_EXPORT, &e, sizeof(e), -1);
		end.nexports++;
	}
	if (p->id == PROC_SESSIOND) {
		for (i = 0; i < conf->nusers; i++)
			chan_send(&p->chan, MSG_CONF_USER, &conf->users[i],
			    sizeof(conf->users[i]), -1);
		end.nusers = conf->nusers;
	}
	end.generation = env->generation;
	chan_send(&p->chan, MSG_CONF_END, &end, sizeof(end), -1);
}

#ifdef VMEDIAD_TEST
/*
 * Test builds: config pushes to one child, faster than any child reads,
 * until its queue overflows; regress/daemon stops the child first.
 */
void
proc_flood(struct vmediad *env, struct proc *p)
{
	int i;

	log_warnx("test: flooding %s with config pushes", p->name);
	for (i = 0; i < CHAN_QUEUE_MSGS && p->chan.fd != -1; i++) {
		env->generation++;
		proc_send_conf(env, p);
	}
}
#endif

static void
proc_describe(int status, char *buf, size_t size)
{
	const char *sig;

	if (WIFEXITED(status)) {
		snprintf(buf, size, "exited with status %d",
		    WEXITSTATUS(status));
		return;
	}
	if (!WIFSIGNALED(status)) {
		snprintf(buf, size, "stopped (status %#x)", status);
		return;
	}
	sig = sigabbrev_np(WTERMSIG(status));
	snprintf(buf, size, "killed by SIG%s%s", sig ? sig : "?",
	    WTERMSIG(status) == SIGSYS ? " (seccomp violation)" : "");
}

int
proc_alive(const struct vmediad *env)
{
	int i, n = 0;

	for (i = 0; i < PROC_COUNT; i++)
		if (env->procs[i].pid != 0)
			n++;
	return n + (env->launcher_pid != 0);
}

struct proc *
proc_by_name(struct vmediad *env, const char *name)
{
	int i;

	for (i = 0; i < PROC_COUNT; i++)
		if (strcmp(env->procs[i].name, name) == 0)
			return &env->procs[i];
	return NULL;
}

static void
proc_release(struct proc *p)
{
	/* Keep what the child wrote last: it often says why it died. */
	while (p->stderr_fd != -1 && proc_stderr_read(p) > 0)
		;
	chan_close(&p->chan);
	p->pid = 0;
}

/* SIGCHLD: reap, say who died and how; an unplanned death stops all. */
void
proc_reap(struct vmediad *env)
{
	struct proc *p;
	char how[64];
	pid_t pid;
	int status, i, clean;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (launcher_reaped(env, pid, status))
			continue;
		for (i = 0, p = NULL; i < PROC_COUNT; i++)
			if (env->procs[i].pid == pid)
				p = &env->procs[i];
		if (p == NULL)
			continue;
		proc_release(p);
		proc_describe(status, how, sizeof(how));
		clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		/* blockd normally releases the devices; if it could not: */
		if (p == &env->procs[PROC_BLOCKD] && !clean)
			devices_release(env);
		if (!env->stopping) {
			log_warnx("%s (pid %d) %s; stopping", p->name, pid,
			    how);
			proc_stop_all(env, 1);
		} else if (!clean) {
			log_warnx("%s (pid %d) %s while stopping", p->name, pid,
			    how);
			env->exit_code = 1;
		} else
			log_debug("%s (pid %d) %s", p->name, pid, how);
		if (env->stopping && p == &env->procs[PROC_BLOCKD] &&
		    env->procs[PROC_HOOKD].pid != 0)
			chan_send(&env->procs[PROC_HOOKD].chan, MSG_SHUTDOWN,
			    NULL, 0, -1);
	}
	if (env->stopping && proc_alive(env) == 0)
		event_base_loopbreak(env->base);
}

static void
proc_stop_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct vmediad *env = arg;
	int i;

	(void)fd;
	(void)events;
	for (i = 0; i < PROC_COUNT; i++) {
		if (env->procs[i].pid == 0)
			continue;
		log_warnx("%s (pid %d) did not stop in time; killing it",
		    env->procs[i].name, env->procs[i].pid);
		kill(env->procs[i].pid, SIGKILL);
		env->exit_code = 1;
	}
	if (env->launcher_pid != 0) {
		log_warnx("launcher (pid %d) did not stop in time; killing it",
		    env->launcher_pid);
		kill(env->launcher_pid, SIGKILL);
		env->exit_code = 1;
	}
}

/* hookd stops after blockd, which runs the stop hooks on its way out. */
static int
proc_hookd_waits(struct vmediad *env, struct proc *p)
{
	return p == &env->procs[PROC_HOOKD] && env->procs[PROC_BLOCKD].pid != 0;
}

/* Tells every child to stop; the loop ends once all are reaped. */
void
proc_stop_all(struct vmediad *env, int exit_code)
{
	struct libevent_tv grace = { 1, 500000 };
	int i;

	if (env->stopping)
		return;
	env->stopping = 1;
	env->exit_code = exit_code;
	launcher_stop(env);
	for (i = 0; i < PROC_COUNT; i++)
		if (env->procs[i].pid != 0 &&
		    !proc_hookd_waits(env, &env->procs[i]))
			chan_send(&env->procs[i].chan, MSG_SHUTDOWN, NULL, 0,
			    -1);
	env->stop_timer = evtimer_new(env->base, proc_stop_timeout, env);
	if (env->stop_timer == NULL ||
	    evtimer_add(env->stop_timer, LIBEVENT_TV(&grace)) == -1)
		fatalx("cannot arm the stop timer");
	if (proc_alive(env) == 0)
		event_base_loopbreak(env->base);
}

/* A child that stops answering is as good as dead: fail closed. */
void
proc_ping(struct vmediad *env)
{
	struct proc *p;
	struct msg_ping ping;
	int i;

	for (i = 0; i < PROC_COUNT && !env->stopping; i++) {
		p = &env->procs[i];
		if (p->pid == 0)
			continue;
		if (p->pings - p->pongs >= PROC_PINGS_MISSED) {
			log_warnx("%s (pid %d) stopped answering; stopping",
			    p->name, p->pid);
			kill(p->pid, SIGKILL);
			proc_stop_all(env, 1);
			return;
		}
		ping.seq = ++p->pings;
		chan_send(&p->chan, MSG_PING, &ping, sizeof(ping), -1);
	}
}
