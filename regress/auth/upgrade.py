# One raw WebSocket upgrade: prints the status line and the
# Sec-WebSocket-Protocol answered, then closes.
import socket, sys

host, port, path, protocol = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port))
req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
       "Origin: http://%s:%d\r\n\r\n") % (path, host, port, protocol, host, port)
s.sendall(req.encode())
s.settimeout(5)
head = b""
while b"\r\n\r\n" not in head:
    chunk = s.recv(4096)
    if not chunk:
        break
    head += chunk
lines = head.split(b"\r\n")
print(lines[0].decode())
for l in lines[1:]:
    if l.lower().startswith(b"sec-websocket-protocol:"):
        print(l.split(b":", 1)[1].strip().decode())
s.close()
