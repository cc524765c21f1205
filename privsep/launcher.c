/*
 * The launcher process. vmediad's own filter forbids fork and exec
 * (vmediad_sandbox.c), so nbdkit cannot be started by the sandboxed
 * parent: when an export has a source, the parent forks this process
 * first, before its own sandbox and before anything else is open
 * (launcher_parent.c). The launcher keeps root's uid with only the
 * capabilities starting an unprivileged nbdkit takes
 * (launcher_sandbox.c), and does one thing: asked SOURCE_START with an
 * export, it prepares the source's private folder and starts nbdkit
 * (privsep/source.c), answers SOURCE_STARTED with the parent's end of
 * nbdkit's socketpair, and SOURCE_EXITED when that nbdkit is reaped or
 * could not start. When its channel closes the launcher stops every
 * nbdkit, removes their folders and exits.
 */
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "launcher.h"
#include "log.h"
#include "source.h"
#include "vmediad.h"

#define LAUNCHER_RUNDIR "/run" /* where its folder of folders is made */

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

void
launcher_main(const struct conf_global *g)
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
