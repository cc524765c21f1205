/*
 * blockd's rights, all on one screen: exactly CAP_SYS_ADMIN (which the NBD
 * netlink family demands), an unprivileged user in a chroot, no files
 * opened after start-up, no exec, no network: its netlink socket is
 * opened before the sandbox closes.
 */
#include <sys/mman.h>

#include <linux/capability.h>
#include <seccomp.h>
#include <stddef.h>

#include "sandbox.h"
#include "blockd.h"

static const int blockd_caps[] = {
	CAP_SYS_ADMIN, /* NBD_CMD_CONNECT/DISCONNECT are admin-only */
};

/* Where a call differs by architecture, the rule says which needs it. */
static const struct sandbox_rule blockd_rules[] = {
	SB_ON(SANDBOX_X86_64 | SANDBOX_ARMHF, epoll_wait, "libevent's loop"),
	SB_ON(SANDBOX_ARM64, epoll_pwait,
	    "libevent's loop (arm64 has no epoll_wait)"),
	SB(epoll_ctl, "libevent's loop"),
	SB(recvmsg,
	    "messages from the parent; NBD netlink answers, with their sender"),
	SB(sendmsg, "messages to the parent"),
	SB(writev, "log lines on stderr; a device's read_ahead_kb"),
	SB_ON(SANDBOX_64, sendto,
	    "NBD netlink requests (socket opened at start)"),
	SB_ON(SANDBOX_ARMHF, send,
	    "NBD netlink requests (armhf: glibc's "
	    "send is a syscall of its own)"),
	SB(getsockopt, "check a handed-over socket's type"),
	SB(getpeername, "check a handed-over socket is connected"),
	SB(close, "finished descriptors"),
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
	SB(rt_sigreturn, "return from a signal"),
	SB(exit_group, "exit"),
	SB(exit, "exit"),
};

const struct sandbox_policy blockd_policy = {
	.name = "blockd",
	.rules = blockd_rules,
	.nrules = sizeof(blockd_rules) / sizeof(blockd_rules[0]),
	.caps = blockd_caps,
	.ncaps = sizeof(blockd_caps) / sizeof(blockd_caps[0]),
	.drop_root = 1,
};
