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
	CAP_SYS_ADMIN,		/* NBD_CMD_CONNECT/DISCONNECT are admin-only */
};

static const struct sandbox_rule blockd_rules[] = {
	{ SCMP_SYS(epoll_wait), "libevent's loop", 0, 0, 0 },
	{ SCMP_SYS(epoll_ctl), "libevent's loop", 0, 0, 0 },
	{ SCMP_SYS(recvmsg), "messages from the parent", 0, 0, 0 },
	{ SCMP_SYS(sendmsg), "messages to the parent", 0, 0, 0 },
	{ SCMP_SYS(writev), "log lines on stderr", 0, 0, 0 },
	{ SCMP_SYS(sendto), "NBD netlink requests (socket opened at start)",
	    0, 0, 0 },
	{ SCMP_SYS(recvfrom), "NBD netlink answers", 0, 0, 0 },
	{ SCMP_SYS(getsockopt), "check a handed-over socket's type", 0, 0,
	    0 },
	{ SCMP_SYS(getpeername), "check a handed-over socket is connected",
	    0, 0, 0 },
	{ SCMP_SYS(close), "finished descriptors", 0, 0, 0 },
	{ SCMP_SYS(brk), "malloc", 0, 0, 0 },
	{ SCMP_SYS(mmap), "malloc, never executable memory", 3, PROT_EXEC, 0 },
	{ SCMP_SYS(munmap), "free", 0, 0, 0 },
	{ SCMP_SYS(madvise), "free returning memory", 0, 0, 0 },
	{ SCMP_SYS(clock_gettime), "timers, where the vDSO is absent", 0, 0,
	    0 },
	{ SCMP_SYS(gettimeofday), "log time, where the vDSO is absent", 0, 0,
	    0 },
	{ SCMP_SYS(rt_sigreturn), "return from a signal", 0, 0, 0 },
	{ SCMP_SYS(exit_group), "exit", 0, 0, 0 },
	{ SCMP_SYS(exit), "exit", 0, 0, 0 },
};

const struct sandbox_policy blockd_policy = {
	.name = "blockd",
	.rules = blockd_rules,
	.nrules = sizeof(blockd_rules) / sizeof(blockd_rules[0]),
	.caps = blockd_caps,
	.ncaps = sizeof(blockd_caps) / sizeof(blockd_caps[0]),
	.drop_root = 1,
};
