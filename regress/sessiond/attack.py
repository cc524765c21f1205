# Clients that send and never read, as the red team's did (issue "Holding
# up under attack"): each floods sessiond for a while, samples sessiond's
# VmRSS, and prints what became of its connection:
#   rss_max KB       the most sessiond held while we flooded
#   closed S|no      after how many seconds sessiond closed on us
#
#   ping-flood HOST PORT PATH PID SECONDS [handshake]
#       a WebSocket peer sending pings; with "handshake", after serving
#       the NBD handshake for an image of 1 MiB
#   opt-list-flood SOCKET PID SECONDS
#       a local NBD client sending NBD_OPT_LIST
#   pipeline-flood HOST PORT PID SECONDS
#       an HTTP client pipelining GET requests
# and the others of the issue:
#   hold HOST PORT N     N idle connections, "held N", kept until stdin ends
#   evict-in-progress HOST PORT
#   evict-idle-longest HOST PORT
#       fill max-connections with idle connections; print "survived" or
#       "evicted" for a request in progress, or which of two connections
#       went first: the one that made a request or the idle one
#   stall SOCKET COUNT SIZE SECONDS
#       a local NBD client asking COUNT reads of SIZE bytes and reading
#       nothing for SECONDS; prints its pid first, then "eof" if sessiond
#       had closed the connection by then, else "open"
# A flood stops early once sessiond holds more than 512 MiB: enough to
# fail the test without risking the machine.
import base64, os, socket, struct, sys, time

IHAVEOPT = 0x49484156454F5054
NBDMAGIC = 0x4E42444D41474943
REPLY_MAGIC = 0x3E889045565A9
RSS_GIVE_UP = 512 * 1024


def rss(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def small_receiver(s):
    # Our receive window stays small: what sessiond sends piles up there.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)


def masked(op, payload):
    key = os.urandom(4)
    body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | op, 0x80 | n])
    else:
        head = bytes([0x80 | op, 0x80 | 126]) + struct.pack(">H", n)
    return head + key + body


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("closed")
        buf += d
    return buf


def ws_connect(host, port, path):
    s = socket.socket(socket.AF_INET)
    small_receiver(s)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n"
               % (path, host, port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        if not d:
            sys.exit("upgrade refused")
        head += d
    if b" 101 " not in head.split(b"\r\n")[0]:
        sys.exit("upgrade refused: %r" % head.split(b"\r\n")[0])
    return s


def ws_payload(s):
    """The payload of the next frame from sessiond (binary, unmasked)."""
    h = recv_exact(s, 2)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    return recv_exact(s, n)


def serve_handshake(s):
    """As the NBD server of a 1 MiB image: greeting, then answer GO."""
    s.sendall(masked(2, struct.pack(">QQH", NBDMAGIC, IHAVEOPT, 3)))
    stream = b""
    while len(stream) < 4 + 16 + 6:
        stream += ws_payload(s)
    opt = struct.unpack(">I", stream[12:16])[0]
    info = struct.pack(">HQH", 0, 1 << 20, 1)
    s.sendall(masked(2, struct.pack(">QIII", REPLY_MAGIC, opt, 3, len(info))
                     + info + struct.pack(">QIII", REPLY_MAGIC, opt, 1, 0)))


def flood(s, pid, seconds, batch):
    """Sends batch until sessiond closes or time is up; prints the result."""
    s.setblocking(False)
    start = time.time()
    peak = rss(pid)
    closed = None
    left = b""
    while time.time() - start < seconds and peak < RSS_GIVE_UP:
        try:
            left = left or batch
            left = left[s.send(left):]
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            closed = time.time() - start
            break
        now = rss(pid)
        peak = max(peak, now)
    print("rss_max", peak, flush=True)
    print("closed", "no" if closed is None else "%.1f" % closed, flush=True)


def ping_flood(host, port, path, pid, seconds, handshake=False):
    s = ws_connect(host, port, path)
    if handshake:
        serve_handshake(s)
        time.sleep(0.5)
    flood(s, pid, seconds, masked(9, b"p" * 125) * 512)


def opt_list_flood(path, pid, seconds):
    s = socket.socket(socket.AF_UNIX)
    small_receiver(s)
    s.connect(path)
    recv_exact(s, 18)
    s.sendall(struct.pack(">I", 3))
    flood(s, pid, seconds, struct.pack(">QII", IHAVEOPT, 3, 0) * 4096)


def pipeline_flood(host, port, pid, seconds):
    s = socket.socket(socket.AF_INET)
    small_receiver(s)
    s.connect((host, port))
    flood(s, pid, seconds,
          b"GET /api/exports HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 512)


def hold(host, port, n):
    held = []
    for _ in range(n):
        try:
            held.append(socket.create_connection((host, port), timeout=2))
        except OSError:
            pass
    print("held", len(held), flush=True)
    sys.stdin.read()


def closed(s):
    """Whether sessiond closed s (reads nothing: peeks, never blocks)."""
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def fill_until(host, port, watched, limit=64):
    """Opens idle connections, 20 ms apart, until one of watched closes."""
    fillers = []
    for _ in range(limit):
        fillers.append(socket.create_connection((host, port)))
        time.sleep(0.02)
        gone = [w for w in watched if closed(w)]
        if gone:
            return gone, fillers
        if any(closed(f) for f in fillers):
            break
    return [w for w in watched if closed(w)], fillers


def get(s):
    s.sendall(b"GET /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return read_response(s)


def read_response(s):
    s.settimeout(5)
    try:
        head = s.recv(4096)
    except OSError:
        return b""
    return head.split(b"\r\n")[0]


def evict_in_progress(host, port):
    a = socket.create_connection((host, port))
    a.sendall(b"GET /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    time.sleep(0.2)
    gone, fillers = fill_until(host, port, [a])
    for _ in range(4):		# a few evictions more
        fillers.append(socket.create_connection((host, port)))
        time.sleep(0.02)
    a.sendall(b"\r\n")
    status = read_response(a)
    print("survived" if b" 200 " in status + b" " else "evicted", flush=True)


def evict_idle_longest(host, port):
    busy = socket.create_connection((host, port))
    time.sleep(0.1)
    idle = socket.create_connection((host, port))
    time.sleep(0.1)
    if b" 200" not in get(busy):
        sys.exit("no answer to the busy connection")
    gone, fillers = fill_until(host, port, [busy, idle])
    print("idle" if gone == [idle] else "busy" if gone == [busy] else
          "neither", flush=True)


def stall(path, count, size, seconds):
    print(os.getpid(), flush=True)
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    recv_exact(s, 18)
    s.sendall(struct.pack(">I", 3))
    s.sendall(struct.pack(">QII", IHAVEOPT, 7, 6) + struct.pack(">IH", 0, 0))
    while True:
        magic, opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
        recv_exact(s, rlen)
        if rtype == 1:
            break
        if rtype & 0x80000000:
            sys.exit("GO refused")
    small_receiver(s)
    s.sendall(b"".join(struct.pack(">IHHQQI", 0x25609513, 0, 0, i,
                                   (i * size) % (32 << 20), size)
                       for i in range(count)))
    time.sleep(seconds)
    s.settimeout(2)
    try:
        while s.recv(1 << 20):
            pass
        print("eof", flush=True)
    except OSError:
        print("open", flush=True)


cmd = sys.argv[1]
if cmd == "ping-flood":
    ping_flood(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
               float(sys.argv[6]), len(sys.argv) > 7)
elif cmd == "opt-list-flood":
    opt_list_flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
elif cmd == "pipeline-flood":
    pipeline_flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                   float(sys.argv[5]))
elif cmd == "hold":
    hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "evict-in-progress":
    evict_in_progress(sys.argv[2], int(sys.argv[3]))
elif cmd == "evict-idle-longest":
    evict_idle_longest(sys.argv[2], int(sys.argv[3]))
elif cmd == "stall":
    stall(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
else:
    sys.exit("unknown command " + cmd)
