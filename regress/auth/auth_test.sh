#!/bin/bash
# Tenants on one server: who may see, attach and eject what; logins,
# cookies, origins and back-off; TLS; the audit trail; and a real session
# that still attaches while slow and idle clients hold connections.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

work=$top/build/regress/auth
port=18420
tport=18421
. "$top/regress/lib/session.sh"

audit=$work/audit.log
rm -f "$audit"

hash() {
	printf '%s\n' "$1" | "$top/build/sbin/vmediad" -P
}

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
chmod 600 "$work/key.pem"	# vmediad refuses a key others may read

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
origin = https://trusted.example
request-timeout = 3
sessions-per-user = 1
; the peers here are killed: today's teardown, no reconnect window

[export "lab"]
reconnect = 0
socket = $work/lab.sock
allow = @lab

[export "bobs"]
reconnect = 0
socket = $work/bobs.sock
allow = bob

[export "shared"]
reconnect = 0
socket = $work/shared.sock
allow = alice bob

[user "alice"]
password = $(hash alicepw)
groups = lab

[user "bob"]
password = $(hash bobpw)
groups = staff

[user "ops"]
password = $(hash opspw)
admin = yes
CONF

start_daemon shared

# code METHOD PATH [curl args]: the status code.
code() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$work/body" -w '%{http_code}' -X "$m" "$@" "$base$p"
}

login() {
	curl -s -c "$work/$1.jar" -o "$work/body" -w '%{http_code}' \
	    -H "Origin: $base" -H 'Content-Type: application/json' \
	    -d "{\"username\": \"$1\", \"password\": \"$2\"}" "$base/api/login"
}

token_of() {
	awk '$6 == "vmediad_session" { print $7 }' "$work/$1.jar"
}

head -c 16M /dev/urandom >"$work/image.bin"
img=$work/image.bin

# --- nobody ---------------------------------------------------------------

c=$(code GET /api/exports)
[ "$c" = 401 ] && ok no_credentials_api_is_401 || notok no_credentials_api_is_401 "$c"
out=$(timeout 10 "$peer" "ws://127.0.0.1:$port/nbd/shared" "$img" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q 401 && ok no_credentials_websocket_is_401 ||
	notok no_credentials_websocket_is_401 "$out"
c=$(code GET /api/session)
u=$(json 'd["user"]' <"$work/body")
[ "$c" = 200 ] && [ "$u" = None ] && ok session_endpoint_says_nobody ||
	notok session_endpoint_says_nobody "$c $u"

# --- logins ---------------------------------------------------------------

n0=$(wc -l <"$audit")
c=$(login alice wrong)
[ "$c" = 401 ] && ok wrong_password_is_401 || notok wrong_password_is_401 "$c"
sleep 0.2
rec=$(tail -n +$((n0 + 1)) "$audit")
echo "$rec" | json 'd["event"] + " " + d["user"]' | grep -qx "login_failed alice" &&
	ok wrong_password_leaves_audit_record ||
	notok wrong_password_leaves_audit_record "$rec"

c=$(login alice alicepw)
hdr=$(curl -s -D - -o /dev/null -H "Origin: $base" \
    -d '{"username": "bob", "password": "bobpw"}' "$base/api/login")
echo "$hdr" | grep -i '^set-cookie:' | grep -q 'HttpOnly' &&
    echo "$hdr" | grep -i '^set-cookie:' | grep -q 'SameSite=Strict' &&
    [ "$(token_of alice | wc -c)" = 65 ] && [ "$c" = 200 ] &&
	ok login_sets_httponly_samesite_cookie_with_256_bit_token ||
	notok login_sets_httponly_samesite_cookie_with_256_bit_token "$c $hdr"
login bob bobpw >/dev/null
login ops opspw >/dev/null

c=$(code GET /api/exports -b "$work/alice.jar")
names=$(json '" ".join(e["name"] for e in d)' <"$work/body")
[ "$c" = 200 ] && [ "$names" = "lab shared" ] &&
	ok alice_lists_only_her_exports || notok alice_lists_only_her_exports "$c $names"
code GET /api/exports -b "$work/bob.jar" >/dev/null
names=$(json '" ".join(e["name"] for e in d)' <"$work/body")
[ "$names" = "bobs shared" ] && ok bob_lists_only_his_exports ||
	notok bob_lists_only_his_exports "$names"
code GET /api/exports -b "$work/ops.jar" >/dev/null
names=$(json '" ".join(e["name"] for e in d)' <"$work/body")
[ "$names" = "lab bobs shared" ] && ok admin_lists_every_export ||
	notok admin_lists_every_export "$names"
code GET /api/session -b "$work/alice.jar" >/dev/null
[ "$(json 'd["user"]' <"$work/body")" = alice ] && ok session_endpoint_names_the_user ||
	notok session_endpoint_names_the_user "$(cat "$work/body")"

c=$(code GET /api/exports -u alice:alicepw)
[ "$c" = 200 ] && ok basic_auth_on_loopback_works || notok basic_auth_on_loopback_works "$c"
c=$(code GET /api/exports -u alice:nope)
[ "$c" = 401 ] && ok basic_auth_wrong_password_is_401 ||
	notok basic_auth_wrong_password_is_401 "$c"
c=$(code GET /api/exports -H "Authorization: Bearer $(token_of bob)")
[ "$c" = 200 ] && ok bearer_token_works || notok bearer_token_works "$c"

# --- tenants ----------------------------------------------------------------

start_peer alice "ws://127.0.0.1:$port/nbd/lab" "$img" --header 'Authorization: Basic YWxpY2U6YWxpY2Vwdw=='
c=$(code GET /api/exports -b "$work/alice.jar")
st=$(json '[e for e in d if e["name"]=="lab"][0]["state"] + " " + [e for e in d if e["name"]=="lab"][0]["user"]' <"$work/body")
[ "$st" = "active alice" ] && ok alice_attaches_her_export ||
	notok alice_attaches_her_export "$st $(tail -2 "$work/alice.out")"

out=$(timeout 10 "$peer" --header 'Authorization: Basic Ym9iOmJvYnB3' "ws://127.0.0.1:$port/nbd/lab" "$img" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q 404 && ok bob_cannot_attach_alices_export ||
	notok bob_cannot_attach_alices_export "$out"
c=$(code POST /api/exports/lab/eject -b "$work/bob.jar" -H "Origin: $base")
[ "$c" = 404 ] && ok bob_cannot_eject_alices_export ||
	notok bob_cannot_eject_alices_export "$c"

out=$(timeout 10 "$peer" --header 'Authorization: Basic YWxpY2U6YWxpY2Vwdw==' "ws://127.0.0.1:$port/nbd/shared" "$img" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q 429 && ok sessions_per_user_limit_is_429 ||
	notok sessions_per_user_limit_is_429 "$out"

alice_peer=$ppid_
start_peer bob "ws://127.0.0.1:$port/nbd/shared" "$img" --header 'Authorization: Basic Ym9iOmJvYnB3'
c=$(code POST /api/exports/shared/eject -b "$work/alice.jar" -H "Origin: $base")
[ "$c" = 403 ] && ok alice_cannot_eject_bobs_session_on_shared_export ||
	notok alice_cannot_eject_bobs_session_on_shared_export "$c"
c=$(code POST /api/exports/shared/eject -b "$work/ops.jar" -H "Origin: $base")
if [ "$c" = 200 ] && wait_gone $ppid_ 30 && grep -q "server closed: 1000" "$work/bob.out"; then
	ok admin_ejects_anyones_session
else
	notok admin_ejects_anyones_session "$c"
fi
ppid_=$alice_peer

# --- origins ------------------------------------------------------------------

c=$(code GET /api/exports -b "$work/alice.jar" -H 'Origin: http://evil.example')
[ "$c" = 403 ] && ok foreign_origin_is_403 || notok foreign_origin_is_403 "$c"
c=$(code GET /api/session -H 'Origin: http://evil.example')
[ "$c" = 403 ] && ok foreign_origin_refused_on_every_request ||
	notok foreign_origin_refused_on_every_request "$c"
c=$(code GET /api/exports -b "$work/alice.jar" -H 'Origin: https://trusted.example')
[ "$c" = 200 ] && ok configured_origin_is_allowed || notok configured_origin_is_allowed "$c"
c=$(code POST /api/exports/lab/eject -b "$work/alice.jar")
[ "$c" = 403 ] && ok cookie_post_without_origin_is_403 ||
	notok cookie_post_without_origin_is_403 "$c"
c=$(code POST /api/exports/nosuch/eject -u alice:alicepw)
[ "$c" = 404 ] && ok basic_post_without_origin_is_not_refused ||
	notok basic_post_without_origin_is_not_refused "$c"

tok=$(token_of bob)
out=$(python3 "$here/upgrade.py" 127.0.0.1 $port /nbd/shared "$tok")
echo "$out" | head -1 | grep -q ' 101 ' && [ "$(echo "$out" | sed -n 2p)" = "$tok" ] &&
	ok token_as_subprotocol_upgrades_and_is_echoed ||
	notok token_as_subprotocol_upgrades_and_is_echoed "$out"
sleep 0.3

kill $ppid_ 2>/dev/null
wait_gone $ppid_ 30
sleep 0.5

# --- the audit trail of one scripted session ---------------------------------------

n0=$(wc -l <"$audit")
login ops opspw >/dev/null
start_peer s "ws://127.0.0.1:$port/nbd/bobs" "$img" --header 'Authorization: Basic b3BzOm9wc3B3'
nbdcopy "$(uri bobs)" "$work/copy.bin"
cmp -s "$img" "$work/copy.bin" && ok admin_session_reads_byte_identical ||
	notok admin_session_reads_byte_identical "copy differs"
code POST /api/exports/bobs/eject -b "$work/ops.jar" -H "Origin: $base" >/dev/null
wait_gone $ppid_ 30
code POST /api/logout -b "$work/ops.jar" -H "Origin: $base" >/dev/null
sleep 0.3
got=$(tail -n +$((n0 + 1)) "$audit" | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    print(d["event"], d.get("user", "-"), d.get("export", "-"),
          d.get("bytes_read", "-"))')
want="login ops - -
session_start ops bobs -
eject ops bobs -
session_end ops bobs 16777216
logout ops - -"
[ "$got" = "$want" ] && ok audit_holds_exactly_the_session_records_in_order ||
	notok audit_holds_exactly_the_session_records_in_order "$(echo "$got" | tr '\n' '|')"
ls -l "$audit" | grep -q '^-rw-------' && ok audit_file_is_mode_0600 ||
	notok audit_file_is_mode_0600 "$(ls -l "$audit")"
rm -f "$work/copy.bin"

# --- TLS ------------------------------------------------------------------------------

if "$peer" -h 2>&1 | grep -q -- '--ca'; then
	start_peer tls "wss://127.0.0.1:$tport/nbd/shared" "$img" \
	    --ca "$work/cert.pem" --header 'Authorization: Basic YWxpY2U6YWxpY2Vwdw=='
	nbdcopy "$(uri shared)" "$work/copy.bin"
	cmp -s "$img" "$work/copy.bin" && ok wss_peer_attaches_and_reads_byte_identical ||
		notok wss_peer_attaches_and_reads_byte_identical "$(tail -2 "$work/tls.out")"
	kill $ppid_ 2>/dev/null
	wait_gone $ppid_ 30
	rm -f "$work/copy.bin"
else
	notok wss_peer_attaches_and_reads_byte_identical "vmedia-peer lacks --ca"
fi
out=$(echo | timeout 10 openssl s_client -connect 127.0.0.1:$tport -tls1_1 2>&1)
echo "$out" | grep -q 'Cipher is (NONE)' &&
    echo "$out" | grep -qi 'alert protocol version\|no protocols available' &&
	ok tls_1_1_is_refused || notok tls_1_1_is_refused "$(echo "$out" | tail -3)"
out=$(echo | timeout 10 openssl s_client -connect 127.0.0.1:$tport -tls1_2 2>&1)
echo "$out" | grep -q 'TLSv1.2' && ok tls_1_2_is_accepted ||
	notok tls_1_2_is_accepted "$(echo "$out" | tail -3)"
c=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$tport/api/session")
[ "$c" = 000 ] && kill -0 $pid && ok plain_http_to_tls_port_fails_cleanly ||
	notok plain_http_to_tls_port_fails_cleanly "$c"
c=$(curl -s -m 5 --cacert "$work/cert.pem" -o "$work/body" -w '%{http_code}' \
    -u alice:alicepw "https://127.0.0.1:$tport/api/exports")
[ "$c" = 200 ] && ok https_api_with_basic_works || notok https_api_with_basic_works "$c"
hdr=$(curl -s -m 5 --cacert "$work/cert.pem" -D - -o /dev/null \
    -H "Origin: https://127.0.0.1:$tport" \
    -d '{"username": "alice", "password": "alicepw"}' "https://127.0.0.1:$tport/api/login")
echo "$hdr" | grep -i '^set-cookie:' | grep -q 'Secure' &&
	ok cookie_is_secure_under_tls || notok cookie_is_secure_under_tls "$hdr"

# --- slow and idle clients ------------------------------------------------------------------

mkfifo "$work/idle.in" 2>/dev/null
python3 "$here/idle.py" 127.0.0.1 $port 500 8 <"$work/idle.in" >"$work/idle.out" 2>&1 &
idlepid=$!
exec 7>"$work/idle.in"
for i in $(seq 100); do
	[ -s "$work/idle.out" ] && break
	sleep 0.1
done
grep -q "slow-closed" "$work/idle.out" && ok slowloris_client_cut_off_by_request_timeout ||
	notok slowloris_client_cut_off_by_request_timeout "$(cat "$work/idle.out")"
start_peer busy "ws://127.0.0.1:$port/nbd/shared" "$img" --header 'Authorization: Basic YWxpY2U6YWxpY2Vwdw=='
t0=$(date +%s.%N)
nbdcopy "$(uri shared)" "$work/copy.bin"
t1=$(date +%s.%N)
cmp -s "$img" "$work/copy.bin" &&
	ok session_attaches_and_reads_past_500_idle_connections ||
	notok session_attaches_and_reads_past_500_idle_connections "$(tail -2 "$work/busy.out")"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "# 16 MiB read beside 500 idle connections: %.0f MiB/s\n", 16 / (b - a) }' >&2
exec 7>&-
kill $idlepid $ppid_ 2>/dev/null
rm -f "$work/copy.bin" "$work/idle.in"

# --- back-off -------------------------------------------------------------------

codes=
for i in $(seq 20); do
	codes="$codes $(login bob wrong$i)"
done
echo "$codes" | grep -q 429 && ok twenty_fast_wrong_passwords_get_429 ||
	notok twenty_fast_wrong_passwords_get_429 "$codes"
hdr=$(curl -s -D - -o /dev/null -H "Origin: $base" \
    -d '{"username": "bob", "password": "bobpw"}' "$base/api/login")
echo "$hdr" | head -1 | grep -q 429 && echo "$hdr" | grep -qi '^retry-after: [0-9]' &&
	ok backed_off_login_says_retry_after ||
	notok backed_off_login_says_retry_after "$(echo "$hdr" | head -3)"
c=$(code POST /api/login -H "Origin: $base" -d 'not json')
[ "$c" = 400 ] || [ "$c" = 429 ] && ok malformed_login_body_is_400 ||
	notok malformed_login_body_is_400 "$c"

daemon_survived daemon_survives_the_tenants
stop_daemon
[ "${status:-1}" -eq 0 ] && ok sigterm_exits_0 || notok sigterm_exits_0 "${status:-running}"
rm -f "$img"
test_done
