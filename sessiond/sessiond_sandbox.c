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

/* Where a call differs by architecture, the rule says which needs it. */
static const struct sandbox_rule sessiond_rules[] = {
	SB_ON(SANDBOX_X86_64 | SANDBOX_ARMHF, epoll_wait, "libevent's loop"),
	SB_ON(SANDBOX_ARM64, epoll_pwait,
	    "libevent's loop (arm64 has no epoll_wait)"),
	SB(epoll_ctl, "libevent's loop"),
	SB(recvmsg, "messages from the parent and blockd"),
	SB(sendmsg, "messages to blockd, with a socket"),
	SB(accept4, "clients on listeners the parent bound"),
	SB_ARG(socketpair, 1, ~(scmp_datum_t)0, AF_UNIX,
	    "AF_UNIX only: one kernel-side NBD socket per device session"),
	SB(read, "client data"),
	SB(readv, "client data into evbuffers"),
	SB(write, "client data"),
	SB(writev, "client data from evbuffers; log lines"),
	SB_ARG(ioctl, 2, ~(scmp_datum_t)0, FIONREAD,
	    "FIONREAD only: how much a socket holds"),
	SB_ON(SANDBOX_64, fcntl, "non-blocking sockets"),
	SB_ON(SANDBOX_ARMHF, fcntl64,
	    "non-blocking sockets (armhf: glibc's fcntl)"),
	SB(setsockopt, "TCP_NODELAY on clients"),
	SB(getsockopt, "socket errors"),
	SB(getpeername, "client addresses for the log"),
	SB(getsockname, "the address a client reached, to check its Host"),
	SB(shutdown, "closing clients"),
	SB(close, "finished descriptors"),
	SB(brk, "malloc"),
	SB_ARG_ON(SANDBOX_64, mmap, 3, PROT_EXEC, 0,
	    "malloc, never executable memory"),
	SB_ARG_ON(SANDBOX_ARMHF, mmap2, 3, PROT_EXEC, 0,
	    "malloc, never executable memory (armhf: glibc's mmap)"),
	SB_ARG(mprotect, 3, PROT_EXEC, 0,
	    "the password thread's malloc arena, never executable"),
	SB(munmap, "free"),
	SB(getrandom, "login tokens, TLS"),
	SB(getpid, "OpenSSL's generator checks for a fork"),
	SB(madvise, "free returning memory"),
	SB_ON(SANDBOX_64, clock_gettime, "timers, where the vDSO is absent"),
	SB_ON(SANDBOX_64, gettimeofday, "log time, where the vDSO is absent"),
	SB_ON(SANDBOX_ARMHF, clock_gettime64,
	    "timers and log time (armhf "
	    "with a 64-bit time_t; the AST2600 has no vDSO clock)"),
	SB(futex, "locks: libcrypto, the password thread"),
	SB(rt_sigreturn, "return from a signal"),
	SB(exit_group, "exit"),
	SB(exit, "exit"),
};

const struct sandbox_policy sessiond_policy = {
	.name = "sessiond",
	.rules = sessiond_rules,
	.nrules = sizeof(sessiond_rules) / sizeof(sessiond_rules[0]),
	.caps = NULL,
	.ncaps = 0,
	.drop_root = 1,
};
