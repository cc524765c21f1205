/*
 * The real sessiond, sandboxed, under a harness that plays its parent
 * (fd 3) and blockd (fd 4): every message that breaks the contract ends
 * it with a line naming the peer, and it never waits for a reader.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "child_harness.h"
#include "nbd_proto.h"
#include "test.h"

static struct conf_export exports[2];
static int nexports;

static void
make_exports(void)
{
	struct conf_export *e = exports;

	memset(exports, 0, sizeof(exports));
	snprintf(e->name, sizeof(e->name), "cd");
	snprintf(e->device, sizeof(e->device), "/dev/nbd0");
	e->max_size = CONF_DEFAULT_MAX_SIZE;
	e->timeout = 30;
	e++;
	snprintf(e->name, sizeof(e->name), "lab");
	snprintf(e->socket, sizeof(e->socket), "/run/lab.sock");
	e->max_size = CONF_DEFAULT_MAX_SIZE;
	e->timeout = 30;
	e++;
	nexports = e - exports;
}

/*
 * A fresh sessiond that must die of one message: from the parent (chan
 * -1) or blockd (0), with a socket if with_fd, logging the line once.
 */
static void
test_fatal(const char *name, int chan, uint32_t type, const void *payload,
    size_t len, int with_fd, const char *logged)
{
	struct kid k;
	int sv[2] = { -1, -1 };

	if (!kid_up_for(name, &k, "sessiond", 1, exports, nexports))
		return;
	if (with_fd &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		harness_fail("socketpair");
	msg_send(chan == -1 ? k.parent : k.sib[0], type, payload, len, sv[0]);
	expect_fatal(name, &k, logged);
	if (with_fd) {
		close(sv[0]);
		close(sv[1]);
	}
}

static void
test_from_blockd(void)
{
	struct msg_attach_result res;
	struct msg_detach det;
	struct msg_attach a;
	struct msg_hook h;

	memset(&res, 0, sizeof(res));
	snprintf(res.export, sizeof(res.export), "cd");
	res.session = 1;
	memset(res.reason, 'r', sizeof(res.reason));
	test_fatal("attached_with_unterminated_reason_is_fatal", 0,
	    MSG_ATTACHED, &res, sizeof(res), 0,
	    "sessiond: protocol error "
	    "from blockd: ATTACHED: device or reason not terminated");
	memset(res.reason, 0, sizeof(res.reason));
	res.ok = 2;
	test_fatal("attached_with_ok_2_is_fatal", 0, MSG_ATTACHED, &res,
	    sizeof(res), 0,
	    "sessiond: protocol error from blockd: ATTACHED: "
	    "ok neither 0 nor 1");
	memset(&det, 0, sizeof(det));
	snprintf(det.export, sizeof(det.export), "cd");
	test_fatal("detached_for_session_0_is_fatal", 0, MSG_DETACHED, &det,
	    sizeof(det), 0,
	    "sessiond: protocol error from blockd: DETACHED: session 0");
	memset(&a, 0, sizeof(a));
	snprintf(a.export, sizeof(a.export), "cd");
	a.size = 4096;
	a.session = 1;
	a.flags = NBD_TFLAG_HAS_FLAGS;
	test_fatal("attach_from_blockd_is_fatal", 0, MSG_ATTACH, &a, sizeof(a),
	    1,
	    "sessiond: protocol error from blockd: ATTACH not "
	    "allowed from blockd to sessiond");
	memset(&h, 0, sizeof(h));
	snprintf(h.export, sizeof(h.export), "cd");
	h.action = MSG_HOOK_START;
	test_fatal("hook_run_to_sessiond_is_fatal", 0, MSG_HOOK_RUN, &h,
	    sizeof(h), 0,
	    "sessiond: protocol error from blockd: HOOK_RUN not "
	    "allowed from blockd to sessiond");
}

static void
test_from_parent(void)
{
	struct msg_listener l;
	struct msg_audit au;
	struct conf_user u;

	memset(&l, 0, sizeof(l));
	l.kind = 4;
	test_fatal("listener_of_kind_4_is_fatal", -1, MSG_LISTENER, &l,
	    sizeof(l), 1,
	    "sessiond: protocol error from parent: LISTENER: "
	    "unknown listener kind");
	l.kind = MSG_LISTEN_HTTP;
	test_fatal("listener_without_fd_is_fatal", -1, MSG_LISTENER, &l,
	    sizeof(l), 0, "sessiond: protocol error from parent: fd missing");
	/* Well formed, but the harness's config has no HTTP listener. */
	test_fatal("listener_for_nothing_served_is_fatal", -1, MSG_LISTENER, &l,
	    sizeof(l), 1,
	    "sessiond: LISTENER from parent for nothing we serve");
	/* Nor an NBD one. */
	l.kind = MSG_LISTEN_NBD;
	test_fatal("nbd_listener_for_nothing_served_is_fatal", -1, MSG_LISTENER,
	    &l, sizeof(l), 1,
	    "sessiond: LISTENER from parent for nothing we serve");
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "-alice");
	test_fatal("conf_user_named_outside_name_rules_is_fatal", -1,
	    MSG_CONF_USER, &u, sizeof(u), 0,
	    "sessiond: protocol error from "
	    "parent: CONF_USER: not a valid user");
	memset(&au, 0, sizeof(au));
	au.event = AUDIT_EV_LOGIN;
	test_fatal("audit_from_parent_is_fatal", -1, MSG_AUDIT, &au, sizeof(au),
	    0,
	    "sessiond: protocol error from parent: AUDIT not "
	    "allowed from parent to sessiond");
}

int
main(int argc, char **argv)
{
	struct kid k;

	if (argc != 2) {
		fprintf(stderr, "usage: contract_test top-dir\n");
		return 1;
	}
	harness_setup("sessiond", argv[1], NULL);
	make_exports();
	if (!kid_up(&k, "sessiond", 1, exports, nexports))
		harness_fail("sessiond did not answer PING; see %s", k.log);
	test_proc_status(&k, "sessiond_under_harness_seccomp_filter_on",
	    "Seccomp", "2");
	test_shutdown(&k, "sessiond");
	test_from_blockd();
	test_from_parent();
	test_full_queue("sessiond", 1, exports, nexports);
	return test_done();
}
