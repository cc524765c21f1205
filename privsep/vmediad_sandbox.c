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
	CAP_KILL,		/* signal children running as another user */
	CAP_SYS_ADMIN,		/* release NBD devices if blockd is gone */
};

static const struct sandbox_rule vmediad_rules[] = {
	{ SCMP_SYS(epoll_wait), "libevent's loop", 0, 0, 0 },
	{ SCMP_SYS(epoll_ctl), "libevent's loop", 0, 0, 0 },
	{ SCMP_SYS(recvmsg), "messages from the children", 0, 0, 0 },
	{ SCMP_SYS(sendmsg), "messages to the children", 0, 0, 0 },
	{ SCMP_SYS(read), "children's stderr, the config on SIGHUP", 0, 0,
	    0 },
	{ SCMP_SYS(writev), "log lines on stderr", 0, 0, 0 },
	{ SCMP_SYS(write), "libevent's signal pipe", 0, 0, 0 },
	{ SCMP_SYS(openat), "the config and account files, read-only", 3,
	    O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY },
	{ SCMP_SYS(newfstatat), "the chroot check on SIGHUP; stdio", 0, 0, 0 },
	{ SCMP_SYS(fstat), "stdio", 0, 0, 0 },
	{ SCMP_SYS(lseek), "stdio reading account files", 0, 0, 0 },
	{ SCMP_SYS(close), "finished descriptors", 0, 0, 0 },
	{ SCMP_SYS(socket), "syslog and the account lookup, AF_UNIX only", 1,
	    ~(scmp_datum_t)0, AF_UNIX },
	{ SCMP_SYS(connect), "syslog and the account lookup", 0, 0, 0 },
	{ SCMP_SYS(bind), "sockets of exports added on SIGHUP", 0, 0, 0 },
	{ SCMP_SYS(listen), "sockets of exports added on SIGHUP", 0, 0, 0 },
	{ SCMP_SYS(chmod), "those sockets are mode 0600", 0, 0, 0 },
	{ SCMP_SYS(unlink), "sockets of exports removed, or stale", 0, 0, 0 },
	{ SCMP_SYS(lstat), "is a stale path a socket?", 0, 0, 0 },
	{ SCMP_SYS(sendto), "syslog; NBD netlink if blockd died", 0, 0, 0 },
	{ SCMP_SYS(recvfrom), "NBD netlink answers if blockd died", 0, 0, 0 },
	{ SCMP_SYS(getpid), "syslog's LOG_PID", 0, 0, 0 },
	{ SCMP_SYS(wait4), "reap children", 0, 0, 0 },
	{ SCMP_SYS(kill), "stop children that do not stop", 0, 0, 0 },
	{ SCMP_SYS(rt_sigaction), "libevent's signal handling", 0, 0, 0 },
	{ SCMP_SYS(rt_sigprocmask), "libevent's signal handling", 0, 0, 0 },
	{ SCMP_SYS(rt_sigreturn), "return from a signal", 0, 0, 0 },
	{ SCMP_SYS(brk), "malloc", 0, 0, 0 },
	{ SCMP_SYS(mmap), "malloc, never executable memory", 3, PROT_EXEC, 0 },
	{ SCMP_SYS(munmap), "free", 0, 0, 0 },
	{ SCMP_SYS(madvise), "free returning memory", 0, 0, 0 },
	{ SCMP_SYS(clock_gettime), "timers, where the vDSO is absent", 0, 0,
	    0 },
	{ SCMP_SYS(gettimeofday), "log time, where the vDSO is absent", 0, 0,
	    0 },
	{ SCMP_SYS(exit_group), "exit", 0, 0, 0 },
};

const struct sandbox_policy vmediad_policy = {
	.name = "vmediad",
	.rules = vmediad_rules,
	.nrules = sizeof(vmediad_rules) / sizeof(vmediad_rules[0]),
	.caps = vmediad_caps,
	.ncaps = sizeof(vmediad_caps) / sizeof(vmediad_caps[0]),
	.drop_root = 0,
};
