/*
 * libFuzzer target for blockd's handlers: ATTACH and DETACH from sessiond,
 * HOOK_DONE from hookd, and the parent's config pushes, pings and
 * shutdown, through child.c's dispatch into blockd.c itself; NBD netlink
 * is a fake kernel that checks every call (handler.h: the input). Asserts:
 * - a device is connected only for an ATTACH of a device export of
 *   blockd's config: its /dev/nbdN, the socket that came along (a
 *   connected AF_UNIX stream), a size within max-size, the export's
 *   timeout, 512-byte blocks, the flags as sent, read-only if the export
 *   is; never two connected sessions for one export;
 * - the fd of every message is closed once its handler returns;
 * - an ATTACH that connects nothing is refused at once, one answer;
 * - ATTACHED ok names the device connected for that session, once; a
 *   refused session keeps no device; DETACHED comes once, for a session
 *   whose device is disconnected; a session sessiond was told of is not
 *   forgotten: its device stays busy until sessiond hears DETACHED;
 * - the start hook runs for a connected device, the stop hook for a
 *   disconnected one; every message sent passes its receiver's table;
 * - PONG echoes the PING; at exit no device blockd connected is left.
 */
#include <errno.h>

#include "handler.h"

/* blockd itself: its statics in reach, each run a fresh process. */
#define main blockd_main
#include "blockd.c"
#undef main
#include "read_ahead.c"

/* The input's first byte. */
#define OPT_NO_NETLINK 0x01		/* the kernel has no nbd family */
#define OPT_STALE 0x02			/* every device starts connected */
#define OPT_STATUS_FAILS 0x04		/* asking whether one is fails */
#define OPT_LOOP_FIRST 0x08		/* the start-up stop hooks run first */
#define OPT_VARIANT(o) (((o) >> 4) & 3) /* the first config */

/* Things the world does: a record from blockd to itself, by type. */
enum world {
	WORLD_RELOAD,	      /* the parent pushes variant payload[0] */
	WORLD_KERNEL_REFUSES, /* the next connect fails */
	WORLD_HOOKD_GONE,     /* its channel closes */
	WORLD_SESSIOND_GONE,
	WORLD_PARENT_GONE,
	WORLD_COUNT
};

#define NBD_DEVICES 1000 /* /dev/nbd0 to /dev/nbd999 */
#define CONNS_MAX 4096

/* A connection blockd made, and what sessiond was told of it. */
struct conn {
	char export[CONF_NAME_MAX];
	uint32_t session;
	uint32_t index;
	uint64_t size;
	int read_only;
	int connected;
	int answered; /* ATTACHED ok */
	int refused;  /* ATTACHED refused after the connect */
	int detached; /* DETACHED */
};

static struct child child;
static uint32_t generation;
static uint8_t options;

/* The fake kernel: per device 0, a stale connection (-1) or conn + 1. */
static int kdevs[NBD_DEVICES];
static struct conn conns[CONNS_MAX];
static int nconns;
static int refuse_next;

/* The ATTACH being dispatched, its answers so far, and the last PING. */
static int in_attach;
static struct msg_attach cur_attach;
static int cur_fd, cur_fd_kind, cur_conns, cur_answers;
static uint64_t last_ping;

static const char *const blockd_fatal_ok[] = {
	"CONF_GLOBAL from parent in the middle of a push",
	"%s before CONF_GLOBAL from parent", "too many CONF_EXPORT from parent",
	"incomplete config from parent",
	"config %u from parent after config %u", NULL
};

/* --- the fake kernel --------------------------------------------------- */

int
nbd_nl_open(struct nbd_nl *nl)
{
	memset(nl, 0, sizeof(*nl));
	nl->fd = -1;
	if (options & OPT_NO_NETLINK)
		return -ENOENT;
	nl->family = 42;
	return 0;
}

static void
nl_check(const struct nbd_nl *nl, uint32_t index)
{
	if (nl != &blk_nl || nl->family == 0)
		handler_fail("netlink call without the family");
	if (index >= NBD_DEVICES)
		handler_fail("/dev/nbd%u does not exist", index);
}

int
nbd_nl_connected(struct nbd_nl *nl, uint32_t index)
{
	nl_check(nl, index);
	if (options & OPT_STATUS_FAILS)
		return -EIO;
	return kdevs[index] != 0;
}

int
nbd_nl_disconnect(struct nbd_nl *nl, uint32_t index)
{
	nl_check(nl, index);
	if (kdevs[index] == 0)
		handler_fail("disconnect of /dev/nbd%u, not connected", index);
	if (kdevs[index] > 0)
		conns[kdevs[index] - 1].connected = 0;
	kdevs[index] = 0;
	return 0;
}

int
nbd_nl_connect(struct nbd_nl *nl, const struct nbd_nl_connect *nc)
{
	const struct conf_export *e;
	struct conn *k;
	int i;

	nl_check(nl, nc->index);
	if (!in_attach)
		handler_fail("connect outside an ATTACH");
	e = conf_find_export(child.conf, cur_attach.export);
	if (e == NULL || e->device[0] == '\0')
		handler_fail("connect for %s, no device export",
		    cur_attach.export);
	if ((int)nc->index != conf_nbd_index(e->device))
		handler_fail("%s: connect of /dev/nbd%u, not %s", e->name,
		    nc->index, e->device);
	if (nc->sock != cur_fd || cur_fd_kind != FD_STREAM)
		handler_fail("%s: connect with fd %d of kind %d", e->name,
		    nc->sock, cur_fd_kind);
	if (nc->size != cur_attach.size || nc->size == 0 ||
	    nc->size > e->max_size)
		handler_fail("%s: connect of %llu bytes, max-size %llu",
		    e->name, (unsigned long long)nc->size,
		    (unsigned long long)e->max_size);
	/* the kernel's timeout outlasts the reconnect window (issue 13) */
	if (nc->block_size != 512 ||
	    nc->timeout != (uint64_t)e->timeout + (uint64_t)e->reconnect ||
	    nc->server_flags != cur_attach.flags)
		handler_fail("%s: connect with blocks %llu, timeout %llu, "
			     "flags %#llx",
		    e->name, (unsigned long long)nc->block_size,
		    (unsigned long long)nc->timeout,
		    (unsigned long long)nc->server_flags);
	if (e->read_only && !(nc->server_flags & NBD_TFLAG_READ_ONLY))
		handler_fail("%s: read-only export connected writable",
		    e->name);
	for (i = 0; i < nconns; i++)
		if (conns[i].connected && strcmp(conns[i].export, e->name) == 0)
			handler_fail("%s: a second session connected", e->name);
	if (refuse_next) {
		refuse_next = 0;
		return -EINVAL;
	}
	if (kdevs[nc->index] != 0)
		return -EBUSY; /* the kernel's answer for a device in use */
	if (nconns == CONNS_MAX)
		return -ENOMEM;
	k = &conns[nconns++];
	memset(k, 0, sizeof(*k));
	snprintf(k->export, sizeof(k->export), "%s", e->name);
	k->session = cur_attach.session;
	k->index = nc->index;
	k->size = nc->size;
	k->read_only = (nc->server_flags & NBD_TFLAG_READ_ONLY) != 0;
	k->connected = 1;
	kdevs[nc->index] = nconns;
	return 0;
}

/* --- what blockd says --------------------------------------------------- */

/* The live connection of a session, or the first other one that matches. */
static struct conn *
conn_find(const char *export, uint32_t session, int connected)
{
	int i;

	for (i = 0; i < nconns; i++)
		if (conns[i].connected == connected &&
		    conns[i].session == session &&
		    strcmp(conns[i].export, export) == 0 &&
		    (connected || (!conns[i].detached && !conns[i].refused)))
			return &conns[i];
	return NULL;
}

static void
sent_attached(const struct msg_attach_result *r)
{
	char device[CONF_NAME_MAX];
	struct conn *k = conn_find(r->export, r->session, 1);

	if (in_attach &&
	    (strcmp(r->export, cur_attach.export) != 0 ||
		r->session != cur_attach.session || cur_answers++ > 0))
		handler_fail("ATTACH %s session %u answered for %s session %u",
		    cur_attach.export, cur_attach.session, r->export,
		    r->session);
	if (!r->ok) {
		/* Outside an ATTACH, a refusal is a failed start hook's. */
		if (in_attach)
			return;
		if (k == NULL || k->answered || k->refused ||
		    strncmp(r->reason, "start hook failed", 17) != 0)
			handler_fail("%s session %u: refused (%s) outside an "
				     "ATTACH, with no start pending",
			    r->export, r->session, r->reason);
		k->refused = 1;
		return;
	}
	if (k == NULL || k->answered || k->refused)
		handler_fail("%s session %u: ATTACHED ok without its device",
		    r->export, r->session);
	snprintf(device, sizeof(device), "/dev/nbd%u", k->index);
	if (strcmp(r->device, device) != 0)
		handler_fail("%s session %u: ATTACHED names %s, connected %s",
		    r->export, r->session, r->device, device);
	k->answered = 1;
}

static void
sent_detached(const struct msg_detach *det)
{
	struct conn *k = conn_find(det->export, det->session, 0);

	if (k == NULL)
		handler_fail("%s session %u: DETACHED with no device released",
		    det->export, det->session);
	k->detached = 1;
}

static void
sent_hook_run(const struct msg_hook *h)
{
	struct conn *k;
	int i;

	if (h->action == MSG_HOOK_START) {
		k = conn_find(h->export, h->session, 1);
		if (k == NULL || k->answered || k->size != h->size ||
		    k->read_only != h->read_only)
			handler_fail("%s session %u: start hook without the "
				     "device it is for",
			    h->export, h->session);
		return;
	}
	for (i = 0; i < nconns; i++)
		if (conns[i].connected &&
		    strcmp(conns[i].export, h->export) == 0)
			handler_fail("%s: stop hook while /dev/nbd%u is "
				     "connected",
			    h->export, conns[i].index);
}

static void
blockd_sent(const struct chan *c, const struct msg *m)
{
	switch (m->type) {
	case MSG_ATTACHED:
		sent_attached(&m->u.attached);
		break;
	case MSG_DETACHED:
		sent_detached(&m->u.detach);
		break;
	case MSG_HOOK_RUN:
		sent_hook_run(&m->u.hook);
		break;
	case MSG_PONG:
		if (m->u.ping.seq != last_ping)
			handler_fail("PONG %llu for PING %llu",
			    (unsigned long long)m->u.ping.seq,
			    (unsigned long long)last_ping);
		break;
	case MSG_AUDIT: /* the table allows hook failures only */
		break;
	default:
		handler_fail("blockd sent %s to %s", msg_type_name(m->type),
		    msg_proc_name(c->peer));
	}
}

/* --- the run ------------------------------------------------------------ */

static void
blockd_start(uint8_t opts)
{
	static struct {
		struct nbd_nl nl;
		int nl_error;
	} fresh;
	static int fresh_taken;
	struct conf view;

	if (!fresh_taken) {
		fresh.nl = blk_nl;
		fresh.nl_error = blk_nl_error;
		fresh_taken = 1;
	}
	blk_nl = fresh.nl;
	blk_nl_error = fresh.nl_error;
	memset(blk_devs, 0, sizeof(blk_devs));
	blk_index.n = 0;

	options = opts;
	memset(kdevs, 0, sizeof(kdevs));
	nconns = 0;
	refuse_next = 0;
	in_attach = 0;
	last_ping = 0;
	generation = 1;

	/* As child_start() leaves it, the channels as child_run() sets. */
	memset(&child, 0, sizeof(child));
	child.role = &blockd_role;
	child.name = msg_proc_name(PROC_BLOCKD);
	if ((child.base = event_base_new()) == NULL)
		handler_fail("event_base_new");
	child_channels(&child);
	handler_view(&view, PROC_BLOCKD, OPT_VARIANT(opts));
	if (opts & OPT_STALE) {
		kdevs[0] = kdevs[1] = kdevs[2] = kdevs[3] = -1;
		kdevs[NBD_DEVICES - 1] = -1;
	}
	handler_push_conf(&view, generation);
	if (child.conf == NULL)
		handler_fail("blockd refused its first config");
	if (opts & OPT_LOOP_FIRST)
		event_base_loop(child.base, EVLOOP_NONBLOCK);
}

static struct chan *
blockd_chan_from(enum msg_proc peer)
{
	int i;

	if (peer == PROC_PARENT)
		return &child.chan;
	for (i = 0; i < 2; i++)
		if (msg_sibling(PROC_BLOCKD, i) == (int)peer)
			return &child.sib[i];
	return NULL;
}

static void
blockd_world(const struct rec *r)
{
	struct conf view;

	switch (r->type % WORLD_COUNT) {
	case WORLD_RELOAD:
		handler_view(&view, PROC_BLOCKD,
		    r->len > 0 ? r->payload[0] : 0);
		handler_push_conf(&view, ++generation);
		break;
	case WORLD_KERNEL_REFUSES:
		refuse_next = 1;
		break;
	case WORLD_HOOKD_GONE:
		handler_closed(to_hookd(&child));
		break;
	case WORLD_SESSIOND_GONE:
		handler_closed(to_sessiond(&child));
		break;
	case WORLD_PARENT_GONE:
		handler_closed(&child.chan);
		break;
	}
}

static void
blockd_before(enum msg_proc peer, const struct msg *m, int fd_kind)
{
	(void)peer;
	if (m->type == MSG_ATTACH) {
		in_attach = 1;
		cur_attach = m->u.attach;
		cur_fd = m->fd;
		cur_fd_kind = fd_kind;
		cur_conns = nconns;
		cur_answers = 0;
	} else if (m->type == MSG_PING)
		last_ping = m->u.ping.seq;
}

/* An ATTACH not connected is refused at once; one connected may wait. */
static void
blockd_after(const struct msg *m)
{
	if (m->type == MSG_ATTACH && nconns == cur_conns && cur_answers != 1)
		handler_fail("ATTACH %s session %u: no device and no answer",
		    cur_attach.export, cur_attach.session);
	in_attach = 0;
}

/* The start-up stop hooks wait for the loop; it turns between messages. */
static void
blockd_settle(void)
{
	event_base_loop(child.base, EVLOOP_NONBLOCK);
}

static void
blockd_check(void)
{
	const struct blk_dev *d;
	int i, j;

	if (blk_index.n < 0 || blk_index.n > CONF_EXPORT_MAX)
		handler_fail("%d devices", blk_index.n);
	for (i = 0; i < blk_index.n; i++)
		for (j = i + 1; j < blk_index.n; j++)
			if (strcmp(blk_devs[i].export, blk_devs[j].export) == 0)
				handler_fail("export %s twice in the device "
					     "table",
				    blk_devs[i].export);
	for (i = 0; i < nconns; i++) {
		if (conns[i].refused && conns[i].connected)
			handler_fail("%s session %u: refused, still connected",
			    conns[i].export, conns[i].session);
		/* Once idle, the device is another session's to take. */
		if (conns[i].answered && !conns[i].detached &&
		    !conns[i].connected && to_sessiond(&child)->fd != -1 &&
		    ((d = dev_find(conns[i].export)) == NULL ||
			d->state == BLK_IDLE))
			handler_fail("%s session %u: device released, sessiond "
				     "never told",
			    conns[i].export, conns[i].session);
	}
}

static void
blockd_end(enum handler_end how)
{
	int i;

	if (how != HANDLER_EXITED)
		return;
	for (i = 0; i < nconns; i++)
		if (conns[i].connected)
			handler_fail("exited with %s session %u on /dev/nbd%u",
			    conns[i].export, conns[i].session, conns[i].index);
	if (!blk_all_idle())
		handler_fail("exited with a device not idle");
}

static void
blockd_cleanup(void)
{
	event_base_free(child.base);
	free(child.conf);
	free(child.staging);
	memset(&child, 0, sizeof(child));
}

static const struct handler_target blockd_target = {
	.self = PROC_BLOCKD,
	.fatal_ok = blockd_fatal_ok,
	.start = blockd_start,
	.chan_from = blockd_chan_from,
	.world = blockd_world,
	.before = blockd_before,
	.after = blockd_after,
	.sent = blockd_sent,
	.settle = blockd_settle,
	.check = blockd_check,
	.end = blockd_end,
	.cleanup = blockd_cleanup,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return handler_run(&blockd_target, data, size);
}
