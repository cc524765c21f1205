// make bench-chromium: what Chromium itself costs to do the page's two
// jobs, with no NBD and next to no JavaScript: read a File with
// Blob.slice().arrayBuffer(), and send bytes over a WebSocket. It bounds
// how fast the page can serve an image: `make bench`'s Chromium row can
// be no faster than "read + send" here, however lean web/ is.
//
// A loopback HTTP server (this process) serves a page with a file input
// and takes a WebSocket whose frames it discards unparsed (a sink that
// costs next to nothing); Playwright picks the image (BENCH_MIB, default
// 256 MiB, random bytes, in the page cache) in headless Chromium, starts
// the page's loop and disconnects before it runs (attached, its Network
// instrumentation copies every WebSocket frame). The page then runs each
// case in turn, BENCH_RUNS times (default 3), telling this server when
// each starts and ends, which reads the CPU time of Chromium's processes
// at those moments. Cases:
//   read W        the whole file as slices of W bytes, two in flight
//                 (what ReadAheadImage does, without the NBD server)
//   send M        messages of M bytes from one buffer, at most 16 MiB
//                 buffered, until the sink has every byte
//   read + send   32 MiB slices, each sent as 1 MiB views
// Printed: the median MB/s, Chromium's CPU per GiB (all its processes)
// and by process (share of a core). Figures, no assertions. Loopback port
// 18114 (DevTools 18115): run it in a private network namespace.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as H from '../browser/harness.mjs';

const SIZE = Number(process.env.BENCH_MIB ?? 256) * 1048576;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PORT = 18114;
const work = join(H.top, 'build/regress/bench-chromium');
const image = join(work, 'image.bin');
mkdirSync(work, { recursive: true });

const CASES = [
  ['read 32 MiB slices', 'read', 32 << 20],
  ['read 4 MiB slices', 'read', 4 << 20],
  ['send 256 KiB messages', 'send', 256 << 10],
  ['send 1 MiB messages', 'send', 1 << 20],
  ['send 4 MiB messages', 'send', 4 << 20],
  ['read 32 MiB + send 1 MiB', 'both', 1 << 20],
];

// The page: waits for the file, then runs every case RUNS times.
const PAGE = `<!doctype html><input type=file id=f><script>
const SIZE = ${SIZE}, RUNS = ${RUNS}, CASES = ${JSON.stringify(CASES)};
const mark = (what, i) => fetch('/mark', { method: 'POST', body: JSON.stringify({ what, i }) });
async function read(f, win, each) {
  const inFlight = [];
  for (let o = 0; o < SIZE; o += win) {
    inFlight.push(f.slice(o, o + win).arrayBuffer());
    if (inFlight.length >= 2) await each(await inFlight.shift());
  }
  for (const p of inFlight) await each(await p);
}
const drain = async (ws) => { while (ws.bufferedAmount > 16 * 1048576) await new Promise((r) => setTimeout(r, 0)); };
async function run(f, kind, n) {
  const ws = new WebSocket('ws://' + location.host + '/sink?bytes=' + (kind === 'read' ? 0 : SIZE));
  await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
  const done = new Promise((r) => (ws.onmessage = r));
  const t0 = performance.now();
  if (kind === 'read') await read(f, n, async () => {});
  if (kind === 'send') {
    const b = new Uint8Array(n);
    for (let o = 0; o < SIZE; o += n) { ws.send(b.subarray(0, Math.min(n, SIZE - o))); await drain(ws); }
  }
  if (kind === 'both') await read(f, 32 << 20, async (a) => {
    const u = new Uint8Array(a);
    for (let i = 0; i < u.length; i += n) ws.send(u.subarray(i, i + n));
    await drain(ws);
  });
  if (kind !== 'read') await done;
  const ms = performance.now() - t0;
  ws.close();
  return ms;
}
async function all() {
  const f = document.getElementById('f').files[0];
  for (let i = 0; i < RUNS; i++)
    for (const [name, kind, n] of CASES) {
      await mark('start', 0);
      const ms = await run(f, kind, n);
      await fetch('/mark', { method: 'POST', body: JSON.stringify({ what: 'end', name, ms }) });
    }
  await mark('done', 0);
}
</script>`;

let browser = null;
const results = new Map(CASES.map(([name]) => [name, []]));
let status = 0;
let finished;
const allDone = new Promise((r) => (finished = r));
let pids = [];
let roles = [];
let c0 = null;
const role = (pid) => {
  const type = H.cmdline(pid).match(/--type=(\S+)/)?.[1] ?? 'browser';
  return type === 'utility' && H.cmdline(pid).includes('network.mojom') ? 'network' : type;
};
const cpu = () => pids.map((p) => H.cpuSeconds(p) || 0);

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/mark') {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const m = JSON.parse(body);
      if (m.what === 'start') c0 = cpu();
      if (m.what === 'end') {
        const c1 = cpu();
        const secs = m.ms / 1000;
        const by = c1.map((x, i) => x - c0[i]);
        results.get(m.name).push({ mbs: SIZE / 1e6 / secs, perGiB: by.reduce((a, b) => a + b, 0) / (SIZE / 2 ** 30), by: by.map((x) => x / secs) });
      }
      if (m.what === 'done') finished();
      res.end('ok');
    });
    return;
  }
  res.setHeader('content-type', 'text/html');
  res.end(PAGE);
});
// The sink: accepts the upgrade, discards what comes, and sends one
// binary message once it has seen `bytes` bytes (frame headers included,
// so it answers a little early, by 14 bytes a frame at most).
server.on('upgrade', (req, sock) => {
  const key = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${key}\r\n\r\n`);
  const want = Number(new URL(req.url, 'http://x').searchParams.get('bytes'));
  let seen = 0;
  let told = want === 0;
  sock.on('data', (d) => {
    seen += d.length;
    if (!told && seen >= want) {
      told = true;
      sock.write(Buffer.from([0x82, 1, 0]));
    }
  });
  sock.on('error', () => {});
});

try {
  H.randomFile(image, SIZE);
  await new Promise((r) => server.listen(PORT, '127.0.0.1', r));
  browser = await H.spawnBrowser(work, { port: PORT + 1, url: `http://127.0.0.1:${PORT}/` });
  const cdp = await browser.connect();
  const page = cdp.contexts()[0].pages()[0];
  await page.waitForSelector('#f');
  const session = await cdp.contexts()[0].newCDPSession(page);
  const { root } = await session.send('DOM.getDocument');
  const input = await session.send('DOM.querySelector', { nodeId: root.nodeId, selector: '#f' });
  await session.send('DOM.setFileInputFiles', { nodeId: input.nodeId, files: [image] });
  pids = browser.pids();
  roles = pids.map(role);
  await page.evaluate('setTimeout(all, 500)');
  await cdp.close();
  await Promise.race([allDone, H.sleep(600000).then(() => Promise.reject(new Error('the page did not finish in 10 minutes')))]);
} catch (e) {
  console.log(`bench-chromium failed: ${e?.message ?? e}`);
  status = 1;
} finally {
  await browser?.kill().catch(() => {});
  server.close();
  server.closeAllConnections?.();
  rmSync(image, { force: true });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`Chromium alone: ${SIZE / 1048576} MiB read from a File and/or sent over a WebSocket to a discarding sink, median of ${RUNS} runs`);
for (const [name, runs] of results) {
  if (runs.length === 0) {
    console.log(`${name.padEnd(26)}not measured`);
    status = 1;
    continue;
  }
  const m = median(runs.map((r) => r.mbs));
  const split = pids.map((p, i) => [roles[i], median(runs.map((r) => r.by[i]))]).filter(([, x]) => x >= 0.005).map(([t, x]) => `${t} ${Math.round(x * 100)}%`).join(', ');
  console.log(`${name.padEnd(26)}${`${m.toFixed(0)} MB/s`.padStart(10)}${`${median(runs.map((r) => r.perGiB)).toFixed(2)} s/GiB`.padStart(13)}   ${split}   every run: ${runs.map((r) => r.mbs.toFixed(0)).join(' ')}`);
}
process.exit(status);
