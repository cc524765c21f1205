#!/bin/bash
# Export sources through nbdkit as privsep/source.c starts it: upstream
# nbdkit (file plugin) on a Unix socket, on TCP loopback, with TLS by a
# pre-shared key and by X.509 certificates made here, and qemu-nbd serving
# a qcow2 file; each read whole through the socketpair with libnbd and
# compared with the image. Also what the nbdkit child is (/proc), what
# its argument list holds, and what a wrong key or an untrusted
# certificate does. Root only (nbdkit is started as nobody); run it in a
# network namespace of its own (ports 18809-18814 on loopback). HTTPS
# goes through the curl plugin to nginx, with the same test CA.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"
. "$top/regress/lib/certs.sh"
. "$top/regress/lib/nginx.sh"

tool=$top/build/regress/source_tool
work=$top/build/regress/source
py=/usr/bin/python3 # Debian's, which has python3-libnbd

if [ "$(id -u)" -ne 0 ]; then
	notok source_tests_need_root "run as root: nbdkit is started as nobody"
	exit 1
fi
for cmd in nbdkit qemu-nbd qemu-img qemu-io openssl nginx; do
	if ! command -v $cmd >/dev/null; then
		notok source_tools_installed "no $cmd (make deps)"
		exit 1
	fi
done
if ! $py -c 'import nbd' 2>/dev/null; then
	notok source_tools_installed "no python3-libnbd (make deps)"
	exit 1
fi
unset SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE

upstreams=
cleanup() {
	local p
	for p in $upstreams; do kill "$p" 2>/dev/null; done
	[ -f "$work/outage.pid" ] && kill "$(cat "$work/outage.pid")" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT

rm -rf "$work"
mkdir -p "$work/empty" "$work/priv" "$work/tls"
chmod 755 "$work" "$work/empty" "$work/priv"

# 6 MiB of random bytes with a hole, so that sizes and offsets matter.
img=$work/image.raw
head -c $((4 << 20)) /dev/urandom >"$img"
truncate -s $((6 << 20)) "$img"
head -c 4096 /dev/urandom >>"$img"
want_img="$(stat -c %s "$img") $(sha256sum "$img" | cut -d' ' -f1)"

# wait_for PATH|PORT: up to 10 s for a socket file or a listening port.
wait_for() {
	local i
	for i in $(seq 100); do
		case $1 in
		/*) [ -S "$1" ] && return 0 ;;
		*) (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0 ;;
		esac
		sleep 0.1
	done
	return 1
}

# upstream NAME PATH|PORT COMMAND...: starts a server in the background.
upstream() {
	local name=$1 where=$2
	shift 2
	"$@" >"$work/$name.log" 2>&1 &
	upstreams="$upstreams $!"
	if ! wait_for "$where"; then
		notok "source_upstream_${name}_starts" "$(tail -2 "$work/$name.log")"
		return 1
	fi
	case $where in /*) chmod 666 "$where" ;; esac
}

# conf NAME LINES...: a config whose export "e" has these lines.
conf() {
	local name=$1
	shift
	{
		printf '[vmediad]\nlisten = 127.0.0.1:8080\nuser = nobody\n'
		printf 'chroot = %s\nauth = none\n\n[export "e"]\n' "$work/empty"
		printf 'socket = %s\n' "$work/e.sock"
		printf '%s\n' "$@"
	} >"$work/$name.conf"
}

# read_source NAME: reads export "e" of NAME.conf through source.c's
# nbdkit; its "SIZE SHA256" in $got, stderr in NAME.err.
read_source() {
	got=$(STATUS_OUT=${STATUS_OUT:-} "$tool" "$work/$1.conf" e \
	    "$work/priv/$1" -- $py "$here/read.py" 2>"$work/$1.err")
}

# expect_read TEST NAME WANT: the read gives WANT.
expect_read() {
	read_source "$2"
	if [ "$got" = "$3" ]; then
		ok "$1"
	else
		notok "$1" "got '$got', want '$3': $(tail -3 "$work/$2.err" | tr '\n' ' ')"
	fi
}

# expect_refused TEST NAME PATTERN: the read fails, stderr matches PATTERN.
expect_refused() {
	read_source "$2"
	if [ -n "$got" ]; then
		notok "$1" "read '$got' though it should be refused"
	elif ! grep -Eq "$3" "$work/$2.err"; then
		notok "$1" "no /$3/ in: $(tail -3 "$work/$2.err" | tr '\n' ' ')"
	else
		ok "$1"
	fi
}

# --- plain NBD: a Unix socket and TCP loopback -----------------------------

upstream unix "$work/up.sock" nbdkit -f -U "$work/up.sock" file "$img"
conf unix "source = nbd+unix:///?socket=$work/up.sock"
STATUS_OUT=$work/unix.status expect_read \
    source_nbd_unix_reads_the_upstream_byte_identical unix "$want_img"

upstream tcp 18809 nbdkit -f -i 127.0.0.1 -p 18809 file "$img"
conf tcp "source = nbd://127.0.0.1:18809/"
expect_read source_nbd_tcp_reads_the_upstream_byte_identical tcp "$want_img"
conf tcp-name "source = nbd://localhost:18809"
expect_read source_nbd_tcp_by_name_reads_the_upstream tcp-name "$want_img"

# --- what nbdkit is: /proc of the child while it served ---------------------

status=$work/unix.status
field() { sed -n "s/^$1:[[:space:]]*//p" "$status" | tr -s '\t ' ' '; }
nobody=$(id -u nobody)
nogroup=$(id -g nobody)
[ "$(field Uid)" = "$nobody $nobody $nobody $nobody" ] &&
    [ "$(field Gid)" = "$nogroup $nogroup $nogroup $nogroup" ] &&
    [ -z "$(field Groups)" ] &&
	ok source_nbdkit_runs_as_the_unprivileged_user ||
	notok source_nbdkit_runs_as_the_unprivileged_user \
	    "Uid '$(field Uid)', Gid '$(field Gid)', Groups '$(field Groups)'"
caps="$(field CapInh) $(field CapPrm) $(field CapEff) $(field CapBnd) $(field CapAmb)"
[ "$caps" = "0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000" ] &&
	ok source_nbdkit_has_no_capabilities_even_bounding ||
	notok source_nbdkit_has_no_capabilities_even_bounding "$caps"
[ "$(field NoNewPrivs)" = 1 ] &&
	ok source_nbdkit_has_no_new_privs ||
	notok source_nbdkit_has_no_new_privs "NoNewPrivs '$(field NoNewPrivs)'"
# As source.c documents: no seccomp filter of ours (see its head comment).
[ "$(field Seccomp)" = 0 ] &&
	ok source_nbdkit_seccomp_mode_is_as_documented ||
	notok source_nbdkit_seccomp_mode_is_as_documented \
	    "Seccomp '$(field Seccomp)'"
# Nothing of ours is open in it: past stdio (nbdkit -s moves its socket
# off 0 and 1), only sockets, pipes and anonymous inodes, no path (the
# config, a key, a folder). Here its stderr is the test's file.
fds=$(sed -n 's/^fd \([0-9]*\) //p' "$status")
paths=$(grep -E '^fd [0-9]+ ' "$status" | grep -Ev '^fd [012] ' |
    grep -Ev '^fd [0-9]+ (socket|pipe|anon_inode):' | tr '\n' ' ')
if [ -z "$paths" ] && grep -Eq '^fd [0-9]+ socket:' "$status"; then
	ok source_nbdkit_has_only_its_socket_open
else
	notok source_nbdkit_has_only_its_socket_open "${paths:-no socket}"
fi
[ -n "$fds" ] || notok source_status_recorded "no fds in $status"

# --- TLS with a pre-shared key ----------------------------------------------

umask 077
echo "alice:$(openssl rand -hex 32)" >"$work/tls/keys.psk"
echo "alice:$(openssl rand -hex 32)" >"$work/tls/wrong.psk"
umask 022
upstream psk 18810 nbdkit -f -i 127.0.0.1 -p 18810 --tls=require \
    --tls-psk="$work/tls/keys.psk" file "$img"
conf psk "source = nbds://127.0.0.1:18810/" "source-psk = $work/tls/keys.psk"
expect_read source_nbds_psk_reads_the_upstream_byte_identical psk "$want_img"

# The key travels as a file nobody may read, never as an argument.
argv=$("$tool" "$work/psk.conf" e "$work/priv/psk-argv" 2>&1)
key=$(cut -d: -f2 "$work/tls/keys.psk")
if [ -z "$key" ] || printf '%s' "$argv" | grep -q "$key"; then
	notok source_psk_is_not_in_the_argument_list "$argv"
elif ! printf '%s\n' "$argv" | grep -qx "tls-psk=$work/priv/psk-argv/keys.psk"; then
	notok source_psk_is_not_in_the_argument_list "no tls-psk=FILE in: $argv"
else
	ok source_psk_is_not_in_the_argument_list
fi
perm=$(stat -c '%U %a' "$work/priv/psk-argv" "$work/priv/psk-argv/keys.psk" |
    tr '\n' ' ')
[ "$perm" = "nobody 700 nobody 600 " ] &&
	cmp -s "$work/tls/keys.psk" "$work/priv/psk-argv/keys.psk" &&
	ok source_private_folder_is_the_users_alone ||
	notok source_private_folder_is_the_users_alone "$perm"

# source-overlay: the cow filter outermost, nothing asked read-only, and
# TMPDIR (where the filter keeps its file) the private folder's overlay
# folder, the account's alone.
conf overlay "source = nbd+unix:///?socket=$work/up.sock" "source-overlay = yes"
argv=$("$tool" "$work/overlay.conf" e "$work/priv/overlay-argv" 2>&1)
filters=$(printf '%s\n' "$argv" | grep -E '^--(filter|readonly)' | tr '\n' ' ')
perm=$(stat -c '%U %a' "$work/priv/overlay-argv/overlay" 2>&1)
if [ "$filters" != "--filter=cow --filter=retry " ]; then
	notok source_overlay_adds_the_cow_filter_with_a_private_tmpdir "filters: $filters"
elif ! printf '%s\n' "$argv" | grep -qx "env TMPDIR=$work/priv/overlay-argv/overlay"; then
	notok source_overlay_adds_the_cow_filter_with_a_private_tmpdir "no TMPDIR in: $argv"
elif [ "$perm" != "nobody 700" ]; then
	notok source_overlay_adds_the_cow_filter_with_a_private_tmpdir "overlay folder: $perm"
else
	ok source_overlay_adds_the_cow_filter_with_a_private_tmpdir
fi
argv=$("$tool" "$work/unix.conf" e "$work/priv/plain-argv" 2>&1)
if printf '%s\n' "$argv" | grep -Eq '^(--filter=cow|env TMPDIR=)' ||
    [ -e "$work/priv/plain-argv/overlay" ]; then
	notok source_without_overlay_has_no_cow_filter_nor_tmpdir "$argv"
else
	ok source_without_overlay_has_no_cow_filter_nor_tmpdir
fi

conf wrong-psk "source = nbds://127.0.0.1:18810/" \
    "source-psk = $work/tls/wrong.psk"
expect_refused source_nbds_wrong_psk_is_refused_in_the_tls_handshake \
    wrong-psk 'gnutls_handshake'

conf plain-to-tls "source = nbd://127.0.0.1:18810/"
expect_refused source_nbd_without_tls_to_a_tls_server_is_refused \
    plain-to-tls 'TLS|tls'

# --- TLS with X.509: a CA, the server's and a client's certificate ----------

t=$work/tls
# sign NAME CA EXTENSION...: a key and a certificate for NAME signed by CA.
sign() {
	cert_sign "$1" "$t/$2" "$t/$1.key" "$t/$1.pem" "${@:3}"
}
if { cert_ca test-ca "$t/test-ca" && cert_ca other-ca "$t/other-ca" &&
    sign localhost test-ca subjectAltName=DNS:localhost,IP:127.0.0.1 \
        extendedKeyUsage=serverAuth &&
    sign client test-ca extendedKeyUsage=clientAuth; } 2>/dev/null; then
	mkdir -p "$t/server"
	cp "$t/test-ca.pem" "$t/server/ca-cert.pem"
	cp "$t/localhost.pem" "$t/server/server-cert.pem"
	cp "$t/localhost.key" "$t/server/server-key.pem"
	chmod 600 "$t"/*.key "$t/server/server-key.pem"
	upstream x509 18811 nbdkit -f -i 127.0.0.1 -p 18811 --tls=require \
	    --tls-certificates="$t/server" --tls-verify-peer file "$img"
	conf x509 "source = nbds://localhost:18811/" \
	    "source-ca = $t/test-ca.pem" "source-certificate = $t/client.pem" \
	    "source-key = $t/client.key"
	expect_read source_nbds_x509_with_a_client_certificate_reads_byte_identical \
	    x509 "$want_img"
	conf untrusted "source = nbds://localhost:18811/" \
	    "source-ca = $t/other-ca.pem" "source-certificate = $t/client.pem" \
	    "source-key = $t/client.key"
	expect_refused source_nbds_untrusted_server_certificate_is_refused \
	    untrusted 'certificate verification'
	conf no-client "source = nbds://localhost:18811/" \
	    "source-ca = $t/test-ca.pem"
	expect_refused source_nbds_without_the_client_certificate_is_refused \
	    no-client 'gnutls|TLS|certificate'
else
	notok source_x509_material_made "openssl failed"
fi

# --- qemu-nbd serving a qcow2 image -----------------------------------------

qcow=$work/disk.qcow2
qemu-img create -q -f qcow2 "$qcow" 16M &&
    qemu-io -f qcow2 -c 'write -P 0xa5 0 1M' -c 'write -P 0x3c 9M 512k' \
	"$qcow" >/dev/null &&
    qemu-img convert -f qcow2 -O raw "$qcow" "$work/disk.raw"
want_qcow="$(stat -c %s "$work/disk.raw") $(sha256sum "$work/disk.raw" | cut -d' ' -f1)"
upstream qemu "$work/qemu.sock" qemu-nbd --persistent -r -f qcow2 \
    -k "$work/qemu.sock" "$qcow"
conf qemu "read-only = yes" "source = nbd+unix:///?socket=$work/qemu.sock"
expect_read source_qemu_nbd_qcow2_reads_the_guest_visible_bytes qemu \
    "$want_qcow"

# --- HTTPS through the curl plugin: nginx with the test CA -------------------

www=$work/www
mkdir -p "$www/private" "$work/nginx"
chmod 755 "$www" "$www/private" "$t"
head -c $((64 << 20)) /dev/urandom >"$www/image.iso"
cp "$www/image.iso" "$www/private/image.iso"
chmod 644 "$www/image.iso" "$www/private/image.iso" "$t/localhost.pem"
want_iso="$(stat -c %s "$www/image.iso") $(sha256sum "$www/image.iso" | cut -d' ' -f1)"
# HTTP Basic: nginx checks an apr1 hash; the source has the password.
password=$(openssl rand -hex 12)
printf 'carol:%s\n' "$(openssl passwd -apr1 "$password")" >"$t/htpasswd"
chmod 644 "$t/htpasswd"
umask 077
printf 'carol:%s\n' "$password" >"$t/web.cred"
printf 'carol:wrong-%s\n' "$password" >"$t/wrong.cred"
umask 022
mkdir -p "$t/cas"
cp "$t/test-ca.pem" "$t/cas/test-ca.pem"
openssl rehash "$t/cas" 2>/dev/null || c_rehash "$t/cas" >/dev/null 2>&1
nginx_conf "$work/nginx" <<NGINX
		listen 127.0.0.1:18812 ssl;
		listen 127.0.0.1:18813;
		server_name localhost;
		ssl_certificate $t/localhost.pem;
		ssl_certificate_key $t/localhost.key;
		root $www;
		location = /moved.iso { return 301 /image.iso; }
		location /private/ {
			auth_basic "vmediad test";
			auth_basic_user_file $t/htpasswd;
		}
NGINX
if upstream nginx 18812 nginx -c "$work/nginx/nginx.conf"; then
	conf https "read-only = yes" \
	    "source = https://localhost:18812/image.iso" \
	    "source-ca = $t/test-ca.pem"
	expect_read source_https_64m_image_reads_byte_identical https "$want_iso"
	# libcurl's built-in CA folder must not stand beside source-ca.
	argv=$("$tool" "$work/https.conf" e "$work/priv/https-argv" 2>&1)
	d=$work/priv/https-argv
	if printf '%s\n' "$argv" | grep -qx "cainfo=$d/ca-cert.pem" &&
	    printf '%s\n' "$argv" | grep -qx "capath=$d/no-cas" &&
	    [ "$(stat -c '%U %a' "$d/no-cas")" = "nobody 700" ] &&
	    [ -z "$(ls -A "$d/no-cas")" ]; then
		ok source_https_ca_file_is_trusted_alone_with_an_empty_capath
	else
		notok source_https_ca_file_is_trusted_alone_with_an_empty_capath "$argv"
	fi
	conf https-cas "read-only = yes" \
	    "source = https://127.0.0.1:18812/image.iso" "source-ca = $t/cas"
	expect_read source_https_with_a_ca_folder_reads_byte_identical \
	    https-cas "$want_iso"
	conf https-auth "read-only = yes" \
	    "source = https://localhost:18812/private/image.iso" \
	    "source-ca = $t/test-ca.pem" "source-credentials = $t/web.cred"
	expect_read source_https_with_credentials_reads_byte_identical \
	    https-auth "$want_iso"
	argv=$("$tool" "$work/https-auth.conf" e "$work/priv/auth-argv" 2>&1)
	if printf '%s' "$argv" | grep -q "$password"; then
		notok source_https_password_is_not_in_the_argument_list "$argv"
	elif ! printf '%s\n' "$argv" | grep -qx "password=+$work/priv/auth-argv/password"; then
		notok source_https_password_is_not_in_the_argument_list "no password=+FILE: $argv"
	else
		ok source_https_password_is_not_in_the_argument_list
	fi
	conf https-badauth "read-only = yes" \
	    "source = https://localhost:18812/private/image.iso" \
	    "source-ca = $t/test-ca.pem" "source-credentials = $t/wrong.cred"
	expect_refused source_https_wrong_password_is_refused_with_401 \
	    https-badauth '401'
	conf https-404 "read-only = yes" \
	    "source = https://localhost:18812/missing.iso" \
	    "source-ca = $t/test-ca.pem"
	expect_refused source_https_404_is_refused_saying_404 https-404 '404'
	conf https-301 "read-only = yes" \
	    "source = https://localhost:18812/moved.iso" \
	    "source-ca = $t/test-ca.pem"
	# followlocation=false: a redirect is not followed. nbdkit 1.32's
	# curl plugin then says the server "does not support 'range'
	# requests", which vmediad will have to put in plain words.
	: >"$work/nginx/access.log"
	expect_refused source_https_redirect_is_refused_not_followed https-301 \
	    "does not support 'range'"
	if grep -q 'GET /image.iso' "$work/nginx/access.log"; then
		notok source_https_redirect_target_is_never_fetched \
		    "$(grep 'image.iso' "$work/nginx/access.log" | head -1)"
	else
		ok source_https_redirect_target_is_never_fetched
	fi
	conf https-untrusted "read-only = yes" \
	    "source = https://localhost:18812/image.iso" \
	    "source-ca = $t/other-ca.pem"
	expect_refused source_https_untrusted_certificate_is_refused \
	    https-untrusted 'certificate'
	conf http "read-only = yes" "source = http://127.0.0.1:18813/image.iso" \
	    "source-http = yes"
	expect_read source_plain_http_with_source_http_reads_byte_identical \
	    http "$want_iso"
fi

# --- an upstream that goes away for 2 s mid-read ----------------------------

# The read goes on while the upstream is down: the retry filter reopens
# the nbd plugin until it is back, and the read ends without an error.
upstream_outage() {
	nbdkit -f -P "$work/outage.pid" -i 127.0.0.1 -p 18814 file "$www/image.iso" \
	    >>"$work/outage.log" 2>&1 &
	disown $! # killed on purpose below: no job notice
}
upstream_outage
if wait_for 18814; then
	conf outage "source = nbd://127.0.0.1:18814/"
	rm -f "$work/outage.down"
	export MIDREAD_WAIT=$work/outage.down
	export MIDREAD_CMD="kill -9 \$(cat $work/outage.pid); touch $work/outage.down; sleep 2;
	    nbdkit -f -P $work/outage.pid -i 127.0.0.1 -p 18814 file $www/image.iso \
	    >>$work/outage.log 2>&1 &"
	expect_read source_upstream_stopped_2s_mid_read_completes_the_read \
	    outage "$want_iso"
	unset MIDREAD_CMD MIDREAD_WAIT
	# ... and the outage did happen: nbdkit found the upstream gone (reset
	# or closed mid-read, or refused on a retry; which it sees first is
	# timing). The read waits for the kill (MIDREAD_WAIT), so that a read
	# done before it cannot pass for one that rode out an outage.
	grep -Eq "Connection (refused|reset by peer)|invalid state: CLOSED" "$work/outage.err" &&
		ok source_upstream_outage_happened_during_the_read ||
		notok source_upstream_outage_happened_during_the_read \
		    "no reset, close or refused upstream in: $(tail -2 "$work/outage.err" | tr '\n' ' ')"
else
	notok source_upstream_outage_starts "$(tail -2 "$work/outage.log")"
fi

# --- through the daemon: sources served on export sockets ------------------

# vmediad (test build) with four socket exports whose sources are the
# upstreams above: nbd+unix, nbd:// over TCP, nbds:// with the PSK, and
# https:// with the test CA and Basic credentials (read-only). Its
# launcher starts each nbdkit as nobody under the launcher's deny-list,
# sessiond runs the NBD handshake and relay on nbdkit's socket without
# WebSocket framing, and nbdcopy reads each export socket whole. nbdkit
# killed ends its session, and the source attaches again; the daemon
# stopped leaves no nbdkit and no folder behind.
vm=$top/build/test/sbin/vmediad
vlog=$work/vmediad.log
{
	printf '[vmediad]\nlisten = 127.0.0.1:18815\nuser = nobody\n'
	printf 'chroot = %s\nauth = none\naudit = %s\n' "$work/empty" \
	    "$work/audit.log"
	printf '\n[export "e"]\nsocket = %s\nsource = nbd+unix:///?socket=%s\n' \
	    "$work/e.sock" "$work/up.sock"
	printf '\n[export "t"]\nsocket = %s\nsource = nbd://127.0.0.1:18809/\n' \
	    "$work/t.sock"
	printf '\n[export "s"]\nsocket = %s\nsource = nbds://127.0.0.1:18810/\n' \
	    "$work/s.sock"
	printf 'source-psk = %s\n' "$work/tls/keys.psk"
	printf '\n[export "h"]\nsocket = %s\nread-only = yes\n' "$work/h.sock"
	printf 'source = https://localhost:18812/private/image.iso\n'
	printf 'source-ca = %s\nsource-credentials = %s\n' "$t/test-ca.pem" \
	    "$t/web.cred"
	# Writable through the cow filter: a writable upstream, which must
	# stay untouched, and an https one, read-only by nature.
	printf '\n[export "w"]\nsocket = %s\nsource-overlay = yes\n' \
	    "$work/w.sock"
	printf 'source = nbd+unix:///?socket=%s\n' "$work/up.sock"
	printf '\n[export "hw"]\nsocket = %s\nsource-overlay = yes\n' \
	    "$work/hw.sock"
	printf 'source = https://localhost:18812/image.iso\n'
	printf 'source-ca = %s\n' "$t/test-ca.pem"
} >"$work/daemon.conf"
rm -f "$work/audit.log"
"$vm" -d -v -f "$work/daemon.conf" >"$vlog" 2>&1 &
vpid=$!
upstreams="$upstreams $vpid"
# wait_line PATTERN [COUNT]: the log has COUNT (1) such lines within 10 s.
wait_line() {
	local i
	for i in $(seq 100); do
		[ "$(grep -c -- "$1" "$vlog")" -ge "${2:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}
# copy_export NAME: nbdcopy of export NAME's socket; "SIZE SHA256" in $got.
copy_export() {
	rm -f "$work/copy-$1.raw"
	got=
	nbdcopy "nbd+unix:///?socket=$work/$1.sock" "$work/copy-$1.raw" \
	    2>"$work/copy-$1.err" &&
		got="$(stat -c %s "$work/copy-$1.raw") $(sha256sum "$work/copy-$1.raw" | cut -d' ' -f1)"
}
for x in e:nbd_unix t:nbd_tcp s:nbds_psk h:https_credentials; do
	name=${x%%:*}
	want=$want_img
	[ "$name" = h ] && want=$want_iso
	test=source_daemon_${x#*:}_export_socket_reads_byte_identical_by_nbdcopy
	if ! wait_line "export $name: peer serves"; then
		notok "$test" "no session: $(grep "export $name" "$vlog" | tail -2 | tr '\n' ' ')"
		continue
	fi
	copy_export "$name"
	[ "$got" = "$want" ] && ok "$test" ||
		notok "$test" "got '$got': $(tail -2 "$work/copy-$name.err" | tr '\n' ' ')"
done

# /api/exports: each source's URI and state, and none of its secrets.
api=$(curl -s http://127.0.0.1:18815/api/exports)
key=$(cut -d: -f2 "$work/tls/keys.psk")
have=$(printf '%s' "$api" | $py -c '
import json, sys
d = {e["name"]: e.get("source") for e in json.load(sys.stdin)}
print(json.dumps([d.get("e"), d.get("t"), d.get("s")], sort_keys=True))' 2>&1)
want="[{\"state\": \"attached\", \"uri\": \"nbd+unix:///?socket=$work/up.sock\"}, {\"state\": \"attached\", \"uri\": \"nbd://127.0.0.1:18809/\"}, {\"state\": \"attached\", \"uri\": \"nbds://127.0.0.1:18810/\"}]"
if [ "$have" != "$want" ]; then
	notok source_daemon_api_exports_shows_each_source_attached "$have"
elif printf '%s' "$api" | grep -Eq "keys.psk|$key|alice"; then
	notok source_daemon_api_exports_shows_each_source_attached "a secret in: $api"
else
	ok source_daemon_api_exports_shows_each_source_attached
fi

l=$(pgrep -P "$vpid" -x launcher)
k=$(tr '\0' ' ' </dev/null; for p in $(pgrep -P "$l" -x nbdkit); do
	tr '\0' ' ' <"/proc/$p/cmdline" | grep -q "socket=$work/up.sock" &&
	    ! tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- --filter=cow &&
	    echo "$p"
done)
st=/proc/$k/status
f() { sed -n "s/^$1:[[:space:]]*//p" "$st" | tr -s '\t ' ' '; }
have="$(f Uid) / $(f CapEff) $(f CapBnd) $(f CapAmb) / $(f NoNewPrivs) $(f Seccomp)"
want="$nobody $nobody $nobody $nobody / 0000000000000000 0000000000000000 0000000000000000 / 1 2"
[ -n "$k" ] && [ "$have" = "$want" ] &&
	ok source_daemon_nbdkit_is_nobody_without_capabilities_under_the_launchers_filter ||
	notok source_daemon_nbdkit_is_nobody_without_capabilities_under_the_launchers_filter \
	    "pid '$k': $have"

kill -9 $k
if wait_line "export e ended: the peer went away" &&
    wait_line "export e: peer serves" 2; then
	ok source_daemon_nbdkit_killed_ends_the_session_and_the_source_attaches_again
	copy_export e
	[ "$got" = "$want_img" ] &&
		ok source_daemon_source_attached_again_reads_byte_identical ||
		notok source_daemon_source_attached_again_reads_byte_identical \
		    "got '$got': $(tail -2 "$work/copy-e.err" | tr '\n' ' ')"
else
	notok source_daemon_nbdkit_killed_ends_the_session_and_the_source_attaches_again \
	    "$(grep -E "source e|export e" "$vlog" | tail -3 | tr '\n' ' ')"
fi

# The audit file: each start, and the kill with its back-off.
starts=$(grep -c '"event": "source_started", .*"export": "e", "reason": "nbdkit pid [0-9]*"' "$work/audit.log")
grep -q '"event": "source_exited", .*"export": "e", "reason": "nbdkit killed by SIGKILL; again in 1 s"' "$work/audit.log" &&
	[ "$starts" -eq 2 ] &&
	ok source_daemon_audits_each_start_and_exit_of_nbdkit ||
	notok source_daemon_audits_each_start_and_exit_of_nbdkit \
	    "$starts starts: $(grep source_ "$work/audit.log" | tail -3 | tr '\n' ' ')"

# A session that ends otherwise (an eject) closes nbdkit's socket: nbdkit
# exits, and the source attaches again and reads as before.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    http://127.0.0.1:18815/api/exports/t/eject)
if [ "$code" = 200 ] && wait_line "export t ended: ejected" &&
    wait_line "export t: peer serves" 2 &&
    grep -Eq '"event": "source_exited", .*"export": "t", "reason": "nbdkit exited with status [0-9]+; again in 1 s"' "$work/audit.log"; then
	copy_export t
	[ "$got" = "$want_img" ] &&
		ok source_daemon_ejected_source_exits_and_attaches_again ||
		notok source_daemon_ejected_source_exits_and_attaches_again \
		    "got '$got': $(tail -2 "$work/copy-t.err" | tr '\n' ' ')"
else
	notok source_daemon_ejected_source_exits_and_attaches_again \
	    "eject $code: $(grep -E "source t|export t" "$vlog" | tail -3 | tr '\n' ' ')"
fi

# --- source-overlay: writes kept by nbdkit's cow filter until eject ---------

# nbdkit_of EXPORT: the pid of the nbdkit whose cmdline names SOCKET|URL.
nbdkit_of() {
	local p
	for p in $(pgrep -P "$l" -x nbdkit); do
		tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$1" && echo "$p"
	done
}
# Bytes the export should show after write.py: the image with its patterns.
cp "$img" "$work/img-written.raw"
$py "$here/write.py" --apply "$work/img-written.raw"
want_written="$(stat -c %s "$work/img-written.raw") $(sha256sum "$work/img-written.raw" | cut -d' ' -f1)"
img_sum=$(sha256sum "$img" | cut -d' ' -f1)
if ! wait_line "export w: peer serves"; then
	notok source_overlay_export_takes_writes_and_reads_them_back \
	    "no session: $(grep "export w" "$vlog" | tail -2 | tr '\n' ' ')"
else
	wrote=$($py "$here/write.py" "nbd+unix:///?socket=$work/w.sock" 2>&1)
	[ "$wrote" = "wrote 3, read back 3" ] &&
		ok source_overlay_export_takes_writes_and_reads_them_back ||
		notok source_overlay_export_takes_writes_and_reads_them_back "$wrote"
	# Another connection to the export socket: the same session, overlay.
	copy_export w
	[ "$got" = "$want_written" ] &&
		ok source_overlay_export_reads_the_upstream_with_the_writes ||
		notok source_overlay_export_reads_the_upstream_with_the_writes \
		    "got '$got', want '$want_written': $(tail -2 "$work/copy-w.err" | tr '\n' ' ')"
	# The upstream (writable, served by nbdkit) was never written.
	[ "$(sha256sum "$img" | cut -d' ' -f1)" = "${want_img#* }" ] &&
		ok source_overlay_leaves_the_writable_upstream_untouched ||
		notok source_overlay_leaves_the_writable_upstream_untouched \
		    "the upstream image changed"
	# The overlay is nbdkit's unlinked file in its private folder's
	# overlay folder, which is TMPDIR: nowhere shared such as /var/tmp.
	kw=$(nbdkit_of "socket=$work/up.sock" | while read -r p; do
		tr '\0' '\n' <"/proc/$p/environ" | grep -q '^TMPDIR=' && echo "$p"
	done | head -1)
	tmpdir=
	[ -n "$kw" ] && tmpdir=$(tr '\0' '\n' <"/proc/$kw/environ" | sed -n 's/^TMPDIR=//p')
	held=
	[ -n "$kw" ] && held=$(for f in /proc/$kw/fd/*; do readlink "$f"; done |
	    grep -F "$tmpdir/" | head -1)
	case $tmpdir in
	/run/vmediad-sources.*/w/overlay) ;;
	*) tmpdir="bad '$tmpdir'" ;;
	esac
	if [ -n "$kw" ] && [ -n "$held" ] && [ "${tmpdir#bad}" = "$tmpdir" ] &&
	    [ "$(stat -c '%U %a' "$tmpdir")" = "nobody 700" ] &&
	    [ -z "$(ls -A "$tmpdir")" ] && case $held in *" (deleted)") true ;; *) false ;; esac; then
		ok source_overlay_file_is_unlinked_in_the_private_tmpdir
	else
		notok source_overlay_file_is_unlinked_in_the_private_tmpdir \
		    "pid '$kw', TMPDIR $tmpdir, held '$held', in it: $(ls -A "${tmpdir#bad }" 2>&1)"
	fi
	# An eject ends nbdkit and its overlay; the source attaches again and
	# reads the upstream's bytes.
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	    http://127.0.0.1:18815/api/exports/w/eject)
	if [ "$code" = 200 ] && wait_line "export w ended: ejected" &&
	    wait_line "export w: peer serves" 2; then
		copy_export w
		[ "$got" = "$want_img" ] &&
			ok source_overlay_is_discarded_at_eject ||
			notok source_overlay_is_discarded_at_eject \
			    "got '$got', want '$want_img': $(tail -2 "$work/copy-w.err" | tr '\n' ' ')"
		[ -n "$kw" ] && [ ! -e "/proc/$kw" ] && [ -n "$tmpdir" ] &&
			[ -z "$(ls -A "$tmpdir" 2>/dev/null)" ] &&
			ok source_overlay_nbdkit_gone_and_its_folder_empty_after_eject ||
			notok source_overlay_nbdkit_gone_and_its_folder_empty_after_eject \
			    "pid '$kw', in $tmpdir: $(ls -A "$tmpdir" 2>&1)"
	else
		notok source_overlay_is_discarded_at_eject \
		    "eject $code: $(grep -E "source w|export w" "$vlog" | tail -3 | tr '\n' ' ')"
	fi
fi

# An https source made writable: writes read back, the rest is the web
# server's image, and the file nginx serves is unchanged.
cp "$www/image.iso" "$work/iso-written.raw"
$py "$here/write.py" --apply "$work/iso-written.raw"
want_iso_written="$(stat -c %s "$work/iso-written.raw") $(sha256sum "$work/iso-written.raw" | cut -d' ' -f1)"
if wait_line "export hw: peer serves"; then
	wrote=$($py "$here/write.py" "nbd+unix:///?socket=$work/hw.sock" 2>&1)
	copy_export hw
	iso_now="$(stat -c %s "$www/image.iso") $(sha256sum "$www/image.iso" | cut -d' ' -f1)"
	[ "$wrote" = "wrote 3, read back 3" ] && [ "$got" = "$want_iso_written" ] &&
		[ "$iso_now" = "$want_iso" ] &&
		ok source_overlay_makes_an_https_source_writable ||
		notok source_overlay_makes_an_https_source_writable \
		    "$wrote; got '$got'; upstream '$iso_now'"
else
	notok source_overlay_makes_an_https_source_writable \
	    "no session: $(grep "export hw" "$vlog" | tail -2 | tr '\n' ' ')"
fi

kids=$(pgrep -P "$l" -x nbdkit | tr '\n' ' ')
dir=$(ls -d /run/vmediad-sources.* 2>/dev/null | while read -r d; do
	[ -d "$d/e" ] && [ "$(stat -c %U "$d/e")" = nobody ] && echo "$d"
done | head -1)
kill "$vpid"
for i in $(seq 50); do kill -0 "$vpid" 2>/dev/null || break; sleep 0.1; done
wait "$vpid"
rc=$?
left=
for p in $kids $l; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
if [ "$rc" -eq 0 ] && [ -z "$left" ] && [ -n "$dir" ] && [ ! -e "$dir" ]; then
	ok source_daemon_stopped_leaves_no_nbdkit_and_no_folder
else
	notok source_daemon_stopped_leaves_no_nbdkit_and_no_folder \
	    "exit $rc, left '$left' of '$kids', folder '$dir'"
fi

# --- inserted sources: POST /api/exports/NAME/insert ------------------------

# A second daemon, with logins: alice may use exports i, j and u, bob only
# j. Export i takes inserted sources from the upstream nbdkit on TCP, a
# port where nothing listens, and nginx; j takes none; u trusts the wrong
# CA. Each insert is answered once attached (200) or failed (502, in plain
# words); each insert, refusal and eject is in the audit file.
hash() { openssl passwd -5 -salt "$(openssl rand -hex 4)" "$1"; }
alicepw=$(openssl rand -hex 8)
bobpw=$(openssl rand -hex 8)
ilog=$work/insert.log
iaudit=$work/insert-audit.log
iconf() {
	printf '[vmediad]\nlisten = 127.0.0.1:18816\nuser = nobody\n'
	printf 'chroot = %s\nauth = users\naudit = %s\n' "$work/empty" "$iaudit"
	printf '\n[export "i"]\nsocket = %s\nread-only = yes\nallow = alice\n' \
	    "$work/i.sock"
	printf 'allow-source = nbd://127.0.0.1:18809 nbd://127.0.0.1:18818 https://localhost:18812 nbd://no-such-host.invalid\n'
	printf 'source-ca = %s\n' "$t/test-ca.pem"
	printf '\n[export "j"]\nsocket = %s\nread-only = yes\nallow = alice bob\n' \
	    "$work/j.sock"
	printf '\n[export "u"]\nsocket = %s\nread-only = yes\nallow = alice\n' \
	    "$work/u.sock"
	printf 'allow-source = https://localhost:18812\nsource-ca = %s\n' \
	    "$t/other-ca.pem"
	printf '\n[user "alice"]\npassword = %s\n' "$(hash "$alicepw")"
	printf '\n[user "bob"]\npassword = %s\n' "$(hash "$bobpw")"
	printf '%s\n' "$@"
}
iconf >"$work/insert.conf"
rm -f "$iaudit"
"$vm" -d -v -f "$work/insert.conf" >"$ilog" 2>&1 &
ipid=$!
upstreams="$upstreams $ipid"
vlog=$ilog # wait_line reads this daemon's log from here on
wait_for 18816 || notok source_insert_daemon_starts "$(tail -3 "$ilog")"

# insert USER EXPORT BODY: the answer's status in $code, its body in $body.
insert() {
	local pw=$alicepw out
	[ "$1" = bob ] && pw=$bobpw
	out=$(curl -s -m 90 -u "$1:$pw" -X POST -d "$3" -w '\n%{http_code}' \
	    "http://127.0.0.1:18816/api/exports/$2/insert")
	code=${out##*$'\n'}
	body=${out%$'\n'*}
}
# expect_insert TEST USER EXPORT URL STATUS [BODY-PATTERN]
expect_insert() {
	insert "$2" "$3" "{\"url\": \"$4\"}"
	if [ "$code" = "$5" ] && printf '%s' "$body" | grep -Eq -- "${6:-.}"; then
		ok "$1"
	else
		notok "$1" "$code $body, want $5 /${6:-}/"
	fi
}
# eject EXPORT: alice ejects; the status in $code.
eject() {
	code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -u "alice:$alicepw" \
	    -X POST "http://127.0.0.1:18816/api/exports/$1/eject")
}
# wait_audit PATTERN [COUNT]: the audit file has COUNT (1) such lines.
wait_audit() {
	local i
	for i in $(seq 300); do
		[ "$(grep -Ec -- "$1" "$iaudit" 2>/dev/null)" -ge "${2:-1}" ] &&
			return 0
		sleep 0.1
	done
	return 1
}
api_source() {
	curl -s -m 30 -u "alice:$alicepw" http://127.0.0.1:18816/api/exports |
	    $py -c '
import json, sys
d = {e["name"]: e.get("source") for e in json.load(sys.stdin)}
print(json.dumps(d.get(sys.argv[1]), sort_keys=True))' "$1" 2>&1
}

expect_insert source_insert_by_an_allowed_user_answers_200_once_attached \
    alice i nbd://127.0.0.1:18809/ 200 '"inserted": true'
copy_export i
[ "$got" = "$want_img" ] &&
	ok source_inserted_nbd_source_reads_byte_identical_by_nbdcopy ||
	notok source_inserted_nbd_source_reads_byte_identical_by_nbdcopy \
	    "got '$got': $(tail -2 "$work/copy-i.err" | tr '\n' ' ')"
have=$(api_source i)
want='{"inserted_by": "alice", "state": "attached", "uri": "nbd://127.0.0.1:18809/"}'
[ "$have" = "$want" ] &&
	ok source_api_exports_shows_the_inserted_source_and_who ||
	notok source_api_exports_shows_the_inserted_source_and_who "$have"
expect_insert source_insert_by_a_user_not_allowed_on_the_export_is_404 \
    bob i nbd://127.0.0.1:18809/ 404 'no such export'
expect_insert source_insert_while_attached_is_409 alice i \
    nbd://127.0.0.1:18809/ 409 'busy'
expect_insert source_insert_of_a_scheme_outside_allow_source_is_403 \
    alice i nbds://127.0.0.1:18809/ 403 'allow-source'
expect_insert source_insert_of_a_host_outside_allow_source_is_403 \
    alice i nbd://127.0.0.2:18809/ 403 'allow-source'
expect_insert source_insert_of_a_port_outside_allow_source_is_403 \
    alice i nbd://127.0.0.1:18810/ 403 'allow-source'
expect_insert source_insert_of_a_unix_socket_is_403 alice i \
    "nbd+unix:///?socket=$work/up.sock" 403 'allow-source'
expect_insert source_insert_on_an_export_without_allow_source_is_403 \
    alice j nbd://127.0.0.1:18809/ 403 'no allow-source'
insert alice i '{"url": "nbd://127.0.0.1:18809/", "username": "carol", "password": "hunter2"}'
[ "$code" = 400 ] && printf '%s' "$body" | grep -q 'credentials' &&
    ! grep -q hunter2 "$ilog" "$iaudit" &&
	ok source_insert_with_credentials_for_nbd_is_400_and_not_logged ||
	notok source_insert_with_credentials_for_nbd_is_400_and_not_logged \
	    "$code $body"
insert alice i '{"url": "nbd://127.0.0.1:18809/'"'"'"}'
[ "$code" = 400 ] && ok source_insert_of_a_malformed_url_is_400 ||
	notok source_insert_of_a_malformed_url_is_400 "$code $body"

# nbdkit killed: an inserted source attaches again, as a config one does.
kill -9 $(pgrep -P "$(pgrep -P "$ipid" -x launcher)" -x nbdkit) 2>/dev/null
if wait_audit '"event": "source_exited", "export": "i", "reason": "nbdkit killed by SIGKILL; again in 1 s"' &&
    wait_line "export i: peer serves" 2; then
	copy_export i
	[ "$got" = "$want_img" ] &&
		ok source_inserted_nbdkit_killed_attaches_again ||
		notok source_inserted_nbdkit_killed_attaches_again \
		    "got '$got': $(tail -2 "$work/copy-i.err" | tr '\n' ' ')"
else
	notok source_inserted_nbdkit_killed_attaches_again \
	    "$(grep -E 'source i|export i' "$ilog" | tail -3 | tr '\n' ' ')"
fi

eject i
if [ "$code" = 200 ] &&
    wait_audit '"event": "source_exited", "export": "i", "reason": "[^"]*; stopped"'; then
	starts=$(grep -c '"event": "source_started", "export": "i"' "$iaudit")
	sleep 3 # back-off would have started it again within 1 s
	again=$(grep -c '"event": "source_started", "export": "i"' "$iaudit")
	have=$(api_source i)
	[ "$starts" = "$again" ] && [ "$have" = null ] &&
		ok source_inserted_eject_ends_it_and_it_stays_ejected ||
		notok source_inserted_eject_ends_it_and_it_stays_ejected \
		    "$starts then $again starts, source $have"
else
	notok source_inserted_eject_ends_it_and_it_stays_ejected \
	    "eject $code: $(grep -E 'source i|export i' "$ilog" | tail -3 | tr '\n' ' ')"
fi

# The audit file: the insert, each refusal, the eject.
a=$iaudit
grep -q '"event": "source_inserted", "user": "alice", .*"export": "i", "reason": "nbd://127.0.0.1:18809/"' "$a" &&
	ok source_insert_is_audited ||
	notok source_insert_is_audited "$(grep -c . "$a") lines"
grep -q '"event": "access_denied", "user": "bob", .*"export": "i", "status": 404' "$a" &&
    [ "$(grep -c '"event": "insert_refused", "user": "alice", .*"status": 403' "$a")" -eq 5 ] &&
    grep -q '"event": "insert_refused", "user": "alice", .*"export": "i", "status": 409' "$a" &&
    grep -q '"event": "insert_refused", "user": "alice", .*"export": "i", "status": 400, "reason": "credentials go only' "$a" &&
	ok source_insert_refusals_are_audited_with_their_status ||
	notok source_insert_refusals_are_audited_with_their_status \
	    "$(grep -E 'insert_refused|access_denied' "$a" | tr '\n' ' ')"
grep -q '"event": "eject", "user": "alice", .*"export": "i"' "$a" &&
	ok source_inserted_eject_is_audited ||
	notok source_inserted_eject_is_audited "$(grep eject "$a")"

# Failures in plain words: the answer, /api/exports' last reason and
# the audit file's insert_failed say what to fix.
expect_insert source_insert_failure_says_connection_refused alice i \
    nbd://127.0.0.1:18818/ 502 'insert failed: connection refused'
expect_insert source_insert_failure_says_dns alice i \
    nbd://no-such-host.invalid/ 502 'insert failed: DNS: '
wait_audit '"event": "insert_failed", "user": "alice", .*"export": "i", "reason": "connection refused"' &&
	ok source_insert_failure_is_audited_in_plain_words ||
	notok source_insert_failure_is_audited_in_plain_words \
	    "$(grep insert_failed "$iaudit" | tail -1)"
if [ -f "$work/nginx/nginx.pid" ]; then
	expect_insert source_inserted_https_source_answers_200 alice i \
	    https://localhost:18812/image.iso 200
	copy_export i
	[ "$got" = "$want_iso" ] &&
		ok source_inserted_https_source_reads_byte_identical ||
		notok source_inserted_https_source_reads_byte_identical \
		    "got '$got': $(tail -2 "$work/copy-i.err" | tr '\n' ' ')"
	eject i
	wait_audit '"event": "source_exited", "export": "i", "reason": "[^"]*; stopped"' 2 ||
		notok source_inserted_https_source_ejected "$code"
	# With credentials: nginx's Basic authentication; the password in no
	# log, audit line, /api/exports answer or argument list, and its
	# file gone from the launcher's folder once nbdkit has its copy.
	insert alice i "{\"url\": \"https://localhost:18812/private/image.iso\", \"username\": \"carol\", \"password\": \"$password\"}"
	if [ "$code" = 200 ]; then
		args=$(for p in $(pgrep -x nbdkit); do
			tr '\0' ' ' <"/proc/$p/cmdline"; echo; done)
		api=$(curl -s -m 30 -u "alice:$alicepw" \
		    http://127.0.0.1:18816/api/exports)
		copy_export i
		leaks=$(grep -l -- "$password" "$ilog" "$iaudit";
		    printf '%s' "$args$api" | grep -c -- "$password")
		creds=$(ls /run/vmediad-sources.*/*.credentials 2>/dev/null)
		[ "$got" = "$want_iso" ] && [ "$leaks" = 0 ] &&
		    [ -z "$creds" ] && printf '%s' "$args" | grep -q 'user=carol' &&
			ok source_inserted_https_with_credentials_reads_byte_identical_and_keeps_the_password_secret ||
			notok source_inserted_https_with_credentials_reads_byte_identical_and_keeps_the_password_secret \
			    "got '$got', leaks '$leaks', files '$creds'"
	else
		notok source_inserted_https_with_credentials_reads_byte_identical_and_keeps_the_password_secret \
		    "$code $body"
	fi
	eject i
	wait_audit '"event": "source_exited", "export": "i", "reason": "[^"]*; stopped"' 3 ||
		notok source_inserted_https_source_with_credentials_ejected "$code"
	insert alice i '{"url": "https://localhost:18812/private/image.iso", "username": "carol", "password": "wrong pass:word"}'
	[ "$code" = 502 ] && printf '%s' "$body" | grep -q 'insert failed: HTTP 401' &&
		ok source_insert_with_a_wrong_password_says_http_401 ||
		notok source_insert_with_a_wrong_password_says_http_401 "$code $body"
	expect_insert source_insert_failure_says_http_404 alice i \
	    https://localhost:18812/missing.iso 502 'insert failed: HTTP 404'
	expect_insert source_insert_failure_says_tls_certificate_verify_failed \
	    alice u https://localhost:18812/image.iso 502 \
	    'insert failed: TLS: certificate verify failed'
fi

# --- a reload adds a source, and takes it away ---------------------------------

# Export q's source refuses: the audit and /api/exports say so plainly.
iconf '' '[export "r"]' "socket = $work/r.sock" \
    'source = nbd://127.0.0.1:18809/' \
    '[export "q"]' "socket = $work/q.sock" 'allow = alice' \
    'source = nbd://127.0.0.1:18818/' >"$work/insert.conf"
kill -HUP "$ipid"
if wait_audit '"event": "source_exited", "export": "q", "reason": "connection refused; again in [0-9]+ s"'; then
	# sessiond hears it just after the audit line; between two starts,
	# the source may be caught connecting.
	want='{"reason": "connection refused", "state": "waiting", "uri": "nbd://127.0.0.1:18818/"}'
	for i in $(seq 100); do
		have=$(api_source q)
		[ "$have" = "$want" ] && break
		sleep 0.1
	done
	[ "$have" = "$want" ] &&
		ok source_failing_config_source_says_why_in_audit_and_api ||
		notok source_failing_config_source_says_why_in_audit_and_api "$have"
else
	notok source_failing_config_source_says_why_in_audit_and_api \
	    "$(grep '"q"' "$iaudit" | tail -2 | tr '\n' ' ')"
fi
if wait_line "export r: peer serves"; then
	copy_export r
	[ "$got" = "$want_img" ] &&
		ok source_reload_that_adds_a_source_starts_it ||
		notok source_reload_that_adds_a_source_starts_it \
		    "got '$got': $(tail -2 "$work/copy-r.err" | tr '\n' ' ')"
else
	notok source_reload_that_adds_a_source_starts_it \
	    "$(grep -E 'source r|export r|reload' "$ilog" | tail -3 | tr '\n' ' ')"
fi
il=$(pgrep -P "$ipid" -x launcher)
iconf >"$work/insert.conf"
kill -HUP "$ipid"
if wait_audit '"event": "source_exited", "export": "r", "reason": "[^"]*; stopped"'; then
	for i in $(seq 100); do # q's nbdkit, if one was starting, goes too
		left=$(pgrep -P "$il" -x nbdkit | tr '\n' ' ')
		[ -z "$left" ] && break
		sleep 0.1
	done
	sleep 2 # no back-off start follows
	[ -z "$left" ] && [ -z "$(pgrep -P "$il" -x nbdkit)" ] &&
	    [ "$(grep -c '"event": "source_started", "export": "r"' "$iaudit")" -eq 1 ] &&
		ok source_reload_that_removes_a_source_stops_it ||
		notok source_reload_that_removes_a_source_stops_it \
		    "nbdkit left: '$left' $(pgrep -P "$il" -x nbdkit)"
else
	notok source_reload_that_removes_a_source_stops_it \
	    "$(grep -E 'source r|export r|reload' "$ilog" | tail -3 | tr '\n' ' ')"
fi

kill "$ipid"
wait "$ipid"
rc=$?
[ "$rc" -eq 0 ] && ok source_insert_daemon_stops_cleanly ||
	notok source_insert_daemon_stops_cleanly "exit $rc: $(tail -3 "$ilog" | tr '\n' ' ')"

# --- what is refused before nbdkit runs -------------------------------------

conf missing "source = nbds://127.0.0.1:18810/" \
    "source-psk = $work/tls/none.psk"
if "$tool" "$work/missing.conf" e "$work/priv/missing" -- true \
    2>"$work/missing.err"; then
	notok source_missing_psk_stops_before_nbdkit "the tool went on"
elif grep -q "none.psk: No such file or directory" "$work/missing.err"; then
	ok source_missing_psk_stops_before_nbdkit
else
	notok source_missing_psk_stops_before_nbdkit "$(cat "$work/missing.err")"
fi

test_done
