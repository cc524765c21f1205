/*
 * Generic netlink without libnl: a request is a nlmsghdr, a genlmsghdr
 * and a few attributes; the answer is an ack, an error, or (for STATUS)
 * a device list. The socket is opened before the sandbox closes.
 */
#include <sys/socket.h>

#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "nbd_netlink.h"

#define NL_BUF 8192

struct nl_req {
	struct nlmsghdr nlh;
	struct genlmsghdr genl;
	unsigned char attrs[512];
};

static struct nlattr *
attr_put(struct nl_req *req, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a =
	    (struct nlattr *)((char *)req + NLMSG_ALIGN(req->nlh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len > 0)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	req->nlh.nlmsg_len =
	    NLMSG_ALIGN(req->nlh.nlmsg_len) + NLA_ALIGN(a->nla_len);
	return a;
}

static struct nlattr *
attr_nest(struct nl_req *req, uint16_t type)
{
	return attr_put(req, type | NLA_F_NESTED, NULL, 0);
}

static void
attr_nest_end(struct nl_req *req, struct nlattr *nest)
{
	nest->nla_len = (char *)req + req->nlh.nlmsg_len - (char *)nest;
}

static void
req_init(struct nbd_nl *nl, struct nl_req *req, uint16_t type, uint8_t cmd,
    uint8_t version)
{
	memset(req, 0, sizeof(*req));
	req->nlh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	req->nlh.nlmsg_type = type;
	req->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req->nlh.nlmsg_seq = ++nl->seq;
	req->genl.cmd = cmd;
	req->genl.version = version;
}

/*
 * One datagram from the kernel: recvmsg, which every process using this
 * already may call, tells the sender; a datagram from another port (a
 * process, not the kernel) or cut short is refused. Returns its length or
 * -errno.
 */
static ssize_t
nl_recv(struct nbd_nl *nl, void *buf, size_t size)
{
	struct sockaddr_nl from;
	struct iovec iov = { buf, size };
	struct msghdr mh = {
		.msg_name = &from,
		.msg_namelen = sizeof(from),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	do {
		n = recvmsg(nl->fd, &mh, 0);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -errno;
	if (mh.msg_namelen != sizeof(from) || from.nl_family != AF_NETLINK ||
	    from.nl_pid != 0)
		return -EPERM;
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return n;
}

/*
 * Sends req and reads until its ack, its error, or the NLMSG_DONE that
 * ends a multi-part answer. Each data message on the way goes to cb (may
 * be NULL). Returns 0 or -errno.
 */
static int
nl_talk(struct nbd_nl *nl, struct nl_req *req,
    void (*cb)(const struct nlmsghdr *, void *), void *arg)
{
	unsigned char buf[NL_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *h;
	struct nlmsgerr *e;
	ssize_t n;
	int len;

	if (send(nl->fd, req, req->nlh.nlmsg_len, 0) == -1)
		return -errno;
	for (;;) {
		if ((n = nl_recv(nl, buf, sizeof(buf))) < 0)
			return (int)n;
		len = (int)n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != req->nlh.nlmsg_seq ||
			    h->nlmsg_type == NLMSG_NOOP)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EPROTO;
				e = NLMSG_DATA(h);
				return e->error;
			}
			if (cb != NULL)
				cb(h, arg);
		}
	}
}

static void
family_cb(const struct nlmsghdr *h, void *arg)
{
	const struct nlattr *a;
	int len = h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);

	a = (const struct nlattr *)((const char *)NLMSG_DATA(h) + GENL_HDRLEN);
	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	    a->nla_len <= len) {
		if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID &&
		    a->nla_len >= NLA_HDRLEN + sizeof(uint16_t))
			memcpy(arg, (const char *)a + NLA_HDRLEN,
			    sizeof(uint16_t));
		len -= NLA_ALIGN(a->nla_len);
		a = (const struct nlattr *)((const char *)a +
		    NLA_ALIGN(a->nla_len));
	}
}

/* Returns 0, or -errno (-ENOENT: the kernel has no nbd family). */
int
nbd_nl_open(struct nbd_nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nl_req req;
	int r;

	memset(nl, 0, sizeof(*nl));
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (nl->fd == -1)
		return -errno;
	req_init(nl, &req, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	attr_put(&req, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME,
	    sizeof(NBD_GENL_FAMILY_NAME));
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		r = -errno;
	else if ((r = nl_talk(nl, &req, family_cb, &nl->family)) == 0 &&
	    nl->family == 0)
		r = -ENOENT;
	if (r != 0) {
		/* Without the family the socket is of no use: no fd kept. */
		close(nl->fd);
		nl->fd = -1;
		nl->family = 0;
	}
	return r;
}

int
nbd_nl_connect(struct nbd_nl *nl, const struct nbd_nl_connect *c)
{
	struct nlattr *socks, *item;
	struct nl_req req;
	uint32_t fd = (uint32_t)c->sock;

	if (nl->family == 0)
		return -ENOENT;
	req_init(nl, &req, nl->family, NBD_CMD_CONNECT, NBD_GENL_VERSION);
	attr_put(&req, NBD_ATTR_INDEX, &c->index, sizeof(c->index));
	attr_put(&req, NBD_ATTR_SIZE_BYTES, &c->size, sizeof(c->size));
	attr_put(&req, NBD_ATTR_BLOCK_SIZE_BYTES, &c->block_size,
	    sizeof(c->block_size));
	attr_put(&req, NBD_ATTR_TIMEOUT, &c->timeout, sizeof(c->timeout));
	attr_put(&req, NBD_ATTR_SERVER_FLAGS, &c->server_flags,
	    sizeof(c->server_flags));
	socks = attr_nest(&req, NBD_ATTR_SOCKETS);
	item = attr_nest(&req, NBD_SOCK_ITEM);
	attr_put(&req, NBD_SOCK_FD, &fd, sizeof(fd));
	attr_nest_end(&req, item);
	attr_nest_end(&req, socks);
	return nl_talk(nl, &req, NULL, NULL);
}

int
nbd_nl_disconnect(struct nbd_nl *nl, uint32_t index)
{
	struct nl_req req;

	if (nl->family == 0)
		return -ENOENT;
	req_init(nl, &req, nl->family, NBD_CMD_DISCONNECT, NBD_GENL_VERSION);
	attr_put(&req, NBD_ATTR_INDEX, &index, sizeof(index));
	return nl_talk(nl, &req, NULL, NULL);
}

struct status_arg {
	int connected;
};

/* Finds attribute type in [p, end): its payload, or NULL. */
static const unsigned char *
attr_find(const unsigned char *p, const unsigned char *end, uint16_t type,
    const unsigned char **payload_end)
{
	const struct nlattr *a;

	while (p + NLA_HDRLEN <= end) {
		a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type) {
			*payload_end = p + a->nla_len;
			return p + NLA_HDRLEN;
		}
		p += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

/* DEVICE_LIST → DEVICE_ITEM → DEVICE_CONNECTED (u8); we asked for one. */
static void
status_cb(const struct nlmsghdr *h, void *arg)
{
	const unsigned char *p =
	    (const unsigned char *)NLMSG_DATA(h) + GENL_HDRLEN;
	const unsigned char *end = (const unsigned char *)h + h->nlmsg_len;
	struct status_arg *st = arg;

	if ((p = attr_find(p, end, NBD_ATTR_DEVICE_LIST, &end)) == NULL ||
	    (p = attr_find(p, end, NBD_DEVICE_ITEM, &end)) == NULL ||
	    (p = attr_find(p, end, NBD_DEVICE_CONNECTED, &end)) == NULL ||
	    end - p < 1)
		return;
	st->connected = p[0];
}

/* 1 if connected, 0 if not, -errno on failure. */
int
nbd_nl_connected(struct nbd_nl *nl, uint32_t index)
{
	struct status_arg st = { 0 };
	struct nl_req req;
	int r;

	if (nl->family == 0)
		return -ENOENT;
	req_init(nl, &req, nl->family, NBD_CMD_STATUS, NBD_GENL_VERSION);
	attr_put(&req, NBD_ATTR_INDEX, &index, sizeof(index));
	if ((r = nl_talk(nl, &req, status_cb, &st)) != 0)
		return r;
	return st.connected;
}
