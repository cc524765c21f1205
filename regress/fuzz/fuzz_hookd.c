/*
 * libFuzzer target for hookd's handlers: HOOK_RUN from blockd and the
 * parent's config pushes, pings and shutdown, through child.c's dispatch
 * into hookd.c itself. Nothing is forked: hook_exec.c is replaced by fake
 * processes that check what they would run, write what the input says
 * and end as it says (handler.h: the input). Asserts:
 * - a hook runs only for an export of hookd's config that has one, as
 *   HOOK start|stop NAME with PATH and the six VMEDIAD_* variables and
 *   nothing else, each value the config's (export name, device) or the
 *   request's as the table checked it (a user by the config's name rules
 *   or none, the size in decimal, yes or no, the action);
 * - one hook at a time per export, started in the order asked; at most
 *   HOOK_QUEUE_MAX waiting, the next refused at once; an export hookd
 *   does not know answered at once; every request answered exactly once,
 *   with its own session and action, in order;
 * - signals go only to a hook that has not been reaped;
 * - every message sent passes its receiver's table; PONG echoes PING;
 * - at exit no hook is running and no request unanswered.
 */
#include <errno.h>

#include "handler.h"

/* hookd itself: its statics in reach, each run a fresh process. */
#define main hookd_main
#include "hookd.c"
#undef main

/*
 * prepare.c loads modules and mounts configfs before the sandbox: never
 * in a fuzzer. What it was given must be the first config's globals.
 */
static int prepared;

void
hookd_prepare(const struct conf_global *g)
{
	(void)g;
	if (prepared++ != 0)
		abort(); /* once, before the first config is in force */
}

/* The input's first byte. */
#define OPT_STUBBORN 0x01		/* hooks ignore SIGTERM */
#define OPT_VARIANT(o) (((o) >> 4) & 3) /* the first config */

/* Things the world does: a record from hookd to itself, by type. */
enum world {
	WORLD_RELOAD,	    /* the parent pushes variant payload[0] */
	WORLD_HOOK_WRITES,  /* hook flags % running writes the payload */
	WORLD_HOOK_EXITS_0, /* writes the payload, then ends so */
	WORLD_HOOK_EXITS_1,
	WORLD_HOOK_EXITS_127,
	WORLD_HOOK_SIGSYS,  /* killed by the seccomp filter */
	WORLD_HOOK_TIMEOUT, /* its timer fires */
	WORLD_FORK_FAILS,   /* the next hook cannot be started */
	WORLD_BLOCKD_GONE,
	WORLD_PARENT_GONE,
	WORLD_COUNT
};

#define FAKE_PID_BASE 0x40000000 /* above any real pid (2^22) */
#define HOOKS_MAX 4096
#define EXPORTS_MAX 512 /* names blockd asked about */

enum fake_state {
	FAKE_RUNNING,
	FAKE_ENDED, /* its SIGCHLD is due */
	FAKE_REAPED,
};

struct fake_hook {
	pid_t pid;
	char export[CONF_NAME_MAX];
	int out; /* its end of the output pipe */
	enum fake_state state;
	int status;
};

/* What blockd is waiting for, per export: its requests, oldest first. */
struct waiting {
	char export[CONF_NAME_MAX];
	struct msg_hook req[HOOK_QUEUE_MAX];
	int n;
};

static struct child child;
static uint32_t generation;
static uint8_t options;

static struct fake_hook fakes[HOOKS_MAX];
static int nfakes;
static int fork_fails;

static struct waiting waiting[EXPORTS_MAX];
static int nwaiting;
/* The HOOK_RUN being dispatched, and the answer it must get at once. */
static struct msg_hook cur_req;
static const char *answer_now;
static uint64_t last_ping;

static const char *const hookd_fatal_ok[] = {
	"CONF_GLOBAL from parent in the middle of a push",
	"%s before CONF_GLOBAL from parent", "too many CONF_EXPORT from parent",
	"incomplete config from parent",
	"config %u from parent after config %u", NULL
};

static struct waiting *
waiting_for(const char *export)
{
	struct waiting *w = NULL;
	int i;

	for (i = 0; i < nwaiting; i++)
		if (strcmp(waiting[i].export, export) == 0)
			return &waiting[i];
	if (nwaiting < EXPORTS_MAX)
		w = &waiting[nwaiting++];
	for (i = 0; w == NULL && i < nwaiting; i++)
		if (waiting[i].n == 0)
			w = &waiting[i];
	if (w == NULL)
		handler_fail("more than %d exports waited for", EXPORTS_MAX);
	memset(w, 0, sizeof(*w));
	snprintf(w->export, sizeof(w->export), "%s", export);
	return w;
}

static struct fake_hook *
fake_by_pid(pid_t pid)
{
	if (pid < FAKE_PID_BASE || pid >= FAKE_PID_BASE + nfakes)
		return NULL;
	return &fakes[pid - FAKE_PID_BASE];
}

/* The k-th hook still running, NULL if none is. */
static struct fake_hook *
fake_running(unsigned k)
{
	int i, n = 0;

	for (i = 0; i < nfakes; i++)
		n += fakes[i].state == FAKE_RUNNING;
	if (n == 0)
		return NULL;
	k %= n;
	for (i = 0; i < nfakes; i++)
		if (fakes[i].state == FAKE_RUNNING && k-- == 0)
			return &fakes[i];
	return NULL;
}

static void
fake_end(struct fake_hook *f, int status)
{
	if (f->state != FAKE_RUNNING)
		return;
	close(f->out);
	f->out = -1;
	f->state = FAKE_ENDED;
	f->status = status;
}

/* --- the exec point: what a hook would run with ------------------------ */

static const char *
env_value(const struct hook_cmd *cmd, int i, const char *name)
{
	size_t len = strlen(name);

	if (cmd->envp[i] == NULL || strncmp(cmd->envp[i], name, len) != 0 ||
	    cmd->envp[i][len] != '=')
		handler_fail("envp[%d] is %s, not %s=", i,
		    cmd->envp[i] ? cmd->envp[i] : "NULL", name);
	return cmd->envp[i] + len + 1;
}

static void
cmd_check(const struct hook_cmd *cmd, const struct conf_export *e,
    const struct msg_hook *req)
{
	const char *action = req->action == MSG_HOOK_START ? "start" : "stop";
	const char *v;
	char size[32];

	if (cmd->argv[0] == NULL || strcmp(cmd->argv[0], e->hook) != 0 ||
	    cmd->argv[1] == NULL || strcmp(cmd->argv[1], action) != 0 ||
	    cmd->argv[2] == NULL || strcmp(cmd->argv[2], e->name) != 0 ||
	    cmd->argv[3] != NULL)
		handler_fail("%s: argv is not HOOK %s NAME", e->name, action);
	if (cmd->envp[0] == NULL ||
	    strcmp(cmd->envp[0], "PATH=/usr/sbin:/usr/bin:/sbin:/bin") != 0)
		handler_fail("%s: envp[0] is not PATH", e->name);
	v = env_value(cmd, 1, "VMEDIAD_EXPORT");
	if (!conf_name_valid(v) || strcmp(v, e->name) != 0 ||
	    strcmp(v, req->export) != 0)
		handler_fail("VMEDIAD_EXPORT=%s for %s", v, e->name);
	v = env_value(cmd, 2, "VMEDIAD_DEVICE");
	if (strcmp(v, e->device) != 0 ||
	    (v[0] != '\0' && conf_nbd_index(v) < 0))
		handler_fail("%s: VMEDIAD_DEVICE=%s", e->name, v);
	v = env_value(cmd, 3, "VMEDIAD_SIZE");
	snprintf(size, sizeof(size), "%llu", (unsigned long long)req->size);
	if (strcmp(v, size) != 0)
		handler_fail("%s: VMEDIAD_SIZE=%s, asked %s", e->name, v, size);
	v = env_value(cmd, 4, "VMEDIAD_READONLY");
	if (strcmp(v, req->read_only ? "yes" : "no") != 0)
		handler_fail("%s: VMEDIAD_READONLY=%s", e->name, v);
	v = env_value(cmd, 5, "VMEDIAD_USER");
	if (strcmp(v, req->user) != 0 || (v[0] != '\0' && !conf_name_valid(v)))
		handler_fail("%s: VMEDIAD_USER=%s", e->name, v);
	v = env_value(cmd, 6, "VMEDIAD_ACTION");
	if (strcmp(v, action) != 0)
		handler_fail("%s: VMEDIAD_ACTION=%s", e->name, v);
	if (cmd->envp[7] != NULL)
		handler_fail("%s: more than the VMEDIAD_* variables", e->name);
}

pid_t
hook_spawn(const struct hook_cmd *cmd, int out)
{
	const struct conf_export *e;
	const struct msg_hook *req;
	struct hook_run *r;
	struct waiting *w;
	struct fake_hook *f;
	int i;

	if (cmd->argv[2] == NULL ||
	    (e = conf_find_export(child.conf, cmd->argv[2])) == NULL ||
	    e->hook[0] == '\0')
		handler_fail("a hook for %s, no export with a hook",
		    cmd->argv[2] ? cmd->argv[2] : "NULL");
	for (i = 0, r = NULL; i < hook_index.n; i++)
		if (strcmp(hook_runs[i].export, e->name) == 0)
			r = &hook_runs[i];
	if (r == NULL || r->queued == 0)
		handler_fail("%s: a hook with nothing asked", e->name);
	req = &r->queue[0];
	cmd_check(cmd, e, req);
	for (i = 0; i < nfakes; i++)
		if (fakes[i].state != FAKE_REAPED &&
		    strcmp(fakes[i].export, e->name) == 0)
			handler_fail("%s: a second hook while pid %d runs",
			    e->name, fakes[i].pid);
	w = waiting_for(e->name);
	if (w->n == 0 || w->req[0].session != req->session ||
	    w->req[0].action != req->action)
		handler_fail("%s: hook for session %u, not the oldest asked",
		    e->name, req->session);
	if ((fcntl(out, F_GETFL) & O_ACCMODE) != O_WRONLY)
		handler_fail("%s: output is not a pipe's write end", e->name);
	if (fork_fails || nfakes == HOOKS_MAX) {
		fork_fails = 0;
		errno = EAGAIN;
		return -1;
	}
	f = &fakes[nfakes];
	memset(f, 0, sizeof(*f));
	f->pid = FAKE_PID_BASE + nfakes++;
	snprintf(f->export, sizeof(f->export), "%s", e->name);
	if ((f->out = fcntl(out, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    fcntl(f->out, F_SETFL, O_NONBLOCK) == -1)
		handler_fail("dup: %s", strerror(errno));
	f->state = FAKE_RUNNING;
	return f->pid;
}

void
hook_signal(pid_t pid, int sig)
{
	struct fake_hook *f = fake_by_pid(pid);

	if (f == NULL || f->state == FAKE_REAPED)
		handler_fail("signal %d to pid %d, not a hook of ours", sig,
		    pid);
	if (sig == SIGKILL || (sig == SIGTERM && !(options & OPT_STUBBORN)))
		fake_end(f, sig); /* a status as waitpid gives it */
}

pid_t
hook_reap(int *status)
{
	int i;

	for (i = 0; i < nfakes; i++)
		if (fakes[i].state == FAKE_ENDED) {
			fakes[i].state = FAKE_REAPED;
			*status = fakes[i].status;
			return fakes[i].pid;
		}
	return 0;
}

/* --- what hookd says --------------------------------------------------- */

static void
sent_hook_done(const struct msg_hook_done *d)
{
	struct waiting *w;
	int ok_reason;

	ok_reason = strcmp(d->reason, "ok") == 0 ||
	    strcmp(d->reason, "no hook configured") == 0 ||
	    strcmp(d->reason, "hook not found") == 0;
	if (d->ok != ok_reason)
		handler_fail("%s: HOOK_DONE ok %d, reason %s", d->export, d->ok,
		    d->reason);
	if (answer_now != NULL) {
		if (strcmp(d->export, cur_req.export) != 0 ||
		    d->session != cur_req.session ||
		    d->action != cur_req.action ||
		    strcmp(d->reason, answer_now) != 0)
			handler_fail("%s session %u: answered %s, not %s",
			    d->export, d->session, d->reason, answer_now);
		answer_now = NULL;
		return;
	}
	w = waiting_for(d->export);
	if (w->n == 0 || w->req[0].session != d->session ||
	    w->req[0].action != d->action)
		handler_fail("%s: HOOK_DONE for session %u, not the oldest "
			     "asked",
		    d->export, d->session);
	memmove(&w->req[0], &w->req[1], (w->n - 1) * sizeof(w->req[0]));
	w->n--;
}

static void
hookd_sent(const struct chan *c, const struct msg *m)
{
	switch (m->type) {
	case MSG_HOOK_DONE:
		sent_hook_done(&m->u.hook_done);
		break;
	case MSG_PONG:
		if (m->u.ping.seq != last_ping)
			handler_fail("PONG %llu for PING %llu",
			    (unsigned long long)m->u.ping.seq,
			    (unsigned long long)last_ping);
		break;
	default:
		handler_fail("hookd sent %s to %s", msg_type_name(m->type),
		    msg_proc_name(c->peer));
	}
}

/* --- the run ------------------------------------------------------------ */

static void
hookd_start(uint8_t opts)
{
	struct conf view;

	memset(hook_runs, 0, sizeof(hook_runs));
	hook_index.n = 0;
	prepared = 0;
	hook_child = NULL;
	options = opts;
	nfakes = 0;
	fork_fails = 0;
	nwaiting = 0;
	answer_now = NULL;
	last_ping = 0;
	generation = 1;

	memset(&child, 0, sizeof(child));
	child.role = &hookd_role;
	child.name = msg_proc_name(PROC_HOOKD);
	if ((child.base = event_base_new()) == NULL)
		handler_fail("event_base_new");
	child_channels(&child);
	handler_view(&view, PROC_HOOKD, OPT_VARIANT(opts));
	handler_push_conf(&view, generation);
	if (child.conf == NULL)
		handler_fail("hookd refused its first config");
}

static struct chan *
hookd_chan_from(enum msg_proc peer)
{
	if (peer == PROC_PARENT)
		return &child.chan;
	if (peer == PROC_BLOCKD)
		return &child.sib[0];
	return NULL;
}

static void
hookd_world(const struct rec *r)
{
	static const int statuses[] = {
		[WORLD_HOOK_EXITS_0] = 0,
		[WORLD_HOOK_EXITS_1] = 1 << 8,
		[WORLD_HOOK_EXITS_127] = 127 << 8,
		[WORLD_HOOK_SIGSYS] = SIGSYS,
	};
	struct fake_hook *f = fake_running(r->flags);
	struct conf view;
	int i, type = r->type % WORLD_COUNT;

	switch (type) {
	case WORLD_RELOAD:
		handler_view(&view, PROC_HOOKD, r->len > 0 ? r->payload[0] : 0);
		handler_push_conf(&view, ++generation);
		break;
	case WORLD_HOOK_WRITES:
	case WORLD_HOOK_EXITS_0:
	case WORLD_HOOK_EXITS_1:
	case WORLD_HOOK_EXITS_127:
	case WORLD_HOOK_SIGSYS:
		if (f == NULL)
			break;
		if (r->len > 0 && write(f->out, r->payload, r->len) == -1 &&
		    errno != EAGAIN)
			handler_fail("hook output: %s", strerror(errno));
		if (type != WORLD_HOOK_WRITES)
			fake_end(f, statuses[type]);
		break;
	case WORLD_HOOK_TIMEOUT:
		for (i = 0; f != NULL && i < hook_index.n; i++)
			if (hook_runs[i].pid == f->pid &&
			    evtimer_pending(hook_runs[i].timer, NULL))
				event_active(hook_runs[i].timer, EV_TIMEOUT, 1);
		break;
	case WORLD_FORK_FAILS:
		fork_fails = 1;
		break;
	case WORLD_BLOCKD_GONE:
		handler_closed(&child.sib[0]);
		break;
	case WORLD_PARENT_GONE:
		handler_closed(&child.chan);
		break;
	}
}

static void
hookd_before(enum msg_proc peer, const struct msg *m, int fd_kind)
{
	const struct msg_hook *req = &m->u.hook;
	struct waiting *w;

	(void)peer;
	(void)fd_kind;
	if (m->type == MSG_PING)
		last_ping = m->u.ping.seq;
	if (m->type != MSG_HOOK_RUN)
		return;
	cur_req = *req;
	if (conf_find_export(child.conf, req->export) == NULL)
		answer_now = "no hook configured";
	else if ((w = waiting_for(req->export))->n == HOOK_QUEUE_MAX)
		answer_now = "too many hooks waiting";
	else
		w->req[w->n++] = *req;
}

static void
hookd_after(const struct msg *m)
{
	if (m->type == MSG_HOOK_RUN && answer_now != NULL)
		handler_fail("%s session %u: not answered %s at once",
		    cur_req.export, cur_req.session, answer_now);
}

/* Output is read as the loop turns; an ended hook's SIGCHLD comes. */
static void
hookd_settle(void)
{
	int i;

	event_base_loop(child.base, EVLOOP_NONBLOCK);
	for (i = 0; i < nfakes; i++)
		if (fakes[i].state == FAKE_ENDED) {
			sigchld(SIGCHLD, EV_SIGNAL, NULL);
			break;
		}
}

static void
hookd_check(void)
{
	const struct hook_run *r;
	const struct fake_hook *f;
	int i;

	if (hook_index.n < 0 || hook_index.n > CONF_EXPORT_MAX)
		handler_fail("%d runs", hook_index.n);
	for (i = 0; i < hook_index.n; i++) {
		r = &hook_runs[i];
		if (r->queued < 0 || r->queued > HOOK_QUEUE_MAX ||
		    r->queued != waiting_for(r->export)->n)
			handler_fail("%s: %d queued, blockd waits for %d",
			    r->export, r->queued, waiting_for(r->export)->n);
		if (r->pid != 0 &&
		    ((f = fake_by_pid(r->pid)) == NULL ||
			f->state == FAKE_REAPED ||
			strcmp(f->export, r->export) != 0 || r->queued == 0))
			handler_fail("%s: pid %d is no hook of its own",
			    r->export, r->pid);
	}
}

static void
hookd_end(enum handler_end how)
{
	int i;

	if (how != HANDLER_EXITED)
		return;
	for (i = 0; i < nfakes; i++)
		if (fakes[i].state != FAKE_REAPED)
			handler_fail("exited with the %s hook running",
			    fakes[i].export);
	for (i = 0; i < nwaiting; i++)
		if (waiting[i].n > 0)
			handler_fail("exited with %d requests for %s "
				     "unanswered",
			    waiting[i].n, waiting[i].export);
}

static int
signal_event(const struct event_base *base, const struct event *ev, void *arg)
{
	(void)base;
	if (event_get_events(ev) & EV_SIGNAL)
		*(const struct event **)arg = ev;
	return 0;
}

static void
hookd_cleanup(void)
{
	const struct event *sig = NULL;
	int i;

	for (i = 0; i < hook_index.n; i++) {
		output_close(&hook_runs[i]);
		if (hook_runs[i].timer != NULL)
			event_free(hook_runs[i].timer);
	}
	for (i = 0; i < nfakes; i++)
		if (fakes[i].out != -1)
			close(fakes[i].out);
	/* hookd_conf_applied() keeps no pointer to its SIGCHLD event. */
	event_base_foreach_event(child.base, signal_event, &sig);
	if (sig != NULL)
		event_free((struct event *)sig);
	event_base_free(child.base);
	free(child.conf);
	free(child.staging);
	memset(&child, 0, sizeof(child));
}

static const struct handler_target hookd_target = {
	.self = PROC_HOOKD,
	.fatal_ok = hookd_fatal_ok,
	.start = hookd_start,
	.chan_from = hookd_chan_from,
	.world = hookd_world,
	.before = hookd_before,
	.after = hookd_after,
	.sent = hookd_sent,
	.settle = hookd_settle,
	.check = hookd_check,
	.end = hookd_end,
	.cleanup = hookd_cleanup,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return handler_run(&hookd_target, data, size);
}
