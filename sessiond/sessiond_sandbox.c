/*
 * sessiond's rights, all on one screen: it talks to the network through
 * sockets it is given, never opens a file, never executes anything, and
 * holds no capability as an unprivileged user in a chroot.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <seccomp.h>
#include <stddef.h>

#include "sandbox.h"
#include "sessiond.h"

static const struct sandbox_rule sessiond_rules[] = {
	{ SCMP_SYS(epoll_wait), "libevent's loop", 0, 0, 0 },
	{ SCMP_SYS(epoll_ctl), "libevent's loop", 0, 0, 0 },
	{ SCMP_SYS(recvmsg), "messages from the parent and blockd", 0, 0, 0 },
	{ SCMP_SYS(sendmsg), "messages to blockd, with a socket", 0, 0, 0 },
	{ SCMP_SYS(accept4), "clients on listeners the parent bound", 0, 0, 0 },
	{ SCMP_SYS(socketpair), "AF_UNIX only: one kernel-side NBD socket "
	    "per device session", 1, ~(scmp_datum_t)0, AF_UNIX },
	{ SCMP_SYS(read), "client data", 0, 0, 0 },
	{ SCMP_SYS(readv), "client data into evbuffers", 0, 0, 0 },
	{ SCMP_SYS(write), "client data", 0, 0, 0 },
	{ SCMP_SYS(writev), "client data from evbuffers; log lines", 0, 0, 0 },
	{ SCMP_SYS(ioctl), "FIONREAD only: how much a socket holds", 2,
	    ~(scmp_datum_t)0, FIONREAD },
	{ SCMP_SYS(fcntl), "non-blocking sockets", 0, 0, 0 },
	{ SCMP_SYS(setsockopt), "TCP_NODELAY on clients", 0, 0, 0 },
	{ SCMP_SYS(getsockopt), "socket errors", 0, 0, 0 },
	{ SCMP_SYS(getpeername), "client addresses for the log", 0, 0, 0 },
	{ SCMP_SYS(shutdown), "closing clients", 0, 0, 0 },
	{ SCMP_SYS(close), "finished descriptors", 0, 0, 0 },
	{ SCMP_SYS(brk), "malloc", 0, 0, 0 },
	{ SCMP_SYS(mmap), "malloc, never executable memory", 3, PROT_EXEC, 0 },
	{ SCMP_SYS(mprotect), "the password thread's malloc arena, never "
	    "executable", 3, PROT_EXEC, 0 },
	{ SCMP_SYS(munmap), "free", 0, 0, 0 },
	{ SCMP_SYS(getrandom), "login tokens, TLS", 0, 0, 0 },
	{ SCMP_SYS(getpid), "OpenSSL's generator checks for a fork", 0, 0, 0 },
	{ SCMP_SYS(madvise), "free returning memory", 0, 0, 0 },
	{ SCMP_SYS(clock_gettime), "timers, where the vDSO is absent", 0, 0,
	    0 },
	{ SCMP_SYS(gettimeofday), "log time, where the vDSO is absent", 0, 0,
	    0 },
	{ SCMP_SYS(futex), "locks: libcrypto, the password thread", 0, 0, 0 },
	{ SCMP_SYS(rt_sigreturn), "return from a signal", 0, 0, 0 },
	{ SCMP_SYS(exit_group), "exit", 0, 0, 0 },
	{ SCMP_SYS(exit), "exit", 0, 0, 0 },
};

const struct sandbox_policy sessiond_policy = {
	.name = "sessiond",
	.rules = sessiond_rules,
	.nrules = sizeof(sessiond_rules) / sizeof(sessiond_rules[0]),
	.caps = NULL,
	.ncaps = 0,
	.drop_root = 1,
};
