#!/bin/bash
# The red team's findings ("Holding up under attack"), each checked by
# tests named after it: what the attack did, and what users now see.
# Clients come from many addresses (127.0.0.x, an IPv6 /64, a non-loopback
# 10.9.9.1), which this suite adds to lo: it always runs in a network
# namespace of its own.
set -u
if [ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
	exec unshare --net bash -c 'ip link set lo up && exec bash "$0"' "$0"
fi
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

work=$top/build/regress/attack
port=18430	# loopback, plain
tport=18431	# every IPv6 address, TLS
pport=18432	# 10.9.9.1, plain: not loopback
nport=18433	# the auth = none daemon
mkdir -p "$work"
. "$top/regress/lib/session.sh"

audit=$work/audit.log
rm -f "$audit"
# The environment's CA bundle would replace the test's own.
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE

ip addr add 10.9.9.1/24 dev lo
for a in fd00:9::1 fd00:9::2 fd00:9::3 fd00:9:0:1::2; do
	ip -6 addr add $a/64 dev lo nodad
done

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,IP:fd00:9::1 \
    -days 2 -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
chmod 600 "$work/key.pem"

# Password hashes: yescrypt for the people, sha256-crypt (fast) for the
# many accounts an attack needs, so that thousands of checks take seconds.
slow_hash() {
	printf '%s\n' "$1" | "$top/build/sbin/vmediad" -P
}
fast_hash() {
	openssl passwd -5 -salt "$(openssl rand -hex 4)" "$1"
}

junk=$(fast_hash junkpw)
{
	cat <<CONF
[vmediad]
listen = 127.0.0.1:$port
listen = [::]:$tport tls
listen = 10.9.9.1:$pport
user = nobody
chroot = $work/empty
web = $top/web
auth = users
audit = $audit
tls-certificate = $work/cert.pem
tls-key = $work/key.pem
server-name = bmc.example

[export "lab"]
reconnect = 0
socket = $work/lab.sock
allow = alice

[user "alice"]
password = $(slow_hash alicepw)

[user "ops"]
password = $(slow_hash opspw)
admin = yes
CONF
	for u in bob carol dave erin frank gina; do
		printf '\n[user "%s"]\npassword = %s\n' $u "$(fast_hash ${u}pw)"
	done
	for i in $(seq 0 239); do
		printf '\n[user "junk%03d"]\npassword = %s\n' $i "$junk"
	done
} >"$work/vmediad.conf"

start_daemon lab

# code [curl args] URL: the status code; the body in $work/body.
code() {
	curl -s -m 10 -o "$work/body" -w '%{http_code}' "$@"
}

# login_from ADDR USER PASSWORD [URL [curl args]]: the status of a JSON
# login from ADDR; the cookie in $work/USER.jar.
login_from() {
	local addr=$1 user=$2 password=$3 url=${4:-$base}
	shift $(($# < 4 ? $# : 4))
	code --interface "$addr" -c "$work/$user.jar" "$@" \
	    -H 'Content-Type: application/json' \
	    -d "{\"username\": \"$user\", \"password\": \"$password\"}" \
	    "$url/api/login"
}

token_of() {
	awk '$6 == "vmediad_session" { print $7 }' "$work/$1.jar"
}

# flood MODE [URL]: flood.py's answers to the lines on stdin.
flood() {
	python3 "$here/flood.py" "$1" "${2:-$base}" "$work/cert.pem"
}

# lock_out SECONDS [URL]: wrong passwords from the "ADDR USER" lines on
# stdin, round and round, each back-off waited out, until one lasts
# SECONDS or more. Prints the answer that said so.
lock_out() {
	python3 "$here/flood.py" lockout "${2:-$base}" "$1" "$work/cert.pem"
}

# audit_has EXPR: the number of audit records since audit_mark for which
# the Python expression EXPR (of the record d) holds, once there is one.
audit_mark() {
	mark=$(wc -l <"$audit")
}
audit_has() {
	local i n
	for i in $(seq 50); do
		n=$(tail -n +$((mark + 1)) "$audit" | python3 -c "
import json, sys
print(sum(1 for l in sys.stdin if (lambda d: $1)(json.loads(l))))")
		[ "$n" -gt 0 ] && break
		sleep 0.1
	done
	echo "$n"
}

# --- 12: TLS ----------------------------------------------------------------

# handshake CIPHER: what a TLS 1.2 client offering only CIPHER got.
handshake() {
	echo | timeout 10 openssl s_client -connect "[::1]:$tport" -tls1_2 \
	    -cipher "$1" 2>&1 | sed -n 's/.*Cipher is \(.*\)/\1/p' | head -1
}
got=$(handshake AES128-GCM-SHA256)
[ "$got" = "(NONE)" ] && ok tls12_cipher_without_forward_secrecy_is_refused ||
	notok tls12_cipher_without_forward_secrecy_is_refused "got $got"
got=$(handshake ECDHE-RSA-AES128-SHA)
[ "$got" = "(NONE)" ] && ok tls12_cbc_cipher_is_refused ||
	notok tls12_cbc_cipher_is_refused "got $got"
got=$(handshake ECDHE-RSA-AES128-GCM-SHA256)
[ "$got" = ECDHE-RSA-AES128-GCM-SHA256 ] && ok tls12_ecdhe_aead_cipher_is_accepted ||
	notok tls12_ecdhe_aead_cipher_is_accepted "got ${got:-nothing}"

# --- 6: Host -------------------------------------------------------------------

audit_mark
c=$(code -H 'Host: evil.example' -H 'Origin: http://evil.example' \
    -H 'Content-Type: application/json' \
    -d '{"username": "alice", "password": "alicepw"}' "$base/api/login")
[ "$c" = 421 ] && ok dns_rebinding_foreign_host_is_refused_before_login ||
	notok dns_rebinding_foreign_host_is_refused_before_login "$c"
n=$(audit_has 'd["event"] == "access_denied" and d.get("status") == 421')
[ "$n" = 1 ] && ok dns_rebinding_refusal_is_audited ||
	notok dns_rebinding_refusal_is_audited "$n records"
c1=$(code -H "Host: bmc.example:$port" "$base/api/session")
c2=$(code -H "Host: BMC.Example." "$base/api/session")
c3=$(code -H "Host: localhost:$port" "$base/api/session")
c4=$(code "$base/api/session")
[ "$c1$c2$c3$c4" = 200200200200 ] &&
	ok dns_rebinding_check_serves_server_name_localhost_and_own_address ||
	notok dns_rebinding_check_serves_server_name_localhost_and_own_address \
	    "$c1 $c2 $c3 $c4"
c=$(code -H "Host: [fd00:9::1]:$tport" --cacert "$work/cert.pem" \
    "https://[::1]:$tport/api/session")
[ "$c" = 421 ] && ok dns_rebinding_address_not_reached_is_refused ||
	notok dns_rebinding_address_not_reached_is_refused "$c"

# --- 9: passwords over plain HTTP ----------------------------------------------------

pbase=http://10.9.9.1:$pport
audit_mark
hdr=$(curl -s -m 10 -D - -o "$work/body" -H 'Content-Type: application/json' \
    -d '{"username": "alice", "password": "alicepw"}' "$pbase/api/login")
if echo "$hdr" | head -1 | grep -q ' 403 ' && grep -q TLS "$work/body" &&
    ! echo "$hdr" | grep -qi '^set-cookie:'; then
	ok plain_http_json_login_off_loopback_is_403_use_tls
else
	notok plain_http_json_login_off_loopback_is_403_use_tls \
	    "$(echo "$hdr" | head -1) $(cat "$work/body")"
fi
c=$(code -u alice:alicepw "$pbase/api/exports")
[ "$c" = 403 ] && grep -q TLS "$work/body" &&
	ok plain_http_basic_off_loopback_is_403_use_tls ||
	notok plain_http_basic_off_loopback_is_403_use_tls "$c $(cat "$work/body")"
n=$(audit_has 'd["event"] == "login_failed" and d.get("status") == 403 and d.get("user") == "alice"')
[ "$n" = 2 ] && ok plain_http_password_refusals_are_audited ||
	notok plain_http_password_refusals_are_audited "$n records"
c=$(login_from 127.0.0.1 alice alicepw)
[ "$c" = 200 ] && ok plain_http_login_on_loopback_still_works ||
	notok plain_http_login_on_loopback_still_works "$c"

# --- 8: logout with a Bearer token -----------------------------------------------------------

tok=$(token_of alice)
audit_mark
c=$(code -X POST -H "Authorization: Bearer $tok" "$base/api/logout")
c2=$(code -H "Authorization: Bearer $tok" "$base/api/exports")
[ "$c" = 200 ] && [ "$c2" = 401 ] && ok logout_with_bearer_token_revokes_it ||
	notok logout_with_bearer_token_revokes_it "logout $c, then $c2"
n=$(audit_has 'd["event"] == "logout" and d.get("user") == "alice"')
[ "$n" = 1 ] && ok logout_with_bearer_token_is_audited ||
	notok logout_with_bearer_token_is_audited "$n records"

# --- 4: locking a user out -----------------------------------------------------------

# Each lockout below lasts 8 s or more: time enough to look at it.
got=$(echo "127.0.0.2 carol" | lock_out 6)
c=$(login_from 127.0.0.3 carol carolpw)
[ "$c" = 200 ] &&
	ok wrong_passwords_from_one_address_do_not_lock_the_user_out_elsewhere ||
	notok wrong_passwords_from_one_address_do_not_lock_the_user_out_elsewhere \
	    "guesser got ${got:-no lockout}; carol's own address got $c"
audit_mark
c=$(login_from 127.0.0.2 carol carolpw)
[ "$c" = 429 ] && ok wrong_passwords_lock_out_the_guessing_address ||
	notok wrong_passwords_lock_out_the_guessing_address "$c"
n=$(audit_has 'd["event"] == "login_failed" and d.get("status") == 429 and d.get("user") == "carol"')
[ "$n" = 1 ] && ok refusal_429_is_audited || notok refusal_429_is_audited "$n records"

got=$(for u in $(seq 0 7); do echo "127.0.0.4 junk00$u"; done | lock_out 6)
c=$(login_from 127.0.0.4 dave davepw)
[ "$c" = 429 ] && ok one_address_guessing_many_users_is_held_back ||
	notok one_address_guessing_many_users_is_held_back "${got:-no lockout} then $c"

got=$(for a in $(seq 1 40); do echo "127.0.1.$a erin"; done | lock_out 6)
c=$(login_from 127.0.1.100 erin erinpw)
[ "$c" = 429 ] && ok one_user_guessed_from_many_addresses_backs_off_everywhere ||
	notok one_user_guessed_from_many_addresses_backs_off_everywhere \
	    "${got:-no lockout} then $c"

# --- 11: refusals in the audit ----------------------------------------------------------

audit_mark
c=$(code --interface 127.0.0.6 -X POST -u bob:bobpw "$base/api/exports/lab/eject")
n=$(audit_has 'd["event"] == "access_denied" and d.get("status") == 404 and d.get("user") == "bob" and d.get("export") == "lab"')
[ "$c" = 404 ] && [ "$n" = 1 ] && ok refusal_404_for_another_tenants_export_is_audited ||
	notok refusal_404_for_another_tenants_export_is_audited "$c, $n records"
c=$(code --interface 127.0.0.6 -H "Authorization: Bearer $(openssl rand -hex 32)" \
    "$base/api/exports")
n=$(audit_has 'd["event"] == "login_failed" and d.get("status") == 401 and d["reason"].startswith("unknown")')
[ "$c" = 401 ] && [ "$n" = 1 ] && ok refusal_401_for_bad_token_is_audited ||
	notok refusal_401_for_bad_token_is_audited "$c, $n records"
c=$(code --interface 127.0.0.6 -H 'Content-Type: application/json' -d 'not json' \
    "$base/api/login")
n=$(audit_has 'd["event"] == "login_failed" and d.get("status") == 400')
[ "$c" = 400 ] && [ "$n" = 1 ] && ok refusal_malformed_login_body_is_audited ||
	notok refusal_malformed_login_body_is_audited "$c, $n records"
c=$(code --interface 127.0.0.6 "$base/api/exports")
n=$(audit_has 'd["event"] == "access_denied" and d.get("status") == 401')
[ "$c" = 401 ] && [ "$n" = 1 ] && ok refusal_401_without_login_is_audited ||
	notok refusal_401_without_login_is_audited "$c, $n records"

head -c 1M /dev/urandom >"$work/image.bin"
start_peer busy "ws://127.0.0.1:$port/nbd/lab" "$work/image.bin" --basic alice:alicepw
audit_mark
c=$(code --interface 127.0.0.6 -m 5 -u alice:alicepw -H 'Connection: Upgrade' \
    -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$base/nbd/lab")
n=$(audit_has 'd["event"] == "access_denied" and d.get("status") == 409 and d.get("export") == "lab"')
[ "$c" = 409 ] && [ "$n" = 1 ] && ok refusal_409_attach_to_busy_export_is_audited ||
	notok refusal_409_attach_to_busy_export_is_audited "$c, $n records"
kill $ppid_ 2>/dev/null
wait_gone $ppid_ 30
rm -f "$work/image.bin"

audit_mark
for i in $(seq 70); do echo 127.0.0.9; done | flood bearer >/dev/null
n=$(audit_has '"not recorded" in d.get("reason", "") and d["address"] == "127.0.0.9"')
tail -n +$((mark + 1)) "$audit" | python3 -c '
import json, re, sys
recorded = unrecorded = 0
for line in sys.stdin:
    d = json.loads(line)
    if d.get("address", "").startswith("127.0.0.9:"):
        recorded += 1
    m = re.match(r"(\d+) refusals from 127\.0\.0\.9 not recorded", d.get("reason", ""))
    if m and d["event"] == "not_recorded":
        unrecorded += int(m.group(1))
print(recorded, unrecorded)' >"$work/bound"
read -r recorded unrecorded <"$work/bound"
[ "$n" -ge 1 ] && [ "$recorded" -ge 30 ] && [ "$recorded" -lt 70 ] &&
    [ $((recorded + unrecorded)) = 70 ] &&
	ok refusal_audit_bound_per_address_summarises_the_rest ||
	notok refusal_audit_bound_per_address_summarises_the_rest \
	    "$recorded recorded, $unrecorded said unrecorded, $n summaries"

# --- 5: flooding the back-off table -------------------------------------------------------

got=$(echo "127.0.0.5 frank" | lock_out 12)
if [ -n "$got" ]; then
	# 600 addresses, one failure each for one of 240 users: more
	# counts than the table holds.
	for i in $(seq 0 599); do
		printf '127.0.%d.%d junk%03d wrong\n' $((2 + i / 250)) \
		    $((1 + i % 250)) $((i % 240))
	done | flood login | cut -d' ' -f1 | sort | uniq -c | tr -s ' \n' ' ' \
	    >"$work/flood"
	c=$(login_from 127.0.0.5 frank frankpw)
	[ "$c" = 429 ] && ok flooding_the_rate_limit_table_does_not_erase_a_lockout ||
		notok flooding_the_rate_limit_table_does_not_erase_a_lockout \
		    "flood got $(cat "$work/flood"); the locked-out address then got $c"
else
	notok flooding_the_rate_limit_table_does_not_erase_a_lockout \
	    "no lockout of 12 s or more came"
fi

# IPv6: one guesser's /64 is one address.
tbase=https://[fd00:9::1]:$tport
got=$(for u in $(seq 0 7); do echo "fd00:9::2 junk01$u"; done |
    lock_out 6 "$tbase")
c=$(login_from fd00:9::3 gina ginapw "$tbase" --cacert "$work/cert.pem")
[ "$c" = 429 ] && ok flooding_from_an_ipv6_slash64_counts_as_one_address ||
	notok flooding_from_an_ipv6_slash64_counts_as_one_address \
	    "${got:-no lockout} then $c"
c=$(login_from fd00:9:0:1::2 gina ginapw "$tbase" --cacert "$work/cert.pem")
[ "$c" = 200 ] && ok another_ipv6_slash64_is_another_address ||
	notok another_ipv6_slash64_is_another_address "$c"

# --- 3: logging everyone out ---------------------------------------------------------------

login_from 127.0.0.7 alice alicepw >/dev/null
login_from 127.0.0.7 ops opspw >/dev/null
audit_mark
for i in $(seq 1030); do echo "127.0.0.8 bob bobpw"; done | flood login >"$work/bob.logins"
ca=$(code -b "$work/alice.jar" -H "Origin: $base" "$base/api/exports")
co=$(code -b "$work/ops.jar" -H "Origin: $base" "$base/api/exports")
[ "$ca$co" = 200200 ] && ok any_user_logging_in_1030_times_logs_out_no_one_else ||
	notok any_user_logging_in_1030_times_logs_out_no_one_else \
	    "alice $ca, ops $co after $(cut -d' ' -f1 "$work/bob.logins" | sort | uniq -c | tr -s ' \n' ' ')"
first=$(head -1 "$work/bob.logins" | cut -d' ' -f3)
last=$(tail -1 "$work/bob.logins" | cut -d' ' -f3)
c1=$(code -H "Authorization: Bearer $first" "$base/api/exports")
c2=$(code -H "Authorization: Bearer $last" "$base/api/exports")
n=$(audit_has 'd["event"] == "login" and "oldest login" in d.get("reason", "")')
[ "$c1" = 401 ] && [ "$c2" = 200 ] && [ "$n" -gt 0 ] &&
	ok logins_past_logins_per_user_end_that_users_oldest ||
	notok logins_past_logins_per_user_end_that_users_oldest \
	    "first $c1, last $c2, $n records"

# 63 more users with 16 logins each fill the table (1024) and then some:
# the busiest users give way, and alice, with one login, keeps hers.
audit_mark
for u in $(seq 0 62); do for i in $(seq 16); do
	printf '127.0.0.10 junk%03d junkpw\n' $((100 + u)); done; done |
    flood login >"$work/junk.logins"
ca=$(code -b "$work/alice.jar" -H "Origin: $base" "$base/api/exports")
n=$(audit_has 'd["event"] == "logout" and d.get("reason", "").startswith("login table full")')
[ "$ca" = 200 ] && [ "$n" -gt 0 ] &&
	ok full_login_table_ends_the_busiest_users_oldest_login_and_audits_it ||
	notok full_login_table_ends_the_busiest_users_oldest_login_and_audits_it \
	    "alice $ca, $n records"

daemon_survived daemon_survives_the_attacks
stop_daemon
[ "${status:-1}" -eq 0 ] && ok attacked_daemon_exits_0_on_sigterm ||
	notok attacked_daemon_exits_0_on_sigterm "${status:-running}"

# --- 6: DNS rebinding with auth = none ----------------------------------------------------

port=$nport
base=http://127.0.0.1:$port
cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
user = nobody
chroot = $work/empty
web = $top/web
auth = none
audit = $audit

[export "open"]
reconnect = 0
socket = $work/open.sock
CONF
start_daemon open

c=$(code -H "Host: evil.example:$port" -H "Origin: http://evil.example:$port" \
    "$base/api/exports")
[ "$c" = 421 ] && ok dns_rebinding_with_auth_none_own_origin_of_foreign_host_is_421 ||
	notok dns_rebinding_with_auth_none_own_origin_of_foreign_host_is_421 "$c"
c=$(code -m 3 -H "Host: evil.example:$port" -H "Origin: http://evil.example:$port" \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$base/nbd/open")
[ "$c" = 421 ] && ok dns_rebinding_with_auth_none_websocket_is_421 ||
	notok dns_rebinding_with_auth_none_websocket_is_421 "$c"
c=$(code -X POST -H "Host: evil.example:$port" -H "Origin: http://evil.example:$port" \
    "$base/api/exports/open/eject")
[ "$c" = 421 ] && ok dns_rebinding_with_auth_none_eject_is_421 ||
	notok dns_rebinding_with_auth_none_eject_is_421 "$c"
c=$(code -H "Origin: $base" "$base/api/exports")
[ "$c" = 200 ] && ok auth_none_own_host_and_origin_still_served ||
	notok auth_none_own_host_and_origin_still_served "$c"

daemon_survived daemon_with_auth_none_survives_rebinding
stop_daemon
test_done
