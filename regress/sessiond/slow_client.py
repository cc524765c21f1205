# A local NBD client that asks for many large reads and does not read the
# replies for a while (less than the export's timeout): its requests must
# wait rather than sessiond buffer all the replies. Prints sessiond's
# VmRSS (kB) while stalled, then reads every reply and prints how many
# arrived intact.
import socket, struct, sys, time

path, pid, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    return bytes(buf)

def rss(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1

s = socket.socket(socket.AF_UNIX)
s.connect(path)
recv_exact(s, 18)                                   # greeting
s.sendall(struct.pack(">I", 3))                     # fixed newstyle, no zeroes
s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, 6) + struct.pack(">IH", 0, 0))
while True:
    magic, opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
    recv_exact(s, rlen)
    if rtype == 1:
        break
    if rtype & 0x80000000:
        sys.exit("GO refused")
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
reqs = b"".join(struct.pack(">IHHQQI", 0x25609513, 0, 0, i, (i * size) % (200 << 20), size)
                for i in range(count))
s.sendall(reqs)
time.sleep(1.5)
print("rss", rss(pid), flush=True)
ok = 0
for _ in range(count):
    magic, err, handle = struct.unpack(">IIQ", recv_exact(s, 16))
    if magic == 0x67446698 and err == 0:
        recv_exact(s, size)
        ok += 1
print("replies", ok, flush=True)
