/*
 * The sandbox every vmediad process enters: no_new_privs, its capability
 * row (libcap-ng), uid and chroot where allowed, then a seccomp allow-list.
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <seccomp.h>

#include "conf.h"

/*
 * The architectures a rule applies to. glibc issues different calls for
 * the same function on each (mmap2 on armhf, epoll_pwait on arm64), so a
 * rule names its syscall by the kernel's name and says where it is needed;
 * every rule for the running architecture must name a real syscall there.
 */
#define SANDBOX_X86_64 0x1
#define SANDBOX_ARM64 0x2
#define SANDBOX_ARMHF 0x4
#define SANDBOX_ALL (SANDBOX_X86_64 | SANDBOX_ARM64 | SANDBOX_ARMHF)
#define SANDBOX_64 (SANDBOX_X86_64 | SANDBOX_ARM64)

/*
 * One allowed syscall and why. arg is the number of an argument to compare,
 * counting from 1 (0: any arguments): the call is allowed when
 * (argument & mask) == value, i.e. SCMP_CMP_MASKED_EQ.
 */
struct sandbox_rule {
	const char *syscall;
	unsigned arches;
	const char *why;
	unsigned arg;
	scmp_datum_t mask;
	scmp_datum_t value;
};

/* Rule constructors, so that each table reads one call per line. */
#define SB(name, why) \
	{ \
#name, SANDBOX_ALL, why, 0, 0, 0 \
	}
#define SB_ON(arches, name, why) \
	{ \
#name, arches, why, 0, 0, 0 \
	}
#define SB_ARG(name, arg, mask, value, why) \
	{ \
#name, SANDBOX_ALL, why, arg, mask, value \
	}
#define SB_ARG_ON(arches, name, arg, mask, value, why) \
	{ \
#name, arches, why, arg, mask, value \
	}

struct sandbox_policy {
	const char *name;
	const struct sandbox_rule *rules;
	size_t nrules;
	const int *caps; /* kept, effective */
	size_t ncaps;
	int drop_root; /* chroot + setuid */
	/*
	 * 0: the rules are all the process may call (the default kills).
	 * 1: the rules are what it may not call, and all else is allowed:
	 * for the launcher, whose filter nbdkit inherits (launcher_sandbox.c).
	 */
	int deny;
};

/* The architectures vmediad knows, for the tables and their tests. */
struct sandbox_arch {
	const char *name; /* as Debian calls it */
	unsigned bit;	  /* SANDBOX_* */
	uint32_t token;	  /* SCMP_ARCH_* */
};
extern const struct sandbox_arch sandbox_arches[];
extern const size_t sandbox_narches;

const struct sandbox_arch *sandbox_arch_native(void);
int sandbox_rule_nr(const struct sandbox_rule *, const struct sandbox_arch *);
scmp_filter_ctx sandbox_filter(const struct sandbox_policy *,
    const struct sandbox_arch *, uint32_t);
void sandbox_enter(const struct sandbox_policy *, const struct conf_global *);
void sandbox_print(const struct sandbox_policy *);

#endif
