// The web client in a real browser: headless Chromium (Debian's) driven by
// playwright-core loads the page from a running vmediad, attaches generated
// images to socket exports, and NBD clients nobody here wrote (nbdcopy,
// nbdinfo, qemu-io) read and write them through the export's Unix socket.
// Prints "ok NAME" / "not ok NAME: why"; exits non-zero if anything failed.
// Screenshots in build/regress/browser/: attached.png (1024x768),
// attached-phone.png (390 wide), lost.png, refused.png and
// reconnecting.png.
import { copyFileSync, mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import * as H from './harness.mjs';

const { check, assert, waitFor, run } = H;
const PORT = 18100;
const MiB = 1024 * 1024;
const work = join(H.top, 'build/regress/browser');
const image = join(work, 'image.bin');
const odd = join(work, 'odd.bin');
const copy = join(work, 'copy.bin');
const expected = join(work, 'expected.bin');
const EXPORTS = [
  { name: 'lab', description: 'Writable lab disk', default: true, timeout: 10 },
  { name: 'cdrom', description: 'Installer ISO, read-only', readOnly: true },
  { name: 'small', description: 'Scratch disk of 1 MiB at most', maxSize: '1M' },
  { name: 'bmc', description: 'USB CD of the managed server', device: '/dev/nbd0', readOnly: true },
];

mkdirSync(work, { recursive: true });
try {
  H.buildPrerequisites();
} catch (e) {
  H.notOk('prerequisites', e.message);
  process.exit(1);
}

const sha = H.randomFile(image, 64 * MiB);
H.randomFile(odd, 3 * MiB + 1); // not a multiple of 512

let daemon;
try {
  daemon = await H.startDaemon({ work, port: PORT, exports: EXPORTS });
} catch (e) {
  H.notOk('daemon_starts', e.message);
  process.exit(1);
}
const uri = (name) => daemon.uri(name);

const context = await H.launchBrowser(work);
const page = context.pages()[0] ?? (await context.newPage());
// Console errors: any uncaught exception fails; network errors are expected
// only while the daemon is down on purpose.
const consoleErrors = [];
let daemonDown = false;
page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
page.on('console', (m) => {
  if (m.type() === 'error' && !daemonDown) consoleErrors.push(m.text());
});

const card = (name, p = page) => p.getByRole('article', { name });
const cardState = (name, p = page) => p.locator(`[data-export="${name}"]`).getAttribute('data-state');
const detail = async (name, p = page) => (await card(name, p).locator('.status').innerText()).replace(/\s+/g, ' ').trim();

async function waitState(name, state, ms = 10000, p = page) {
  try {
    await p.locator(`[data-export="${name}"][data-state="${state}"]`).waitFor({ timeout: ms });
  } catch {
    throw new Error(`${name} is ${await cardState(name, p)}, not ${state}: ${await detail(name, p)}`);
  }
}

async function apiState(name) {
  return (await daemon.exports()).find((e) => e.name === name);
}

async function nbdcopyMatches(name, sum) {
  rmSync(copy, { force: true });
  const r = await run('nbdcopy', [uri(name), copy]);
  assert(r.code === 0, `nbdcopy: ${r.stderr.trim()}`);
  const got = await H.sha256(copy);
  rmSync(copy, { force: true });
  assert(got === sum, `nbdcopy read different bytes (sha256 ${got.slice(0, 12)}, want ${sum.slice(0, 12)})`);
}

async function qemuIo(name, ...commands) {
  const args = ['-f', 'raw'];
  for (const c of commands) args.push('-c', c);
  return run('qemu-io', [...args, uri(name)]);
}

async function stat(name, label) {
  return (await card(name).locator('.stats div', { hasText: label }).locator('dd').innerText()).trim();
}

const attach = async (name) => card(name).getByRole('button', { name: /^(Attach|Reattach)/ }).click();

// ---- the list --------------------------------------------------------------

await page.goto(`${daemon.base}/`);

await check('page_lists_every_export_with_state_and_access', async () => {
  await page.locator('article[data-export]').nth(EXPORTS.length - 1).waitFor({ timeout: 10000 });
  const names = await page.locator('article[data-export]').evaluateAll((els) => els.map((e) => e.dataset.export));
  assert(names.join() === EXPORTS.map((e) => e.name).join(), `exports listed: ${names}`);
  for (const e of EXPORTS) {
    const text = (await card(e.name).innerText()).replace(/\s+/g, ' ');
    assert(text.includes(e.description), `${e.name}: no description in "${text}"`);
    assert(text.includes(e.readOnly ? 'Read-only' : 'Writable'), `${e.name}: access not shown in "${text}"`);
    assert(text.includes(e.device ? 'Device' : 'Socket'), `${e.name}: kind not shown`);
    assert((await cardState(e.name)) === 'idle' && (await detail(e.name)).startsWith('Idle'), `${e.name} not shown idle`);
  }
  assert((await card('lab').innerText()).includes('Default'), 'the default export is not marked');
  // Without logins there is no login form and no one to name.
  assert(await page.locator('#login-view').isHidden(), 'a login form on a server without logins');
  assert(await page.locator('#account').isHidden(), 'a user shown on a server without logins');
});

await check('controls_have_labels_and_roles', async () => {
  const lab = card('lab');
  await lab.getByLabel(/Choose an image/).waitFor({ state: 'attached' });
  await lab.getByRole('group', { name: 'When the machine writes' }).waitFor();
  for (const name of [/Keep changes in this page's memory/, /Refuse writes/, /Save changes into the file/]) {
    await lab.getByRole('radio', { name }).waitFor();
  }
  assert(await lab.getByRole('radio', { name: /Keep changes in this page's memory/ }).isChecked(), 'memory overlay is not the default');
  await lab.getByRole('status').waitFor();
  assert(await lab.getByRole('button', { name: 'Attach' }).isDisabled(), 'Attach is enabled with no image');
  // A read-only export has no write choices.
  assert((await card('cdrom').getByRole('radio').count()) === 0, 'write modes shown on a read-only export');
});

// ---- attach, read, write, eject ------------------------------------------------

await check('attach_64mib_file_chosen_with_file_input', async () => {
  await card('lab').getByLabel(/Choose an image/).setInputFiles(image);
  const ready = await detail('lab');
  assert(ready.includes('Ready to attach image.bin (64 MiB)'), `after choosing: ${ready}`);
  await attach('lab');
  await waitState('lab', 'attached');
  const e = await waitFor(async () => {
    const x = await apiState('lab');
    return x.state === 'active' && x;
  }, 5000, 'the API does not show lab active');
  assert(e.size === 64 * MiB, `API size ${e.size}`);
  const text = await detail('lab');
  assert(/Attached.*image\.bin.*discarded at eject/.test(text), `attached state reads: ${text}`);
});

await check('nbdcopy_reads_64mib_back_byte_identical', () => nbdcopyMatches('lab', sha));

await check('progress_shows_bytes_served_rate_and_requests_in_flight', async () => {
  await waitFor(async () => (await stat('lab', 'Served')) === '64 MiB', 3000, async () => `Served shows ${await stat('lab', 'Served')}`);
  assert((await stat('lab', 'Requests in flight')) === '0', 'requests still in flight when idle');
  assert(/^\d+(\.\d)? (KiB|MiB)\/s$/.test(await stat('lab', 'Throughput')), `throughput: ${await stat('lab', 'Throughput')}`);
});

await check('overlay_mode_takes_a_qemu_io_write_and_reads_it_back', async () => {
  const w = await qemuIo('lab', 'write -P 0xa5 1048576 65536', 'flush');
  assert(w.code === 0 && w.stdout.includes('wrote 65536/65536'), `qemu-io write: ${w.stdout} ${w.stderr}`);
  const r = await qemuIo('lab', 'read -P 0xa5 1048576 65536', 'read -P 0xa5 1048575 1');
  // The second read must fail the pattern check: the byte before was not written.
  assert(r.stdout.includes('read 65536/65536') && r.stdout.includes('Pattern verification failed'), `qemu-io read: ${r.stdout} ${r.stderr}`);
  copyFileSync(image, expected);
  const fd = openSync(expected, 'r+');
  writeSync(fd, Buffer.alloc(65536, 0xa5), 0, 65536, 1048576);
  closeSync(fd);
  await nbdcopyMatches('lab', await H.sha256(expected));
  assert((await H.sha256(image)) === sha, 'the file on disk changed');
  await waitFor(async () => (await stat('lab', 'Changes in memory')) === '64 KiB', 3000, async () => `changes in memory: ${await stat('lab', 'Changes in memory')}`);
  await waitFor(async () => (await stat('lab', 'Written')) === '64 KiB', 3000, 'Written is not 64 KiB');
});

await check('screenshots_of_the_attached_state_at_1024_and_phone_width', async () => {
  await page.waitForTimeout(600); // one stats tick
  await page.screenshot({ path: join(work, 'attached.png') });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(100);
  const narrow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
  await page.screenshot({ path: join(work, 'attached-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1024, height: 768 });
  assert(wide <= 0 && narrow <= 0, `horizontal overflow: ${wide}px at 1024, ${narrow}px at 390`);
});

await check('eject_by_keyboard_ends_the_session', async () => {
  await card('lab').getByRole('button', { name: 'Eject' }).focus();
  await page.keyboard.press('Enter');
  await waitState('lab', 'ejected');
  await waitFor(async () => (await apiState('lab')).state === 'idle', 5000, 'the API does not show lab idle');
  const r = await run('qemu-img', ['info', uri('lab')]);
  assert(r.code !== 0 && /no image attached/.test(r.stderr), `qemu-img info after eject: ${r.code} ${r.stderr.trim()}`);
  // Focus moved to the button that replaced Eject, not to the page.
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  assert(/Attach/.test(focused ?? ''), `focus after eject on "${focused}"`);
});

await check('overlay_writes_are_gone_after_eject', async () => {
  await attach('lab');
  await waitState('lab', 'attached');
  await nbdcopyMatches('lab', sha);
});

// ---- reconnect ------------------------------------------------------------------

await check('dropped_connection_offers_one_click_reattach_keeping_writes', async () => {
  const w = await qemuIo('lab', 'write -P 0x5a 2097152 4096', 'flush');
  assert(w.code === 0, `qemu-io write: ${w.stderr}`);
  daemonDown = true;
  await daemon.stop();
  await waitState('lab', 'lost');
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(work, 'lost.png') });
  const text = await detail('lab');
  assert(/Connection lost/.test(text) && /Reattach/.test(text), `lost state reads: ${text}`);
  const button = card('lab').getByRole('button', { name: 'Reattach image.bin' });
  await button.waitFor({ timeout: 3000 });
  await daemon.start();
  try {
    // The page notices the server is back (its notice goes away).
    await page.locator('#notice').waitFor({ state: 'hidden', timeout: 10000 });
    daemonDown = false;
    await button.click();
    await waitState('lab', 'attached');
  } catch (e) {
    // Tell a page that cannot reach the server from a daemon that is gone.
    const alive = daemon.proc.exitCode === null && daemon.proc.signalCode === null;
    const api = await fetch(`${daemon.base}/api/exports`).then((r) => r.status, (x) => x.cause?.code ?? x.message);
    const tail = daemon.log().trim().split('\n').slice(-2).join(' | ');
    throw new Error(`${e.message}; vmediad ${alive ? 'running' : 'gone'}, API from here: ${api}; log: ${tail}`);
  }
  const r = await qemuIo('lab', 'read -P 0x5a 2097152 4096');
  assert(r.code === 0 && r.stdout.includes('read 4096/4096') && !r.stdout.includes('failed'), `after reattach: ${r.stdout} ${r.stderr}`);
});

await check('eject_from_another_page_shows_in_both', async () => {
  const other = await context.newPage();
  try {
    await other.goto(`${daemon.base}/`);
    await waitState('lab', 'in-use', 10000, other);
    assert(/In use/.test(await detail('lab', other)), 'the second page does not say In use');
    await card('lab', other).getByRole('button', { name: 'Eject' }).click();
    await waitState('lab', 'ejected');
    assert(/Ejected by the server/.test(await detail('lab')), `first page: ${await detail('lab')}`);
    await waitState('lab', 'idle', 10000, other);
  } finally {
    await other.close();
  }
});

// ---- other modes and refusals ---------------------------------------------------

await check('refuse_writes_mode_serves_read_only', async () => {
  await card('lab').getByRole('radio', { name: /Refuse writes/ }).check();
  await attach('lab');
  await waitState('lab', 'attached');
  const info = await run('nbdinfo', [uri('lab')]);
  assert(/is_read_only: true/.test(info.stdout), `nbdinfo: ${info.stdout.slice(0, 200)}`);
  const w = await qemuIo('lab', 'write -P 0x11 0 4096');
  assert(!w.stdout.includes('wrote'), `a write got through: ${w.stdout}`);
  await card('lab').getByRole('button', { name: 'Eject' }).click();
  await waitState('lab', 'ejected');
  await card('lab').getByRole('radio', { name: /Keep changes/ }).check();
});

await check('refusal_shows_the_servers_reason', async () => {
  await card('small').getByLabel(/Choose an image/).setInputFiles(image);
  await attach('small');
  await waitState('small', 'error');
  await card('small').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(work, 'refused.png') });
  const text = await detail('small');
  assert(/exceeds max-size 1048576/.test(text), `error reads: ${text}`);
});

await check('dropping_a_file_on_a_card_chooses_it', async () => {
  const el = page.locator('[data-export="cdrom"]');
  const dataTransfer = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(4096).fill(7)], 'dropped.iso'));
    return dt;
  });
  await el.dispatchEvent('dragenter', { dataTransfer });
  assert(await el.evaluate((e) => e.classList.contains('dragging')), 'the card does not show the drop target');
  await el.dispatchEvent('drop', { dataTransfer });
  assert(!(await el.evaluate((e) => e.classList.contains('dragging'))), 'the drop highlight stays');
  const text = await detail('cdrom');
  assert(text.includes('Ready to attach dropped.iso (4 KiB)'), `after the drop: ${text}`);
  await attach('cdrom');
  await waitState('cdrom', 'attached');
  const size = await run('nbdinfo', ['--size', uri('cdrom')]);
  assert(size.stdout.trim() === '4096', `size ${size.stdout.trim()}`);
  await card('cdrom').getByRole('button', { name: 'Eject' }).click();
  await waitState('cdrom', 'ejected');
});

await check('unaligned_size_is_rounded_up_with_zeros', async () => {
  await card('cdrom').getByLabel(/Choose an image/).setInputFiles(odd);
  await attach('cdrom');
  await waitState('cdrom', 'attached');
  const size = await run('nbdinfo', ['--size', uri('cdrom')]);
  assert(size.stdout.trim() === String(3 * MiB + 512), `size ${size.stdout.trim()}`);
  const padded = Buffer.concat([readFileSync(odd), Buffer.alloc(511)]);
  const want = (await import('node:crypto')).createHash('sha256').update(padded).digest('hex');
  await nbdcopyMatches('cdrom', want);
  await card('cdrom').getByRole('button', { name: 'Eject' }).click();
  await waitState('cdrom', 'ejected');
});

await check('save_into_file_mode_writes_reach_the_file', async () => {
  // The File System Access API on a file in the origin's private file
  // system: the same FileSystemFileHandle a picked file gives, without the
  // native picker (which headless Chromium cannot show).
  const available = await page.evaluate(() => globalThis.vmedia.canWriteFiles);
  assert(available, 'the page does not offer writing to files');
  await card('lab').getByRole('radio', { name: /Save changes into the file/ }).check();
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const handle = await root.getFileHandle('disk.img', { create: true });
    const w = await handle.createWritable();
    const bytes = new Uint8Array(1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
    await w.write(bytes);
    await w.close();
    globalThis.vmedia.attachment('lab').choose(await handle.getFile(), handle);
  });
  await attach('lab');
  await waitState('lab', 'attached');
  assert(/writes are saved into the file/.test(await detail('lab')), `attached reads: ${await detail('lab')}`);
  const w = await qemuIo('lab', 'write -P 0x3c 4096 8192', 'flush');
  assert(w.code === 0, `qemu-io: ${w.stderr}`);
  const r = await qemuIo('lab', 'read -P 0x3c 4096 8192');
  assert(r.code === 0 && !r.stdout.includes('failed'), `read back: ${r.stdout}`);
  const onDisk = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const file = await (await root.getFileHandle('disk.img')).getFile();
    const b = new Uint8Array(await file.arrayBuffer());
    return { size: file.size, before: b[4095], first: b[4096], last: b[4096 + 8191], after: b[4096 + 8192] };
  });
  const ok = onDisk.size === MiB && onDisk.before === 4095 % 251 && onDisk.first === 0x3c && onDisk.last === 0x3c && onDisk.after === 12288 % 251;
  assert(ok, `file after flush: ${JSON.stringify(onDisk)}`);
  await card('lab').getByRole('button', { name: 'Eject' }).click();
  await waitState('lab', 'ejected');
});

// A TCP proxy to the daemon that the test can cut: every connection
// reset at once (no close frame, as a network that went away leaves it),
// and new ones refused until restored: all of them, or with cut('nbd')
// only the NBD WebSocket upgrades (the API still reaches the daemon).
function cuttableProxy(target) {
  const conns = new Set();
  let down = false;
  const refused = (first) => down === 'all' || (down === 'nbd' && first.toString('latin1').startsWith('GET /nbd/'));
  const server = createServer((c) => {
    c.on('error', () => {});
    c.once('data', (first) => {
      if (refused(first)) {
        c.resetAndDestroy();
        return;
      }
      const u = tcpConnect(target, '127.0.0.1');
      conns.add(c).add(u);
      const end = () => {
        conns.delete(c);
        conns.delete(u);
        c.destroy();
        u.destroy();
      };
      for (const s of [c, u]) s.on('error', end).on('close', end);
      u.write(first);
      c.pipe(u).pipe(c);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    cut(what = 'all') {
      down = what;
      for (const s of conns) s.resetAndDestroy();
      conns.clear();
    },
    restore() {
      down = false;
    },
    close() {
      server.close();
      for (const s of conns) s.destroy();
    },
  })));
}

await check('websocket_cut_mid_copy_page_reconnects_by_itself_nbdcopy_identical', async () => {
  const proxy = await cuttableProxy(PORT);
  const p = await context.newPage();
  let cutting = false;
  p.on('pageerror', (e) => consoleErrors.push(`reconnect page: uncaught: ${e.message}`));
  p.on('console', (m) => {
    if (m.type() === 'error' && !cutting) consoleErrors.push(`reconnect page: ${m.text()}`);
  });
  try {
    await p.goto(`http://127.0.0.1:${proxy.port}/`);
    await card('cdrom', p).getByLabel(/Choose an image/).setInputFiles(image);
    const secretGiven = p.waitForResponse((r) => r.url().endsWith('/api/exports/cdrom/resume-secret') && r.status() === 200, { timeout: 20000 });
    await card('cdrom', p).getByRole('button', { name: 'Attach' }).click();
    await waitState('cdrom', 'attached', 10000, p);
    await secretGiven;
    rmSync(copy, { force: true });
    const copying = run('nbdcopy', [uri('cdrom'), copy], { timeout: 180000 });
    await waitFor(async () => (await apiState('cdrom')).bytes_read >= 8 * MiB, 60000, 'nbdcopy does not get going');
    cutting = true;
    proxy.cut();
    await waitState('cdrom', 'reconnecting', 15000, p);
    const seen = await apiState('cdrom');
    assert(seen.state === 'reconnecting' && seen.reconnect_left > 0, `the API shows ${seen.state}, ${seen.reconnect_left} s left`);
    await p.screenshot({ path: join(work, 'reconnecting.png') });
    assert(/Reconnecting/.test(await detail('cdrom', p)), `the card reads: ${await detail('cdrom', p)}`);
    await p.waitForTimeout(3000); // offline for 3 s
    proxy.restore();
    await waitState('cdrom', 'attached', 30000, p);
    const r = await copying;
    assert(r.code === 0, `nbdcopy: ${r.stderr.trim()}`);
    const got = await H.sha256(copy);
    assert(got === sha, `nbdcopy read different bytes across the cut (sha256 ${got.slice(0, 12)}, want ${sha.slice(0, 12)})`);
    assert(/export cdrom: resumed from/.test(daemon.log()), 'no resume in the daemon log');
    cutting = false;
    await card('cdrom', p).getByRole('button', { name: 'Eject' }).click();
    await waitState('cdrom', 'ejected', 10000, p);
  } finally {
    rmSync(copy, { force: true });
    await p.close();
    proxy.close();
  }
});

await check('closing_the_tab_while_reconnecting_ends_the_held_session', async () => {
  const proxy = await cuttableProxy(PORT);
  const p = await context.newPage();
  try {
    await p.goto(`http://127.0.0.1:${proxy.port}/`);
    await card('cdrom', p).getByLabel(/Choose an image/).setInputFiles(image);
    const secretGiven = p.waitForResponse((r) => r.url().endsWith('/api/exports/cdrom/resume-secret') && r.status() === 200, { timeout: 20000 });
    await card('cdrom', p).getByRole('button', { name: /^(Attach|Reattach)/ }).click();
    await waitState('cdrom', 'attached', 10000, p);
    await secretGiven;
    await waitFor(() => p.evaluate(() => globalThis.vmedia.attachment('cdrom').canResume), 5000, 'the page holds no resume secret');
    // The NBD socket fails and cannot come back; the API still answers.
    proxy.cut('nbd');
    await waitState('cdrom', 'reconnecting', 15000, p);
    assert((await apiState('cdrom')).state === 'reconnecting', 'the daemon does not hold cdrom');
    await p.close({ runBeforeUnload: false });
    await waitFor(async () => (await apiState('cdrom')).state === 'idle', 5000,
      'the daemon still holds cdrom after its tab closed');
    assert(/export cdrom: ejected by/.test(daemon.log()), 'no eject in the daemon log');
  } finally {
    if (!p.isClosed()) await p.close();
    proxy.close();
  }
});

await check('no_errors_in_the_page_console', async () => {
  assert(consoleErrors.length === 0, consoleErrors.join(' | '));
});

await context.close();
const code = await daemon.stop();
await check('daemon_stops_cleanly_after_the_browser_sessions', async () => {
  assert(code === 0, `vmediad exited ${code}`);
  const bad = daemon.log().match(/.*(SIGSYS|malformed message|protocol violation).*/);
  assert(!bad, bad?.[0]);
});
for (const f of [image, odd, expected, copy]) rmSync(f, { force: true });
rmSync(join(work, 'profile'), { recursive: true, force: true });
process.exit(H.failed() ? 1 : 0);
