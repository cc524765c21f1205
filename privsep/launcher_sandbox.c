/*
 * The launcher's rights, all on one screen. It is root, keeps only the
 * capabilities that starting an unprivileged nbdkit takes, and its
 * seccomp table is a deny-list, unlike every other process's.
 *
 * Why a deny-list: a seccomp filter survives fork and execve, so nbdkit
 * runs under the launcher's filter whatever it is. nbdkit loads plugins
 * with dlopen, runs threads and calls GnuTLS, libnbd and libcurl, whose
 * calls differ by version and architecture; an allow-list for it on
 * x86-64, arm64 and armhf cannot be kept honest (privsep/source.c). What
 * neither the launcher nor nbdkit ever calls can be denied, on all three:
 * the calls that reach into other processes, namespaces, the kernel's
 * module, key, BPF and io_uring surfaces, mounts, clocks and reboot.
 * Another architecture's ABI (x32, i386 on x86-64) is killed as well.
 */
#include <linux/capability.h>
#include <seccomp.h>
#include <stddef.h>

#include "launcher.h"
#include "sandbox.h"

static const int launcher_caps[] = {
	CAP_SETUID,	  /* nbdkit runs as the configured user */
	CAP_SETGID,	  /* and its group, without supplementary groups */
	CAP_SETPCAP,	  /* nbdkit's bounding set emptied */
	CAP_CHOWN,	  /* a source's private folder given to that user */
	CAP_DAC_OVERRIDE, /* and emptied again, though it is the user's */
	CAP_KILL,	  /* nbdkit stopped when the parent goes */
};

/* Where a call differs by architecture, the rule says which has it. */
static const struct sandbox_rule launcher_rules[] = {
	SB(ptrace, "no tracing of another process"),
	SB(process_vm_readv, "no reading another process's memory"),
	SB(process_vm_writev, "no writing another process's memory"),
	SB(unshare, "no new namespaces (a user namespace grants capabilities)"),
	SB(setns, "no entering another namespace"),
	SB(mount, "no mounts"),
	SB(umount2, "no unmounts"),
	SB(pivot_root, "no new root"),
	SB(chroot, "no chroot"),
	SB(open_by_handle_at, "no opening files by handle, past the tree"),
	SB(name_to_handle_at, "no file handles"),
	SB(bpf, "no BPF programs or maps"),
	SB(perf_event_open, "no performance counters"),
	SB(userfaultfd, "no page-fault handling in user space"),
	SB(io_uring_setup, "no io_uring"),
	SB(io_uring_enter, "no io_uring"),
	SB(io_uring_register, "no io_uring"),
	SB(keyctl, "no kernel keyrings"),
	SB(add_key, "no kernel keyrings"),
	SB(request_key, "no kernel keyrings"),
	SB(init_module, "no kernel modules"),
	SB(finit_module, "no kernel modules"),
	SB(delete_module, "no kernel modules"),
	SB(kexec_load, "no other kernel"),
	SB(reboot, "no reboot"),
	SB(swapon, "no swap"),
	SB(swapoff, "no swap"),
	SB(acct, "no process accounting"),
	SB(quotactl, "no quotas"),
	SB(syslog, "no kernel log"),
	SB(personality, "no personality (ADDR_NO_RANDOMIZE)"),
	SB(sethostname, "no host name"),
	SB(setdomainname, "no domain name"),
	SB(settimeofday, "no setting the clock"),
	SB(clock_settime, "no setting the clock"),
	SB(adjtimex, "no adjusting the clock"),
	SB(clock_adjtime, "no adjusting the clock"),
	SB_ON(SANDBOX_ARMHF, clock_settime64,
	    "no setting the clock (armhf with a 64-bit time_t)"),
	SB_ON(SANDBOX_ARMHF, clock_adjtime64,
	    "no adjusting the clock (armhf with a 64-bit time_t)"),
	SB(mknodat, "no device nodes"),
	SB_ON(SANDBOX_X86_64 | SANDBOX_ARMHF, mknod, "no device nodes"),
	SB_ON(SANDBOX_X86_64, iopl, "no I/O ports"),
	SB_ON(SANDBOX_X86_64, ioperm, "no I/O ports"),
	SB(fanotify_init, "no file-system-wide notification"),
	SB(vhangup, "no hanging up terminals"),
};

const struct sandbox_policy launcher_policy = {
	.name = "launcher",
	.rules = launcher_rules,
	.nrules = sizeof(launcher_rules) / sizeof(launcher_rules[0]),
	.caps = launcher_caps,
	.ncaps = sizeof(launcher_caps) / sizeof(launcher_caps[0]),
	.drop_root = 0,
	.deny = 1,
};
