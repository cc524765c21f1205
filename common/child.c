/*
 * A child's life: check it was started by vmediad, take its config over
 * the channel, enter its sandbox, then answer the parent until told to
 * stop or the parent is gone.
 */
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "log.h"

static void
child_usage(const char *name)
{
	fprintf(stderr,
	    "usage: %s [-Sv]\n"
	    "%s is started by vmediad(8), which passes its channel on fd %d;"
	    " -S prints its sandbox.\n",
	    name, name, MSG_CHANNEL_FD);
	exit(1);
}

static void
child_check_channel(const char *name, int fd)
{
	int type;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr,
		    "%s: must be started by vmediad (no channel on fd %d)\n",
		    name, fd);
		exit(1);
	}
}

/* The table checked each part; what is left is their order and count. */
static void
conf_staging_add(struct child *c, struct msg *m)
{
	struct conf *s = c->staging;

	if (s == NULL)
		fatalx("%s before CONF_GLOBAL from parent",
		    msg_type_name(m->type));
	if (m->type == MSG_CONF_EXPORT) {
		if (s->nexports == CONF_EXPORT_MAX)
			fatalx("too many CONF_EXPORT from parent");
		s->exports[s->nexports++] = m->u.export;
	} else {
		if (s->nusers == CONF_USER_MAX)
			fatalx("too many CONF_USER from parent");
		s->users[s->nusers++] = m->u.user;
	}
}

#ifdef VMEDIAD_TEST
static void
census_field(char *line, size_t size, const char *name, const char *value)
{
	size_t len = strlen(line);

	if (value[0] != '\0' && len < size)
		snprintf(line + len, size - len, " %s", name);
}

/*
 * Test builds: which parts of the config reached us, for regress/daemon
 * to check that a child gets only what it needs (proc_send_conf).
 */
static void
child_conf_census(const struct child *c)
{
	const struct conf_global *g = &c->conf->global;
	const struct conf_export *e;
	char line[1024];
	size_t len;
	int i;

	snprintf(line, sizeof(line), "listen %d;", g->nlisten);
	census_field(line, sizeof(line), "user", g->user);
	census_field(line, sizeof(line), "chroot", g->chroot);
	census_field(line, sizeof(line), "web", g->web);
	census_field(line, sizeof(line), "audit", g->audit);
	census_field(line, sizeof(line), "tls-certificate", g->tls_certificate);
	census_field(line, sizeof(line), "tls-key", g->tls_key);
	census_field(line, sizeof(line), "origins", g->origins);
	census_field(line, sizeof(line), "hook-modules", g->hook_modules);
	for (i = 0; i < c->conf->nexports; i++) {
		e = &c->conf->exports[i];
		len = strlen(line);
		snprintf(line + len, sizeof(line) - len,
		    "; export %s:", e->name);
		census_field(line, sizeof(line), "description", e->description);
		census_field(line, sizeof(line), "device", e->device);
		census_field(line, sizeof(line), "socket", e->socket);
		census_field(line, sizeof(line), "hook", e->hook);
		census_field(line, sizeof(line), "allow", e->allow);
		census_field(line, sizeof(line), "source", e->source);
		census_field(line, sizeof(line), "source-ca", e->source_ca);
		census_field(line, sizeof(line), "source-certificate",
		    e->source_certificate);
		census_field(line, sizeof(line), "source-key", e->source_key);
		census_field(line, sizeof(line), "source-psk", e->source_psk);
		census_field(line, sizeof(line), "source-credentials",
		    e->source_credentials);
	}
	log_info("test: received %s; users %d", line, c->conf->nusers);
}
#endif

/* Handles the config messages; returns 1 when a config took effect. */
static int
child_conf_msg(struct child *c, struct msg *m)
{
	struct conf *old;

	switch (m->type) {
	case MSG_CONF_GLOBAL:
		if (c->staging != NULL)
			fatalx("CONF_GLOBAL from parent in the middle of a "
			       "push");
		if ((c->staging = calloc(1, sizeof(*c->staging))) == NULL)
			fatal("calloc");
		c->staging->global = m->u.global;
		return 0;
	case MSG_CONF_EXPORT:
	case MSG_CONF_USER:
		conf_staging_add(c, m);
		return 0;
	case MSG_CONF_END:
		if (c->staging == NULL ||
		    m->u.conf_end.nexports != c->staging->nexports ||
		    m->u.conf_end.nusers != c->staging->nusers)
			fatalx("incomplete config from parent");
		/* A reload is newer than what it replaces, never older. */
		if (c->conf != NULL &&
		    m->u.conf_end.generation <= c->generation)
			fatalx("config %u from parent after config %u",
			    m->u.conf_end.generation, c->generation);
		old = c->conf;
		c->conf = c->staging;
		c->staging = NULL;
		c->generation = m->u.conf_end.generation;
		log_debug("config %u: %d exports, %d users", c->generation,
		    c->conf->nexports, c->conf->nusers);
#ifdef VMEDIAD_TEST
		child_conf_census(c);
#endif
		if (c->role->conf_applied != NULL)
			c->role->conf_applied(c, old);
		if (old != NULL)
			explicit_bzero(old, sizeof(*old)); /* users' keys */
		free(old);
		return 1;
	default:
		fatalx("unexpected %s from parent before the config",
		    msg_type_name(m->type));
	}
}

#ifdef VMEDIAD_TEST
/* Test builds only: prove the allow-list kills on a forbidden call. */
static void
child_forbidden_syscall(struct child *c)
{
	log_warnx("test: calling ptrace, which no allow-list has");
	syscall(SYS_ptrace, 0, 0, 0, 0);
	fatalx("%s: ptrace was allowed; the sandbox is broken", c->name);
}
#endif

/* What is still queued goes out first: the loop will not run again. */
void
child_exit(struct child *c)
{
	int i;

	log_debug("exiting");
	chan_flush(&c->chan);
	for (i = 0; i < 2; i++)
		chan_flush(&c->sib[i]);
	exit(0);
}

static void
child_stop(struct child *c, const char *why)
{
	if (c->stopping)
		return;
	c->stopping = 1;
	log_debug("%s", why);
	if (c->role->stop == NULL || c->role->stop(c))
		child_exit(c);
}

static void
child_dispatch(struct chan *chan, struct msg *m, void *arg)
{
	struct child *c = arg;
	struct msg_ping pong;

	(void)chan;
	switch (m->type) {
	case MSG_CONF_GLOBAL:
	case MSG_CONF_EXPORT:
	case MSG_CONF_USER:
	case MSG_CONF_END:
		child_conf_msg(c, m);
		break;
	case MSG_PING:
		pong = m->u.ping;
		chan_send(&c->chan, MSG_PONG, &pong, sizeof(pong), -1);
		break;
	case MSG_SHUTDOWN:
		child_stop(c, "told to stop");
		break;
#ifdef VMEDIAD_TEST
	case MSG_TEST_SYSCALL:
		child_forbidden_syscall(c);
		break;
#endif
	default:
		if (c->role->dispatch == NULL ||
		    !c->role->dispatch(c, &c->chan, m))
			fatalx("%s from parent allowed but not handled",
			    msg_type_name(m->type));
		break;
	}
}

static void
sibling_dispatch(struct chan *chan, struct msg *m, void *arg)
{
	struct child *c = arg;

	if (!c->role->dispatch(c, chan, m))
		fatalx("%s from %s allowed but not handled",
		    msg_type_name(m->type), msg_proc_name(chan->peer));
}

/* The parent sees the sibling die and tells us to stop; wait for that. */
static void
sibling_closed(struct chan *chan, void *arg)
{
	(void)arg;
	log_debug("%s closed its channel", msg_proc_name(chan->peer));
}

static void
child_closed(struct chan *chan, void *arg)
{
	(void)chan;
	child_stop(arg, "parent gone");
}

/* Blocks until the first whole config has arrived. */
static void
child_first_conf(struct child *c)
{
	struct pollfd pfd = { MSG_CHANNEL_FD, POLLIN, 0 };
	struct msg m;
	const char *why;
	int r;

	for (;;) {
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		r = msg_recv(MSG_CHANNEL_FD, c->role->self, PROC_PARENT, &m,
		    &why);
		/*
		 * Nothing runs yet that a role's stop would wind down, and
		 * its loop, which would finish the stop, has not started.
		 */
		if (r == 0) {
			log_debug("parent gone before the config");
			child_exit(c);
		}
		if (r == -1 && why != NULL)
			fatalx("protocol error from parent: %s", why);
		if (r == 1 && child_conf_msg(c, &m))
			return;
	}
}

/*
 * Start-up up to the sandbox: flags, the channel, the config. The caller
 * may then prepare what must be opened before the sandbox closes.
 */
void
child_start(struct child *c, const struct child_role *role, int argc,
    char **argv)
{
	int ch;

	memset(c, 0, sizeof(*c));
	c->role = role;
	c->name = msg_proc_name(role->self);
	c->chan.fd = c->sib[0].fd = c->sib[1].fd = -1;
	while ((ch = getopt(argc, argv, "Sv")) != -1) {
		switch (ch) {
		case 'S':
			sandbox_print(role->policy);
			exit(0);
		case 'v':
			c->verbose = 1;
			break;
		default:
			child_usage(c->name);
		}
	}
	if (optind != argc)
		child_usage(c->name);
	child_check_channel(c->name, MSG_CHANNEL_FD);
	for (ch = 0; ch < 2; ch++)
		if (msg_sibling(role->self, ch) != PROC_NONE)
			child_check_channel(c->name, MSG_SIBLING_FD + ch);
	log_init(c->name, 1, c->verbose);
	/* The parent decides when we stop; a terminal's ^C is its to handle. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if ((c->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	/* glibc reads the time zone on first use: now, not in the chroot. */
	tzset();
	child_first_conf(c);
}

/*
 * The channels in the loop: the parent's, whose messages the common code
 * handles first, and the siblings', which go to the role. The handler
 * fuzzers (regress/fuzz) deliver through these very callbacks.
 */
void
child_channels(struct child *c)
{
	enum msg_proc self = c->role->self;
	int i;

	chan_init(&c->chan, c->base, MSG_CHANNEL_FD, self, PROC_PARENT,
	    child_dispatch, child_closed, c);
	for (i = 0; i < 2; i++)
		if (msg_sibling(self, i) != PROC_NONE)
			chan_init(&c->sib[i], c->base, MSG_SIBLING_FD + i, self,
			    msg_sibling(self, i), sibling_dispatch,
			    sibling_closed, c);
}

/* Enters the sandbox and serves the channels until told to stop. */
void
child_run(struct child *c)
{
	sandbox_enter(c->role->policy, &c->conf->global);
	child_channels(c);
	event_base_dispatch(c->base);
	if (c->stopping)
		child_exit(c);
	fatalx("event loop ended");
}
