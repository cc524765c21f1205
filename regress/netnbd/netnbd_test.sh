#!/bin/bash
# NBD clients over TCP: vmediad's nbd-listen. A plain listener on
# loopback (the config says "plain") serves nbdinfo, nbdcopy and qemu-img
# the exports with nbd-clients = yes; on a listener without "plain" a
# client must STARTTLS first: one that skips it gets ERR_TLS_REQD, one
# that does it reads through TLS.
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
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR

# A CA made here, and the server's certificate signed by it.
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -subj /CN=netnbd-test-CA -days 2 \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign \
    -keyout "$work/ca.key" -out "$work/ca.pem" >/dev/null 2>&1
openssl req $ec -subj /CN=localhost -keyout "$work/key.pem" \
    -out "$work/srv.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/srv.csr" -CA "$work/ca.pem" \
    -CAkey "$work/ca.key" -CAcreateserial -days 2 -extfile "$work/san.ext" \
    -out "$work/cert.pem" >/dev/null 2>&1
chmod 600 "$work/key.pem"
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

attach_peer() {
	local name=$1 export=$2 image=$3
	shift 3
	start_peer "$name" "ws://127.0.0.1:$port/nbd/$export" "$image" "$@"
	for i in $(seq 30); do
		curl -s "$base/api/exports" | grep -q "\"name\": \"$export\".*\"state\": \"active\"" && break
		sleep 0.1
	done
}

eject() {
	curl -s -X POST "$base/api/exports/$1/eject" >/dev/null
}

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

rm -f "$img" "$work/patch.bin"
test_done
