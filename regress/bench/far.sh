#!/bin/bash
# make bench-far: sequential reads from an image owner 50 ms RTT away at
# 100 Mbit/s, through the kernel device (dd, buffered, as the USB gadget
# reads) and a socket export (nbdcopy, one request of 128 KiB at a time),
# with vmediad's read-ahead off and on, as MB/s and as a share of the
# link's 12.5 MB/s. The link is emulated in the x86_64 test VM, whose
# kernel has sch_netem: regress/vm/guest/bench-far says how. Prints the
# suite's lines of regress/vm/run.sh (VM_MODE=bench-far), then a table.
#   BENCH_MIB          the image's size in MiB (default 64)
#   BENCH_RUNS         reads of the whole image per row (default 3); the
#                      table shows the best and the range
#   BENCH_READ_AHEAD   vmediad's read-ahead for the "on" rows (default
#                      4M; "default" leaves the key out of the config)
# Figures only: nothing here passes or fails on a timing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
mib=${BENCH_MIB:-64}
runs=${BENCH_RUNS:-3}
ra=${BENCH_READ_AHEAD:-4M}
[[ $mib =~ ^[1-9][0-9]*$ ]] && [ "$mib" -le 256 ] ||
	{ echo "bench-far: BENCH_MIB=$mib: 1 to 256" >&2; exit 1; }
[[ $runs =~ ^[1-9]$ ]] ||
	{ echo "bench-far: BENCH_RUNS=$runs: 1 to 9" >&2; exit 1; }
[[ $ra =~ ^([0-9]+[KMGT]?|default)$ ]] ||
	{ echo "bench-far: BENCH_READ_AHEAD=$ra: a size (4M) or default" >&2; exit 1; }

VM_MODE=bench-far VM_ARCH=x86_64 \
    VM_APPEND="${VM_APPEND:-} BENCH_MIB=$mib BENCH_RUNS=$runs BENCH_READ_AHEAD=$ra" \
    bash "$top/regress/vm/run.sh"
status=$?
rows=$top/build/bench-far/bench.rows
[ -s "$rows" ] || { echo "bench-far: no figures (see above)"; exit 1; }

echo
echo "Far-link bench: 100 Mbit/s (12.5 MB/s), 50 ms RTT (netem on both ends of"
echo "a veth pair in the VM); a $mib MiB image read $runs times per row;"
echo "read-ahead on: $ra"
awk '
function linkname(l) {
	return l == "far" ? "50 ms, 100 Mbit/s" : "no netem (VM alone)"
}
function readername(r) {
	if (r == "dd")
		return "dd /dev/nbd0 bs=128k (buffered)"
	if (r == "dd-direct")
		return "  reference: dd bs=4M iflag=direct"
	if (r == "nbdcopy")
		return "nbdcopy --requests=1 128k (socket)"
	return "  reference: nbdcopy --requests=16"
}
{
	k = $1 " " $2 " " $3
	if (!(k in n)) {
		order[++rows] = k
		n[k] = 0
	}
	if ($4 == "ok") {
		mbs = $5 / 1e6 / ($6 / 100)
		if (n[k] == 0 || mbs > best[k])
			best[k] = mbs
		if (n[k] == 0 || mbs < worst[k])
			worst[k] = mbs
		n[k]++
		rakb[k] = $7
	} else {
		why = $0
		sub(/^[^ ]+ [^ ]+ [^ ]+ na /, "", why)
		na[k] = why
	}
}
END {
	printf "%-20s %-11s %-36s %6s %5s  %s\n", "link", "read-ahead",
	    "reader", "MB/s", "share", "runs: MB/s"
	for (i = 1; i <= rows; i++) {
		k = order[i]
		split(k, f, " ")
		ra = f[2] (rakb[k] != "" && rakb[k] != "-" ? " (" rakb[k] "K)" : "")
		if (n[k] > 0) {
			share = f[1] == "far" ? sprintf("%.0f%%", best[k] / 12.5 * 100) : "-"
			runs = sprintf("%d: %.1f-%.1f", n[k], worst[k], best[k])
			if (k in na)
				runs = runs ", then " na[k]
			printf "%-20s %-11s %-36s %6.1f %5s  %s\n", linkname(f[1]),
			    ra, readername(f[3]), best[k], share, runs
		} else
			printf "%-20s %-11s %-36s %6s %5s  %s\n", linkname(f[1]),
			    ra, readername(f[3]), "-", "-", na[k]
	}
}' "$rows"
echo "MB/s: the best of the runs (others share this machine); share: of the"
echo "link's 12.5 MB/s; (NK): the device's read_ahead_kb. The references keep"
echo "many requests in flight: what the link and the VM carry without read-ahead."
exit $status
