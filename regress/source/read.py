# The NBD export on fd 3, through libnbd: prints "SIZE SHA256". With
# STATUS_OUT set, first writes there what /proc says of nbdkit (SOURCE_PID):
# its status lines and what each of its fds is. With MIDREAD_CMD set, runs
# that shell command (without waiting) after the first 4 MiB, and with
# MIDREAD_WAIT set too, reads on only once that file exists (the command
# made it: the upstream is down by then, so the outage is met mid-read).
import hashlib
import os
import subprocess
import time

import nbd

h = nbd.NBD()
h.connect_socket(3)
out = os.environ.get("STATUS_OUT")
if out:
    pid = os.environ["SOURCE_PID"]
    with open(out, "w") as f:
        with open(f"/proc/{pid}/status") as s:
            f.write(s.read())
        for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
            f.write(f"fd {fd} {os.readlink(f'/proc/{pid}/fd/{fd}')}\n")
size = h.get_size()
digest = hashlib.sha256()
off = 0
while off < size:
    n = min(4 << 20, size - off)
    digest.update(h.pread(n, off))
    off += n
    if off == n and os.environ.get("MIDREAD_CMD"):
        subprocess.Popen(os.environ["MIDREAD_CMD"], shell=True)
        wait = os.environ.get("MIDREAD_WAIT")
        for _ in range(100):
            if not wait or os.path.exists(wait):
                break
            time.sleep(0.1)
h.shutdown()
print(size, digest.hexdigest())
