// make bench: one table of how fast nbdcopy reads one image (BENCH_MIB,
// default 256 MiB, random bytes, in the page cache) through each way of
// serving it, then what vmediad's sessiond costs per MiB, its QD1 latency
// and its memory. Every MB/s row is `nbdcopy --no-extents --connections=1
// URI null:` (process start included, the same for all), the rows run in
// turn BENCH_RUNS times (default 5, after one uncounted warm-up round) so
// a busy moment slows all alike, and the median run is shown with its
// ratios to "direct" and to "socat hop".
//
// Rows (what serves the bytes -> what nbdcopy connects to):
//   direct      nbdkit's file plugin (-r) on a Unix socket; nbdcopy on it.
//   socat hop   a plain byte hop in front of it:
//               socat -b 262144 UNIX-LISTEN:hop.sock,fork UNIX-CONNECT:direct.sock
//   jsnbd arch  jsnbd's BMC side (openbmc/jsnbd): `websocketd --binary
//               nbd-proxy`, where nbd-proxy listens on a Unix socket for
//               nbd-client and copies between it and its stdio with a
//               128 KiB buffer. Here websocketd (Debian's) runs
//               `socat -b 131072 STDIO UNIX-LISTEN:jsnbd.sock` in its
//               place, the NBD server over the WebSocket is the C test peer
//               (the same program as the next row, instead of the page's
//               nbd.js in a browser), and nbdcopy on jsnbd.sock stands in
//               for the kernel's nbd-client. So the row differs from the
//               next only in the relay: websocketd + socat instead of
//               sessiond. websocketd starts socat per WebSocket, so each run
//               connects a fresh peer, waits for jsnbd.sock, then times
//               nbdcopy alone.
//   vmediad C   vmediad (release build) with a socket export served by
//               build/regress/vmedia-peer over ws://; nbdcopy on the
//               export's socket.
//   vmediad Chr the same with the web page in headless Chromium serving it.
//               Playwright sets the page up (file, Attach) over CDP and
//               disconnects before measuring: while it is attached, its
//               Network instrumentation copies every WebSocket frame to the
//               driver, which caps ws.send at about 150 MB/s here.
// Columns: relay CPU is the share of one core used by what sits between
// server and nbdcopy (socat; websocketd and its socat; sessiond), server
// CPU that of the NBD server (nbdkit; the C peer; all of Chromium's
// processes), then the server's CPU time per GiB served, which depends
// least on how busy the machine is (for jsnbd's row, the whole life of the
// peer it starts afresh each run, handshakes included).
//
// Then, each on its own: sessiond's syscalls per MiB relayed, counted by
// `strace -c -f` attached to sessiond for one extra C-peer run whose speed
// is not used (strace slows it); QD1 4 KiB read latency (latency.py:
// python3-libnbd, BENCH_LAT_N random reads, default 2000, interleaved over
// direct, the hop and vmediad's C-peer export), median and p99 and the
// median vmediad adds over direct, measured twice: as the processes run,
// and with every process on the path (nbdkit, socat, sessiond, the C
// peer, latency.py) on one CPU, where a wake-up is a context switch rather
// than a cross-CPU wake-up whose delay is the host's scheduling (unpinned,
// the added figure swung from 1 to 81 µs between runs on this machine);
// sessiond's VmRSS idle (daemon up, no
// session), with the C peer's session attached and after one copy through
// it, and its peak (VmHWM) after the MB/s runs with three sessions attached;
// and nbdcopy --connections=1 against --connections=4 (alternating, after
// the table's runs) on a read-only export served by a second C peer, which
// vmediad offers to several connections at once (NBD_FLAG_CAN_MULTI_CONN).
// A row or figure that cannot be measured prints why, and bench exits 1.
// Benchmarks print figures; nothing here is a test and nothing asserts a
// timing. Loopback ports 18110-18112: run it in a private network
// namespace if others may bench at the same time.
import { existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import * as H from '../browser/harness.mjs';

const SIZE = Number(process.env.BENCH_MIB ?? 256) * 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LAT_N = Number(process.env.BENCH_LAT_N ?? 2000);
const PORT = 18110;
const DEVTOOLS_PORT = 18111;
const WSD_PORT = 18112;
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-libnbd is
const work = join(H.top, 'build/regress/bench');
const image = join(work, 'image.bin');
const directSock = join(work, 'direct.sock');
const hopSock = join(work, 'hop.sock');
const jsnbdSock = join(work, 'jsnbd.sock');
mkdirSync(work, { recursive: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MiB = SIZE / 1048576;
let status = 0;
const problems = [];
function problem(what, e) {
  const why = String(e?.message ?? e).replace(/\s+/g, ' ').trim();
  problems.push(`${what}: not measured: ${why}`);
  status = 1;
}

/** A process's stat fields after the comm, or null. */
function stat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
/** CPU seconds of a process and of its children that it has waited for. */
const cpuWithChildren = (pid) => {
  const f = stat(pid);
  return f ? (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100 : NaN;
};
const childrenOf = (pid) => H.listPids().filter((p) => Number(stat(p)?.[1]) === pid);
const vm = (pid, key) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1]);
const vmRSS = (pid) => vm(pid, 'VmRSS');

function spawnLogged(cmd, args, name, stdout = 'ignore') {
  const proc = spawn(cmd, args, { stdio: ['ignore', stdout, 'pipe'] });
  proc.errText = '';
  proc.stderr.on('data', (d) => (proc.errText = (proc.errText + d).slice(-2000)));
  proc.on('error', (e) => (proc.errText += String(e)));
  proc.what = name;
  return proc;
}
const alive = (p) => p && p.exitCode === null && p.signalCode === null;
async function waitSocket(path, proc) {
  await H.waitFor(() => {
    if (!alive(proc)) throw new Error('exited');
    return existsSync(path);
  }, 10000, () => `${proc.what} did not listen on ${path}${alive(proc) ? '' : ` (exited: ${proc.errText.trim()})`}`);
}
async function stop(proc) {
  if (!alive(proc)) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await done;
  clearTimeout(t);
}

/** One timed nbdcopy; relay/server give CPU seconds so far, read before and after. */
async function copy(uri, { relay = () => NaN, server = () => NaN, settle = async () => {}, connections = 1 } = {}) {
  const r0 = relay();
  const s0 = server();
  const r = await H.run('nbdcopy', ['--no-extents', `--connections=${connections}`, uri, 'null:'], { timeout: 300000 });
  if (r.code !== 0) throw new Error(`nbdcopy ${uri}: ${r.stderr.trim() || `exit ${r.code}`}`);
  await settle();
  const secs = r.ms / 1000;
  const serverSecs = server() - s0;
  return { mbs: SIZE / 1e6 / secs, relay: (relay() - r0) / secs, server: serverSecs / secs, perGiB: serverSecs / (SIZE / 2 ** 30) };
}

// Waits until a forking relay has reaped the child that served the last
// connection, so that its CPU time is in the parent's cutime.
const reaped = (pid) => () => H.waitFor(() => childrenOf(pid).length === 0, 5000, 'relay child lingers').catch(() => {});

const procs = [];
let daemon = null;
let peer = null;
let roPeer = null;
const multiConn = { 1: [], 4: [], error: null, totals: {} }; // MB/s per run, read-only export
for (const n of [1, 4]) multiConn.totals[n] = { conns: 0, cpu: 0, busy: 0, all: 0, hits: 0, bytes: 0, dropped: 0 };
let browser = null;
const rows = [
  { name: 'direct (nbdkit file)', runs: [], error: null },
  { name: 'socat hop', runs: [], error: null },
  { name: 'jsnbd arch (wsd+socat)', runs: [], error: null },
  { name: 'vmediad, C peer', runs: [], error: null },
  { name: 'vmediad, Chromium', runs: [], error: null },
];
const [direct, hop, jsnbd, cpeer, chromium] = rows;
const fail = (row, e) => {
  if (!row.error) row.error = String(e?.message ?? e).replace(/\s+/g, ' ').trim();
};
const rss = {};

// latency.py over targets with pids (and their threads and later children)
// and itself on CPU 0; every CPU again after. null, and a problem line, if
// taskset fails.
async function latencyOnOneCpu(targets, pids) {
  const all = `0-${(await import('node:os')).cpus().length - 1}`;
  const pin = async (cpus) => {
    for (const pid of pids.filter(Boolean)) {
      const r = await H.run('taskset', ['-a', '-cp', cpus, String(pid)]);
      if (r.code !== 0) throw new Error(`taskset ${pid}: ${r.stderr.trim()}`);
    }
  };
  try {
    await pin('0');
    const r = await H.run('taskset', ['-c', '0', PYTHON, join(H.here, '../bench/latency.py'), String(LAT_N), String(SIZE), ...targets], { timeout: 300000 });
    if (r.code !== 0) throw new Error(`latency.py: ${r.stderr.trim().split('\n').slice(-1)[0] || `exit ${r.code}`}`);
    return JSON.parse(r.stdout);
  } catch (e) {
    problem('QD1 4 KiB latency on one CPU', e);
    return null;
  } finally {
    await pin(all).catch((e) => problem('QD1 4 KiB latency on one CPU', e));
  }
}
let syscalls = null;
let latency = null;
let latencyPinned = null;
let chromiumSplit = '';
let nbdkit = null;
let socatHop = null;
let wsd = null;

try {
  for (const s of [directSock, hopSock, jsnbdSock]) rmSync(s, { force: true });
  H.randomFile(image, SIZE);

  // ---- direct, hop, jsnbd's relay -----------------------------------------
  try {
    nbdkit = spawnLogged('nbdkit', ['-f', '-r', '-U', directSock, 'file', `file=${image}`], 'nbdkit');
    procs.push(nbdkit);
    await waitSocket(directSock, nbdkit);
  } catch (e) {
    fail(direct, e);
    fail(hop, `needs direct: ${e?.message ?? e}`);
  }
  try {
    socatHop = spawnLogged('socat', ['-b', '262144', `UNIX-LISTEN:${hopSock},fork`, `UNIX-CONNECT:${directSock}`], 'socat');
    procs.push(socatHop);
    await waitSocket(hopSock, socatHop);
  } catch (e) {
    fail(hop, e);
  }
  try {
    wsd = spawnLogged('websocketd', [`--port=${WSD_PORT}`, '--address=127.0.0.1', '--binary', '--loglevel=error',
      'socat', '-b', '131072', 'STDIO', `UNIX-LISTEN:${jsnbdSock}`], 'websocketd');
    procs.push(wsd);
    await H.waitFor(async () => {
      if (!alive(wsd)) throw new Error('exited');
      return (await fetch(`http://127.0.0.1:${WSD_PORT}/`).catch(() => null)) !== null;
    }, 10000, () => `websocketd did not start: ${wsd.errText.trim()}`);
  } catch (e) {
    fail(jsnbd, e);
  }

  // ---- vmediad, idle RSS, the C peer -----------------------------------------
  try {
    daemon = await H.startDaemon({
      bin: join(H.top, 'build/sbin/vmediad'),
      work,
      port: PORT,
      exports: [
        { name: 'c-peer', description: 'served by vmedia-peer', timeout: 30 },
        { name: 'browser', description: 'served by the web client', timeout: 30 },
        { name: 'c-peer-ro', description: 'read-only, served by vmedia-peer', timeout: 30, readOnly: true },
      ],
    });
    await H.sleep(300);
    rss.idle = vmRSS(daemon.sessiondPid());
  } catch (e) {
    fail(cpeer, `vmediad: ${e?.message ?? e}`);
    fail(chromium, `vmediad: ${e?.message ?? e}`);
  }
  if (daemon) {
    try {
      const ready = join(work, 'peer.ready');
      rmSync(ready, { force: true });
      peer = spawnLogged(H.peer, ['--daemon-ready', ready, `ws://127.0.0.1:${PORT}/nbd/c-peer`, image], 'vmedia-peer');
      procs.push(peer);
      await H.waitFor(async () => (await daemon.exportState('c-peer')) === 'active', 10000, () => `the C peer did not attach: ${peer.errText.trim()}`);
      await H.sleep(300);
      rss.attached = vmRSS(daemon.sessiondPid());
      await copy(daemon.uri('c-peer')); // warms up, touches the relay's buffers
      rss.copied = vmRSS(daemon.sessiondPid());
    } catch (e) {
      fail(cpeer, e);
    }
  }

  // ---- a read-only export (multi-conn), its own C peer --------------------------
  if (daemon) {
    try {
      const ready = join(work, 'peer-ro.ready');
      rmSync(ready, { force: true });
      roPeer = spawnLogged(H.peer, ['--daemon-ready', ready, `ws://127.0.0.1:${PORT}/nbd/c-peer-ro`, image], 'vmedia-peer (ro)');
      procs.push(roPeer);
      await H.waitFor(async () => (await daemon.exportState('c-peer-ro')) === 'active', 10000, () => `the read-only C peer did not attach: ${roPeer.errText.trim()}`);
    } catch (e) {
      multiConn.error = String(e?.message ?? e);
    }
  }

  // ---- vmediad, the page in Chromium ------------------------------------------
  if (daemon) {
    try {
      browser = await H.spawnBrowser(work, { port: DEVTOOLS_PORT, url: `${daemon.base}/` });
      const cdp = await browser.connect();
      const page = cdp.contexts()[0].pages()[0];
      const card = () => page.getByRole('article', { name: 'browser' });
      await card().waitFor({ timeout: 10000 });
      // Playwright refuses to pass paths over CDP (it cannot know the browser
      // is local); DevTools' own call takes a path and fires 'change'.
      const session = await cdp.contexts()[0].newCDPSession(page);
      const { root } = await session.send('DOM.getDocument');
      const input = await session.send('DOM.querySelector', { nodeId: root.nodeId, selector: '[data-export="browser"] input[type=file]' });
      await session.send('DOM.setFileInputFiles', { nodeId: input.nodeId, files: [image] });
      const log = [];
      page.on('console', (m) => log.push(m.text()));
      page.on('pageerror', (e) => log.push(e.message));
      await card().getByRole('button', { name: 'Attach' }).click();
      try {
        await page.waitForSelector('[data-export="browser"][data-state="attached"]', { timeout: 10000 });
      } catch {
        throw new Error(`the page did not attach: ${(await card().innerText()).replace(/\s+/g, ' ')} | console: ${log.join(' | ')}`);
      }
      await cdp.close();
    } catch (e) {
      fail(chromium, e);
    }
  }

  // ---- MB/s, alternating -----------------------------------------------------------
  // Chromium's processes by role: browser (reads files for blobs),
  // renderer (the page), network (the network service: WebSocket).
  const role = (pid) => {
    const type = H.cmdline(pid).match(/--type=(\S+)/)?.[1] ?? 'browser';
    return type === 'utility' && H.cmdline(pid).includes('network.mojom') ? 'network' : type;
  };
  const ks = browser && !chromium.error ? browser.pids().map((pid) => [pid, role(pid)]) : [];
  let byKind = ks.map(() => 0);
  const sum = (pids) => pids.reduce((n, pid) => n + (H.cpuSeconds(pid) || 0), 0);
  const steps = [
    [direct, () => copy(H.nbdUri(directSock), { server: () => H.cpuSeconds(nbdkit.pid) })],
    [hop, () => copy(H.nbdUri(hopSock), { relay: () => cpuWithChildren(socatHop.pid), server: () => H.cpuSeconds(nbdkit.pid), settle: reaped(socatHop.pid) })],
    [jsnbd, async () => {
      rmSync(jsnbdSock, { force: true });
      // The peer serves one session and exits; the shell that waited for
      // it prints its own stat line, whose children's CPU is the peer's.
      const p = spawnLogged('sh', ['-c', '"$@" >/dev/null; read s </proc/$$/stat; echo "$s"', 'sh', H.peer, `ws://127.0.0.1:${WSD_PORT}/`, image], 'vmedia-peer (jsnbd)', 'pipe');
      let out = '';
      p.stdio[1]?.on('data', (d) => (out += d));
      const done = new Promise((r) => p.once('close', r));
      try {
        await waitSocket(jsnbdSock, p);
        const r = await copy(H.nbdUri(jsnbdSock), { relay: () => cpuWithChildren(wsd.pid), settle: reaped(wsd.pid) });
        await Promise.race([done, H.sleep(5000)]);
        const f = out.slice(out.lastIndexOf(')') + 2).split(' ');
        const peerSecs = (Number(f[13]) + Number(f[14])) / 100;
        return { ...r, server: peerSecs / (SIZE / 1e6 / r.mbs), perGiB: peerSecs / (SIZE / 2 ** 30) };
      } finally {
        await stop(p);
      }
    }],
    [cpeer, () => copy(daemon.uri('c-peer'), { relay: () => H.cpuSeconds(daemon.sessiondPid()), server: () => H.cpuSeconds(peer.pid) })],
    [chromium, async () => {
      const k0 = ks.map(([p]) => H.cpuSeconds(p));
      const t0 = performance.now();
      const r = await copy(daemon.uri('browser'), { relay: () => H.cpuSeconds(daemon.sessiondPid()), server: () => sum(browser.pids()) });
      byKind = byKind.map((x, j) => x + (H.cpuSeconds(ks[j][0]) - k0[j]) / ((performance.now() - t0) / 1000) / (RUNS + 1)); // the warm-up round too
      return r;
    }],
  ];
  // A first round warms every path up (caches, first connections) and is
  // not counted.
  for (let i = -1; i < RUNS; i++) {
    for (const [row, step] of steps) {
      if (row.error) continue;
      try {
        const r = await step();
        if (i >= 0) row.runs.push(r);
      } catch (e) {
        fail(row, e);
      }
    }
  }
  try {
    if (daemon) rss.peak = vm(daemon.sessiondPid(), 'VmHWM');
  } catch {}

  // ---- one connection and four on the read-only export, alternating --------
  if (!multiConn.error) {
    try {
      const joined = () => (daemon.log().match(/: local client \d+ \(pid \d+, uid \d+\) joined$/gm) ?? []).length;
      const readAhead = async () => (await daemon.exports()).find((e) => e.name === 'c-peer-ro')?.read_ahead ?? {};
      const cpu = () => H.cpuSeconds(daemon.sessiondPid()) + H.cpuSeconds(roPeer.pid);
      // The whole machine's CPU (every process's, others' too): busy and
      // all jiffies, from /proc/stat's first line.
      const machine = () => {
        const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
        const all = f.reduce((a, b) => a + b, 0);
        return [all - f[3] - f[4], all];
      };
      for (let i = -1; i < RUNS; i++)
        for (const n of [1, 4]) {
          const [j0, ra0, c0, m0] = [joined(), await readAhead(), cpu(), machine()];
          const r = await copy(daemon.uri('c-peer-ro'), { connections: n });
          const [j1, ra1, c1, m1] = [joined(), await readAhead(), cpu(), machine()];
          if (i < 0) continue;
          multiConn[n].push(r.mbs);
          const t = multiConn.totals[n];
          t.conns += j1 - j0;
          t.cpu += c1 - c0;
          t.busy += m1[0] - m0[0];
          t.all += m1[1] - m0[1];
          for (const k of ['hits', 'bytes', 'dropped']) t[k] += (ra1[k] ?? 0) - (ra0[k] ?? 0);
        }
    } catch (e) {
      multiConn.error = String(e?.message ?? e);
    }
  }
  chromiumSplit = ks.map(([, t], j) => `${t} ${Math.round(byKind[j] * 100)}%`).filter((x) => !x.endsWith(' 0%')).join(', ');

  // ---- sessiond's syscalls per MiB (one extra C-peer run under strace) ---------
  if (cpeer.error) {
    problem('sessiond syscalls per MiB', `needs the C peer row: ${cpeer.error}`);
  } else {
    try {
      const out = join(work, 'strace.txt');
      rmSync(out, { force: true });
      const st = spawnLogged('strace', ['-c', '-f', '-o', out, '-p', String(daemon.sessiondPid())], 'strace');
      procs.push(st);
      await H.waitFor(() => /attached/.test(st.errText) || !alive(st), 10000, 'strace did not attach');
      if (!alive(st)) throw new Error(`strace: ${st.errText.trim()}`);
      await copy(daemon.uri('c-peer'));
      const done = new Promise((r) => st.once('exit', r));
      st.kill('SIGINT');
      await Promise.race([done, H.sleep(10000)]);
      const lines = readFileSync(out, 'utf8').split('\n');
      const calls = [];
      let total = null;
      for (const l of lines) {
        // % time  seconds  usecs/call  calls  [errors]  syscall
        const m = l.trim().match(/^[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\S+)$/);
        if (m && m[3] === 'total') total = Number(m[1]);
        else if (m) calls.push([m[3], Number(m[1])]);
      }
      if (total === null) throw new Error(`no summary from strace: ${lines.slice(0, 3).join(' | ')} ${st.errText.trim()}`);
      calls.sort((a, b) => b[1] - a[1]);
      syscalls = { perMiB: total / MiB, top: calls.slice(0, 5).map(([n, c]) => `${n} ${(c / MiB).toFixed(1)}`) };
    } catch (e) {
      problem('sessiond syscalls per MiB', e);
    }
  }

  // ---- QD1 4 KiB latency ----------------------------------------------------------
  if (direct.error || cpeer.error) {
    problem('QD1 4 KiB latency', `needs the direct and C peer rows: ${direct.error ?? cpeer.error}`);
  } else {
    const targets = [`direct=${H.nbdUri(directSock)}`, `vmediad=${daemon.uri('c-peer')}`];
    if (!hop.error) targets.splice(1, 0, `hop=${H.nbdUri(hopSock)}`);
    const r = await H.run(PYTHON, [join(H.here, '../bench/latency.py'), String(LAT_N), String(SIZE), ...targets], { timeout: 300000 });
    try {
      if (r.code !== 0) throw new Error(`latency.py: ${r.stderr.trim().split('\n').slice(-1)[0] || `exit ${r.code}`}`);
      latency = JSON.parse(r.stdout);
    } catch (e) {
      problem('QD1 4 KiB latency', e);
    }
    latencyPinned = await latencyOnOneCpu(targets, [nbdkit.pid, socatHop?.pid, daemon.sessiondPid(), peer.pid]);
  }

  if (browser && !chromium.error) {
    try {
      const cdp = await browser.connect();
      const page = cdp.contexts()[0].pages()[0];
      await page.getByRole('article', { name: 'browser' }).getByRole('button', { name: 'Eject' }).click();
      await page.waitForSelector('[data-export="browser"][data-state="ejected"]', { timeout: 10000 });
      await cdp.close();
    } catch (e) {
      problems.push(`(the page did not eject: ${String(e?.message ?? e).split('\n')[0]})`);
    }
  }
} catch (e) {
  problems.push(`bench failed: ${e?.message ?? e}`);
  status = 1;
} finally {
  await browser?.kill().catch(() => {});
  for (const p of procs.reverse()) await stop(p);
  await daemon?.stop();
  rmSync(image, { force: true });
}

// ---- the table -----------------------------------------------------------------------
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '-');
const med = (row, key) => median(row.runs.map((r) => r[key]));
const d = direct.runs.length ? med(direct, 'mbs') : NaN;
const h = hop.runs.length ? med(hop, 'mbs') : NaN;
const ratio = (x, ref) => (Number.isFinite(ref) ? (x / ref).toFixed(2) : '-');
console.log(`${MiB} MiB read by nbdcopy --no-extents --connections=1 ... null:, median of ${RUNS} alternating runs`);
console.log(`(a shared machine: figures are noisy; compare rows of one run, not runs)`);
console.log(`${''.padEnd(24)}${''.padStart(10)}${'ratio to'.padStart(12)}${'CPU, share of a core'.padStart(22)}${'server CPU'.padStart(11)}`);
console.log(`${'row'.padEnd(24)}${'read'.padStart(10)}${'direct'.padStart(8)}${'hop'.padStart(6)}${'relay'.padStart(10)}${'server'.padStart(10)}${'per GiB'.padStart(11)}   every run, MB/s`);
for (const row of rows) {
  if (row.error || row.runs.length === 0) {
    console.log(`${row.name.padEnd(24)}not measured: ${row.error ?? 'no run'}`);
    status = 1;
    continue;
  }
  const m = med(row, 'mbs');
  const per = med(row, 'perGiB');
  console.log(`${row.name.padEnd(24)}${`${m.toFixed(0)} MB/s`.padStart(10)}${ratio(m, d).padStart(8)}${ratio(m, h).padStart(6)}` +
    `${pct(med(row, 'relay')).padStart(10)}${pct(med(row, 'server')).padStart(10)}${(Number.isFinite(per) ? `${per.toFixed(2)} s` : '-').padStart(11)}` +
    `   ${row.runs.map((r) => r.mbs.toFixed(0)).join(' ')}`);
}
if (chromiumSplit) console.log(`Chromium's CPU by process (share of a core): ${chromiumSplit}`);
const c = cpeer.runs.length && !cpeer.error ? med(cpeer, 'mbs') : NaN;
const b = chromium.runs.length && !chromium.error ? med(chromium, 'mbs') : NaN;
const j = jsnbd.runs.length && !jsnbd.error ? med(jsnbd, 'mbs') : NaN;
console.log(`goals: C peer/hop ${ratio(c, h)} (>= 0.9), C peer/jsnbd arch ${ratio(c, j)} (>= 5), Chromium/C peer ${ratio(b, c)} (>= 0.6)`);
if (multiConn.error) problem('multi-conn', multiConn.error);
else if (multiConn[1].length)
  console.log(`read-only export (C peer, NBD_FLAG_CAN_MULTI_CONN), median of ${RUNS} alternating runs: ` +
    `--connections=1 ${median(multiConn[1]).toFixed(0)} MB/s, --connections=4 ${median(multiConn[4]).toFixed(0)} MB/s` +
    ` (every run: ${multiConn[1].map((x) => x.toFixed(0)).join(' ')} / ${multiConn[4].map((x) => x.toFixed(0)).join(' ')})`);
if (!multiConn.error && multiConn[1].length) {
  // What each copy cost: connections nbdcopy opened (it opens at most as
  // many as it has threads, one per core unless --threads), CPU of
  // sessiond and the peer per GiB, and the read-ahead's share: bytes
  // asked of the peer ahead of the readers, and of those never read; and
  // how busy the whole machine's cores were meanwhile (others' work too).
  const per = (n) => {
    const t = multiConn.totals[n];
    const runs = multiConn[n].length;
    const mib = (x) => `${(x / runs / 1048576).toFixed(0)} MiB`;
    return `--connections=${n}: ${(t.conns / runs).toFixed(1)} connections, sessiond+peer ${(t.cpu / runs / (SIZE / 2 ** 30)).toFixed(2)} s CPU per GiB, ` +
      `read ahead ${mib(t.bytes)} (dropped unread ${mib(t.dropped)}), machine ${Math.round((100 * t.busy) / t.all)}% busy`;
  };
  console.log(`  per copy: ${per(1)}; ${per(4)}`);
}
if (syscalls) console.log(`sessiond syscalls per MiB relayed: ${syscalls.perMiB.toFixed(1)} (goal <= 100; one extra C-peer run under strace -c); most: ${syscalls.top.join(', ')}`);
if (latencyPinned) {
  const us = (x) => `${x.toFixed(0)} µs`;
  const parts = Object.entries(latencyPinned).map(([k, v]) => `${k} ${us(v.median)} (p99 ${us(v.p99)})`);
  console.log(`QD1 4 KiB read latency, every process on CPU 0: ${parts.join(', ')}`);
  console.log(`  added by vmediad over direct on one CPU: ${us(latencyPinned.vmediad.median - latencyPinned.direct.median)} (goal <= 30 µs)` +
    (latencyPinned.hop ? `; by the socat hop: ${us(latencyPinned.hop.median - latencyPinned.direct.median)}` : ''));
}
if (latency) {
  const us = (x) => `${x.toFixed(0)} µs`;
  const parts = Object.entries(latency).map(([k, v]) => `${k} ${us(v.median)} (p99 ${us(v.p99)})`);
  console.log(`QD1 4 KiB read latency, median of ${latency.direct.n} random reads: ${parts.join(', ')}`);
  console.log(`  added by vmediad over direct: ${us(latency.vmediad.median - latency.direct.median)} (goal <= 30 µs)` +
    (latency.hop ? `; by the socat hop: ${us(latency.hop.median - latency.direct.median)}` : ''));
}
if (rss.idle) {
  const kib = (x) => (Number.isFinite(x) ? `${x} KiB` : '-');
  console.log(`sessiond VmRSS: idle ${kib(rss.idle)}, one session attached ${kib(rss.attached)} (+${kib(rss.attached - rss.idle)}),` +
    ` after one copy through it ${kib(rss.copied)} (+${kib(rss.copied - rss.idle)}); peak (VmHWM) after all` +
    ` MB/s runs, three sessions: ${kib(rss.peak)}`);
} else {
  problem('sessiond VmRSS', 'vmediad did not start');
}
for (const p of problems) console.log(p);
process.exit(status);
