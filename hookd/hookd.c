/*
 * hookd: runs the state hook of an export as `HOOK start|stop NAME` (the
 * jsnbd contract) when blockd asks, one at a time per export so a stop
 * never overtakes its start; output goes to the log, a timeout kills.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdarg.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "export_table.h"
#include "hookd.h"
#include "libevent_tv.h"
#include "log.h"

#define HOOK_QUEUE_MAX 8  /* waiting jobs per export */
#define HOOK_LOG_LINES 40 /* output lines logged per run */
#define HOOK_LINE_MAX 512
#define HOOK_KILL_GRACE 3 /* seconds from SIGTERM to SIGKILL */

struct hook_run {
	char export[CONF_NAME_MAX];
	struct msg_hook queue[HOOK_QUEUE_MAX]; /* queue[0] runs */
	int queued;
	pid_t pid; /* 0: nothing running */
	int out;   /* hook's stdout+stderr */
	struct event *out_ev;
	struct event *timer;
	int term_sent;
	int timed_out;
	int lines;
	char line[HOOK_LINE_MAX];
	size_t linelen;
};

static struct hook_run hook_runs[CONF_EXPORT_MAX];
static struct export_table hook_index =
    EXPORT_TABLE(hook_runs, struct hook_run, export);
static struct child *hook_child;

static const char *
action_name(int action)
{
	return action == MSG_HOOK_START ? "start" : "stop";
}

/* A run nothing waits on, of an export a reload took away. */
static int
run_unused(const void *entry, const void *arg)
{
	const struct hook_run *r = entry;

	(void)arg;
	return r->queued == 0 &&
	    conf_find_export(hook_child->conf, r->export) == NULL;
}

/*
 * An export's run, made on first use. Reloads may rename exports without
 * end: past CONF_EXPORT_MAX, an idle run of an export no longer in the
 * config is taken over, its timer with it. NULL if none is.
 */
static struct hook_run *
run_get(const char *export)
{
	struct hook_run *r;
	struct event *timer;

	if ((r = export_table_find(&hook_index, export)) != NULL)
		return r;
	if ((r = export_table_slot(&hook_index, run_unused, NULL)) == NULL)
		return NULL;
	timer = r->timer;
	memset(r, 0, sizeof(*r));
	r->timer = timer;
	r->out = -1;
	snprintf(r->export, sizeof(r->export), "%s", export);
	return r;
}

static void hook_answer(const struct msg_hook *req, int ok, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
hook_answer(const struct msg_hook *req, int ok, const char *fmt, ...)
{
	struct msg_hook_done done;
	va_list ap;

	memset(&done, 0, sizeof(done));
	snprintf(done.export, sizeof(done.export), "%s", req->export);
	done.session = req->session;
	done.action = req->action;
	done.ok = ok;
	va_start(ap, fmt);
	vsnprintf(done.reason, sizeof(done.reason), fmt, ap);
	va_end(ap);
	if (!ok)
		log_warnx("export %s: %s hook failed: %s", req->export,
		    action_name(req->action), done.reason);
	chan_send(&hook_child->sib[0], MSG_HOOK_DONE, &done, sizeof(done), -1);
}

/* Logs the hook's output a line at a time, up to HOOK_LOG_LINES. */
static void
output_line(struct hook_run *r)
{
	const char *action = action_name(r->queue[0].action);

	r->line[r->linelen] = '\0';
	r->linelen = 0;
	if (++r->lines <= HOOK_LOG_LINES)
		log_info("export %s: %s hook: %s", r->export, action, r->line);
	else if (r->lines == HOOK_LOG_LINES + 1)
		log_info("export %s: %s hook: further output not logged",
		    r->export, action);
}

static void
output_close(struct hook_run *r)
{
	if (r->linelen > 0)
		output_line(r);
	if (r->out_ev != NULL)
		event_free(r->out_ev);
	if (r->out != -1)
		close(r->out);
	r->out_ev = NULL;
	r->out = -1;
}

static void
output_read(evutil_socket_t fd, short events, void *arg)
{
	struct hook_run *r = arg;
	char buf[2048];
	ssize_t n, i;

	(void)events;
	if ((n = read(fd, buf, sizeof(buf))) <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			output_close(r);
		return;
	}
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n' || r->linelen == sizeof(r->line) - 1)
			output_line(r);
		if (buf[i] != '\n')
			r->line[r->linelen++] =
			    (buf[i] >= 0x20 && buf[i] < 0x7f) ? buf[i] : '?';
	}
}

static void
timer_fired(evutil_socket_t fd, short events, void *arg)
{
	struct hook_run *r = arg;
	struct libevent_tv grace = { HOOK_KILL_GRACE, 0 };

	(void)fd;
	(void)events;
	if (r->pid == 0)
		return;
	r->timed_out = 1;
	if (!r->term_sent) {
		log_warnx("export %s: %s hook timed out; SIGTERM", r->export,
		    action_name(r->queue[0].action));
		hook_signal(r->pid, SIGTERM);
		r->term_sent = 1;
		evtimer_add(r->timer, LIBEVENT_TV(&grace));
	} else {
		log_warnx("export %s: %s hook still running; SIGKILL",
		    r->export, action_name(r->queue[0].action));
		hook_signal(r->pid, SIGKILL);
	}
}

/*
 * What the hook runs with: HOOK start|stop NAME, the jsnbd contract, and
 * the VMEDIAD_* variables, every value from our config or from blockd's
 * request as the message table checked it.
 */
static void
hook_cmd_init(struct hook_cmd *cmd, const struct conf_export *e,
    const struct msg_hook *req)
{
	int i;

	snprintf(cmd->env[0], sizeof(cmd->env[0]), "VMEDIAD_EXPORT=%s",
	    e->name);
	snprintf(cmd->env[1], sizeof(cmd->env[1]), "VMEDIAD_DEVICE=%s",
	    e->device);
	snprintf(cmd->env[2], sizeof(cmd->env[2]), "VMEDIAD_SIZE=%llu",
	    (unsigned long long)req->size);
	snprintf(cmd->env[3], sizeof(cmd->env[3]), "VMEDIAD_READONLY=%s",
	    req->read_only ? "yes" : "no");
	snprintf(cmd->env[4], sizeof(cmd->env[4]), "VMEDIAD_USER=%s",
	    req->user);
	snprintf(cmd->env[5], sizeof(cmd->env[5]), "VMEDIAD_ACTION=%s",
	    action_name(req->action));
	cmd->envp[0] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	for (i = 0; i < 6; i++)
		cmd->envp[i + 1] = cmd->env[i];
	cmd->envp[7] = NULL;
	cmd->argv[0] = (char *)e->hook;
	cmd->argv[1] = (char *)action_name(req->action);
	cmd->argv[2] = (char *)e->name;
	cmd->argv[3] = NULL;
}

static void run_next(struct hook_run *);

static void
run_finish(struct hook_run *r, int ok, const char *fmt, const char *arg)
{
	hook_answer(&r->queue[0], ok, fmt, arg);
	memmove(&r->queue[0], &r->queue[1],
	    (size_t)(r->queued - 1) * sizeof(r->queue[0]));
	r->queued--;
	run_next(r);
}

/*
 * Every value of the hook's environment, checked again here: they come
 * from other processes, and the hook is a root script that may well
 * paste them into a command line. Names follow the config's name rule.
 */
static const char *
hook_env_refused(const struct conf_export *e, const struct msg_hook *req)
{
	if (!conf_name_valid(e->name))
		return "the export name is not a valid name";
	if (e->device[0] != '\0' && conf_nbd_index(e->device) < 0)
		return "the device is not /dev/nbdN";
	if (req->user[0] != '\0' && !conf_name_valid(req->user))
		return "the user name is not a valid name";
	return NULL;
}

/* Starts queue[0], or answers at once when there is nothing to run. */
static void
run_start(struct hook_run *r)
{
	const struct msg_hook *req = &r->queue[0];
	const struct conf_export *e;
	struct libevent_tv timeout;
	struct hook_cmd cmd;
	struct stat st;
	const char *why;
	int pipefd[2];

	e = conf_find_export(hook_child->conf, req->export);
	if (e == NULL || e->hook[0] == '\0') {
		run_finish(r, 1, "%s", "no hook configured");
		return;
	}
	if ((why = hook_env_refused(e, req)) != NULL) {
		run_finish(r, 0, "not run: %s", why);
		return;
	}
	if (stat(e->hook, &st) == -1 && errno == ENOENT) {
		log_info("export %s: hook %s not found; skipped", e->name,
		    e->hook);
		run_finish(r, 1, "%s", "hook not found");
		return;
	}
	if (pipe2(pipefd, O_CLOEXEC) == -1 ||
	    fcntl(pipefd[0], F_SETFL, O_NONBLOCK) == -1) {
		run_finish(r, 0, "pipe: %s", strerror(errno));
		return;
	}
	hook_cmd_init(&cmd, e, req);
	if ((r->pid = hook_spawn(&cmd, pipefd[1])) == -1) {
		r->pid = 0;
		close(pipefd[0]);
		close(pipefd[1]);
		run_finish(r, 0, "fork: %s", strerror(errno));
		return;
	}
	close(pipefd[1]);
	r->out = pipefd[0];
	r->lines = 0;
	r->linelen = 0;
	r->term_sent = 0;
	r->timed_out = 0;
	r->out_ev = event_new(hook_child->base, r->out, EV_READ | EV_PERSIST,
	    output_read, r);
	event_add(r->out_ev, NULL);
	timeout.tv_sec = e->timeout;
	timeout.tv_usec = 0;
	evtimer_add(r->timer, LIBEVENT_TV(&timeout));
	log_info("export %s: running %s %s %s", e->name, e->hook,
	    action_name(req->action), e->name);
}

static void
run_next(struct hook_run *r)
{
	if (r->queued > 0 && r->pid == 0)
		run_start(r);
	if (hook_child->stopping && r->queued == 0) {
		int i;

		for (i = 0; i < hook_index.n; i++)
			if (hook_runs[i].queued > 0)
				return;
		child_exit(hook_child);
	}
}

static void
run_reaped(struct hook_run *r, int status)
{
	char how[64];
	int sig;

	evtimer_del(r->timer);
	r->pid = 0;
	/* Take what it wrote; its own children may keep the pipe open. */
	if (r->out != -1)
		output_read(r->out, EV_READ, r);
	output_close(r);
	if (r->timed_out) {
		run_finish(r, 0, "%s", "timed out");
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info("export %s: %s hook done", r->export,
		    action_name(r->queue[0].action));
		run_finish(r, 1, "%s", "ok");
		return;
	}
	if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exit status %d",
		    WEXITSTATUS(status));
	else {
		sig = WTERMSIG(status);
		snprintf(how, sizeof(how), "killed by SIG%s%s",
		    sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
		    sig == SIGSYS ? " (hookd's seccomp allow-list)" : "");
	}
	run_finish(r, 0, "%s", how);
}

static void
sigchld(evutil_socket_t sig, short events, void *arg)
{
	pid_t pid;
	int status, i;

	(void)sig;
	(void)events;
	(void)arg;
	while ((pid = hook_reap(&status)) > 0)
		for (i = 0; i < hook_index.n; i++)
			if (hook_runs[i].pid == pid)
				run_reaped(&hook_runs[i], status);
}

static void
hook_request(struct child *c, struct msg *m)
{
	struct msg_hook *req = &m->u.hook;
	struct hook_run *r;

	/* We are told only the exports that have a hook. */
	if (conf_find_export(c->conf, req->export) == NULL) {
		hook_answer(req, 1, "no hook configured");
		return;
	}
	if ((r = run_get(req->export)) == NULL) {
		hook_answer(req, 0, "too many exports with hooks running");
		return;
	}
	if (r->timer == NULL)
		r->timer = evtimer_new(c->base, timer_fired, r);
	if (r->queued == HOOK_QUEUE_MAX) {
		hook_answer(req, 0, "too many hooks waiting");
		return;
	}
	r->queue[r->queued++] = *req;
	run_next(r);
}

/* HOOK_RUN, from blockd: the only message of ours the table lets in. */
static int
hookd_dispatch(struct child *c, struct chan *from, struct msg *m)
{
	(void)from;
	if (m->type != MSG_HOOK_RUN)
		return 0;
	hook_request(c, m);
	return 1;
}

static void
hookd_conf_applied(struct child *c, const struct conf *old)
{
	struct event *ev;

	if (old != NULL) {
		if (strcmp(old->global.hook_modules,
			c->conf->global.hook_modules) != 0)
			log_warnx(
			    "hook-modules changed: loaded at the next "
			    "start, hookd holds no right to load them now");
		log_info("config %u in force", c->generation);
		return;
	}
	/* Before the sandbox: what hooks may not do, then SIGCHLD. */
	hookd_prepare(&c->conf->global);
	hook_child = c;
	signal(SIGCHLD, SIG_DFL);
	ev = evsignal_new(c->base, SIGCHLD, sigchld, NULL);
	if (ev == NULL || evsignal_add(ev, NULL) == -1)
		fatalx("cannot watch SIGCHLD");
}

/* Hooks already asked for still run: blockd's stop hooks come last. */
static int
hookd_stop(struct child *c)
{
	int i;

	(void)c;
	for (i = 0; i < hook_index.n; i++)
		if (hook_runs[i].queued > 0)
			return 0;
	return 1;
}

static const struct child_role hookd_role = {
	.self = PROC_HOOKD,
	.policy = &hookd_policy,
	.conf_applied = hookd_conf_applied,
	.dispatch = hookd_dispatch,
	.stop = hookd_stop,
};

int
main(int argc, char **argv)
{
	struct child c;

	child_start(&c, &hookd_role, argc, argv);
	child_run(&c);
	return 1;
}
