/*
 * The harness of the handler fuzzers: records in, each framed and put
 * through msg_decode() as the process under test decodes what that peer
 * sends it, an accepted one dispatched through the channel's callback as
 * chan_readable() does. The channel, the log and fatal errors are fakes
 * linked instead of common/chan.c and common/log.c: what the process
 * sends is checked against the table as its receiver would check it, and
 * an exit or a protocol error ends the run instead of the fuzzer.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handler.h"
#include "log.h"

char handler_log[2048];

static const struct handler_target *target;
static jmp_buf handler_jmp;
static int handler_running;
static int handler_verbose = -1;
/* The fd of the message being dispatched, and the harness's other end. */
static int pending_give = -1, pending_keep = -1;

void
handler_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "handler invariant broken: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(last log line: %s)\n", handler_log);
	va_end(ap);
	__builtin_trap();
}

/* --- the log: kept, shown with HANDLER_VERBOSE=1 ------------------------ */

static void
log_keep(const char *fmt, va_list ap)
{
	vsnprintf(handler_log, sizeof(handler_log), fmt, ap);
	if (handler_verbose == -1)
		handler_verbose = getenv("HANDLER_VERBOSE") != NULL;
	if (handler_verbose)
		fprintf(stderr, "log: %s\n", handler_log);
}

void
log_init(const char *name, int to_stderr, int verbose)
{
	(void)name;
	(void)to_stderr;
	(void)verbose;
}

void
log_emit(int pri, const char *line)
{
	(void)pri;
	snprintf(handler_log, sizeof(handler_log), "%s", line);
}

#define LOG_FN(name) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
\
		va_start(ap, fmt); \
		log_keep(fmt, ap); \
		va_end(ap); \
	}
LOG_FN(log_warn)
LOG_FN(log_warnx)
LOG_FN(log_info)
LOG_FN(log_debug)

/*
 * A protocol error the process may die of (the target's list, by format)
 * ends the run as the process would end; any other fatal error is a bug.
 */
void
fatalx(const char *fmt, ...)
{
	const char *const *ok;
	va_list ap;

	va_start(ap, fmt);
	log_keep(fmt, ap);
	va_end(ap);
	if (!handler_running)
		handler_fail("fatalx outside a run");
	for (ok = target->fatal_ok; ok != NULL && *ok != NULL; ok++)
		if (strcmp(fmt, *ok) == 0)
			longjmp(handler_jmp, HANDLER_DIED);
	handler_fail("fatalx that is no protocol error: %s", handler_log);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_keep(fmt, ap);
	va_end(ap);
	handler_fail("fatal: %s: %s", handler_log, strerror(errno));
}

/* --- the channel: what is sent is checked, then kept by the target ----- */

void
chan_init(struct chan *c, struct event_base *base, int fd, enum msg_proc self,
    enum msg_proc peer, chan_dispatch_fn dispatch, chan_closed_fn closed,
    void *arg)
{
	(void)base;
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->self = self;
	c->peer = peer;
	c->dispatch = dispatch;
	c->closed = closed;
	c->arg = arg;
	TAILQ_INIT(&c->queue);
}

void
chan_close(struct chan *c)
{
	c->fd = -1;
}

/*
 * Every message a process sends must pass its receiver's decoder: the
 * table as the receiver applies it, with the fd if one goes along.
 */
void
chan_send(struct chan *c, enum msg_type type, const void *payload, size_t len,
    int fd)
{
	static unsigned char buf[sizeof(struct msg_hdr) + MSG_PAYLOAD_MAX];
	static struct msg m;
	struct msg_hdr hdr = { type, (uint32_t)len };
	const char *why;

	if (len > MSG_PAYLOAD_MAX)
		fatalx("%s to %s: %zu bytes of payload", msg_type_name(type),
		    msg_proc_name(c->peer), len);
	memcpy(buf, &hdr, sizeof(hdr));
	if (len > 0)
		memcpy(buf + sizeof(hdr), payload, len);
	if ((why = msg_decode(buf, sizeof(hdr) + len, fd, c->peer, c->self,
		 &m)) != NULL)
		handler_fail("%s sent %s to %s, which refuses it: %s",
		    msg_proc_name(c->self), msg_type_name(type),
		    msg_proc_name(c->peer), why);
	/* Sent or, the peer gone, dropped as chan.c drops it: as meant. */
	if (target->sent != NULL)
		target->sent(c, &m);
	if (fd != -1)
		close(fd);
}

/*
 * child_exit() flushes the channels, then exits: the first flush is the
 * exit. Nothing else flushes (the parent never does).
 */
void
chan_flush(struct chan *c)
{
	(void)c;
	if (!handler_running)
		handler_fail("chan_flush outside a run");
	longjmp(handler_jmp, HANDLER_EXITED);
}

/* The peer closed its end: what chan_readable() does on EOF. */
void
handler_closed(struct chan *c)
{
	if (c->fd == -1)
		return;
	chan_close(c);
	c->closed(c, c->arg);
}

/* --- fds that come with a message ------------------------------------- */

static int
fd_count(void)
{
	DIR *dir;
	int n = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		handler_fail("opendir /proc/self/fd: %s", strerror(errno));
	while (readdir(dir) != NULL)
		n++;
	closedir(dir);
	return n;
}

int
handler_fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) != -1;
}

/* An fd of that kind to give away; *keep is the other end, or -1. */
static int
fd_make(enum rec_fd_kind kind, int *keep)
{
	static const int types[] = {
		[FD_STREAM] = SOCK_STREAM,
		[FD_DGRAM] = SOCK_DGRAM,
		[FD_SEQPACKET] = SOCK_SEQPACKET,
	};
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int sv[2], fd = -1;

	*keep = -1;
	switch (kind) {
	case FD_STREAM:
	case FD_DGRAM:
	case FD_SEQPACKET:
		if (socketpair(AF_UNIX, types[kind] | SOCK_CLOEXEC, 0, sv) ==
		    0) {
			fd = sv[0];
			*keep = sv[1];
		}
		break;
	case FD_PIPE:
		if (pipe2(sv, O_CLOEXEC) == 0) {
			fd = sv[1];
			*keep = sv[0];
		}
		break;
	case FD_LISTENING:
		/* Bound to an abstract name the kernel picks (autobind). */
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) !=
			-1 &&
		    (bind(fd, (struct sockaddr *)&sun, sizeof(sa_family_t)) ==
			    -1 ||
			listen(fd, 1) == -1))
			handler_fail("listening socket: %s", strerror(errno));
		break;
	case FD_UNCONNECTED:
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case FD_INET:
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case FD_FILE:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	}
	if (fd == -1)
		handler_fail("fd of kind %d: %s", kind, strerror(errno));
	return fd;
}

/* --- delivering -------------------------------------------------------- */

/*
 * One message from peer, with an fd of kind fd_kind (-1: none): framed,
 * decoded as the process decodes it, and, if accepted and its channel is
 * open, dispatched. A refused message would end the process with a
 * protocol error; here it is as if it had never come. Returns 1 if it
 * was dispatched.
 */
int
handler_deliver(enum msg_proc peer, uint32_t type, const void *payload,
    size_t len, int fd_kind)
{
	static unsigned char buf[sizeof(struct msg_hdr) + 0xffff];
	static struct msg m;
	struct msg_hdr hdr = { type, (uint32_t)len };
	struct chan *ch;
	int fd = -1, dispatched = 0;

	if (len > sizeof(buf) - sizeof(hdr))
		handler_fail("record of %zu bytes", len);
	if ((ch = target->chan_from(peer)) == NULL || ch->fd == -1)
		return 0; /* no channel from there, or it is closed */
	memcpy(buf, &hdr, sizeof(hdr));
	if (len > 0)
		memcpy(buf + sizeof(hdr), payload, len);
	if (fd_kind != -1)
		fd = pending_give = fd_make(fd_kind, &pending_keep);
	if (msg_decode(buf, sizeof(hdr) + len, fd, target->self, peer, &m) !=
	    NULL) {
		if (fd != -1)
			close(fd); /* as msg_recv() does */
	} else {
		if (target->before != NULL)
			target->before(peer, &m, fd_kind);
		ch->dispatch(ch, &m, ch->arg);
		/* blockd hands the socket to the kernel, which has its own. */
		if (handler_fd_open(fd))
			handler_fail("%s from %s: its fd left open",
			    msg_type_name(m.type), msg_proc_name(peer));
		if (target->after != NULL)
			target->after(&m);
		dispatched = 1;
	}
	pending_give = -1;
	if (pending_keep != -1)
		close(pending_keep);
	pending_keep = -1;
	return dispatched;
}

/* A whole config push from the parent, as proc_send_conf() sends it. */
void
handler_push_conf(const struct conf *conf, uint32_t generation)
{
	struct msg_conf_end end;
	int i;

	memset(&end, 0, sizeof(end));
	handler_deliver(PROC_PARENT, MSG_CONF_GLOBAL, &conf->global,
	    sizeof(conf->global), -1);
	for (i = 0; i < conf->nexports; i++)
		handler_deliver(PROC_PARENT, MSG_CONF_EXPORT, &conf->exports[i],
		    sizeof(conf->exports[i]), -1);
	end.generation = generation;
	end.nexports = conf->nexports;
	handler_deliver(PROC_PARENT, MSG_CONF_END, &end, sizeof(end), -1);
}

/* --- the configs ------------------------------------------------------- */

static void
conf_complain(void *arg, const char *line)
{
	(void)arg;
	handler_fail("handler_conf_text: %s", line);
}

/*
 * What the parent tells a child of config variant: bit 0 which text,
 * bit 1 every export whole (a parent that tells too much), bits 2-7 a
 * suffix for every export's name (0: none), so that reloads can bring
 * names never seen before. Otherwise as proc_global_view() and
 * proc_export_view() in privsep/proc.c: blockd gets the device exports
 * without hook, description or allow; hookd those with a hook.
 */
void
handler_view(struct conf *view, enum msg_proc to, uint8_t variant)
{
	static struct conf confs[2];
	static int parsed;
	const struct conf *conf;
	struct conf_export *v;
	int i, suffix = variant >> 2;

	if (!parsed) {
		for (i = 0; i < 2; i++)
			if (conf_parse_buffer(&confs[i], "handler_conf_text",
				handler_conf_text[i],
				strlen(handler_conf_text[i]), conf_complain,
				NULL) != 0)
				handler_fail("handler_conf_text[%d]", i);
		parsed = 1;
	}
	conf = &confs[variant & 1];
	memset(view, 0, sizeof(*view));
	view->global = conf->global;
	memset(view->global.audit, 0, sizeof(view->global.audit));
	memset(view->global.listen, 0, sizeof(view->global.listen));
	view->global.nlisten = 0;
	memset(view->global.web, 0, sizeof(view->global.web));
	for (i = 0; i < conf->nexports; i++) {
		v = &view->exports[view->nexports];
		*v = conf->exports[i];
		if (suffix != 0)
			snprintf(v->name, sizeof(v->name), "%s-%d",
			    conf->exports[i].name, suffix);
		if (variant & 2) {
			view->nexports++;
			continue;
		}
		if (v->device[0] == '\0' ||
		    (to == PROC_HOOKD && v->hook[0] == '\0'))
			continue;
		if (to != PROC_HOOKD)
			memset(v->hook, 0, sizeof(v->hook));
		memset(v->description, 0, sizeof(v->description));
		memset(v->allow, 0, sizeof(v->allow));
		view->nexports++;
	}
}

/* --- a run ------------------------------------------------------------- */

int
handler_run(const struct handler_target *t, const uint8_t *data, size_t size)
{
	static const uint8_t *in;
	static size_t left;
	static struct rec r;
	int end, fds;

	if (size == 0)
		return 0;
	fds = fd_count();
	target = t;
	in = data + 1;
	left = size - 1;
	if ((end = setjmp(handler_jmp)) == 0) {
		handler_running = 1;
		t->start(data[0]);
		t->check();
		while (rec_next(&in, &left, &r)) {
			if (r.sender == t->self)
				t->world(&r);
			else
				handler_deliver(r.sender, r.type, r.payload,
				    r.len,
				    r.flags & REC_FD ? REC_FD_KIND(r.flags) :
						       -1);
			t->settle();
			t->check();
		}
		end = HANDLER_RAN;
	}
	handler_running = 0;
	/* Died in a handler: nothing in one opens an fd before closing its. */
	if (handler_fd_open(pending_give))
		close(pending_give);
	if (pending_keep != -1)
		close(pending_keep);
	pending_give = pending_keep = -1;
	t->end(end);
	t->cleanup();
	if (fd_count() != fds)
		handler_fail("%d fds before the run, %d after it", fds,
		    fd_count());
	return 0;
}
