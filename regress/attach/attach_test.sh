#!/bin/bash
# vmedia-attach (the release build, as installed) against the test build
# of vmediad: a person's attach from the command line, end to end.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

work=$top/build/regress/attach
port=18440
tport=18441
mkdir -p "$work"
rm -f "$work"/*.out "$work"/*.err "$work"/copy.bin
. "$top/regress/lib/session.sh"
. "$top/regress/lib/certs.sh"

att=$top/build/bin/vmedia-attach
audit=$work/audit.log
rm -f "$audit"
# The test's own CA, not the environment's.
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR

hash() {
	printf '%s\n' "$1" | "$top/build/sbin/vmediad" -P
}

# A CA made here, and the server's certificate signed by it.
CERT_KEY=ec
{
	cert_ca attach-test-CA "$work/ca"
	cert_sign localhost "$work/ca" "$work/key.pem" "$work/cert.pem" \
	    subjectAltName=DNS:localhost,IP:127.0.0.1
} >/dev/null 2>&1

cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
listen = 127.0.0.1:$tport tls
user = nobody
chroot = $work/empty
web = $top/web
auth = users
audit = $audit
tls-certificate = $work/cert.pem
tls-key = $work/key.pem

[export "lab"]
socket = $work/lab.sock
allow = alice bob

[export "ro"]
socket = $work/ro.sock
allow = alice
read-only = yes

[user "alice"]
password = $(hash alicepw)

[user "bob"]
password = $(hash bobpw)
CONF

start_daemon lab

head -c 8M /dev/urandom >"$work/image.bin"
img=$work/image.bin
printf 'alicepw\n' >"$work/alice.pw"
printf 'wrongpw\n' >"$work/wrong.pw"
printf 'bobpw\n' >"$work/bob.pw"
chmod 600 "$work"/*.pw

# state EXPORT: its state as alice sees it in /api/exports.
state() {
	curl -s -u alice:alicepw "$base/api/exports" |
	    json "[e['state'] for e in d if e['name'] == '$1'][0]"
}

# wait_state EXPORT STATE: up to 5 s for the export to get there.
wait_state() {
	local i
	for i in $(seq 50); do
		[ "$(state "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# start_attach NAME [args]: vmedia-attach in the background, its pid in
# $apid, stdout and stderr in $work/NAME.err (not a terminal).
apid=
start_attach() {
	local name=$1
	shift
	"$att" "$@" >"$work/$name.err" 2>&1 &
	apid=$!
}

# --- a password file, nbdcopy through a socket export ----------------------

start_attach pw -u alice -p "$work/alice.pw" -e lab "$img" "http://127.0.0.1:$port/"
if wait_state lab active; then
	nbdcopy "$(uri lab)" "$work/copy.bin"
	cmp -s "$img" "$work/copy.bin" &&
		ok password_file_attach_reads_byte_identical ||
		notok password_file_attach_reads_byte_identical "copy differs"
else
	notok password_file_attach_reads_byte_identical "not attached: $(tail -3 "$work/pw.err")"
fi
rm -f "$work/copy.bin"

# The password is nowhere in the command line the system shows.
cmd=$(tr '\0' ' ' </proc/$apid/cmdline 2>/dev/null)
echo "$cmd" | grep -q -- "-p $work/alice.pw" && ! echo "$cmd" | grep -q alicepw &&
	ok password_not_in_proc_cmdline ||
	notok password_not_in_proc_cmdline "$cmd"

info=$(nbdinfo --json "$(uri lab)" 2>&1)
echo "$info" | json 'd["exports"][0]["is_read_only"]' | grep -q True &&
	ok read_only_by_default || notok read_only_by_default "$info"

# Busy: the second attach to the same export is refused, code 3.
out=$(timeout 20 "$att" -u bob -p "$work/bob.pw" -e lab "$img" \
    "http://127.0.0.1:$port/" 2>&1)
rc=$?
[ $rc -eq 3 ] && echo "$out" | grep -q "409" &&
    echo "$out" | grep -q "busy" &&
	ok export_busy_exits_3_and_says_so || notok export_busy_exits_3_and_says_so "rc $rc: $out"

# ^C ends the session as an eject does: exit 0, the export free again.
kill -INT $apid
if wait_gone $apid 100 && [ "$status" = 0 ] && wait_state lab idle; then
	ok sigint_ends_session_cleanly_and_export_is_free
else
	notok sigint_ends_session_cleanly_and_export_is_free "status ${status:-running}, state $(state lab): $(tail -3 "$work/pw.err")"
fi
# The parent writes the audit line a moment after sessiond's end.
for i in $(seq 50); do
	grep -q '"event": "session_end".*"export": "lab"' "$audit" && break
	sleep 0.1
done
grep -q '"event": "session_end".*"export": "lab".*"reason": "the peer closed the WebSocket"' "$audit" &&
	ok sigint_session_end_is_audited || notok sigint_session_end_is_audited "$(tail -2 "$audit")"
! grep -q "MiB read" "$work/pw.err" && ok no_progress_without_a_terminal ||
	notok no_progress_without_a_terminal "$(cat "$work/pw.err")"

# --- refusals ------------------------------------------------------------

out=$(timeout 20 "$att" -u alice -p "$work/wrong.pw" -e lab "$img" \
    "http://127.0.0.1:$port/" 2>&1)
rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "login refused" &&
	ok wrong_password_exits_2_and_says_so || notok wrong_password_exits_2_and_says_so "rc $rc: $out"

out=$(timeout 20 "$att" -u bob -p "$work/bob.pw" -e ro "$img" \
    "http://127.0.0.1:$port/" 2>&1)
rc=$?
[ $rc -eq 3 ] && echo "$out" | grep -q "404" &&
	ok export_not_allowed_exits_3 || notok export_not_allowed_exits_3 "rc $rc: $out"

out=$(timeout 20 "$att" -u alice -p "$work/alice.pw" -e lab "$img" \
    "http://192.0.2.1/" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "will not send a password in clear" &&
	ok no_password_in_clear_to_a_remote_host || notok no_password_in_clear_to_a_remote_host "rc $rc: $out"
out=$(timeout 20 "$att" -t "$work/alice.pw" -e lab "$img" "http://192.0.2.1/" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "will not send a token in clear" &&
	ok no_token_in_clear_to_a_remote_host || notok no_token_in_clear_to_a_remote_host "rc $rc: $out"

out=$(setsid -w timeout 20 "$att" -u alice -e lab "$img" \
    "http://127.0.0.1:$port/" 2>&1 </dev/null)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "no terminal" &&
	ok no_terminal_no_prompt_exits_1 || notok no_terminal_no_prompt_exits_1 "rc $rc: $out"

out=$(timeout 20 "$att" -e lab "$img" "http://127.0.0.1:1/" 2>&1)
rc=$?
[ $rc -eq 4 ] && echo "$out" | grep -q "refused" &&
	ok connection_refused_exits_4 || notok connection_refused_exits_4 "rc $rc: $out"

# ^C before the session began (a server that never answers): 130 at once.
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
print("accepted", flush=True)
time.sleep(60)' $((port + 2)) >"$work/mute.out" 2>&1 &
mute=$!
for i in $(seq 50); do grep -q listening "$work/mute.out" && break; sleep 0.1; done
start_attach mute -e lab "$img" "http://127.0.0.1:$((port + 2))/"
for i in $(seq 50); do grep -q accepted "$work/mute.out" && break; sleep 0.1; done
kill -INT $apid
wait_gone $apid 50 && [ "$status" = 130 ] && ok sigint_before_the_session_exits_130 ||
	notok sigint_before_the_session_exits_130 "status ${status:-running}: $(cat "$work/mute.out" "$work/mute.err")"
kill $mute 2>/dev/null
wait $mute 2>/dev/null

# --- TLS with the test's CA ----------------------------------------------

start_attach tls -c "$work/ca.pem" -u alice -p "$work/alice.pw" "$img" \
    "https://localhost:$tport/nbd/lab"
if wait_state lab active; then
	nbdcopy "$(uri lab)" "$work/copy.bin"
	cmp -s "$img" "$work/copy.bin" && ok tls_with_test_ca_reads_byte_identical ||
		notok tls_with_test_ca_reads_byte_identical "copy differs"
else
	notok tls_with_test_ca_reads_byte_identical "not attached: $(tail -3 "$work/tls.err")"
fi
rm -f "$work/copy.bin"
kill -TERM $apid
wait_gone $apid 100 && [ "$status" = 0 ] && wait_state lab idle &&
	ok sigterm_ends_tls_session_cleanly ||
	notok sigterm_ends_tls_session_cleanly "status ${status:-running}: $(tail -3 "$work/tls.err")"

out=$(timeout 20 "$att" -u alice -p "$work/alice.pw" -e lab "$img" \
    "https://127.0.0.1:$tport/" 2>&1)
rc=$?
[ $rc -eq 4 ] && echo "$out" | grep -q "not trusted" &&
	ok untrusted_certificate_exits_4_and_says_so ||
	notok untrusted_certificate_exits_4_and_says_so "rc $rc: $out"

# --- a login token; an eject ends the session with 0 ---------------------

curl -s -c "$work/jar" -o /dev/null -H "Origin: $base" \
    -H 'Content-Type: application/json' \
    -d '{"username": "alice", "password": "alicepw"}' "$base/api/login"
awk '$6 == "vmediad_session" { print $7 }' "$work/jar" >"$work/token"
chmod 600 "$work/token"
start_attach token -t "$work/token" -w -e lab "$img" "http://127.0.0.1:$port"
if wait_state lab active; then
	info=$(nbdinfo --json "$(uri lab)" 2>&1)
	echo "$info" | json 'd["exports"][0]["is_read_only"]' | grep -q False &&
		ok token_file_attach_writable_with_w ||
		notok token_file_attach_writable_with_w "$info"
else
	notok token_file_attach_writable_with_w "not attached: $(tail -3 "$work/token.err")"
fi
curl -s -u alice:alicepw -X POST -H "Origin: $base" "$base/api/exports/lab/eject" >/dev/null
wait_gone $apid 100 && [ "$status" = 0 ] && ok eject_ends_attach_with_0 ||
	notok eject_ends_attach_with_0 "status ${status:-running}: $(tail -3 "$work/token.err")"

# --- a terminal: the prompt, without echo; the progress line -------------

python3 -B "$here/prompt.py" alicepw "$att" -e lab "$img" \
    -u alice "http://127.0.0.1:$port/" >"$work/prompt.out" 2>&1 &
ppid_=$!
if wait_state lab active; then
	nbdcopy "$(uri lab)" "$work/copy.bin"
	cmp -s "$img" "$work/copy.bin" || echo "copy differs" >>"$work/prompt.out"
fi
rm -f "$work/copy.bin"
curl -s -u alice:alicepw -X POST -H "Origin: $base" "$base/api/exports/lab/eject" >/dev/null
wait_gone $ppid_ 100
grep -q "^Password for alice at 127.0.0.1:$port: " "$work/prompt.out" &&
    grep -q "^exit 0" "$work/prompt.out" &&
    ! grep -q "copy differs" "$work/prompt.out" &&
	ok prompted_password_attaches || notok prompted_password_attaches "$(tr '\r\n' '  ' <"$work/prompt.out")"
! grep -q alicepw "$work/prompt.out" && ok prompt_does_not_echo ||
	notok prompt_does_not_echo "$(tr '\r\n' '  ' <"$work/prompt.out")"

script -qefc "'$att' -u alice -p '$work/alice.pw' -e lab '$img' http://127.0.0.1:$port/" \
    /dev/null >"$work/script.out" 2>&1 </dev/null &
spid=$!
ticked=
if wait_state lab active; then
	nbdcopy "$(uri lab)" "$work/copy.bin"
	# Still attached: the next tick of the line shows what was read.
	for i in $(seq 100); do
		grep -q "[1-9][0-9]*\.[0-9] MiB read" "$work/script.out" &&
			ticked=1 && break
		sleep 0.1
	done
fi
rm -f "$work/copy.bin"
[ -n "$ticked" ] && ok progress_line_updates_while_attached ||
	notok progress_line_updates_while_attached "$(tr '\r\n' '  ' <"$work/script.out")"
curl -s -u alice:alicepw -X POST -H "Origin: $base" "$base/api/exports/lab/eject" >/dev/null
wait_gone $spid 100
# The progress line counts what was read, nothing written.
grep -q "attached: 8388608 bytes, read-only" "$work/script.out" &&
    grep -q "[1-9][0-9]*\.[0-9] MiB read, 0\.0 MiB written, [0-9]*\.[0-9] MB/s" "$work/script.out" &&
    [ "$status" = 0 ] &&
	ok progress_on_a_terminal || notok progress_on_a_terminal "status ${status:-running}: $(tr '\r\n' '  ' <"$work/script.out")"

daemon_survived daemon_survives_every_attach
stop_daemon
test_done
