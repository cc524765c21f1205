// The web client on a server that wants logins (auth = users): the login
// form, errors in words, who is logged in, logging out, and an image served
// through a WebSocket that only the login cookie (with the page's Origin)
// lets in. Two people at once, each in a browser context of their own
// (separate cookie jars), on a test vmediad at 127.0.0.1:18130.
// Prints "ok NAME" / "not ok NAME: why"; exits non-zero if anything failed.
// Screenshots in build/regress/browser/: login.png (1024x768),
// login-phone.png (390 wide), login-error.png, logged-in.png, ended.png,
// admin-phone.png; the daemon's files in build/regress/browser/auth/.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as H from './harness.mjs';

const { check, assert, waitFor, run } = H;
const PORT = 18130;
const MiB = 1024 * 1024;
const shots = join(H.top, 'build/regress/browser');
const work = join(shots, 'auth');
const image = join(work, 'image16.bin');
const copy = join(work, 'copy.bin');
const audit = join(work, 'audit.log');
const PASSWORDS = { alice: 'alice-Secret-1', bob: 'bob-Secret-2', ops: 'ops-Secret-3' };
const USERS = [
  { name: 'alice', password: PASSWORDS.alice, groups: 'lab' },
  { name: 'bob', password: PASSWORDS.bob },
  { name: 'ops', password: PASSWORDS.ops, admin: true },
];
const EXPORTS = [
  { name: 'lab', description: 'Lab disk for the @lab group', allow: '@lab' },
  { name: 'bobs', description: "Bob's disk", allow: 'bob' },
  { name: 'shared', description: 'Shared by alice and bob', allow: 'alice bob' },
];

mkdirSync(work, { recursive: true });
try {
  H.buildPrerequisites();
} catch (e) {
  H.notOk('auth_prerequisites', e.message);
  process.exit(1);
}
const sha = H.randomFile(image, 16 * MiB);
rmSync(audit, { force: true });

let daemon;
try {
  daemon = await H.startDaemon({
    work,
    port: PORT,
    exports: EXPORTS,
    auth: 'users',
    users: USERS,
    global: [`audit = ${audit}`, 'sessions-per-user = 1'],
  });
} catch (e) {
  H.notOk('auth_daemon_starts', e.message);
  process.exit(1);
}

const browser = await H.launchChromium();
// Console errors fail the suite, except what a test provokes on purpose:
// answers of 401/403/429 (Chromium logs every failed fetch), a refused
// WebSocket upgrade, and a server that is down.
const consoleErrors = [];
const expected = { refusedUpgrade: false, daemonDown: false };
function watch(page, who) {
  page.on('pageerror', (e) => consoleErrors.push(`${who}: uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (/status of (401|403|429)\b/.test(text)) return;
    if (expected.refusedUpgrade && /WebSocket connection to .* failed/.test(text)) return;
    if (expected.daemonDown && /ERR_CONNECTION_REFUSED|Failed to fetch/.test(text)) return;
    consoleErrors.push(`${who}: ${text}`);
  });
  return page;
}
const contextA = await browser.newContext({ viewport: { width: 1024, height: 768 } });
const contextB = await browser.newContext({ viewport: { width: 1024, height: 768 } });
const pageA = watch(await contextA.newPage(), 'alice');
const pageB = watch(await contextB.newPage(), 'bob/ops');

// ---- helpers ---------------------------------------------------------------------

const card = (p, name) => p.getByRole('article', { name });
const cardState = (p, name) => p.locator(`[data-export="${name}"]`).getAttribute('data-state');
const detail = async (p, name) => (await card(p, name).locator('.status').innerText()).replace(/\s+/g, ' ').trim();
const names = (p) => p.locator('article[data-export]').evaluateAll((els) => els.map((e) => e.dataset.export));
const form = (p) => p.getByRole('form', { name: 'Log in' });
const message = async (p) => (await p.locator('#login-message').innerText()).trim();
const account = (p) => p.getByRole('group', { name: 'Account' });

async function waitState(p, name, state, ms = 10000) {
  try {
    await p.locator(`[data-export="${name}"][data-state="${state}"]`).waitFor({ timeout: ms });
  } catch {
    throw new Error(`${name} is ${await cardState(p, name)}, not ${state}: ${await detail(p, name).catch(() => '?')}`);
  }
}

/** What the page itself gets from the API (its cookie, its origin). */
const pageFetch = (p, path, method = 'GET') =>
  p.evaluate(async ([path, method]) => {
    const r = await fetch(path, { method, cache: 'no-store' });
    return { status: r.status, body: await r.text() };
  }, [path, method]);

/** Submits the login form with Enter; resolves to the HTTP status. */
async function submitLogin(p, user, password) {
  await p.getByLabel('User name').fill(user);
  await p.getByLabel('Password').fill(password);
  const [response] = await Promise.all([
    p.waitForResponse((r) => r.url().endsWith('/api/login')),
    p.getByLabel('Password').press('Enter'),
  ]);
  await p.locator('#login:not([aria-busy])').waitFor({ state: 'attached', timeout: 5000 });
  return response;
}

async function loggedInAs(p, user) {
  await account(p).waitFor({ timeout: 10000 });
  const text = (await account(p).innerText()).replace(/\s+/g, ' ');
  assert(text.includes(`Logged in as ${user}`), `the header reads "${text}"`);
  assert(await form(p).isHidden(), 'the login form is still shown');
}

async function nbdcopyMatches(name, sum) {
  rmSync(copy, { force: true });
  const r = await run('nbdcopy', [daemon.uri(name), copy]);
  assert(r.code === 0, `nbdcopy: ${r.stderr.trim()}`);
  const got = await H.sha256(copy);
  rmSync(copy, { force: true });
  assert(got === sum, `nbdcopy read different bytes (sha256 ${got.slice(0, 12)}, want ${sum.slice(0, 12)})`);
}

const auditRecords = () => readFileSync(audit, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

async function noHorizontalOverflow(p, width, height, shot) {
  await p.setViewportSize({ width, height });
  await p.waitForTimeout(100);
  const over = await p.evaluate(() => document.documentElement.scrollWidth - innerWidth);
  await p.screenshot({ path: join(shots, shot), fullPage: true });
  assert(over <= 0, `horizontal overflow of ${over}px at ${width} wide`);
}

// ---- before the login ------------------------------------------------------------

await pageA.goto(`${daemon.base}/`);

await check('login_form_shows_when_required_and_no_exports_before_login', async () => {
  await form(pageA).waitFor({ timeout: 10000 });
  const user = pageA.getByLabel('User name');
  const password = pageA.getByLabel('Password');
  assert((await user.getAttribute('autocomplete')) === 'username', 'user name field: no autocomplete=username');
  assert((await password.getAttribute('autocomplete')) === 'current-password', 'password field: no autocomplete=current-password');
  assert((await password.getAttribute('type')) === 'password', 'the password is shown in clear');
  await form(pageA).getByRole('button', { name: 'Log in' }).waitFor();
  const focused = await pageA.evaluate(() => document.activeElement?.id);
  assert(focused === 'login-user', `focus on "${focused}", not the user name`);
  assert((await pageA.locator('article[data-export]').count()) === 0, 'export cards in the page before the login');
  assert(await pageA.locator('#exports').isHidden(), 'the export list is shown');
  assert(await account(pageA).isHidden(), 'a user is shown before the login');
  const r = await pageFetch(pageA, '/api/exports');
  assert(r.status === 401, `GET /api/exports without a login: ${r.status}`);
});

await check('login_form_screenshots_at_1024_and_phone_width', async () => {
  await noHorizontalOverflow(pageA, 1024, 768, 'login.png');
  await noHorizontalOverflow(pageA, 390, 844, 'login-phone.png');
  await pageA.setViewportSize({ width: 1024, height: 768 });
});

await check('wrong_password_is_said_in_words', async () => {
  const r = await submitLogin(pageA, 'alice', 'not-her-password');
  assert(r.status() === 401, `POST /api/login: ${r.status()}`);
  const text = await message(pageA);
  assert(text === 'Wrong user name or password.', `the form says "${text}"`);
  const state = await pageA.evaluate(() => {
    const pw = document.getElementById('login-password');
    return { value: pw.value, focused: document.activeElement === pw, invalid: pw.getAttribute('aria-invalid') };
  });
  assert(state.value === '' && state.focused && state.invalid === 'true', `password field after: ${JSON.stringify(state)}`);
  assert((await pageA.locator('article[data-export]').count()) === 0, 'export cards after a wrong password');
  await pageA.screenshot({ path: join(shots, 'login-error.png') });
});

await check('repeated_failures_say_how_long_to_wait', async () => {
  // The server lets a few failures pass, then backs off: 429, Retry-After.
  let r;
  for (let i = 0; i < 12; i++) {
    r = await submitLogin(pageA, 'mallory', `guess-${i}`);
    if (r.status() === 429) break;
    assert(r.status() === 401, `try ${i + 1}: ${r.status()}`);
  }
  assert(r.status() === 429, 'no back-off after 12 failures');
  const wait = Number(r.headers()['retry-after']);
  assert(wait > 0, `Retry-After: ${r.headers()['retry-after']}`);
  const text = await message(pageA);
  const want = `Too many failed logins. Try again in ${wait} second${wait === 1 ? '' : 's'}.`;
  assert(text === want, `the form says "${text}", want "${want}"`);
  // It says when the wait is over.
  await waitFor(async () => /you can try again now/.test(await message(pageA)), wait * 1000 + 3000, async () => `after the wait: "${await message(pageA)}"`);
});

// ---- alice -------------------------------------------------------------------------

await check('alice_logs_in_by_keyboard_and_sees_only_her_exports_and_name', async () => {
  await pageA.getByLabel('User name').fill('');
  await pageA.getByLabel('User name').focus();
  await pageA.keyboard.type('alice');
  await pageA.keyboard.press('Tab');
  const focused = await pageA.evaluate(() => document.activeElement?.id);
  assert(focused === 'login-password', `Tab from the user name went to "${focused}"`);
  await pageA.keyboard.type(PASSWORDS.alice);
  await pageA.keyboard.press('Enter');
  await loggedInAs(pageA, 'alice');
  await pageA.locator('article[data-export]').nth(1).waitFor({ timeout: 10000 });
  const listed = await names(pageA);
  assert(listed.join() === 'lab,shared', `alice sees ${listed}`);
  assert(await pageA.locator('#account-admin').isHidden(), 'alice is marked admin');
  await account(pageA).getByRole('button', { name: 'Log out' }).waitFor();
  const api = JSON.parse((await pageFetch(pageA, '/api/exports')).body).map((e) => e.name);
  assert(api.join() === 'lab,shared', `the API gives alice ${api}`);
  const session = JSON.parse((await pageFetch(pageA, '/api/session')).body);
  assert(session.user === 'alice' && session.admin === false, `/api/session: ${JSON.stringify(session)}`);
});

await check('alice_attaches_16mib_and_nbdcopy_reads_it_back_byte_identical', async () => {
  // The WebSocket is let in only with the login cookie and an Origin:
  // the browser sends both by itself.
  await card(pageA, 'shared').getByLabel(/Choose an image/).setInputFiles(image);
  await card(pageA, 'shared').getByRole('button', { name: 'Attach' }).click();
  await waitState(pageA, 'shared', 'attached');
  await nbdcopyMatches('shared', sha);
  const start = auditRecords().find((r) => r.event === 'session_start' && r.export === 'shared');
  assert(start?.user === 'alice', `audit session_start: ${JSON.stringify(start)}`);
  await pageA.screenshot({ path: join(shots, 'logged-in.png') });
});

await check('a_second_image_over_the_per_user_limit_is_explained', async () => {
  expected.refusedUpgrade = true;
  await card(pageA, 'lab').getByLabel(/Choose an image/).setInputFiles(image);
  await card(pageA, 'lab').getByRole('button', { name: 'Attach' }).click();
  await waitState(pageA, 'lab', 'error');
  await waitFor(async () => /as many images attached as it allows/.test(await detail(pageA, 'lab')), 5000, async () => `lab reads: ${await detail(pageA, 'lab')}`);
  expected.refusedUpgrade = false;
});

// ---- bob and the admin -----------------------------------------------------------------

await check('bob_sees_his_exports_and_may_not_eject_alices_image', async () => {
  await pageB.goto(`${daemon.base}/`);
  await form(pageB).waitFor({ timeout: 10000 });
  const r = await submitLogin(pageB, 'bob', PASSWORDS.bob);
  assert(r.status() === 200, `bob's login: ${r.status()}`);
  await loggedInAs(pageB, 'bob');
  await pageB.locator('article[data-export]').nth(1).waitFor({ timeout: 10000 });
  assert((await names(pageB)).join() === 'bobs,shared', `bob sees ${await names(pageB)}`);
  await waitState(pageB, 'shared', 'in-use');
  assert(/by alice/.test(await detail(pageB, 'shared')), `shared reads: ${await detail(pageB, 'shared')}`);
  await card(pageB, 'shared').getByRole('button', { name: 'Eject' }).click();
  const warning = card(pageB, 'shared').locator('.warning');
  await warning.waitFor({ timeout: 5000 });
  const text = (await warning.innerText()).trim();
  assert(text === 'Only the person who attached this image, or an administrator, may eject it.', `bob's card says "${text}"`);
  assert((await cardState(pageA, 'shared')) === 'attached', 'alice lost her image');
});

await check('admin_sees_every_export_with_the_marker_and_ejects_alice', async () => {
  await account(pageB).getByRole('button', { name: 'Log out' }).click();
  await form(pageB).waitFor({ timeout: 5000 });
  assert((await message(pageB)) === 'You are logged out.', `after bob's logout: "${await message(pageB)}"`);
  const r = await submitLogin(pageB, 'ops', PASSWORDS.ops);
  assert(r.status() === 200, `ops's login: ${r.status()}`);
  await loggedInAs(pageB, 'ops');
  await pageB.locator('#account-admin').waitFor({ timeout: 3000 });
  await pageB.locator('article[data-export]').nth(2).waitFor({ timeout: 10000 });
  assert((await names(pageB)).join() === 'lab,bobs,shared', `ops sees ${await names(pageB)}`);
  await waitState(pageB, 'shared', 'in-use');
  await noHorizontalOverflow(pageB, 390, 844, 'admin-phone.png');
  await pageB.setViewportSize({ width: 1024, height: 768 });
  await card(pageB, 'shared').getByRole('button', { name: 'Eject' }).click();
  await waitState(pageA, 'shared', 'ejected');
  assert(/Ejected by the server/.test(await detail(pageA, 'shared')), `alice's card: ${await detail(pageA, 'shared')}`);
  await waitState(pageB, 'shared', 'idle');
  await account(pageB).getByRole('button', { name: 'Log out' }).click();
  await form(pageB).waitFor({ timeout: 5000 });
});

// ---- the login ends, log out -------------------------------------------------------------

await check('a_login_ended_elsewhere_returns_to_the_form_and_the_image_stays', async () => {
  await card(pageA, 'shared').getByRole('button', { name: 'Attach' }).click();
  await waitState(pageA, 'shared', 'attached');
  // alice logs out in another page: the same cookie, now unknown.
  const other = watch(await contextA.newPage(), 'alice-2');
  try {
    await other.goto(`${daemon.base}/`);
    await loggedInAs(other, 'alice');
    await waitState(other, 'shared', 'in-use');
    assert(/attached by you, from another page/.test(await detail(other, 'shared')), `the other page reads: ${await detail(other, 'shared')}`);
    await account(other).getByRole('button', { name: 'Log out' }).click();
    await form(other).waitFor({ timeout: 5000 });
  } finally {
    await other.close();
  }
  await form(pageA).waitFor({ timeout: 6000 });
  const text = await message(pageA);
  assert(/^Your login has ended/.test(text) && /still being served/.test(text), `the form says "${text}"`);
  assert(await pageA.locator('#exports').isHidden(), 'the exports are still shown');
  assert(await account(pageA).isHidden(), 'the header still names alice');
  await pageA.screenshot({ path: join(shots, 'ended.png') });
  await nbdcopyMatches('shared', sha);
  // Back in: the same card, still attached.
  const r = await submitLogin(pageA, 'alice', PASSWORDS.alice);
  assert(r.status() === 200, `login again: ${r.status()}`);
  await loggedInAs(pageA, 'alice');
  assert((await cardState(pageA, 'shared')) === 'attached', `shared is ${await cardState(pageA, 'shared')} after logging in again`);
});

await check('log_out_ejects_returns_to_the_form_and_the_api_says_401', async () => {
  await account(pageA).getByRole('button', { name: 'Log out' }).click();
  await form(pageA).waitFor({ timeout: 10000 });
  const text = await message(pageA);
  assert(text === 'You are logged out. The image attached from this page was ejected.', `the form says "${text}"`);
  assert((await pageA.locator('article[data-export]').count()) === 0, 'export cards left in the page');
  const r = await pageFetch(pageA, '/api/exports');
  assert(r.status === 401, `GET /api/exports after logging out: ${r.status}`);
  const info = await run('nbdinfo', [daemon.uri('shared')]);
  assert(info.code !== 0, 'shared still serves an image');
  const cookies = await contextA.cookies();
  assert(!cookies.some((c) => c.name === 'vmediad_session'), 'the cookie is still there');
});

let exitCode = null;
await check('unreachable_server_is_said_in_words', async () => {
  expected.daemonDown = true;
  exitCode = await daemon.stop();
  await pageA.getByLabel('User name').fill('alice');
  await pageA.getByLabel('Password').fill(PASSWORDS.alice);
  await pageA.getByLabel('Password').press('Enter');
  await waitFor(async () => /^Cannot reach the server/.test(await message(pageA)), 5000, async () => `the form says "${await message(pageA)}"`);
});

await check('auth_no_errors_in_the_page_consoles', async () => {
  assert(consoleErrors.length === 0, consoleErrors.join(' | '));
});

await browser.close();
await check('auth_daemon_stops_cleanly', async () => {
  assert(exitCode === 0, `vmediad exited ${exitCode}`);
  const bad = daemon.log().match(/.*(SIGSYS|malformed message|protocol violation).*/);
  assert(!bad, bad?.[0]);
});
for (const f of [image, copy]) rmSync(f, { force: true });
process.exit(H.failed() ? 1 : 0);
