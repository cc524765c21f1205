/*
 * hookd's rights, all on one screen. A seccomp filter is inherited across
 * exec, so this list is also every hook's: what shell scripts and the
 * usual tools need to build a USB gadget in configfs, and no network, no
 * mount, no module loading, no ioctl beyond terminal queries. hookd stays
 * uid 0 outside any chroot (configfs, sysfs and /dev/nbdN belong to root)
 * but holds no capability: the modules and the configfs mount hooks need
 * are prepared at start (prepare.c), before this sandbox.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <seccomp.h>
#include <stddef.h>

#include "hookd.h"
#include "sandbox.h"

/*
 * Where a call differs by architecture, the rule says which needs it:
 * arm64 has only the *at forms of file calls; armhf has 32-bit-id and
 * 64-bit-offset variants, and glibc there prefers the time64 calls.
 */
#define X86 SANDBOX_X86_64
#define ARM64 SANDBOX_ARM64
#define ARMHF SANDBOX_ARMHF
#define NOT_ARM64 (SANDBOX_X86_64 | SANDBOX_ARMHF)

static const struct sandbox_rule hookd_rules[] = {
	/* hookd itself */
	SB_ON(NOT_ARM64, epoll_wait, "libevent's loop"),
	SB_ON(ARM64, epoll_pwait, "libevent's loop (arm64 has no epoll_wait)"),
	SB(epoll_ctl, "libevent's loop"),
	SB(recvmsg, "messages from the parent and blockd"),
	SB(sendmsg, "messages to the parent and blockd"),
	SB(clone, "fork a hook; a hook's own commands"),
	SB_ON(NOT_ARM64, vfork, "a hook's own commands"),
	SB(execve, "run the hook named in the config"),
	SB(wait4, "reap hooks"),
	SB(kill, "SIGTERM, then SIGKILL, a hook that timed out"),
	SB(setpgid, "a hook in its own group, killed as a whole"),
	SB(close_range, "no descriptor of ours leaks into a hook"),
	SB(pipe2, "capture a hook's output"),
	/* processes and signals, for hooks and the shell */
	SB(exit_group, "exit"),
	SB(exit, "exit"),
	SB(rt_sigaction, "signal handling"),
	SB(rt_sigprocmask, "signal handling"),
	SB(rt_sigreturn, "return from a signal"),
	SB_ON(ARMHF, sigreturn,
	    "return from a signal handler installed "
	    "without SA_SIGINFO (armhf)"),
	SB(rt_sigsuspend, "the shell's wait builtin (dash)"),
	SB(sigaltstack, "programs' signal stacks"),
	SB(tgkill, "a shell signalling its own jobs"),
	SB(getpid, "process identity"),
	SB(getppid, "process identity"),
	SB(gettid, "process identity"),
	SB_ON(NOT_ARM64, getpgrp, "the shell's job control"),
	SB(getpgid, "the shell's job control"),
	SB(setsid, "daemonizing helpers"),
	SB_ON(SANDBOX_64, getuid, "process identity"),
	SB_ON(SANDBOX_64, geteuid, "process identity"),
	SB_ON(SANDBOX_64, getgid, "process identity"),
	SB_ON(SANDBOX_64, getegid, "process identity"),
	SB_ON(SANDBOX_64, getgroups, "process identity"),
	SB_ON(SANDBOX_64, getresuid, "process identity"),
	SB_ON(SANDBOX_64, getresgid, "process identity"),
	SB_ON(ARMHF, getuid32, "process identity (armhf: 32-bit ids)"),
	SB_ON(ARMHF, geteuid32, "process identity (armhf: 32-bit ids)"),
	SB_ON(ARMHF, getgid32, "process identity (armhf: 32-bit ids)"),
	SB_ON(ARMHF, getegid32, "process identity (armhf: 32-bit ids)"),
	SB_ON(ARMHF, getgroups32, "process identity (armhf: 32-bit ids)"),
	SB_ON(ARMHF, getresuid32, "process identity (armhf: 32-bit ids)"),
	SB_ON(ARMHF, getresgid32, "process identity (armhf: 32-bit ids)"),
	SB(set_tid_address, "C library start-up"),
	SB(set_robust_list, "C library start-up"),
	SB(rseq, "C library start-up"),
	SB_ON(X86, arch_prctl, "C library start-up"),
	SB_ON(ARMHF, set_tls,
	    "C library start-up: ARM's private call that "
	    "sets the thread pointer"),
	SB(prlimit64, "C library start-up, ulimit"),
	SB_ON(SANDBOX_64, getrlimit, "ulimit"),
	SB_ON(ARMHF, ugetrlimit, "ulimit (armhf: glibc's getrlimit)"),
	SB(futex, "C library locks"),
	SB(getrandom, "C library start-up"),
	SB(uname, "programs asking the kernel version (modprobe)"),
	SB(sysinfo, "programs sizing buffers"),
	SB(sched_getaffinity, "programs counting CPUs"),
	SB(umask, "the shell"),
	/* busybox, the BMC's usual shell and tools, names each applet */
	SB_ARG(prctl, 1, ~(scmp_datum_t)0, PR_GET_NAME,
	    "PR_GET_NAME: busybox applet names"),
	SB_ARG(prctl, 1, ~(scmp_datum_t)0, PR_SET_NAME,
	    "PR_SET_NAME: busybox applet names"),
	/* memory; mmap and mprotect may map code: hooks are programs */
	SB(brk, "malloc"),
	SB_ON(SANDBOX_64, mmap, "malloc and loading programs"),
	SB_ON(ARMHF, mmap2,
	    "malloc and loading programs (armhf: glibc's mmap)"),
	SB(mprotect, "loading programs"),
	SB(munmap, "free"),
	SB(mremap, "realloc"),
	SB(madvise, "free returning memory"),
	/* files: configfs, sysfs, the device, the hook's own files */
	SB(openat, "files"),
	SB_ON(NOT_ARM64, open, "files"),
	SB(close, "files"),
	SB(read, "files, hook output"),
	SB(pread64, "the loader"),
	SB(write, "files, configfs attributes"),
	SB(writev, "log lines; files"),
	SB_ON(SANDBOX_64, lseek, "files"),
	SB_ON(ARMHF, _llseek, "files (armhf: 64-bit offsets)"),
	SB_ON(SANDBOX_64, fcntl, "descriptors"),
	SB_ON(ARMHF, fcntl64, "descriptors (armhf: glibc's fcntl)"),
	SB(dup, "redirections"),
	SB_ON(NOT_ARM64, dup2, "redirections"),
	SB(dup3, "redirections"),
	SB_ON(NOT_ARM64, pipe, "shell pipelines"),
	SB_ARG(ioctl, 2, ~(scmp_datum_t)0, TCGETS,
	    "TCGETS only: isatty() of the shell and of tools"),
	SB_ARG(ioctl, 2, ~(scmp_datum_t)0, TIOCGWINSZ,
	    "TIOCGWINSZ only: tools asking a terminal's width"),
	SB_ARG(ioctl, 2, ~(scmp_datum_t)0, TIOCGPGRP,
	    "TIOCGPGRP only: the shell's job control"),
	SB_ARG(ioctl, 2, ~(scmp_datum_t)0, FIONREAD,
	    "FIONREAD only: how much a pipe holds"),
	SB_ON(SANDBOX_64, newfstatat, "stat"),
	SB_ON(SANDBOX_64, fstat, "stat"),
	SB_ON(X86, stat, "stat"),
	SB_ON(X86, lstat, "stat"),
	SB(statx, "stat (armhf: glibc's stat, lstat and fstat)"),
	SB_ON(SANDBOX_64, statfs, "stat of file systems"),
	SB_ON(SANDBOX_64, fstatfs, "stat of file systems"),
	SB_ON(ARMHF, statfs64, "stat of file systems (armhf)"),
	SB_ON(ARMHF, fstatfs64, "stat of file systems (armhf)"),
	SB_ON(NOT_ARM64, access, "test -e"),
	SB(faccessat, "test -e"),
	SB(faccessat2, "test -e"),
	SB(getdents64, "ls and globs"),
	SB(getcwd, "the shell"),
	SB(chdir, "cd"),
	SB(fchdir, "cd"),
	SB_ON(NOT_ARM64, readlink, "symbolic links"),
	SB(readlinkat, "symbolic links"),
	SB_ON(NOT_ARM64, mkdir, "gadget directories in configfs"),
	SB(mkdirat, "gadget directories in configfs"),
	SB_ON(NOT_ARM64, rmdir, "removing a gadget"),
	SB_ON(NOT_ARM64, unlink, "removing files"),
	SB(unlinkat, "removing files and gadget links; rmdir on arm64"),
	SB_ON(NOT_ARM64, symlink, "linking a function into a gadget config"),
	SB(symlinkat, "linking a function into a gadget config"),
	SB_ON(NOT_ARM64, rename, "mv"),
	SB_ON(ARM64, renameat, "mv (arm64: glibc's rename)"),
	SB(renameat2, "mv"),
	SB_ON(NOT_ARM64, chmod, "chmod"),
	SB(fchmodat, "chmod"),
	SB_ON(SANDBOX_64, utimensat, "touch"),
	SB_ON(ARMHF, utimensat_time64, "touch (armhf: time64)"),
	SB_ON(SANDBOX_64, ftruncate, "truncating files"),
	SB_ON(ARMHF, ftruncate64, "truncating files (armhf)"),
	SB(fsync, "sync"),
	SB(fdatasync, "sync"),
	SB(sync, "sync"),
	SB_ON(SANDBOX_64, fadvise64, "cat"),
	SB_ON(ARMHF, arm_fadvise64_64, "cat (armhf: glibc's fadvise)"),
	SB(copy_file_range, "cp and cat"),
	SB_ON(SANDBOX_64, sendfile, "cp and cat"),
	SB_ON(ARMHF, sendfile64, "cp and cat (armhf)"),
	SB_ON(NOT_ARM64, poll, "shell pipelines"),
	SB_ON(SANDBOX_64, ppoll, "shell pipelines"),
	SB_ON(ARMHF, ppoll_time64, "shell pipelines (armhf: time64)"),
	SB_ON(SANDBOX_64, pselect6, "shell pipelines"),
	SB_ON(ARMHF, pselect6_time64, "shell pipelines (armhf: time64)"),
	SB_ON(X86, nanosleep, "sleep"),
	SB_ON(SANDBOX_64, clock_nanosleep, "sleep"),
	SB_ON(ARMHF, clock_nanosleep_time64, "sleep (armhf: time64)"),
	SB_ON(SANDBOX_64, clock_gettime, "time"),
	SB_ON(SANDBOX_64, gettimeofday, "time"),
	SB_ON(ARMHF, clock_gettime64,
	    "time (armhf: time64; the AST2600 has no vDSO clock)"),
	/* a local socket for tools that log; never a network family */
	SB_ARG(socket, 1, ~(scmp_datum_t)0, AF_UNIX,
	    "AF_UNIX only: no network for hooks"),
	SB(connect, "AF_UNIX sockets only, see socket"),
	SB(sendto, "AF_UNIX sockets only, see socket"),
	SB_ON(ARMHF, send,
	    "AF_UNIX sockets only, see socket (armhf: glibc's send)"),
};

const struct sandbox_policy hookd_policy = {
	.name = "hookd",
	.rules = hookd_rules,
	.nrules = sizeof(hookd_rules) / sizeof(hookd_rules[0]),
	.caps = NULL,
	.ncaps = 0,
	.drop_root = 0,
};
