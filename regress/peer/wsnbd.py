"""Test harness: the server side of a WebSocket and the client side of NBD,
i.e. what sessiond does, so that vmedia-peer can be tested on its own."""

import base64
import hashlib
import socket
import ssl
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 1, 2, 3, 6, 7
REP_ACK, REP_INFO = 1, 3
REP_ERR_UNSUP, REP_ERR_INVALID = 0x80000001, 0x80000003
INFO_EXPORT, INFO_BLOCK_SIZE = 0, 3
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM = 0, 1, 2, 3, 4
FLAG_HAS_FLAGS, FLAG_READ_ONLY, FLAG_SEND_FLUSH, FLAG_SEND_TRIM = 1, 2, 4, 0x20

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class Fail(Exception):
    """A check failed; the message says what the test saw."""


class PeerClosed(Exception):
    """The peer sent a close frame (code, reason) or dropped TCP (None)."""

    def __init__(self, code, reason=b""):
        super().__init__("peer closed: %s %r" % (code, reason))
        self.code = code
        self.reason = reason


def accept_key(key):
    digest = hashlib.sha1(key.encode() + GUID).digest()
    return base64.b64encode(digest).decode()


def unmask(data, key):
    # One big-integer XOR instead of a Python loop: fast for megabytes.
    n = len(data)
    if n == 0:
        return data
    rep = (key * (n // 4 + 1))[:n]
    x = int.from_bytes(data, "little") ^ int.from_bytes(rep, "little")
    return x.to_bytes(n, "little")


def frame(op, payload=b"", fin=True, mask=None, rsv=0):
    """A server frame's bytes (masked only to test the peer's refusal)."""
    n = len(payload)
    h = bytes([(0x80 if fin else 0) | rsv | op])
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        h += bytes([mbit | n])
    elif n < 65536:
        h += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        h += bytes([mbit | 127]) + struct.pack(">Q", n)
    if mask is not None:
        h += mask
        payload = unmask(payload, mask)
    return h + payload


def tls_server_context(cert, key, names=None, max_version=None):
    """A wss:// server's context; the SNI names clients send are appended
    to names (None when a client sends none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if max_version is not None:
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = max_version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if names is not None:
        ctx.sni_callback = lambda sock, name, c: names.append(name)
    return ctx


class Listener:
    def __init__(self, family=socket.AF_INET, host="127.0.0.1", tls=None):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(4)
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.tls = tls  # an ssl.SSLContext for wss://

    def accept(self):
        """The next connection, after the TLS handshake for wss:// (which
        raises ssl.SSLError if the peer gives up on it)."""
        s, _ = self.sock.accept()
        s.settimeout(5)
        if self.tls is not None:
            try:
                s = self.tls.wrap_socket(s, server_side=True)
            except (ssl.SSLError, OSError):
                s.close()
                raise
        return Conn(s)

    def close(self):
        self.sock.close()


class Conn:
    """One accepted connection: HTTP upgrade, then frames and a stream."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.stream = b""
        self.frames = []  # (opcode, fin, masked, key, length) from the peer
        self.pongs = []
        self.eof = False

    def recv_some(self):
        d = self.sock.recv(1 << 20)
        if not d:
            self.eof = True
            raise PeerClosed(None)
        self.buf += d

    def recv_exact(self, n):
        while len(self.buf) < n:
            self.recv_some()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read_request(self):
        while b"\r\n\r\n" not in self.buf:
            self.recv_some()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        method, path, version = lines[0].split(" ")
        headers = []
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers.append((name.strip().lower(), value.strip()))
        return method, path, headers

    def upgrade(self, protocol=None, accept=None, trailing=b""):
        """Reads the upgrade request and answers 101, with trailing bytes
        in the same write; returns the request."""
        req = self.read_request()
        key = dict(req[2]).get("sec-websocket-key", "")
        resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                % (accept if accept is not None else accept_key(key)))
        if protocol is not None:
            resp += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        self.sock.sendall((resp + "\r\n").encode() + trailing)
        return req

    def refuse(self, status, body):
        self.read_request()
        resp = ("HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n"
                % (status, len(body))).encode() + body
        self.sock.sendall(resp)

    def send_frame(self, op, payload=b"", fin=True, mask=None, rsv=0):
        self.sock.sendall(frame(op, payload, fin, mask, rsv))

    def send(self, data, frame_size=None):
        """Stream bytes as binary frames, optionally cut at frame_size."""
        step = frame_size or max(len(data), 1)
        for i in range(0, max(len(data), 1), step):
            self.send_frame(OP_BINARY, data[i:i + step])

    def send_close(self, code=1000, reason=b""):
        self.send_frame(OP_CLOSE, struct.pack(">H", code) + reason)

    def read_frame(self):
        h = self.recv_exact(2)
        fin, op = h[0] & 0x80, h[0] & 0x0F
        masked, n = h[1] & 0x80, h[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", self.recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self.recv_exact(8))[0]
        key = self.recv_exact(4) if masked else b""
        payload = self.recv_exact(n)
        if masked:
            payload = unmask(payload, key)
        self.frames.append((op, bool(fin), bool(masked), key, n))
        return op, bool(fin), bool(masked), payload

    def pump(self):
        """One frame from the peer into the stream; close raises."""
        op, fin, masked, payload = self.read_frame()
        if not masked:
            raise Fail("peer sent an unmasked frame")
        if op == OP_CLOSE:
            code = struct.unpack(">H", payload[:2])[0] if payload else 1005
            raise PeerClosed(code, payload[2:])
        if op == OP_PONG:
            self.pongs.append(payload)
        elif op in (OP_BINARY, OP_CONT):
            self.stream += payload
        else:
            raise Fail("unexpected opcode %d from peer" % op)

    def read(self, n):
        while len(self.stream) < n:
            self.pump()
        d, self.stream = self.stream[:n], self.stream[n:]
        return d

    def expect_close(self):
        """Reads until the peer's close frame and echoes it, as a server
        does; returns (code, reason), code None if TCP just ended."""
        try:
            while True:
                self.pump()
        except PeerClosed as e:
            if e.code is not None:
                try:
                    if e.code == 1005:
                        self.send_frame(OP_CLOSE)
                    else:
                        self.send_close(e.code)
                except OSError:
                    pass
            return e.code, e.reason

    def close(self):
        self.sock.close()


class Client:
    """The NBD client side of the handshake and of transmission."""

    def __init__(self, conn):
        self.c = conn
        self.size = None
        self.flags = None
        self.greeted = False

    def greeting(self, cflags=3):
        magic, opt, hflags = struct.unpack(">QQH", self.c.read(18))
        if magic != NBDMAGIC or opt != IHAVEOPT:
            raise Fail("bad greeting %x %x" % (magic, opt))
        self.c.send(struct.pack(">I", cflags))
        self.greeted = True
        return hflags

    def option(self, opt, data=b""):
        self.c.send(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

    def opt_reply(self):
        magic, opt, rtype, n = struct.unpack(">QIII", self.c.read(20))
        if magic != REPLY_MAGIC:
            raise Fail("bad option reply magic %x" % magic)
        return opt, rtype, self.c.read(n)

    def go(self, opt=OPT_GO, name=b"", infos=()):
        """GO or INFO; returns (error type or None, list of info payloads)."""
        data = struct.pack(">I", len(name)) + name
        data += struct.pack(">H", len(infos))
        data += b"".join(struct.pack(">H", i) for i in infos)
        self.option(opt, data)
        infos = []
        while True:
            ropt, rtype, payload = self.opt_reply()
            if ropt != opt:
                raise Fail("reply for option %d, asked %d" % (ropt, opt))
            if rtype == REP_ACK:
                break
            if rtype & 0x80000000:
                return rtype, infos
            if rtype != REP_INFO:
                raise Fail("unexpected reply type %x" % rtype)
            infos.append(payload)
            itype = struct.unpack(">H", payload[:2])[0]
            if itype == INFO_EXPORT:
                self.size, self.flags = struct.unpack(">QH", payload[2:12])
        return None, infos

    def export_name(self, name=b"", no_zeroes=True):
        self.option(OPT_EXPORT_NAME, name)
        self.size, self.flags = struct.unpack(">QH", self.c.read(10))
        return b"" if no_zeroes else self.c.read(124)

    def connect(self, name=b""):
        """GO, falling back to EXPORT_NAME as sessiond does."""
        self.greeting()
        err, _ = self.go(OPT_GO, name)
        if err == REP_ERR_UNSUP:
            self.export_name(name)
            return "export_name"
        if err is not None:
            raise Fail("GO failed: %x" % err)
        return "go"

    def request(self, cmd, handle, off=0, length=0, data=b"", flags=0):
        return struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd, handle,
                           off, length) + data

    def send(self, cmd, handle, off=0, length=0, data=b"", flags=0):
        self.c.send(self.request(cmd, handle, off, length, data, flags))

    def reply(self):
        magic, err, handle = struct.unpack(">IIQ", self.c.read(16))
        return magic, err, handle

    def checked_reply(self, handle):
        magic, err, h = self.reply()
        if magic != SIMPLE_REPLY_MAGIC:
            raise Fail("bad reply magic %x" % magic)
        if h != handle:
            raise Fail("reply handle %x, expected %x" % (h, handle))
        return err

    def read(self, off, length, handle=1):
        self.send(CMD_READ, handle, off, length)
        err = self.checked_reply(handle)
        return err, (self.c.read(length) if err == 0 else b"")

    def write(self, off, data, handle=2):
        self.send(CMD_WRITE, handle, off, len(data), data)
        return self.checked_reply(handle)

    def simple(self, cmd, off=0, length=0, handle=3):
        self.send(cmd, handle, off, length)
        return self.checked_reply(handle)
