/*
 * Writes the seeds of the handler fuzzers (handler_input.h has their
 * format): for blockd, hookd and the parent, the conversations each has
 * in a working daemon, and the refusals, faults and stops it must get
 * right, so that fuzzing starts deep inside every handler.
 * Usage: handler_seeds corpusdir (writes into its blockd/, hookd/, parent/)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handler_input.h"
#include "nbd_proto.h"

#define SEED_MAX 65536

/* The world events' types, as the targets number them. */
enum {
	B_RELOAD,
	B_KERNEL_REFUSES,
	B_HOOKD_GONE,
	B_SESSIOND_GONE,
	B_PARENT_GONE
};
enum {
	H_RELOAD,
	H_WRITES,
	H_EXITS_0,
	H_EXITS_1,
	H_EXITS_127,
	H_SIGSYS,
	H_TIMEOUT,
	H_FORK_FAILS,
	H_BLOCKD_GONE,
	H_PARENT_GONE
};
enum {
	P_PING,
	P_RELOAD,
	P_CHILD_GONE
};

/* And their options. */
#define B_NO_NETLINK 0x01
#define B_STALE 0x02
#define B_STATUS_FAILS 0x04
#define B_LOOP_FIRST 0x08
#define H_STUBBORN 0x01
#define P_NO_AUDIT 0x01
#define VARIANT(v) ((v) << 4)

struct seed {
	uint8_t buf[SEED_MAX];
	size_t len;
	enum msg_proc self;
};

static const char *dir;

static void
seed_begin(struct seed *s, enum msg_proc self, uint8_t options)
{
	s->self = self;
	s->buf[0] = options;
	s->len = 1;
}

static void
rec(struct seed *s, enum msg_proc from, uint32_t type, uint8_t flags,
    const void *payload, size_t len)
{
	size_t n;

	if ((n = rec_put(s->buf + s->len, sizeof(s->buf) - s->len, from, type,
		 flags, payload, len)) == 0) {
		fprintf(stderr, "handler_seeds: a seed too long\n");
		exit(1);
	}
	s->len += n;
}

static void
world(struct seed *s, uint32_t type, uint8_t flags, const void *payload,
    size_t len)
{
	rec(s, s->self, type, flags, payload, len);
}

static void
seed_write(const struct seed *s, const char *target, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, s->buf, s->len) != (ssize_t)s->len || close(fd) == -1) {
		perror(path);
		exit(1);
	}
}

/* --- messages ---------------------------------------------------------- */

static void
attach(struct seed *s, const char *export, uint64_t size, uint32_t session,
    uint32_t flags, int fd_kind)
{
	struct msg_attach a;

	memset(&a, 0, sizeof(a));
	snprintf(a.export, sizeof(a.export), "%s", export);
	snprintf(a.user, sizeof(a.user), "alice");
	a.size = size;
	a.session = session;
	a.flags = flags;
	rec(s, PROC_SESSIOND, MSG_ATTACH, REC_FD_FLAGS(fd_kind), &a, sizeof(a));
}

static void
detach(struct seed *s, const char *export, uint32_t session)
{
	struct msg_detach d;

	memset(&d, 0, sizeof(d));
	snprintf(d.export, sizeof(d.export), "%s", export);
	d.session = session;
	rec(s, PROC_SESSIOND, MSG_DETACH, 0, &d, sizeof(d));
}

static void
hook_done(struct seed *s, const char *export, uint32_t session, int action,
    int ok, const char *reason)
{
	struct msg_hook_done h;

	memset(&h, 0, sizeof(h));
	snprintf(h.export, sizeof(h.export), "%s", export);
	snprintf(h.reason, sizeof(h.reason), "%s", reason);
	h.session = session;
	h.action = action;
	h.ok = ok;
	rec(s, PROC_HOOKD, MSG_HOOK_DONE, 0, &h, sizeof(h));
}

static void
hook_run(struct seed *s, const char *export, uint32_t session, int action,
    const char *user, uint64_t size, int read_only)
{
	struct msg_hook h;

	memset(&h, 0, sizeof(h));
	snprintf(h.export, sizeof(h.export), "%s", export);
	snprintf(h.user, sizeof(h.user), "%s", user);
	h.size = size;
	h.session = session;
	h.action = action;
	h.read_only = read_only;
	rec(s, PROC_BLOCKD, MSG_HOOK_RUN, 0, &h, sizeof(h));
}

static void
ping(struct seed *s, uint64_t seq)
{
	struct msg_ping p = { seq };

	rec(s, PROC_PARENT, MSG_PING, 0, &p, sizeof(p));
}

static void
shutdown_msg(struct seed *s)
{
	rec(s, PROC_PARENT, MSG_SHUTDOWN, 0, NULL, 0);
}

static void
reload(struct seed *s, uint32_t type, uint8_t variant)
{
	world(s, type, 0, &variant, 1);
}

/* blockd's start-up stop hooks, answered, for the exports of config 0. */
static void
blockd_started(struct seed *s)
{
	seed_begin(s, PROC_BLOCKD, B_LOOP_FIRST);
	hook_done(s, "cd", 0, MSG_HOOK_STOP, 1, "ok");
	hook_done(s, "usb", 0, MSG_HOOK_STOP, 1, "hook not found");
	hook_done(s, "raw", 0, MSG_HOOK_STOP, 1, "no hook configured");
}

#define RO (NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY)
#define RW (NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH)
#define GIB (UINT64_C(1) << 30)

/* --- blockd ------------------------------------------------------------- */

static void
blockd_seeds(void)
{
	static const char *const kinds[] = { "stream", "pipe", "dgram",
		"seqpacket", "listening", "unconnected", "inet", "file" };
	static const char *const renamed_a[] = { "cd", "usb", "raw" };
	static const char *const renamed_b[] = { "usb", "raw", "dvd" };
	struct msg_conf_end end = { 7, 1, 0 };
	static struct conf conf;
	struct seed s;
	char name[64];
	int k, v;

	blockd_started(&s);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	hook_done(&s, "cd", 1, MSG_HOOK_START, 1, "ok");
	detach(&s, "cd", 1);
	hook_done(&s, "cd", 1, MSG_HOOK_STOP, 1, "ok");
	attach(&s, "usb", 5 * GIB, 2, RW, FD_STREAM);
	hook_done(&s, "usb", 2, MSG_HOOK_START, 1, "hook not found");
	detach(&s, "usb", 2);
	hook_done(&s, "usb", 2, MSG_HOOK_STOP, 1, "hook not found");
	seed_write(&s, "blockd", "attach_detach");

	/* Not yet answered: the start-up stop hooks still hold them. */
	seed_begin(&s, PROC_BLOCKD, 0);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	attach(&s, "raw", 4096, 2, RW, FD_STREAM);
	seed_write(&s, "blockd", "attach_before_start_hooks");

	for (k = FD_PIPE; k <= FD_FILE; k++) {
		blockd_started(&s);
		attach(&s, "cd", GIB, 1, RO, k);
		snprintf(name, sizeof(name), "refused_fd_%s", kinds[k]);
		seed_write(&s, "blockd", name);
	}

	blockd_started(&s);
	attach(&s, "raw", 8192, 1, RW, FD_STREAM);
	attach(&s, "cd", GIB, 2, RW, FD_STREAM);
	attach(&s, "lab", GIB, 3, RW, FD_STREAM);
	attach(&s, "nonesuch", GIB, 4, RW, FD_STREAM);
	seed_write(&s, "blockd", "refused_config");

	blockd_started(&s);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	attach(&s, "cd", GIB, 2, RO, FD_STREAM);
	hook_done(&s, "cd", 1, MSG_HOOK_START, 0, "exit status 1");
	hook_done(&s, "cd", 1, MSG_HOOK_STOP, 0, "exit status 1");
	attach(&s, "cd", GIB, 3, RO, FD_STREAM);
	seed_write(&s, "blockd", "busy_then_start_hook_fails");

	blockd_started(&s);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	detach(&s, "cd", 1);
	detach(&s, "cd", 7);
	hook_done(&s, "cd", 1, MSG_HOOK_START, 1, "ok");
	hook_done(&s, "cd", 1, MSG_HOOK_STOP, 1, "ok");
	seed_write(&s, "blockd", "detach_while_starting");

	blockd_started(&s);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	hook_done(&s, "cd", 1, MSG_HOOK_START, 1, "ok");
	attach(&s, "raw", 512, 2, RW, FD_STREAM);
	shutdown_msg(&s);
	hook_done(&s, "raw", 2, MSG_HOOK_START, 1, "ok");
	hook_done(&s, "cd", 1, MSG_HOOK_STOP, 1, "ok");
	hook_done(&s, "raw", 2, MSG_HOOK_STOP, 1, "ok");
	seed_write(&s, "blockd", "shutdown_while_attached");

	/* With hookd gone, a DETACH was never answered (it is now). */
	blockd_started(&s);
	world(&s, B_HOOKD_GONE, 0, NULL, 0);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	detach(&s, "cd", 1);
	attach(&s, "cd", GIB, 2, RO, FD_STREAM);
	world(&s, B_SESSIOND_GONE, 0, NULL, 0);
	world(&s, B_PARENT_GONE, 0, NULL, 0);
	seed_write(&s, "blockd", "peers_gone");

	/* ATTACHED named no device once the reload had dropped cd. */
	blockd_started(&s);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	reload(&s, B_RELOAD, 1);
	hook_done(&s, "cd", 1, MSG_HOOK_START, 1, "ok");
	detach(&s, "cd", 1);
	hook_done(&s, "cd", 1, MSG_HOOK_STOP, 1, "no hook configured");
	seed_write(&s, "blockd", "reload_drops_export_while_starting");

	blockd_started(&s);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	hook_done(&s, "cd", 1, MSG_HOOK_START, 1, "ok");
	reload(&s, B_RELOAD, 1);
	attach(&s, "raw", 1024, 2, RW, FD_STREAM);
	attach(&s, "dvd", GIB, 3, RW, FD_STREAM);
	detach(&s, "cd", 1);
	hook_done(&s, "cd", 1, MSG_HOOK_STOP, 1, "no hook configured");
	hook_done(&s, "dvd", 0, MSG_HOOK_STOP, 1, "ok");
	attach(&s, "dvd", GIB, 4, RW, FD_STREAM);
	reload(&s, B_RELOAD, 0 | 2);
	attach(&s, "lab", GIB, 5, RW, FD_STREAM);
	reload(&s, B_RELOAD, 1 << 2);
	attach(&s, "cd-1", GIB, 6, RO, FD_STREAM);
	seed_write(&s, "blockd", "reloads");

	blockd_started(&s);
	world(&s, B_KERNEL_REFUSES, 0, NULL, 0);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	ping(&s, 1);
	ping(&s, 2);
	attach(&s, "cd", GIB, 2, RO, FD_STREAM);
	seed_write(&s, "blockd", "kernel_refuses_pings");

	seed_begin(&s, PROC_BLOCKD, B_NO_NETLINK | B_LOOP_FIRST);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	seed_write(&s, "blockd", "no_netlink");

	seed_begin(&s, PROC_BLOCKD, B_STALE | B_LOOP_FIRST | VARIANT(1));
	hook_done(&s, "usb", 0, MSG_HOOK_STOP, 1, "ok");
	attach(&s, "usb", GIB, 1, RO, FD_STREAM);
	seed_write(&s, "blockd", "stale_devices");

	seed_begin(&s, PROC_BLOCKD, B_STALE | B_STATUS_FAILS);
	attach(&s, "cd", GIB, 1, RO, FD_STREAM);
	shutdown_msg(&s);
	seed_write(&s, "blockd", "status_fails");

	/* Reloads that rename every export, each new name attached. */
	blockd_started(&s);
	for (v = 1; v <= 30; v++) {
		reload(&s, B_RELOAD, v << 2 | (v & 1));
		for (k = 0; k < 3; k++) {
			snprintf(name, sizeof(name), "%s-%d",
			    v & 1 ? renamed_b[k] : renamed_a[k], v);
			attach(&s, name, 512, v, k == 0 && !(v & 1) ? RO : RW,
			    FD_STREAM);
		}
	}
	seed_write(&s, "blockd", "reloads_renaming_every_export");

	/* A push of the input's own: CONF_GLOBAL, one export, CONF_END. */
	if (conf_parse_buffer(&conf, "handler_conf_text", handler_conf_text[0],
		strlen(handler_conf_text[0]), NULL, NULL) != 0)
		exit(1);
	blockd_started(&s);
	rec(&s, PROC_PARENT, MSG_CONF_GLOBAL, 0, &conf.global,
	    sizeof(conf.global));
	rec(&s, PROC_PARENT, MSG_CONF_EXPORT, 0, &conf.exports[2],
	    sizeof(conf.exports[2]));
	rec(&s, PROC_PARENT, MSG_CONF_END, 0, &end, sizeof(end));
	attach(&s, "raw", 4096, 1, RW, FD_STREAM);
	seed_write(&s, "blockd", "conf_push");
}

/* --- hookd -------------------------------------------------------------- */

static void
hookd_seeds(void)
{
	static const char *const renamed_a[] = { "cd", "usb", "raw" };
	static const char *const renamed_b[] = { "usb", "raw", "dvd" };
	char output[1200], name[64];
	struct seed s;
	int i, v;

	seed_begin(&s, PROC_HOOKD, 0);
	hook_run(&s, "cd", 1, MSG_HOOK_START, "alice", GIB, 1);
	world(&s, H_WRITES, 0, "gadget up\n", 10);
	world(&s, H_EXITS_0, 0, NULL, 0);
	hook_run(&s, "cd", 1, MSG_HOOK_STOP, "alice", GIB, 1);
	world(&s, H_EXITS_0, 0, "gadget down\n", 12);
	seed_write(&s, "hookd", "start_stop");

	seed_begin(&s, PROC_HOOKD, VARIANT(2));
	hook_run(&s, "usb", 1, MSG_HOOK_START, "", 4096, 0);
	hook_run(&s, "raw", 2, MSG_HOOK_START, "bob", 4096, 0);
	hook_run(&s, "lab", 3, MSG_HOOK_START, "bob", 4096, 0);
	hook_run(&s, "nonesuch", 4, MSG_HOOK_STOP, "", 1, 0);
	seed_write(&s, "hookd", "no_hook");

	seed_begin(&s, PROC_HOOKD, 0);
	for (i = 0; i < 10; i++)
		hook_run(&s, "cd", i + 1,
		    i % 2 ? MSG_HOOK_STOP : MSG_HOOK_START, "alice", GIB, 1);
	for (i = 0; i < 9; i++)
		world(&s, i % 3 ? H_EXITS_0 : H_EXITS_1, 0, NULL, 0);
	seed_write(&s, "hookd", "queue_full");

	seed_begin(&s, PROC_HOOKD, 0);
	hook_run(&s, "cd", 1, MSG_HOOK_START, "alice", GIB, 1);
	world(&s, H_TIMEOUT, 0, NULL, 0);
	hook_run(&s, "cd", 1, MSG_HOOK_STOP, "alice", GIB, 1);
	world(&s, H_SIGSYS, 0, NULL, 0);
	seed_write(&s, "hookd", "timeout_sigsys");

	seed_begin(&s, PROC_HOOKD, H_STUBBORN);
	hook_run(&s, "cd", 1, MSG_HOOK_START, "alice", GIB, 1);
	world(&s, H_TIMEOUT, 0, NULL, 0);
	world(&s, H_TIMEOUT, 0, NULL, 0);
	seed_write(&s, "hookd", "timeout_stubborn");

	memset(output, 'x', sizeof(output));
	for (i = 0; i < (int)sizeof(output); i += 25)
		output[i] = i % 2 ? '\n' : '\001';
	seed_begin(&s, PROC_HOOKD, 0);
	hook_run(&s, "cd", 1, MSG_HOOK_START, "alice", GIB, 1);
	world(&s, H_WRITES, 0, output, sizeof(output));
	world(&s, H_WRITES, 0, output, sizeof(output));
	world(&s, H_EXITS_127, 0, "exec: not found", 15);
	seed_write(&s, "hookd", "output");

	seed_begin(&s, PROC_HOOKD, 0);
	world(&s, H_FORK_FAILS, 0, NULL, 0);
	hook_run(&s, "cd", 1, MSG_HOOK_START, "alice", GIB, 1);
	hook_run(&s, "cd", 1, MSG_HOOK_STOP, "alice", GIB, 1);
	world(&s, H_EXITS_0, 0, NULL, 0);
	seed_write(&s, "hookd", "fork_fails");

	seed_begin(&s, PROC_HOOKD, VARIANT(1));
	hook_run(&s, "usb", 1, MSG_HOOK_START, "alice", GIB, 1);
	hook_run(&s, "raw", 2, MSG_HOOK_START, "alice", 1024, 0);
	hook_run(&s, "usb", 1, MSG_HOOK_STOP, "alice", GIB, 1);
	shutdown_msg(&s);
	ping(&s, 1);
	world(&s, H_EXITS_0, 1, NULL, 0);
	world(&s, H_EXITS_0, 0, NULL, 0);
	world(&s, H_EXITS_0, 0, NULL, 0);
	seed_write(&s, "hookd", "shutdown_while_running");

	seed_begin(&s, PROC_HOOKD, 0);
	hook_run(&s, "cd", 1, MSG_HOOK_START, "alice", GIB, 1);
	hook_run(&s, "cd", 1, MSG_HOOK_STOP, "alice", GIB, 1);
	reload(&s, H_RELOAD, 1);
	world(&s, H_EXITS_0, 0, NULL, 0);
	hook_run(&s, "dvd", 2, MSG_HOOK_START, "", GIB, 0);
	reload(&s, H_RELOAD, 3 << 2);
	hook_run(&s, "dvd-3", 3, MSG_HOOK_START, "", GIB, 0);
	world(&s, H_BLOCKD_GONE, 0, NULL, 0);
	world(&s, H_EXITS_1, 0, NULL, 0);
	world(&s, H_PARENT_GONE, 0, NULL, 0);
	world(&s, H_EXITS_0, 0, NULL, 0);
	world(&s, H_EXITS_0, 0, NULL, 0);
	seed_write(&s, "hookd", "reload_and_gone");

	/* Reloads that rename every export, a hook run for each new name. */
	seed_begin(&s, PROC_HOOKD, 0);
	for (v = 1; v <= 30; v++) {
		reload(&s, H_RELOAD, v << 2 | (v & 1));
		for (i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "%s-%d",
			    v & 1 ? renamed_b[i] : renamed_a[i], v);
			hook_run(&s, name, v, MSG_HOOK_START, "", 512, 0);
		}
		world(&s, H_EXITS_0, 0, NULL, 0);
		world(&s, H_EXITS_0, 0, NULL, 0);
	}
	seed_write(&s, "hookd", "reloads_renaming_every_export");
}

/* --- the parent --------------------------------------------------------- */

static void
audit(struct seed *s, enum msg_proc from, int event, const char *user,
    const char *addr, const char *export, const char *target,
    const char *reason, uint32_t session)
{
	struct msg_audit a;

	memset(&a, 0, sizeof(a));
	snprintf(a.user, sizeof(a.user), "%s", user);
	snprintf(a.addr, sizeof(a.addr), "%s", addr);
	snprintf(a.export, sizeof(a.export), "%s", export);
	snprintf(a.target, sizeof(a.target), "%s", target);
	snprintf(a.reason, sizeof(a.reason), "%s", reason);
	a.session = session;
	a.event = event;
	a.size = session == UINT32_MAX ? UINT64_MAX : GIB;
	a.bytes_read = session == UINT32_MAX ? UINT64_MAX : 12345;
	a.bytes_written = session == UINT32_MAX ? UINT64_MAX : 0;
	a.duration_ms = session == UINT32_MAX ? UINT64_MAX : 60000;
	rec(s, from, MSG_AUDIT, 0, &a, sizeof(a));
}

static void
pong(struct seed *s, enum msg_proc from, uint64_t seq)
{
	struct msg_ping p = { seq };

	rec(s, from, MSG_PONG, 0, &p, sizeof(p));
}

static void
parent_seeds(void)
{
	static const char odd[] =
	    "caf\xc3\xa9 \x01\x1f\x7f \"q\" \\ "
	    "\xff\xfe \xed\xa0\x80 \xf0\x9f\x92\xbf \xc0\xaf tab\tnl\n";
	char longest[CONF_PATH_MAX];
	struct seed s;
	int ev;

	seed_begin(&s, PROC_PARENT, 0);
	for (ev = AUDIT_EV_LOGIN; ev < AUDIT_EV_CONFIG_RELOAD; ev++)
		audit(&s, PROC_SESSIOND, ev, "alice", "192.0.2.1", "cd",
		    "/dev/nbd0", ev == AUDIT_EV_SESSION_START ? "" : "why",
		    ev >= AUDIT_EV_SESSION_START ? 7 : 0);
	audit(&s, PROC_BLOCKD, AUDIT_EV_HOOK_FAILED, "alice", "", "cd",
	    "/dev/nbd0", "start hook: exit status 1", 7);
	seed_write(&s, "parent", "audit_events");

	seed_begin(&s, PROC_PARENT, 0);
	audit(&s, PROC_SESSIOND, AUDIT_EV_LOGIN_FAILED, odd, "2001:db8::1", odd,
	    "", odd, 0);
	audit(&s, PROC_SESSIOND, AUDIT_EV_PROTOCOL_VIOLATION, "", "", "", "",
	    "", 0);
	world(&s, P_RELOAD, 0, odd, sizeof(odd) - 1);
	seed_write(&s, "parent", "audit_escapes");

	/* Every byte escaped: the parent died of such a record once. */
	memset(longest, '\001', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	seed_begin(&s, PROC_PARENT, 0);
	audit(&s, PROC_SESSIOND, AUDIT_EV_SESSION_END, longest, longest,
	    longest, longest, longest, UINT32_MAX);
	world(&s, P_RELOAD, 0, longest, 127);
	seed_write(&s, "parent", "audit_longest_record");

	seed_begin(&s, PROC_PARENT, P_NO_AUDIT);
	audit(&s, PROC_SESSIOND, AUDIT_EV_SESSION_END, "", "192.0.2.1", "cd",
	    "/run/vmediad/cd.sock", "", 3);
	world(&s, P_RELOAD, 0, "config 2 from /etc/vmediad.conf", 31);
	seed_write(&s, "parent", "no_audit_file");

	seed_begin(&s, PROC_PARENT, 0);
	world(&s, P_PING, 0, NULL, 0);
	world(&s, P_PING, 0, NULL, 0);
	pong(&s, PROC_SESSIOND, 1);
	pong(&s, PROC_BLOCKD, 2);
	pong(&s, PROC_HOOKD, 2);
	pong(&s, PROC_SESSIOND, 2);
	world(&s, P_PING, 0, NULL, 0);
	world(&s, P_PING, 0, NULL, 0);
	world(&s, P_PING, 0, NULL, 0);
	world(&s, P_PING, 0, NULL, 0);
	audit(&s, PROC_SESSIOND, AUDIT_EV_SESSION_END, "alice", "192.0.2.1",
	    "cd", "/dev/nbd0", "stopping", 9);
	seed_write(&s, "parent", "pings_missed");

	seed_begin(&s, PROC_PARENT, 0);
	world(&s, P_PING, 0, NULL, 0);
	pong(&s, PROC_HOOKD, 1);
	world(&s, P_CHILD_GONE, PROC_BLOCKD, NULL, 0);
	pong(&s, PROC_BLOCKD, 1);
	pong(&s, PROC_SESSIOND, 2);
	seed_write(&s, "parent", "pong_ahead");
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: handler_seeds corpusdir\n");
		return 1;
	}
	dir = argv[1];
	blockd_seeds();
	hookd_seeds();
	parent_seeds();
	return 0;
}
