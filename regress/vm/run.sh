#!/bin/bash
# The real kernel path: boots a Debian kernel under QEMU (TCG) with one of
# vmediad's release builds inside, serves images to it from test peers on
# this side through a forwarded loopback port, and reports what
# guest/init checked (/dev/nbdN, the USB gadget hook, credentials,
# faults, seccomp) as the suite's ok / not ok lines. Every wait is
# bounded; a hung guest is a failure with the console's tail, never a
# hung suite.
#   VM_ARCH=x86_64|arm64|armhf run.sh
# x86_64: qemu-system-x86_64, the amd64 kernel, build/ (suite vm).
# arm64:  qemu-system-aarch64 -M virt -cpu cortex-a57, the arm64 kernel,
#         build/arm64 (suite vm-arm64).
# armhf:  qemu-system-arm -M ast2600-evb, the BMC's own SoC, Debian's
#         armmp kernel with the AST2600 EVB's device tree and NIC
#         (ftgmac100), build/armhf (suite vm-ast2600).
# VM_BUILD and VM_SYSROOT point at another build and its libraries
# (nothing is built then); GUEST_TIMEOUT bounds the guest's run;
# VM_APPEND adds to the kernel's command line, whose NAME=VALUE words
# /init and vmediad get as environment: with a TEST=1 build,
# VM_APPEND=VMEDIAD_SECCOMP_LOG=1 lists every call the filters would
# kill in one run (no_seccomp_kill_in_the_vm names them).
# On x86_64 the guest also reads two device exports whose images come
# from sources on this side through nbdkit in the guest (guest/init's
# part 12): an upstream nbdkit (file plugin) over NBD and nginx over
# HTTPS with a CA made here, both reached as 10.0.2.2 through QEMU's user
# network, their ports on the kernel's command line. Not on the ARM
# guests: their sysroots (cross/) hold vmediad's build dependencies only,
# not nbdkit, its plugins and their libraries (libnbd, libcurl, libxml2
# with ICU's data: some 50 MB more in an initramfs that the emulated
# boards unpack, and a 32 MiB HTTPS read over the AST2600's few MB/s).
# Also on x86_64 (part 13): a second vmediad here (the test build) serves
# an export over network NBD with STARTTLS and client certificates that
# name users; Debian's nbd-client in the guest reads it as /dev/nbd1
# with alice's certificate, and is refused without TLS or as mallory.
# VM_MODE=bench-far (x86_64 only; make bench-far, regress/bench/far.sh)
# boots guest/bench-far instead of guest/init, with what it needs (veth,
# sch_netem, iproute2's ip and tc, nbdcopy, vmedia-peer), in build/bench-far
# with the vm suite's kernel cache, and keeps its "bench" lines in
# bench.rows there.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"
. "$top/regress/lib/certs.sh"
. "$top/regress/lib/nginx.sh"

arch=${VM_ARCH:-x86_64}
# Check names carry the arch but on x86_64, whose names came first.
case $arch in
x86_64)
	suite=vm prefix= seccomp_arch=x86_64
	qemu_bin=qemu-system-x86_64 qemu_pkg=qemu-system-x86
	sysroot=/ make_arch=
	console_tty=ttyS0 console_arg=console=ttyS0
	nic_modules="virtio_pci virtio_net"
	machine=(-cpu max -smp 2 -m 512)
	guest_timeout=240 ;;
arm64)
	suite=vm-arm64 prefix=arm64_ seccomp_arch=aarch64
	qemu_bin=qemu-system-aarch64 qemu_pkg=qemu-system-arm
	sysroot=$top/build/sysroot/arm64 make_arch=arm64
	console_tty=ttyAMA0 console_arg=console=ttyAMA0
	nic_modules="virtio_pci virtio_net"
	machine=(-M virt -cpu cortex-a57 -smp 2 -m 1024)
	guest_timeout=360 ;;
armhf)
	suite=vm-ast2600 prefix=ast2600_ seccomp_arch=arm
	qemu_bin=qemu-system-arm qemu_pkg=qemu-system-arm
	sysroot=$top/build/sysroot/armhf make_arch=armhf
	console_tty=ttyS4 console_arg=console=ttyS4,115200
	# The board's own NIC: an MDIO bus of its own, then the MAC.
	nic_modules="mdio-aspeed ftgmac100"
	machine=(-M ast2600-evb -m 1024)
	guest_timeout=360 ;;
*)
	echo "not ok vm_arch_known: VM_ARCH=$arch: x86_64, arm64 or armhf"
	exit 1 ;;
esac
build=${VM_BUILD:-$top/build${make_arch:+/$make_arch}}
sysroot=${VM_SYSROOT:-$sysroot}
cache=$top/build/$suite/cache
mode=${VM_MODE:-test}
case $mode/$arch in
test/*) ;;
bench-far/x86_64)
	suite=bench-far
	# The image and the page cache of the device it is read through.
	machine=(-cpu max -smp 2 -m 1024)
	guest_timeout=900 ;;
*)
	echo "not ok vm_mode_known: VM_MODE=$mode: test, or bench-far on x86_64"
	exit 1 ;;
esac
work=$top/build/$suite
img=$work/images
peer=$top/build/regress/vmedia-peer
console=$work/console
# Seconds from boot to "VMTEST done": some 2-3 times a run on a loaded
# 2-core machine (x86_64 35-115 s, arm64 80-115 s, AST2600 120-180 s),
# and all three together well inside make regress's 20 minutes.
GUEST_TIMEOUT=${GUEST_TIMEOUT:-$guest_timeout}
start=$(date +%s)
guest_passed=0

wall_time() {
	echo "# $suite ($arch): $((guest_passed)) passed, $test_failed failed," \
	    "wall time $(($(date +%s) - start)) s"
}

# The suite's own lines, named for the arch.
ok() {
	echo "ok $prefix$1"
	guest_passed=$((guest_passed + 1))
}

notok() {
	test_failed=$((test_failed + 1))
	echo "not ok $prefix$1: $2"
}

fatal() {
	notok "$1" "$2"
	wall_time
	exit 1
}

mkdir -p "$work" "$img"

# --- what the VM needs: a failure, never a skip ----------------------------

tools="$qemu_bin:$qemu_pkg busybox:busybox-static xorriso:xorriso
readelf:binutils curl:curl python3:python3"
sources=no
[ "$mode/$arch" = test/x86_64 ] && sources=yes
[ $sources = yes ] && tools="$tools nbdkit:nbdkit nginx:nginx"
[ "$mode" = bench-far ] && tools="$tools nbdcopy:libnbd-bin tc:iproute2"
for tool in $tools; do
	command -v "${tool%%:*}" >/dev/null ||
		fatal vm_tools_present "no ${tool%%:*}: install Debian package ${tool#*:} (make deps)"
done
make -s -C "$top/regress/peer" all >"$work/make.log" 2>&1 ||
	fatal vm_tools_present "make -C regress/peer all failed: $(tail -3 "$work/make.log")"
[ -x "$peer" ] || fatal vm_tools_present "no $peer: make -C regress/peer all"
if [ -z "${VM_BUILD:-}" ]; then
	# The release build of the arch (a cross build makes its sysroot).
	make -s -C "$top" ${make_arch:+ARCH=$make_arch} all \
	    >"$work/make.log" 2>&1 ||
		fatal vm_release_build "make${make_arch:+ ARCH=$make_arch} failed: $(tail -3 "$work/make.log")"
fi

kdir=$("$here/fetch-kernel.sh" "$arch" "$cache" 2>"$work/fetch.log") ||
	fatal vm_kernel_available "$(tail -3 "$work/fetch.log")"
ver=$(ls "$kdir/lib/modules")
echo "# $suite kernel: $ver"
dtb=
if [ "$arch" = armhf ]; then
	# The AST2600 EVB's device tree, from the kernel's own package.
	dtb=$kdir/usr/lib/linux-image-$ver/aspeed-ast2600-evb-a1.dtb
	[ -f "$dtb" ] || fatal vm_kernel_available "no $dtb in the kernel package"
	machine+=(-dtb "$dtb")
fi
# The guest's listener speaks TLS (passwords cross no network in the
# clear) with a certificate for the host's end of the forward.
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=vmediad-vm \
    -addext subjectAltName=IP:127.0.0.1 -days 2 \
    -keyout "$work/key.pem" -out "$work/cert.pem" >"$work/openssl.log" 2>&1 ||
	fatal vm_tls_certificate_made "$(tail -3 "$work/openssl.log")"
chmod 600 "$work/key.pem"
# The sources' HTTPS server: a CA of the test's and a certificate for the
# host as the guest sees it (10.0.2.2); the guest trusts that CA only.
if [ $sources = yes ]; then
	{
		cert_ca vmediad-vm-ca "$work/source-ca" &&
			cert_sign 10.0.2.2 "$work/source-ca" "$work/web.key" \
			    "$work/web.pem" subjectAltName=IP:10.0.2.2 \
			    extendedKeyUsage=serverAuth
	} >"$work/openssl.log" 2>&1 ||
		fatal vm_tls_certificate_made "sources' CA: $(tail -3 "$work/openssl.log")"
	# Network NBD (issue 15): a CA for the host's second vmediad, its
	# certificate for 10.0.2.2, client certificates of alice and mallory
	# (CN = user) that the guest's nbd-client presents.
	nt=$work/nbdtls
	rm -rf "$nt" && mkdir -p "$nt"
	{
		CERT_KEY=ec
		cert_ca vmediad-vm-nbd-ca "$nt/ca" &&
			cert_sign 10.0.2.2 "$nt/ca" "$nt/server.key" "$nt/server.pem" \
			    subjectAltName=IP:10.0.2.2,IP:127.0.0.1 &&
			cert_sign alice "$nt/ca" "$nt/alice.key" "$nt/alice.pem" &&
			cert_sign mallory "$nt/ca" "$nt/mallory.key" "$nt/mallory.pem"
	} >"$work/openssl.log" 2>&1 ||
		fatal vm_tls_certificate_made "network NBD's CA: $(tail -3 "$work/openssl.log")"
	CERT_KEY=rsa
	# The host's second vmediad is the test build (as regress/netnbd's).
	make -s -C "$top" O=build/test TEST=1 all >"$work/make-test.log" 2>&1 ||
		fatal vm_release_build "make O=build/test TEST=1 failed: $(tail -3 "$work/make-test.log")"
fi
mkinit_env=()
[ $sources = yes ] && mkinit_env=(VM_NBDKIT=yes)
[ "$mode" = bench-far ] && mkinit_env=(VM_INIT=bench-far
	"VM_EXTRA_MODULES=veth sch_netem"
	"VM_EXTRA_BINS=$peer $(command -v nbdcopy) $(command -v ip) $(command -v tc)")
env "${mkinit_env[@]}" VM_NIC_MODULES="$nic_modules" VM_CONSOLE=$console_tty \
    "$here/mkinitramfs.sh" "$arch" "$kdir" "$top" "$build" "$sysroot" \
    "$work/initramfs.cpio" "$work" >"$work/mkinitramfs.log" 2>&1 ||
	fatal vm_initramfs_builds "$(tail -3 "$work/mkinitramfs.log")"

# --- images the peers serve --------------------------------------------------

# The bench makes its own image in the guest.
make_images() {
	rm -rf "$img" && mkdir -p "$img/iso"
	head -c 6M /dev/urandom >"$img/iso/payload.bin"
	echo "vmediad VM test image" >"$img/iso/README.TXT"
	cp "$img/iso/payload.bin" "$img/payload.bin"
	xorriso -as mkisofs -quiet -V VMTEST -o "$img/cd.iso" "$img/iso" \
	    >"$work/xorriso.log" 2>&1 ||
		fatal vm_iso_image_builds "$(tail -3 "$work/xorriso.log")"
	head -c 8M /dev/urandom >"$img/disk.img"
	cp "$img/disk.img" "$img/disk.orig"
	# Read whole several times (on the AST2600 at a few MB/s): 32 MiB,
	# still well past where its peers cut (24M) or stall (200 requests
	# of 64 KiB).
	head -c 32M /dev/urandom >"$img/big.img"
	# The NBD source's upstream image (written through the overlay only).
	head -c 8M /dev/urandom >"$img/src.img"
	# Over 4 GiB, sparse: random MiBs at its end and across 4 GiB, zeros
	# elsewhere (blocks of 512 KiB: 10238-10239 and 8191-8192).
	truncate -s 5G "$img/huge.img"
	head -c 1M /dev/urandom |
	    dd of="$img/huge.img" bs=512k seek=10238 conv=notrunc status=none
	head -c 1M /dev/urandom |
	    dd of="$img/huge.img" bs=512k seek=8191 conv=notrunc status=none
	[ "$(stat -c %s "$img/huge.img")" = 5368709120 ] ||
		fatal vm_images_build "huge.img: $(stat -c %s "$img/huge.img") bytes"
}
[ "$mode" = bench-far ] || make_images

# --- peers, on the host's side of the forwarded port -------------------------

# A free loopback port for the forward.
port=
for p in $(seq 18190 18219); do
	if ! (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
[ -n "$port" ] || fatal vm_port_free "no free port in 18190-18219"
base=https://127.0.0.1:$port
# QEMU's user networking forwards it to vmediad on the guest's NIC: the
# AST2600's own MAC (the first of its four), a virtio one elsewhere.
fwd=hostfwd=tcp:127.0.0.1:$port-10.0.2.15:8080
case $arch in
armhf) nic=(-netdev "user,id=n0,$fwd" -net nic,netdev=n0,model=ftgmac100) ;;
*) nic=(-netdev "user,id=n0,$fwd" -device virtio-net-pci,netdev=n0) ;;
esac

declare -A peer_pid

# free_port FROM TO: a loopback port nothing listens on.
free_port() {
	local p
	for p in $(seq "$1" "$2"); do
		(exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# The sources' upstreams (x86_64): nbdkit serving src.img, writable so
# that a write through the guest's overlay would show, and nginx serving
# big.img over HTTPS (Range requests are nginx's default for files).
src_append=
start_sources() {
	local nbd_port web_port i
	nbd_port=$(free_port 18220 18234) && web_port=$(free_port 18235 18249) ||
		{ notok vm_source_upstreams_start "no free port in 18220-18249"; return; }
	nbdkit -f -i 127.0.0.1 -p "$nbd_port" file "$img/src.img" \
	    >"$work/upstream-nbd.log" 2>&1 &
	chmod 755 "$img"
	chmod 644 "$img/big.img"
	nginx_conf "$work/nginx" <<NGINX
		listen 127.0.0.1:$web_port ssl;
		ssl_certificate $work/web.pem;
		ssl_certificate_key $work/web.key;
		root $img;
NGINX
	nginx -c "$work/nginx/nginx.conf" >"$work/nginx/out.log" 2>&1 &
	nginx_pid=$!
	for ((i = 0; i < 100; i++)); do
		(exec 9<>"/dev/tcp/127.0.0.1/$nbd_port") 2>/dev/null &&
			(exec 9<>"/dev/tcp/127.0.0.1/$web_port") 2>/dev/null && break
		sleep 0.1
	done
	if ! (exec 9<>"/dev/tcp/127.0.0.1/$nbd_port") 2>/dev/null ||
	    ! (exec 9<>"/dev/tcp/127.0.0.1/$web_port") 2>/dev/null; then
		notok vm_source_upstreams_start \
		    "$(tail -2 "$work/upstream-nbd.log" "$work/nginx/error.log" | tr '\n' ' ')"
		return
	fi
	src_append="SRC_NBD_PORT=$nbd_port SRC_WEB_PORT=$web_port"
}

# Network NBD (x86_64): a second vmediad (the test build) on this side
# with nbd-listen (STARTTLS required), client certificates naming users
# (nbd-client-ca), auth = users; its export "net" (nbd-clients = yes,
# alice only) served by a peer from net.img; the guest's Debian
# nbd-client connects to it through 10.0.2.2.
start_netnbd() {
	local d=$work/netnbd hport nport i
	hport=$(free_port 18250 18264) && nport=$(free_port 18265 18279) ||
		{ notok vm_network_nbd_server_starts "no free port in 18250-18279"; return; }
	rm -rf "$d" && mkdir -p "$d/empty" && chmod 755 "$d/empty"
	head -c 8M /dev/urandom >"$img/net.img"
	pwhash() { printf '%s\n' "$1" | "$top/build/test/sbin/vmediad" -P; }
	cat >"$d/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$hport
nbd-listen = 127.0.0.1:$nport
user = nobody
chroot = $d/empty
web = $top/web
auth = users
audit = $d/audit.log
tls-certificate = $work/nbdtls/server.pem
tls-key = $work/nbdtls/server.key
nbd-client-ca = $work/nbdtls/ca.pem

[export "net"]
socket = $d/net.sock
nbd-clients = yes
allow = alice

[user "alice"]
password = $(pwhash alicepw)

[user "mallory"]
password = $(pwhash mallorypw)
CONF
	"$top/build/test/sbin/vmediad" -d -v -f "$d/vmediad.conf" \
	    >"$d/vmediad.log" 2>&1 &
	netnbd_pid=$!
	for ((i = 0; i < 50; i++)); do
		grep -q "local clients on $d/net.sock" "$d/vmediad.log" && break
		sleep 0.1
	done
	"$peer" -v --daemon-ready "$d/peer.ready" --basic alice:alicepw \
	    "ws://127.0.0.1:$hport/nbd/net" "$img/net.img" >"$d/peer.out" 2>&1 &
	netnbd_peer=$!
	for ((i = 0; i < 100; i++)); do
		[ -e "$d/peer.ready" ] && break
		kill -0 $netnbd_peer 2>/dev/null || break
		sleep 0.1
	done
	if ! [ -e "$d/peer.ready" ] || ! kill -0 $netnbd_pid 2>/dev/null; then
		notok vm_network_nbd_server_starts \
		    "$(tail -2 "$d/vmediad.log" "$d/peer.out" | tr '\n' ' ')"
		return
	fi
	ok vm_network_nbd_server_starts
	netnbd_up=yes
	src_append="$src_append NET_NBD_PORT=$nport"
}

json() {
	python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null
}

# vmediad in the VM listens on eth0, so it asks for a login (auth =
# users). A password check is slow under TCG, and a restarted vmediad
# has forgotten every login: log in only when the cookie no longer works.
USER_NAME=vmtest
USER_PASSWORD="correct horse battery staple"
cookie=
login() {
	local code
	code=$(curl -s -m 10 --cacert "$work/cert.pem" -o /dev/null \
	    -w '%{http_code}' -H "Cookie: $cookie" -H "Origin: $base" \
	    "$base/api/exports")
	[ "$code" = 200 ] && return
	cookie=$(curl -s -m 60 --cacert "$work/cert.pem" -o /dev/null -D - \
	    -H 'Content-Type: application/json' \
	    -d "{\"username\": \"$USER_NAME\", \"password\": \"$USER_PASSWORD\"}" \
	    "$base/api/login" | tr -d '\r' |
	    sed -n 's/^[Ss]et-[Cc]ookie: \(vmediad_session=[^;]*\).*/\1/p')
	echo "$(date +%T) logged in: ${cookie:+yes}" >>"$work/host.log"
}

export_state() {
	curl -s -m 5 --cacert "$work/cert.pem" -H "Cookie: $cookie" \
	    -H "Origin: $base" "$base/api/exports" |
	    json "[e['state'] for e in d if e['name']=='$1'][0]"
}

safe_name() {
	[[ $1 =~ ^[A-Za-z0-9._-]+$ ]]
}

# Each command leaves its answer to the guest in $out.

# peer NAME EXPORT IMAGE [options]: a peer in the background; answers
# "ready SIZE SHA256" once vmediad calls the export active.
cmd_peer() {
	local name=$1 export=$2 image=$3 i auth
	shift 3
	if ! safe_name "$name" || ! safe_name "$export" ||
	    ! safe_name "$image" || [ ! -f "$img/$image" ]; then
		out="failed bad request"
		return
	fi
	rm -f "$work/$name.ready"
	login
	# An eject or a failure releases the device, then the stop hook
	# runs: the export takes a new image once it is idle again.
	for ((i = 0; i < 300; i++)); do
		[ "$(export_state "$export")" = idle ] && break
		sleep 0.1
	done
	if [ "$(export_state "$export")" != idle ]; then
		out="failed export $export not idle: $(export_state "$export")"
		return
	fi
	# A peer that resumes sends the cookie (and Origin) on its API calls
	# too: --cookie.
	if [[ " $* " == *" --resume "* ]]; then
		auth=(--cookie "$cookie")
	else
		auth=(--header "Cookie: $cookie" --header "Origin: $base")
	fi
	"$peer" -v --daemon-ready "$work/$name.ready" \
	    --ca "$work/cert.pem" "${auth[@]}" "$@" \
	    "wss://127.0.0.1:$port/nbd/$export" "$img/$image" \
	    >"$work/$name.out" 2>&1 &
	peer_pid[$name]=$!
	for ((i = 0; i < 300; i++)); do
		[ -e "$work/$name.ready" ] && break
		kill -0 "${peer_pid[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -e "$work/$name.ready" ]; then
		out="failed no handshake: $(tail -1 "$work/$name.out")"
		return
	fi
	for ((i = 0; i < 300; i++)); do
		[ "$(export_state "$export")" = active ] && break
		kill -0 "${peer_pid[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$(export_state "$export")" != active ]; then
		out="failed not active: $(tail -1 "$work/$name.out")"
		return
	fi
	# The sha256 of small images only: 5 GiB take seconds.
	if [ "$(stat -c %s "$img/$image")" -le $((1 << 30)) ]; then
		out="ready $(stat -c %s "$img/$image") $(sha256sum <"$img/$image" | cut -d' ' -f1)"
	else
		out="ready $(stat -c %s "$img/$image") -"
	fi
}

# peer-exit NAME SECONDS: "exited STATUS CLOSE-CODE LAST-LINE" once it
# ends; CLOSE-CODE is the WebSocket close code it saw, or "none".
cmd_peer_exit() {
	local pid=${peer_pid[$1]:-} i code status
	if [ -z "$pid" ]; then
		out="unknown peer $1"
		return
	fi
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		out="running after $2 s: $(tail -1 "$work/$1.out")"
		return
	fi
	wait "$pid"
	status=$?
	code=$(sed -n 's/.*server closed: \([0-9]*\).*/\1/p' "$work/$1.out" | tail -1)
	out="exited $status ${code:-none} $(tail -1 "$work/$1.out")"
}

cmd_eject() {
	login
	out=$(curl -s -m 10 --cacert "$work/cert.pem" -o /dev/null \
	    -w '%{http_code}' -X POST \
	    -H "Cookie: $cookie" -H "Origin: $base" \
	    "$base/api/exports/$1/eject")
}

cmd_file_sha() {
	out=bad-name
	safe_name "$1" && out=$(sha256sum <"$img/$1" | cut -d' ' -f1)
}

# blocks-sha IMAGE SKIP COUNT: the sha256 of COUNT blocks of 512 KiB
# from block SKIP on.
cmd_blocks_sha() {
	out=bad-request
	safe_name "$1" && [[ $2 =~ ^[0-9]+$ && $3 =~ ^[0-9]+$ ]] &&
		out=$(dd if="$img/$1" bs=512k skip="$2" count="$3" status=none |
		    sha256sum | cut -d' ' -f1)
}

# patched IMAGE OFFSET LENGTH BYTE: is the peer's file its original with
# exactly those bytes set to BYTE (hex)?
cmd_patched() {
	local want=$work/want.img
	cp "$img/${1%.img}.orig" "$want"
	printf "\\x$4%.0s" $(seq "$3") |
	    dd of="$want" bs=1 seek="$2" conv=notrunc status=none
	if cmp -s "$want" "$img/$1"; then
		out=same
	else
		out="differ: $(cmp -l "$want" "$img/$1" 2>&1 | wc -l) bytes,"
		out="$out first $(cmp "$want" "$img/$1" 2>&1 | head -1)"
	fi
	rm -f "$want"
}

answer() {
	local id=$1 cmd=$2 t0=$SECONDS
	shift 2
	echo "$(date +%T) $id $cmd $*" >>"$work/host.log"
	out=
	case $cmd in
	peer) cmd_peer "$@" ;;
	peer-exit) cmd_peer_exit "$@" ;;
	eject) cmd_eject "$@" ;;
	file-sha) cmd_file_sha "$@" ;;
	blocks-sha) cmd_blocks_sha "$@" ;;
	patched) cmd_patched "$@" ;;
	*) out="unknown command $cmd" ;;
	esac
	echo "GO $id $out" >&5
	echo "$(date +%T) $id $((SECONDS - t0)) s: $out" >>"$work/host.log"
}

# "syscall N" with the call's name for this arch, where libseccomp's
# resolver is at hand (package seccomp).
syscall_names() {
	local text=$1 rest=$1 n name out=
	command -v scmp_sys_resolver >/dev/null || { echo "$text"; return; }
	while [[ $rest =~ syscall\ ([0-9]+) ]]; do
		n=${BASH_REMATCH[1]}
		name=$(scmp_sys_resolver -a "$seccomp_arch" "$n" 2>/dev/null)
		out=$out${rest%%"${BASH_REMATCH[0]}"*}"syscall $n${name:+ $name}"
		rest=${rest#*"${BASH_REMATCH[0]}"}
	done
	echo "$out$rest"
}

# --- the VM -------------------------------------------------------------------

# The console is the one channel both ways (not every board has a second
# serial port): QEMU appends the guest's output to console.out, a plain
# file, and reads the host's answers from console.in, a FIFO.
rm -f "$console.in" "$console.out" "$work/host.log" "$work/bench.rows"
[ $sources = yes ] && { start_sources; start_netnbd; }
mkfifo "$console.in"
: >"$console.out"
echo "# $suite: $qemu_bin ${machine[*]}"
timeout -s KILL "$GUEST_TIMEOUT" "$qemu_bin" -accel tcg "${machine[@]}" \
    -nodefaults -display none -monitor none -no-reboot \
    -kernel "$kdir/boot/vmlinuz-$ver" -initrd "$work/initramfs.cpio" \
    -append "$console_arg quiet loglevel=1 panic=-1 rdinit=/init $src_append ${VM_APPEND:-}" \
    "${nic[@]}" ${VM_QEMU_ARGS:-} \
    -chardev "pipe,id=con,path=$console" -serial chardev:con \
    >"$work/qemu.log" 2>&1 &
qemu=$!	# timeout's pid: it passes a TERM on to QEMU, a KILL it does not

# QEMU goes on a TERM (a halted AST2600 does not power off by itself).
stop_qemu() {
	local i
	kill -TERM $qemu 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 $qemu 2>/dev/null || break
		sleep 0.1
	done
	kill -9 $qemu 2>/dev/null
	wait $qemu 2>/dev/null
}
# Nothing of ours outlives the suite, whatever happens.
# nginx's master stops its worker on a TERM, not when killed.
trap 'stop_qemu; kill -TERM ${nginx_pid:-} 2>/dev/null; sleep 0.5
kill -9 ${tailpid:-} ${peer_pid[*]} ${netnbd_peer:-} ${netnbd_pid:-} $(jobs -p) 2>/dev/null' EXIT
# Read and write ends both ours: opening never blocks on QEMU.
exec 5<>"$console.in"
exec 4< <(exec tail -n +1 -F "$console.out" 2>/dev/null)
tailpid=$!

done_seen=0
partial=
guest_count=0
deadline=$((SECONDS + GUEST_TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
	if read -r -t 2 chunk <&4; then
		line=${partial}${chunk}
		partial=
	else
		partial=$partial$chunk
		kill -0 $qemu 2>/dev/null || break
		continue
	fi
	line=${line//$'\r'/}
	case $line in
	"VMTEST "*) line=${line#VMTEST } ;;
	*) continue ;;
	esac
	case $line in
	"ok "*)
		ok "${line#ok }"
		guest_count=$((guest_count + 1)) ;;
	"not ok "*)
		line=${line#not ok }
		notok "${line%%: *}" "$(syscall_names "${line#*: }")"
		guest_count=$((guest_count + 1)) ;;
	"WAIT "*)
		# shellcheck disable=SC2086
		answer ${line#WAIT } ;;
	"info dd_nbd0 "*)
		set -- ${line#info dd_nbd0 }
		awk -v b="$1" -v t="$2" 'BEGIN { printf "# '"$suite"' dd if=/dev/nbd0 of=/dev/null bs=1M iflag=direct: %d MiB in %.1f s, %.1f MB/s\n", b / 1048576, t / 100, b / 1e6 / (t / 100) }' ;;
	"info "*) echo "# $suite: ${line#info }" ;;
	"bench "*) echo "${line#bench }" >>"$work/bench.rows" ;;
	done)
		done_seen=1
		break ;;
	esac
done

if [ $done_seen -eq 1 ]; then
	ok vm_guest_ran_every_check
else
	if kill -0 $qemu 2>/dev/null; then
		why="no \"VMTEST done\" within ${GUEST_TIMEOUT}s"
	else
		why="QEMU ended before \"VMTEST done\": $(tail -2 "$work/qemu.log")"
	fi
	notok vm_guest_ran_every_check "$why after $guest_count checks; console tail:"
	tail -n 40 "$console.out" | tr -d '\r' | sed 's/^/#   /'
fi
# The guest has said all it will (poweroff -f follows "done").
stop_qemu
# Network NBD: the server's audit saw alice's session only (no session
# for the client without TLS) and mallory refused on export "net".
if [ "${netnbd_up:-}" = yes ] && [ $done_seen -eq 1 ]; then
	a=$work/netnbd/audit.log
	if [ "$(grep -c '"event": "session_start"' "$a")" = 1 ] &&
	    grep -q '"event": "session_start", "session": [0-9]*, "user": "alice", .*"export": "net"' "$a" &&
	    grep -q '"event": "access_denied", "user": "mallory", .*"export": "net"' "$a"; then
		ok vm_network_nbd_audit_alice_only_mallory_denied
	else
		notok vm_network_nbd_audit_alice_only_mallory_denied \
		    "$(cut -c1-160 "$a" | tr '\n' ' ')"
	fi
fi
if [ $test_failed -gt 0 ]; then
	cp "$console.out" "$work/console-failed.log"
	echo "# $suite: the guest's console is in $work/console-failed.log"
fi
wall_time
test_done
