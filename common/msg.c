/*
 * The channel between vmediad's processes: one message per SOCK_SEQPACKET
 * datagram, checked against the type table for exact size and fd before
 * anyone reads it. A malformed message is fatal to the receiver.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"

static const struct msg_info msg_table[MSG_TYPE_COUNT] = {
	[MSG_CONF_GLOBAL] = { "CONF_GLOBAL", sizeof(struct conf_global),
	    MSG_FD_NEVER },
	[MSG_CONF_EXPORT] = { "CONF_EXPORT", sizeof(struct conf_export),
	    MSG_FD_NEVER },
	[MSG_CONF_USER] = { "CONF_USER", sizeof(struct conf_user),
	    MSG_FD_NEVER },
	[MSG_CONF_END] = { "CONF_END", sizeof(struct msg_conf_end),
	    MSG_FD_NEVER },
	[MSG_PING] = { "PING", sizeof(struct msg_ping), MSG_FD_NEVER },
	[MSG_PONG] = { "PONG", sizeof(struct msg_ping), MSG_FD_NEVER },
	[MSG_SHUTDOWN] = { "SHUTDOWN", 0, MSG_FD_NEVER },
	[MSG_LISTENER] = { "LISTENER", sizeof(struct msg_listener),
	    MSG_FD_ALWAYS },
	[MSG_ATTACH] = { "ATTACH", sizeof(struct msg_attach), MSG_FD_ALWAYS },
	[MSG_ATTACHED] = { "ATTACHED", sizeof(struct msg_attach_result),
	    MSG_FD_NEVER },
	[MSG_DETACH] = { "DETACH", sizeof(struct msg_detach), MSG_FD_NEVER },
	[MSG_DETACHED] = { "DETACHED", sizeof(struct msg_detach),
	    MSG_FD_NEVER },
	[MSG_HOOK_RUN] = { "HOOK_RUN", sizeof(struct msg_hook), MSG_FD_NEVER },
	[MSG_HOOK_DONE] = { "HOOK_DONE", sizeof(struct msg_hook_done),
	    MSG_FD_NEVER },
	[MSG_AUDIT] = { "AUDIT", sizeof(struct msg_audit), MSG_FD_NEVER },
#ifdef VMEDIAD_TEST
	[MSG_TEST_SYSCALL] = { "TEST_SYSCALL", 0, MSG_FD_NEVER },
#endif
};

_Static_assert(sizeof(struct conf_global) <= MSG_PAYLOAD_MAX,
    "conf_global must fit one message");
_Static_assert(sizeof(struct conf_export) <= MSG_PAYLOAD_MAX,
    "conf_export must fit one message");

/* A string field must end inside its array before anyone reads it. */
int
msg_string_ok(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

const char *
msg_type_name(uint32_t type)
{
	if (type >= MSG_TYPE_COUNT || msg_table[type].name == NULL)
		return "unknown";
	return msg_table[type].name;
}

/*
 * Checks one received datagram (and the fd that came with it, or -1)
 * against the table and copies it into m. Returns NULL or the problem;
 * on a problem the fd is left for the caller to close.
 */
const char *
msg_decode(const void *buf, size_t n, int fd, struct msg *m)
{
	struct msg_hdr hdr;
	const struct msg_info *info;

	if (n < sizeof(hdr))
		return "truncated header";
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.len != n - sizeof(hdr))
		return "length does not match the datagram";
	if (hdr.type >= MSG_TYPE_COUNT || msg_table[hdr.type].name == NULL)
		return "unknown message type";
	info = &msg_table[hdr.type];
	if (hdr.len != info->size)
		return "wrong payload size for its type";
	if (info->fd == MSG_FD_ALWAYS && fd == -1)
		return "fd missing";
	if (info->fd == MSG_FD_NEVER && fd != -1)
		return "unexpected fd";
	m->type = hdr.type;
	m->len = hdr.len;
	m->fd = fd;
	memcpy(m->u.bytes, (const unsigned char *)buf + sizeof(hdr), hdr.len);
	return NULL;
}

/*
 * Extracts the single fd a datagram may carry; -2 if it was malformed.
 * Every other descriptor that came along is closed, whatever happens.
 */
static int
msg_control_fd(struct msghdr *mh)
{
	struct cmsghdr *cm;
	int fd = -1, extra = 0, got;
	size_t i, n;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS) {
			extra = 1;
			continue;
		}
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&got, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
			if (fd == -1)
				fd = got;
			else {
				close(got);
				extra = 1;
			}
		}
	}
	if (extra || (mh->msg_flags & MSG_CTRUNC)) {
		if (fd != -1)
			close(fd);
		return -2;
	}
	return fd;
}

/*
 * Reads one message without blocking. Returns 1 with m filled, 0 when the
 * peer has closed, -1 with errno EAGAIN when nothing waits, or -1 with
 * *why set when the message was malformed.
 */
int
msg_recv(int sock, struct msg *m, const char **why)
{
	unsigned char buf[sizeof(struct msg_hdr) + MSG_PAYLOAD_MAX + 1];
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	ssize_t n;
	int fd;

	*why = NULL;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == ECONNRESET || errno == EPIPE))
		return 0;
	if (n == -1) {
		if (errno != EAGAIN)
			*why = strerror(errno);
		return -1;
	}
	if ((fd = msg_control_fd(&mh)) == -2) {
		*why = "bad control data";
		return -1;
	}
	if (n == 0 && fd == -1)
		return 0;
	if (mh.msg_flags & MSG_TRUNC)
		*why = "oversized message";
	else
		*why = msg_decode(buf, n, fd, m);
	if (*why != NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	return 1;
}

/* Returns 0, or -1 with errno set (EPIPE when the peer is gone). */
int
msg_send(int sock, enum msg_type type, const void *payload, size_t len,
    int fd)
{
	struct msg_hdr hdr = { type, (uint32_t)len };
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec iov[2] = {
		{ &hdr, sizeof(hdr) },
		{ (void *)payload, len },
	};
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	if (len > MSG_PAYLOAD_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = len > 0 ? 2 : 1;
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != sizeof(hdr) + len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

static void
chan_readable(evutil_socket_t fd, short events, void *arg)
{
	struct chan *c = arg;
	struct msg m;
	const char *why;
	int r;

	(void)fd;
	(void)events;
	for (;;) {
		r = msg_recv(c->fd, &m, &why);
		if (r == 1) {
			c->dispatch(c, &m, c->arg);
			if (c->fd == -1)
				return;	/* the dispatcher closed us */
			continue;
		}
		if (r == 0) {
			chan_close(c);
			c->closed(c, c->arg);
			return;
		}
		if (why != NULL)
			fatalx("malformed message from %s: %s", c->peer, why);
		return;
	}
}

void
chan_init(struct chan *c, struct event_base *base, int fd, const char *peer,
    chan_dispatch_fn dispatch, chan_closed_fn closed, void *arg)
{
	c->fd = fd;
	c->peer = peer;
	c->dispatch = dispatch;
	c->closed = closed;
	c->arg = arg;
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, chan_readable, c);
	if (c->ev == NULL || event_add(c->ev, NULL) == -1)
		fatalx("cannot watch the channel to %s", peer);
}

void
chan_close(struct chan *c)
{
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
}

/* Our own peer going away is handled by its closed callback, not here. */
void
chan_send(struct chan *c, enum msg_type type, const void *payload,
    size_t len, int fd)
{
	if (c->fd == -1)
		return;
	if (msg_send(c->fd, type, payload, len, fd) == -1 && errno != EPIPE &&
	    errno != ECONNRESET)
		fatal("send %s to %s", msg_type_name(type), c->peer);
}
