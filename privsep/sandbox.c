/*
 * Applies a process's sandbox in the one order that works: no_new_privs,
 * chroot while still root, uid and capabilities together (libcap-ng), a
 * check that it all took, and the seccomp allow-list last.
 */
#include <sys/prctl.h>

#include <cap-ng.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

static void
sandbox_caps(const struct sandbox_policy *p, const struct conf_global *g)
{
	size_t i;
	int r;

	capng_clear(CAPNG_SELECT_BOTH);
	for (i = 0; i < p->ncaps; i++)
		if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED |
		    CAPNG_BOUNDING_SET, p->caps[i]) != 0)
			fatalx("%s: cannot keep capability %d", p->name,
			    p->caps[i]);
	if (p->drop_root)
		r = capng_change_id(g->uid, g->gid,
		    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	else
		r = capng_apply(CAPNG_SELECT_BOTH);
	if (r != 0)
		fatalx("%s: cannot set capabilities and ids (%d)", p->name, r);
	/* Ambient capabilities would survive an exec; there must be none. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		fatal("%s: clear ambient capabilities", p->name);
}

/* Refuse to go on unless the kernel reports what we asked for. */
static void
sandbox_verify(const struct sandbox_policy *p, const struct conf_global *g)
{
	size_t i;

	if (p->drop_root && (getuid() != g->uid || geteuid() != g->uid ||
	    getgid() != g->gid || getegid() != g->gid || getuid() == 0))
		fatalx("%s: uid or gid did not change", p->name);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fatalx("%s: no_new_privs is not set", p->name);
	capng_get_caps_process();
	for (i = 0; i < p->ncaps; i++)
		capng_update(CAPNG_DROP, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
		    p->caps[i]);
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		fatalx("%s: holds capabilities beyond its row", p->name);
}

static void
sandbox_seccomp(const struct sandbox_policy *p)
{
	const struct sandbox_rule *r;
	scmp_filter_ctx ctx;
	size_t i;
	int rc;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("%s: seccomp_init failed", p->name);
	/* Threads started before the sandbox get the same filter. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0)
		fatalx("%s: seccomp TSYNC unavailable", p->name);
	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (r->arg1 == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->syscall, 0);
		else
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->syscall, 1,
			    SCMP_CMP(r->arg1 - 1, SCMP_CMP_MASKED_EQ, r->mask,
			    r->value));
		if (rc != 0)
			fatalx("%s: seccomp rule %zu (%s): %s", p->name, i,
			    r->why, strerror(-rc));
	}
	if ((rc = seccomp_load(ctx)) != 0)
		fatalx("%s: seccomp_load: %s", p->name, strerror(-rc));
	seccomp_release(ctx);
}

void
sandbox_enter(const struct sandbox_policy *p, const struct conf_global *g)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: no_new_privs", p->name);
	if (p->drop_root) {
		if (chroot(g->chroot) == -1)
			fatal("%s: chroot %s", p->name, g->chroot);
		if (chdir("/") == -1)
			fatal("%s: chdir /", p->name);
	}
	sandbox_caps(p, g);
	sandbox_verify(p, g);
	sandbox_seccomp(p);
	log_debug("sandboxed: %zu syscalls, %zu capabilities%s", p->nrules,
	    p->ncaps, p->drop_root ? ", chrooted, unprivileged" : "");
}

/* For review: a process's rights, one per line. */
void
sandbox_print(const struct sandbox_policy *p)
{
	const char *cap;
	char *name;
	size_t i;

	printf("%s: %s\n", p->name, p->drop_root ?
	    "chroot, unprivileged user" : "keeps uid 0");
	for (i = 0; i < p->ncaps; i++) {
		cap = capng_capability_to_name(p->caps[i]);
		printf("%s: capability %s\n", p->name, cap ? cap : "?");
	}
	for (i = 0; i < p->nrules; i++) {
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
		    p->rules[i].syscall);
		printf("%s: syscall %s%s: %s\n", p->name, name ? name : "?",
		    p->rules[i].arg1 ? " (argument checked)" : "",
		    p->rules[i].why);
		free(name);
	}
}
