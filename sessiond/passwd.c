/*
 * The crypt worker: one thread, started before the sandbox and under the
 * same seccomp filter (loaded with TSYNC), reading check requests from a
 * socketpair and answering ok or not. Unknown users are checked against
 * a dummy hash so that their answer takes as long as anyone's.
 */
#include <sys/socket.h>

#include <crypt.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "cred.h"
#include "log.h"
#include "passwd.h"

#define PASSWD_PENDING_MAX 64

struct passwd_req {
	uint64_t id;
	char hash[CONF_HASH_MAX];
	char password[CRED_PASSWORD_MAX];
};

struct passwd_reply {
	uint64_t id;
	int32_t ok;
};

struct passwd_wait {
	uint64_t id;
	passwd_done_fn done;
	void *arg; /* NULL: its asker went away */
};

static int passwd_fd[2] = { -1, -1 }; /* [0] ours, [1] the worker's */
static struct passwd_wait passwd_waits[PASSWD_PENDING_MAX];
static uint64_t passwd_seq;
static char passwd_dummy[CONF_HASH_MAX];

static int
hash_matches(const char *password, const char *hash)
{
	static struct crypt_data data;
	const char *out;
	size_t len = strlen(hash);
	unsigned char diff = 0;
	size_t i;

	out = crypt_rn(password, hash, &data, sizeof(data));
	if (out == NULL || out[0] == '*' || strlen(out) != len)
		return 0;
	for (i = 0; i < len; i++) /* constant time */
		diff |= (unsigned char)(out[i] ^ hash[i]);
	explicit_bzero(&data, sizeof(data));
	return diff == 0;
}

static void *
passwd_worker(void *arg)
{
	struct passwd_req req;
	struct passwd_reply rep;
	ssize_t n;

	(void)arg;
	for (;;) {
		n = read(passwd_fd[1], &req, sizeof(req));
		if (n == 0)
			return NULL;
		if (n != sizeof(req))
			continue;
		req.hash[sizeof(req.hash) - 1] = '\0';
		req.password[sizeof(req.password) - 1] = '\0';
		rep.id = req.id;
		rep.ok = hash_matches(req.password, req.hash);
		explicit_bzero(&req, sizeof(req));
		if (write(passwd_fd[1], &rep, sizeof(rep)) != sizeof(rep))
			return NULL;
	}
}

static void
passwd_answer(evutil_socket_t fd, short events, void *arg)
{
	struct passwd_reply rep;
	struct passwd_wait w;
	int i;

	(void)events;
	(void)arg;
	while (read(fd, &rep, sizeof(rep)) == sizeof(rep)) {
		for (i = 0; i < PASSWD_PENDING_MAX; i++)
			if (passwd_waits[i].done != NULL &&
			    passwd_waits[i].id == rep.id)
				break;
		if (i == PASSWD_PENDING_MAX)
			continue;
		w = passwd_waits[i];
		memset(&passwd_waits[i], 0, sizeof(passwd_waits[i]));
		if (w.arg != NULL)
			w.done(w.arg, rep.ok);
	}
}

/*
 * Queues a check; done(arg, ok) runs from the event loop later. Returns
 * -1 when too many checks wait already.
 */
int
passwd_check(const char *hash, const char *password, passwd_done_fn done,
    void *arg)
{
	struct passwd_req req;
	int i;
	ssize_t n;

	for (i = 0; i < PASSWD_PENDING_MAX; i++)
		if (passwd_waits[i].done == NULL)
			break;
	if (i == PASSWD_PENDING_MAX)
		return -1;
	memset(&req, 0, sizeof(req));
	req.id = ++passwd_seq;
	snprintf(req.hash, sizeof(req.hash), "%s", hash);
	snprintf(req.password, sizeof(req.password), "%s", password);
	/* write(), not send(): sendto is not in the allow-list; the end is
	 * non-blocking already. */
	n = write(passwd_fd[0], &req, sizeof(req));
	explicit_bzero(&req, sizeof(req));
	if (n != sizeof(req))
		return -1;
	passwd_waits[i].id = passwd_seq;
	passwd_waits[i].done = done;
	passwd_waits[i].arg = arg;
	return 0;
}

/* The asker is gone: its answer, when it comes, goes nowhere. */
void
passwd_forget(void *arg)
{
	int i;

	for (i = 0; i < PASSWD_PENDING_MAX; i++)
		if (passwd_waits[i].arg == arg)
			passwd_waits[i].arg = NULL;
}

const char *
passwd_dummy_hash(void)
{
	return passwd_dummy;
}

/* Before the sandbox: the socketpair, the dummy hash, the thread. */
int
passwd_init(struct event_base *base)
{
	static struct crypt_data data;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *out;
	struct event *ev;
	pthread_t tid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, passwd_fd) ==
	    -1)
		return -1;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL ||
	    (out = crypt_rn("vmediad dummy", salt, &data, sizeof(data))) ==
		NULL ||
	    out[0] == '*')
		return -1;
	snprintf(passwd_dummy, sizeof(passwd_dummy), "%s", out);
	ev = event_new(base, passwd_fd[0], EV_READ | EV_PERSIST, passwd_answer,
	    NULL);
	if (ev == NULL || event_add(ev, NULL) == -1 ||
	    evutil_make_socket_nonblocking(passwd_fd[0]) == -1)
		return -1;
	if ((errno = pthread_create(&tid, NULL, passwd_worker, NULL)) != 0)
		return -1;
	pthread_detach(tid);
	return 0;
}
