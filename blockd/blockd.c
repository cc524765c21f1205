/*
 * blockd: connects sockets that sessiond hands over to the kernel's NBD
 * devices of the exports in its own config, asks hookd to run the start
 * and stop hooks, and disconnects every device before it goes.
 */
#include <sys/socket.h>

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockd.h"
#include "child.h"
#include "export_table.h"
#include "libevent_tv.h"
#include "log.h"
#include "nbd_netlink.h"
#include "nbd_proto.h"

#define BLK_BLOCK_SIZE 512

enum blk_state {
	BLK_IDLE,
	BLK_STARTING, /* connected, start hook running */
	BLK_ACTIVE,
	BLK_STOPPING, /* disconnected, stop hook running */
};

struct blk_dev {
	char export[CONF_NAME_MAX];
	char user[CONF_NAME_MAX];
	uint32_t index;
	uint32_t session;
	uint64_t size;
	int read_only;
	enum blk_state state;
	int detach_wanted; /* sessiond asked while starting */
	int tell_sessiond; /* answer DETACHED when stopped */
};

static struct nbd_nl blk_nl;
static int blk_nl_error = -ENOENT;
static struct blk_dev blk_devs[CONF_EXPORT_MAX];
static struct export_table blk_index =
    EXPORT_TABLE(blk_devs, struct blk_dev, export);

static struct chan *
to_sessiond(struct child *c)
{
	return &c->sib[0];
}

static struct chan *
to_hookd(struct child *c)
{
	return &c->sib[1];
}

static struct blk_dev *
dev_find(const char *export)
{
	return export_table_find(&blk_index, export);
}

/* An entry no session needs, of an export a reload took away. */
static int
dev_unused(const void *entry, const void *arg)
{
	const struct blk_dev *d = entry;
	const struct conf_export *e = conf_find_export(arg, d->export);

	return d->state == BLK_IDLE && (e == NULL || e->device[0] == '\0');
}

/*
 * An export's device entry, made on first use. Reloads may rename
 * exports without end: past CONF_EXPORT_MAX, an unused entry is taken
 * over. NULL if none is (sessions on exports no longer configured).
 */
static struct blk_dev *
dev_get(const struct conf *conf, const struct conf_export *e)
{
	struct blk_dev *d;

	if ((d = dev_find(e->name)) != NULL)
		return d;
	if ((d = export_table_slot(&blk_index, dev_unused, conf)) == NULL)
		return NULL;
	memset(d, 0, sizeof(*d));
	snprintf(d->export, sizeof(d->export), "%s", e->name);
	return d;
}

static void attach_answer(struct child *c, const char *export, uint32_t session,
    const char *device, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
attach_answer(struct child *c, const char *export, uint32_t session,
    const char *device, const char *fmt, ...)
{
	struct msg_attach_result res;
	va_list ap;

	memset(&res, 0, sizeof(res));
	snprintf(res.export, sizeof(res.export), "%s", export);
	res.session = session;
	res.ok = fmt == NULL;
	if (device != NULL)
		snprintf(res.device, sizeof(res.device), "%s", device);
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(res.reason, sizeof(res.reason), fmt, ap);
		va_end(ap);
		log_warnx("export %s: attach refused: %s", export, res.reason);
	}
	chan_send(to_sessiond(c), MSG_ATTACHED, &res, sizeof(res), -1);
}

/*
 * The device as connected, for sessiond: the config may spell it
 * otherwise (/dev/nbd07), or no longer have the export at all.
 */
static void
attach_done(struct child *c, const struct blk_dev *d)
{
	char device[CONF_NAME_MAX];

	snprintf(device, sizeof(device), "/dev/nbd%u", d->index);
	attach_answer(c, d->export, d->session, device, NULL);
}

static void
hook_request(struct child *c, struct blk_dev *d, int action)
{
	struct msg_hook h;

	memset(&h, 0, sizeof(h));
	snprintf(h.export, sizeof(h.export), "%s", d->export);
	snprintf(h.user, sizeof(h.user), "%s", d->user);
	h.size = d->size;
	h.session = d->session;
	h.action = action;
	h.read_only = d->read_only;
	d->state = action == MSG_HOOK_START ? BLK_STARTING : BLK_STOPPING;
	chan_send(to_hookd(c), MSG_HOOK_RUN, &h, sizeof(h), -1);
	/* With hookd gone nobody will answer: carry on without it. */
	if (to_hookd(c)->fd == -1)
		d->state = action == MSG_HOOK_START ? BLK_ACTIVE : BLK_IDLE;
}

static void
dev_disconnect(struct blk_dev *d)
{
	int r;

	if ((r = nbd_nl_disconnect(&blk_nl, d->index)) != 0)
		log_warnx("export %s: disconnect /dev/nbd%u: %s", d->export,
		    d->index, strerror(-r));
	else
		log_info("export %s: /dev/nbd%u disconnected", d->export,
		    d->index);
}

/* The socket must be what sessiond promised: a connected AF_UNIX stream. */
static const char *
socket_check(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	int domain, type;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == -1 ||
	    domain != AF_UNIX)
		return "not an AF_UNIX socket";
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return "not a stream socket";
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return "socket not connected";
	return NULL;
}

/* The table checked the request's form; here, our config's say. */
static const char *
attach_check(const struct conf_export *e, const struct msg_attach *a)
{
	if (e == NULL)
		return "no such export";
	if (e->device[0] == '\0')
		return "not a device export";
	if (a->size > e->max_size)
		return "size out of range";
	if (e->read_only && !(a->flags & NBD_TFLAG_READ_ONLY))
		return "read-only export offered as writable";
	return NULL;
}

static void
attach(struct child *c, struct msg *m)
{
	struct msg_attach *a = &m->u.attach;
	const struct conf_export *e;
	struct nbd_nl_connect nc;
	struct blk_dev *d = NULL;
	const char *why;
	int r;

	e = conf_find_export(c->conf, a->export);
	if ((why = attach_check(e, a)) == NULL &&
	    (why = socket_check(m->fd)) == NULL) {
		if ((d = dev_get(c->conf, e)) == NULL)
			why = "too many devices in use";
		else if (d->state != BLK_IDLE)
			why = "device busy";
	}
	if (why != NULL) {
		close(m->fd);
		attach_answer(c, a->export, a->session, NULL, "%s", why);
		return;
	}
	memset(&nc, 0, sizeof(nc));
	nc.index = (uint32_t)conf_nbd_index(e->device);
	nc.sock = m->fd;
	nc.size = a->size;
	nc.block_size = BLK_BLOCK_SIZE;
	/* a request waiting inside the reconnect window must not fail */
	nc.timeout = (uint64_t)e->timeout + (uint64_t)e->reconnect;
	nc.server_flags = a->flags;
	r = blk_nl.family ? nbd_nl_connect(&blk_nl, &nc) : blk_nl_error;
	close(m->fd); /* the kernel holds its own reference */
	if (r != 0) {
		attach_answer(c, a->export, a->session, NULL, "connect %s: %s",
		    e->device, strerror(-r));
		return;
	}
	d->index = nc.index;
	blk_ra_set(e, d->index);
	d->session = a->session;
	d->size = a->size;
	d->read_only = (a->flags & NBD_TFLAG_READ_ONLY) != 0;
	d->detach_wanted = 0;
	d->tell_sessiond = 1;
	snprintf(d->user, sizeof(d->user), "%s", a->user);
	log_info("export %s: %s connected, %llu bytes%s, user %s", d->export,
	    e->device, (unsigned long long)d->size,
	    d->read_only ? ", read-only" : "", d->user[0] ? d->user : "-");
	hook_request(c, d, MSG_HOOK_START);
	if (d->state == BLK_ACTIVE)
		attach_done(c, d);
}

static void
detach_answer(struct child *c, struct blk_dev *d)
{
	struct msg_detach det;

	if (!d->tell_sessiond)
		return;
	memset(&det, 0, sizeof(det));
	snprintf(det.export, sizeof(det.export), "%s", d->export);
	det.session = d->session;
	d->tell_sessiond = 0;
	chan_send(to_sessiond(c), MSG_DETACHED, &det, sizeof(det), -1);
}

static void
stop_device(struct child *c, struct blk_dev *d)
{
	dev_disconnect(d);
	hook_request(c, d, MSG_HOOK_STOP);
	/* Idle at once, hookd being gone: done as if its stop hook were. */
	if (d->state == BLK_IDLE)
		detach_answer(c, d);
}

static void
detach(struct child *c, struct msg *m)
{
	struct msg_detach *det = &m->u.detach;
	struct blk_dev *d;

	d = dev_find(det->export);
	if (d == NULL || d->session != det->session || d->state == BLK_IDLE)
		return; /* already gone: nothing to do */
	if (d->state == BLK_STARTING)
		d->detach_wanted = 1;
	else if (d->state == BLK_ACTIVE)
		stop_device(c, d);
}

static int
blk_all_idle(void)
{
	int i;

	for (i = 0; i < blk_index.n; i++)
		if (blk_devs[i].state != BLK_IDLE)
			return 0;
	return 1;
}

static void
audit_hook_failed(struct child *c, const struct blk_dev *d,
    const struct msg_hook_done *h)
{
	struct msg_audit a;

	msg_audit_init(&a, AUDIT_EV_HOOK_FAILED, d->user, "", d->export, "");
	a.session = d->session;
	snprintf(a.target, sizeof(a.target), "/dev/nbd%u", d->index);
	if (snprintf(a.reason, sizeof(a.reason), "%s hook: %s",
		h->action == MSG_HOOK_START ? "start" : "stop",
		h->reason) >= (int)sizeof(a.reason))
		log_debug("export %s: hook failure reason cut", d->export);
	chan_send(&c->chan, MSG_AUDIT, &a, sizeof(a), -1);
}

static void
hook_done(struct child *c, struct msg *m)
{
	struct msg_hook_done *h = &m->u.hook_done;
	struct blk_dev *d;

	if ((d = dev_find(h->export)) == NULL || d->session != h->session)
		return;
	if (!h->ok)
		audit_hook_failed(c, d, h);
	if (h->action == MSG_HOOK_START && d->state == BLK_STARTING) {
		if (!h->ok) {
			attach_answer(c, d->export, d->session, NULL,
			    "start hook failed: %s", h->reason);
			d->tell_sessiond = 0;
			stop_device(c, d);
		} else if (d->detach_wanted || c->stopping)
			stop_device(c, d);
		else {
			d->state = BLK_ACTIVE;
			attach_done(c, d);
		}
	} else if (h->action == MSG_HOOK_STOP && d->state == BLK_STOPPING) {
		d->state = BLK_IDLE;
		detach_answer(c, d);
	}
	if (c->stopping && blk_all_idle())
		child_exit(c);
}

/* The table let through only these, each from its one sender. */
static int
blockd_dispatch(struct child *c, struct chan *from, struct msg *m)
{
	(void)from;
	switch (m->type) {
	case MSG_ATTACH:
		attach(c, m);
		return 1;
	case MSG_DETACH:
		detach(c, m);
		return 1;
	case MSG_HOOK_DONE:
		hook_done(c, m);
		return 1;
	default:
		return 0;
	}
}

/*
 * What a crash left of a hook's work goes before the first attach: a USB
 * gadget that still holds /dev/nbdN open keeps the kernel from connecting
 * the device again. So each device export's stop hook runs once at start;
 * which exports have a hook is hookd's to know, not ours.
 */
static void
blockd_stop_hooks(evutil_socket_t fd, short events, void *arg)
{
	const struct conf_export *e;
	struct child *c = arg;
	struct blk_dev *d;
	int i;

	(void)fd;
	(void)events;
	for (i = 0; i < c->conf->nexports; i++) {
		e = &c->conf->exports[i];
		if (e->device[0] == '\0')
			continue;
		if ((d = dev_get(c->conf, e)) == NULL || d->state != BLK_IDLE)
			continue;
		d->index = (uint32_t)conf_nbd_index(e->device);
		d->tell_sessiond = 0;
		hook_request(c, d, MSG_HOOK_STOP);
	}
}

/* Before the sandbox: the netlink socket, and no stale connections. */
static void
blockd_prepare(struct child *c)
{
	static const struct libevent_tv now = { 0, 0 };
	const struct conf_export *e;
	uint32_t index;
	int i, r, devices = 0;

	/* Once the loop runs: the channel to hookd is not up yet. */
	if (event_base_once(c->base, -1, EV_TIMEOUT, blockd_stop_hooks, c,
		LIBEVENT_TV(&now)) == -1)
		fatalx("cannot schedule the start-up stop hooks");
	for (i = 0; i < c->conf->nexports; i++)
		devices += c->conf->exports[i].device[0] != '\0';
	blk_ra_open(c->conf);
	if ((blk_nl_error = nbd_nl_open(&blk_nl)) != 0) {
		if (devices > 0)
			log_warnx("no NBD netlink family (%s): device exports "
				  "cannot attach; is the nbd module loaded?",
			    strerror(-blk_nl_error));
		return;
	}
	for (i = 0; i < c->conf->nexports; i++) {
		e = &c->conf->exports[i];
		if (e->device[0] == '\0')
			continue;
		index = (uint32_t)conf_nbd_index(e->device);
		if ((r = nbd_nl_connected(&blk_nl, index)) == 1) {
			log_warnx("export %s: clearing a stale connection on "
				  "%s",
			    e->name, e->device);
			if ((r = nbd_nl_disconnect(&blk_nl, index)) != 0)
				log_warnx("disconnect %s: %s", e->device,
				    strerror(-r));
		} else if (r < 0)
			log_warnx("export %s: status of %s: %s", e->name,
			    e->device, strerror(-r));
	}
}

static void
blockd_conf_applied(struct child *c, const struct conf *old)
{
	if (old == NULL)
		blockd_prepare(c);
	else
		log_info("config %u in force", c->generation);
}

/* Nothing stays connected to nothing: disconnect all, then stop hooks. */
static int
blockd_stop(struct child *c)
{
	int i;

	for (i = 0; i < blk_index.n; i++) {
		if (blk_devs[i].state == BLK_ACTIVE)
			stop_device(c, &blk_devs[i]);
		else if (blk_devs[i].state == BLK_STARTING)
			blk_devs[i].detach_wanted = 1;
	}
	return blk_all_idle();
}

static const struct child_role blockd_role = {
	.self = PROC_BLOCKD,
	.policy = &blockd_policy,
	.conf_applied = blockd_conf_applied,
	.dispatch = blockd_dispatch,
	.stop = blockd_stop,
};

int
main(int argc, char **argv)
{
	struct child c;

	child_start(&c, &blockd_role, argc, argv);
	child_run(&c);
	return 1;
}
