#!/bin/bash
# Sessions end to end: a peer serves an image over a WebSocket, local NBD
# clients read and write it through vmediad; HTTP answers and refusals.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

work=$top/build/regress/sessiond
port=18090
. "$top/regress/lib/session.sh"

cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
user = nobody
chroot = $work/empty
web = $top/web
auth = none
max-headers = 20
max-header-size = 4096

[export "lab"]
description = Writable lab image
socket = $work/lab.sock
default = yes
timeout = 3
; today's teardown when a peer goes; regress/peer tests the window
reconnect = 0

[export "ro"]
description = Read-only image
socket = $work/ro.sock
read-only = yes
reconnect = 0

[export "small"]
socket = $work/small.sock
max-size = 1M
reconnect = 0

[export "cd"]
device = /dev/nbd0
read-only = yes
reconnect = 0
CONF

start_daemon small

# --- HTTP -----------------------------------------------------------------

out=$(curl -s "$base/api/exports")
n=$(echo "$out" | json 'len(d)' 2>/dev/null)
states=$(echo "$out" | json '",".join(e["state"] for e in d)' 2>/dev/null)
kinds=$(echo "$out" | json '",".join(e["kind"] for e in d)' 2>/dev/null)
[ "$n" = 4 ] && [ "$states" = idle,idle,idle,idle ] &&
    [ "$kinds" = socket,socket,socket,device ] &&
	ok api_exports_lists_every_export_idle ||
	notok api_exports_lists_every_export_idle "$out"

hdr=$(curl -s -D - -o "$work/body" "$base/nbd-server.js")
echo "$hdr" | grep -q '^HTTP/1.1 200' &&
    echo "$hdr" | grep -qi '^content-type: text/javascript' &&
    cmp -s "$work/body" "$top/web/nbd-server.js" &&
	ok static_file_served_from_memory_with_type ||
	notok static_file_served_from_memory_with_type "$hdr"

code=$(curl -s -o "$work/body" -w '%{http_code}' "$base/nothing-here")
[ "$code" = 404 ] && json 'd["error"]' <"$work/body" >/dev/null 2>&1 &&
	ok unknown_path_is_404_json || notok unknown_path_is_404_json "$code"

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/exports")
[ "$code" = 405 ] && ok post_to_exports_list_is_405 ||
	notok post_to_exports_list_is_405 "$code"

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    "$base/api/exports/lab/eject")
[ "$code" = 409 ] && ok eject_of_idle_export_is_409 ||
	notok eject_of_idle_export_is_409 "$code"

code=$(printf 'GARBAGE\x01\x02 / HTTP/1.1\r\n\r\n' |
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; head -c 12 <&3")
[ "$code" = "HTTP/1.1 400" ] && ok garbage_request_is_400 ||
	notok garbage_request_is_400 "$code"

hdrs=()
for i in $(seq 25); do hdrs+=(-H "X-Many-$i: $i"); done
code=$(curl -s -o /dev/null -w '%{http_code}' "${hdrs[@]}" "$base/api/exports")
[ "$code" = 431 ] && ok more_headers_than_max_headers_is_431 ||
	notok more_headers_than_max_headers_is_431 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 5000 /dev/zero | tr '\0' a)" \
    "$base/api/exports")
[ "$code" = 431 ] && ok header_block_over_max_header_size_is_431 ||
	notok header_block_over_max_header_size_is_431 "$code"

code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' \
    -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 8' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$base/nbd/lab")
[ "$code" = 426 ] && ok websocket_version_8_is_426 ||
	notok websocket_version_8_is_426 "$code"

code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' \
    -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$base/nbd/nosuch")
[ "$code" = 404 ] && ok websocket_to_unknown_export_is_404 ||
	notok websocket_to_unknown_export_is_404 "$code"

# --- no peer ----------------------------------------------------------------

err=$(qemu-img info "$(uri lab)" 2>&1)
nbdinfo "$(uri lab)" >/dev/null 2>&1
[ $? -ne 0 ] && echo "$err" | grep -q "no image attached to export" &&
	ok local_client_without_peer_gets_clear_error ||
	notok local_client_without_peer_gets_clear_error "$err"

# --- a writable socket export, GO ------------------------------------------

img=$work/image.bin
head -c 256M /dev/urandom >"$img"
sha=$(sha256sum <"$img")
attach_peer lab lab "$img"
size=$(nbdinfo --size "$(uri lab)" 2>&1)
[ "$size" = 268435456 ] && ok nbdinfo_reports_peer_size ||
	notok nbdinfo_reports_peer_size "$size"

# nbdsh runs on the python3 that has Debian's nbd module.
nbdsize=$(PATH=/usr/bin:$PATH nbdsh -u "$(uri lab)" -c 'print(h.get_size())' 2>&1)
PATH=/usr/bin:$PATH nbdsh -u "$(uri lab)" -c '
import sys
sys.stdout.buffer.write(h.pread(1048576, 100 * 1048576 + 4096))
' >"$work/nbdsh.out" 2>"$work/nbdsh.err"
dd if="$img" bs=4096 skip=$((25600 + 1)) count=256 status=none >"$work/nbdsh.want"
[ "$nbdsize" = 268435456 ] &&
cmp -s "$work/nbdsh.out" "$work/nbdsh.want" && ok nbdsh_reads_size_and_a_range ||
	notok nbdsh_reads_size_and_a_range "$(head -c 300 "$work/nbdsh.err")"

# --- fixed newstyle in full: what libnbd and qemu negotiate ---------------

info=$(nbdinfo --json "$(uri lab)" 2>&1)
got=$(echo "$info" | json '"%s %s %s %s" % (d["structured"], d["exports"][0]["contexts"], d["exports"][0]["block_size_maximum"], d["exports"][0]["can_multi_conn"])')
[ "$got" = "True ['base:allocation'] 33554432 False" ] &&
	ok nbdinfo_json_structured_base_allocation_max_payload_no_multi_conn_rw ||
	notok nbdinfo_json_structured_base_allocation_max_payload_no_multi_conn_rw "$got: $info"

got=$(nbdinfo --list --json "$(uri lab)" 2>&1 | json '" ".join("%s:%s:%s" % (e["export-name"], e["description"], e["export-size"]) for e in d["exports"])')
[ "$got" = "lab:Writable lab image:268435456" ] && ok nbdinfo_list_names_the_one_export ||
	notok nbdinfo_list_names_the_one_export "$got"

map=$(nbdinfo --map "$(uri lab)" 2>&1 | tr -s ' ' | sed 's/^ //')
[ "$map" = "0 268435456 0 data" ] && ok nbdinfo_map_one_data_extent ||
	notok nbdinfo_map_one_data_extent "$map"

out=$(PATH=/usr/bin:$PATH nbdsh --base-allocation -u "$(uri lab)" -c '
ext = []
h.block_status(65536, 4096, lambda ctx, off, e, err: ext.append((ctx, list(e))))
print(h.get_structured_replies_negotiated(), h.can_meta_context("base:allocation"), ext)
' 2>&1)
[ "$out" = "True True [('base:allocation', [65536, 0])]" ] &&
	ok nbdsh_block_status_base_allocation_all_data ||
	notok nbdsh_block_status_base_allocation_all_data "$out"

rm -f "$work/conv.raw"
qemu-img convert -O raw "$(uri lab)" "$work/conv.raw" 2>"$work/qemu.err"
[ "$(sha256sum <"$work/conv.raw")" = "$sha" ] &&
	ok qemu_img_convert_reads_byte_identical ||
	notok qemu_img_convert_reads_byte_identical "$(cat "$work/qemu.err")"
rm -f "$work/conv.raw"

# Options no real client sends: each ends (or refuses) only its own
# connection; the export serves the next client.
opts() {
	timeout 30 python3 "$here/nbd_options.py" "$work/lab.sock" "$@" 2>&1
}
out=$(opts out-of-order)
[ "$out" = "err3 ack meta ack info ack flags 0x25" ] &&
	ok nbd_meta_context_before_structured_reply_invalid_then_go ||
	notok nbd_meta_context_before_structured_reply_invalid_then_go "$out"
out=$(opts extended)
[ "$out" = "err1 info ack" ] &&
	ok nbd_extended_headers_unsup_then_go_simple ||
	notok nbd_extended_headers_unsup_then_go_simple "$out"
out=$(opts starttls)
[ "$out" = "err1 info ack" ] &&
	ok nbd_starttls_on_unix_socket_unsup_then_go ||
	notok nbd_starttls_on_unix_socket_unsup_then_go "$out"
out=$(opts oversized)
[ "$out" = eof ] && grep -q "local client .* closed: option 7 of 1048576 bytes" "$log" &&
	ok nbd_oversized_option_closes_that_client ||
	notok nbd_oversized_option_closes_that_client "$out"
out=$(opts truncated)
[ "$out" = sent ] && ok nbd_truncated_option_then_hangup_harmless ||
	notok nbd_truncated_option_then_hangup_harmless "$out"
out=$(opts many)
[ "$out" = "64 eof" ] && grep -q "local client .*: sent more than 64 options; disconnected" "$log" &&
	ok nbd_65th_option_disconnects ||
	notok nbd_65th_option_disconnects "$out"
out=$(timeout 90 python3 "$here/nbd_options.py" "$work/lab.sock" idle 2>&1)
[ "$out" = eof ] && grep -q "local client .* closed: handshake timed out" "$log" &&
	ok nbd_option_phase_idle_client_closed ||
	notok nbd_option_phase_idle_client_closed "$out"
out=$(opts block-status "$work/bs.out")
dd if="$img" bs=512 skip=2048 count=1 status=none >"$work/bs.want"
[ "$out" = "5 65536 0 1 1048576 512" ] && cmp -s "$work/bs.out" "$work/bs.want" &&
	ok nbd_raw_block_status_and_structured_read_chunks ||
	notok nbd_raw_block_status_and_structured_read_chunks "$out"
size=$(nbdinfo --size "$(uri lab)" 2>&1)
[ "$size" = 268435456 ] && ok export_serves_after_bad_option_clients ||
	notok export_serves_after_bad_option_clients "$size"

out=$(curl -s "$base/api/exports")
st=$(echo "$out" | json '[e for e in d if e["name"]=="lab"][0]["state"]')
sz=$(echo "$out" | json '[e for e in d if e["name"]=="lab"][0]["size"]')
[ "$st" = active ] && [ "$sz" = 268435456 ] &&
	ok api_shows_attached_export_active || notok api_shows_attached_export_active "$out"

code=$("$peer" "ws://127.0.0.1:$port/nbd/lab" "$img" 2>&1)
[ $? -eq 2 ] && echo "$code" | grep -q 409 &&
	ok second_peer_on_busy_export_gets_409 ||
	notok second_peer_on_busy_export_gets_409 "$code"

rm -f "$work/copy.bin"
t0=$(date +%s.%N)
nbdcopy "$(uri lab)" "$work/copy.bin" 2>"$work/nbdcopy.err"
t1=$(date +%s.%N)
if [ "$(sha256sum <"$work/copy.bin")" = "$sha" ]; then
	ok nbdcopy_reads_256mib_byte_identical
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "# nbdcopy 256 MiB through vmediad: %.0f MiB/s\n", 256 / (b - a) }' >&2
else
	notok nbdcopy_reads_256mib_byte_identical "$(cat "$work/nbdcopy.err")"
fi
rm -f "$work/copy.bin"

nbdcopy "$(uri lab)" "$work/a.bin" & a=$!
nbdcopy "$(uri lab)" "$work/b.bin" & b=$!
wait $a; ra=$?
wait $b; rb=$?
[ $ra -eq 0 ] && [ $rb -eq 0 ] && [ "$(sha256sum <"$work/a.bin")" = "$sha" ] &&
    [ "$(sha256sum <"$work/b.bin")" = "$sha" ] &&
	ok two_local_clients_read_at_once ||
	notok two_local_clients_read_at_once "rc $ra $rb"
rm -f "$work/a.bin" "$work/b.bin"

# A client that stops reading for a while: its requests wait, nothing
# piles up (attack_test.sh: one that never reads again).
spid=$(pgrep -P $pid -x sessiond)
out=$(timeout 60 python3 "$here/slow_client.py" "$work/lab.sock" "$spid" 200 1048576)
kb=$(echo "$out" | awk '/^rss/ { print $2 }')
n=$(echo "$out" | awk '/^replies/ { print $2 }')
[ -n "$kb" ] && [ "$kb" -lt 65536 ] && [ "$n" = 200 ] &&
	ok stalled_client_waits_memory_bounded ||
	notok stalled_client_waits_memory_bounded "rss ${kb:-?} kB, replies ${n:-?}"
echo "# sessiond VmRSS with 200 MiB of replies owed to a stalled client: ${kb:-?} kB" >&2

cp "$img" "$work/expect.bin"
printf '\xa5%.0s' $(seq 8192) | dd of="$work/expect.bin" bs=1 seek=12288 \
    conv=notrunc status=none
out=$(qemu-io -f raw -c 'write -P 0xa5 12288 8192' -c flush "$(uri lab)" 2>&1)
if cmp -s "$img" "$work/expect.bin"; then
	ok qemu_io_write_reaches_peer_file_exactly
else
	notok qemu_io_write_reaches_peer_file_exactly "$out; $(cmp "$img" "$work/expect.bin")"
fi
rm -f "$work/expect.bin"

# --- read-ahead (read-ahead = 4M by default) --------------------------------

# One request at a time, in order: answered from read-ahead, byte-identical,
# and what it holds stays within the window.
lab_ra() {
	curl -s "$base/api/exports" | json '[e for e in d if e["name"]=="lab"][0]["read_ahead"]["'"$1"'"]'
}
hits0=$(lab_ra hits)
nbdcopy --requests=1 --request-size=131072 "$(uri lab)" "$work/copy.bin" \
    2>"$work/nbdcopy.err" &
cp_pid=$!
held_max=0
while kill -0 $cp_pid 2>/dev/null; do
	h=$(lab_ra held)
	[ "${h:-0}" -gt "$held_max" ] && held_max=$h
	sleep 0.05
done
wait $cp_pid
hits=$(lab_ra hits)
window=$(lab_ra window)
if [ "$(sha256sum <"$work/copy.bin")" = "$(sha256sum <"$img")" ] &&
    [ "$window" = 4194304 ] && [ $((hits - hits0)) -gt 1000 ] &&
    [ "$held_max" -le "$window" ]; then
	ok readahead_serves_a_sequential_reader_byte_identical_within_window
else
	notok readahead_serves_a_sequential_reader_byte_identical_within_window \
	    "window $window hits $hits0..$hits held max $held_max: $(cat "$work/nbdcopy.err")"
fi
echo "# read-ahead: $((hits - hits0)) of 2048 reads answered from it, at most $held_max bytes held" >&2
rm -f "$work/copy.bin"

# A write lands inside what was read ahead: the next read sees the write.
out=$(PATH=/usr/bin:$PATH nbdsh -u "$(uri lab)" -c '
blk = 131072
for i in range(4):
    h.pread(blk, 64 * 1048576 + i * blk)
h.pwrite(b"\x5a" * 4096, 64 * 1048576 + 6 * blk + 512)
got = h.pread(blk, 64 * 1048576 + 6 * blk)
print("fresh" if got[512:4608] == b"\x5a" * 4096 else "stale")
' 2>&1)
[ "$out" = fresh ] && [ "$(lab_ra held)" -le 4194304 ] &&
	ok readahead_read_after_write_sees_the_write ||
	notok readahead_read_after_write_sees_the_write "$out"

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/exports/lab/eject")
if [ "$code" = 200 ] && wait_gone $ppid_ 30 && [ "$status" -eq 0 ] &&
    grep -q "server closed: 1000 ejected" "$work/lab.out"; then
	ok eject_closes_the_peer_websocket_normally
else
	notok eject_closes_the_peer_websocket_normally "code $code, peer ${status:-running}: $(tail -2 "$work/lab.out")"
fi
st=$(curl -s "$base/api/exports" | json '[e for e in d if e["name"]=="lab"][0]["state"]')
[ "$st" = idle ] && ok export_idle_after_eject || notok export_idle_after_eject "$st"

# --- jsnbd / webui-vue: EXPORT_NAME only -------------------------------------

head -c 8M /dev/urandom >"$work/small.bin"
attach_peer old lab "$work/small.bin" --export-name-only
nbdcopy "$(uri lab)" "$work/copy.bin" 2>/dev/null
cmp -s "$work/small.bin" "$work/copy.bin" &&
    grep -q "peer serves 8388608 bytes (EXPORT_NAME)" "$log" &&
	ok export_name_only_peer_works_via_fallback ||
	notok export_name_only_peer_works_via_fallback "$(tail -2 "$log")"
eject lab
wait_gone $ppid_ 30
rm -f "$work/copy.bin"

# --- read-only export ---------------------------------------------------------

sha_small=$(sha256sum <"$work/small.bin")
attach_peer ro ro "$work/small.bin"
info=$(nbdinfo "$(uri ro)" 2>&1)
out=$(qemu-io -f raw -c 'write -P 0x11 0 4096' "$(uri ro)" 2>&1)
wrc=$?
echo "$info" | grep -q 'is_read_only: true' && [ "$(sha256sum <"$work/small.bin")" = "$sha_small" ] &&
    ! echo "$out" | grep -q '^wrote' &&
	ok read_only_export_refuses_writes_file_unchanged ||
	notok read_only_export_refuses_writes_file_unchanged "rc $wrc: $out"
echo "$info" | grep -q 'can_multi_conn: true' &&
	ok read_only_export_can_multi_conn ||
	notok read_only_export_can_multi_conn "$info"
nbdcopy --connections=4 "$(uri ro)" "$work/copy.bin" 2>"$work/nbdcopy.err"
[ "$(sha256sum <"$work/copy.bin")" = "$sha_small" ] &&
	ok nbdcopy_four_connections_read_only_byte_identical ||
	notok nbdcopy_four_connections_read_only_byte_identical "$(cat "$work/nbdcopy.err")"
rm -f "$work/copy.bin"
eject ro
wait_gone $ppid_ 30

# --- limits and faults ---------------------------------------------------------

head -c 2M /dev/urandom >"$work/two.bin"
"$peer" "ws://127.0.0.1:$port/nbd/small" "$work/two.bin" >"$work/big.out" 2>&1
grep -q "server closed: 1008 image of 2097152 bytes exceeds max-size 1048576" "$work/big.out" &&
	ok image_over_max_size_refused_1008 ||
	notok image_over_max_size_refused_1008 "$(tail -1 "$work/big.out")"

for f in zero-size:"the peer offers an empty image" \
    bad-greeting:"bad greeting magic" \
    bad-option-reply:"bad option reply magic"; do
	kind=${f%%:*}
	want=${f#*:}
	timeout 10 "$peer" --fault "$kind" "ws://127.0.0.1:$port/nbd/lab" \
	    "$work/small.bin" >"$work/fault.out" 2>&1
	if grep -q "$want" "$log" && grep -q "server closed: 100[28]" "$work/fault.out"; then
		ok "handshake_fault_${kind}_ends_session"
	else
		notok "handshake_fault_${kind}_ends_session" "$(tail -1 "$work/fault.out")"
	fi
done

for f in bad-magic:"bad reply magic" bad-handle:"which is not outstanding" \
    long-read:"bad reply magic" stall:"the peer stopped answering"; do
	kind=${f%%:*}
	want=${f#*:}
	attach_peer fault lab "$work/small.bin" --fault "$kind:3"
	timeout 20 nbdcopy "$(uri lab)" "$work/copy.bin" >/dev/null 2>&1
	crc=$?
	wait_gone $ppid_ 100
	if [ $crc -ne 0 ] && [ $crc -ne 124 ] &&
	    grep -q "session [0-9]*: export lab.*$want" "$log"; then
		ok "relay_fault_${kind}_ends_session_client_fails_fast"
	else
		notok "relay_fault_${kind}_ends_session_client_fails_fast" "nbdcopy rc $crc"
	fi
done
rm -f "$work/copy.bin"

attach_peer dead lab "$img" --die-after-bytes 1048576
timeout 20 nbdcopy "$(uri lab)" "$work/copy.bin" >/dev/null 2>&1
crc=$?
wait_gone $ppid_ 50
st=$(curl -s "$base/api/exports" | json '[e for e in d if e["name"]=="lab"][0]["state"]')
[ $crc -ne 0 ] && [ $crc -ne 124 ] && [ "$st" = idle ] &&
	ok peer_vanishing_mid_read_fails_client_and_frees_export ||
	notok peer_vanishing_mid_read_fails_client_and_frees_export "rc $crc state $st"
rm -f "$work/copy.bin"

# --- device export without an nbd driver here --------------------------------

"$peer" "ws://127.0.0.1:$port/nbd/cd" "$work/small.bin" >"$work/cd.out" 2>&1
grep -q "server closed: 1011 connect /dev/nbd0: No such file or directory" "$work/cd.out" &&
	ok device_attach_failure_reaches_peer_as_1011 ||
	notok device_attach_failure_reaches_peer_as_1011 "$(tail -1 "$work/cd.out")"
st=$(curl -s "$base/api/exports" | json '[e for e in d if e["name"]=="cd"][0]["state"]')
[ "$st" = idle ] && ok device_export_idle_after_refusal ||
	notok device_export_idle_after_refusal "$st"

# --- the daemon is none the worse -------------------------------------------

daemon_survived daemon_survives_every_session_and_fault

stop_daemon
[ "${status:-1}" -eq 0 ] && [ ! -e "$work/lab.sock" ] &&
	ok sigterm_stops_and_removes_export_sockets ||
	notok sigterm_stops_and_removes_export_sockets "status ${status:-running}"

rm -f "$img" "$work/small.bin" "$work/two.bin"
test_done
