/*
 * The real hookd, sandboxed, under a harness that plays its parent (fd 3)
 * and blockd (fd 4): the jsnbd hook contract, ordering, limits, faults.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child_harness.h"
#include "test.h"

/* SIGHUP, SIGINT, SIGPIPE, SIGTERM: child_start() ignores them. */
#define HOOKD_IGNORES \
	((1ULL << (SIGHUP - 1)) | (1ULL << (SIGINT - 1)) | \
	    (1ULL << (SIGPIPE - 1)) | (1ULL << (SIGTERM - 1)))

static uint32_t next_session = 100;

/* --- plumbing -------------------------------------------------------- */

static char *read_work(const char *);

/*
 * A hook that outlived its kill (a failed test) is still ours to end:
 * the pids the timeout hooks wrote, if they still run one of our hooks.
 */
static void
kill_strays(const char *file)
{
	char path[64], cmd[PATH_MAX], *text, *p, *end;
	ssize_t n;
	long pid;
	int fd;

	if ((text = read_work(file)) == NULL)
		return;
	for (p = text; (pid = strtol(p, &end, 10)) > 0; p = end) {
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		if ((fd = open(path, O_RDONLY)) == -1)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n <= 0)
			continue;
		cmd[n] = '\0';
		for (n--; n >= 0; n--)
			if (cmd[n] == '\0')
				cmd[n] = ' ';
		if (strncmp(cmd, "sleep 30", 8) == 0 ||
		    strstr(cmd, harness_work) != NULL)
			kill((pid_t)pid, SIGKILL);
	}
	free(text);
}

/* At exit, once the harness has killed hookd. */
static void
cleanup(void)
{
	kill_strays("slow.pids");
	kill_strays("stubborn.pids");
}

/* Writes a root-owned file; hooks get mode 0755. */
static void __attribute__((format(printf, 3, 4)))
write_file(const char *name, mode_t mode, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	FILE *f;

	path_of(path, sizeof(path), name);
	unlink(path);
	if ((f = fopen(path, "w")) == NULL)
		harness_fail("create %s: %s", path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) == EOF || chmod(path, mode) == -1 ||
	    chown(path, 0, 0) == -1)
		harness_fail("write %s: %s", path, strerror(errno));
}

static char *
read_work(const char *name)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), name);
	return read_path(path);
}

static void
unlink_work(const char *name)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), name);
	unlink(path);
}

/* Does text hold this exact line? */
static int
has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	const char *p;

	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, line, len) == 0 &&
		    (p[len] == '\n' || p[len] == '\0'))
			return 1;
	}
	return 0;
}

static void
export_init(struct conf_export *e, const char *name, const char *device,
    const char *hook, int timeout)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->device, sizeof(e->device), "%s", device);
	if (hook != NULL)
		path_of(e->hook, sizeof(e->hook), hook);
	e->max_size = CONF_DEFAULT_MAX_SIZE;
	e->timeout = timeout;
}

/* The process is gone (or a zombie whose parent is not us) within ms. */
static int
pid_gone(pid_t pid, int ms)
{
	long deadline = now_ms() + ms;
	char state[64];

	do {
		proc_status(pid, "State", state, sizeof(state));
		if (state[0] == '\0' || state[0] == 'Z' || state[0] == 'X')
			return 1;
		sleep_ms(20);
	} while (now_ms() < deadline);
	fprintf(stderr, "pid %d still there: %s\n", pid, state);
	return 0;
}

/* --- talking to hookd as blockd -------------------------------------- */

static uint32_t
send_hook_as(struct kid *k, const char *export, int action, int read_only,
    const char *user)
{
	struct msg_hook h;

	memset(&h, 0, sizeof(h));
	snprintf(h.export, sizeof(h.export), "%s", export);
	snprintf(h.user, sizeof(h.user), "%s", user);
	h.size = 1474560;
	h.session = ++next_session;
	h.action = action;
	h.read_only = read_only;
	if (msg_send(k->sib[0], MSG_HOOK_RUN, &h, sizeof(h), -1) == -1)
		harness_fail("send HOOK_RUN: %s", strerror(errno));
	return h.session;
}

static uint32_t
send_hook(struct kid *k, const char *export, int action, int read_only)
{
	return send_hook_as(k, export, action, read_only, "alice");
}

/* The HOOK_DONE that answers session; 0 if none came or it is off. */
static int
expect_hook_done(struct kid *k, const char *export, int action,
    uint32_t session, int ms, struct msg_hook_done *done)
{
	struct msg m;

	if (!expect_msg(k, k->sib[0], MSG_HOOK_DONE, ms, &m))
		return 0;
	*done = m.u.hook_done;
	if (strcmp(done->export, export) != 0 || done->session != session ||
	    done->action != action) {
		fprintf(stderr,
		    "HOOK_DONE for %.32s session %u action %d, "
		    "wanted %s %u %d\n",
		    done->export, done->session, done->action, export, session,
		    action);
		return 0;
	}
	fprintf(stderr, "HOOK_DONE %s %s: ok=%d reason \"%s\"\n", export,
	    action == MSG_HOOK_START ? "start" : "stop", done->ok,
	    done->reason);
	return 1;
}

static int
run_hook(struct kid *k, const char *export, int action, int read_only,
    struct msg_hook_done *done)
{
	uint32_t session;

	session = send_hook(k, export, action, read_only);
	return expect_hook_done(k, export, action, session, WAIT_MS, done);
}

/* --- the hooks ------------------------------------------------------- */

static void
write_hooks(void)
{
	write_file("record.sh", 0755,
	    "#!/bin/sh\n# Records how hookd ran it.\n{\n\techo \"argv: $*\"\n"
	    "\tenv | sort\n\techo \"stdin: $(readlink /proc/self/fd/0)\"\n"
	    "\tgrep -E '^(Seccomp|NoNewPrivs|Cap(Eff|Prm|Bnd)|SigIgn|SigBlk):' "
	    "/proc/self/status\n} >%s/record-$1.tmp\n"
	    "mv %s/record-$1.tmp %s/record-$1.out\n"
	    "echo \"record hook says hello on stdout\"\n"
	    "echo \"record hook says hello on stderr\" >&2\n",
	    harness_work, harness_work, harness_work);
	write_file("order.sh", 0755,
	    "#!/bin/sh\necho \"$1 begin\" >>%s/order.out\n"
	    "if [ \"$1\" = start ]; then sleep 1; fi\n"
	    "echo \"$1 end\" >>%s/order.out\n",
	    harness_work, harness_work);
	write_file("fail.sh", 0755,
	    "#!/bin/sh\necho \"failing on purpose\"\nexit 3\n");
	write_file("slow.sh", 0755,
	    "#!/bin/sh\nsleep 30 &\necho \"$$ $!\" >%s/slow.pids\nwait\n",
	    harness_work);
	write_file("stubborn.sh", 0755,
	    "#!/bin/sh\ntrap '' TERM\nsleep 30 &\n"
	    "echo \"$$ $!\" >%s/stubborn.pids\nwait\n",
	    harness_work);
	write_file("chatty.sh", 0755,
	    "#!/bin/sh\ni=0\nwhile [ $i -lt 10000 ]; do\n"
	    "\techo \"chatty line $i\"\n\ti=$((i + 1))\ndone\n");
	/* chroot(2) is not on hookd's list, so neither is it on a hook's. */
	write_file("sigsys.sh", 0755, "#!/bin/sh\nexec chroot %s /bin/true\n",
	    harness_empty);
	write_file("probe.sh", 0755,
	    "#!/bin/sh\nexec %s/../hook_probe \"$(cat %s/probe.call)\"\n",
	    harness_work, harness_work);
	write_file("net.sh", 0755,
	    "#!/bin/bash\nexec 3<>/dev/tcp/127.0.0.1/9\n"
	    "echo connected >%s/net.out\n",
	    harness_work);
}

static struct conf_export exports[16];
static int nexports;

static void
make_exports(void)
{
	struct conf_export *e = exports;

	export_init(e++, "record", "/dev/nbd3", "record.sh", 30);
	export_init(e++, "order", "/dev/nbd4", "order.sh", 30);
	export_init(e++, "fail", "/dev/nbd5", "fail.sh", 30);
	export_init(e++, "slow", "/dev/nbd6", "slow.sh", 1);
	export_init(e++, "stubborn", "/dev/nbd7", "stubborn.sh", 1);
	export_init(e++, "missing", "/dev/nbd8", "no-such-hook", 30);
	export_init(e++, "nohook", "/dev/nbd9", NULL, 30);
	export_init(e++, "chatty", "/dev/nbd10", "chatty.sh", 30);
	export_init(e++, "sigsys", "/dev/nbd11", "sigsys.sh", 30);
	export_init(e++, "net", "/dev/nbd12", "net.sh", 30);
	export_init(e++, "probe", "/dev/nbd13", "probe.sh", 30);
	/* Not from a config: vmediad would refuse it; hookd must too. */
	nexports = e - exports;
}

/* --- tests ----------------------------------------------------------- */

static void
test_sandbox(struct kid *k)
{
	test_proc_status(k, "hookd_seccomp_filter_on", "Seccomp", "2");
	test_proc_status(k, "hookd_no_new_privs", "NoNewPrivs", "1");
	test_proc_status(k, "hookd_holds_no_capability", "CapEff",
	    "0000000000000000");
	test_proc_status(k, "hookd_bounding_set_is_empty", "CapBnd",
	    "0000000000000000");
}

/* Every variable the hook sees is one hookd set (or the shell's own). */
static int
env_only_hookds(const char *rec, char *bad, size_t size)
{
	static const char *const allowed[] = { "PATH", "PWD", "OLDPWD", "SHLVL",
		"_", "VMEDIAD_EXPORT", "VMEDIAD_DEVICE", "VMEDIAD_SIZE",
		"VMEDIAD_READONLY", "VMEDIAD_USER", "VMEDIAD_ACTION", NULL };
	const char *line, *eq;
	size_t i, len;

	for (line = rec; line != NULL; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, "argv:", 5) == 0 ||
		    strncmp(line, "stdin:", 6) == 0 ||
		    strchr("SNC", *line) != NULL) /* status lines */
			continue;
		if ((eq = strchr(line, '=')) == NULL ||
		    (strchr(line, '\n') != NULL && eq > strchr(line, '\n'))) {
			snprintf(bad, size, "%.*s", (int)strcspn(line, "\n"),
			    line);
			return 0;
		}
		len = eq - line;
		for (i = 0; allowed[i] != NULL; i++)
			if (strlen(allowed[i]) == len &&
			    strncmp(allowed[i], line, len) == 0)
				break;
		if (allowed[i] == NULL) {
			snprintf(bad, size, "%.*s", (int)strcspn(line, "\n"),
			    line);
			return 0;
		}
	}
	return 1;
}

/* A hex field such as "SigIgn:\t0000000000005003" of a record; ~0 if none. */
static unsigned long long
status_hex(const char *rec, const char *field)
{
	const char *p;
	size_t len = strlen(field);

	for (p = rec; p != NULL; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, field, len) == 0 && p[len] == ':')
			return strtoull(p + len + 1, NULL, 16);
	}
	return ~0ULL;
}

static void
test_start_hook(struct kid *k)
{
	struct msg_hook_done done;
	char *rec, bad[256];
	int got;

	unlink_work("record-start.out");
	got = run_hook(k, "record", MSG_HOOK_START, 1, &done);
	test_result("start_hook_answers_hook_done_ok", got && done.ok == 1,
	    "%s", got ? done.reason : "no HOOK_DONE");
	rec = read_work("record-start.out");
	if (rec == NULL)
		rec = strdup("");
	test_result("start_hook_argv_is_start_name",
	    has_line(rec, "argv: start record"), "record: %.200s", rec);
	test_result("start_hook_env_names_export_and_own_device",
	    has_line(rec, "VMEDIAD_EXPORT=record") &&
		has_line(rec, "VMEDIAD_DEVICE=/dev/nbd3"),
	    "record: %.300s", rec);
	test_result("start_hook_env_has_size_readonly_user_action",
	    has_line(rec, "VMEDIAD_SIZE=1474560") &&
		has_line(rec, "VMEDIAD_READONLY=yes") &&
		has_line(rec, "VMEDIAD_USER=alice") &&
		has_line(rec, "VMEDIAD_ACTION=start"),
	    "record: %.300s", rec);
	test_result("start_hook_env_holds_only_path_and_vmediad_vars",
	    rec[0] != '\0' && env_only_hookds(rec, bad, sizeof(bad)) &&
		has_line(rec, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
	    "unexpected variable: %s", bad);
	test_result("start_hook_stdin_is_dev_null",
	    has_line(rec, "stdin: /dev/null"), "record: %.300s", rec);
	test_result("hook_runs_with_hookds_filter_and_no_capability",
	    has_line(rec, "Seccomp:\t2") && has_line(rec, "NoNewPrivs:\t1") &&
		has_line(rec, "CapEff:\t0000000000000000") &&
		has_line(rec, "CapPrm:\t0000000000000000") &&
		has_line(rec, "CapBnd:\t0000000000000000"),
	    "record: %.400s", rec);
	test_result("hook_gets_hup_int_pipe_term_back_and_nothing_blocked",
	    (status_hex(rec, "SigIgn") & HOOKD_IGNORES) == 0 &&
		status_hex(rec, "SigBlk") == 0,
	    "record: %.400s", rec);
	free(rec);
	test_result("hook_stdout_and_stderr_lines_in_hookd_log",
	    log_count(k,
		"hookd: export record: start hook: record hook says "
		"hello on stdout") == 1 &&
		log_count(k,
		    "hookd: export record: start hook: record hook says "
		    "hello on stderr") == 1,
	    "see %s", k->log);

	unlink_work("record-stop.out");
	got = run_hook(k, "record", MSG_HOOK_STOP, 0, &done);
	rec = read_work("record-stop.out");
	if (rec == NULL)
		rec = strdup("");
	test_result("stop_hook_runs_with_argv_stop_name",
	    got && done.ok == 1 && has_line(rec, "argv: stop record") &&
		has_line(rec, "VMEDIAD_ACTION=stop") &&
		has_line(rec, "VMEDIAD_READONLY=no"),
	    "ok=%d record: %.300s", got ? done.ok : -1, rec);
	free(rec);
}

static void
test_order(struct kid *k)
{
	struct msg_hook_done done;
	uint32_t s1, s2;
	long t0, t1 = 0;
	char *out;
	int got;

	unlink_work("order.out");
	t0 = now_ms();
	s1 = send_hook(k, "order", MSG_HOOK_START, 1);
	s2 = send_hook(k, "order", MSG_HOOK_STOP, 1);
	got =
	    expect_hook_done(k, "order", MSG_HOOK_START, s1, WAIT_MS, &done) &&
	    done.ok;
	got = got &&
	    expect_hook_done(k, "order", MSG_HOOK_STOP, s2, WAIT_MS, &done) &&
	    done.ok;
	if (got)
		t1 = now_ms();
	test_result("stop_after_slow_start_answered_in_order",
	    got && t1 - t0 >= 900, "got %d after %ld ms", got, t1 - t0);
	out = read_work("order.out");
	test_result("stop_after_slow_start_runs_after_start_finished",
	    out != NULL &&
		strcmp(out, "start begin\nstart end\nstop begin\nstop end\n") ==
		    0,
	    "order.out: %s", out ? out : "(missing)");
	free(out);
}

static void
test_failures(struct kid *k)
{
	struct msg_hook_done done;
	int got;

	got = run_hook(k, "fail", MSG_HOOK_START, 1, &done);
	test_result("failing_hook_reports_exit_status_3",
	    got && done.ok == 0 && strstr(done.reason, "exit status 3"),
	    "ok=%d reason \"%s\"", got ? done.ok : -1, got ? done.reason : "");
	test_result("failing_hook_logged",
	    log_count(k, "export fail: start hook failed: exit status 3") == 1,
	    "see %s", k->log);

	got = run_hook(k, "missing", MSG_HOOK_START, 1, &done);
	test_result("missing_hook_file_skipped_ok", got && done.ok == 1,
	    "ok=%d reason \"%s\"", got ? done.ok : -1, got ? done.reason : "");
	test_result("missing_hook_file_logged_not_found",
	    log_count(k, "no-such-hook not found; skipped") == 1, "see %s",
	    k->log);

	got = run_hook(k, "nohook", MSG_HOOK_START, 1, &done);
	test_result("export_without_hook_ok", got && done.ok == 1,
	    "ok=%d reason \"%s\"", got ? done.ok : -1, got ? done.reason : "");

	/* The parent tells hookd only the exports that have a hook. */
	got = run_hook(k, "nosuch", MSG_HOOK_START, 1, &done);
	test_result("export_hookd_was_not_told_has_no_hook",
	    got && done.ok == 1 &&
		strcmp(done.reason, "no hook configured") == 0,
	    "ok=%d reason \"%s\"", got ? done.ok : -1, got ? done.reason : "");
}

/* Both pids the hook wrote (its shell, its sleep) are gone. */
static int
pids_gone(const char *file, char *why, size_t size)
{
	char *text;
	int a, b;

	if ((text = read_work(file)) == NULL ||
	    sscanf(text, "%d %d", &a, &b) != 2) {
		snprintf(why, size, "no pids in %s", file);
		free(text);
		return 0;
	}
	free(text);
	snprintf(why, size, "pids %d %d", a, b);
	return pid_gone(a, 2000) && pid_gone(b, 2000);
}

static void
test_timeouts(struct kid *k)
{
	struct msg_hook_done done;
	char why[128];
	long t0, ms;
	int got;

	unlink_work("slow.pids");
	t0 = now_ms();
	got = run_hook(k, "slow", MSG_HOOK_START, 1, &done);
	ms = now_ms() - t0;
	test_result("hook_past_timeout_killed_by_sigterm",
	    got && done.ok == 0 && strcmp(done.reason, "timed out") == 0 &&
		ms >= 900 && ms < 2500 &&
		log_count(k, "export slow: start hook timed out; SIGTERM") ==
		    1 &&
		log_count(k, "export slow: start hook still running") == 0,
	    "ok=%d reason \"%s\" after %ld ms", got ? done.ok : -1,
	    got ? done.reason : "", ms);
	test_result("hook_killed_by_sigterm_leaves_no_process",
	    pids_gone("slow.pids", why, sizeof(why)), "%s", why);

	unlink_work("stubborn.pids");
	t0 = now_ms();
	got = run_hook(k, "stubborn", MSG_HOOK_START, 1, &done);
	ms = now_ms() - t0;
	test_result(
	    "hook_ignoring_sigterm_killed_by_sigkill_in_timeout_plus_4s",
	    got && done.ok == 0 && strcmp(done.reason, "timed out") == 0 &&
		ms >= 3500 && ms <= 5000 &&
		log_count(k,
		    "export stubborn: start hook timed out; SIGTERM") == 1 &&
		log_count(k,
		    "export stubborn: start hook still running; SIGKILL") == 1,
	    "ok=%d reason \"%s\" after %ld ms", got ? done.ok : -1,
	    got ? done.reason : "", ms);
	test_result("hook_killed_by_sigkill_leaves_no_process",
	    pids_gone("stubborn.pids", why, sizeof(why)), "%s", why);
}

static void
test_output_bound(struct kid *k)
{
	struct msg_hook_done done;
	int got, n;

	got = run_hook(k, "chatty", MSG_HOOK_START, 1, &done);
	test_result("hook_printing_10000_lines_ok", got && done.ok == 1,
	    "ok=%d reason \"%s\"", got ? done.ok : -1, got ? done.reason : "");
	n = log_count(k, "export chatty: start hook: chatty line");
	test_result("hook_output_logged_at_most_41_lines", n > 0 && n <= 41,
	    "%d lines logged", n);
	test_result("hook_output_overflow_says_further_output_not_logged",
	    log_count(k,
		"export chatty: start hook: further output not logged") == 1,
	    "see %s", k->log);
}

static void
test_confinement(struct kid *k)
{
	struct msg_hook_done done;
	char *out;
	int got;

	got = run_hook(k, "sigsys", MSG_HOOK_START, 1, &done);
	test_result("hook_forbidden_syscall_dies_by_sigsys",
	    got && done.ok == 0 && strstr(done.reason, "SIGSYS") != NULL,
	    "ok=%d reason \"%s\"", got ? done.ok : -1, got ? done.reason : "");

	unlink_work("net.out");
	got = run_hook(k, "net", MSG_HOOK_START, 1, &done);
	out = read_work("net.out");
	test_result("hook_cannot_open_network_socket",
	    got && done.ok == 0 && out == NULL, "ok=%d reason \"%s\"%s",
	    got ? done.ok : -1, got ? done.reason : "",
	    out != NULL ? ", and it connected" : "");
	free(out);
}

/* The probe hook makes one call: killed by the filter, or let through. */
static void
probe(struct kid *k, const char *name, const char *call, int allowed)
{
	struct msg_hook_done done;
	char before[64], after[64];
	int got, nb, na;

	write_file("probe.call", 0644, "%s", call);
	snprintf(before, sizeof(before), "probe before %s", call);
	snprintf(after, sizeof(after), "probe after %s", call);
	nb = log_count(k, before);
	na = log_count(k, after);
	got = run_hook(k, "probe", MSG_HOOK_START, 1, &done);
	if (allowed)
		test_result(name,
		    got && done.ok == 1 && log_count(k, after) == na + 1,
		    "ok=%d reason \"%s\"", got ? done.ok : -1,
		    got ? done.reason : "");
	else
		test_result(name,
		    got && done.ok == 0 &&
			strstr(done.reason, "SIGSYS") != NULL &&
			log_count(k, before) == nb + 1 &&
			log_count(k, after) == na,
		    "ok=%d reason \"%s\"", got ? done.ok : -1,
		    got ? done.reason : "");
}

/*
 * hook-modules are loaded before the sandbox; one that will not load is
 * logged, and hooks still run (the one that needs it says so itself).
 */
static void
test_hook_modules(void)
{
	struct msg_hook_done done;
	struct kid k;
	int got;

	harness_hook_modules = "no_such_module_for_vmediad";
	if (!kid_up_for("hook_modules_failure_logged_hooks_still_run", &k,
		"hookd", 1, exports, nexports)) {
		harness_hook_modules = NULL;
		return;
	}
	harness_hook_modules = NULL;
	got = run_hook(&k, "record", MSG_HOOK_START, 1, &done);
	test_result("hook_modules_failure_logged_hooks_still_run",
	    (log_count(&k, "no_such_module_for_vmediad failed") == 1 ||
		log_count(&k, "hook-modules: no modprobe in") == 1) &&
		got && done.ok == 1,
	    "ok=%d; see %s", got ? done.ok : -1, k.log);
	test_proc_status(&k, "hookd_after_hook_modules_holds_no_capability",
	    "CapEff", "0000000000000000");
	test_shutdown(&k, "hookd_after_hook_modules");
}

/* What hookd does not hold, no hook can do: hookd(8) says so. */
static void
test_hook_rights(struct kid *k)
{
	probe(k, "hook_cannot_mount", "mount", 0);
	probe(k, "hook_cannot_load_a_module", "finit_module", 0);
	probe(k, "hook_cannot_use_device_ioctls", "ioctl_blkflsbuf", 0);
	probe(k, "hook_may_ask_isatty", "ioctl_tcgets", 1);
}

/*
 * Values that reach a hook's environment: a user name outside the name
 * rules never gets here (the message table refuses HOOK_RUN with it, see
 * test_fatal_messages), and what does still runs the hook.
 */
static void
test_hook_environment(struct kid *k)
{
	struct msg_hook_done done;
	char *rec;
	int got;

	unlink_work("record-start.out");
	got = run_hook(k, "record", MSG_HOOK_START, 1, &done);
	rec = read_work("record-start.out");
	test_result("hook_environment_valid_user_still_runs",
	    got && done.ok == 1 && rec != NULL &&
		has_line(rec, "VMEDIAD_USER=alice"),
	    "ok=%d record: %.200s", got ? done.ok : -1, rec ? rec : "");
	free(rec);
	unlink_work("record-start.out");
	got = expect_hook_done(k, "record", MSG_HOOK_START,
	    send_hook_as(k, "record", MSG_HOOK_START, 1, ""), WAIT_MS, &done);
	rec = read_work("record-start.out");
	test_result("hook_environment_empty_user_of_auth_none_runs",
	    got && done.ok == 1 && rec != NULL &&
		has_line(rec, "VMEDIAD_USER="),
	    "ok=%d record: %.200s", got ? done.ok : -1, rec ? rec : "");
	free(rec);
}

/*
 * A fresh hookd that must die of one message: on its channel to the
 * parent (chan -1) or to blockd (0), with the line it must log once.
 */
static void
test_fatal(const char *name, int chan, uint32_t type, const void *payload,
    size_t len, const char *logged)
{
	struct kid k;

	if (!kid_up_for(name, &k, "hookd", 1, exports, nexports))
		return;
	msg_send(chan == -1 ? k.parent : k.sib[0], type, payload, len, -1);
	expect_fatal(name, &k, logged);
}

static void
hook_init(struct msg_hook *h)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->export, sizeof(h->export), "record");
	snprintf(h->user, sizeof(h->user), "alice");
	h->size = 4096;
	h->session = 1;
	h->action = MSG_HOOK_START;
}

static void
test_malformed(void)
{
	struct {
		struct msg_hdr hdr;
		uint64_t payload;
	} raw = { { MSG_HOOK_RUN, sizeof(uint64_t) }, 0 };
	struct msg_hook_done done;
	struct msg_conf_end end;
	struct msg_ping ping = { 0 };
	struct msg_hook h;
	struct kid k;

	hook_init(&h);
	h.action = 7;
	test_fatal("hook_run_with_action_7_is_fatal", 0, MSG_HOOK_RUN, &h,
	    sizeof(h),
	    "hookd: protocol error from blockd: HOOK_RUN: unknown action");
	hook_init(&h);
	memset(h.export, 'x', sizeof(h.export));
	test_fatal("hook_run_with_unterminated_export_is_fatal", 0,
	    MSG_HOOK_RUN, &h, sizeof(h),
	    "hookd: protocol error from blockd: "
	    "HOOK_RUN: export is not a valid name");
	hook_init(&h);
	snprintf(h.user, sizeof(h.user), "../root");
	test_fatal("hook_run_with_user_outside_name_rules_is_fatal", 0,
	    MSG_HOOK_RUN, &h, sizeof(h),
	    "hookd: protocol error from blockd: "
	    "HOOK_RUN: user is not a valid name");
	/* What the red team tried to put into VMEDIAD_USER. */
	hook_init(&h);
	snprintf(h.user, sizeof(h.user), "alice\nLD_PRELOAD=/tmp/x");
	test_fatal("hook_environment_user_name_with_newline_is_refused", 0,
	    MSG_HOOK_RUN, &h, sizeof(h),
	    "hookd: protocol error from blockd: "
	    "HOOK_RUN: user is not a valid name");
	hook_init(&h);
	snprintf(h.user, sizeof(h.user), "$(reboot)");
	test_fatal("hook_environment_user_name_with_shell_syntax_is_refused", 0,
	    MSG_HOOK_RUN, &h, sizeof(h),
	    "hookd: protocol error from "
	    "blockd: HOOK_RUN: user is not a valid name");
	hook_init(&h);
	snprintf(h.user, sizeof(h.user), "-rf");
	test_fatal("hook_environment_user_name_starting_with_dash_is_refused",
	    0, MSG_HOOK_RUN, &h, sizeof(h),
	    "hookd: protocol error from "
	    "blockd: HOOK_RUN: user is not a valid name");
	hook_init(&h);
	h.read_only = 2;
	test_fatal("hook_run_with_read_only_2_is_fatal", 0, MSG_HOOK_RUN, &h,
	    sizeof(h),
	    "hookd: protocol error from blockd: HOOK_RUN: "
	    "read_only neither 0 nor 1");

	/* Wrong direction: what blockd may not say to us. */
	memset(&done, 0, sizeof(done));
	snprintf(done.export, sizeof(done.export), "record");
	done.action = MSG_HOOK_START;
	test_fatal("hook_done_from_blockd_is_fatal", 0, MSG_HOOK_DONE, &done,
	    sizeof(done),
	    "hookd: protocol error from blockd: HOOK_DONE not "
	    "allowed from blockd to hookd");
	ping.seq = 1;
	test_fatal("ping_from_blockd_is_fatal", 0, MSG_PING, &ping,
	    sizeof(ping),
	    "hookd: protocol error from blockd: PING not allowed "
	    "from blockd to hookd");
	hook_init(&h);
	test_fatal("hook_run_from_parent_is_fatal", -1, MSG_HOOK_RUN, &h,
	    sizeof(h),
	    "hookd: protocol error from parent: HOOK_RUN not "
	    "allowed from parent to hookd");

	/* From the parent, fields out of range. */
	ping.seq = 0;
	test_fatal("ping_with_sequence_0_from_parent_is_fatal", -1, MSG_PING,
	    &ping, sizeof(ping),
	    "hookd: protocol error from parent: PING: sequence number 0");
	memset(&end, 0, sizeof(end));
	end.generation = 2;
	end.nexports = -1;
	test_fatal("conf_end_with_negative_export_count_is_fatal", -1,
	    MSG_CONF_END, &end, sizeof(end),
	    "hookd: protocol error from "
	    "parent: CONF_END: export count out of range");

	if (kid_up_for("wrong_size_datagram_is_fatal", &k, "hookd", 1, exports,
		nexports)) {
		send(k.sib[0], &raw, sizeof(raw), MSG_NOSIGNAL);
		expect_fatal("wrong_size_datagram_is_fatal", &k,
		    "hookd: protocol error from blockd: wrong payload size");
	}
}

/*
 * Reloads may rename exports without end; hookd kept a run for every
 * name asked about and died of "hook table full" at the 65th. 64 exports
 * whose hook is missing, each asked once, then a reload to one new name:
 * it must be answered like them.
 */
static void
test_renaming_reload(void)
{
	static struct conf_export many[CONF_EXPORT_MAX];
	const char *test = "hook_after_reload_renaming_all_64_exports";
	struct msg_hook_done done;
	struct conf_export fresh;
	struct kid k;
	char name[CONF_NAME_MAX], device[CONF_NAME_MAX];
	int i, got;

	for (i = 0; i < CONF_EXPORT_MAX; i++) {
		snprintf(name, sizeof(name), "old%d", i);
		snprintf(device, sizeof(device), "/dev/nbd%d", i);
		export_init(&many[i], name, device, "no-such-hook", 30);
	}
	if (!kid_up_for(test, &k, "hookd", 1, many, CONF_EXPORT_MAX))
		return;
	for (i = 0; i < CONF_EXPORT_MAX; i++)
		if (!run_hook(&k, many[i].name, MSG_HOOK_STOP, 0, &done) ||
		    !done.ok)
			break;
	export_init(&fresh, "new", "/dev/nbd64", "no-such-hook", 30);
	send_conf(&k, &fresh, 1, 2);
	/* Answered on the parent's channel: the reload is in force. */
	got = ping(&k) && run_hook(&k, "new", MSG_HOOK_START, 0, &done);
	test_result(test,
	    i == CONF_EXPORT_MAX && got && done.ok &&
		strcmp(done.reason, "hook not found") == 0 && ping(&k),
	    "%d runs answered; see %s", i, k.log);
	test_shutdown(&k, "hookd_after_renaming_reload");
}

int
main(int argc, char **argv)
{
	struct kid k;

	if (argc != 2) {
		fprintf(stderr, "usage: hookd_test top-dir\n");
		return 1;
	}
	harness_setup("hookd", argv[1], cleanup);
	write_hooks();
	make_exports();

	if (!kid_up(&k, "hookd", 1, exports, nexports))
		harness_fail("hookd did not answer PING; see %s", k.log);
	test_sandbox(&k);
	test_start_hook(&k);
	test_hook_environment(&k);
	test_hook_rights(&k);
	test_order(&k);
	test_failures(&k);
	test_timeouts(&k);
	test_output_bound(&k);
	test_confinement(&k);
	test_result("hookd_alive_after_all_hooks",
	    ping(&k) && expect_silence(k.sib[0], 100), "see %s", k.log);
	test_shutdown(&k, "hookd");

	test_hook_modules();
	test_renaming_reload();
	test_malformed();
	test_full_queue("hookd", 1, exports, nexports);
	test_parent_gone("hookd", 1, exports, nexports);
	return test_done();
}
