# Holds N idle TCP connections and one slowloris client (a byte a
# second) open against HOST:PORT; prints what became of the slow one.
import socket, sys, time

host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
idle = []
for _ in range(n):
    s = socket.create_connection((host, port))
    idle.append(s)
slow = socket.create_connection((host, port))
request = b"GET /api/session HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
start = time.time()
closed_after = None
i = 0
while time.time() - start < seconds:
    try:
        slow.send(request[i:i + 1])
        i = (i + 1) % len(request)
        slow.settimeout(1.0)
        data = slow.recv(4096)
        if data == b"" or b"408" in data:
            closed_after = time.time() - start
            break
    except socket.timeout:
        pass
    except OSError:
        closed_after = time.time() - start
        break
print("ready" if closed_after is None else "slow-closed %.1f" % closed_after, flush=True)
# keep the idle ones until told to stop
sys.stdin.read()
