# A local NBD client that speaks the option phase by hand, for what real
# clients never send. Usage: nbd_options.py SOCKET CASE; prints one line
# saying what sessiond did:
#   out-of-order   SET_META_CONTEXT before STRUCTURED_REPLY, then the same
#                  after it, then GO: "<reply types> flags <tflags>"
#   extended       EXTENDED_HEADERS then GO: "<reply types>"
#   starttls       STARTTLS on a Unix socket, then GO: "<reply types>"
#   oversized      an option of 1 MiB announced: "eof" once sessiond closed
#   truncated      half an option, then we hang up: "sent"
#   many           65 LISTs, each reply read: "<replies read> eof|open"
#   idle           no option at all: "eof" once sessiond closed (it
#                  gives the option phase 10 s), "open" after 60 s
#   block-status   structured, base:allocation, GO, then BLOCK_STATUS of
#                  the first 64 KiB and a READ of 512 bytes at 1 MiB:
#                  "<chunk type> <extent length> <extent flags> <chunk
#                  type> <data offset> <data length>"
import socket, struct, sys

IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x3E889045565A9
SREPLY = 0x668E33EF
OPT_GO, OPT_LIST, OPT_STARTTLS = 7, 3, 5
OPT_SR, OPT_LISTMETA, OPT_SETMETA, OPT_EXT = 8, 9, 10, 11


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
    magic, opt, typ, n = struct.unpack(">QIII", recv_exact(s, 20))
    assert magic == REP_MAGIC
    return typ, recv_exact(s, n)


def replies(s):
    """Replies to one option up to its ACK or error: types, last data."""
    types, infos = [], []
    while True:
        typ, data = reply(s)
        types.append(typ)
        infos.append(data)
        if typ == 1 or typ & 0x80000000:
            return types, infos


def name(t):
    return {1: "ack", 3: "info", 4: "meta"}.get(t, "err%d" % (t & 0xFFFF))


def meta(export, *queries):
    d = struct.pack(">I", len(export)) + export + struct.pack(">I", len(queries))
    for q in queries:
        d += struct.pack(">I", len(q)) + q
    return d


def go(export=b""):
    return struct.pack(">I", len(export)) + export + struct.pack(">H", 0)


def closed(s, seconds=10):
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
        return "eof"
    except socket.timeout:
        return "open"
    except OSError:
        return "eof"


def main():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    recv_exact(s, 18)
    s.sendall(struct.pack(">I", 3))
    case = sys.argv[2]
    out = []
    if case == "out-of-order":
        option(s, OPT_SETMETA, meta(b"", b"base:allocation"))
        out += [name(t) for t in replies(s)[0]]
        option(s, OPT_SR)
        out += [name(t) for t in replies(s)[0]]
        option(s, OPT_SETMETA, meta(b"", b"base:allocation"))
        out += [name(t) for t in replies(s)[0]]
        option(s, OPT_GO, go())
        types, infos = replies(s)
        out += [name(t) for t in types]
        for t, d in zip(types, infos):
            if t == 3 and struct.unpack(">H", d[:2])[0] == 0:
                out.append("flags %#x" % struct.unpack(">H", d[10:12])[0])
    elif case in ("extended", "starttls"):
        option(s, OPT_EXT if case == "extended" else OPT_STARTTLS)
        out += [name(t) for t in replies(s)[0]]
        option(s, OPT_GO, go())
        out += [name(t) for t in replies(s)[0]]
    elif case == "oversized":
        s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 1 << 20) + b"x" * 4096)
        out.append(closed(s))
    elif case == "idle":
        out.append(closed(s, 60))
    elif case == "truncated":
        s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 100) + b"\0\0\0")
        out.append("sent")
    elif case == "many":
        n = 0
        try:
            for _ in range(65):
                option(s, OPT_LIST)
                replies(s)
                n += 1
        except (EOFError, OSError):
            pass
        out += [str(n), closed(s)]
    elif case == "block-status":
        option(s, OPT_SR)
        replies(s)
        option(s, OPT_SETMETA, meta(b"", b"base:allocation"))
        replies(s)
        option(s, OPT_GO, go())
        replies(s)
        s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 7, 1, 0, 65536))
        magic, flags, typ, handle, n = struct.unpack(">IHHQI", recv_exact(s, 20))
        body = recv_exact(s, n)
        ctx, length, fl = struct.unpack(">III", body[:12])
        out += [str(typ), str(length), str(fl)]
        s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 2, 1 << 20, 512))
        magic, flags, typ, handle, n = struct.unpack(">IHHQI", recv_exact(s, 20))
        body = recv_exact(s, n)
        out += [str(typ), str(struct.unpack(">Q", body[:8])[0]), str(n - 8)]
        sys.stdout.buffer.write(" ".join(out).encode() + b"\n")
        sys.stdout.flush()
        open(sys.argv[3], "wb").write(body[8:])
        return
    print(" ".join(out))


main()
