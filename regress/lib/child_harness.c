/*
 * The child harness: spawns a child on its fixed channel fds, pushes it a
 * config, reads its messages and its log, and reaps it (child_harness.h).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child_harness.h"
#include "test.h"

#define KIDS_MAX 64

char harness_work[PATH_MAX];
const char *harness_hook_modules; /* hook-modules of the next kid */
char harness_empty[PATH_MAX];

static const char *harness_name = "child";
static char top[PATH_MAX];
static pid_t kids[KIDS_MAX];
static int nkids;
static void (*extra_cleanup)(void);

/* --- plumbing -------------------------------------------------------- */

static void
cleanup(void)
{
	int i;

	for (i = 0; i < nkids; i++)
		if (kids[i] > 0 && kill(kids[i], SIGKILL) == 0)
			waitpid(kids[i], NULL, 0);
	if (extra_cleanup != NULL)
		extra_cleanup();
}

/*
 * Root only: finds the tree at topdir, makes the root-owned work folder
 * build/regress/NAME and the empty chroot in it, and kills at exit every
 * child still running, then calls more_cleanup if it is not NULL.
 */
void
harness_setup(const char *name, const char *topdir, void (*more_cleanup)(void))
{
	char path[PATH_MAX];

	harness_name = name;
	if (getuid() != 0)
		harness_fail("%s tests need root", name);
	if (realpath(topdir, top) == NULL)
		harness_fail("%s: %s", topdir, strerror(errno));
	if ((size_t)snprintf(path, sizeof(path), "%s/build/regress", top) >=
	    sizeof(path))
		harness_fail("%s: path too long", top);
	mkdir(path, 0755);
	if ((size_t)snprintf(harness_work, sizeof(harness_work), "%s/%s", path,
		name) >= sizeof(harness_work) - 64)
		harness_fail("%s: path too long", path);
	mkdir(harness_work, 0755);
	path_of(harness_empty, sizeof(harness_empty), "empty");
	mkdir(harness_empty, 0755);
	if (chown(harness_work, 0, 0) == -1 ||
	    chmod(harness_work, 0755) == -1 ||
	    chown(harness_empty, 0, 0) == -1 ||
	    chmod(harness_empty, 0755) == -1)
		harness_fail("%s: %s", harness_work, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	extra_cleanup = more_cleanup;
	atexit(cleanup);
}

/* The harness itself cannot go on: say so in the output format and stop. */
void
harness_fail(const char *fmt, ...)
{
	char why[512], name[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(name, sizeof(name), "%s_harness", harness_name);
	test_result(name, 0, "%s", why);
	exit(1);
}

long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* harness_work/NAME into buf. */
void
path_of(char *buf, size_t size, const char *name)
{
	if ((size_t)snprintf(buf, size, "%s/%s", harness_work, name) >= size)
		harness_fail("path too long: %s/%s", harness_work, name);
}

/* The whole file, NUL-terminated, or NULL if it is not there. */
char *
read_path(const char *path)
{
	char *buf = NULL;
	size_t len = 0, n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	do {
		if ((buf = realloc(buf, len + 4097)) == NULL)
			harness_fail("realloc");
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* --- the child under test -------------------------------------------- */

/*
 * Starts build/libexec/vmediad/NAME -v the way the parent does: channel
 * to the parent on fd 3, nsib sibling channels on fds 4 and 5, stdin and
 * stdout /dev/null, stderr into k->log.
 */
void
spawn_child(struct kid *k, const char *name, int nsib)
{
	char path[PATH_MAX], logname[64];
	char *argv[] = { (char *)name, "-v", NULL };
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"VMEDIAD_LEAK=from-the-harness", NULL };
	struct rlimit nocore = { 0, 0 };
	int sp[3][2], high[3], errfd, devnull, i;

	if (nkids == KIDS_MAX || nsib < 0 || nsib > 2)
		harness_fail("cannot spawn %s", name);
	memset(k, 0, sizeof(*k));
	for (k->proc = 0; k->proc < PROC_PARENT; k->proc++)
		if (strcmp(msg_proc_name(k->proc), name) == 0)
			break;
	if ((size_t)snprintf(path, sizeof(path), "%s/build/libexec/vmediad/%s",
		top, name) >= sizeof(path))
		harness_fail("path to %s too long", name);
	snprintf(logname, sizeof(logname), "%s-%d.log", name, nkids + 1);
	path_of(k->log, sizeof(k->log), logname);
	for (i = 0; i <= nsib; i++)
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
			sp[i]) == -1)
			harness_fail("socketpair: %s", strerror(errno));
	if ((errfd = open(k->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		 0644)) == -1)
		harness_fail("open %s: %s", k->log, strerror(errno));
	switch (k->pid = fork()) {
	case -1:
		harness_fail("fork: %s", strerror(errno));
	case 0:
		/* Out of the way first: a source may sit on 3, 4 or 5. */
		for (i = 0; i <= nsib; i++)
			if ((high[i] = fcntl(sp[i][1], F_DUPFD_CLOEXEC, 16)) ==
			    -1)
				_exit(127);
		if ((devnull = open("/dev/null", O_RDWR)) == -1 ||
		    dup2(devnull, STDIN_FILENO) == -1 ||
		    dup2(devnull, STDOUT_FILENO) == -1 ||
		    dup2(errfd, STDERR_FILENO) == -1)
			_exit(127);
		for (i = 0; i <= nsib; i++)
			if (dup2(high[i], MSG_CHANNEL_FD + i) == -1)
				_exit(127);
		closefrom(MSG_CHANNEL_FD + nsib + 1);
		setrlimit(RLIMIT_CORE, &nocore);
		execve(path, argv, envp);
		_exit(127);
	}
	kids[nkids++] = k->pid;
	close(errfd);
	k->parent = sp[0][0];
	close(sp[0][1]);
	k->sib[0] = k->sib[1] = -1;
	for (i = 0; i < nsib; i++) {
		k->sib[i] = sp[i + 1][0];
		close(sp[i + 1][1]);
	}
}

/* Closes our ends of a child's channels. */
void
kid_close(struct kid *k)
{
	int i;

	if (k->parent != -1)
		close(k->parent);
	k->parent = -1;
	for (i = 0; i < 2; i++)
		if (k->sib[i] != -1) {
			close(k->sib[i]);
			k->sib[i] = -1;
		}
}

/*
 * The config push of proc_send_conf(): global, exports, end with counts;
 * generation 1 at start, each reload's higher than the last.
 */
void
send_conf(struct kid *k, const struct conf_export *e, int n,
    uint32_t generation)
{
	struct conf_global g;
	struct msg_conf_end end;
	int i;

	memset(&g, 0, sizeof(g));
	snprintf(g.user, sizeof(g.user), "nobody");
	if ((size_t)snprintf(g.chroot, sizeof(g.chroot), "%s", harness_empty) >=
	    sizeof(g.chroot))
		harness_fail("chroot path too long: %s", harness_empty);
	g.uid = 65534; /* the parent resolves the user */
	g.gid = 65534;
	g.auth = CONF_AUTH_NONE;
	/* What conf_check fills in as defaults in the parent. */
	g.max_connections = CONF_DEFAULT_MAX_CONNECTIONS;
	g.sessions_per_user = CONF_DEFAULT_SESSIONS_PER_USER;
	g.request_timeout = CONF_DEFAULT_REQUEST_TIMEOUT;
	g.handshake_timeout = CONF_DEFAULT_HANDSHAKE_TIMEOUT;
	g.idle_timeout = CONF_DEFAULT_IDLE_TIMEOUT;
	g.login_idle = CONF_DEFAULT_LOGIN_IDLE;
	g.login_lifetime = CONF_DEFAULT_LOGIN_LIFETIME;
	g.logins_per_user = CONF_DEFAULT_LOGINS_PER_USER;
	g.max_header_size = CONF_DEFAULT_MAX_HEADER_SIZE;
	g.max_headers = CONF_DEFAULT_MAX_HEADERS;
	g.nbd_per_user = CONF_DEFAULT_NBD_PER_USER;
	if (harness_hook_modules != NULL)
		snprintf(g.hook_modules, sizeof(g.hook_modules), "%s",
		    harness_hook_modules);
	if (msg_send(k->parent, MSG_CONF_GLOBAL, &g, sizeof(g), -1) == -1)
		harness_fail("send CONF_GLOBAL: %s", strerror(errno));
	for (i = 0; i < n; i++)
		if (msg_send(k->parent, MSG_CONF_EXPORT, &e[i], sizeof(e[i]),
			-1) == -1)
			harness_fail("send CONF_EXPORT: %s", strerror(errno));
	end.generation = generation;
	end.nexports = n;
	end.nusers = 0;
	if (msg_send(k->parent, MSG_CONF_END, &end, sizeof(end), -1) == -1)
		harness_fail("send CONF_END: %s", strerror(errno));
}

/*
 * Spawns NAME with nsib sibling channels, pushes it the n exports e and
 * pings it: 1 once it answers.
 */
int
kid_up(struct kid *k, const char *name, int nsib, const struct conf_export *e,
    int n)
{
	spawn_child(k, name, nsib);
	send_conf(k, e, n, 1);
	return ping(k);
}

/*
 * kid_up() for the one test named test: if the child does not come up,
 * that test fails and the child's channels are closed.
 */
int
kid_up_for(const char *test, struct kid *k, const char *name, int nsib,
    const struct conf_export *e, int n)
{
	if (kid_up(k, name, nsib, e, n))
		return 1;
	test_result(test, 0, "%s did not come up: see %s", name, k->log);
	kid_close(k);
	return 0;
}

int
ping(struct kid *k)
{
	struct msg_ping p = { 4242 };
	struct msg m;

	if (msg_send(k->parent, MSG_PING, &p, sizeof(p), -1) == -1)
		return 0;
	return expect_msg(k, k->parent, MSG_PONG, WAIT_MS, &m) &&
	    m.u.ping.seq == 4242;
}

/* Whom we play on one of the child's channels: its parent or a sibling. */
static enum msg_proc
played_on(const struct kid *k, int fd)
{
	int i;

	for (i = 0; i < 2; i++)
		if (fd == k->sib[i] && msg_sibling(k->proc, i) != PROC_NONE)
			return msg_sibling(k->proc, i);
	return PROC_PARENT;
}

/*
 * Waits up to ms for one message of the given type on fd, one of k's
 * channels, checked as the contract says: from k to whom we play there.
 * Returns 1 with m filled, 0 (and says why on stderr) on a timeout, EOF,
 * a message that breaks the contract, or any other type.
 */
int
expect_msg(const struct kid *k, int fd, uint32_t type, int ms, struct msg *m)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	long deadline = now_ms() + ms, left;
	enum msg_proc self = played_on(k, fd);
	const char *why;
	int r;

	for (;;) {
		if ((left = deadline - now_ms()) < 0) {
			fprintf(stderr, "no %s within %d ms\n",
			    msg_type_name(type), ms);
			return 0;
		}
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR) {
			fprintf(stderr, "poll: %s\n", strerror(errno));
			return 0;
		}
		r = msg_recv(fd, self, k->proc, m, &why);
		if (r == 0) {
			fprintf(stderr, "channel closed waiting for %s\n",
			    msg_type_name(type));
			return 0;
		}
		if (r == -1 && why != NULL) {
			fprintf(stderr, "protocol error from %s: %s\n",
			    msg_proc_name(k->proc), why);
			return 0;
		}
		if (r == 1)
			break;
	}
	if (m->fd != -1)
		close(m->fd);
	if (m->type != type) {
		fprintf(stderr, "got %s, wanted %s\n", msg_type_name(m->type),
		    msg_type_name(type));
		return 0;
	}
	return 1;
}

/* Nothing arrives on fd within ms. */
int
expect_silence(int fd, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	return poll(&pfd, 1, ms) == 0;
}

/* Waits up to ms for the child to exit; 1 with its status. */
int
wait_exit(struct kid *k, int ms, int *status)
{
	long deadline = now_ms() + ms;
	int i;

	while (now_ms() < deadline) {
		if (waitpid(k->pid, status, WNOHANG) == k->pid) {
			for (i = 0; i < nkids; i++)
				if (kids[i] == k->pid)
					kids[i] = 0;
			k->pid = 0;
			return 1;
		}
		sleep_ms(20);
	}
	fprintf(stderr, "pid %d still running after %d ms\n", k->pid, ms);
	return 0;
}

static int
exited_nonzero(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) != 0;
}

/* Lines of the child's log that contain needle. */
int
log_count(const struct kid *k, const char *needle)
{
	char *text, *line, *rest;
	int n = 0;

	if ((text = read_path(k->log)) == NULL)
		return 0;
	for (rest = text; (line = strsep(&rest, "\n")) != NULL;)
		n += strstr(line, needle) != NULL;
	free(text);
	return n;
}

/* A field of /proc/PID/status, e.g. "Seccomp", into buf ("" if none). */
const char *
proc_status(pid_t pid, const char *field, char *buf, size_t size)
{
	char path[64], line[256];
	size_t len = strlen(field);
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return buf;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			snprintf(buf, size, "%s",
			    line + len + 1 + strspn(line + len + 1, " \t"));
			buf[strcspn(buf, "\n")] = '\0';
			break;
		}
	fclose(f);
	return buf;
}

/* --- tests every child passes ---------------------------------------- */

/* The test passes if the field of the child's /proc status reads want. */
void
test_proc_status(struct kid *k, const char *test, const char *field,
    const char *want)
{
	char buf[64];

	proc_status(k->pid, field, buf, sizeof(buf));
	test_result(test, strcmp(buf, want) == 0, "%s %s", field, buf);
}

/*
 * The child must die of what it was just sent: a non-zero exit and the
 * line logged once. Closes its channels.
 */
void
expect_fatal(const char *test, struct kid *k, const char *logged)
{
	int status = 0, exited;

	exited = wait_exit(k, EXIT_MS, &status);
	test_result(test,
	    exited && exited_nonzero(status) && log_count(k, logged) == 1,
	    "%s (status %#x), see %s", exited ? "exited" : "still running",
	    status, k->log);
	kid_close(k);
}

/* NAME_shutdown_exits_0: SHUTDOWN from the parent, then exit status 0. */
void
test_shutdown(struct kid *k, const char *name)
{
	char test[64];
	int status = 0, exited;

	snprintf(test, sizeof(test), "%s_shutdown_exits_0", name);
	msg_send(k->parent, MSG_SHUTDOWN, NULL, 0, -1);
	exited = wait_exit(k, EXIT_MS, &status);
	test_result(test,
	    exited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s (status %#x)", exited ? "exited" : "still running", status);
	kid_close(k);
}

/* NAME_exits_when_parent_channel_closes: a fresh child, exit status 0. */
void
test_parent_gone(const char *name, int nsib, const struct conf_export *e, int n)
{
	struct kid k;
	char test[64];
	int status = 0, exited;

	snprintf(test, sizeof(test), "%s_exits_when_parent_channel_closes",
	    name);
	if (!kid_up_for(test, &k, name, nsib, e, n))
		return;
	close(k.parent);
	k.parent = -1;
	exited = wait_exit(&k, EXIT_MS, &status);
	test_result(test,
	    exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		log_count(&k, "parent gone") == 1,
	    "%s (status %#x), see %s", exited ? "exited" : "still running",
	    status, k.log);
	kid_close(&k);
}

/*
 * NAME_full_queue_to_parent_is_fatal: pings it answers while we read no
 * answer. Past the bound (CHAN_QUEUE_MSGS) of what it may hold unsent it
 * must die saying so, not wait for us; then our sends meet a closed end.
 */
void
test_full_queue(const char *name, int nsib, const struct conf_export *e, int n)
{
	struct pollfd pfd;
	struct msg_ping p;
	struct kid k;
	char test[64], logged[64];
	long deadline;
	int sent = 0;

	snprintf(test, sizeof(test), "%s_full_queue_to_parent_is_fatal", name);
	snprintf(logged, sizeof(logged), "%s: channel to parent full", name);
	if (!kid_up_for(test, &k, name, nsib, e, n))
		return;
	deadline = now_ms() + WAIT_MS;
	for (p.seq = 1; now_ms() < deadline;) {
		if (msg_write(k.parent, MSG_PING, &p, sizeof(p), -1,
			MSG_DONTWAIT) == 0) {
			p.seq++;
			sent++;
			continue;
		}
		if (errno != EAGAIN)
			break; /* EPIPE: it is gone */
		pfd.fd = k.parent;
		pfd.events = POLLOUT;
		poll(&pfd, 1, 100);
	}
	fprintf(stderr, "%s: %d pings sent, none of the answers read\n", name,
	    sent);
	expect_fatal(test, &k, logged);
}
