#!/bin/bash
# The privsep daemon as a whole: three sandboxed children with the rights
# design.md gives them, config pushes, and fail-closed shutdown. Root only.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

bin=$top/build/test/sbin/vmediad
rel=$top/build
work=$top/build/regress/daemon
mkdir -p "$work/empty"
chmod 755 "$work/empty"

if [ "$(id -u)" -ne 0 ]; then
	notok daemon_tests_need_root "run make regress as root"
	exit 1
fi

write_conf() {
	cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:18080
user = nobody
chroot = $work/empty
web = $top/web
auth = none
audit = $work/audit.log

[export "cdrom"]
description = the managed host's CD
device = /dev/nbd0
read-only = yes
hook = /etc/nbd-proxy/state
allow = alice
default = yes
source = nbds://upstream.example/cd
source-ca = $work/source-ca.pem
source-certificate = $work/source-client.pem
source-key = $work/source-client.key

[export "lab"]
socket = $work/lab.sock
source = nbds://upstream.example/lab
source-psk = $work/source.psk
$1
CONF
}
# A source's files: vmediad checks them; no child is told where they are.
for f in source-ca.pem source-client.pem source-client.key; do
	printf 'not really TLS material\n' >"$work/$f"
	chmod 600 "$work/$f"
done
printf 'lab:0123456789abcdef\n' >"$work/source.psk"
chmod 600 "$work/source.psk"

pid=
kids_seen=
log=$work/vmediad.log

start() {
	: >"$log"
	env "$@" "$bin" -d -v -f "$work/vmediad.conf" >>"$log" 2>&1 &
	pid=$!
	wait_log "started with" 50 || return 1
	kids_seen=$(pgrep -P "$pid" | tr '\n' ' ')
}

# wait_log PATTERN TENTHS: the log shows PATTERN within the time.
wait_log() {
	local i
	for ((i = 0; i < $2; i++)); do
		grep -q -- "$1" "$log" && return 0
		sleep 0.1
	done
	return 1
}

# wait_exit TENTHS: the daemon exits in time; its status lands in $status.
wait_exit() {
	local i
	status=
	for ((i = 0; i < $1; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			status=$?
			return 0
		fi
		sleep 0.1
	done
	return 1
}

child_pid() {
	pgrep -P "$pid" -x "$1"
}

status_field() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# Only our own daemon and its children: other suites may be running.
# The parent first: the launcher, told by its parent-death signal, then
# removes its folder before it goes too.
kill_all() {
	local kids=
	[ -n "$pid" ] && kids=$(pgrep -P "$pid")
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	sleep 0.2
	[ -n "$kids" ] && kill -9 $kids 2>/dev/null
	sleep 0.2
}

# Nothing of ours may survive the daemon: no child of it, no orphan.
no_leftovers() {
	local k st
	for k in $kids_seen; do
		st=$(awk '$1 == "State:" { print $2 }' /proc/$k/status 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && return 1
	done
	return 0
}

# --- sandboxes -------------------------------------------------------------

write_conf ""
if ! start; then
	notok daemon_starts "no 'started with' line: $(tail -3 "$log")"
	kill_all
	exit 1
fi
ok daemon_starts

n=$(pgrep -P "$pid" | wc -l)
[ "$n" -eq 4 ] && [ -n "$(child_pid launcher)" ] &&
	ok daemon_runs_three_children_and_the_launcher_of_its_sources ||
	notok daemon_runs_three_children_and_the_launcher_of_its_sources \
	    "$n children"

# The launcher (exports here have sources): root with its six
# capabilities, no_new_privs, its deny-list. Its nbdkit, which these
# sources' upstream (none) makes short-lived, is regress/source's.
l=$(child_pid launcher)
[ "$(status_field $l CapEff)" = 00000000000001e3 ] &&
	[ "$(status_field $l CapBnd)" = 00000000000001e3 ] &&
	[ "$(status_field $l Seccomp)" = 2 ] &&
	[ "$(status_field $l NoNewPrivs)" = 1 ] &&
	[ "$(awk '$1 == "Uid:" { print $2 }' /proc/$l/status)" = 0 ] &&
	ok launcher_root_with_its_six_capabilities_and_filter ||
	notok launcher_root_with_its_six_capabilities_and_filter \
	    "CapEff $(status_field $l CapEff) CapBnd $(status_field $l CapBnd) Seccomp $(status_field $l Seccomp)"

s=$(child_pid sessiond)
b=$(child_pid blockd)
h=$(child_pid hookd)
uids=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' /proc/$s/status)
[ "$(status_field $s Seccomp)" = 2 ] && ok sessiond_seccomp_filter_on ||
	notok sessiond_seccomp_filter_on "Seccomp $(status_field $s Seccomp)"
[ "$(status_field $s NoNewPrivs)" = 1 ] && ok sessiond_no_new_privs ||
	notok sessiond_no_new_privs "NoNewPrivs $(status_field $s NoNewPrivs)"
[ "$(status_field $s CapEff)" = 0000000000000000 ] &&
	[ "$(status_field $s CapPrm)" = 0000000000000000 ] &&
	[ "$(status_field $s CapBnd)" = 0000000000000000 ] &&
	ok sessiond_holds_no_capability ||
	notok sessiond_holds_no_capability "CapEff $(status_field $s CapEff)"
[ "$uids" = "65534 65534 65534 65534" ] && ok sessiond_runs_as_configured_user ||
	notok sessiond_runs_as_configured_user "uids $uids"
[ "$(readlink /proc/$s/root)" = "$work/empty" ] && ok sessiond_chrooted ||
	notok sessiond_chrooted "root $(readlink /proc/$s/root)"

[ "$(status_field $b CapEff)" = 0000000000200000 ] &&
	[ "$(status_field $b CapPrm)" = 0000000000200000 ] &&
	ok blockd_holds_exactly_cap_sys_admin ||
	notok blockd_holds_exactly_cap_sys_admin "CapEff $(status_field $b CapEff)"
[ "$(status_field $b Seccomp)" = 2 ] &&
	[ "$(status_field $b NoNewPrivs)" = 1 ] && ok blockd_seccomp_filter_on ||
	notok blockd_seccomp_filter_on "Seccomp $(status_field $b Seccomp)"
uids=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' /proc/$b/status)
[ "$uids" = "65534 65534 65534 65534" ] &&
	[ "$(readlink /proc/$b/root)" = "$work/empty" ] &&
	ok blockd_unprivileged_and_chrooted ||
	notok blockd_unprivileged_and_chrooted "uids $uids"

[ "$(status_field $h Seccomp)" = 2 ] &&
	[ "$(status_field $h NoNewPrivs)" = 1 ] && ok hookd_seccomp_filter_on ||
	notok hookd_seccomp_filter_on "Seccomp $(status_field $h Seccomp)"
[ "$(status_field $h CapEff)" = 0000000000000000 ] &&
	[ "$(status_field $h CapPrm)" = 0000000000000000 ] &&
	[ "$(status_field $h CapBnd)" = 0000000000000000 ] &&
	ok hookd_holds_no_capability ||
	notok hookd_holds_no_capability "CapEff $(status_field $h CapEff) CapBnd $(status_field $h CapBnd)"

[ "$(status_field $pid Seccomp)" = 2 ] &&
	[ "$(status_field $pid CapEff)" = 0000000000200020 ] &&
	ok parent_restricted_after_spawning ||
	notok parent_restricted_after_spawning \
	    "Seccomp $(status_field $pid Seccomp) CapEff $(status_field $pid CapEff)"

# --- what each child is told ------------------------------------------------

# Test builds log which fields of the config reached a child (child.c):
# sessiond everything it serves but no audit file, no hook and none of a
# source's files; blockd the device export without hook, description,
# allow list or source; hookd the device export that has a hook. Paths in
# [vmediad] reach sessiond only.
census() {
	grep -o "$1: test: received .*" "$log" | head -1 | sed 's/^[a-z]*: //'
}
want="test: received listen 1; user chroot web; export cdrom: description device allow source; export lab: socket source; users 0"
[ "$(census sessiond)" = "$want" ] &&
	ok sessiond_gets_every_export_but_no_audit_file_hook_or_source_files ||
	notok sessiond_gets_every_export_but_no_audit_file_hook_or_source_files \
	    "$(census sessiond)"
want="test: received listen 0; user chroot; export cdrom: device; users 0"
[ "$(census blockd)" = "$want" ] &&
	ok blockd_gets_only_device_exports_without_hook_allow_or_source ||
	notok blockd_gets_only_device_exports_without_hook_allow_or_source \
	    "$(census blockd)"
want="test: received listen 0; user chroot; export cdrom: device hook; users 0"
[ "$(census hookd)" = "$want" ] &&
	ok hookd_gets_only_exports_with_a_hook ||
	notok hookd_gets_only_exports_with_a_hook "$(census hookd)"

# --- liveness and reload ---------------------------------------------------

# Test builds ping every second and give up after 3 unanswered pings (see
# unresponsive_child_stops_daemon below): still up after 4.5 s means the
# children answered.
sleep 4.5
kill -0 $pid && ! grep -q "stopped answering" "$log" &&
	ok children_answer_liveness_pings ||
	notok children_answer_liveness_pings "$(tail -2 "$log")"

write_conf '[export "extra"]
socket = '"$work/extra.sock"
kill -HUP $pid
if wait_log "sessiond: config 1: 3 exports" 30 &&
    wait_log "blockd: config 1: 1 exports" 30 &&
    wait_log "hookd: config 1: 1 exports" 30; then
	ok sighup_pushes_new_config_to_every_child
else
	notok sighup_pushes_new_config_to_every_child "$(tail -3 "$log")"
fi

write_conf '[export "extra"]
devce = /dev/nbd1'
kill -HUP $pid
if wait_log "vmediad.conf:26: export \"extra\": unknown key \"devce\"" 30 &&
    wait_log "keeping the running configuration" 30 &&
    ! grep -q "config 2" "$log" && kill -0 $pid; then
	ok sighup_bad_config_keeps_old_one
else
	notok sighup_bad_config_keeps_old_one "$(tail -3 "$log")"
fi

write_conf ""
kill -TERM $pid
if wait_exit 20 && [ "$status" -eq 0 ]; then
	ok sigterm_exits_0_within_2s
else
	notok sigterm_exits_0_within_2s "status ${status:-still running}"
fi
no_leftovers && ok sigterm_leaves_no_process ||
	notok sigterm_leaves_no_process "$(pgrep -af "$top/build/test")"
kill_all

# --- fail closed -----------------------------------------------------------

for child in sessiond blockd hookd; do
	start
	victim=$(child_pid $child)
	kill -9 "$victim"
	if wait_exit 20 && [ "$status" -ne 0 ] &&
	    grep -q "$child (pid $victim) killed by SIGKILL; stopping" "$log"
	then
		ok "kill_9_${child}_stops_daemon_nonzero_within_2s"
	else
		notok "kill_9_${child}_stops_daemon_nonzero_within_2s" \
		    "status ${status:-running}: $(tail -2 "$log")"
	fi
	no_leftovers && ok "kill_9_${child}_leaves_no_process" ||
		notok "kill_9_${child}_leaves_no_process" \
		    "$(pgrep -af "$top/build/test")"
	kill_all
done

for child in sessiond blockd hookd; do
	start VMEDIAD_TEST_CHILD=$child
	victim=$(child_pid $child)
	kill -USR1 $pid
	if wait_exit 20 && [ "$status" -ne 0 ] && grep -q \
	    "$child (pid $victim) killed by SIGSYS (seccomp violation); stopping" \
	    "$log"; then
		ok "${child}_forbidden_syscall_dies_by_sigsys"
	else
		notok "${child}_forbidden_syscall_dies_by_sigsys" \
		    "status ${status:-running}: $(tail -2 "$log")"
	fi
	# The other two children; not nbdkit's exits, which the audit lines
	# of the sources (also in the log) report in words of their own.
	others=$(grep -cE "(sessiond|blockd|hookd) \(pid [0-9]+\) exited with status 0" "$log")
	[ "$others" -eq 2 ] && no_leftovers &&
		ok "${child}_sigsys_others_stop_cleanly" ||
		notok "${child}_sigsys_others_stop_cleanly" "$others clean exits"
	kill_all
done

start
victim=$(child_pid blockd)
kill -STOP "$victim"
if wait_exit 60 && [ "$status" -ne 0 ] &&
    grep -q "blockd (pid $victim) stopped answering" "$log"; then
	ok unresponsive_child_stops_daemon
else
	notok unresponsive_child_stops_daemon "status ${status:-running}"
fi
kill_all

# A child that stops reading while the parent sends: the parent's queue to
# it overflows (test builds flood it on SIGUSR2); the daemon must not
# block on it but stop, saying why, and leave nothing behind.
start
victim=$(child_pid sessiond)
kill -STOP "$victim"
kill -USR2 $pid
if wait_exit 50 && [ "$status" -ne 0 ] &&
    grep -q "vmediad: channel to sessiond full: [0-9]* messages" "$log" &&
    grep -q "sessiond (pid $victim) does not read its channel; stopping" \
    "$log"; then
	ok full_channel_queue_stops_daemon_nonzero
else
	notok full_channel_queue_stops_daemon_nonzero \
	    "status ${status:-running}: $(tail -3 "$log")"
fi
others=$(grep -cE "(sessiond|blockd|hookd) \(pid [0-9]+\) exited with status 0" "$log")
[ "$others" -eq 2 ] && no_leftovers &&
	ok full_channel_queue_leaves_no_process ||
	notok full_channel_queue_leaves_no_process "$others clean exits: $(pgrep -af "$top/build/test")"
kill_all

start
kids=$(pgrep -P "$pid" | tr '\n' ' ')
kill -9 "$pid"
wait "$pid" 2>/dev/null
gone=1
for i in $(seq 20); do
	gone=1
	# Orphans go to pid 1, which may leave them as zombies: those ran out.
	for k in $kids; do
		st=$(awk '$1 == "State:" { print $2 }' /proc/$k/status 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && gone=0
	done
	[ $gone -eq 1 ] && break
	sleep 0.1
done
[ $gone -eq 1 ] && ok children_exit_when_parent_is_gone ||
	notok children_exit_when_parent_is_gone "still running: $kids"
kill_all

# --- binaries --------------------------------------------------------------

out=$("$top/build/libexec/vmediad/sessiond" 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "must be started by vmediad" &&
	ok child_refuses_to_start_without_channel ||
	notok child_refuses_to_start_without_channel "$out"

# A parent that dies before it sent the config: each child exits at once,
# without spinning (sessiond once waited for a loop never started).
for c in sessiond blockd hookd; do
	out=$(python3 - "$rel/libexec/vmediad/$c" <<'PY'
import os, resource, socket, subprocess, sys, time
pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
         for _ in range(3)]
def fds():
	for i, (a, b) in enumerate(pairs):
		os.dup2(b.fileno(), 3 + i)
p = subprocess.Popen([sys.argv[1]], preexec_fn=fds, close_fds=False,
                     stderr=subprocess.DEVNULL)
for a, b in pairs[:1]:
	a.close()
try:
	rc = p.wait(timeout=3)
except subprocess.TimeoutExpired:
	p.kill()
	p.wait()
	print("still running after 3 s")
	sys.exit(0)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("exit %d cpu %.2f" % (rc, ru.ru_utime + ru.ru_stime))
PY
)
	case $out in
	"exit 0 cpu 0.0"*|"exit 0 cpu 0.1"*) ok "${c}_exits_when_parent_dies_before_config" ;;
	*) notok "${c}_exits_when_parent_dies_before_config" "$out" ;;
	esac
done

if grep -q "calling ptrace" "$rel/libexec/vmediad/sessiond" \
    "$rel/libexec/vmediad/blockd" "$rel/libexec/vmediad/hookd"; then
	notok release_build_has_no_test_trigger "found in $rel"
else
	ok release_build_has_no_test_trigger
fi

# Each process's rights, printed for review; sessiond must not open or exec.
policies=$work/sandbox-policies.txt
: >"$policies"
"$rel/sbin/vmediad" -S >>"$policies"
for c in sessiond blockd hookd; do
	"$rel/libexec/vmediad/$c" -S >>"$policies"
done
if grep -E '^sessiond: syscall (open|openat|execve|socket|connect|bind)[ :]' \
    "$policies"; then
	notok sessiond_policy_cannot_open_exec_or_connect "see $policies"
else
	ok sessiond_policy_cannot_open_exec_or_connect
fi
# -S prints only calls of this architecture, each with its number here.
if grep -E '^[a-z]+: syscall ' "$policies" |
    grep -vE '^[a-z]+: syscall [a-z0-9_]+ \([0-9]+\)( \(argument checked\))?: .' ||
    grep -E '^[a-z]+: syscall (mmap2|_llseek|fcntl64|epoll_pwait|getuid32) ' \
    "$policies"; then
	notok sandbox_print_lists_only_this_architecture "see $policies"
else
	ok sandbox_print_lists_only_this_architecture
fi

# The self-check: a rule that names no syscall here stops the daemon at
# start, naming the rule, instead of loading a rule that never matches.
write_conf ""
out=$(VMEDIAD_TEST_SANDBOX_RULE=mmap2 timeout 10 "$bin" -d \
    -f "$work/vmediad.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$out" | grep -q \
    'sandbox rule mmap2 (VMEDIAD_TEST_SANDBOX_RULE) names no syscall on x86-64'; then
	ok sandbox_rule_absent_on_arch_stops_the_daemon
else
	notok sandbox_rule_absent_on_arch_stops_the_daemon "exit $rc: $(echo "$out" | tail -2)"
fi

grep -q '^blockd: capability sys_admin$' "$policies" &&
	[ "$(grep -c '^blockd: capability' "$policies")" -eq 1 ] &&
	ok blockd_policy_lists_one_capability ||
	notok blockd_policy_lists_one_capability "see $policies"

test_done
