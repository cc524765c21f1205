// The page: one card per export from GET /api/exports, each driving an
// Attachment (attachment.js). Plain DOM, no framework, no build step.
//
// Views: 'loading' (asking GET /api/session), 'login' (the server wants a
// login and we have none: the form, not the exports), 'exports'. A 401
// from any call later (the login expired, or ended in another page) goes
// back to the form; attachments of this page keep serving meanwhile.

import * as api from './api.js';
import { Attachment, OVERLAY, READ_ONLY, WRITE_FILE } from './attachment.js';
import { attachedWhere, ejectErrorText, loggedOutText, loginEndedText, loginErrorText, sentence, tooManyText } from './account.js';
import { formatBytes, formatDuration, formatRate } from './format.js';

const POLL_MS = 2000;
const SAMPLE_MS = 500;

// Writing to the user's file needs the File System Access API (Chromium
// based browsers, in a secure context: https or localhost).
const canWriteFiles =
  typeof globalThis.showOpenFilePicker === 'function' &&
  typeof globalThis.FileSystemFileHandle?.prototype?.createWritable === 'function';

const LABELS = {
  idle: 'Idle',
  'in-use': 'In use',
  connecting: 'Connecting',
  attached: 'Attached',
  ejecting: 'Ejecting',
  ejected: 'Ejected',
  ended: 'Detached',
  lost: 'Connection lost',
  reconnecting: 'Reconnecting…',
  error: 'Error',
};

const cards = new Map(); // export name -> card
const byId = (id) => document.getElementById(id);
const list = byId('exports');
const notice = byId('notice');
const skip = document.querySelector('.skip');
const loginView = byId('login-view');
const loginForm = byId('login');
const loginMessage = byId('login-message');
const userInput = byId('login-user');
const passwordInput = byId('login-password');
const loginButton = loginForm.querySelector('.login-submit');
const accountBox = byId('account');
const logoutButton = byId('logout');
let nextId = 0;

let view = 'loading';
/** {auth: 'users'|'none', user, admin} from the server; null until known. */
let account = null;
/** Who the cards were made for: another user's login drops them. */
let cardsUser = null;
const me = () => (account?.auth === 'users' ? account.user : null);

function createCard(info) {
  const el = document.getElementById('export-card').content.firstElementChild.cloneNode(true);
  const id = `x${nextId++}`;
  const $ = (selector) => el.querySelector(selector);
  const card = {
    el,
    attachment: new Attachment(info, {
      connect: (url) => new WebSocket(url),
      url: (name) => api.nbdUrl(name),
      api,
      user: me,
    }),
    input: $('.file-input'),
    drop: $('.drop'),
    pickHandle: $('.pick-handle'),
    modes: $('.modes'),
    attach: $('.attach'),
    eject: $('.eject'),
    warning: $('.warning'),
    stats: $('.stats'),
    actionError: '', // a refused action, shown until the next one
  };
  el.dataset.export = info.name;
  el.setAttribute('aria-labelledby', `${id}-name`);
  $('.export-name').id = `${id}-name`;
  card.input.id = `${id}-file`;
  card.drop.htmlFor = card.input.id;
  // A stable name (the label's text changes to the chosen file), described
  // by what is chosen and the state.
  card.input.setAttribute('aria-label', `Choose an image for ${info.name}`);
  $('.drop-text').id = `${id}-chosen`;
  $('.status').id = `${id}-status`;
  card.input.setAttribute('aria-describedby', `${id}-chosen ${id}-status`);
  for (const radio of el.querySelectorAll('.modes input')) {
    radio.name = `${id}-mode`;
    radio.addEventListener('change', () => {
      if (radio.checked) act(card, () => card.attachment.setMode(radio.value));
    });
  }
  $('.mode-file').hidden = !canWriteFiles;

  card.input.addEventListener('change', () => {
    const file = card.input.files?.[0];
    if (file) act(card, () => card.attachment.choose(file));
  });
  card.pickHandle.addEventListener('click', () => pickHandle(card));
  setUpDrop(card);
  card.attach.addEventListener('click', () => attach(card));
  card.eject.addEventListener('click', () => eject(card));
  let wasBusy = false;
  card.attachment.addEventListener('change', () => {
    render(card);
    // Our session ended: the server's list says so soon; ask now.
    if (wasBusy && !card.attachment.busy) setTimeout(poll, 250);
    wasBusy = card.attachment.busy;
  });
  cards.set(info.name, card);
  return card;
}

// Runs a user action; a refusal shows on the card instead of vanishing.
function act(card, fn) {
  try {
    card.actionError = '';
    fn();
  } catch (e) {
    card.actionError = e?.message ?? String(e);
    render(card);
  }
}

async function pickHandle(card) {
  let handle;
  let file;
  try {
    [handle] = await globalThis.showOpenFilePicker({ multiple: false });
    file = await handle.getFile();
  } catch (e) {
    if (e?.name !== 'AbortError') act(card, () => { throw e; });
    return;
  }
  act(card, () => card.attachment.choose(file, handle));
}

function setUpDrop(card) {
  const { el } = card;
  let depth = 0;
  const acceptable = (e) => e.dataTransfer?.types?.includes('Files') && !card.attachment.busy;
  el.addEventListener('dragenter', (e) => {
    if (!acceptable(e)) return;
    e.preventDefault();
    depth++;
    el.classList.add('dragging');
  });
  el.addEventListener('dragover', (e) => {
    if (!acceptable(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  el.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      el.classList.remove('dragging');
    }
  });
  el.addEventListener('drop', async (e) => {
    depth = 0;
    el.classList.remove('dragging');
    if (!acceptable(e)) return;
    e.preventDefault();
    const file = e.dataTransfer.files?.[0];
    if (!file) return;
    // Chromium hands out a file handle for a dropped file: with it the
    // 'save into the file' mode works without picking the file again.
    // It must be asked for before the event handler returns.
    const item = [...e.dataTransfer.items].find((i) => i.kind === 'file');
    const pending = canWriteFiles && item?.getAsFileSystemHandle ? item.getAsFileSystemHandle().catch(() => null) : null;
    const handle = pending ? await pending : null;
    act(card, () => card.attachment.choose(file, handle?.kind === 'file' ? handle : null));
  });
}

async function attach(card) {
  const a = card.attachment;
  card.actionError = '';
  if (a.mode === WRITE_FILE) {
    // Must come first: the permission prompt needs the click's activation.
    const handle = a.source?.handle;
    let permission = 'denied';
    try {
      permission = await handle.requestPermission({ mode: 'readwrite' });
    } catch (e) {
      card.actionError = `No permission to write the file: ${e?.message ?? e}`;
    }
    if (permission !== 'granted') {
      card.actionError ||= 'No permission to write the file: choose another write mode, or allow it.';
      render(card);
      return;
    }
  }
  await a.attach().catch((e) => {
    card.actionError = e?.message ?? String(e);
    render(card);
  });
}

async function eject(card) {
  const a = card.attachment;
  card.actionError = '';
  if (a.busy) {
    await a.eject();
    return;
  }
  if (!a.inUseElsewhere) return;
  card.eject.disabled = true;
  const error = await a.ejectElsewhere();
  card.actionError = error ? ejectErrorText(error) : '';
  await poll();
  render(card);
}

function detailText(card, shown) {
  const a = card.attachment;
  const info = a.info;
  const file = a.source ? `${a.source.name} (${formatBytes(a.source.size)})` : '';
  switch (shown) {
    case 'idle':
      return file ? `Ready to attach ${file}.` : 'No image attached. Choose one below.';
    case 'in-use': {
      if (info.state === 'closing') return 'Releasing the device…';
      const where = attachedWhere(info, me());
      const since = info.since ? `, since ${new Date(info.since).toLocaleTimeString()}` : '';
      if (info.state === 'connecting') return `An image is being attached ${where}.`;
      return `An image${info.size ? ' of ' + formatBytes(info.size) : ''} is attached ${where}${since}.`;
    }
    case 'attached': {
      const how =
        a.mode === OVERLAY ? 'writes are kept in memory and discarded at eject'
        : a.mode === WRITE_FILE ? 'writes are saved into the file'
        : 'read-only';
      return `Serving ${file}: ${how}.`;
    }
    case 'reconnecting':
      return `${a.message} The machine keeps the disk while the page reconnects; Eject ends it.`;
    case 'lost':
      return `${a.message} ${a.mode === OVERLAY ? 'Changes made so far are still in memory. ' : ''}Reattach to serve the same image again.`;
    default:
      return a.message;
  }
}

function render(card) {
  const a = card.attachment;
  const info = a.info;
  const shown = a.state === 'idle' && a.inUseElsewhere ? 'in-use' : a.state;
  const { el } = card;
  el.dataset.state = shown;
  el.querySelector('.export-name').textContent = info.name;
  el.querySelector('.description').textContent = info.description || '';
  el.querySelector('.description').hidden = !info.description;
  const badges = [info.kind === 'device' ? 'Device' : 'Socket', info.read_only ? 'Read-only' : 'Writable'];
  if (info.default) badges.push('Default');
  const ul = el.querySelector('.badges');
  if (ul.dataset.text !== badges.join()) {
    ul.replaceChildren(...badges.map((b) => Object.assign(document.createElement('li'), { textContent: b, className: `badge badge-${b.toLowerCase()}` })));
    ul.dataset.text = badges.join();
  }
  el.querySelector('.state-label').textContent = LABELS[shown] ?? shown;
  el.querySelector('.state-detail').textContent = detailText(card, shown);

  // The picker: what is chosen, locked while attached.
  const locked = a.busy;
  card.input.disabled = locked;
  card.drop.classList.toggle('disabled', locked);
  card.drop.classList.toggle('chosen', !!a.source);
  el.querySelector('.drop-main').textContent = a.source ? a.source.name : 'Choose an image';
  el.querySelector('.drop-hint').textContent = a.source
    ? `${formatBytes(a.source.size)}${locked ? '' : ' · choose another or drop a file'}`
    : 'or drop a file here';
  const needHandle = a.mode === WRITE_FILE && !a.source?.handle;
  card.pickHandle.hidden = !(a.mode === WRITE_FILE && canWriteFiles) || locked;
  card.pickHandle.textContent = a.source?.handle ? 'Choose another file to write to…' : 'Choose a file to write to…';

  // Write modes: only for writable exports, and not while attached (the
  // status line says what happens to writes then).
  card.modes.hidden = !!info.read_only || locked;
  el.classList.toggle('wide-picker', card.modes.hidden);
  for (const radio of card.modes.querySelectorAll('input')) radio.checked = radio.value === a.mode;

  // Warnings: what happens to writes, image errors, refused actions.
  const warnings = [];
  if (card.actionError) warnings.push(card.actionError);
  if (needHandle && a.source) warnings.push('To save changes into the file, choose it with "Choose a file to write to…" (or drop it here).');
  if (a.ioError && (a.busy || a.state === 'lost')) {
    const what = a.ioError.command === 'read' ? 'Reading the image failed' : `The image refused a ${a.ioError.command}`;
    warnings.push(`${what}: ${a.ioError.error?.message ?? 'error ' + a.ioError.errno}.`);
  }
  card.warning.textContent = warnings.join(' ');
  card.warning.hidden = warnings.length === 0;

  renderStats(card);

  // Buttons: Attach while the export is ours to take, Eject while it is
  // taken (by us, or from elsewhere: the server decides who may eject).
  const ejectShown = a.busy || a.inUseElsewhere;
  const focused = document.activeElement;
  card.attach.hidden = ejectShown;
  card.attach.disabled = !a.canAttach;
  card.attach.textContent = a.canReattach ? `Reattach ${a.source.name}` : 'Attach';
  card.eject.hidden = !ejectShown;
  card.eject.disabled = a.state === 'ejecting' || info.state === 'closing';
  card.eject.textContent = a.state === 'connecting' ? 'Cancel' : 'Eject';
  // Keyboard users keep their place when one button replaces the other.
  if (focused === card.attach && card.attach.hidden) card.eject.focus();
  else if (focused === card.eject && card.eject.hidden) card.attach.focus();
}

function renderStats(card) {
  const a = card.attachment;
  const show = a.state === 'attached' || a.state === 'ejecting' || a.state === 'reconnecting';
  card.stats.hidden = !show;
  if (!show) return;
  const s = a.stats;
  const set = (cls, text) => {
    const dd = card.stats.querySelector(cls);
    if (dd.textContent !== text) dd.textContent = text;
  };
  set('.stat-read', formatBytes(s.bytesRead));
  set('.stat-written', formatBytes(s.bytesWritten));
  set('.stat-rate', formatRate(s.rate));
  set('.stat-inflight', String(s.inFlight));
  set('.stat-time', formatDuration((Date.now() - a.since) / 1000));
  const memoryRow = card.stats.querySelector('.stat-memory-row');
  memoryRow.hidden = a.mode === READ_ONLY;
  memoryRow.querySelector('dt').textContent = a.mode === WRITE_FILE ? 'Not yet saved' : 'Changes in memory';
  set('.stat-memory', formatBytes(a.mode === WRITE_FILE ? s.pendingBytes : s.overlayBytes));
}

function showNotice(text) {
  notice.textContent = text;
  notice.hidden = !text;
}

async function poll() {
  if (view !== 'exports') return;
  let exports;
  try {
    exports = await api.listExports();
  } catch (e) {
    if (view !== 'exports' || e.status === 401) return; // the login form is up
    showNotice(`${sentence(e.message)} Retrying…`);
    list.setAttribute('aria-busy', 'false');
    if (cards.size === 0) list.querySelector('.loading')?.replaceChildren('The exports could not be loaded.');
    return;
  }
  if (view !== 'exports') return; // logged out meanwhile
  showNotice('');
  list.setAttribute('aria-busy', 'false');
  const names = new Set(exports.map((x) => x.name));
  for (const [name, card] of cards) {
    if (!names.has(name) && !card.attachment.busy) {
      card.el.remove();
      cards.delete(name);
    }
  }
  list.querySelector('.loading')?.remove();
  list.querySelector('.empty')?.remove();
  for (const info of exports) {
    const card = cards.get(info.name) ?? createCard(info);
    card.attachment.update(info);
    list.append(card.el); // keeps the server's order
  }
  if (exports.length === 0) {
    list.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: 'No exports are configured on this server.' }));
  }
}

function tick() {
  const now = performance.now();
  for (const card of cards.values()) {
    if (!card.attachment.busy) continue;
    card.attachment.sample(now);
    renderStats(card);
    card.el.querySelector('.state-detail').textContent = detailText(card, card.attachment.state);
  }
}

// Dropping a file outside a card must not navigate away from the page.
for (const type of ['dragover', 'drop']) {
  window.addEventListener(type, (e) => {
    if (e.dataTransfer?.types?.includes('Files')) e.preventDefault();
  });
}

// A session the server holds for this page to resume ends with the page.
window.addEventListener('pagehide', () => {
  for (const card of cards.values()) card.attachment.abandon();
});

window.addEventListener('beforeunload', (e) => {
  if ([...cards.values()].some((c) => c.attachment.busy)) {
    e.preventDefault();
    e.returnValue = '';
  }
});

// ---- logins ---------------------------------------------------------------------

const serving = () => [...cards.values()].filter((c) => c.attachment.busy);

// Drops the cards not serving (all of them after a logout): what another
// user chose must not show for the next one.
function dropIdleCards() {
  for (const [name, card] of cards) {
    if (card.attachment.busy) continue;
    card.el.remove();
    cards.delete(name);
  }
}

function setSkip(target, text) {
  skip.href = `#${target}`;
  skip.textContent = text;
}

let retryTimer = null;

/** The login form says `text`; kind 'error', 'warn' or 'info'. */
function setLoginMessage(text, kind = 'info') {
  clearTimeout(retryTimer);
  loginMessage.textContent = text;
  loginMessage.hidden = !text;
  loginMessage.dataset.kind = kind;
}

function renderAccount() {
  const user = me();
  accountBox.hidden = !user || view !== 'exports';
  byId('account-name').textContent = user ?? '';
  byId('account-admin').hidden = !account?.admin;
}

function showLogin(message = '', kind = 'info') {
  view = 'login';
  document.body.dataset.view = 'login';
  showNotice('');
  list.hidden = true;
  loginView.hidden = false;
  renderAccount();
  setLoginMessage(message, kind);
  setSkip('login', 'Skip to the login');
  passwordInput.value = '';
  markInvalid(userInput, false);
  markInvalid(passwordInput, false);
  (userInput.value ? passwordInput : userInput).focus();
}

function showExports() {
  view = 'exports';
  document.body.dataset.view = 'exports';
  loginView.hidden = true;
  list.hidden = false;
  if (cardsUser !== me()) dropIdleCards();
  cardsUser = me();
  if (cards.size === 0 && !list.querySelector('.loading')) {
    list.querySelector('.empty')?.remove();
    list.append(Object.assign(document.createElement('p'), { className: 'loading', textContent: 'Loading the exports…' }));
  }
  list.setAttribute('aria-busy', 'true');
  renderAccount();
  setSkip('exports', 'Skip to the exports');
  return poll();
}

let loggingIn = false;

function markInvalid(input, bad) {
  if (bad) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (loggingIn) return;
  const username = userInput.value.trim();
  const password = passwordInput.value;
  markInvalid(userInput, !username);
  markInvalid(passwordInput, !!username && !password);
  if (!username || !password) {
    setLoginMessage(username ? 'Enter your password.' : 'Enter your user name.', 'error');
    (username ? passwordInput : userInput).focus();
    return;
  }
  loggingIn = true;
  loginForm.setAttribute('aria-busy', 'true');
  loginButton.textContent = 'Logging in…';
  try {
    const who = await api.login(username, password);
    account = { auth: 'users', user: who.user, admin: who.admin };
    passwordInput.value = '';
    setLoginMessage('');
    const shown = showExports();
    list.focus({ preventScroll: true });
    await shown;
  } catch (error) {
    setLoginMessage(loginErrorText(error), 'error');
    if (error.status === 401) {
      passwordInput.value = '';
      markInvalid(passwordInput, true);
      passwordInput.focus();
    } else if (error.status === 429 && error.retryAfter > 0) {
      // Say so when the wait is over (once: a live region that counts
      // down every second would keep interrupting a screen reader).
      const text = loginMessage.textContent;
      retryTimer = setTimeout(() => {
        if (loginMessage.textContent === text) setLoginMessage(tooManyText(0), 'info');
      }, error.retryAfter * 1000);
    }
  } finally {
    loggingIn = false;
    loginForm.removeAttribute('aria-busy');
    loginButton.textContent = 'Log in';
  }
});

// Log out ends what this page serves first: whoever uses this browser
// next must not find an image still attached as someone else.
logoutButton.addEventListener('click', async () => {
  logoutButton.disabled = true;
  const busy = serving();
  try {
    for (const card of busy) card.attachment.eject();
    const end = Date.now() + 8000;
    while (serving().length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    try {
      await api.logout();
    } catch (error) {
      showNotice(`Could not log out: ${error.status === 0 ? 'cannot reach the server' : error.message}. Try again.`);
      return;
    }
    account = { auth: 'users', user: null, admin: false };
    view = 'login';
    dropIdleCards();
    showLogin(loggedOutText(busy.length), 'info');
  } finally {
    logoutButton.disabled = false;
  }
});

// Any 401 once the exports are shown: the login ended.
api.onUnauthorized(() => {
  if (view !== 'exports' || account?.auth === 'none') return;
  account = { auth: 'users', user: null, admin: false };
  showLogin(loginEndedText(serving().length > 0), 'warn');
});

async function start() {
  let who;
  try {
    who = await api.session();
  } catch (e) {
    showNotice(`${sentence(e.status === 0 ? 'cannot reach the server' : e.message)} Retrying…`);
    list.setAttribute('aria-busy', 'false');
    list.querySelector('.loading')?.replaceChildren('The server could not be reached.');
    setTimeout(start, POLL_MS);
    return;
  }
  account = who;
  if (who.auth === 'users' && !who.user) showLogin();
  else showExports();
}

// For diagnostics (and the browser tests): the attachments by export name.
globalThis.vmedia = { attachment: (name) => cards.get(name)?.attachment, canWriteFiles, account: () => account, view: () => view };

start();
setInterval(poll, POLL_MS);
setInterval(tick, SAMPLE_MS);
