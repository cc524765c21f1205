#!/usr/bin/env python3
"""vmedia-peer's own tests: each starts the peer against the harness in
wsnbd.py (playing sessiond) and checks what sessiond would observe."""

import base64
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from wsnbd import (CMD_DISC, CMD_FLUSH, CMD_READ, CMD_TRIM, CMD_WRITE,
                   FLAG_HAS_FLAGS, FLAG_READ_ONLY, FLAG_SEND_FLUSH,
                   FLAG_SEND_TRIM, INFO_BLOCK_SIZE, INFO_EXPORT, NBDMAGIC,
                   OP_BINARY, OP_CONT, OP_PING, OP_TEXT, OPT_ABORT,
                   OPT_GO, OPT_INFO, OPT_LIST, REP_ACK,
                   REP_ERR_INVALID, REP_ERR_UNSUP, REPLY_MAGIC,
                   SIMPLE_REPLY_MAGIC, Client, Fail, Listener, frame,
                   tls_server_context)

PEER = os.path.abspath(sys.argv[1])
MiB = 1 << 20
IMAGE_SIZE = 24 * MiB + 1234  # odd, and bigger than the peer's buffers
ORIG = random.Random(6455).randbytes(IMAGE_SIZE)
WORK = None
SHARED = None
CERT = None  # (certificate, key) made by the first wss:// test
TESTS = []
TOKEN = "0123456789abcdef" * 4  # a session token as sessiond makes them


def test(fn):
    TESTS.append(fn)
    return fn


class Skip(Exception):
    """The machine lacks what the test needs (e.g. IPv6)."""


def check(cond, why):
    if not cond:
        raise Fail(why)


def fresh_image(data=ORIG):
    fd, path = tempfile.mkstemp(dir=WORK, suffix=".img")
    os.write(fd, data)
    os.close(fd)
    return path


class Session:
    """One peer process connected to one harness listener."""

    live = []

    def __init__(self, args=(), image=None, family=socket.AF_INET,
                 host="127.0.0.1", url_host=None, path="/nbd/cdrom",
                 upgrade=True, protocol=None, trailing=b"", tls=None):
        self.lst = Listener(family, host, tls)
        self.url = "%s://%s:%d%s" % ("wss" if tls else "ws",
                                     url_host or host, self.lst.port, path)
        self.image = image or SHARED
        self.proc = subprocess.Popen([PEER, *args, self.url, self.image],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        Session.live.append(self)
        self.conn = self.lst.accept()
        self.nbd = Client(self.conn)
        self.req = self.conn.upgrade(protocol, trailing=trailing) \
            if upgrade else None
        self.stderr = ""

    def wait(self, timeout=5):
        """The peer's exit code; its stderr lands in self.stderr."""
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail("peer still running after %ss" % timeout)
        self.stderr = err.decode(errors="replace")
        return self.proc.returncode

    def expect_exit(self, code, timeout=5):
        rc = self.wait(timeout)
        check(rc == code, "exit %s, want %s; stderr: %s" %
              (rc, code, self.stderr.strip()[-300:]))
        check("stats requests=" in self.stderr, "no stats line")

    def ready(self, name=b""):
        if not self.nbd.greeted:
            self.nbd.greeting()
        err, _ = self.nbd.go(OPT_GO, name)
        check(err is None, "GO refused: %s" % err)
        return self

    def end(self, code=1000):
        """The harness closes normally; the peer must echo and exit 0."""
        self.conn.send_close(code, b"done")
        got, _ = self.conn.expect_close()
        check(got == code, "close echoed %s, want %s" % (got, code))
        self.expect_exit(0)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self.conn.close()
        self.lst.close()


def run_peer(args, timeout=5):
    p = subprocess.run([PEER, *args], capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def tls_cert():
    """A self-signed certificate for localhost and 127.0.0.1, made once
    per run with the openssl command into the run's directory."""
    global CERT
    if CERT is None:
        d = tempfile.mkdtemp(prefix="tls.", dir=WORK)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-days", "2", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        CERT = (cert, key)
    return CERT


def tls_refused(args, url_host="127.0.0.1", host="127.0.0.1", ctx=None):
    """Starts a wss:// peer whose TLS handshake must fail; returns its exit
    code and stderr, and what the server side saw (an exception or None)."""
    cert, key = tls_cert()
    lst = Listener(host=host, tls=ctx or tls_server_context(cert, key))
    url = "wss://%s:%d/nbd/cdrom" % (url_host, lst.port)
    proc = subprocess.Popen([PEER, *args, url, SHARED],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = None
    try:
        conn = lst.accept()
        conn.close()
    except (ssl.SSLError, OSError) as e:
        seen = e
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Fail("peer still running after a failed handshake")
    finally:
        lst.close()
    return proc.returncode, err.decode(errors="replace"), seen


# --- handshake ---

@test
def go_handshake_reads_match_image():
    s = Session()
    check(s.nbd.greeting() == 3, "handshake flags not FIXED|NO_ZEROES")
    err, _ = s.nbd.go(OPT_GO, b"cdrom")
    check(err is None, "GO refused")
    check(s.nbd.size == IMAGE_SIZE, "size %s" % s.nbd.size)
    check(s.nbd.flags == FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_TRIM,
          "flags %#x" % s.nbd.flags)
    for off, n in ((0, 512), (4096, 65536), (IMAGE_SIZE - 100, 100),
                   (12345, 777), (0, 0)):
        err, data = s.nbd.read(off, n)
        check(err == 0 and data == ORIG[off:off + n],
              "read %d+%d differs" % (off, n))
    s.nbd.send(CMD_DISC, 9)
    code, _ = s.conn.expect_close()
    check(code == 1000, "close %s after DISC" % code)
    s.expect_exit(0)
    check("requests=6 read=66925" in s.stderr, "stats: %s" % s.stderr)


@test
def info_then_go_with_block_size():
    s = Session()
    s.nbd.greeting()
    err, infos = s.nbd.go(OPT_INFO, b"", (INFO_BLOCK_SIZE,))
    check(err is None, "INFO refused")
    types = [struct.unpack(">H", i[:2])[0] for i in infos]
    check(types == [INFO_EXPORT, INFO_BLOCK_SIZE], "infos %s" % types)
    check(struct.unpack(">III", infos[1][2:]) == (1, 4096, 32 * MiB),
          "block sizes %s" % infos[1][2:].hex())
    s.ready()
    err, data = s.nbd.read(100, 200)
    check(data == ORIG[100:300], "read after INFO+GO differs")
    s.end()


@test
def export_name_only_falls_back_like_nbd_js():
    s = Session(["--export-name-only"])
    s.nbd.greeting()
    for opt in (OPT_GO, OPT_INFO, OPT_LIST, 8):
        if opt in (OPT_GO, OPT_INFO):
            err, _ = s.nbd.go(opt)
        else:
            s.nbd.option(opt)
            err = s.nbd.opt_reply()[1]
        check(err == REP_ERR_UNSUP, "option %d: %s, want ERR_UNSUP" %
              (opt, err))
    s.nbd.export_name(b"cdrom")
    check(s.nbd.size == IMAGE_SIZE, "size %s" % s.nbd.size)
    err, data = s.nbd.read(IMAGE_SIZE - 4096, 4096)
    check(data == ORIG[-4096:], "read after EXPORT_NAME differs")
    s.end()


@test
def export_name_pads_124_zeroes_without_no_zeroes():
    s = Session()
    s.nbd.greeting(cflags=1)
    pad = s.nbd.export_name(b"", no_zeroes=False)
    check(pad == bytes(124), "padding is not 124 zero bytes")
    err, data = s.nbd.read(0, 16)
    check(err == 0 and data == ORIG[:16], "read after padding differs")
    s.end()


@test
def unknown_and_malformed_options_are_refused():
    s = Session()
    s.nbd.greeting()
    s.nbd.option(OPT_LIST)
    check(s.nbd.opt_reply()[1] == REP_ERR_UNSUP, "LIST not ERR_UNSUP")
    s.nbd.option(OPT_GO, struct.pack(">I", 50) + b"x")
    check(s.nbd.opt_reply()[1] == REP_ERR_INVALID, "bad GO not ERR_INVALID")
    s.ready()
    s.end()


@test
def abort_is_acked_then_closed():
    s = Session()
    s.nbd.greeting()
    s.nbd.option(OPT_ABORT)
    check(s.nbd.opt_reply()[1] == REP_ACK, "ABORT not acked")
    code, _ = s.conn.expect_close()
    check(code == 1000, "close %s after ABORT" % code)
    s.expect_exit(0)


@test
def daemon_ready_file_appears_after_handshake():
    ready = os.path.join(WORK, "ready")
    s = Session(["--daemon-ready", ready])
    s.nbd.greeting()
    time.sleep(0.1)
    check(not os.path.exists(ready), "ready before the handshake")
    s.ready()
    for _ in range(100):
        if os.path.exists(ready):
            break
        time.sleep(0.01)
    check(open(ready).read() == "ready\n", "ready file missing or wrong")
    s.end()


@test
def size_option_sets_advertised_size():
    s = Session(["--size", "1M"]).ready()
    check(s.nbd.size == MiB, "size %s" % s.nbd.size)
    err, _ = s.nbd.read(MiB - 1, 2)
    check(err == 22, "read past --size: %s" % err)
    s.end()
    s = Session(["--size", "32M"]).ready()
    err, data = s.nbd.read(IMAGE_SIZE - 10, 20)
    check(data == ORIG[-10:] + bytes(10), "past the file end not zeroes")
    s.end()


# --- transmission ---

@test
def write_changes_image_file():
    img = fresh_image()
    s = Session(image=img).ready()
    new = random.randbytes(5000)
    check(s.nbd.write(1000, new) == 0, "write failed")
    check(s.nbd.simple(CMD_FLUSH) == 0, "flush failed")
    err, data = s.nbd.read(1000, 5000)
    check(data == new, "read-back differs")
    s.end()
    disk = open(img, "rb").read()
    check(disk[1000:6000] == new and disk[:1000] == ORIG[:1000] and
          disk[6000:] == ORIG[6000:], "file not changed as written")
    check("written=5000" in s.stderr, "stats: %s" % s.stderr)


@test
def large_write_across_frames_and_buffers():
    img = fresh_image()
    s = Session(image=img).ready()
    new = random.randbytes(6 * MiB + 3)
    s.nbd.c.send(s.nbd.request(CMD_WRITE, 7, 12345, len(new), new),
                 frame_size=MiB)
    check(s.nbd.checked_reply(7) == 0, "large write failed")
    s.end()
    disk = open(img, "rb").read()
    check(disk[12345:12345 + len(new)] == new, "large write not stored")


@test
def large_read_bigger_than_output_buffer():
    s = Session(["--max-frame", "4M"]).ready()
    err, data = s.nbd.read(1, 20 * MiB)
    check(err == 0 and data == ORIG[1:20 * MiB + 1], "20 MiB read differs")
    s.end()


@test
def trim_punches_zeroes():
    img = fresh_image()
    s = Session(image=img).ready()
    check(s.nbd.simple(CMD_TRIM, MiB, 65536) == 0, "trim failed")
    err, data = s.nbd.read(MiB, 65536)
    check(data == bytes(65536), "trimmed range not zeroes")
    err, data = s.nbd.read(MiB + 65536, 10)
    check(data == ORIG[MiB + 65536:MiB + 65546], "trim went too far")
    s.end()
    check(os.path.getsize(img) == IMAGE_SIZE, "trim changed the size")


@test
def read_only_refuses_writes_with_eperm():
    img = fresh_image()
    s = Session(["--read-only"], image=img).ready()
    check(s.nbd.flags == FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_READ_ONLY,
          "flags %#x" % s.nbd.flags)
    check(s.nbd.write(0, b"\xff" * 70000) == 1, "write not EPERM")
    check(s.nbd.simple(CMD_TRIM, 0, 4096) == 1, "trim not EPERM")
    check(s.nbd.simple(CMD_FLUSH) == 0, "flush failed")
    err, data = s.nbd.read(0, 70000)
    check(data == ORIG[:70000], "stream out of step after EPERM")
    s.end()
    check(open(img, "rb").read() == ORIG, "read-only image changed")


@test
def out_of_range_and_unknown_commands_einval():
    img = fresh_image()
    s = Session(image=img).ready()
    check(s.nbd.read(IMAGE_SIZE - 10, 20)[0] == 22, "read past end")
    check(s.nbd.read(1 << 63, 1)[0] == 22, "read at 2^63")
    check(s.nbd.write(IMAGE_SIZE - 1, b"ab") == 22, "write past end")
    check(s.nbd.simple(CMD_TRIM, IMAGE_SIZE, 1) == 22, "trim past end")
    check(s.nbd.simple(99) == 22, "unknown command")
    err, data = s.nbd.read(IMAGE_SIZE - 10, 10)
    check(data == ORIG[-10:], "read at end after errors")
    s.end()
    check(open(img, "rb").read() == ORIG, "image changed by refused write")


@test
def pipelined_requests_are_answered_in_order():
    img = fresh_image()
    s = Session(image=img).ready()
    rnd = random.Random(7)
    reqs, want, shadow = [], [], bytearray(ORIG[:2 * MiB])
    for h in range(400):
        off = rnd.randrange(0, 2 * MiB - 70000)
        n = rnd.choice((0, 1, 512, 4096, 65536, 3333))
        if rnd.random() < 0.3:
            data = rnd.randbytes(n)
            reqs.append(s.nbd.request(CMD_WRITE, h, off, n, data))
            shadow[off:off + n] = data
            want.append((h, None))
        else:
            reqs.append(s.nbd.request(CMD_READ, h, off, n))
            want.append((h, bytes(shadow[off:off + n])))
    s.conn.send(b"".join(reqs), frame_size=100000)
    for h, data in want:
        check(s.nbd.checked_reply(h) == 0, "request %d failed" % h)
        if data is not None:
            check(s.conn.read(len(data)) == data, "request %d data" % h)
    s.end()
    check("requests=400" in s.stderr, "stats: %s" % s.stderr)


@test
def bad_request_magic_closes_1002():
    s = Session().ready()
    s.conn.send(struct.pack(">IHHQQI", 0x12345678, 0, 0, 1, 0, 512))
    code, _ = s.conn.expect_close()
    check(code == 1002, "close %s" % code)
    s.expect_exit(3)


# --- WebSocket framing ---

@test
def replies_are_masked_binary_frames_within_max_frame():
    s = Session(["--max-frame", "64K"]).ready()
    s.conn.frames.clear()
    err, data = s.nbd.read(0, MiB + 7)
    check(data == ORIG[:MiB + 7], "read differs")
    frames = s.conn.frames
    check(all(op == OP_BINARY and fin and masked for op, fin, masked, _, _
              in frames), "a frame not FIN+masked binary")
    check(max(f[4] for f in frames) <= 65536, "frame over --max-frame")
    check(len(frames) >= 16, "only %d frames" % len(frames))
    check(len(set(f[3] for f in frames)) > len(frames) // 2,
          "masking keys repeat")
    s.end()


@test
def stream_ignores_frame_boundaries():
    s = Session()
    s.nbd.greeting()
    go = struct.pack(">QII", 0x49484156454F5054, OPT_GO, 6) + bytes(6)
    # One fragmented message, a ping in its middle, pieces of 1..7 bytes.
    s.conn.send_frame(OP_BINARY, go[:1], fin=False)
    i, k = 1, 0
    while i < len(go):
        n = min(1 + k % 7, len(go) - i)
        s.conn.send_frame(OP_CONT, go[i:i + n], fin=(i + n == len(go)))
        if k == 2:
            s.conn.send_frame(OP_PING, b"mid")
        i, k = i + n, k + 1
    while s.nbd.opt_reply()[1] != REP_ACK:
        pass
    check(s.conn.pongs == [b"mid"], "pong %s" % s.conn.pongs)
    req = s.nbd.request(CMD_READ, 5, 777, 100) * 3
    for a, b in ((0, 3), (3, 3), (3, 29), (29, 84)):
        s.conn.send_frame(OP_BINARY, req[a:b])  # empty frames too
    for _ in range(3):
        check(s.nbd.checked_reply(5) == 0, "split request failed")
        check(s.conn.read(100) == ORIG[777:877], "split request data")
    s.end()


@test
def ping_is_answered_with_pong():
    s = Session().ready()
    s.conn.send_frame(OP_PING, b"are you there")
    s.conn.send_frame(OP_PING, b"")
    s.nbd.read(0, 1)
    check(s.conn.pongs == [b"are you there", b""], "pongs %s" % s.conn.pongs)
    s.end()


@test
def server_close_normal_exits_0():
    for code in (1000, 1001):
        s = Session().ready()
        s.end(code)
        check("server closed: %d done" % code in s.stderr,
              "close not reported: %s" % s.stderr)


@test
def server_close_without_code_exits_0():
    s = Session().ready()
    s.conn.send_frame(8, b"")
    got, _ = s.conn.expect_close()
    check(got == 1005, "empty close answered with %s" % got)
    s.expect_exit(0)


@test
def server_close_abnormal_exits_3_with_reason():
    s = Session().ready()
    s.conn.send_close(1011, b"relay error")
    got, _ = s.conn.expect_close()
    check(got == 1011, "close echoed %s" % got)
    s.expect_exit(3)
    check("server closed: 1011 relay error" in s.stderr,
          "reason not printed: %s" % s.stderr)


@test
def tcp_eof_without_close_exits_3():
    s = Session().ready()
    s.conn.close()
    s.expect_exit(3)
    check("without a close frame" in s.stderr, s.stderr)


@test
def masked_server_frame_fails_1002():
    s = Session().ready()
    s.conn.send_frame(OP_BINARY, b"x" * 28, mask=b"abcd")
    code, _ = s.conn.expect_close()
    check(code == 1002, "close %s" % code)
    s.expect_exit(3)


@test
def text_frame_fails_1003():
    s = Session().ready()
    s.conn.send_frame(OP_TEXT, b"hello")
    code, _ = s.conn.expect_close()
    check(code == 1003, "close %s" % code)
    s.expect_exit(3)


# --- HTTP upgrade ---

@test
def upgrade_request_has_key_version_protocols_headers():
    s = Session(["-v", "--protocol", "tok.en1", "--protocol", "vmedia",
                 "--header", "Cookie: session=abc",
                 "--header", "Origin: http://bmc.example"],
                protocol="tok.en1")
    method, path, headers = s.req
    h = dict(headers)
    check((method, path) == ("GET", "/nbd/cdrom"), "%s %s" % (method, path))
    check(h.get("host") == "127.0.0.1:%d" % s.lst.port, "host %s" %
          h.get("host"))
    check(h.get("upgrade", "").lower() == "websocket", "no Upgrade")
    check("upgrade" in h.get("connection", "").lower(), "no Connection")
    check(h.get("sec-websocket-version") == "13", "version not 13")
    check(len(base64.b64decode(h.get("sec-websocket-key", ""))) == 16,
          "key is not 16 bytes")
    protos = [v for k, v in headers if k == "sec-websocket-protocol"]
    check(protos == ["tok.en1", "vmedia"], "protocols %s" % protos)
    check(h.get("cookie") == "session=abc", "no Cookie")
    check(h.get("origin") == "http://bmc.example", "no Origin")
    s.ready()
    s.end()
    check("subprotocol: tok.en1" in s.stderr, "subprotocol not printed")


@test
def root_and_empty_paths_request_slash():
    for path in ("/", "", "#frag"):
        s = Session(path=path)
        check(s.req[1] == "/", "%r requested %s" % (path, s.req[1]))
        s.ready()
        s.end()


@test
def http_refusal_exits_2_with_status_and_body():
    s = Session(upgrade=False)
    s.conn.refuse("403 Forbidden", b'{"error": "export busy"}')
    s.expect_exit(2)
    check("403 Forbidden" in s.stderr and "export busy" in s.stderr,
          "stderr: %s" % s.stderr)


@test
def http_refusal_without_length_reads_to_eof():
    s = Session(upgrade=False)
    s.conn.read_request()
    s.conn.sock.sendall(b"HTTP/1.1 401 Unauthorized\r\n\r\nlogin first")
    s.conn.close()
    s.expect_exit(2)
    check("401 Unauthorized" in s.stderr and "login first" in s.stderr,
          "stderr: %s" % s.stderr)


@test
def wrong_accept_exits_3():
    s = Session(upgrade=False)
    s.conn.upgrade(accept="s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    s.expect_exit(3)
    check("Sec-WebSocket-Accept" in s.stderr, s.stderr)


@test
def unoffered_subprotocol_exits_3():
    s = Session(protocol="surprise")
    s.expect_exit(3)
    check("did not offer" in s.stderr, s.stderr)


@test
def full_token_subprotocol_echoed_is_accepted_and_printed():
    s = Session(["-v", "--protocol", TOKEN], protocol=TOKEN)
    protos = [v for k, v in s.req[2] if k == "sec-websocket-protocol"]
    check(protos == [TOKEN], "protocols %s" % protos)
    s.ready()
    s.end()
    check("subprotocol: %s" % TOKEN in s.stderr, "subprotocol not printed: "
          "%s" % s.stderr)


@test
def token_chosen_from_comma_list_is_accepted():
    s = Session(["-v", "--protocol", "vmedia, " + TOKEN], protocol=TOKEN)
    s.ready()
    s.end()
    check("subprotocol: %s" % TOKEN in s.stderr, "subprotocol not printed")


@test
def server_choosing_two_subprotocols_exits_3():
    s = Session(["--protocol", "vmedia, " + TOKEN],
                protocol="vmedia, " + TOKEN)
    s.expect_exit(3)
    check("did not offer" in s.stderr, s.stderr)


@test
def basic_option_sends_authorization_header():
    s = Session(["--basic", "alice:pa:ss w\u00e9rd"])
    auth = [v for k, v in s.req[2] if k == "authorization"]
    want = "Basic " + base64.b64encode("alice:pa:ss w\u00e9rd".encode()) \
        .decode()
    check(auth == [want], "authorization %s, want %s" % (auth, want))
    s.ready()
    s.end()


@test
def frames_right_after_101_are_not_lost():
    s = Session(trailing=frame(OP_PING, b"early"))
    s.ready()
    check(s.conn.pongs == [b"early"], "pongs %s" % s.conn.pongs)
    s.end()


@test
def ipv6_loopback_url():
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError as e:
        raise Skip("no IPv6 loopback: %s" % e)
    s = Session(family=socket.AF_INET6, host="::1", url_host="[::1]")
    check(dict(s.req[2]).get("host") == "[::1]:%d" % s.lst.port,
          "host header %s" % dict(s.req[2]).get("host"))
    s.ready()
    check(s.nbd.read(5, 5)[1] == ORIG[5:10], "read over IPv6")
    s.end()


@test
def localhost_name_url():
    s = Session(url_host="localhost")
    s.ready()
    check(s.nbd.read(5, 5)[1] == ORIG[5:10], "read via localhost")
    s.end()


# --- faults ---

@test
def fault_bad_magic_after_2():
    s = Session(["--fault", "bad-magic:2"]).ready()
    for h in (1, 2):
        check(s.nbd.read(0, 8)[0] == 0, "early read failed")
    s.nbd.send(CMD_READ, 3, 0, 8)
    magic, err, handle = s.nbd.reply()
    check(magic != SIMPLE_REPLY_MAGIC and handle == 3, "reply magic %x" %
          magic)
    s.conn.read(8)
    check(s.nbd.read(0, 8)[0] == 0, "fault repeated")
    s.end()


@test
def fault_bad_handle():
    s = Session(["--fault", "bad-handle"]).ready()
    s.nbd.send(CMD_READ, 0x1234, 0, 8)
    magic, err, handle = s.nbd.reply()
    check(magic == SIMPLE_REPLY_MAGIC and handle != 0x1234, "handle %x" %
          handle)
    s.end()


@test
def fault_short_read_then_clean_close():
    s = Session(["--fault", "short-read:1"]).ready()
    check(s.nbd.read(0, 4096)[1] == ORIG[:4096], "first read")
    s.nbd.send(CMD_READ, 9, 0, 4096)
    check(s.nbd.checked_reply(9) == 0, "short read header")
    code, _ = s.conn.expect_close()
    check(code == 1000, "close %s" % code)
    check(s.conn.stream == ORIG[:2048], "sent %d payload bytes" %
          len(s.conn.stream))
    s.expect_exit(0)


@test
def fault_long_read_sends_extra_bytes():
    s = Session(["--fault", "long-read"]).ready()
    check(s.nbd.read(0, 100)[1] == ORIG[:100], "long read payload")
    check(s.conn.read(16) == b"\xee" * 16, "no extra bytes")
    check(s.nbd.read(0, 100)[1] == ORIG[:100], "read after long read")
    s.end()


@test
def fault_close_mid_read_drops_tcp():
    s = Session(["--fault", "close-mid-read"]).ready()
    s.nbd.send(CMD_WRITE, 1, 0, 0)
    check(s.nbd.checked_reply(1) == 0, "write before the read")
    s.nbd.send(CMD_READ, 2, 0, 10000)
    check(s.nbd.checked_reply(2) == 0, "read header")
    code, _ = s.conn.expect_close()
    check(code is None, "close frame %s instead of a TCP drop" % code)
    check(s.conn.stream == ORIG[:5000], "sent %d payload bytes" %
          len(s.conn.stream))
    s.expect_exit(0)


@test
def fault_stall_keeps_connection_answers_pings():
    s = Session(["--fault", "stall:1"]).ready()
    check(s.nbd.read(0, 10)[0] == 0, "first read")
    s.nbd.send(CMD_READ, 2, 0, 10)
    s.conn.sock.settimeout(0.5)
    try:
        s.nbd.reply()
        raise Fail("stalled peer replied")
    except socket.timeout:
        pass
    s.conn.sock.settimeout(5)
    s.conn.send_frame(OP_PING, b"p")
    while not s.conn.pongs:
        s.conn.pump()
    check(s.proc.poll() is None, "peer exited while stalled")
    s.end()


@test
def fault_die_after_bytes():
    s = Session(["--die-after-bytes", "100000"]).ready()
    check(s.nbd.read(0, 65536)[1] == ORIG[:65536], "first read")
    s.nbd.send(CMD_READ, 2, 65536, 65536)
    check(s.nbd.checked_reply(2) == 0, "second read header")
    code, _ = s.conn.expect_close()
    check(code is None, "close frame %s instead of a TCP drop" % code)
    check(s.conn.stream == ORIG[65536:100000], "sent %d payload bytes" %
          len(s.conn.stream))
    s.expect_exit(0)


@test
def fault_bad_greeting():
    s = Session(["--fault", "bad-greeting"])
    g = s.conn.read(18)
    check(struct.unpack(">Q", g[:8])[0] != NBDMAGIC, "greeting magic right")
    s.end()


@test
def fault_zero_and_huge_size():
    for fault, size in (("zero-size", 0), ("huge-size", 1 << 62)):
        s = Session(["--fault", fault]).ready()
        check(s.nbd.size == size, "%s: size %d" % (fault, s.nbd.size))
        s.end()


@test
def fault_bad_option_reply():
    s = Session(["--fault", "bad-option-reply"])
    s.nbd.greeting()
    s.nbd.option(OPT_GO, bytes(6))
    magic = struct.unpack(">Q", s.conn.read(20)[:8])[0]
    check(magic != REPLY_MAGIC, "option reply magic right")
    s.end()


@test
def fault_slow_handshake_still_hears_close():
    s = Session(["--fault", "slow-handshake"])
    s.conn.sock.settimeout(1)
    try:
        s.conn.read(1)
        raise Fail("greeting came early")
    except socket.timeout:
        pass
    s.conn.sock.settimeout(5)
    t = time.monotonic()
    s.end()
    check(time.monotonic() - t < 3, "close took too long")


# --- wss:// ---

@test
def wss_go_session_with_ca_reads_and_writes_match():
    cert, key = tls_cert()
    names = []
    img = fresh_image()
    s = Session(["-v", "--ca", cert], image=img, url_host="localhost",
                tls=tls_server_context(cert, key, names)).ready(b"cdrom")
    check(names == ["localhost"], "SNI %s, want localhost" % names)
    check(s.conn.sock.version() in ("TLSv1.2", "TLSv1.3"),
          "version %s" % s.conn.sock.version())
    check(s.nbd.size == IMAGE_SIZE, "size %s" % s.nbd.size)
    err, data = s.nbd.read(3, 9 * MiB)
    check(err == 0 and data == ORIG[3:9 * MiB + 3], "9 MiB read differs")
    new = random.randbytes(3 * MiB + 5)
    s.nbd.c.send(s.nbd.request(CMD_WRITE, 7, 4096, len(new), new),
                 frame_size=MiB)
    check(s.nbd.checked_reply(7) == 0, "write over TLS failed")
    reqs = b"".join(s.nbd.request(CMD_READ, h, h * 1000, 700)
                    for h in range(100))
    s.conn.send(reqs, frame_size=3000)
    shadow = ORIG[:4096] + new + ORIG[4096 + len(new):]
    for h in range(100):
        check(s.nbd.checked_reply(h) == 0, "pipelined read %d" % h)
        check(s.conn.read(700) == shadow[h * 1000:h * 1000 + 700],
              "pipelined read %d data" % h)
    s.conn.send_frame(OP_PING, b"tls")
    s.nbd.read(0, 1)
    check(s.conn.pongs == [b"tls"], "pongs %s" % s.conn.pongs)
    s.end()
    check("certificate verified" in s.stderr, "no TLS line: %s" % s.stderr)
    disk = open(img, "rb").read()
    check(disk[4096:4096 + len(new)] == new, "TLS write not stored")


@test
def wss_ip_address_checked_against_ip_san_without_sni():
    cert, key = tls_cert()
    names = []
    s = Session(["--ca", cert], tls=tls_server_context(cert, key, names))
    s.ready()
    check(s.nbd.read(5, 5)[1] == ORIG[5:10], "read over wss://127.0.0.1")
    s.end()
    check(names == [None], "SNI %s for an address, want none" % names)


@test
def wss_insecure_skips_verification():
    cert, key = tls_cert()
    s = Session(["-v", "--insecure"], tls=tls_server_context(cert, key))
    s.ready()
    check(s.nbd.read(100, 50)[1] == ORIG[100:150], "read with --insecure")
    s.end()
    check("not checked (--insecure)" in s.stderr, "no TLS line: %s" %
          s.stderr)


@test
def wss_self_signed_without_ca_exits_3():
    rc, err, seen = tls_refused([])
    check(rc == 3, "exit %d: %s" % (rc, err))
    check("not trusted" in err and "self-signed" in err.replace(" signed",
          "-signed") and "--ca" in err, "message: %s" % err)
    check(seen is not None, "server saw a completed handshake")


@test
def wss_name_not_in_certificate_exits_3():
    cert, _ = tls_cert()
    try:
        socket.socket().bind(("127.0.0.2", 0))
    except OSError as e:
        raise Skip("no 127.0.0.2: %s" % e)
    rc, err, _ = tls_refused(["--ca", cert], url_host="127.0.0.2",
                             host="127.0.0.2")
    check(rc == 3 and "not trusted" in err and "mismatch" in err,
          "exit %d: %s" % (rc, err))


@test
def wss_to_plain_http_server_exits_3():
    lst = Listener()
    proc = subprocess.Popen([PEER, "--insecure", "wss://127.0.0.1:%d/" %
                             lst.port, SHARED], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        conn = lst.accept()
        conn.recv_some()
        conn.sock.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()
        _, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        lst.close()
    err = err.decode(errors="replace")
    check(proc.returncode == 3 and "TLS handshake" in err,
          "exit %d: %s" % (proc.returncode, err))


@test
def wss_tls_1_1_only_server_exits_3():
    cert, key = tls_cert()
    try:
        ctx = tls_server_context(cert, key,
                                 max_version=ssl.TLSVersion.TLSv1_1)
    except (ssl.SSLError, ValueError) as e:
        raise Skip("no TLS 1.1 server here: %s" % e)
    rc, err, _ = tls_refused(["--insecure"], ctx=ctx)
    check(rc == 3 and "TLS handshake" in err, "exit %d: %s" % (rc, err))


@test
def wss_server_eof_without_close_exits_3():
    cert, key = tls_cert()
    s = Session(["--ca", cert], tls=tls_server_context(cert, key)).ready()
    s.conn.close()
    s.expect_exit(3)
    check("without a close frame" in s.stderr, s.stderr)


# --- command line ---

@test
def usage_errors_exit_1():
    img = SHARED
    for args, why in (([], "usage:"),
                      (["http://127.0.0.1/", img], "bad URL"),
                      (["ws://127.0.0.1:99999/", img], "bad URL"),
                      (["ws:///x", img], "bad URL"),
                      (["--ca", WORK + "/missing.pem", "wss://127.0.0.1/",
                        img], "--ca"),
                      (["--basic", "nocolon", "ws://127.0.0.1/", img],
                       "--basic"),
                      (["--basic", ":pw", "ws://127.0.0.1/", img],
                       "--basic"),
                      (["ws://127.0.0.1/", WORK + "/missing"], "missing"),
                      (["-r", "ws://127.0.0.1/", WORK], "regular file"),
                      (["--fault", "nope", "ws://127.0.0.1/", img], "usage"),
                      (["--size", "12Q", "ws://127.0.0.1/", img], "--size"),
                      (["--max-frame", "0", "ws://127.0.0.1/", img],
                       "--max-frame"),
                      (["--header", "NoColon", "ws://127.0.0.1/", img],
                       "--header")):
        rc, _, err = run_peer(args)
        check(rc == 1 and why in err, "%s: exit %d: %s" % (args, rc, err))
    rc, out, _ = run_peer(["-h"])
    check(rc == 0 and "usage:" in out and "bad-magic" in out, "-h")


@test
def connection_refused_exits_3():
    lst = Listener()
    port = lst.port
    lst.close()
    rc, _, err = run_peer(["ws://127.0.0.1:%d/" % port, SHARED])
    check(rc == 3 and "connect" in err, "exit %d: %s" % (rc, err))


@test
def verbose_twice_logs_requests():
    s = Session(["-vv"]).ready(b"cdrom")
    s.nbd.read(4096, 512)
    s.end()
    check('option GO name "cdrom"' in s.stderr, "option not logged")
    check("request 0 READ flags 0x0 handle 0x1 offset 4096 length 512"
          in s.stderr, "request not logged: %s" % s.stderr)


@test
def sigterm_prints_stats():
    s = Session().ready()
    s.nbd.read(0, 10)
    s.proc.send_signal(signal.SIGTERM)
    s.expect_exit(3)
    check("requests=1 read=10" in s.stderr, s.stderr)


def main():
    global WORK, SHARED
    top = os.path.dirname(os.path.dirname(PEER))
    os.makedirs(os.path.join(top, "regress"), exist_ok=True)
    WORK = tempfile.mkdtemp(prefix="peer.", dir=os.path.dirname(PEER))
    SHARED = fresh_image()
    failed = 0
    start = time.monotonic()
    for fn in TESTS:
        t0 = time.monotonic()
        try:
            fn()
            print("ok %s" % fn.__name__)
        except Skip as e:
            print("ok %s # skip %s" % (fn.__name__, e))
        except Exception as e:
            failed += 1
            why = str(e) if isinstance(e, Fail) else \
                "%s: %s" % (type(e).__name__, e)
            print("not ok %s: %s" % (fn.__name__, why.replace("\n", " ")))
            if os.environ.get("PEER_TEST_DEBUG"):
                traceback.print_exc()
        finally:
            for s in Session.live:
                s.cleanup()
            Session.live.clear()
        if os.environ.get("PEER_TEST_DEBUG"):
            print("  %.2fs" % (time.monotonic() - t0))
        sys.stdout.flush()
    shutil.rmtree(WORK, ignore_errors=True)
    if os.environ.get("PEER_TEST_DEBUG"):
        print("%.1fs" % (time.monotonic() - start))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
