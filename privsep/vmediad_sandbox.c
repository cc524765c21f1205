/*
 * The parent's rights once its children run, all on one screen: it reaps
 * and signals them, relays their messages and stderr, rereads the config
 * on SIGHUP, and never executes anything again.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <stddef.h>

#include "sandbox.h"
#include "vmediad.h"

static const int vmediad_caps[] = {
	CAP_KILL,      /* signal children running as another user */
	CAP_SYS_ADMIN, /* release NBD devices if blockd is gone */
};

/* Where a call differs by architecture, the rule says which needs it. */
static const struct sandbox_rule vmediad_rules[] = {
	SB_ON(SANDBOX_X86_64 | SANDBOX_ARMHF, epoll_wait, "libevent's loop"),
	SB_ON(SANDBOX_ARM64, epoll_pwait,
	    "libevent's loop (arm64 has no epoll_wait)"),
	SB(epoll_ctl, "libevent's loop"),
	SB(recvmsg,
	    "messages from the children; NBD netlink answers if blockd died"),
	SB(sendmsg, "messages to the children"),
	SB(read, "children's stderr, the config on SIGHUP"),
	SB(writev, "log lines on stderr"),
	SB(write, "libevent's signal pipe"),
	SB_ARG(openat, 3, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY,
	    "the config and account files, read-only"),
	SB_ON(SANDBOX_64, newfstatat,
	    "the chroot check on SIGHUP; stdio; is a stale path a socket?"),
	SB_ON(SANDBOX_X86_64, fstat, "stdio"),
	SB_ON(SANDBOX_X86_64, lstat, "is a stale path a socket?"),
	SB_ON(SANDBOX_ARMHF, statx,
	    "stat, fstat and lstat (armhf with a 64-bit time_t)"),
	SB_ON(SANDBOX_64, lseek, "stdio reading account files"),
	SB_ON(SANDBOX_ARMHF, _llseek,
	    "stdio reading account files (armhf: glibc's lseek)"),
	SB(close, "finished descriptors"),
	SB_ARG(socket, 1, ~(scmp_datum_t)0, AF_UNIX,
	    "syslog and the account lookup, AF_UNIX only"),
	SB(connect, "syslog and the account lookup"),
	SB(bind, "sockets of exports added on SIGHUP"),
	SB(listen, "sockets of exports added on SIGHUP"),
	SB_ON(SANDBOX_X86_64 | SANDBOX_ARMHF, chmod,
	    "those sockets are mode 0600"),
	SB_ON(SANDBOX_ARM64, fchmodat,
	    "those sockets are mode 0600 (arm64: glibc's chmod)"),
	SB_ON(SANDBOX_X86_64 | SANDBOX_ARMHF, unlink,
	    "sockets of exports removed, or stale"),
	SB_ON(SANDBOX_ARM64, unlinkat,
	    "sockets of exports removed, or stale (arm64: glibc's unlink)"),
	SB_ON(SANDBOX_64, sendto, "syslog; NBD netlink if blockd died"),
	SB_ON(SANDBOX_ARMHF, send,
	    "syslog; NBD netlink if blockd died "
	    "(armhf: glibc's send is a syscall of its own)"),
	SB(getpid, "syslog's LOG_PID"),
	SB(wait4, "reap children"),
	SB(kill, "stop children that do not stop"),
	SB(rt_sigaction, "libevent's signal handling"),
	SB(rt_sigprocmask, "libevent's signal handling"),
	SB(rt_sigreturn, "return from a signal"),
	SB_ON(SANDBOX_ARMHF, sigreturn,
	    "return from a signal handler "
	    "installed without SA_SIGINFO (armhf)"),
	SB(brk, "malloc"),
	SB_ARG_ON(SANDBOX_64, mmap, 3, PROT_EXEC, 0,
	    "malloc, never executable memory"),
	SB_ARG_ON(SANDBOX_ARMHF, mmap2, 3, PROT_EXEC, 0,
	    "malloc, never executable memory (armhf: glibc's mmap)"),
	SB(munmap, "free"),
	SB(madvise, "free returning memory"),
	SB_ON(SANDBOX_64, clock_gettime, "timers, where the vDSO is absent"),
	SB_ON(SANDBOX_64, gettimeofday, "log time, where the vDSO is absent"),
	SB_ON(SANDBOX_ARMHF, clock_gettime64,
	    "timers and log time (armhf "
	    "with a 64-bit time_t; the AST2600 has no vDSO clock)"),
	SB(exit_group, "exit"),
};

const struct sandbox_policy vmediad_policy = {
	.name = "vmediad",
	.rules = vmediad_rules,
	.nrules = sizeof(vmediad_rules) / sizeof(vmediad_rules[0]),
	.caps = vmediad_caps,
	.ncaps = sizeof(vmediad_caps) / sizeof(vmediad_caps[0]),
	.drop_root = 0,
};
