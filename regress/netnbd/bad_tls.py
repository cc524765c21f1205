# A network NBD client that misbehaves around STARTTLS, or many of them.
# Usage: bad_tls.py PORT CERTDIR CASE [N]; connects to 127.0.0.1:PORT
# (CERTDIR: ca-cert.pem, client-cert.pem, client-key.pem) and prints:
#   twice      STARTTLS, TLS, STARTTLS again: its reply type, then that
#              of a LIST's first reply inside TLS: "ERR_3 2" (SERVER)
#   garbage    STARTTLS, then 4 KiB of garbage for a ClientHello: "eof"
#              once the server closed
#   after      STARTTLS, garbage, then a LIST in the clear: "eof"
#   idle N     N connections that send nothing: how many the server has
#              closed within 60 s, "N closed"
#   peruser N  N+1 connections after STARTTLS, each with a part of an
#              option, then a LIST on each: "ok"/"eof" for each, in order
#   perexport N [CERTDIR2]  N connections that GO to "ro" and stay, then
#              one more GO (with CERTDIR2's certificate): its reply type
import resource, select, socket, ssl, struct, sys, time

IHAVEOPT = 0x49484156454F5054
OPT_LIST, OPT_STARTTLS, OPT_GO = 3, 5, 7
port, certdir, case = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def recv_exact(s, k):
    b = b""
    while len(b) < k:
        c = s.recv(k - len(b))
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
        return "ERR_%d" % (rtype & 0x7FFFFFFF), data
    return str(rtype), data


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    recv_exact(s, 18)
    s.sendall(struct.pack(">I", 3))
    return s


def starttls(s, certdir=certdir):
    option(s, OPT_STARTTLS)
    t, _ = reply(s)
    if t != "1":
        raise SystemExit("STARTTLS answered " + t)
    ctx = ssl.create_default_context(cafile=certdir + "/ca-cert.pem")
    ctx.load_cert_chain(certdir + "/client-cert.pem", certdir + "/client-key.pem")
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def gone(s):
    """Reads what comes (a TLS alert, say) until the server closes."""
    try:
        while s.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True


def go(s, name):
    option(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    while True:
        t, _ = reply(s)
        if t != "3":  # NBD_REP_INFO
            return t


try:
    if case == "twice":
        t = starttls(connect())
        option(t, OPT_STARTTLS)
        a = reply(t)[0]
        option(t, OPT_LIST)
        print(a, reply(t)[0])
    elif case in ("garbage", "after"):
        s = connect()
        option(s, OPT_STARTTLS)
        reply(s)
        s.sendall(b"\x16\x03\x01\xff\xff" + bytes(range(256)) * 16)
        if case == "after":
            time.sleep(0.5)
            try:
                option(s, OPT_LIST)
            except OSError:
                pass
        print("eof" if gone(s) else "open")
    elif case == "idle":
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = max(hard, n + 64)  # root may raise it past the hard limit
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        socks = {}
        p = select.poll()
        for i in range(n):
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=30)
            except OSError:
                break
            c.setblocking(False)
            socks[c.fileno()] = c
            p.register(c, select.POLLIN)
        total, closed = len(socks), 0
        end = time.time() + 60
        while socks and time.time() < end:
            for fd, ev in p.poll(1000):
                try:
                    if socks[fd].recv(65536):
                        continue
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                p.unregister(fd)
                socks.pop(fd).close()
                closed += 1
        print(closed, "closed" if closed == total else "of %d closed" % total)
    elif case == "peruser":
        conns = []
        for i in range(n + 1):
            t = starttls(connect())
            t.sendall(struct.pack(">Q", IHAVEOPT)[:4])
            conns.append(t)
            time.sleep(0.2)
        out = []
        for t in conns:
            try:
                t.sendall(struct.pack(">Q", IHAVEOPT)[4:] + struct.pack(">II", OPT_LIST, 0))
                reply(t)
                out.append("ok")
            except (EOFError, OSError, ssl.SSLError):
                out.append("eof")
        print(" ".join(out))
    elif case == "perexport":
        conns = []
        for i in range(n):
            t = starttls(connect())
            if go(t, b"ro") != "1":
                raise SystemExit("GO %d refused" % i)
            conns.append(t)
        t = starttls(connect(), sys.argv[5] if len(sys.argv) > 5 else certdir)
        print(go(t, b"ro"))
except EOFError:
    print("eof")
