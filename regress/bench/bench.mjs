// make bench: MB/s that nbdcopy reads through vmediad from a socket export,
// served by the C test peer (build/regress/vmedia-peer) and by the web
// client in headless Chromium, in the same run, from the same 256 MiB file.
// Both are attached at once (two exports) and the nbdcopy runs alternate
// between them, so a busy machine slows both alike; the median run of each
// is shown. The CPU columns show who works how hard (share of one core):
// sessiond, and the NBD server (the peer, or all of Chromium's processes),
// then the NBD server's CPU time per GiB served, which depends least on
// how busy the machine is; a last line splits Chromium's CPU by process.
//
// Chromium: Playwright sets the page up (file, Attach) over CDP and
// disconnects before measuring: while it is attached, its Network
// instrumentation copies every WebSocket frame to the driver, which caps
// ws.send at about 150 MB/s here. A person's browser has none of that.
import { rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import * as H from '../browser/harness.mjs';

const SIZE = Number(process.env.BENCH_MIB ?? 256) * 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PORT = 18110;
const DEVTOOLS_PORT = 18111;
const work = join(H.top, 'build/regress/bench');
const image = join(work, 'image.bin');
mkdirSync(work, { recursive: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function copyOnce(daemon, name, serverPids) {
  const sessiond = daemon.sessiondPid();
  const pids = serverPids();
  const s0 = H.cpuSeconds(sessiond);
  const p0 = pids.map(H.cpuSeconds);
  const r = await H.run('nbdcopy', [daemon.uri(name), 'null:'], { timeout: 120000 });
  if (r.code !== 0) throw new Error(`nbdcopy from ${name} failed: ${r.stderr.trim()}`);
  const secs = r.ms / 1000;
  const server = pids.reduce((n, pid, i) => n + (H.cpuSeconds(pid) - p0[i] || 0), 0);
  return { mbs: SIZE / 1e6 / secs, sessiond: (H.cpuSeconds(sessiond) - s0) / secs, server: server / secs, perGiB: server / (SIZE / 2 ** 30) };
}

// The release build: what a BMC runs.
const daemon = await H.startDaemon({
  bin: join(H.top, 'build/sbin/vmediad'),
  work,
  port: PORT,
  exports: [
    { name: 'c-peer', description: 'served by vmedia-peer', timeout: 30 },
    { name: 'browser', description: 'served by the web client', timeout: 30 },
  ],
});
let peer = null;
let browser = null;
let status = 0;
try {
  H.randomFile(image, SIZE);

  const ready = join(work, 'peer.ready');
  rmSync(ready, { force: true });
  peer = spawn(H.peer, ['--daemon-ready', ready, `ws://127.0.0.1:${PORT}/nbd/c-peer`, image], { stdio: 'ignore' });
  await H.waitFor(async () => (await daemon.exportState('c-peer')) === 'active', 10000, 'the C peer did not attach');

  browser = await H.spawnBrowser(work, { port: DEVTOOLS_PORT, url: `${daemon.base}/` });
  let cdp = await browser.connect();
  let page = cdp.contexts()[0].pages()[0];
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

  // Chromium's processes by role: browser (reads files for blobs),
  // renderer (the page), network (the network service: WebSocket).
  const role = (pid) => {
    const type = H.cmdline(pid).match(/--type=(\S+)/)?.[1] ?? 'browser';
    return type === 'utility' && H.cmdline(pid).includes('network.mojom') ? 'network' : type;
  };
  const ks = browser.pids().map((pid) => [pid, role(pid)]);
  let byKind = ks.map(() => 0);
  const runs = { c: [], browser: [] };
  for (let i = 0; i < RUNS; i++) {
    runs.c.push(await copyOnce(daemon, 'c-peer', () => [peer.pid]));
    const k0 = ks.map(([p]) => H.cpuSeconds(p));
    const t0 = performance.now();
    runs.browser.push(await copyOnce(daemon, 'browser', browser.pids));
    byKind = byKind.map((x, j) => x + (H.cpuSeconds(ks[j][0]) - k0[j]) / ((performance.now() - t0) / 1000) / RUNS);
  }

  cdp = await browser.connect();
  page = cdp.contexts()[0].pages()[0];
  await card().getByRole('button', { name: 'Eject' }).click();
  try {
    await page.waitForSelector('[data-export="browser"][data-state="ejected"]', { timeout: 10000 });
  } catch {
    throw new Error(`the page did not eject: ${(await card().innerText()).replace(/\s+/g, ' ')}`);
  }
  await cdp.close();

  const row = (name, rs) => {
    const pct = (x) => `${Math.round(x * 100)}%`;
    const m = (key) => median(rs.map((r) => r[key]));
    return `${name.padEnd(22)}${`${m('mbs').toFixed(0)} MB/s`.padStart(11)}` +
      `${pct(m('sessiond')).padStart(10)}${pct(m('server')).padStart(9)}${`${m('perGiB').toFixed(2)} s`.padStart(10)}` +
      `   ${rs.map((r) => r.mbs.toFixed(0)).join(' ')}`;
  };
  const c = median(runs.c.map((r) => r.mbs));
  const b = median(runs.browser.map((r) => r.mbs));
  console.log(`${SIZE / 1048576} MiB read by nbdcopy through vmediad, median of ${RUNS} alternating runs`);
  console.log(`${''.padEnd(33)}${'CPU, share of a core'.padStart(19)}${'server CPU'.padStart(11)}`);
  console.log(`${'NBD server'.padEnd(22)}${'read'.padStart(11)}${'sessiond'.padStart(10)}${'server'.padStart(9)}${'per GiB'.padStart(10)}   every run, MB/s`);
  console.log(row('C peer (vmedia-peer)', runs.c));
  console.log(row('browser (Chromium)', runs.browser));
  const split = ks.map(([, t], j) => `${t} ${Math.round(byKind[j] * 100)}%`).filter((x) => !x.endsWith(' 0%'));
  console.log(`Chromium's CPU by process (share of a core): ${split.join(', ')}`);
  console.log(`ratio browser/C: ${(b / c).toFixed(2)} (goal: 0.50 or more, the browser within 2x of the C peer)`);
} catch (e) {
  console.log(`bench failed: ${e?.message ?? e}`);
  status = 1;
} finally {
  await browser?.kill();
  peer?.kill();
  await daemon.stop();
  rmSync(image, { force: true });
}
process.exit(status);
