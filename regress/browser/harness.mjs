// Shared by regress/browser and regress/bench: a test vmediad on loopback
// with socket exports, headless Chromium (Debian's) through playwright-core,
// the local NBD tools, and the regress output format.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const top = resolve(here, '../..');
export const vmediad = join(top, 'build/test/sbin/vmediad');
export const peer = join(top, 'build/regress/vmedia-peer');

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- output -------------------------------------------------------------------

let failures = 0;
const oneLine = (text) => String(text).replace(/\s+/g, ' ').trim().slice(0, 300);

export function ok(name) {
  console.log(`ok ${name}`);
}

export function notOk(name, why) {
  failures++;
  console.log(`not ok ${name}: ${oneLine(why)}`);
}

export const failed = () => failures;

/** Runs fn; ok if it returns, not ok with the error's message if it throws. */
export async function check(name, fn) {
  try {
    await fn();
    ok(name);
    return true;
  } catch (e) {
    notOk(name, e?.message ?? e);
    return false;
  }
}

export function assert(cond, why) {
  if (!cond) throw new Error(why);
}

/** Polls fn (sync or async) until it returns truthy; throws `why` after ms. */
export async function waitFor(fn, ms, why) {
  const end = Date.now() + ms;
  for (;;) {
    let value;
    try {
      value = await fn();
    } catch {}
    if (value) return value;
    if (Date.now() > end) throw new Error(typeof why === 'function' ? why() : why);
    await sleep(50);
  }
}

// ---- files ------------------------------------------------------------------

/** A file of `size` random bytes; returns its sha256 (hex). */
export function randomFile(path, size) {
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (let done = 0; done < size; done += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, size - done));
    randomFillSync(part);
    hash.update(part);
    writeSync(fd, part);
  }
  closeSync(fd);
  return hash.digest('hex');
}

export function sha256(path) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => hash.update(d))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

// ---- commands -----------------------------------------------------------------

/** Runs a command to completion: {code, stdout, stderr, ms}. Never throws. */
export function run(cmd, args, { timeout = 60000 } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: String(e), ms: performance.now() - t0 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

export const nbdUri = (sock) => `nbd+unix:///?socket=${sock}`;

// ---- the daemon ---------------------------------------------------------------

/** A crypt(3) hash of `password`, from `vmediad -P` (for [user] sections). */
export function hashPassword(password, bin = vmediad) {
  const r = spawnSync(bin, ['-P'], { input: `${password}\n`, encoding: 'utf8' });
  const hash = r.stdout.trim();
  if (r.status !== 0 || !hash.startsWith('$')) throw new Error(`vmediad -P: ${r.stderr.trim() || hash}`);
  return hash;
}

/**
 * Starts build/test/sbin/vmediad in the foreground on 127.0.0.1:port with
 * the given exports ({name, description, readOnly, default, maxSize,
 * timeout, device, allow}); a socket export's socket is WORK/NAME.sock.
 * auth 'none' (the default) or 'users' with users [{name, password (in
 * clear: hashed here), groups, admin}]; global: more [vmediad] lines.
 */
export async function startDaemon({ work, port, exports, bin = vmediad, auth = 'none', users = [], global = [] }) {
  mkdirSync(join(work, 'empty'), { recursive: true });
  chmodSync(join(work, 'empty'), 0o755);
  const lines = [
    '[vmediad]',
    `listen = 127.0.0.1:${port}`,
    'user = nobody',
    `chroot = ${join(work, 'empty')}`,
    `web = ${join(top, 'web')}`,
    `auth = ${auth}`,
    ...global,
    '',
  ];
  for (const e of exports) {
    lines.push(`[export "${e.name}"]`);
    if (e.description) lines.push(`description = ${e.description}`);
    if (e.device) lines.push(`device = ${e.device}`);
    else lines.push(`socket = ${join(work, e.name + '.sock')}`);
    if (e.readOnly) lines.push('read-only = yes');
    if (e.default) lines.push('default = yes');
    if (e.maxSize) lines.push(`max-size = ${e.maxSize}`);
    if (e.timeout) lines.push(`timeout = ${e.timeout}`);
    if (e.allow) lines.push(`allow = ${e.allow}`);
    lines.push('');
  }
  for (const u of users) {
    lines.push(`[user "${u.name}"]`, `password = ${hashPassword(u.password, bin)}`);
    if (u.groups) lines.push(`groups = ${u.groups}`);
    if (u.admin) lines.push('admin = yes');
    lines.push('');
  }
  const conf = join(work, 'vmediad.conf');
  writeFileSync(conf, lines.join('\n'));
  const logPath = join(work, 'vmediad.log');
  const sockets = exports.filter((e) => !e.device).map((e) => join(work, e.name + '.sock'));

  const daemon = {
    base: `http://127.0.0.1:${port}`,
    work,
    sock: (name) => join(work, name + '.sock'),
    uri: (name) => nbdUri(join(work, name + '.sock')),
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    proc: null,
    async start() {
      const out = openSync(logPath, 'a');
      this.proc = spawn(bin, ['-d', '-v', '-f', conf], { stdio: ['ignore', out, out] });
      closeSync(out);
      const proc = this.proc;
      let exited = false;
      proc.on('exit', () => (exited = true));
      await waitFor(
        async () => {
          if (exited) throw new Error('exited');
          const log = this.log();
          if (!sockets.every((s) => log.includes(`local clients on ${s}`))) return false;
          const r = await fetch(`${this.base}/api/session`);
          return r.ok;
        },
        10000,
        () => `vmediad did not start: ${this.log().trim().split('\n').slice(-3).join(' | ')}`,
      );
      if (exited) throw new Error(`vmediad exited: ${this.log().trim().split('\n').slice(-3).join(' | ')}`);
    },
    /** SIGTERM and wait; SIGKILL after 5 s. Returns the exit code. */
    async stop() {
      const proc = this.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode;
      const done = new Promise((r) => proc.once('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const code = await done;
      clearTimeout(timer);
      return code;
    },
    /** pid of the sessiond child, for CPU accounting. */
    sessiondPid() {
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          if (Number(fields[1]) === this.proc.pid && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sessiond') return Number(pid);
        } catch {}
      }
      return null;
    },
    async exports() {
      const r = await fetch(`${this.base}/api/exports`);
      return r.json();
    },
    async exportState(name) {
      return (await this.exports()).find((e) => e.name === name)?.state;
    },
  };
  rmSync(logPath, { force: true });
  await daemon.start();
  return daemon;
}

/** CPU seconds (user + system) a process has used so far, or NaN. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ
  } catch {
    return NaN;
  }
}

// ---- the browser ----------------------------------------------------------------

/**
 * Headless Chromium without a profile: a Browser whose newContext() gives
 * separate cookie jars (one per person logged in).
 */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 30000 });
}

/** Headless Chromium with a fresh profile under `work`; a persistent context. */
export async function launchBrowser(work, { viewport = { width: 1024, height: 768 } } = {}) {
  const { chromium } = await import('playwright-core');
  const profile = join(work, 'profile');
  rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  mkdirSync(profile, { recursive: true });
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport,
    timeout: 30000,
  });
}

export function buildPrerequisites() {
  // The Makefile builds these; say clearly when run by hand without them.
  for (const f of [vmediad]) {
    if (!existsSync(f)) throw new Error(`${f} missing: run make O=build/test TEST=1 all`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: apt-get install chromium`);
  const r = spawnSync('sh', ['-c', 'command -v nbdcopy && command -v qemu-io && command -v nbdinfo'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('nbdcopy, nbdinfo or qemu-io missing: apt-get install libnbd-bin qemu-utils');
}

/** Every pid in /proc. */
export function listPids() {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number);
}

/** A process's command line with spaces between the arguments, or ''. */
export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Chromium started by us (same binary and flags, fresh profile, a loopback
 * DevTools port) for measurements: Playwright connects over CDP to set
 * things up and disconnects before measuring, because while it is attached
 * its Network instrumentation copies every WebSocket frame to the driver
 * (which caps ws.send at ~150 MB/s here). Returns {connect(), kill(), pids()}.
 */
export async function spawnBrowser(work, { port, url }) {
  const profile = join(work, 'profile');
  rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  mkdirSync(profile, { recursive: true });
  const proc = spawn(
    CHROMIUM,
    [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, `--remote-debugging-address=127.0.0.1`, `--remote-debugging-port=${port}`,
     '--window-size=1024,768', url],
    { stdio: 'ignore' },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${endpoint}/json/version`)).ok, 15000, 'chromium did not open its DevTools port');
  const { chromium } = await import('playwright-core');
  return {
    proc,
    /** A Playwright Browser connected over CDP; close() only disconnects. */
    connect: () => chromium.connectOverCDP(endpoint),
    pids: () => listPids().filter((pid) => cmdline(pid).includes(profile)),
    /** Ends the browser and waits until all its processes are gone. */
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await done;
        clearTimeout(timer);
      }
      // Its children (renderer, utilities) may linger a moment.
      const left = () => listPids().filter((pid) => cmdline(pid).includes(profile));
      try {
        await waitFor(() => left().length === 0, 3000, 'lingering');
      } catch {
        for (const pid of left()) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
    },
  };
}
