"""make bench: queue-depth-1 latency of 4 KiB reads.

usage: latency.py N SIZE NAME=URI...

Opens one libnbd connection per URI, then does N rounds; each round reads
4 KiB at one random 4 KiB-aligned offset below SIZE from every connection
in turn (one request in flight at a time), so a busy moment slows all of
them alike. Prints one JSON object: per NAME the median and p99 of the
time each pread took, in microseconds (libnbd's own cost included, the
same for every URI)."""

import json
import random
import sys
import time

import nbd


def main():
    n, size = int(sys.argv[1]), int(sys.argv[2])
    targets = [a.split("=", 1) for a in sys.argv[3:]]
    handles = []
    for name, uri in targets:
        h = nbd.NBD()
        h.connect_uri(uri)
        handles.append((name, h))
    rng = random.Random(12)
    blocks = size // 4096
    times = {name: [] for name, _ in handles}
    for i in range(n + n // 10):
        off = rng.randrange(blocks) * 4096
        for name, h in handles:
            t0 = time.perf_counter_ns()
            h.pread(4096, off)
            t = time.perf_counter_ns() - t0
            if i >= n // 10:  # the first tenth warms up
                times[name].append(t / 1000)
    out = {}
    for name, h in handles:
        ts = sorted(times[name])
        out[name] = {"median": ts[len(ts) // 2], "p99": ts[min(len(ts) - 1, len(ts) * 99 // 100)], "n": len(ts)}
        h.shutdown()
    print(json.dumps(out))


main()
