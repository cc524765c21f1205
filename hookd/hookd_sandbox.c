/*
 * hookd's rights, all on one screen. It stays uid 0 outside any chroot
 * because hooks build USB gadgets in configfs; it keeps only the
 * capabilities such a hook needs (documented in vmediad(8)) and no network.
 */
#include <sys/mman.h>

#include <linux/capability.h>
#include <seccomp.h>
#include <stddef.h>

#include "sandbox.h"
#include "hookd.h"

static const int hookd_caps[] = {
	CAP_SYS_ADMIN,		/* hooks mount configfs and bind gadgets */
	CAP_SYS_MODULE,		/* hooks may load gadget modules */
};

static const struct sandbox_rule hookd_rules[] = {
	{ SCMP_SYS(epoll_wait), "libevent's loop", 0, 0, 0 },
	{ SCMP_SYS(epoll_ctl), "libevent's loop", 0, 0, 0 },
	{ SCMP_SYS(recvmsg), "messages from the parent", 0, 0, 0 },
	{ SCMP_SYS(sendmsg), "messages to the parent", 0, 0, 0 },
	{ SCMP_SYS(writev), "log lines on stderr", 0, 0, 0 },
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

const struct sandbox_policy hookd_policy = {
	.name = "hookd",
	.rules = hookd_rules,
	.nrules = sizeof(hookd_rules) / sizeof(hookd_rules[0]),
	.caps = hookd_caps,
	.ncaps = sizeof(hookd_caps) / sizeof(hookd_caps[0]),
	.drop_root = 0,
};
