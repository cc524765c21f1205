/*
 * The channel between vmediad's processes, tested over real SOCK_SEQPACKET
 * socketpairs: what msg_send writes msg_recv reads back, and what it rejects.
 * The contract's table is in contract_test.c, the queued channel in
 * chan_test.c; msg_test -M prints the table for ARCHITECTURE.md.
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

#include "msg_tests.h"
#include "nbd_proto.h"
#include "test.h"

const struct contract contract[] = {
	{ MSG_CONF_GLOBAL, "CONF_GLOBAL", sizeof(struct conf_global), 0,
	    P(PARENT), CHILDREN, "msg_conf_global_round_trips" },
	{ MSG_CONF_EXPORT, "CONF_EXPORT", sizeof(struct conf_export), 0,
	    P(PARENT), CHILDREN, "msg_conf_export_round_trips" },
	{ MSG_CONF_USER, "CONF_USER", sizeof(struct conf_user), 0, P(PARENT),
	    P(SESSIOND), "msg_conf_user_round_trips" },
	{ MSG_CONF_END, "CONF_END", sizeof(struct msg_conf_end), 0, P(PARENT),
	    CHILDREN, "msg_conf_end_round_trips" },
	{ MSG_PING, "PING", sizeof(struct msg_ping), 0, P(PARENT), CHILDREN,
	    "msg_ping_round_trips" },
	{ MSG_PONG, "PONG", sizeof(struct msg_ping), 0, CHILDREN, P(PARENT),
	    "msg_pong_round_trips" },
	{ MSG_SHUTDOWN, "SHUTDOWN", 0, 0, P(PARENT), CHILDREN,
	    "msg_shutdown_round_trips" },
	{ MSG_TEST_SYSCALL, "TEST_SYSCALL", 0, 0, P(PARENT), CHILDREN,
	    "msg_test_syscall_round_trips" },
	{ MSG_LISTENER, "LISTENER", sizeof(struct msg_listener), 1, P(PARENT),
	    P(SESSIOND), "msg_listener_round_trips_with_a_working_fd" },
	{ MSG_ATTACH, "ATTACH", sizeof(struct msg_attach), 1, P(SESSIOND),
	    P(BLOCKD), "msg_attach_round_trips_with_a_working_fd" },
	{ MSG_ATTACHED, "ATTACHED", sizeof(struct msg_attach_result), 0,
	    P(BLOCKD), P(SESSIOND), "msg_attached_round_trips" },
	{ MSG_DETACH, "DETACH", sizeof(struct msg_detach), 0, P(SESSIOND),
	    P(BLOCKD), "msg_detach_round_trips" },
	{ MSG_DETACHED, "DETACHED", sizeof(struct msg_detach), 0, P(BLOCKD),
	    P(SESSIOND), "msg_detached_round_trips" },
	{ MSG_HOOK_RUN, "HOOK_RUN", sizeof(struct msg_hook), 0, P(BLOCKD),
	    P(HOOKD), "msg_hook_run_round_trips" },
	{ MSG_HOOK_DONE, "HOOK_DONE", sizeof(struct msg_hook_done), 0, P(HOOKD),
	    P(BLOCKD), "msg_hook_done_round_trips" },
	{ MSG_AUDIT, "AUDIT", sizeof(struct msg_audit), 0,
	    P(SESSIOND) | P(BLOCKD), P(PARENT), "msg_audit_round_trips" },
	{ MSG_SOURCE_START, "SOURCE_START", sizeof(struct conf_export), 0,
	    P(PARENT), P(LAUNCHER), "msg_source_start_round_trips" },
	{ MSG_SOURCE_STARTED, "SOURCE_STARTED", sizeof(struct msg_source), 1,
	    P(LAUNCHER), P(PARENT),
	    "msg_source_started_round_trips_with_a_working_fd" },
	{ MSG_SOURCE_EXITED, "SOURCE_EXITED", sizeof(struct msg_source), 0,
	    P(LAUNCHER), P(PARENT), "msg_source_exited_round_trips" },
	{ MSG_SOURCE_PEER, "SOURCE_PEER", sizeof(struct msg_source), 1,
	    P(PARENT), P(SESSIOND),
	    "msg_source_peer_round_trips_with_a_working_fd" },
	{ MSG_SOURCE_INSERT, "SOURCE_INSERT", sizeof(struct msg_insert), 0,
	    P(SESSIOND), P(PARENT), "msg_source_insert_round_trips" },
	{ MSG_SOURCE_EJECT, "SOURCE_EJECT", sizeof(struct msg_source), 0,
	    P(SESSIOND), P(PARENT), "msg_source_eject_round_trips" },
	{ MSG_SOURCE_ENDED, "SOURCE_ENDED", sizeof(struct msg_source), 0,
	    P(PARENT), P(SESSIOND), "msg_source_ended_round_trips" },
	{ MSG_SOURCE_STOP, "SOURCE_STOP", sizeof(struct msg_source), 0,
	    P(PARENT), P(LAUNCHER), "msg_source_stop_round_trips" },
	{ MSG_SOURCE_CREDENTIALS, "SOURCE_CREDENTIALS",
	    sizeof(struct msg_credentials), 0, P(PARENT), P(LAUNCHER),
	    "msg_source_credentials_round_trips" },
	{ MSG_INSERT_CA, "INSERT_CA", sizeof(struct msg_ca), 0, P(SESSIOND),
	    P(PARENT), "msg_insert_ca_round_trips" },
	{ MSG_SOURCE_CA, "SOURCE_CA", sizeof(struct msg_ca), 0, P(PARENT),
	    P(LAUNCHER), "msg_source_ca_round_trips" },
};
const size_t ncontract = sizeof(contract) / sizeof(contract[0]);

static const struct contract *
contract_of(uint32_t type)
{
	size_t i;

	for (i = 0; i < ncontract; i++)
		if (contract[i].type == type)
			return &contract[i];
	return NULL;
}

static int
lowest_bit(unsigned int mask)
{
	return __builtin_ctz(mask);
}

/* A channel the type may travel: its first sender to its first receiver. */
void
ends_of(uint32_t type, enum msg_proc *self, enum msg_proc *peer)
{
	const struct contract *c = contract_of(type);

	*self = c != NULL ? lowest_bit(c->to) : PROC_SESSIOND;
	*peer = c != NULL ? lowest_bit(c->from) : PROC_PARENT;
}

static void
global_valid(struct conf_global *g)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->user, sizeof(g->user), "nobody");
	snprintf(g->chroot, sizeof(g->chroot), "/var/empty");
	g->auth = CONF_AUTH_NONE;
	g->max_connections = CONF_DEFAULT_MAX_CONNECTIONS;
	g->sessions_per_user = CONF_DEFAULT_SESSIONS_PER_USER;
	g->request_timeout = CONF_DEFAULT_REQUEST_TIMEOUT;
	g->handshake_timeout = CONF_DEFAULT_HANDSHAKE_TIMEOUT;
	g->idle_timeout = CONF_DEFAULT_IDLE_TIMEOUT;
	g->login_idle = CONF_DEFAULT_LOGIN_IDLE;
	g->login_lifetime = CONF_DEFAULT_LOGIN_LIFETIME;
	g->max_header_size = CONF_DEFAULT_MAX_HEADER_SIZE;
	g->max_headers = CONF_DEFAULT_MAX_HEADERS;
	g->nbd_per_user = CONF_DEFAULT_NBD_PER_USER;
	g->logins_per_user = CONF_DEFAULT_LOGINS_PER_USER;
}

/* A payload of the type that its receiver accepts, as our processes send. */
void
valid_payload(enum msg_type type, struct msg *m)
{
	memset(&m->u, 0, sizeof(m->u));
	switch (type) {
	case MSG_CONF_GLOBAL:
		global_valid(&m->u.global);
		break;
	case MSG_CONF_EXPORT:
		snprintf(m->u.export.name, CONF_NAME_MAX, "cd");
		snprintf(m->u.export.device, CONF_PATH_MAX, "/dev/nbd0");
		m->u.export.timeout = 30;
		m->u.export.max_size = UINT64_C(1) << 30;
		break;
	case MSG_CONF_USER:
		snprintf(m->u.user.name, CONF_NAME_MAX, "alice");
		snprintf(m->u.user.password, CONF_HASH_MAX, "$6$salt$hash");
		m->u.user.psk_len = 32; /* a TLS-PSK key travels whole */
		memset(m->u.user.psk, 0xa5, 32);
		break;
	case MSG_CONF_END:
		m->u.conf_end.generation = 1;
		m->u.conf_end.nexports = 1;
		break;
	case MSG_PING:
	case MSG_PONG:
		m->u.ping.seq = 7;
		break;
	case MSG_LISTENER:
		m->u.listener.kind = MSG_LISTEN_HTTP;
		break;
	case MSG_ATTACH:
		snprintf(m->u.attach.export, CONF_NAME_MAX, "cd");
		snprintf(m->u.attach.user, CONF_NAME_MAX, "alice");
		m->u.attach.size = 4096;
		m->u.attach.session = 1;
		m->u.attach.flags = NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY;
		break;
	case MSG_ATTACHED:
		snprintf(m->u.attached.export, CONF_NAME_MAX, "cd");
		snprintf(m->u.attached.device, CONF_NAME_MAX, "/dev/nbd0");
		m->u.attached.session = 1;
		m->u.attached.ok = 1;
		break;
	case MSG_DETACH:
	case MSG_DETACHED:
		snprintf(m->u.detach.export, CONF_NAME_MAX, "cd");
		m->u.detach.session = 1;
		break;
	case MSG_HOOK_RUN:
		snprintf(m->u.hook.export, CONF_NAME_MAX, "cd");
		snprintf(m->u.hook.user, CONF_NAME_MAX, "alice");
		m->u.hook.size = 4096;
		m->u.hook.action = MSG_HOOK_START;
		m->u.hook.read_only = 1;
		break;
	case MSG_HOOK_DONE:
		snprintf(m->u.hook_done.export, CONF_NAME_MAX, "cd");
		snprintf(m->u.hook_done.reason, 128, "ok");
		m->u.hook_done.action = MSG_HOOK_START;
		m->u.hook_done.ok = 1;
		break;
	case MSG_SOURCE_START:
		snprintf(m->u.export.name, CONF_NAME_MAX, "cd");
		snprintf(m->u.export.socket, CONF_SOCK_MAX, "/run/cd.sock");
		snprintf(m->u.export.source, CONF_URI_MAX,
		    "nbd://up.example/cd");
		m->u.export.timeout = 30;
		m->u.export.max_size = UINT64_C(1) << 30;
		break;
	case MSG_SOURCE_STARTED:
	case MSG_SOURCE_PEER:
	case MSG_SOURCE_STOP:
		snprintf(m->u.source.export, CONF_NAME_MAX, "cd");
		m->u.source.pid = 4242;
		break;
	case MSG_SOURCE_INSERT:
		snprintf(m->u.insert.export, CONF_NAME_MAX, "cd");
		snprintf(m->u.insert.user, CONF_NAME_MAX, "alice");
		snprintf(m->u.insert.uri, CONF_URI_MAX,
		    "https://images.example/cd.iso");
		snprintf(m->u.insert.cred_user, CONF_NAME_MAX, "carol");
		snprintf(m->u.insert.cred_password, MSG_SECRET_MAX, "a b:c");
		break;
	case MSG_SOURCE_CREDENTIALS:
		snprintf(m->u.credentials.export, CONF_NAME_MAX, "cd");
		snprintf(m->u.credentials.user, CONF_NAME_MAX, "carol");
		snprintf(m->u.credentials.password, MSG_SECRET_MAX, "a b:c");
		break;
	case MSG_INSERT_CA:
	case MSG_SOURCE_CA:
		snprintf(m->u.ca.export, CONF_NAME_MAX, "cd");
		m->u.ca.index = 1;
		m->u.ca.count = 2;
		m->u.ca.verify = 1;
		snprintf(m->u.ca.pem, MSG_PEM_MAX,
		    "-----BEGIN CERTIFICATE-----\nMIIB+zCCAaGgAwIBAgIU\n"
		    "-----END CERTIFICATE-----\n");
		break;
	case MSG_SOURCE_EJECT:
		snprintf(m->u.source.export, CONF_NAME_MAX, "cd");
		snprintf(m->u.source.reason, 128, "ejected by alice");
		break;
	case MSG_SOURCE_EXITED:
	case MSG_SOURCE_ENDED:
		snprintf(m->u.source.export, CONF_NAME_MAX, "cd");
		snprintf(m->u.source.reason, 128,
		    "nbdkit exited with status 1");
		m->u.source.pid = 4242;
		break;
	case MSG_AUDIT:
		snprintf(m->u.audit.user, CONF_NAME_MAX, "alice");
		snprintf(m->u.audit.addr, 64, "127.0.0.1");
		snprintf(m->u.audit.export, CONF_NAME_MAX, "cd");
		m->u.audit.event = AUDIT_EV_HOOK_FAILED;
		break;
	default:
		break;
	}
}

/* The datagram msg_send would write for m's payload of the type. */
size_t
encode(unsigned char *buf, enum msg_type type, const struct msg *m)
{
	const struct contract *c = contract_of(type);
	struct msg_hdr hdr = { type, c != NULL ? (uint32_t)c->size : 0 };

	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), m->u.bytes, hdr.len);
	return sizeof(hdr) + hdr.len;
}

void
seqpacket_pair(int sp[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		perror("socketpair");
		exit(1);
	}
}

void
close_pair(int sp[2])
{
	close(sp[0]);
	close(sp[1]);
}

/* The descriptor number the kernel will hand out next. */
int
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

int
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
		struct cmsghdr hdr;
		unsigned char buf[CMSG_SPACE(4 * sizeof(int))];
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
size_t
craft(unsigned char *buf, uint32_t type, uint32_t len_field, size_t payload_len)
{
	struct msg_hdr hdr = { type, len_field };

	memcpy(buf, &hdr, sizeof(hdr));
	memset(buf + sizeof(hdr), 0xa5, payload_len);
	return sizeof(hdr) + payload_len;
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

/* Each type from its sender to its receiver: as sent, fd and all. */
static void
test_round_trips(void)
{
	static struct msg sent, m;
	const struct contract *t;
	enum msg_proc self, peer;
	const char *why;
	size_t i;
	int sp[2], pfd[2], r;

	seqpacket_pair(sp);
	for (i = 0; i < ncontract; i++) {
		t = &contract[i];
		pfd[0] = pfd[1] = -1;
		if (t->fd && pipe2(pfd, O_CLOEXEC) == -1) {
			perror("pipe2");
			exit(1);
		}
		valid_payload(t->type, &sent);
		memset(&m, 0, sizeof(m));
		m.fd = -1;
		if (msg_send(sp[0], t->type, sent.u.bytes, t->size, pfd[1]) ==
		    -1) {
			test_result(t->test, 0, "msg_send: %s",
			    strerror(errno));
			goto next;
		}
		if (pfd[1] != -1) {
			close(pfd[1]); /* only the passed copy can write now */
			pfd[1] = -1;
		}
		ends_of(t->type, &self, &peer);
		r = msg_recv(sp[1], self, peer, &m, &why);
		if (r != 1)
			test_result(t->test, 0, "msg_recv %d: %s", r,
			    why ? why : strerror(errno));
		else if (m.type != t->type || m.len != t->size ||
		    (m.fd != -1) != t->fd)
			test_result(t->test, 0, "got type %u len %u fd %d",
			    m.type, m.len, m.fd);
		else if (memcmp(m.u.bytes, sent.u.bytes, m.len) != 0)
			test_result(t->test, 0, "payload differs");
		else if (m.fd != -1 && !fd_reaches_pipe(m.fd, pfd[0]))
			test_result(t->test, 0,
			    "received fd %d does not write into the pipe",
			    m.fd);
		else
			test_result(t->test, 1, NULL);
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

	for (i = 0; i < ncontract; i++) {
		if (strcmp(msg_type_name(contract[i].type), contract[i].name) !=
		    0) {
			test_result("msg_type_names_match_the_table", 0,
			    "type %u is %s, want %s", contract[i].type,
			    msg_type_name(contract[i].type), contract[i].name);
			return;
		}
	}
	test_result("msg_type_names_match_the_table",
	    strcmp(msg_type_name(MSG_NONE), "unknown") == 0 &&
		strcmp(msg_type_name(MSG_TYPE_COUNT), "unknown") == 0 &&
		strcmp(msg_type_name(UINT32_MAX), "unknown") == 0,
	    "MSG_NONE or an out-of-range type has a name");
	test_result("msg_every_type_is_tested", ncontract == MSG_TYPE_COUNT - 1,
	    "%zu types tested, %d in msg.h", ncontract, MSG_TYPE_COUNT - 1);
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
		struct cmsghdr hdr;
		unsigned char buf[CMSG_SPACE(sizeof(int))];
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
	close(pfd[1]); /* only the passed copy can write now */
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
	struct msg_hdr hdr = { MSG_NONE, 0 };
	enum msg_proc self, peer;
	const char *why;
	int sp[2], pfd[2] = { -1, -1 }, before, next, r;

	/* As the type's receiver from its sender: the channel is right. */
	if (len >= sizeof(hdr))
		memcpy(&hdr, buf, sizeof(hdr));
	ends_of(hdr.type, &self, &peer);
	seqpacket_pair(sp);
	if (with_fd && pipe2(pfd, O_CLOEXEC) == -1) {
		perror("pipe2");
		exit(1);
	}
	send_raw(sp[0], buf, len, pfd[1], with_fd);
	before = open_fd_count();
	next = lowest_free_fd();
	r = msg_recv(sp[1], self, peer, &m, &why);
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
	expect_rejected("msg_recv_rejects_ping_with_too_long_payload", buf, len,
	    0, "wrong payload size for its type");
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
	expect_rejected("msg_recv_rejects_fd_on_conf_export_and_closes_it", buf,
	    len, 1, "unexpected fd");

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
	expect_rejected("msg_recv_rejects_payload_one_byte_over_max", buf, len,
	    0, "wrong payload size for its type");
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
	r = msg_recv(sp[1], PROC_BLOCKD, PROC_SESSIOND, &m, &why);
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
	r = msg_recv(sp[1], PROC_SESSIOND, PROC_PARENT, &m, &why);
	test_result("msg_recv_with_nothing_waiting_is_eagain",
	    r == -1 && errno == EAGAIN && why == NULL,
	    "returned %d, errno %d, reason %s", r, errno, why ? why : "none");

	msg_send(sp[0], MSG_SHUTDOWN, NULL, 0, -1);
	close(sp[0]);
	r = msg_recv(sp[1], PROC_SESSIOND, PROC_PARENT, &m, &why);
	test_result("msg_recv_delivers_what_was_sent_before_close",
	    r == 1 && m.type == MSG_SHUTDOWN, "returned %d", r);
	r = msg_recv(sp[1], PROC_SESSIOND, PROC_PARENT, &m, &why);
	test_result("msg_recv_returns_0_when_peer_closes",
	    r == 0 && why == NULL, "returned %d, reason %s", r,
	    why ? why : "none");
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
	static struct msg m, untouched, valid;
	struct msg_ping ping = { 0x1122334455667788ULL };
	const char *why;
	size_t len;

	len = craft(buf, MSG_PONG, sizeof(ping), 0);
	memcpy(buf + sizeof(struct msg_hdr), &ping, sizeof(ping));
	len += sizeof(ping);
	why = msg_decode(buf, len, -1, PROC_PARENT, PROC_HOOKD, &m);
	test_result("msg_decode_accepts_pong",
	    why == NULL && m.type == MSG_PONG && m.len == sizeof(ping) &&
		m.fd == -1 && m.u.ping.seq == ping.seq,
	    "%s", why ? why : "wrong contents");

	why = msg_decode(buf, 0, -1, PROC_PARENT, PROC_HOOKD, &m);
	test_result("msg_decode_rejects_empty_buffer",
	    why != NULL && strcmp(why, "truncated header") == 0, "%s",
	    why ? why : "accepted");

	len = craft(buf, MSG_PING, UINT32_MAX, 8);
	why = msg_decode(buf, len, -1, PROC_HOOKD, PROC_PARENT, &m);
	test_result("msg_decode_rejects_length_uint32_max",
	    why != NULL &&
		strcmp(why, "length does not match the datagram") == 0,
	    "%s", why ? why : "accepted");

	len = craft(buf, MSG_PING, sizeof(ping), sizeof(ping));
	why = msg_decode(buf, len, 42, PROC_HOOKD, PROC_PARENT, &m);
	test_result("msg_decode_rejects_fd_on_ping",
	    why != NULL && strcmp(why, "unexpected fd") == 0, "%s",
	    why ? why : "accepted");

	valid_payload(MSG_ATTACH, &valid);
	len = encode(buf, MSG_ATTACH, &valid);
	why = msg_decode(buf, len, 42, PROC_BLOCKD, PROC_SESSIOND, &m);
	test_result("msg_decode_accepts_attach_with_fd",
	    why == NULL && m.type == MSG_ATTACH && m.fd == 42, "%s",
	    why ? why : "wrong fd");
	why = msg_decode(buf, len, -1, PROC_BLOCKD, PROC_SESSIOND, &m);
	test_result("msg_decode_rejects_attach_without_fd",
	    why != NULL && strcmp(why, "fd missing") == 0, "%s",
	    why ? why : "accepted");

	len = craft(buf, MSG_CONF_USER, sizeof(struct conf_user) + 1,
	    sizeof(struct conf_user) + 1);
	why = msg_decode(buf, len, -1, PROC_SESSIOND, PROC_PARENT, &m);
	test_result("msg_decode_rejects_conf_user_one_byte_long",
	    why != NULL && strcmp(why, "wrong payload size for its type") == 0,
	    "%s", why ? why : "accepted");

	len = craft(buf, MSG_CONF_END, sizeof(struct msg_conf_end),
	    sizeof(struct msg_conf_end));
	why = msg_decode(buf, len - 1, -1, PROC_HOOKD, PROC_PARENT, &m);
	test_result("msg_decode_rejects_buffer_cut_short", why != NULL,
	    "accepted");

	memset(&m, 0x5a, sizeof(m));
	memcpy(&untouched, &m, sizeof(m));
	len = craft(buf, MSG_TYPE_COUNT + 100, 4, 4);
	why = msg_decode(buf, len, -1, PROC_HOOKD, PROC_PARENT, &m);
	test_result("msg_decode_leaves_message_untouched_on_rejection",
	    why != NULL && memcmp(&m, &untouched, sizeof(m)) == 0, "%s",
	    why ? "message was written" : "accepted");

	/* A field check fails only after the whole payload was read. */
	valid_payload(MSG_DETACH, &valid);
	valid.u.detach.session = 0;
	len = encode(buf, MSG_DETACH, &valid);
	why = msg_decode(buf, len, -1, PROC_BLOCKD, PROC_SESSIOND, &m);
	test_result("msg_decode_leaves_message_untouched_on_a_bad_field",
	    why != NULL && memcmp(&m, &untouched, sizeof(m)) == 0, "%s",
	    why ? "message was written" : "accepted");
}

/*
 * msg_test [ARCHITECTURE.md] runs the suite, and checks the page's
 * message table if given one; msg_test -M prints that table.
 */
int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "-M") == 0) {
		print_table(stdout);
		return 0;
	}
	/* SIGPIPE stays fatal: msg_send must not raise it. */
	test_round_trips();
	test_type_names();
	test_fd_passing();
	test_rejections();
	test_two_fds();
	test_recv_states();
	test_decode();
	test_contract();
	test_chan_all();
	if (argc == 2)
		test_architecture(argv[1]);
	return test_done();
}
