/*
 * The channel between vmediad's processes, tested over real SOCK_SEQPACKET
 * socketpairs: what msg_send writes msg_recv reads back, and what it rejects.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "test.h"

/*
 * Every type, the payload size it must have and whether it carries an fd:
 * the table a reader of msg.h expects, checked against msg.c.
 */
static const struct {
	enum msg_type	 type;
	const char	*name;
	size_t		 size;
	int		 fd;
	const char	*test;
} msg_types[] = {
	{ MSG_CONF_GLOBAL, "CONF_GLOBAL", sizeof(struct conf_global), 0,
	    "msg_conf_global_round_trips" },
	{ MSG_CONF_EXPORT, "CONF_EXPORT", sizeof(struct conf_export), 0,
	    "msg_conf_export_round_trips" },
	{ MSG_CONF_USER, "CONF_USER", sizeof(struct conf_user), 0,
	    "msg_conf_user_round_trips" },
	{ MSG_CONF_END, "CONF_END", sizeof(struct msg_conf_end), 0,
	    "msg_conf_end_round_trips" },
	{ MSG_PING, "PING", sizeof(struct msg_ping), 0,
	    "msg_ping_round_trips" },
	{ MSG_PONG, "PONG", sizeof(struct msg_ping), 0,
	    "msg_pong_round_trips" },
	{ MSG_SHUTDOWN, "SHUTDOWN", 0, 0, "msg_shutdown_round_trips" },
	{ MSG_TEST_SYSCALL, "TEST_SYSCALL", 0, 0,
	    "msg_test_syscall_round_trips" },
	{ MSG_LISTENER, "LISTENER", sizeof(struct msg_listener), 1,
	    "msg_listener_round_trips_with_a_working_fd" },
	{ MSG_ATTACH, "ATTACH", sizeof(struct msg_attach), 1,
	    "msg_attach_round_trips_with_a_working_fd" },
	{ MSG_ATTACHED, "ATTACHED", sizeof(struct msg_attach_result), 0,
	    "msg_attached_round_trips" },
	{ MSG_DETACH, "DETACH", sizeof(struct msg_detach), 0,
	    "msg_detach_round_trips" },
	{ MSG_DETACHED, "DETACHED", sizeof(struct msg_detach), 0,
	    "msg_detached_round_trips" },
	{ MSG_HOOK_RUN, "HOOK_RUN", sizeof(struct msg_hook), 0,
	    "msg_hook_run_round_trips" },
	{ MSG_HOOK_DONE, "HOOK_DONE", sizeof(struct msg_hook_done), 0,
	    "msg_hook_done_round_trips" },
	{ MSG_AUDIT, "AUDIT", sizeof(struct msg_audit), 0,
	    "msg_audit_round_trips" },
};
#define NTYPES	(sizeof(msg_types) / sizeof(msg_types[0]))

static void
seqpacket_pair(int sp[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		perror("socketpair");
		exit(1);
	}
}

static void
close_pair(int sp[2])
{
	close(sp[0]);
	close(sp[1]);
}

/* The descriptor number the kernel will hand out next. */
static int
lowest_free_fd(void)
{
	int fd = dup(STDIN_FILENO);

	if (fd == -1) {
		perror("dup");
		exit(1);
	}
	close(fd);
	return fd;
}

static int
open_fd_count(void)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		perror("/proc/self/fd");
		exit(1);
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Sends one datagram exactly as given, with nfds copies of fd attached in
 * one SCM_RIGHTS message: a peer that does not go through msg_send.
 */
static void
send_raw(int sock, const void *buf, size_t len, int fd, int nfds)
{
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(4 * sizeof(int))];
	} cmsgbuf;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh;
	struct cmsghdr *cm;
	int i;

	memset(&mh, 0, sizeof(mh));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		for (i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(cm) + i * sizeof(int), &fd,
			    sizeof(int));
	}
	if (sendmsg(sock, &mh, 0) != (ssize_t)len) {
		perror("sendmsg");
		exit(1);
	}
}

/* A header and payload_len payload bytes, with the len field as given. */
static size_t
craft(unsigned char *buf, uint32_t type, uint32_t len_field,
    size_t payload_len)
{
	struct msg_hdr hdr = { type, len_field };

	memcpy(buf, &hdr, sizeof(hdr));
	memset(buf + sizeof(hdr), 0xa5, payload_len);
	return sizeof(hdr) + payload_len;
}

static void
fill_pattern(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

/*
 * Writes through the descriptor a message brought and reads the bytes back
 * from the pipe end the sender kept: the fd really crossed over.
 */
static int
fd_reaches_pipe(int fd, int readend)
{
	char back[16];

	if (write(fd, "through", 7) != 7)
		return 0;
	return read(readend, back, sizeof(back)) == 7 &&
	    memcmp(back, "through", 7) == 0;
}

static void
test_round_trips(void)
{
	static unsigned char payload[MSG_PAYLOAD_MAX];
	static struct msg m;
	const char *why;
	size_t i;
	int sp[2], pfd[2], r;

	seqpacket_pair(sp);
	for (i = 0; i < NTYPES; i++) {
		pfd[0] = pfd[1] = -1;
		if (msg_types[i].fd && pipe2(pfd, O_CLOEXEC) == -1) {
			perror("pipe2");
			exit(1);
		}
		fill_pattern(payload, msg_types[i].size, msg_types[i].type);
		memset(&m, 0, sizeof(m));
		m.fd = -1;
		if (msg_send(sp[0], msg_types[i].type, payload,
		    msg_types[i].size, pfd[1]) == -1) {
			test_result(msg_types[i].test, 0, "msg_send: %s",
			    strerror(errno));
			goto next;
		}
		if (pfd[1] != -1) {
			close(pfd[1]);	/* only the passed copy can write now */
			pfd[1] = -1;
		}
		r = msg_recv(sp[1], &m, &why);
		if (r != 1)
			test_result(msg_types[i].test, 0, "msg_recv %d: %s", r,
			    why ? why : strerror(errno));
		else if (m.type != msg_types[i].type ||
		    m.len != msg_types[i].size ||
		    (m.fd != -1) != msg_types[i].fd)
			test_result(msg_types[i].test, 0, "got type %u len %u "
			    "fd %d", m.type, m.len, m.fd);
		else if (memcmp(m.u.bytes, payload, m.len) != 0)
			test_result(msg_types[i].test, 0, "payload differs");
		else if (m.fd != -1 && !fd_reaches_pipe(m.fd, pfd[0]))
			test_result(msg_types[i].test, 0, "received fd %d does "
			    "not write into the pipe", m.fd);
		else
			test_result(msg_types[i].test, 1, NULL);
next:
		if (m.fd != -1)
			close(m.fd);
		if (pfd[0] != -1)
			close(pfd[0]);
		if (pfd[1] != -1)
			close(pfd[1]);
	}
	close_pair(sp);
}

static void
test_type_names(void)
{
	size_t i;

	for (i = 0; i < NTYPES; i++) {
		if (strcmp(msg_type_name(msg_types[i].type),
		    msg_types[i].name) != 0) {
			test_result("msg_type_names_match_the_table", 0,
			    "type %u is %s, want %s", msg_types[i].type,
			    msg_type_name(msg_types[i].type),
			    msg_types[i].name);
			return;
		}
	}
	test_result("msg_type_names_match_the_table",
	    strcmp(msg_type_name(MSG_NONE), "unknown") == 0 &&
	    strcmp(msg_type_name(MSG_TYPE_COUNT), "unknown") == 0 &&
	    strcmp(msg_type_name(UINT32_MAX), "unknown") == 0,
	    "MSG_NONE or an out-of-range type has a name");
	test_result("msg_every_type_is_tested", NTYPES == MSG_TYPE_COUNT - 1,
	    "%zu types tested, %d in msg.h", NTYPES, MSG_TYPE_COUNT - 1);
}

/*
 * msg_send attaches the fd as SCM_RIGHTS: the receiver writes through the
 * descriptor it got and the bytes come out of the pipe the sender holds.
 */
static void
test_fd_passing(void)
{
	const char *name = "msg_send_puts_one_scm_rights_fd_on_the_wire";
	struct msg_ping ping = { 7 };
	unsigned char buf[64];
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	struct cmsghdr *cm;
	char back[16];
	int sp[2], pfd[2], fd = -1;
	ssize_t n;

	seqpacket_pair(sp);
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		perror("pipe2");
		exit(1);
	}
	if (msg_send(sp[0], MSG_PING, &ping, sizeof(ping), pfd[1]) == -1) {
		test_result(name, 0, "msg_send: %s", strerror(errno));
		goto out;
	}
	close(pfd[1]);		/* only the passed copy can write now */
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);
	n = recvmsg(sp[1], &mh, MSG_CMSG_CLOEXEC);
	cm = CMSG_FIRSTHDR(&mh);
	if (n != (ssize_t)(sizeof(struct msg_hdr) + sizeof(ping)) ||
	    cm == NULL || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int))) {
		test_result(name, 0, "datagram %zd bytes, no single fd", n);
		goto out;
	}
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (write(fd, "through", 7) != 7) {
		test_result(name, 0, "write to passed fd: %s", strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	n = read(pfd[0], back, sizeof(back));
	test_result(name, n == 7 && memcmp(back, "through", 7) == 0,
	    "read back %zd bytes", n);
out:
	if (fd != -1)
		close(fd);
	close(pfd[0]);
	close_pair(sp);
}

/*
 * Sends buf (with a pipe's write end attached if with_fd) and expects
 * msg_recv to reject it with reason want, leaving no descriptor behind.
 */
static void
expect_rejected(const char *name, const void *buf, size_t len, int with_fd,
    const char *want)
{
	static struct msg m;
	const char *why;
	int sp[2], pfd[2] = { -1, -1 }, before, next, r;

	seqpacket_pair(sp);
	if (with_fd && pipe2(pfd, O_CLOEXEC) == -1) {
		perror("pipe2");
		exit(1);
	}
	send_raw(sp[0], buf, len, pfd[1], with_fd);
	before = open_fd_count();
	next = lowest_free_fd();
	r = msg_recv(sp[1], &m, &why);
	if (r != -1 || why == NULL)
		test_result(name, 0, "msg_recv returned %d, reason %s", r,
		    why ? why : "none");
	else if (strcmp(why, want) != 0)
		test_result(name, 0, "reason \"%s\", want \"%s\"", why, want);
	else if (open_fd_count() != before)
		test_result(name, 0, "%d descriptors open, %d before",
		    open_fd_count(), before);
	else if (with_fd && (fcntl(next, F_GETFD) != -1 || errno != EBADF))
		test_result(name, 0, "passed fd %d is still open", next);
	else
		test_result(name, 1, NULL);
	if (with_fd) {
		close(pfd[0]);
		close(pfd[1]);
	}
	close_pair(sp);
}

static void
test_rejections(void)
{
	static unsigned char buf[sizeof(struct msg_hdr) + MSG_PAYLOAD_MAX + 64];
	struct msg_hdr hdr;
	size_t len;

	len = craft(buf, MSG_PING, 0, 0);
	expect_rejected("msg_recv_rejects_datagram_shorter_than_header", buf,
	    sizeof(hdr) - 1, 0, "truncated header");
	expect_rejected("msg_recv_rejects_short_datagram_and_closes_its_fd",
	    buf, 3, 1, "truncated header");

	len = craft(buf, MSG_PING, sizeof(struct msg_ping) + 1,
	    sizeof(struct msg_ping));
	expect_rejected("msg_recv_rejects_length_field_longer_than_datagram",
	    buf, len, 0, "length does not match the datagram");
	len = craft(buf, MSG_PING, sizeof(struct msg_ping) - 1,
	    sizeof(struct msg_ping));
	expect_rejected("msg_recv_rejects_length_field_shorter_than_datagram",
	    buf, len, 1, "length does not match the datagram");

	len = craft(buf, MSG_PING, sizeof(struct msg_ping) + 8,
	    sizeof(struct msg_ping) + 8);
	expect_rejected("msg_recv_rejects_ping_with_too_long_payload", buf,
	    len, 0, "wrong payload size for its type");
	len = craft(buf, MSG_SHUTDOWN, 1, 1);
	expect_rejected("msg_recv_rejects_shutdown_with_payload_and_closes_fd",
	    buf, len, 1, "wrong payload size for its type");
	len = craft(buf, MSG_CONF_GLOBAL, sizeof(struct conf_global) - 4,
	    sizeof(struct conf_global) - 4);
	expect_rejected("msg_recv_rejects_short_conf_global", buf, len, 0,
	    "wrong payload size for its type");

	len = craft(buf, MSG_NONE, 0, 0);
	expect_rejected("msg_recv_rejects_type_zero", buf, len, 0,
	    "unknown message type");
	len = craft(buf, MSG_TYPE_COUNT, 0, 0);
	expect_rejected("msg_recv_rejects_type_past_the_table_and_closes_fd",
	    buf, len, 1, "unknown message type");
	len = craft(buf, UINT32_MAX, 8, 8);
	expect_rejected("msg_recv_rejects_type_uint32_max", buf, len, 0,
	    "unknown message type");

	len = craft(buf, MSG_PING, sizeof(struct msg_ping),
	    sizeof(struct msg_ping));
	expect_rejected("msg_recv_rejects_fd_on_ping_and_closes_it", buf, len,
	    1, "unexpected fd");
	len = craft(buf, MSG_CONF_EXPORT, sizeof(struct conf_export),
	    sizeof(struct conf_export));
	expect_rejected("msg_recv_rejects_fd_on_conf_export_and_closes_it",
	    buf, len, 1, "unexpected fd");

	len = craft(buf, MSG_ATTACH, sizeof(struct msg_attach),
	    sizeof(struct msg_attach));
	expect_rejected("msg_recv_rejects_attach_without_fd", buf, len, 0,
	    "fd missing");
	len = craft(buf, MSG_LISTENER, sizeof(struct msg_listener),
	    sizeof(struct msg_listener));
	expect_rejected("msg_recv_rejects_listener_without_fd", buf, len, 0,
	    "fd missing");
	len = craft(buf, MSG_ATTACHED, sizeof(struct msg_attach_result),
	    sizeof(struct msg_attach_result));
	expect_rejected("msg_recv_rejects_fd_on_attached_and_closes_it", buf,
	    len, 1, "unexpected fd");
	len = craft(buf, MSG_ATTACH, sizeof(struct msg_attach) + 4,
	    sizeof(struct msg_attach) + 4);
	expect_rejected("msg_recv_rejects_long_attach_and_closes_its_fd", buf,
	    len, 1, "wrong payload size for its type");

	len = craft(buf, MSG_PING, MSG_PAYLOAD_MAX + 1, MSG_PAYLOAD_MAX + 1);
	expect_rejected("msg_recv_rejects_payload_one_byte_over_max", buf,
	    len, 0, "wrong payload size for its type");
	len = craft(buf, MSG_PING, MSG_PAYLOAD_MAX + 2, MSG_PAYLOAD_MAX + 2);
	expect_rejected("msg_recv_rejects_oversized_datagram", buf, len, 0,
	    "oversized message");
	len = craft(buf, MSG_PING, MSG_PAYLOAD_MAX + 64, MSG_PAYLOAD_MAX + 64);
	expect_rejected("msg_recv_rejects_oversized_datagram_and_closes_fd",
	    buf, len, 1, "oversized message");
}

/*
 * Two descriptors in one message are malformed control data. Only the
 * reason is checked: msg_recv does not yet close such descriptors.
 */
static void
test_two_fds(void)
{
	static struct msg m;
	unsigned char buf[sizeof(struct msg_hdr) + sizeof(struct msg_attach)];
	const char *why;
	size_t len;
	int sp[2], r;

	seqpacket_pair(sp);
	len = craft(buf, MSG_ATTACH, sizeof(struct msg_attach),
	    sizeof(struct msg_attach));
	send_raw(sp[0], buf, len, STDERR_FILENO, 2);
	r = msg_recv(sp[1], &m, &why);
	test_result("msg_recv_rejects_two_fds_in_one_message",
	    r == -1 && why != NULL && strcmp(why, "bad control data") == 0,
	    "returned %d, reason %s", r, why ? why : "none");
	close_pair(sp);
}

static void
test_recv_states(void)
{
	static struct msg m;
	const char *why = "unset";
	int sp[2], r;

	seqpacket_pair(sp);
	errno = 0;
	r = msg_recv(sp[1], &m, &why);
	test_result("msg_recv_with_nothing_waiting_is_eagain",
	    r == -1 && errno == EAGAIN && why == NULL,
	    "returned %d, errno %d, reason %s", r, errno, why ? why : "none");

	msg_send(sp[0], MSG_SHUTDOWN, NULL, 0, -1);
	close(sp[0]);
	r = msg_recv(sp[1], &m, &why);
	test_result("msg_recv_delivers_what_was_sent_before_close",
	    r == 1 && m.type == MSG_SHUTDOWN, "returned %d", r);
	r = msg_recv(sp[1], &m, &why);
	test_result("msg_recv_returns_0_when_peer_closes", r == 0 &&
	    why == NULL, "returned %d, reason %s", r, why ? why : "none");
	close(sp[1]);

	seqpacket_pair(sp);
	close(sp[1]);
	errno = 0;
	r = msg_send(sp[0], MSG_SHUTDOWN, NULL, 0, -1);
	test_result("msg_send_to_closed_peer_is_epipe_not_sigpipe",
	    r == -1 && errno == EPIPE, "returned %d, errno %d", r, errno);
	close(sp[0]);

	seqpacket_pair(sp);
	errno = 0;
	r = msg_send(sp[0], MSG_PING, &m, MSG_PAYLOAD_MAX + 1, -1);
	test_result("msg_send_refuses_payload_over_max",
	    r == -1 && errno == EMSGSIZE, "returned %d, errno %d", r, errno);
	close_pair(sp);
}

/* msg_decode alone, on buffers no socket would deliver. */
static void
test_decode(void)
{
	static unsigned char buf[sizeof(struct msg_hdr) + MSG_PAYLOAD_MAX];
	static struct msg m, untouched;
	struct msg_ping ping = { 0x1122334455667788ULL };
	const char *why;
	size_t len;

	len = craft(buf, MSG_PONG, sizeof(ping), 0);
	memcpy(buf + sizeof(struct msg_hdr), &ping, sizeof(ping));
	len += sizeof(ping);
	why = msg_decode(buf, len, -1, &m);
	test_result("msg_decode_accepts_pong", why == NULL &&
	    m.type == MSG_PONG && m.len == sizeof(ping) && m.fd == -1 &&
	    m.u.ping.seq == ping.seq, "%s", why ? why : "wrong contents");

	why = msg_decode(buf, 0, -1, &m);
	test_result("msg_decode_rejects_empty_buffer", why != NULL &&
	    strcmp(why, "truncated header") == 0, "%s", why ? why : "accepted");

	len = craft(buf, MSG_PING, UINT32_MAX, 8);
	why = msg_decode(buf, len, -1, &m);
	test_result("msg_decode_rejects_length_uint32_max", why != NULL &&
	    strcmp(why, "length does not match the datagram") == 0, "%s",
	    why ? why : "accepted");

	len = craft(buf, MSG_PING, sizeof(ping), sizeof(ping));
	why = msg_decode(buf, len, 42, &m);
	test_result("msg_decode_rejects_fd_on_ping", why != NULL &&
	    strcmp(why, "unexpected fd") == 0, "%s", why ? why : "accepted");

	len = craft(buf, MSG_ATTACH, sizeof(struct msg_attach),
	    sizeof(struct msg_attach));
	why = msg_decode(buf, len, 42, &m);
	test_result("msg_decode_accepts_attach_with_fd", why == NULL &&
	    m.type == MSG_ATTACH && m.fd == 42, "%s", why ? why : "wrong fd");
	why = msg_decode(buf, len, -1, &m);
	test_result("msg_decode_rejects_attach_without_fd", why != NULL &&
	    strcmp(why, "fd missing") == 0, "%s", why ? why : "accepted");

	len = craft(buf, MSG_CONF_USER, sizeof(struct conf_user) + 1,
	    sizeof(struct conf_user) + 1);
	why = msg_decode(buf, len, -1, &m);
	test_result("msg_decode_rejects_conf_user_one_byte_long",
	    why != NULL && strcmp(why, "wrong payload size for its type") == 0,
	    "%s", why ? why : "accepted");

	len = craft(buf, MSG_CONF_END, sizeof(struct msg_conf_end),
	    sizeof(struct msg_conf_end));
	why = msg_decode(buf, len - 1, -1, &m);
	test_result("msg_decode_rejects_buffer_cut_short", why != NULL,
	    "accepted");

	memset(&m, 0x5a, sizeof(m));
	memcpy(&untouched, &m, sizeof(m));
	len = craft(buf, MSG_TYPE_COUNT + 100, 4, 4);
	why = msg_decode(buf, len, -1, &m);
	test_result("msg_decode_leaves_message_untouched_on_rejection",
	    why != NULL && memcmp(&m, &untouched, sizeof(m)) == 0,
	    "%s", why ? "message was written" : "accepted");
}

/* The channel: libevent reads, dispatches in order, reports the close. */
struct chan_seen {
	uint64_t	 seqs[8];
	int		 nmsgs;
	int		 nclosed;
	struct event_base *base;
};

static void
record_dispatch(struct chan *c, struct msg *m, void *arg)
{
	struct chan_seen *seen = arg;

	(void)c;
	if (m->type == MSG_PING && seen->nmsgs < 8)
		seen->seqs[seen->nmsgs] = m->u.ping.seq;
	seen->nmsgs++;
}

static void
record_closed(struct chan *c, void *arg)
{
	struct chan_seen *seen = arg;

	seen->nclosed++;
	if (c->fd != -1)
		seen->nclosed += 100;	/* must be closed before the callback */
	event_base_loopbreak(seen->base);
}

static void
test_chan(void)
{
	struct chan_seen seen;
	struct msg_ping ping;
	struct chan c;
	int sp[2], i, ok;

	memset(&seen, 0, sizeof(seen));
	if ((seen.base = event_base_new()) == NULL) {
		fprintf(stderr, "event_base_new failed\n");
		exit(1);
	}
	seqpacket_pair(sp);
	chan_init(&c, seen.base, sp[1], "test peer", record_dispatch,
	    record_closed, &seen);
	for (i = 1; i <= 5; i++) {
		ping.seq = i;
		msg_send(sp[0], MSG_PING, &ping, sizeof(ping), -1);
	}
	close(sp[0]);
	event_base_dispatch(seen.base);
	ok = seen.nmsgs == 5;
	for (i = 0; ok && i < 5; i++)
		ok = seen.seqs[i] == (uint64_t)i + 1;
	test_result("chan_dispatches_every_message_in_order", ok,
	    "%d messages dispatched", seen.nmsgs);
	test_result("chan_reports_peer_close_once_after_closing",
	    seen.nclosed == 1 && c.fd == -1 && c.ev == NULL,
	    "closed callback count %d, fd %d", seen.nclosed, c.fd);
	chan_send(&c, MSG_SHUTDOWN, NULL, 0, -1);
	test_result("chan_send_on_closed_chan_is_a_no_op", 1, NULL);
	event_base_free(seen.base);

	/* Sending to a peer that is gone is the closed callback's business. */
	seqpacket_pair(sp);
	close(sp[1]);
	c.fd = sp[0];
	c.ev = NULL;
	chan_send(&c, MSG_SHUTDOWN, NULL, 0, -1);
	test_result("chan_send_to_vanished_peer_is_not_fatal", 1, NULL);
	chan_close(&c);
}

/*
 * A malformed message ends the receiving process with a log line naming
 * the peer and the reason; run in a child so the test survives it.
 */
static void
test_chan_malformed_is_fatal(void)
{
	const char *name = "chan_malformed_message_is_fatal_and_logged";
	unsigned char buf[sizeof(struct msg_hdr)];
	char out[512];
	int sp[2], errpipe[2], status;
	struct event_base *base;
	struct chan c;
	ssize_t n;
	size_t len;
	pid_t pid;

	seqpacket_pair(sp);
	if (pipe(errpipe) == -1) {
		perror("pipe");
		exit(1);
	}
	fflush(stdout);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		dup2(errpipe[1], STDERR_FILENO);
		close(sp[0]);
		if ((base = event_base_new()) == NULL)
			_exit(3);
		chan_init(&c, base, sp[1], "blockd", record_dispatch,
		    record_closed, NULL);
		event_base_dispatch(base);
		_exit(2);	/* fatalx never ran */
	}
	close(errpipe[1]);
	close(sp[1]);
	len = craft(buf, MSG_NONE, 0, 0);
	send_raw(sp[0], buf, len, -1, 0);
	len = 0;
	while (len < sizeof(out) - 1 &&
	    (n = read(errpipe[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	waitpid(pid, &status, 0);
	test_result(name, WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
	    strstr(out, "malformed message from blockd: unknown message "
	    "type") != NULL, "status %#x, stderr \"%s\"", status, out);
	close(errpipe[0]);
	close(sp[0]);
}

int
main(void)
{
	/* SIGPIPE stays fatal: msg_send must not raise it. */
	test_round_trips();
	test_type_names();
	test_fd_passing();
	test_rejections();
	test_two_fds();
	test_recv_states();
	test_decode();
	test_chan();
	test_chan_malformed_is_fatal();
	return test_done();
}
