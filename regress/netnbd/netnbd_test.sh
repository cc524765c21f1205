#!/bin/bash
# NBD clients over TCP: vmediad's nbd-listen. A plain listener on
# loopback (the config says "plain") serves nbdinfo, nbdcopy and qemu-img
# the exports with nbd-clients = yes; on a listener without "plain" a
# client must STARTTLS first: one that skips it gets ERR_TLS_REQD, one
# that does it reads through TLS. Then with auth = users: client
# certificates (nbd-client-ca) name users, whom the exports' allow lists
# admit or refuse (audited).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

work=$top/build/regress/netnbd
port=18410
nport=18411 # plain
tport=18412 # STARTTLS required
rm -rf "$work"
mkdir -p "$work"
. "$top/regress/lib/session.sh"
. "$top/regress/lib/certs.sh"
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR

# A CA made here, and the server's certificate signed by it.
CERT_KEY=ec
{
	cert_ca netnbd-test-CA "$work/ca"
	cert_sign localhost "$work/ca" "$work/key.pem" "$work/cert.pem" \
	    subjectAltName=DNS:localhost,IP:127.0.0.1
} >/dev/null 2>&1
# What libnbd reads from tls-certificates=DIR: the CA, nothing of ours.
mkdir -p "$work/anon"
cp "$work/ca.pem" "$work/anon/ca-cert.pem"

cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
nbd-listen = 127.0.0.1:$nport plain
nbd-listen = 127.0.0.1:$tport
user = nobody
chroot = $work/empty
web = $top/web
auth = none
tls-certificate = $work/cert.pem
tls-key = $work/key.pem

[export "lab"]
description = Writable lab image
socket = $work/lab.sock
nbd-clients = yes
timeout = 5

[export "ro"]
description = Read-only image
socket = $work/ro.sock
read-only = yes
nbd-clients = yes

[export "hidden"]
socket = $work/hidden.sock
CONF

start_daemon hidden

plain() {
	echo "nbd://127.0.0.1:$nport/${1:-}"
}

tls() {
	echo "nbds://127.0.0.1:$tport/$1?tls-certificates=$work/anon"
}

grep -q "NBD clients on 127.0.0.1:$nport (plain)" "$log" &&
    grep -q "NBD clients on 127.0.0.1:$tport (STARTTLS required)" "$log" &&
	ok both_nbd_listeners_served ||
	notok both_nbd_listeners_served "$(grep 'NBD clients' "$log")"

# --- no peer ----------------------------------------------------------------

err=$(qemu-img info "$(plain lab)" 2>&1)
nbdinfo "$(plain lab)" >/dev/null 2>&1
[ $? -ne 0 ] && echo "$err" | grep -q "no image attached to export" &&
	ok tcp_client_without_peer_gets_clear_error ||
	notok tcp_client_without_peer_gets_clear_error "$err"

got=$(timeout 30 python3 "$here/tls_reqd.py" 127.0.0.1 $nport names 2>&1)
[ "$got" = "lab ro" ] && ok list_names_only_exports_with_nbd_clients ||
	notok list_names_only_exports_with_nbd_clients "$got"

err=$(qemu-img info "$(plain hidden)" 2>&1)
nbdinfo "$(plain hidden)" >/dev/null 2>&1
[ $? -ne 0 ] && echo "$err" | grep -q "no such export for network clients" &&
	ok export_without_nbd_clients_unknown_over_tcp ||
	notok export_without_nbd_clients_unknown_over_tcp "$err"

# --- plain loopback: read, write, several connections ------------------------

img=$work/image.bin
head -c 64M /dev/urandom >"$img"
sha=$(sha256sum <"$img")
attach_peer lab lab "$img"
size=$(nbdinfo --size "$(plain lab)" 2>&1)
[ "$size" = 67108864 ] && ok nbdinfo_over_tcp_reports_size ||
	notok nbdinfo_over_tcp_reports_size "$size"

nbdcopy "$(plain lab)" "$work/copy.bin" 2>"$work/err"
[ "$(sha256sum <"$work/copy.bin")" = "$sha" ] &&
	ok nbdcopy_over_tcp_byte_identical ||
	notok nbdcopy_over_tcp_byte_identical "$(cat "$work/err")"

head -c 1M /dev/urandom >"$work/patch.bin"
out=$(qemu-io -f raw -c "write -s $work/patch.bin 4M 1M" "$(plain lab)" 2>&1)
cmp -s <(dd if="$img" bs=1M skip=4 count=1 2>/dev/null) "$work/patch.bin" &&
	ok qemu_io_write_over_tcp_lands_in_image ||
	notok qemu_io_write_over_tcp_lands_in_image "$out"
sha=$(sha256sum <"$img")
out=$(qemu-img compare -f raw -F raw "$img" "$(plain lab)" 2>&1)
[ $? -eq 0 ] && ok qemu_img_compare_over_tcp_identical ||
	notok qemu_img_compare_over_tcp_identical "$out"
rm -f "$work/copy.bin"

# --- STARTTLS required --------------------------------------------------------

out=$(timeout 30 python3 "$here/tls_reqd.py" 127.0.0.1 $tport go 2>&1)
case $out in
"ERR_5 TLS is required"*) ok go_without_starttls_gets_err_tls_reqd ;;
*) notok go_without_starttls_gets_err_tls_reqd "$out" ;;
esac
out=$(timeout 30 python3 "$here/tls_reqd.py" 127.0.0.1 $tport list 2>&1)
[ "$out" = ERR_5 ] && ok list_without_starttls_gets_err_tls_reqd ||
	notok list_without_starttls_gets_err_tls_reqd "$out"
out=$(timeout 30 python3 "$here/tls_reqd.py" 127.0.0.1 $tport name 2>&1)
[ "$out" = eof ] && ok export_name_without_starttls_closed ||
	notok export_name_without_starttls_closed "$out"
out=$(timeout 30 python3 "$here/tls_reqd.py" 127.0.0.1 $nport starttls 2>&1)
[ "$out" = ERR_1 ] && ok starttls_on_plain_listener_unsupported ||
	notok starttls_on_plain_listener_unsupported "$out"

err=$(nbdinfo "nbd://127.0.0.1:$tport/lab" 2>&1)
[ $? -ne 0 ] && echo "$err" | grep -qi "tls" &&
	ok nbdinfo_without_tls_refused_where_required ||
	notok nbdinfo_without_tls_refused_where_required "$err"

size=$(nbdinfo --size "$(tls lab)" 2>&1)
[ "$size" = 67108864 ] && ok nbdinfo_nbds_after_starttls ||
	notok nbdinfo_nbds_after_starttls "$size"
nbdcopy "$(tls lab)" "$work/copy.bin" 2>"$work/err"
[ "$(sha256sum <"$work/copy.bin")" = "$sha" ] &&
	ok nbdcopy_nbds_byte_identical ||
	notok nbdcopy_nbds_byte_identical "$(cat "$work/err")"
rm -f "$work/copy.bin"

eject lab
wait_gone $ppid_ 30

daemon_survived daemon_survives_tcp_clients
stop_daemon
[ "${status:-1}" -eq 0 ] && ok sigterm_stops_with_nbd_listeners ||
	notok sigterm_stops_with_nbd_listeners "status ${status:-running}"

# --- client certificates mapped to users ------------------------------------

# client NAME CN [CA]: a folder as libnbd and qemu read it (ca-cert.pem,
# client-cert.pem, client-key.pem), the certificate's subject CN, signed
# by our CA or by another one.
client() {
	local d=$work/$1 ca=${3:-ca}
	mkdir -p "$d"
	cp "$work/ca.pem" "$d/ca-cert.pem"
	cert_sign "$2" "$work/$ca" "$d/client-key.pem" "$d/client-cert.pem" \
	    >/dev/null 2>&1
}
cert_ca rogue-CA "$work/rogue" >/dev/null 2>&1
client alice alice
client mallory mallory
client stranger stranger
client forged alice rogue

hash() {
	printf '%s\n' "$1" | "$top/build/sbin/vmediad" -P
}
audit=$work/audit.log
cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
nbd-listen = 127.0.0.1:$tport
user = nobody
chroot = $work/empty
web = $top/web
auth = users
audit = $audit
tls-certificate = $work/cert.pem
tls-key = $work/key.pem
nbd-client-ca = $work/ca.pem
nbd-connections-per-user = 4

[export "lab"]
socket = $work/lab.sock
nbd-clients = yes
allow = alice

[export "ro"]
socket = $work/ro.sock
read-only = yes
nbd-clients = yes
nbd-connections = 4
allow = alice mallory

[user "alice"]
password = $(hash alicepw)

[user "mallory"]
password = $(hash mallorypw)
CONF
start_daemon ro

certs() {
	echo "nbds://127.0.0.1:$tport/$1?tls-certificates=$work/$2"
}

# qemu_opts DIR EXPORT: qemu's TLS credentials object and image options.
qemu_opts() {
	echo "--object tls-creds-x509,id=tls0,endpoint=client,dir=$work/$1" \
	    "--image-opts driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$tport,export=$2,tls-creds=tls0"
}

attach_peer lab lab "$img" --basic alice:alicepw
labpid=$ppid_
size=$(nbdinfo --size "$(certs lab alice)" 2>&1)
[ "$size" = 67108864 ] && grep -q "certificate of user alice" "$log" &&
	ok nbdinfo_with_alices_certificate_is_alice ||
	notok nbdinfo_with_alices_certificate_is_alice "$size"

nbdcopy "$(certs lab alice)" "$work/copy.bin" 2>"$work/err"
[ "$(sha256sum <"$work/copy.bin")" = "$sha" ] &&
	ok nbdcopy_client_certificate_byte_identical ||
	notok nbdcopy_client_certificate_byte_identical "$(cat "$work/err")"
rm -f "$work/copy.bin"

head -c 1M /dev/urandom >"$work/patch.bin"
out=$(qemu-io $(qemu_opts alice lab) -c "write -s $work/patch.bin 8M 1M" 2>&1)
cmp -s <(dd if="$img" bs=1M skip=8 count=1 2>/dev/null) "$work/patch.bin" &&
	ok qemu_io_tls_creds_x509_write_lands_in_image ||
	notok qemu_io_tls_creds_x509_write_lands_in_image "$out"
sha=$(sha256sum <"$img")
out=$(qemu-img compare --object tls-creds-x509,id=tls0,endpoint=client,dir=$work/alice \
    --image-opts "driver=raw,file.filename=$img" "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$tport,export=lab,tls-creds=tls0" 2>&1)
[ $? -eq 0 ] && ok qemu_img_compare_tls_creds_x509_identical ||
	notok qemu_img_compare_tls_creds_x509_identical "$out"

out=$(qemu-img info $(qemu_opts anon lab) 2>&1)
nbdinfo "$(certs lab anon)" >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "without a user's certificate may not use export lab" &&
	ok refused_without_client_certificate ||
	notok refused_without_client_certificate "rc $rc: $out"

out=$(qemu-img info $(qemu_opts mallory lab) 2>&1)
nbdinfo "$(certs lab mallory)" >/dev/null 2>&1
rc=$?
sleep 0.5
[ $rc -ne 0 ] && echo "$out" | grep -q "user mallory may not use export lab" &&
    grep -q '"event": "access_denied".*"user": "mallory".*"export": "lab"' "$audit" &&
	ok user_not_allowed_refused_and_audited ||
	notok user_not_allowed_refused_and_audited "rc $rc: $out $(grep mallory "$audit")"

cp "$img" "$work/ro.bin"
attach_peer ro ro "$work/ro.bin" -r --basic mallory:mallorypw
got=$(nbdinfo --list --json "$(certs "" mallory)" 2>/dev/null | json '" ".join(e["export-name"] for e in d["exports"])')
[ "$got" = "ro" ] && ok list_names_only_what_the_user_may_use ||
	notok list_names_only_what_the_user_may_use "$got"
nbdcopy --connections=4 "$(certs ro mallory)" "$work/copy.bin" 2>"$work/err"
[ "$(sha256sum <"$work/copy.bin")" = "$sha" ] &&
	ok nbdcopy_four_tls_connections_read_only_byte_identical ||
	notok nbdcopy_four_tls_connections_read_only_byte_identical "$(cat "$work/err")"
rm -f "$work/copy.bin"

bad() {
	timeout 120 python3 "$here/bad_tls.py" $tport "$@" 2>&1
}
out=$(bad "$work/mallory" perexport 4 "$work/alice")
[ "$out" = ERR_2 ] && grep -q "export ro has its nbd-connections 4 network clients" "$log" &&
	ok fifth_client_of_export_past_nbd_connections_refused ||
	notok fifth_client_of_export_past_nbd_connections_refused "$out"
out=$(bad "$work/alice" peruser 4)
[ "$out" = "ok ok ok ok eof" ] && grep -q "user alice has nbd-connections-per-user 4 already" "$log" &&
	ok fifth_connection_of_user_past_its_bound_closed ||
	notok fifth_connection_of_user_past_its_bound_closed "$out"
roid=$ppid_

nbdinfo "$(certs lab stranger)" >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'certificate of "stranger" names no user' "$log" &&
	ok certificate_naming_no_user_refused ||
	notok certificate_naming_no_user_refused "rc $rc"

before=$(grep -c "certificate of user alice" "$log")
out=$(nbdinfo "$(certs lab forged)" 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$(grep -c "certificate of user alice" "$log")" = "$before" ] &&
	ok certificate_of_another_ca_fails_handshake ||
	notok certificate_of_another_ca_fails_handshake "rc $rc: $out"

out=$(bad "$work/alice" twice)
[ "$out" = "ERR_3 2" ] && ok starttls_twice_invalid_then_options_go_on ||
	notok starttls_twice_invalid_then_options_go_on "$out"
out=$(bad "$work/alice" garbage)
[ "$out" = eof ] && ok garbage_for_a_client_hello_ends_that_connection ||
	notok garbage_for_a_client_hello_ends_that_connection "$out"
out=$(bad "$work/alice" after)
[ "$out" = eof ] && ok option_in_the_clear_after_a_failed_handshake_closed ||
	notok option_in_the_clear_after_a_failed_handshake_closed "$out"
# More than max-connections (256): those past it closed at once, the
# others when the option phase's 10 s are up.
out=$(bad "$work/alice" idle 10000)
[ "$out" = "10000 closed" ] &&
    grep -q "max-connections 256 reached.*refusing a network NBD client" "$log" &&
    grep -q "closed: handshake timed out" "$log" &&
	ok ten_thousand_idle_connections_all_closed ||
	notok ten_thousand_idle_connections_all_closed "$out"

size=$(nbdinfo --size "$(certs lab alice)" 2>&1)
got=$(nbdinfo --size "$(certs ro mallory)" 2>&1)
[ "$size" = 67108864 ] && [ "$got" = 67108864 ] && ok peers_unharmed_after_refusals_and_bad_clients ||
	notok peers_unharmed_after_refusals_and_bad_clients "$size $got"
eject ro
wait_gone $roid 30

eject lab
wait_gone $labpid 30
daemon_survived daemon_survives_certificates_and_refusals
stop_daemon

# --- TLS-PSK identities mapped to users ---------------------------------------

# nbd-psk-file, as psktool writes it: alice's and mallory's keys. Clients
# hold their own files: libnbd's tls-psk-file, qemu's DIR/keys.psk.
psk() {
	mkdir -p "$work/psk-$1"
	printf '%s:%s\n' "$1" "$2" >"$work/psk-$1/keys.psk"
	chmod 600 "$work/psk-$1/keys.psk"
}
akey=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkey=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
wkey=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'alice:%s\nmallory:%s\n' "$akey" "$mkey" >"$work/server.psk"
chmod 600 "$work/server.psk"
psk alice "$akey"
psk mallory "$mkey"
psk wrong "$wkey" # alice's identity, another key
printf 'alice:%s\n' "$wkey" >"$work/psk-wrong/keys.psk"
psk eve "$akey" # an identity that names no user
printf 'eve:%s\n' "$akey" >"$work/psk-eve/keys.psk"
: >"$audit"
cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
nbd-listen = 127.0.0.1:$tport
user = nobody
chroot = $work/empty
web = $top/web
auth = users
audit = $audit
tls-certificate = $work/cert.pem
tls-key = $work/key.pem
nbd-psk-file = $work/server.psk

[export "lab"]
socket = $work/lab.sock
nbd-clients = yes
allow = alice

[user "alice"]
password = $(hash alicepw)

[user "mallory"]
password = $(hash mallorypw)
CONF
start_daemon lab

# pskuri EXPORT WHO: libnbd's URI with WHO's key file and identity.
pskuri() {
	local id=$2
	case $2 in wrong) id=alice ;; esac
	echo "nbds://$id@127.0.0.1:$tport/$1?tls-psk-file=$work/psk-$2/keys.psk"
}
# qemu_psk WHO: qemu's PSK credentials object (DIR/keys.psk, username).
qemu_psk() {
	local id=$1
	case $1 in wrong) id=alice ;; esac
	echo "--object tls-creds-psk,id=tls0,endpoint=client,dir=$work/psk-$1,username=$id"
}
qnbd="driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$tport,export=lab,tls-creds=tls0"

attach_peer lab lab "$img" --basic alice:alicepw
labpid=$ppid_
size=$(nbdinfo --size "$(pskuri lab alice)" 2>&1)
[ "$size" = 67108864 ] && grep -q "TLS-PSK identity of user alice (TLSv1.3, TLS_AES_128_GCM_SHA256)" "$log" &&
	ok nbdinfo_tls_psk_identity_is_alice ||
	notok nbdinfo_tls_psk_identity_is_alice "$size"
proto=$(nbdinfo --json "$(pskuri lab alice)" 2>&1 | json 'd["protocol"]')
[ "$proto" = newstyle-fixed ] && ok nbdinfo_tls_psk_newstyle_fixed ||
	notok nbdinfo_tls_psk_newstyle_fixed "$proto"

nbdcopy "$(pskuri lab alice)" "$work/copy.bin" 2>"$work/err"
[ "$(sha256sum <"$work/copy.bin")" = "$sha" ] &&
	ok nbdcopy_tls_psk_byte_identical ||
	notok nbdcopy_tls_psk_byte_identical "$(cat "$work/err")"
rm -f "$work/copy.bin"

head -c 1M /dev/urandom >"$work/patch.bin"
out=$(qemu-io $(qemu_psk alice) --image-opts "$qnbd" \
    -c "write -s $work/patch.bin 12M 1M" 2>&1)
cmp -s <(dd if="$img" bs=1M skip=12 count=1 2>/dev/null) "$work/patch.bin" &&
	ok qemu_io_tls_creds_psk_write_lands_in_image ||
	notok qemu_io_tls_creds_psk_write_lands_in_image "$out"
sha=$(sha256sum <"$img")
out=$(qemu-img compare $(qemu_psk alice) --image-opts \
    "driver=raw,file.filename=$img" "$qnbd" 2>&1)
[ $? -eq 0 ] && ok qemu_img_compare_tls_creds_psk_identical ||
	notok qemu_img_compare_tls_creds_psk_identical "$out"
nbdcopy "$(pskuri lab alice)" "$work/copy.bin" 2>"$work/err"
[ "$(sha256sum <"$work/copy.bin")" = "$sha" ] &&
	ok nbdcopy_tls_psk_reads_the_write_back ||
	notok nbdcopy_tls_psk_reads_the_write_back "$(cat "$work/err")"
rm -f "$work/copy.bin"

out=$(nbdinfo --size "$(pskuri lab wrong)" 2>&1)
rc=$?
qout=$(qemu-img info $(qemu_psk wrong) --image-opts "$qnbd" 2>&1)
qrc=$?
sleep 0.5
n=$(grep -c '"event": "login_failed".*"user": "alice".*TLS-PSK key of identity' "$audit")
[ $rc -ne 0 ] && [ $qrc -ne 0 ] && [ "$n" = 2 ] &&
    grep -q "TLS-PSK key of identity \"alice\" is not user alice's" "$log" &&
	ok tls_psk_wrong_key_refused_and_audited ||
	notok tls_psk_wrong_key_refused_and_audited "rc $rc $qrc, $n audited: $out"

out=$(nbdinfo --size "$(pskuri lab eve)" 2>&1)
rc=$?
qout=$(qemu-img info $(qemu_psk eve) --image-opts "$qnbd" 2>&1)
qrc=$?
sleep 0.5
n=$(grep -c '"event": "login_failed".*"user": "eve".*names no user with a key' "$audit")
[ $rc -ne 0 ] && [ $qrc -ne 0 ] && [ "$n" = 2 ] &&
	ok tls_psk_unknown_identity_refused_and_audited ||
	notok tls_psk_unknown_identity_refused_and_audited "rc $rc $qrc, $n audited: $out"

out=$(qemu-img info $(qemu_psk mallory) --image-opts "$qnbd" 2>&1)
nbdinfo "$(pskuri lab mallory)" >/dev/null 2>&1
rc=$?
sleep 0.5
[ $rc -ne 0 ] && echo "$out" | grep -q "user mallory may not use export lab" &&
    grep -q "TLS-PSK identity of user mallory" "$log" &&
    grep -q '"event": "access_denied".*"user": "mallory".*"export": "lab"' "$audit" &&
	ok tls_psk_user_not_allowed_refused_and_audited ||
	notok tls_psk_user_not_allowed_refused_and_audited "rc $rc: $out"

! grep -q "$akey\|$mkey\|$wkey" "$log" "$audit" &&
	ok tls_psk_keys_never_logged ||
	notok tls_psk_keys_never_logged "a key in the log or the audit"

size=$(nbdinfo --size "$(pskuri lab alice)" 2>&1)
[ "$size" = 67108864 ] && ok tls_psk_peer_unharmed_after_refusals ||
	notok tls_psk_peer_unharmed_after_refusals "$size"

# A reload reads the file again: alice's new key works, her old one not.
printf 'alice:%s\n' "$wkey" >"$work/server.psk"
kill -HUP $pid
for i in $(seq 50); do
	grep -q "sessiond: config 1 in force" "$log" && break
	sleep 0.1
done
size=$(nbdinfo --size "$(pskuri lab wrong)" 2>&1)
nbdinfo --size "$(pskuri lab alice)" >/dev/null 2>&1
rc=$?
[ "$size" = 67108864 ] && [ $rc -ne 0 ] && ok tls_psk_file_read_again_on_reload ||
	notok tls_psk_file_read_again_on_reload "rc $rc: $size $(grep -i 'reload\|config 1' "$log" | tail -2)"
eject lab
wait_gone $labpid 30
daemon_survived daemon_survives_tls_psk_clients
stop_daemon

# --- the reference's composition: an old-style-only upstream over TLS -----

# nbdkit -o speaks only the old-style handshake; vmediad takes it as an
# export's source (nbdkit's nbd plugin through libnbd) and serves it to
# network clients as fixed new-style, STARTTLS required.
oport=18413
nbdkit -o -f -i 127.0.0.1 -p $oport file "$img" >"$work/old.log" 2>&1 &
oldpid=$!
for i in $(seq 50); do
	nbdinfo --size "nbd://127.0.0.1:$oport" >/dev/null 2>&1 && break
	sleep 0.1
done
proto=$(nbdinfo --json "nbd://127.0.0.1:$oport" 2>&1 | json 'd["protocol"]')
cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
nbd-listen = 127.0.0.1:$tport
user = nobody
chroot = $work/empty
web = $top/web
auth = none
tls-certificate = $work/cert.pem
tls-key = $work/key.pem

[export "old"]
description = An old-style-only upstream
socket = $work/old.sock
read-only = yes
source = nbd://127.0.0.1:$oport/
nbd-clients = yes
CONF
start_daemon old
for i in $(seq 100); do
	curl -s "$base/api/exports" | grep -q '"state": "attached"' && break
	sleep 0.1
done
sha=$(sha256sum <"$img")
nbdcopy "$(tls old)" "$work/copy.bin" 2>"$work/err"
[ "$proto" = oldstyle ] && [ "$(sha256sum <"$work/copy.bin")" = "$sha" ] &&
	ok oldstyle_upstream_served_newstyle_over_tls_byte_identical ||
	notok oldstyle_upstream_served_newstyle_over_tls_byte_identical \
	    "upstream $proto: $(cat "$work/err") $(grep -i 'source\|nbdkit' "$log" | tail -2)"
rm -f "$work/copy.bin"
stop_daemon
kill $oldpid 2>/dev/null
wait $oldpid 2>/dev/null

rm -f "$img" "$work/patch.bin" "$work/ro.bin"
test_done
