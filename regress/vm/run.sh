#!/bin/bash
# The real kernel path: boots a Debian kernel under qemu-system-x86_64
# (TCG) with vmediad inside, serves images to it from test peers on this
# side through a forwarded loopback port, and reports what guest/init
# checked (/dev/nbdN, the USB gadget hook, credentials, faults) as the
# suite's ok / not ok lines. Every wait is bounded; a hung guest is a
# failure with the console's tail, never a hung suite.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

work=$top/build/vm
cache=$work/cache
img=$work/images
peer=$top/build/regress/vmedia-peer
console=$work/console.log
ctl=$work/ctl
GUEST_TIMEOUT=${GUEST_TIMEOUT:-420}	# seconds from boot to "VMTEST done"
start=$(date +%s)

wall_time() {
	echo "# vm wall time: $(($(date +%s) - start)) s"
}

fatal() {
	notok "$1" "$2"
	wall_time
	exit 1
}

mkdir -p "$work" "$img"

# --- what the VM needs: a failure, never a skip ----------------------------

for tool in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static \
    xorriso:xorriso; do
	command -v "${tool%%:*}" >/dev/null ||
		fatal vm_tools_present "no ${tool%%:*}: install Debian package ${tool#*:} (make deps)"
done
[ -x "$peer" ] || fatal vm_tools_present "no $peer: make -C regress/peer all"

kdir=$("$here/fetch-kernel.sh" "$cache" 2>"$work/fetch.log") ||
	fatal vm_kernel_available "$(tail -3 "$work/fetch.log")"
ver=$(ls "$kdir/lib/modules")
echo "# vm kernel: $ver"
# The guest's listener speaks TLS (passwords cross no network in the
# clear) with a certificate for the host's end of the forward.
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=vmediad-vm \
    -addext subjectAltName=IP:127.0.0.1 -days 2 \
    -keyout "$work/key.pem" -out "$work/cert.pem" >"$work/openssl.log" 2>&1 ||
	fatal vm_tls_certificate_made "$(tail -3 "$work/openssl.log")"
chmod 600 "$work/key.pem"
"$here/mkinitramfs.sh" "$kdir" "$top" "$work/initramfs.cpio" "$work" \
    >"$work/mkinitramfs.log" 2>&1 ||
	fatal vm_initramfs_builds "$(tail -3 "$work/mkinitramfs.log")"

# --- images the peers serve --------------------------------------------------

rm -rf "$img" && mkdir -p "$img/iso"
head -c 6M /dev/urandom >"$img/iso/payload.bin"
echo "vmediad VM test image" >"$img/iso/README.TXT"
cp "$img/iso/payload.bin" "$img/payload.bin"
xorriso -as mkisofs -quiet -V VMTEST -o "$img/cd.iso" "$img/iso" \
    >"$work/xorriso.log" 2>&1 ||
	fatal vm_iso_image_builds "$(tail -3 "$work/xorriso.log")"
head -c 8M /dev/urandom >"$img/disk.img"
cp "$img/disk.img" "$img/disk.orig"
head -c 64M /dev/urandom >"$img/big.img"

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

declare -A peer_pid

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
	local name=$1 export=$2 image=$3 i
	shift 3
	if ! safe_name "$name" || ! safe_name "$export" ||
	    ! safe_name "$image" || [ ! -f "$img/$image" ]; then
		out="failed bad request"
		return
	fi
	rm -f "$work/$name.ready"
	login
	"$peer" -v --daemon-ready "$work/$name.ready" \
	    --ca "$work/cert.pem" --header "Cookie: $cookie" \
	    --header "Origin: $base" "$@" \
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
	out="ready $(stat -c %s "$img/$image") $(sha256sum <"$img/$image" | cut -d' ' -f1)"
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
	patched) cmd_patched "$@" ;;
	*) out="unknown command $cmd" ;;
	esac
	echo "GO $id $out" >&5
	echo "$(date +%T) $id $((SECONDS - t0)) s: $out" >>"$work/host.log"
}

# --- the VM -------------------------------------------------------------------

rm -f "$console" "$ctl.in" "$ctl.out" "$work/host.log"
mkfifo "$ctl.in" "$ctl.out"
: >"$console"
timeout -s KILL "$GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max \
    -smp 2 -m 512 -nodefaults -display none -monitor none -no-reboot \
    -kernel "$kdir/boot/vmlinuz-$ver" -initrd "$work/initramfs.cpio" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-10.0.2.15:8080" \
    -device virtio-net-pci,netdev=n0 \
    -chardev "file,id=con,path=$console" -serial chardev:con \
    -chardev "pipe,id=ctl,path=$ctl" -serial chardev:ctl \
    >"$work/qemu.log" 2>&1 &
qemu=$!
# Nothing of ours outlives the suite, whatever happens.
trap 'kill -9 $qemu ${tailpid:-} ${peer_pid[*]} $(jobs -p) 2>/dev/null' EXIT
# Read and write ends both ours: opening never blocks on QEMU.
exec 5<>"$ctl.in" 6<>"$ctl.out"
exec 4< <(exec tail -n +1 -F "$console" 2>/dev/null)
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
		echo "$line"
		test_failed=$((test_failed + 1))
		guest_count=$((guest_count + 1)) ;;
	"WAIT "*)
		# shellcheck disable=SC2086
		answer ${line#WAIT } ;;
	"info dd_nbd0 "*)
		set -- ${line#info dd_nbd0 }
		awk -v b="$1" -v t="$2" 'BEGIN { printf "# vm dd if=/dev/nbd0 of=/dev/null bs=1M iflag=direct: %d MiB in %.1f s, %.1f MB/s\n", b / 1048576, t / 100, b / 1e6 / (t / 100) }' ;;
	"info "*) echo "# vm: ${line#info }" ;;
	done)
		done_seen=1
		break ;;
	esac
done

if [ $done_seen -eq 1 ]; then
	# poweroff -f: QEMU goes at once.
	for ((i = 0; i < 100; i++)); do
		kill -0 $qemu 2>/dev/null || break
		sleep 0.1
	done
	ok vm_guest_ran_every_check
else
	if kill -0 $qemu 2>/dev/null; then
		why="no \"VMTEST done\" within ${GUEST_TIMEOUT}s"
	else
		why="QEMU ended before \"VMTEST done\": $(tail -2 "$work/qemu.log")"
	fi
	notok vm_guest_ran_every_check "$why after $guest_count checks; console tail:"
	tail -n 40 "$console" | tr -d '\r' | sed 's/^/#   /'
fi
kill -9 $qemu 2>/dev/null
wait $qemu 2>/dev/null
if [ $test_failed -gt 0 ]; then
	cp "$console" "$work/console-failed.log"
	echo "# vm: the guest's console is in $work/console-failed.log"
fi
wall_time
test_done
