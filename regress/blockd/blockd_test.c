/*
 * The real blockd, sandboxed, under a harness that plays its parent (fd 3),
 * sessiond (fd 4) and hookd (fd 5): what it refuses, says, and closes.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <linux/netlink.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child_harness.h"
#include "nbd_netlink.h"
#include "nbd_proto.h"
#include "test.h"

#define QUIET_MS 300 /* "no answer" means none within this */
#define MAX_SIZE_CD (UINT64_C(1) << 20)

/* The fd handed over with an ATTACH, and how to see blockd closed it. */
enum probe_kind {
	PROBE_STREAM, /* connected AF_UNIX stream: the real thing */
	PROBE_PIPE,
	PROBE_DGRAM,	 /* connected AF_UNIX datagram socket */
	PROBE_LISTENING, /* AF_UNIX stream, listening, no peer */
};

struct probe {
	enum probe_kind kind;
	int give;		 /* goes to blockd; ours closed once sent */
	int keep;		 /* our end, -1 for PROBE_LISTENING */
	struct sockaddr_un addr; /* PROBE_LISTENING: abstract name */
	socklen_t addrlen;
};

static uint32_t next_session = 100;
static struct conf_export exports[3];
static int nexports;

/* --- the child under test -------------------------------------------- */

/* The child's open fds, "N -> target" a line, in fd order. */
static char *
fd_table(pid_t pid)
{
	struct dirent **names;
	char dir[64], path[64 + sizeof(names[0]->d_name)], target[PATH_MAX];
	char *buf;
	size_t len = 0, size = 4096;
	ssize_t n;
	int i, count;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	if ((count = scandir(dir, &names, NULL, versionsort)) == -1)
		return strdup("(unreadable)");
	if ((buf = calloc(1, size)) == NULL)
		harness_fail("calloc");
	for (i = 0; i < count; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir,
			    names[i]->d_name);
			if ((n = readlink(path, target, sizeof(target) - 1)) ==
			    -1)
				n = 0;
			target[n] = '\0';
			len += snprintf(buf + len, size - len, "%s -> %s\n",
			    names[i]->d_name, target);
			if (len >= size)
				len = size - 1;
		}
		free(names[i]);
	}
	free(names);
	return buf;
}

/* --- the fd that goes with an ATTACH --------------------------------- */

static const char *
probe_name(enum probe_kind kind)
{
	static const char *const names[] = { "stream socket", "pipe",
		"datagram socket", "listening socket" };

	return names[kind];
}

static void
probe_open(struct probe *p, enum probe_kind kind)
{
	static int count;
	int sv[2];

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->keep = -1;
	switch (kind) {
	case PROBE_STREAM:
	case PROBE_DGRAM:
		if (socketpair(AF_UNIX,
			(kind == PROBE_STREAM ? SOCK_STREAM : SOCK_DGRAM) |
			    SOCK_CLOEXEC,
			0, sv) == -1)
			harness_fail("socketpair: %s", strerror(errno));
		p->give = sv[0];
		p->keep = sv[1];
		break;
	case PROBE_PIPE:
		if (pipe2(sv, O_CLOEXEC) == -1)
			harness_fail("pipe: %s", strerror(errno));
		p->give = sv[1];
		p->keep = sv[0];
		break;
	case PROBE_LISTENING:
		if ((p->give = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
			 0)) == -1)
			harness_fail("socket: %s", strerror(errno));
		p->addr.sun_family = AF_UNIX;
		/* Abstract: sun_path[0] stays NUL. */
		snprintf(p->addr.sun_path + 1, sizeof(p->addr.sun_path) - 1,
		    "vmediad-regress-blockd-%d-%d", getpid(), ++count);
		p->addrlen = offsetof(struct sockaddr_un, sun_path) + 1 +
		    strlen(p->addr.sun_path + 1);
		if (bind(p->give, (struct sockaddr *)&p->addr, p->addrlen) ==
			-1 ||
		    listen(p->give, 4) == -1)
			harness_fail("bind/listen: %s", strerror(errno));
		break;
	}
}

/* Is the fd we gave away closed everywhere, within ms? */
static int
probe_closed(struct probe *p, int ms)
{
	struct pollfd pfd = { p->keep, POLLIN, 0 };
	long deadline = now_ms() + ms;
	char c;
	int s, r;

	switch (p->kind) {
	case PROBE_STREAM:
	case PROBE_PIPE:
		/* EOF once the last copy of the other end is gone. */
		return poll(&pfd, 1, ms) == 1 && read(p->keep, &c, 1) == 0;
	case PROBE_DGRAM:
		/* A datagram socket sees no EOF; its dead peer refuses. */
		do {
			if (send(p->keep, "x", 1, MSG_DONTWAIT) == -1 &&
			    errno == ECONNREFUSED)
				return 1;
			sleep_ms(20);
		} while (now_ms() < deadline);
		return 0;
	case PROBE_LISTENING:
		/* Nobody listens on the name once the socket is gone. */
		do {
			if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK,
				 0)) == -1)
				harness_fail("socket: %s", strerror(errno));
			r = connect(s, (struct sockaddr *)&p->addr, p->addrlen);
			close(s);
			if (r == -1 && errno == ECONNREFUSED)
				return 1;
			sleep_ms(20);
		} while (now_ms() < deadline);
		return 0;
	}
	return 0;
}

static void
probe_close(struct probe *p)
{
	if (p->give != -1)
		close(p->give);
	if (p->keep != -1)
		close(p->keep);
	p->give = p->keep = -1;
}

/* --- talking to blockd as sessiond ----------------------------------- */

static void
export_init(struct conf_export *e, const char *name, const char *device,
    int read_only, uint64_t max_size)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	if (device != NULL)
		snprintf(e->device, sizeof(e->device), "%s", device);
	else
		snprintf(e->socket, sizeof(e->socket), "%s/%s.sock", "/run",
		    name);
	e->read_only = read_only;
	e->max_size = max_size;
	e->timeout = 30;
}

static void
make_exports(void)
{
	struct conf_export *e = exports;

	export_init(e++, "cd", "/dev/nbd0", 1, MAX_SIZE_CD);
	export_init(e++, "rw", "/dev/nbd1", 0, CONF_DEFAULT_MAX_SIZE);
	export_init(e++, "sock", NULL, 0, CONF_DEFAULT_MAX_SIZE);
	nexports = e - exports;
}

static void
attach_init(struct msg_attach *a, const char *export, uint64_t size,
    uint32_t flags)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->export, sizeof(a->export), "%s", export);
	snprintf(a->user, sizeof(a->user), "alice");
	a->size = size;
	a->session = ++next_session;
	a->flags = flags;
}

/*
 * Hands blockd an ATTACH with the probe's fd (our copy closed once sent)
 * and waits for the answer: 1 with res filled if it names our session.
 */
static int
attach(struct kid *k, const char *export, uint64_t size, uint32_t flags,
    struct probe *p, struct msg_attach_result *res)
{
	struct msg_attach a;
	struct msg m;

	attach_init(&a, export, size, flags);
	if (msg_send(k->sib[0], MSG_ATTACH, &a, sizeof(a), p->give) == -1)
		harness_fail("send ATTACH: %s", strerror(errno));
	close(p->give);
	p->give = -1;
	if (!expect_msg(k, k->sib[0], MSG_ATTACHED, WAIT_MS, &m))
		return 0;
	*res = m.u.attached;
	if (res->session != a.session || strcmp(res->export, export) != 0) {
		fprintf(stderr, "ATTACHED for %.32s session %u, wanted %s %u\n",
		    res->export, res->session, export, a.session);
		return 0;
	}
	fprintf(stderr, "ATTACHED %s: ok=%d device \"%s\" reason \"%s\"\n",
	    export, res->ok, res->device, res->reason);
	return 1;
}

/*
 * At start blockd asks for the stop hook of every device export (which
 * have one is hookd's to know): answer each as hookd does for an export
 * without a hook. 1 if exactly cd and rw came, in config order.
 */
static int
answer_start_hooks(struct kid *k)
{
	static const char *const want[] = { "cd", "rw" };
	struct msg_hook_done done;
	struct msg m;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!expect_msg(k, k->sib[1], MSG_HOOK_RUN, WAIT_MS, &m))
			return 0;
		if (strcmp(m.u.hook.export, want[i]) != 0 ||
		    m.u.hook.action != MSG_HOOK_STOP || m.u.hook.session != 0) {
			fprintf(stderr,
			    "HOOK_RUN %s action %d session %u, "
			    "wanted %s stop 0\n",
			    m.u.hook.export, m.u.hook.action, m.u.hook.session,
			    want[i]);
			return 0;
		}
		memset(&done, 0, sizeof(done));
		snprintf(done.export, sizeof(done.export), "%s", want[i]);
		snprintf(done.reason, sizeof(done.reason),
		    "no hook configured");
		done.action = MSG_HOOK_STOP;
		done.ok = 1;
		msg_send(k->sib[1], MSG_HOOK_DONE, &done, sizeof(done), -1);
	}
	return expect_silence(k->sib[1], QUIET_MS);
}

/* --- tests ----------------------------------------------------------- */

static void
test_sandbox(struct kid *k)
{
	char uid[64], gid[64], link[64], root[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/root", k->pid);
	if ((n = readlink(link, root, sizeof(root) - 1)) == -1)
		n = 0;
	root[n] = '\0';
	proc_status(k->pid, "Uid", uid, sizeof(uid));
	proc_status(k->pid, "Gid", gid, sizeof(gid));
	test_result("blockd_runs_as_uid_and_gid_65534",
	    strcmp(uid, "65534\t65534\t65534\t65534") == 0 &&
		strcmp(gid, "65534\t65534\t65534\t65534") == 0,
	    "Uid %s Gid %s", uid, gid);
	test_result("blockd_chrooted_into_empty_dir",
	    strcmp(root, harness_empty) == 0, "root %s", root);
	test_proc_status(k, "blockd_holds_exactly_cap_sys_admin", "CapEff",
	    "0000000000200000");
	test_proc_status(k, "blockd_seccomp_filter_on", "Seccomp", "2");
	test_proc_status(k, "blockd_no_new_privs", "NoNewPrivs", "1");
}

/*
 * One ATTACH that blockd must refuse with a reason holding want (and
 * want2 if not NULL), and then the fd it was given must be closed.
 */
static void
test_refusal(struct kid *k, const char *name, const char *export, uint64_t size,
    uint32_t flags, enum probe_kind kind, const char *want, const char *want2)
{
	struct msg_attach_result res;
	struct probe p;
	char closed[128];
	int got;

	probe_open(&p, kind);
	if (probe_closed(&p, 0)) {
		test_result(name, 0, "the %s looks closed before the handover",
		    probe_name(kind));
		probe_close(&p);
		return;
	}
	got = attach(k, export, size, flags, &p, &res);
	test_result(name,
	    got && res.ok == 0 && res.device[0] == '\0' &&
		strstr(res.reason, want) != NULL &&
		(want2 == NULL || strstr(res.reason, want2) != NULL),
	    "ok=%d reason \"%s\"", got ? res.ok : -1, got ? res.reason : "");
	snprintf(closed, sizeof(closed), "%s_fd_closed", name);
	test_result(closed, probe_closed(&p, 2000),
	    "blockd still holds the %s it was given", probe_name(kind));
	probe_close(&p);
}

static void
test_refusals(struct kid *k)
{
	const uint32_t ro = NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY;

	test_refusal(k, "attach_unknown_export_refused", "nosuch", 4096, ro,
	    PROBE_STREAM, "no such export", NULL);
	test_refusal(k, "attach_socket_export_refused", "sock", 4096, ro,
	    PROBE_STREAM, "not a device export", NULL);
	test_refusal(k, "attach_size_over_max_size_refused", "cd",
	    MAX_SIZE_CD + 1, ro, PROBE_STREAM, "size out of range", NULL);
	test_refusal(k, "attach_read_only_export_offered_writable_refused",
	    "cd", 4096, NBD_TFLAG_HAS_FLAGS, PROBE_STREAM,
	    "read-only export offered as writable", NULL);
	test_refusal(k, "attach_pipe_refused", "cd", 4096, ro, PROBE_PIPE,
	    "not an AF_UNIX socket", NULL);
	test_refusal(k, "attach_datagram_socket_refused", "cd", 4096, ro,
	    PROBE_DGRAM, "not a stream socket", NULL);
	test_refusal(k, "attach_unconnected_socket_refused", "cd", 4096, ro,
	    PROBE_LISTENING, "socket not connected", NULL);
	/* Every check passed: only the kernel's missing nbd driver is left. */
	test_refusal(k, "attach_valid_request_fails_without_nbd_family", "cd",
	    4096, ro, PROBE_STREAM, "/dev/nbd0", "No such file or directory");
	test_refusal(k, "attach_size_equal_max_size_passes_checks", "cd",
	    MAX_SIZE_CD, ro, PROBE_STREAM, "connect /dev/nbd0: ", NULL);
	test_refusal(k, "attach_writable_export_passes_checks", "rw", 4096,
	    NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH | NBD_TFLAG_SEND_TRIM,
	    PROBE_STREAM, "connect /dev/nbd1: ", NULL);
	test_result("attach_refusals_logged_with_reason",
	    log_count(k,
		"blockd: export nosuch: attach refused: no such export") == 1 &&
		log_count(k,
		    "blockd: export cd: attach refused: size out of "
		    "range") == 1 &&
		log_count(k,
		    "blockd: export cd: attach refused: socket not "
		    "connected") == 1 &&
		log_count(k,
		    "blockd: export cd: attach refused: connect "
		    "/dev/nbd0: No such file or directory") == 2,
	    "see %s", k->log);
}

/* Messages blockd must take without an answer and without dying. */
static void
test_ignored(struct kid *k)
{
	struct msg_detach det;
	struct msg_hook_done done;

	memset(&det, 0, sizeof(det));
	snprintf(det.export, sizeof(det.export), "cd");
	det.session = 999999;
	msg_send(k->sib[0], MSG_DETACH, &det, sizeof(det), -1);
	test_result("detach_of_unknown_session_not_answered",
	    expect_silence(k->sib[0], QUIET_MS) &&
		expect_silence(k->sib[1], QUIET_MS),
	    "blockd answered");
	test_result("blockd_answers_ping_after_unknown_detach", ping(k),
	    "see %s", k->log);

	memset(&done, 0, sizeof(done));
	snprintf(done.export, sizeof(done.export), "cd");
	snprintf(done.reason, sizeof(done.reason), "ok");
	done.session = 999999;
	done.action = MSG_HOOK_START;
	done.ok = 1;
	msg_send(k->sib[1], MSG_HOOK_DONE, &done, sizeof(done), -1);
	test_result("hook_done_for_unknown_session_ignored",
	    expect_silence(k->sib[0], QUIET_MS) && ping(k), "see %s", k->log);
}

/*
 * A fresh blockd that must die of one message on one channel: the parent
 * (chan -1), sessiond (0) or hookd (1), with a probe socket if with_fd.
 */
static void
test_fatal(const char *name, int chan, uint32_t type, const void *payload,
    size_t len, int with_fd, const char *logged)
{
	struct probe p;
	struct kid k;

	if (!kid_up_for(name, &k, "blockd", 2, exports, nexports))
		return;
	probe_open(&p, PROBE_STREAM);
	msg_send(chan == -1 ? k.parent : k.sib[chan], type, payload, len,
	    with_fd ? p.give : -1);
	expect_fatal(name, &k, logged);
	probe_close(&p);
}

/* An ATTACH that passes every check of the table. */
static void
attach_good(struct msg_attach *a)
{
	attach_init(a, "cd", 4096, NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY);
}

static void
test_malformed_attach(void)
{
	struct msg_attach a;

	attach_good(&a);
	test_fatal("attach_without_fd_is_fatal", 0, MSG_ATTACH, &a, sizeof(a),
	    0, "blockd: protocol error from sessiond: fd missing");
	test_fatal("attach_from_hookd_channel_is_fatal", 1, MSG_ATTACH, &a,
	    sizeof(a), 1,
	    "blockd: protocol error from hookd: ATTACH not "
	    "allowed from hookd to blockd");
	test_fatal("attach_from_parent_channel_is_fatal", -1, MSG_ATTACH, &a,
	    sizeof(a), 1,
	    "blockd: protocol error from parent: ATTACH not "
	    "allowed from parent to blockd");

	memset(a.export, 'A', sizeof(a.export));
	test_fatal("attach_with_unterminated_export_is_fatal", 0, MSG_ATTACH,
	    &a, sizeof(a), 1,
	    "blockd: protocol error from sessiond: ATTACH: "
	    "export is not a valid name");
	attach_good(&a);
	snprintf(a.export, sizeof(a.export), "-cd");
	test_fatal("attach_with_export_outside_name_rules_is_fatal", 0,
	    MSG_ATTACH, &a, sizeof(a), 1,
	    "blockd: protocol error from "
	    "sessiond: ATTACH: export is not a valid name");
	attach_good(&a);
	memset(a.user, 'u', sizeof(a.user));
	test_fatal("attach_with_unterminated_user_is_fatal", 0, MSG_ATTACH, &a,
	    sizeof(a), 1,
	    "blockd: protocol error from sessiond: ATTACH: "
	    "user is not a valid name");
	attach_good(&a);
	a.size = 0;
	test_fatal("attach_size_0_is_fatal", 0, MSG_ATTACH, &a, sizeof(a), 1,
	    "blockd: protocol error from sessiond: ATTACH: size out of range");
	attach_good(&a);
	a.size = UINT64_MAX;
	test_fatal("attach_size_over_int64_max_is_fatal", 0, MSG_ATTACH, &a,
	    sizeof(a), 1,
	    "blockd: protocol error from sessiond: ATTACH: size out of range");
	attach_good(&a);
	a.session = 0;
	test_fatal("attach_session_0_is_fatal", 0, MSG_ATTACH, &a, sizeof(a), 1,
	    "blockd: protocol error from sessiond: ATTACH: session 0");
	attach_good(&a);
	a.flags = NBD_TFLAG_READ_ONLY;
	test_fatal("attach_flags_without_has_flags_is_fatal", 0, MSG_ATTACH, &a,
	    sizeof(a), 1,
	    "blockd: protocol error from sessiond: ATTACH: "
	    "transmission flags outside what is relayed");
	attach_good(&a);
	a.flags |= NBD_TFLAG_CAN_MULTI_CONN;
	test_fatal("attach_flags_outside_relayed_is_fatal", 0, MSG_ATTACH, &a,
	    sizeof(a), 1,
	    "blockd: protocol error from sessiond: ATTACH: "
	    "transmission flags outside what is relayed");
}

static void
test_malformed(void)
{
	struct msg_hook_done done;
	struct msg_detach det;
	struct msg_listener l;
	struct conf_user u;

	test_malformed_attach();

	memset(&det, 0, sizeof(det));
	memset(det.export, 'c', sizeof(det.export));
	det.session = 1;
	test_fatal("detach_with_unterminated_export_is_fatal", 0, MSG_DETACH,
	    &det, sizeof(det), 0,
	    "blockd: protocol error from sessiond: "
	    "DETACH: export is not a valid name");
	snprintf(det.export, sizeof(det.export), "cd");
	det.session = 0;
	test_fatal("detach_session_0_is_fatal", 0, MSG_DETACH, &det,
	    sizeof(det), 0,
	    "blockd: protocol error from sessiond: DETACH: session 0");
	det.session = 1;
	test_fatal("detached_from_sessiond_is_fatal", 0, MSG_DETACHED, &det,
	    sizeof(det), 0,
	    "blockd: protocol error from sessiond: DETACHED "
	    "not allowed from sessiond to blockd");

	memset(&done, 0, sizeof(done));
	snprintf(done.export, sizeof(done.export), "cd");
	done.action = 3;
	test_fatal("hook_done_with_action_3_is_fatal", 1, MSG_HOOK_DONE, &done,
	    sizeof(done), 0,
	    "blockd: protocol error from hookd: HOOK_DONE: unknown action");
	done.action = MSG_HOOK_STOP;
	done.ok = 2;
	test_fatal("hook_done_with_ok_2_is_fatal", 1, MSG_HOOK_DONE, &done,
	    sizeof(done), 0,
	    "blockd: protocol error from hookd: HOOK_DONE: ok neither 0 nor 1");
	done.ok = 1;
	memset(done.reason, 'r', sizeof(done.reason));
	test_fatal("hook_done_with_unterminated_reason_is_fatal", 1,
	    MSG_HOOK_DONE, &done, sizeof(done), 0,
	    "blockd: protocol error "
	    "from hookd: HOOK_DONE: reason not terminated");
	memset(done.reason, 0, sizeof(done.reason));
	test_fatal("hook_done_from_sessiond_is_fatal", 0, MSG_HOOK_DONE, &done,
	    sizeof(done), 0,
	    "blockd: protocol error from sessiond: "
	    "HOOK_DONE not allowed from sessiond to blockd");

	/* The parent's messages that blockd may not get. */
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "alice");
	test_fatal("conf_user_to_blockd_is_fatal", -1, MSG_CONF_USER, &u,
	    sizeof(u), 0,
	    "blockd: protocol error from parent: CONF_USER not "
	    "allowed from parent to blockd");
	memset(&l, 0, sizeof(l));
	l.kind = MSG_LISTEN_HTTP;
	test_fatal("listener_to_blockd_is_fatal", -1, MSG_LISTENER, &l,
	    sizeof(l), 1,
	    "blockd: protocol error from parent: LISTENER not "
	    "allowed from parent to blockd");
}

/*
 * Reloads may rename exports without end; blockd kept a device entry for
 * every name it had seen and died of "device table full" at the 65th.
 * 64 device exports at start (each gets an entry for its stop hook),
 * then a reload to one new name: its attach must get as far as the
 * kernel, which has no nbd here.
 */
static void
test_renaming_reload(void)
{
	static struct conf_export many[CONF_EXPORT_MAX];
	const char *test = "attach_after_reload_renaming_all_64_exports";
	struct msg_attach_result res;
	struct msg_hook_done done;
	struct conf_export fresh;
	struct probe p;
	struct msg m;
	struct kid k;
	char name[CONF_NAME_MAX], device[CONF_NAME_MAX];
	int i, got;

	for (i = 0; i < CONF_EXPORT_MAX; i++) {
		snprintf(name, sizeof(name), "old%d", i);
		snprintf(device, sizeof(device), "/dev/nbd%d", i);
		export_init(&many[i], name, device, 0, CONF_DEFAULT_MAX_SIZE);
	}
	if (!kid_up_for(test, &k, "blockd", 2, many, CONF_EXPORT_MAX))
		return;
	for (i = 0; i < CONF_EXPORT_MAX; i++) {
		if (!expect_msg(&k, k.sib[1], MSG_HOOK_RUN, WAIT_MS, &m))
			break;
		memset(&done, 0, sizeof(done));
		memcpy(done.export, m.u.hook.export, sizeof(done.export));
		snprintf(done.reason, sizeof(done.reason),
		    "no hook configured");
		done.action = MSG_HOOK_STOP;
		done.ok = 1;
		msg_send(k.sib[1], MSG_HOOK_DONE, &done, sizeof(done), -1);
	}
	export_init(&fresh, "new", "/dev/nbd64", 0, CONF_DEFAULT_MAX_SIZE);
	send_conf(&k, &fresh, 1, 2);
	probe_open(&p, PROBE_STREAM);
	/* Answered on the parent's channel: the reload is in force. */
	got =
	    ping(&k) && attach(&k, "new", 4096, NBD_TFLAG_HAS_FLAGS, &p, &res);
	test_result(test,
	    i == CONF_EXPORT_MAX && got && res.ok == 0 &&
		strstr(res.reason, "connect /dev/nbd64: ") != NULL && ping(&k),
	    "%d stop hooks; ok=%d reason \"%s\"; see %s", i, got ? res.ok : -1,
	    got ? res.reason : "", k.log);
	probe_close(&p);
	test_shutdown(&k, "blockd_after_renaming_reload");
}

/* A netlink socket of ours, bound; its port id in *port. -1 on failure. */
static int
nl_socket(uint32_t *port)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(sa);
	int fd;

	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
		 NETLINK_GENERIC)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = sa.nl_pid;
	return fd;
}

/*
 * blockd's netlink code takes answers only from the kernel (port 0): an
 * ack forged by another process, queued before the kernel's own answer
 * and matching the request's sequence number, ends the exchange with
 * EPERM. Without the check it would be taken for "not connected".
 */
static void
test_forged_netlink_sender(void)
{
	struct {
		struct nlmsghdr h;
		struct nlmsgerr e;
	} ack;
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	struct nbd_nl honest = { .family = 0x7ff0 }, forged = honest;
	uint32_t forged_port, forger_port;
	int forger, r_forged = 0, r_honest = 0;

	honest.fd = nl_socket(&to.nl_pid);
	forged.fd = nl_socket(&forged_port);
	forger = nl_socket(&forger_port);
	if (honest.fd != -1 && forged.fd != -1 && forger != -1) {
		memset(&ack, 0, sizeof(ack));
		ack.h.nlmsg_len = sizeof(ack);
		ack.h.nlmsg_type = NLMSG_ERROR;
		ack.h.nlmsg_seq = forged.seq + 1;
		ack.h.nlmsg_pid = forged_port;
		to.nl_pid = forged_port;
		if (sendto(forger, &ack, sizeof(ack), 0, (struct sockaddr *)&to,
			sizeof(to)) == (ssize_t)sizeof(ack))
			r_forged = nbd_nl_connected(&forged, 0);
		/* The kernel's own answer: no such family, never EPERM. */
		r_honest = nbd_nl_connected(&honest, 0);
	}
	test_result("netlink_answer_forged_by_a_process_refused",
	    r_forged == -EPERM && r_honest < 0 && r_honest != -EPERM,
	    "forged ack gave %d (want %d), the kernel's answer %d", r_forged,
	    -EPERM, r_honest);
	close(honest.fd);
	close(forged.fd);
	close(forger);
}

int
main(int argc, char **argv)
{
	struct kid k;
	char *fds_before, *fds_after;

	if (argc != 2) {
		fprintf(stderr, "usage: blockd_test top-dir\n");
		return 1;
	}
	harness_setup("blockd", argv[1], NULL);
	make_exports();

	if (!kid_up(&k, "blockd", 2, exports, nexports))
		harness_fail("blockd did not answer PING; see %s", k.log);
	test_result("blockd_asks_stop_hook_of_each_device_export_at_start",
	    answer_start_hooks(&k), "see %s", k.log);
	test_result("blockd_warns_nbd_netlink_family_missing",
	    log_count(&k,
		"blockd: no NBD netlink family (No such file or "
		"directory): device exports cannot attach") == 1,
	    "see %s", k.log);
	test_sandbox(&k);
	fds_before = fd_table(k.pid);
	test_refusals(&k);
	test_ignored(&k);
	fds_after = fd_table(k.pid);
	test_result("blockd_holds_no_new_fd_after_refusals",
	    strcmp(fds_before, fds_after) == 0 &&
		strstr(fds_before, "(unreadable)") == NULL,
	    "before:\n%safter:\n%s", fds_before, fds_after);
	free(fds_before);
	free(fds_after);
	test_shutdown(&k, "blockd");

	test_forged_netlink_sender();
	test_renaming_reload();
	test_malformed();
	test_full_queue("blockd", 2, exports, nexports);
	/* Only the socket export: no start-up stop hook waits for hookd. */
	test_parent_gone("blockd", 2, &exports[2], 1);
	return test_done();
}
