/*
 * Checks each process's seccomp table on every architecture vmediad runs
 * on: each rule names a real syscall there, the filter builds, and a rule
 * that names no syscall stops the process with the rule's name.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"
#include "test.h"

extern const struct sandbox_policy vmediad_policy, sessiond_policy,
    blockd_policy, hookd_policy, launcher_policy;

static const struct sandbox_policy *policies[] = {
	&vmediad_policy,
	&sessiond_policy,
	&blockd_policy,
	&hookd_policy,
	&launcher_policy,
};
#define NPOLICIES (sizeof(policies) / sizeof(policies[0]))

static const char *outdir;

/* Every rule for the arch resolves; returns how many rules apply there. */
static size_t
check_resolves(const struct sandbox_policy *p, const struct sandbox_arch *a)
{
	char name[128], bad[1024] = "";
	size_t i, n = 0;
	int nr;

	for (i = 0; i < p->nrules; i++) {
		if ((nr = sandbox_rule_nr(&p->rules[i], a)) == -1)
			continue;
		n++;
		if (nr == -2 && strlen(bad) + 64 < sizeof(bad)) {
			strcat(bad, " ");
			strcat(bad, p->rules[i].syscall);
		}
	}
	snprintf(name, sizeof(name), "sandbox_%s_rules_name_syscalls_of_%s",
	    p->name, a->name);
	test_result(name, bad[0] == '\0', "no such syscall on %s:%s", a->name,
	    bad);
	return bad[0] == '\0' ? n : 0;
}

/* A rule with a reason, for at least one arch, not twice for the same. */
static void
check_well_formed(const struct sandbox_policy *p)
{
	const struct sandbox_rule *r, *s;
	char name[128], bad[512] = "";
	size_t i, j;

	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (r->why == NULL || r->why[0] == '\0' ||
		    (r->arches & SANDBOX_ALL) == 0 ||
		    (r->arches & ~SANDBOX_ALL) != 0)
			snprintf(bad, sizeof(bad), "rule %s", r->syscall);
		for (j = 0; j < i; j++) {
			s = &p->rules[j];
			if (strcmp(r->syscall, s->syscall) == 0 &&
			    (r->arches & s->arches) != 0 && r->arg == 0 &&
			    s->arg == 0)
				snprintf(bad, sizeof(bad), "%s twice",
				    r->syscall);
		}
	}
	snprintf(name, sizeof(name), "sandbox_%s_rules_have_reasons_and_arches",
	    p->name);
	test_result(name, bad[0] == '\0', "%s", bad);
}

/*
 * Builds the filter for the arch as the process would, in a child (a
 * failure is fatalx), exports its BPF and keeps the listing for review.
 */
static void
check_builds(const struct sandbox_policy *p, const struct sandbox_arch *a)
{
	scmp_filter_ctx ctx;
	char name[128], path[512];
	pid_t pid;
	int fd, status;

	snprintf(path, sizeof(path), "%s/%s-%s.bpf", outdir, p->name, a->name);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		ctx = sandbox_filter(p, a, SCMP_ACT_KILL_PROCESS);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) ==
			-1 ||
		    seccomp_export_bpf(ctx, fd) != 0)
			_exit(2);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	snprintf(name, sizeof(name), "sandbox_%s_filter_builds_for_%s", p->name,
	    a->name);
	test_result(name, WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
}

/* Runs sandbox_filter() in a child; returns its exit status and stderr. */
static int
build_in_child(const struct sandbox_policy *p, const struct sandbox_arch *a,
    char *err, size_t errsize)
{
	int pfd[2], status;
	ssize_t n;
	size_t off = 0;
	pid_t pid;

	if (pipe(pfd) == -1)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == 0) {
		dup2(pfd[1], STDERR_FILENO);
		log_init(p->name, 1, 0);
		seccomp_release(sandbox_filter(p, a, SCMP_ACT_KILL_PROCESS));
		_exit(0);
	}
	close(pfd[1]);
	while (off + 1 < errsize &&
	    (n = read(pfd[0], err + off, errsize - off - 1)) > 0)
		off += n;
	err[off] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The self-check: a name that is no syscall on the arch stops the build. */
static void
check_refuses_absent(const struct sandbox_arch *a, const char *absent)
{
	const struct sandbox_rule rules[] = {
		SB(close, "finished descriptors"),
		{ absent, SANDBOX_ALL, "a call this arch does not have", 0, 0,
		    0 },
	};
	const struct sandbox_policy bad = { "badproc", rules, 2, NULL, 0, 0,
		0 };
	char name[128], err[1024], want[256];
	int rc;

	rc = build_in_child(&bad, a, err, sizeof(err));
	snprintf(want, sizeof(want),
	    "sandbox rule %s (a call this arch does "
	    "not have) names no syscall on %s",
	    absent, a->name);
	snprintf(name, sizeof(name), "sandbox_refuses_%s_on_%s", absent,
	    a->name);
	test_result(name, rc != 0 && strstr(err, want) != NULL,
	    "exit %d, stderr \"%s\"", rc, err);
}

/*
 * The launcher's deny-list as loaded on this machine, in a child: what it
 * does not name runs (a file opened, a process forked and reaped), and
 * unshare, which it names, kills with SIGSYS.
 */
static int
under_launcher_filter(int call_unshare)
{
	pid_t pid, grandchild;
	int status, fd;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
		    seccomp_load(sandbox_filter(&launcher_policy,
			sandbox_arch_native(), SCMP_ACT_KILL_PROCESS)) != 0)
			_exit(2);
		if (call_unshare)
			syscall(SYS_unshare, 0);
		if ((fd = open("/dev/null", O_RDONLY)) == -1)
			_exit(3);
		close(fd);
		if ((grandchild = fork()) == 0)
			_exit(0);
		if (grandchild == -1 || waitpid(grandchild, &status, 0) == -1)
			_exit(4);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return status;
}

static void
check_launcher_denies(void)
{
	int status;

	status = under_launcher_filter(0);
	test_result("sandbox_launcher_filter_allows_what_it_does_not_name",
	    WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
	    status);
	status = under_launcher_filter(1);
	test_result("sandbox_launcher_filter_kills_unshare",
	    WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "status %#x",
	    status);
}

int
main(int argc, char *argv[])
{
	static const char *absent[] = { "mmap2", "epoll_wait", "mmap" };
	size_t i, j, n[3];

	if (argc != 2) {
		fprintf(stderr, "usage: sandbox_test OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) == -1 && errno != EEXIST) {
		perror(outdir);
		return 2;
	}
	for (i = 0; i < NPOLICIES; i++) {
		check_well_formed(policies[i]);
		for (j = 0; j < sandbox_narches; j++) {
			n[j] = check_resolves(policies[i], &sandbox_arches[j]);
			if (n[j] > 0)
				check_builds(policies[i], &sandbox_arches[j]);
		}
		printf("# %s: %zu syscall rules on %s, %zu on %s, %zu on %s\n",
		    policies[i]->name, n[0], sandbox_arches[0].name, n[1],
		    sandbox_arches[1].name, n[2], sandbox_arches[2].name);
	}
	/* mmap2 exists only on armhf, epoll_wait not on arm64, mmap not on
	 * armhf. */
	for (j = 0; j < sandbox_narches; j++)
		check_refuses_absent(&sandbox_arches[j], absent[j]);
	check_launcher_denies();
	test_result("sandbox_native_arch_is_known",
	    sandbox_arch_native() != NULL, "seccomp token %#x",
	    seccomp_arch_native());
	return test_done();
}
