/*
 * The channel (common/chan.c): in order, checked as from its peer, and
 * never blocking: a full socket queues, the queue drains when writable,
 * a queued fd stays ours until sent, and a queue past its bound is fatal.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg_tests.h"
#include "test.h"

/* What a receiving channel saw. */
struct seen {
	uint64_t next; /* the PING sequence expected */
	int nmsgs;
	int in_order;
	int want; /* loopbreak after this many */
	int nclosed;
	int fd; /* last fd received, or -1 */
	struct event_base *base;
};

static void
record_dispatch(struct chan *c, struct msg *m, void *arg)
{
	struct seen *seen = arg;

	(void)c;
	if (m->type == MSG_PING && m->u.ping.seq != seen->next++)
		seen->in_order = 0;
	if (m->fd != -1) {
		if (seen->fd != -1)
			close(seen->fd);
		seen->fd = m->fd;
	}
	if (++seen->nmsgs == seen->want)
		event_base_loopbreak(seen->base);
}

static void
record_closed(struct chan *c, void *arg)
{
	struct seen *seen = arg;

	seen->nclosed++;
	if (c->fd != -1)
		seen->nclosed += 100; /* must be closed before the callback */
	event_base_loopbreak(seen->base);
}

static void
seen_init(struct seen *seen, struct event_base *base, int want)
{
	memset(seen, 0, sizeof(*seen));
	seen->next = 1;
	seen->in_order = 1;
	seen->want = want;
	seen->fd = -1;
	seen->base = base;
}

static struct event_base *
base_new(void)
{
	struct event_base *base;

	if ((base = event_base_new()) == NULL) {
		fprintf(stderr, "event_base_new failed\n");
		exit(1);
	}
	return base;
}

/*
 * Pings numbered from seq until the socket is full and queued more wait
 * in the channel. Returns the next sequence number.
 */
static uint64_t
fill_socket(struct chan *c, uint64_t seq, size_t queued)
{
	struct msg_ping ping;

	while (c->nqueued < queued && seq < 100000) {
		ping.seq = seq++;
		chan_send(c, MSG_PING, &ping, sizeof(ping), -1);
	}
	return seq;
}

static void
test_chan_order_and_close(void)
{
	struct event_base *base = base_new();
	struct msg_ping ping;
	struct seen seen;
	struct chan c;
	int sp[2], i;

	seen_init(&seen, base, 0);
	seqpacket_pair(sp);
	chan_init(&c, base, sp[1], PROC_SESSIOND, PROC_PARENT, record_dispatch,
	    record_closed, &seen);
	for (i = 1; i <= 5; i++) {
		ping.seq = i;
		msg_send(sp[0], MSG_PING, &ping, sizeof(ping), -1);
	}
	close(sp[0]);
	event_base_dispatch(base);
	test_result("chan_dispatches_every_message_in_order",
	    seen.nmsgs == 5 && seen.in_order, "%d messages dispatched",
	    seen.nmsgs);
	test_result("chan_reports_peer_close_once_after_closing",
	    seen.nclosed == 1 && c.fd == -1 && c.ev == NULL,
	    "closed callback count %d, fd %d", seen.nclosed, c.fd);
	chan_send(&c, MSG_SHUTDOWN, NULL, 0, -1);
	test_result("chan_send_on_closed_chan_is_a_no_op", 1, NULL);

	/* Sending to a peer that is gone is the closed callback's business. */
	seqpacket_pair(sp);
	close(sp[1]);
	chan_init(&c, base, sp[0], PROC_PARENT, PROC_SESSIOND, record_dispatch,
	    record_closed, &seen);
	chan_send(&c, MSG_SHUTDOWN, NULL, 0, -1);
	test_result("chan_send_to_vanished_peer_is_not_fatal", c.nqueued == 0,
	    "%zu queued", c.nqueued);
	chan_close(&c);
	event_base_free(base);
}

/*
 * The sender's socket fills while nobody reads: chan_send returns at once
 * and queues; once the loop runs, everything arrives in order.
 */
static void
test_chan_queue_drains(void)
{
	struct event_base *base = base_new();
	struct chan tx, rx;
	struct seen seen, none;
	uint64_t seq;
	int sp[2], pending;

	seqpacket_pair(sp);
	seen_init(&none, base, 0);
	chan_init(&tx, base, sp[0], PROC_PARENT, PROC_SESSIOND, record_dispatch,
	    record_closed, &none);
	seq = fill_socket(&tx, 1, 500);
	pending = event_pending(tx.wev, EV_WRITE, NULL) != 0;
	test_result("chan_send_queues_when_the_socket_is_full",
	    tx.nqueued == 500 && pending, "%zu queued, write event %s",
	    tx.nqueued, pending ? "armed" : "not armed");
	seen_init(&seen, base, (int)seq - 1);
	chan_init(&rx, base, sp[1], PROC_SESSIOND, PROC_PARENT, record_dispatch,
	    record_closed, &seen);
	event_base_dispatch(base);
	pending = event_pending(tx.wev, EV_WRITE, NULL) != 0;
	test_result("chan_queue_drains_in_order_once_writable",
	    seen.nmsgs == (int)seq - 1 && seen.in_order && tx.nqueued == 0 &&
		tx.queued_bytes == 0,
	    "%d of %d arrived%s, %zu still queued", seen.nmsgs, (int)seq - 1,
	    seen.in_order ? "" : " out of order", tx.nqueued);
	test_result("chan_write_event_only_while_queued", !pending,
	    "still armed with an empty queue");
	chan_close(&tx);
	chan_close(&rx);
	event_base_free(base);
}

/*
 * An fd queued behind a full socket stays open in the sender until it is
 * sent, then the channel closes it: the pipe sees EOF only once the
 * receiver closed the copy it got.
 */
static void
test_chan_queued_fd(void)
{
	struct event_base *base = base_new();
	struct msg_listener l;
	struct chan tx, rx;
	struct seen seen, none;
	uint64_t seq;
	char c;
	int sp[2], pfd[2], held, pings, works, eof;

	seqpacket_pair(sp);
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		perror("pipe2");
		exit(1);
	}
	seen_init(&none, base, 0);
	chan_init(&tx, base, sp[0], PROC_PARENT, PROC_SESSIOND, record_dispatch,
	    record_closed, &none);
	seq = fill_socket(&tx, 1, 1);
	memset(&l, 0, sizeof(l));
	l.kind = MSG_LISTEN_HTTP;
	chan_send(&tx, MSG_LISTENER, &l, sizeof(l), pfd[1]);
	held = fcntl(pfd[1], F_GETFD) != -1;
	test_result("chan_holds_a_queued_fd_until_sent",
	    held && tx.nqueued == 2, "fd %s, %zu queued",
	    held ? "open" : "closed", tx.nqueued);
	pings = (int)seq - 1;
	seen_init(&seen, base, pings + 1);
	chan_init(&rx, base, sp[1], PROC_SESSIOND, PROC_PARENT, record_dispatch,
	    record_closed, &seen);
	event_base_dispatch(base);
	works = seen.fd != -1 && write(seen.fd, "x", 1) == 1 &&
	    read(pfd[0], &c, 1) == 1;
	if (seen.fd != -1)
		close(seen.fd);
	eof = read(pfd[0], &c, 1) == 0;
	test_result("chan_queued_fd_arrives_and_is_closed_once_sent",
	    seen.nmsgs == pings + 1 && works && eof, "%d messages, fd %s, %s",
	    seen.nmsgs, works ? "works" : "missing or dead",
	    eof ? "EOF" : "a write end still open");
	close(pfd[0]);
	chan_close(&tx);
	chan_close(&rx);
	event_base_free(base);
}

static int fulls;

static void
count_full(struct chan *c, void *arg)
{
	(void)c;
	(void)arg;
	fulls++;
}

/*
 * Past CHAN_QUEUE_MSGS the owner's full handler runs (the parent's stops
 * its children): the channel is closed by then, with every queued fd and
 * the refused message's own.
 */
static void
test_chan_full_handler(void)
{
	struct event_base *base = base_new();
	struct msg_listener l;
	struct msg_ping ping = { 1 };
	struct seen none;
	struct chan tx;
	char c;
	int sp[2], pfd[2], eof, i;

	seqpacket_pair(sp);
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		perror("pipe2");
		exit(1);
	}
	seen_init(&none, base, 0);
	chan_init(&tx, base, sp[0], PROC_PARENT, PROC_SESSIOND, record_dispatch,
	    record_closed, &none);
	tx.full = count_full;
	memset(&l, 0, sizeof(l));
	fill_socket(&tx, 1, 1);
	chan_send(&tx, MSG_LISTENER, &l, sizeof(l), dup(pfd[1]));
	for (i = 0; i < CHAN_QUEUE_MSGS && tx.fd != -1; i++)
		chan_send(&tx, MSG_PING, &ping, sizeof(ping), -1);
	chan_send(&tx, MSG_LISTENER, &l, sizeof(l), pfd[1]);
	eof = read(pfd[0], &c, 1) == 0;
	test_result("chan_overflow_calls_the_full_handler_once_and_closes",
	    fulls == 1 && tx.fd == -1 && tx.nqueued == 0,
	    "%d calls, fd %d, %zu queued", fulls, tx.fd, tx.nqueued);
	test_result("chan_overflow_closes_every_fd_it_held", eof,
	    "a write end of the pipe is still open");
	close(pfd[0]);
	close(sp[1]);
	event_base_free(base);
}

/*
 * Without a handler, overflow is fatal: the process ends with a log line
 * naming the peer; run in a child so the test survives it.
 */
static void
test_chan_overflow_is_fatal(void)
{
	const char *name = "chan_overflow_is_fatal_and_names_the_peer";
	struct event_base *base;
	struct msg_detach det;
	struct seen none;
	struct chan tx;
	char out[512];
	int sp[2], errpipe[2], status, i;
	size_t len = 0;
	ssize_t n;
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
		base = base_new();
		seen_init(&none, base, 0);
		chan_init(&tx, base, sp[0], PROC_SESSIOND, PROC_BLOCKD,
		    record_dispatch, record_closed, &none);
		memset(&det, 0, sizeof(det));
		for (i = 0; i < 100000; i++)
			chan_send(&tx, MSG_DETACH, &det, sizeof(det), -1);
		_exit(2); /* fatalx never ran */
	}
	close(errpipe[1]);
	while (len < sizeof(out) - 1 &&
	    (n = read(errpipe[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	waitpid(pid, &status, 0);
	test_result(name,
	    WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
		strstr(out, "channel to blockd full: 1024 messages") != NULL,
	    "status %#x, stderr \"%s\"", status, out);
	close(errpipe[0]);
	close_pair(sp);
}

/* A process about to exit writes what is queued, waiting for room. */
static void
test_chan_flush(void)
{
	struct event_base *base = base_new();
	struct seen none;
	struct chan tx;
	struct msg m;
	uint64_t seq, got = 0;
	const char *why;
	int sp[2], status;
	pid_t pid;

	seqpacket_pair(sp);
	seen_init(&none, base, 0);
	chan_init(&tx, base, sp[0], PROC_PARENT, PROC_HOOKD, record_dispatch,
	    record_closed, &none);
	seq = fill_socket(&tx, 1, 100);
	fflush(stdout);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		struct pollfd pfd = { sp[1], POLLIN, 0 };

		close(sp[0]);
		sleep(1); /* the flush must wait for us */
		while (got < seq - 1 && poll(&pfd, 1, 5000) == 1 &&
		    msg_recv(sp[1], PROC_HOOKD, PROC_PARENT, &m, &why) == 1 &&
		    m.u.ping.seq == got + 1)
			got++;
		_exit(got == seq - 1 ? 0 : 1);
	}
	close(sp[1]);
	chan_flush(&tx);
	waitpid(pid, &status, 0);
	test_result("chan_flush_writes_the_queue_waiting_for_room",
	    tx.nqueued == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%zu still queued, reader status %#x", tx.nqueued, status);
	chan_close(&tx);
	event_base_free(base);
}

/* A message that breaks the contract ends the receiver, naming the peer. */
static void
test_chan_protocol_error_is_fatal(void)
{
	const char *name = "chan_protocol_error_is_fatal_and_logged";
	struct event_base *base;
	struct seen none;
	struct chan c;
	char out[512];
	int sp[2], errpipe[2], status;
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
		base = base_new();
		seen_init(&none, base, 0);
		chan_init(&c, base, sp[1], PROC_SESSIOND, PROC_BLOCKD,
		    record_dispatch, record_closed, &none);
		event_base_dispatch(base);
		_exit(2); /* fatalx never ran */
	}
	close(errpipe[1]);
	close(sp[1]);
	/* SHUTDOWN is the parent's to send, never blockd's. */
	msg_send(sp[0], MSG_SHUTDOWN, NULL, 0, -1);
	len = 0;
	while (len < sizeof(out) - 1 &&
	    (n = read(errpipe[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	waitpid(pid, &status, 0);
	test_result(name,
	    WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
		strstr(out,
		    "protocol error from blockd: SHUTDOWN not allowed "
		    "from blockd to sessiond") != NULL,
	    "status %#x, stderr \"%s\"", status, out);
	close(errpipe[0]);
	close(sp[0]);
}

void
test_chan_all(void)
{
	test_chan_order_and_close();
	test_chan_queue_drains();
	test_chan_queued_fd();
	test_chan_full_handler();
	test_chan_overflow_is_fatal();
	test_chan_flush();
	test_chan_protocol_error_is_fatal();
}
