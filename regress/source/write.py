# Writes through an NBD export and reads the bytes back: "write.py URI"
# connects (libnbd), fails if the export is read-only, writes three
# patterns (64 KiB at 1 MiB, 100 bytes at offset 5000 that straddle no
# block boundary, 4 KiB at 5 MiB), flushes, reads each back and prints
# "wrote 3, read back 3". "write.py --apply FILE" writes the same
# patterns into FILE, to make the bytes the export should then show.
import sys

import nbd

PATCHES = [(1 << 20, b"\x5a" * 65536), (5000, b"\xa5" * 100),
           (5 << 20, b"\x3c" * 4096)]

if sys.argv[1] == "--apply":
    with open(sys.argv[2], "r+b") as f:
        for off, data in PATCHES:
            f.seek(off)
            f.write(data)
    sys.exit(0)

h = nbd.NBD()
h.connect_uri(sys.argv[1])
if h.is_read_only():
    sys.exit("the export is read-only")
for off, data in PATCHES:
    h.pwrite(data, off)
h.flush()
back = sum(1 for off, data in PATCHES if h.pread(len(data), off) == data)
h.shutdown()
print(f"wrote {len(PATCHES)}, read back {back}")
sys.exit(0 if back == len(PATCHES) else 1)
