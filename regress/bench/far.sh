#!/bin/bash
# make bench-far: sequential reads from an image owner 50 ms RTT away at
# 100 Mbit/s, through the kernel device (dd, buffered, as the USB gadget
# reads) and a socket export (nbdcopy, one request of 128 KiB at a time),
# with vmediad's read-ahead off and on, as MB/s and as a share of the
# link's 12.5 MB/s. The link is emulated in the x86_64 test VM, whose
# kernel has sch_netem: regress/vm/guest/bench-far says how. Prints the
# suite's lines of regress/vm/run.sh (VM_MODE=bench-far), then a table.
#   BENCH_MIB          the image's size in MiB (default 64)
#   BENCH_READ_AHEAD   vmediad's read-ahead for the "on" rows (default
#                      4M; "default" leaves the key out of the config)
# Figures only: nothing here passes or fails on a timing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
mib=${BENCH_MIB:-64}
ra=${BENCH_READ_AHEAD:-4M}
[[ $mib =~ ^[1-9][0-9]*$ ]] && [ "$mib" -le 256 ] ||
	{ echo "bench-far: BENCH_MIB=$mib: 1 to 256" >&2; exit 1; }
[[ $ra =~ ^([0-9]+[KMGT]?|default)$ ]] ||
	{ echo "bench-far: BENCH_READ_AHEAD=$ra: a size (4M) or default" >&2; exit 1; }

VM_MODE=bench-far VM_ARCH=x86_64 \
    VM_APPEND="${VM_APPEND:-} BENCH_MIB=$mib BENCH_READ_AHEAD=$ra" \
    bash "$top/regress/vm/run.sh"
status=$?
rows=$top/build/bench-far/bench.rows
[ -s "$rows" ] || { echo "bench-far: no figures (see above)"; exit 1; }

echo
echo "Far-link bench: a $mib MiB image; the link 100 Mbit/s (12.5 MB/s), 50 ms RTT"
echo "(netem on both ends of a veth pair in the VM); read-ahead on = $ra"
awk '
function linkname(l) { return l == "far" ? "50 ms, 100 Mbit/s" : "no netem (VM alone)" }
function readername(r) {
	if (r == "dd")
		return "dd /dev/nbd0 bs=128k (buffered)"
	if (r == "dd-direct")
		return "  reference: dd bs=4M iflag=direct"
	if (r == "nbdcopy")
		return "nbdcopy --requests=1 128k (socket)"
	return "  reference: nbdcopy --requests=16"
}
BEGIN {
	printf "%-20s %-11s %-36s %8s  %s\n", "link", "read-ahead", "reader",
	    "MB/s", "of 12.5 MB/s"
}
{
	if ($4 == "ok") {
		mbs = $5 / 1e6 / ($6 / 100)
		share = $1 == "far" ? sprintf("%.0f%%", mbs / 12.5 * 100) : "-"
		ra = $2 ($7 != "-" ? " (" $7 "K)" : "")
		printf "%-20s %-11s %-36s %8.1f  %s\n", linkname($1), ra,
		    readername($3), mbs, share
	} else {
		why = $0
		sub(/^[^ ]+ [^ ]+ [^ ]+ na /, "", why)
		printf "%-20s %-11s %-36s %8s  %s\n", linkname($1), $2,
		    readername($3), "-", why
	}
}' "$rows"
echo "(NK): the device's read_ahead_kb during the read. The references keep"
echo "many requests in flight: what the link and the VM carry without read-ahead."
exit $status
