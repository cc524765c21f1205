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
		if (capng_update(CAPNG_ADD,
			CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
			p->caps[i]) != 0)
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

	if (p->drop_root &&
	    (getuid() != g->uid || geteuid() != g->uid || getgid() != g->gid ||
		getegid() != g->gid || getuid() == 0))
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

const struct sandbox_arch sandbox_arches[] = {
	{ "x86-64", SANDBOX_X86_64, SCMP_ARCH_X86_64 },
	{ "arm64", SANDBOX_ARM64, SCMP_ARCH_AARCH64 },
	{ "armhf", SANDBOX_ARMHF, SCMP_ARCH_ARM },
};
const size_t sandbox_narches =
    sizeof(sandbox_arches) / sizeof(sandbox_arches[0]);

const struct sandbox_arch *
sandbox_arch_native(void)
{
	uint32_t token = seccomp_arch_native();
	size_t i;

	for (i = 0; i < sandbox_narches; i++)
		if (sandbox_arches[i].token == token)
			return &sandbox_arches[i];
	return NULL;
}

/*
 * The rule's syscall number on an architecture: -1 if the rule is not for
 * it, -2 if the name is no syscall there. libseccomp gives names that do
 * not exist on an architecture a negative pseudo number, which
 * seccomp_rule_add() would accept as a rule that never matches.
 */
int
sandbox_rule_nr(const struct sandbox_rule *r, const struct sandbox_arch *a)
{
	int nr;

	if ((r->arches & a->bit) == 0)
		return -1;
	nr = seccomp_syscall_resolve_name_arch(a->token, r->syscall);
	return nr < 0 ? -2 : nr;
}

static void
sandbox_add(scmp_filter_ctx ctx, const char *who, const struct sandbox_rule *r,
    const struct sandbox_arch *a, uint32_t action)
{
	int nr, rc;

	if ((nr = sandbox_rule_nr(r, a)) == -1)
		return;
	if (nr == -2)
		fatalx("%s: sandbox rule %s (%s) names no syscall on %s", who,
		    r->syscall, r->why, a->name);
	/*
	 * libseccomp numbers calls as the running architecture does and
	 * translates by name for a filter built for another one (the tests
	 * build all three): hand it this architecture's number for the name,
	 * a pseudo number if the call exists only elsewhere.
	 */
	nr = seccomp_syscall_resolve_name(r->syscall);
	if (r->arg == 0)
		rc = seccomp_rule_add_exact(ctx, action, nr, 0);
	else
		rc = seccomp_rule_add_exact(ctx, action, nr, 1,
		    SCMP_CMP(r->arg - 1, SCMP_CMP_MASKED_EQ, r->mask,
			r->value));
	if (rc != 0)
		fatalx("%s: sandbox rule %s (%s) on %s: %s", who, r->syscall,
		    r->why, a->name, strerror(-rc));
}

/*
 * The filter for a process on an architecture, not yet loaded: the tests
 * build it for every architecture, the process for its own. A call not in
 * an allow-list, or from another architecture's ABI (x32, i386), gets the
 * action; so does a call in a deny-list (p->deny), and only that.
 */
scmp_filter_ctx
sandbox_filter(const struct sandbox_policy *p, const struct sandbox_arch *a,
    uint32_t action)
{
	scmp_filter_ctx ctx;
	size_t i;

	if ((ctx = seccomp_init(p->deny ? SCMP_ACT_ALLOW : action)) == NULL)
		fatalx("%s: seccomp_init failed", p->name);
	if (p->deny &&
	    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
		SCMP_ACT_KILL_PROCESS) != 0)
		fatalx("%s: no seccomp action for other ABIs", p->name);
	if (a->token != seccomp_arch_native() &&
	    (seccomp_arch_add(ctx, a->token) != 0 ||
		seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE) != 0))
		fatalx("%s: no seccomp filter for %s", p->name, a->name);
	for (i = 0; i < p->nrules; i++)
		sandbox_add(ctx, p->name, &p->rules[i], a,
		    p->deny ? action : SCMP_ACT_ALLOW);
	return ctx;
}

#ifdef VMEDIAD_TEST
/*
 * Test builds: VMEDIAD_SECCOMP_LOG=1 logs calls outside the list instead
 * of killing (to collect what a new architecture needs in one run), and
 * VMEDIAD_TEST_SANDBOX_RULE=NAME adds a rule, to show that a name absent
 * on this architecture stops the process.
 */
static uint32_t
sandbox_test_action(void)
{
	const char *v = getenv("VMEDIAD_SECCOMP_LOG");

	return v != NULL && strcmp(v, "1") == 0 ? SCMP_ACT_LOG :
						  SCMP_ACT_KILL_PROCESS;
}

static void
sandbox_test_rule(scmp_filter_ctx ctx, const struct sandbox_policy *p,
    const struct sandbox_arch *a)
{
	struct sandbox_rule r = { NULL, SANDBOX_ALL,
		"VMEDIAD_TEST_SANDBOX_RULE", 0, 0, 0 };

	if ((r.syscall = getenv("VMEDIAD_TEST_SANDBOX_RULE")) != NULL)
		sandbox_add(ctx, p->name, &r, a,
		    p->deny ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ALLOW);
}
#endif

static void
sandbox_seccomp(const struct sandbox_policy *p)
{
	const struct sandbox_arch *a;
	uint32_t action = SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx;
	int rc;

	if ((a = sandbox_arch_native()) == NULL)
		fatalx("%s: no sandbox for this architecture (seccomp token "
		       "%#x)",
		    p->name, seccomp_arch_native());
#ifdef VMEDIAD_TEST
	action = sandbox_test_action();
#endif
	ctx = sandbox_filter(p, a, action);
#ifdef VMEDIAD_TEST
	sandbox_test_rule(ctx, p, a);
#endif
	/* Threads started before the sandbox get the same filter. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0)
		fatalx("%s: seccomp TSYNC unavailable", p->name);
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
	log_debug("sandboxed on %s: %zu capabilities%s",
	    sandbox_arch_native()->name, p->ncaps,
	    p->drop_root ? ", chrooted, unprivileged" : "");
}

/* For review: a process's rights on this architecture, one per line. */
void
sandbox_print(const struct sandbox_policy *p)
{
	const struct sandbox_arch *a;
	const char *cap;
	size_t i;
	int nr;

	if ((a = sandbox_arch_native()) == NULL)
		fatalx("%s: no sandbox for this architecture", p->name);
	printf("%s: %s, %s%s\n", p->name, a->name,
	    p->drop_root ? "chroot, unprivileged user" : "keeps uid 0",
	    p->deny ? ", all syscalls but those denied below" : "");
	for (i = 0; i < p->ncaps; i++) {
		cap = capng_capability_to_name(p->caps[i]);
		printf("%s: capability %s\n", p->name, cap ? cap : "?");
	}
	for (i = 0; i < p->nrules; i++) {
		if ((nr = sandbox_rule_nr(&p->rules[i], a)) == -1)
			continue;
		if (nr == -2)
			fatalx("%s: sandbox rule %s names no syscall on %s",
			    p->name, p->rules[i].syscall, a->name);
		printf("%s: %s %s (%d)%s: %s\n", p->name,
		    p->deny ? "denies syscall" : "syscall", p->rules[i].syscall,
		    nr, p->rules[i].arg ? " (argument checked)" : "",
		    p->rules[i].why);
	}
}
