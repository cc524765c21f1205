/*
 * hookd's rights, all on one screen. A seccomp filter is inherited across
 * exec, so this list is also every hook's: what shell scripts and the
 * usual tools need to build a USB gadget in configfs, and no network.
 * hookd stays uid 0 outside any chroot (hooks write configfs and sysfs)
 * and keeps only the capabilities such a hook needs.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <linux/capability.h>
#include <seccomp.h>
#include <stddef.h>

#include "hookd.h"
#include "sandbox.h"

static const int hookd_caps[] = {
	CAP_SYS_ADMIN,		/* hooks mount configfs and bind gadgets */
	CAP_SYS_MODULE,		/* hooks may load gadget modules */
};

#define HOOK(name, why)	{ SCMP_SYS(name), why, 0, 0, 0 }

static const struct sandbox_rule hookd_rules[] = {
	/* hookd itself */
	HOOK(epoll_wait, "libevent's loop"),
	HOOK(epoll_ctl, "libevent's loop"),
	HOOK(recvmsg, "messages from the parent and blockd"),
	HOOK(sendmsg, "messages to the parent and blockd"),
	HOOK(clone, "fork a hook; a hook's own commands"),
	HOOK(vfork, "a hook's own commands"),
	HOOK(execve, "run the hook named in the config"),
	HOOK(wait4, "reap hooks"),
	HOOK(kill, "SIGTERM, then SIGKILL, a hook that timed out"),
	HOOK(setpgid, "a hook in its own group, killed as a whole"),
	HOOK(close_range, "no descriptor of ours leaks into a hook"),
	HOOK(pipe2, "capture a hook's output"),
	/* processes and signals, for hooks and the shell */
	HOOK(exit_group, "exit"),
	HOOK(exit, "exit"),
	HOOK(rt_sigaction, "signal handling"),
	HOOK(rt_sigprocmask, "signal handling"),
	HOOK(rt_sigreturn, "return from a signal"),
	HOOK(rt_sigsuspend, "the shell's wait builtin (dash)"),
	HOOK(sigaltstack, "programs' signal stacks"),
	HOOK(tgkill, "a shell signalling its own jobs"),
	HOOK(getpid, "process identity"),
	HOOK(getppid, "process identity"),
	HOOK(gettid, "process identity"),
	HOOK(getpgrp, "the shell's job control"),
	HOOK(getpgid, "the shell's job control"),
	HOOK(setsid, "daemonizing helpers"),
	HOOK(getuid, "process identity"),
	HOOK(geteuid, "process identity"),
	HOOK(getgid, "process identity"),
	HOOK(getegid, "process identity"),
	HOOK(getgroups, "process identity"),
	HOOK(getresuid, "process identity"),
	HOOK(getresgid, "process identity"),
	HOOK(set_tid_address, "C library start-up"),
	HOOK(set_robust_list, "C library start-up"),
	HOOK(rseq, "C library start-up"),
	HOOK(arch_prctl, "C library start-up"),
	HOOK(prlimit64, "C library start-up, ulimit"),
	HOOK(getrlimit, "ulimit"),
	HOOK(futex, "C library locks"),
	HOOK(getrandom, "C library start-up"),
	HOOK(uname, "programs asking the kernel version (modprobe)"),
	HOOK(sysinfo, "programs sizing buffers"),
	HOOK(sched_getaffinity, "programs counting CPUs"),
	HOOK(umask, "the shell"),
	/* busybox, the BMC's usual shell and tools, names each applet */
	{ SCMP_SYS(prctl), "PR_GET_NAME: busybox applet names", 1,
	    ~(scmp_datum_t)0, PR_GET_NAME },
	{ SCMP_SYS(prctl), "PR_SET_NAME: busybox applet names", 1,
	    ~(scmp_datum_t)0, PR_SET_NAME },
	/* memory; mmap and mprotect may map code: hooks are programs */
	HOOK(brk, "malloc"),
	HOOK(mmap, "malloc and loading programs"),
	HOOK(mprotect, "loading programs"),
	HOOK(munmap, "free"),
	HOOK(mremap, "realloc"),
	HOOK(madvise, "free returning memory"),
	/* files: configfs, sysfs, the device, the hook's own files */
	HOOK(openat, "files"),
	HOOK(open, "files"),
	HOOK(close, "files"),
	HOOK(read, "files, hook output"),
	HOOK(pread64, "the loader"),
	HOOK(write, "files, configfs attributes"),
	HOOK(writev, "log lines; files"),
	HOOK(lseek, "files"),
	HOOK(fcntl, "descriptors"),
	HOOK(dup, "redirections"),
	HOOK(dup2, "redirections"),
	HOOK(dup3, "redirections"),
	HOOK(pipe, "shell pipelines"),
	HOOK(ioctl, "terminal probes of the shell"),
	HOOK(newfstatat, "stat"),
	HOOK(fstat, "stat"),
	HOOK(stat, "stat"),
	HOOK(lstat, "stat"),
	HOOK(statx, "stat"),
	HOOK(statfs, "stat of file systems"),
	HOOK(fstatfs, "stat of file systems"),
	HOOK(access, "test -e"),
	HOOK(faccessat, "test -e"),
	HOOK(faccessat2, "test -e"),
	HOOK(getdents64, "ls and globs"),
	HOOK(getcwd, "the shell"),
	HOOK(chdir, "cd"),
	HOOK(fchdir, "cd"),
	HOOK(readlink, "symbolic links"),
	HOOK(readlinkat, "symbolic links"),
	HOOK(mkdir, "gadget directories in configfs"),
	HOOK(mkdirat, "gadget directories in configfs"),
	HOOK(rmdir, "removing a gadget"),
	HOOK(unlink, "removing files"),
	HOOK(unlinkat, "removing files and gadget links"),
	HOOK(symlink, "linking a function into a gadget config"),
	HOOK(symlinkat, "linking a function into a gadget config"),
	HOOK(rename, "mv"),
	HOOK(renameat2, "mv"),
	HOOK(chmod, "chmod"),
	HOOK(fchmodat, "chmod"),
	HOOK(utimensat, "touch"),
	HOOK(ftruncate, "truncating files"),
	HOOK(fsync, "sync"),
	HOOK(fdatasync, "sync"),
	HOOK(sync, "sync"),
	HOOK(fadvise64, "cat"),
	HOOK(copy_file_range, "cp and cat"),
	HOOK(sendfile, "cp and cat"),
	HOOK(poll, "shell pipelines"),
	HOOK(ppoll, "shell pipelines"),
	HOOK(pselect6, "shell pipelines"),
	HOOK(nanosleep, "sleep"),
	HOOK(clock_nanosleep, "sleep"),
	HOOK(clock_gettime, "time"),
	HOOK(gettimeofday, "time"),
	/* what gadget hooks need beyond plain files */
	HOOK(mount, "mount configfs"),
	HOOK(umount2, "unmount configfs"),
	HOOK(finit_module, "modprobe of gadget modules"),
	HOOK(init_module, "modprobe of gadget modules"),
	/* a local socket for tools that log; never a network family */
	{ SCMP_SYS(socket), "AF_UNIX only: no network for hooks", 1,
	    ~(scmp_datum_t)0, AF_UNIX },
	HOOK(connect, "AF_UNIX sockets only, see socket"),
	HOOK(sendto, "AF_UNIX sockets only, see socket"),
};

const struct sandbox_policy hookd_policy = {
	.name = "hookd",
	.rules = hookd_rules,
	.nrules = sizeof(hookd_rules) / sizeof(hookd_rules[0]),
	.caps = hookd_caps,
	.ncaps = sizeof(hookd_caps) / sizeof(hookd_caps[0]),
	.drop_root = 0,
};
