#!/bin/bash
# What an outside red team did to sessiond (issue "Holding up under
# attack"), each test named after its finding: clients that send and never
# read, eviction at max-connections, running out of file descriptors, a
# stalled local client, HEAD and 408 answers. Root only (ulimit, prlimit).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

work=$top/build/regress/attack
port=18092
. "$top/regress/lib/session.sh"

attack="python3 $here/attack.py"
audit=$work/audit.log
rm -f "$audit"

write_conf() {
	cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
user = nobody
chroot = $work/empty
web = $top/web
auth = none
audit = $audit
request-timeout = 3
max-connections = $1

[export "lab"]
socket = $work/lab.sock
default = yes
timeout = 3
; no samples before the relay: the attacks here see it at once
reconnect = 0
CONF
}

# field NAME: one line "NAME value" of the attack's output, the value.
field() {
	awk -v f="$1" '$1 == f { print $2 }' "$work/attack.out"
}

# cpu PID: the clock ticks a process has used, user and system.
cpu() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# serves TENTHS: /api/exports answers 200 within the time.
serves() {
	local i
	for ((i = 0; i < $1; i++)); do
		[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' \
		    "$base/api/exports")" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

# lab_state: the lab export's state in the API.
lab_state() {
	curl -s "$base/api/exports" |
	    json '[e for e in d if e["name"]=="lab"][0]["state"]'
}

# lab_idle: the last session has gone.
lab_idle() {
	local i
	for i in $(seq 50); do
		[ "$(lab_state)" = idle ] && return 0
		sleep 0.1
	done
	return 1
}

write_conf 16
start_daemon lab
spid=$(pgrep -P $pid -x sessiond)

# --- 1: unbounded pong queue, option replies, responses ---------------------

$attack ping-flood 127.0.0.1 $port /nbd/lab $spid 10 >"$work/attack.out"
kb=$(field rss_max)
after=$(field closed)
[ -n "$kb" ] && [ "$kb" -lt 65536 ] && [ "$after" != no ] &&
    grep -q "session [0-9]*: export lab ended: the peer does not read" "$log" &&
    grep -q '"event": "session_end".*"reason": "the peer does not read' "$audit" &&
	ok unbounded_pong_queue_ping_flood_before_handshake_closed_rss_bounded ||
	notok unbounded_pong_queue_ping_flood_before_handshake_closed_rss_bounded \
	    "rss ${kb:-?} kB, closed ${after:-?}: $(grep -c 'does not read' "$audit") audit lines"
echo "# sessiond VmRSS under a ping flood before the handshake: ${kb:-?} kB" >&2
lab_idle

n0=$(grep -c 'does not read' "$audit")
$attack ping-flood 127.0.0.1 $port /nbd/lab $spid 10 handshake >"$work/attack.out"
kb=$(field rss_max)
after=$(field closed)
[ -n "$kb" ] && [ "$kb" -lt 65536 ] && [ "$after" != no ] &&
    [ "$(grep -c 'does not read' "$audit")" -gt "$n0" ] &&
    grep -q "peer serves 1048576 bytes" "$log" &&
	ok unbounded_pong_queue_ping_flood_after_handshake_closed_rss_bounded ||
	notok unbounded_pong_queue_ping_flood_after_handshake_closed_rss_bounded \
	    "rss ${kb:-?} kB, closed ${after:-?}"
lab_idle

$attack opt-list-flood "$work/lab.sock" $spid 10 >"$work/attack.out"
kb=$(field rss_max)
after=$(field closed)
[ -n "$kb" ] && [ "$kb" -lt 65536 ] && [ "$after" != no ] &&
    grep -q "export lab: local client .*: \(does not read its option replies\|sent more than 64 options\)" "$log" &&
	ok unbounded_option_replies_opt_list_flood_closed_rss_bounded ||
	notok unbounded_option_replies_opt_list_flood_closed_rss_bounded \
	    "rss ${kb:-?} kB, closed ${after:-?}"
echo "# sessiond VmRSS under an NBD_OPT_LIST flood: ${kb:-?} kB" >&2

$attack pipeline-flood 127.0.0.1 $port $spid 5 >"$work/attack.out"
kb=$(field rss_max)
[ -n "$kb" ] && [ "$kb" -lt 65536 ] && serves 50 &&
	ok unbounded_http_responses_pipeline_flood_rss_bounded ||
	notok unbounded_http_responses_pipeline_flood_rss_bounded "rss ${kb:-?} kB"

# --- 10: a stalled local client is cut off alone ------------------------------

img=$work/image.bin
head -c 64M /dev/urandom >"$img"
start_peer lab "ws://127.0.0.1:$port/nbd/lab" "$img"
for i in $(seq 30); do [ "$(lab_state)" = active ] && break; sleep 0.1; done
$attack stall "$work/lab.sock" 200 1048576 8 >"$work/stall.out" &
stall=$!
sleep 0.5
stallpid=$(head -1 "$work/stall.out")
rm -f "$work/copy.bin"
timeout 30 nbdcopy "$(uri lab)" "$work/copy.bin" 2>"$work/nbdcopy.err"
crc=$?
wait $stall
cmp -s "$img" "$work/copy.bin" && [ $crc -eq 0 ] &&
    grep -q "export lab: local client .*pid $stallpid.*: stopped reading" "$log" &&
    [ "$(tail -1 "$work/stall.out")" = eof ] &&
    [ "$(lab_state)" = active ] && kill -0 $ppid_ 2>/dev/null &&
    [ "$(nbdinfo --size "$(uri lab)" 2>&1)" = 67108864 ] &&
	ok stalled_local_client_cut_off_alone_other_copies_byte_identical ||
	notok stalled_local_client_cut_off_alone_other_copies_byte_identical \
	    "nbdcopy rc $crc, stall $(tail -1 "$work/stall.out"), lab $(lab_state): $(grep 'ended:\|stopped reading' "$log" | tail -2)"
kill $ppid_ 2>/dev/null
wait_gone $ppid_ 30
rm -f "$work/copy.bin"
lab_idle

# --- 14: HEAD and 408 ----------------------------------------------------------

printf 'HEAD /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >"$work/head.req"
timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat '$work/head.req' >&3; cat <&3" >"$work/head.out"
head -1 "$work/head.out" | grep -q '^HTTP/1.1 404 Not Found' &&
    grep -qi '^content-length: [1-9]' "$work/head.out" &&
    [ "$(tail -c 4 "$work/head.out" | od -An -c | tr -d ' ')" = '\r\n\r\n' ] &&
	ok head_error_response_has_no_body ||
	notok head_error_response_has_no_body "$(od -c "$work/head.out" | tail -4)"

line=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'GET / HTTP/1.1\r\n' >&3; head -1 <&3")
[ "$line" = $'HTTP/1.1 408 Request Timeout\r' ] &&
	ok request_timeout_408_status_line_has_reason_phrase ||
	notok request_timeout_408_status_line_has_reason_phrase "$line"

# --- 2: eviction by idleness ------------------------------------------------------

out=$(timeout 30 $attack evict-in-progress 127.0.0.1 $port)
[ "$out" = survived ] && ok eviction_spares_request_in_progress ||
	notok eviction_spares_request_in_progress "${out:-no answer}"
sleep 0.5
out=$(timeout 30 $attack evict-idle-longest 127.0.0.1 $port)
[ "$out" = idle ] && ok eviction_closes_the_connection_idle_longest ||
	notok eviction_closes_the_connection_idle_longest "${out:-no answer}"

daemon_survived daemon_survives_the_floods_and_evictions
stop_daemon

# --- 7: max-connections beyond RLIMIT_NOFILE ------------------------------------

# vmediad -n as a user who cannot raise a hard limit of 64 files.
write_conf 256
chmod 644 "$work/vmediad.conf"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
    bash -c "ulimit -n 64; '$bin' -n -f '$work/vmediad.conf'" 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "max-connections 256 needs" &&
	ok accept_busy_loop_max_connections_beyond_nofile_refused_by_n ||
	notok accept_busy_loop_max_connections_beyond_nofile_refused_by_n "$out"

# Root without CAP_SYS_RESOURCE cannot raise it either: no start.
setpriv --bounding-set=-sys_resource -- bash -c \
    "ulimit -n 64; exec '$bin' -d -f '$work/vmediad.conf'" >"$work/norise.log" 2>&1 &
nopid=$!
sleep 1
kids=$(pgrep -P $nopid)
if wait_gone $nopid 50 && [ "$status" -ne 0 ] &&
    grep -q "max-connections 256 needs" "$work/norise.log"; then
	ok accept_busy_loop_max_connections_beyond_nofile_refused_at_start
else
	notok accept_busy_loop_max_connections_beyond_nofile_refused_at_start \
	    "status ${status:-running}: $(tail -2 "$work/norise.log")"
	kill -9 $kids 2>/dev/null
	sleep 1
fi

# Under a hard limit that allows it, the soft limit is raised: with
# ulimit -Sn 64, 200 connections cost no CPU.
cat >"$work/lowfiles" <<EOF
#!/bin/sh
ulimit -Sn 64
exec "$bin" "\$@"
EOF
chmod 755 "$work/lowfiles"
realbin=$bin
bin=$work/lowfiles
start_daemon lab
bin=$realbin
spid=$(pgrep -P $pid -x sessiond)
max=$(awk '/^Max open files/ { print $4 }' /proc/$spid/limits)

# hold N: N idle connections from a helper, until release.
hold() {
	rm -f "$work/hold.in"
	mkfifo "$work/hold.in"
	$attack hold 127.0.0.1 $port $1 <"$work/hold.in" >"$work/hold.out" &
	holder=$!
	exec 7>"$work/hold.in"
	for i in $(seq 100); do
		[ -s "$work/hold.out" ] && break
		sleep 0.1
	done
}
release() {
	exec 7>&-
	wait $holder
}

# quiet NAME: over 3 s sessiond uses under 0.6 s of CPU and the log grows
# by less than 64 KiB.
quiet() {
	local c0 l0 c1 l1
	c0=$(cpu $spid)
	l0=$(stat -c %s "$log")
	sleep 3
	c1=$(cpu $spid)
	l1=$(stat -c %s "$log")
	[ $((c1 - c0)) -lt 60 ] && [ $((l1 - l0)) -lt 65536 ] && ok "$1" ||
		notok "$1" "$((c1 - c0)) ticks, log +$((l1 - l0)) bytes, $(cat "$work/hold.out")"
}

[ "${max:-0}" -gt 256 ] && ok accept_busy_loop_nofile_raised_to_fit_max_connections ||
	notok accept_busy_loop_nofile_raised_to_fit_max_connections "sessiond max open files ${max:-?}"
hold 200
quiet accept_busy_loop_low_ulimit_200_connections_cpu_and_log_bounded
release
serves 50 && ok accept_busy_loop_low_ulimit_serves_once_connections_close ||
	notok accept_busy_loop_low_ulimit_serves_once_connections_close "no answer"

# Fewer files than the config assumes (lowered behind its back, by its
# own user): EMFILE.
nfd=$(ls /proc/$spid/fd | wc -l)
setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
    prlimit --pid $spid --nofile=$((nfd + 4)):$((nfd + 4))
hold 60
quiet accept_busy_loop_emfile_cpu_and_log_bounded
n=$(grep -c "out of file descriptors" "$log")
[ "$n" = 1 ] && ok accept_busy_loop_emfile_logged_once ||
	notok accept_busy_loop_emfile_logged_once "$n lines"
release
serves 100 && ok accept_busy_loop_emfile_serves_once_connections_close ||
	notok accept_busy_loop_emfile_serves_once_connections_close "no answer"

# A reload may not need more files than the children were started with.
write_conf 1024
kill -HUP $pid
for i in $(seq 50); do
	grep -q "keeping the running configuration" "$log" && break
	sleep 0.1
done
grep -q "max-connections 1024 needs .* restart vmediad to raise it" "$log" &&
    ! grep -q "reloaded" "$log" && serves 50 &&
	ok accept_busy_loop_reload_beyond_nofile_refused ||
	notok accept_busy_loop_reload_beyond_nofile_refused "$(tail -2 "$log")"

daemon_survived daemon_survives_running_out_of_files
stop_daemon
rm -f "$img" "$work/hold.in"
test_done
