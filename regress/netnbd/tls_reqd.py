# An NBD client that skips STARTTLS. Usage: tls_reqd.py HOST PORT CASE;
# prints what the server answered:
#   go        GO for "lab": "<reply type> <text>"
#   list      LIST: "<reply type>"
#   names     LIST: the names of its SERVER replies, blank separated
#   name      EXPORT_NAME for "lab": "eof" once the server closed
#   starttls  STARTTLS: "<reply type>" (ACK where TLS is offered)
import socket, struct, sys

IHAVEOPT = 0x49484156454F5054
OPT_EXPORT_NAME, OPT_LIST, OPT_STARTTLS, OPT_GO = 1, 3, 5, 7


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def option(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def reply(s):
    _, _, rtype, length = struct.unpack(">QIII", recv_exact(s, 20))
    data = recv_exact(s, length)
    if rtype & 0x80000000:
        rtype = "ERR_%d" % (rtype & 0x7FFFFFFF)
    return rtype, data


s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
recv_exact(s, 18)
s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
case = sys.argv[3]
try:
    if case == "go":
        name = b"lab"
        option(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        t, d = reply(s)
        print(t, d.decode(errors="replace"))
    elif case == "list":
        option(s, OPT_LIST)
        print(reply(s)[0])
    elif case == "names":
        option(s, OPT_LIST)
        names = []
        while True:
            t, d = reply(s)
            if t != 2:  # NBD_REP_SERVER
                break
            (n,) = struct.unpack(">I", d[:4])
            names.append(d[4 : 4 + n].decode())
        print(" ".join(names))
    elif case == "starttls":
        option(s, OPT_STARTTLS)
        print(reply(s)[0])
    elif case == "name":
        option(s, OPT_EXPORT_NAME, b"lab")
        print("open" if s.recv(1) else "eof")
except EOFError:
    print("eof")
