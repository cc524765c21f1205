// Attachment: the page's per-export state machine, against a fake socket
// and a fake API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Attachment, classifyClose } from '../../web/attachment.js';
import { FakeSocket, READ, WRITE, clientFlags, concat, hex, option, pattern, request, settle, simpleReply } from './helpers.mjs';

const info = (more = {}) => ({ name: 'lab', description: '', kind: 'socket', read_only: false, default: false, state: 'idle', ...more });

function setup(exportInfo = info(), apiOverrides = {}, user = null, options = {}) {
  const sockets = [];
  const calls = [];
  const api = {
    async eject(name) {
      calls.push(['eject', name]);
      sockets.at(-1).dropped(1000, 'ejected');
      return { ejected: true };
    },
    async listExports() {
      calls.push(['list']);
      return [exportInfo];
    },
    ...apiOverrides,
  };
  const a = new Attachment(exportInfo, {
    connect: (url) => {
      const s = new FakeSocket();
      s.url = url;
      sockets.push(s);
      return s;
    },
    url: (name) => `ws://host/nbd/${name}`,
    api,
    user: () => user,
    ...options,
  });
  const states = [];
  a.addEventListener('change', () => {
    if (states.at(-1) !== a.state) states.push(a.state);
  });
  return { a, sockets, calls, states, socket: () => sockets.at(-1) };
}

const file = (n = 8192, name = 'disk.img') => new File([pattern(n)], name);

// Opens the socket and negotiates (EXPORT_NAME, no zeroes).
function handshake(socket) {
  socket.open();
  socket.deliver(concat(clientFlags(3), option(1)).buffer);
  socket.output();
}

test('choose, attach, serve, eject through the API', async () => {
  const { a, socket, calls, states } = setup();
  assert.equal(a.canAttach, false);
  a.choose(file());
  assert.equal(a.canAttach, true);
  assert.equal(a.mode, 'overlay');
  await a.attach();
  assert.equal(socket().url, 'ws://host/nbd/lab');
  assert.equal(a.state, 'connecting');
  assert.equal(a.busy, true);
  handshake(socket());
  assert.equal(a.state, 'attached');
  assert.equal(a.size, 8192);
  socket().deliver(request(READ, 1, 0, 16).buffer);
  await settle();
  assert.equal(hex(socket().output()), hex(simpleReply(1, 0, pattern(16))));
  a.sample(1000);
  socket().deliver(request(READ, 2, 0, 1024).buffer);
  await settle();
  a.sample(2000);
  assert.equal(a.rate, 1024);
  assert.equal(a.stats.bytesRead, 1040);
  await a.eject();
  await settle();
  assert.deepEqual(calls, [['eject', 'lab']]);
  assert.equal(a.state, 'ejected');
  assert.equal(a.message, 'Ejected.');
  assert.equal(a.info.state, 'idle');
  assert.equal(a.canAttach, true); // the same file, one click
  assert.equal(a.canReattach, false);
  assert.deepEqual(states, ['idle', 'connecting', 'attached', 'ejecting', 'ejected']);
});

test('a drop while attached is lost; reattach keeps the writes in memory', async () => {
  const { a, socket } = setup(info({ state: 'active' }));
  a.update(info()); // the listing catches up
  a.choose(file());
  await a.attach();
  handshake(socket());
  socket().deliver(request(WRITE, 1, 100, 4, { data: [9, 8, 7, 6] }).buffer);
  await settle();
  socket().dropped(1006);
  await settle();
  assert.equal(a.state, 'lost');
  assert.match(a.message, /lost.*1006/);
  assert.equal(a.canReattach, true);
  await a.attach();
  handshake(socket());
  socket().deliver(request(READ, 2, 98, 8).buffer);
  await settle();
  assert.equal(hex(socket().output()), hex(simpleReply(2, 0, [98, 99, 9, 8, 7, 6, 104, 105])));
  // An eject discards them.
  await a.eject();
  await settle();
  await a.attach();
  handshake(socket());
  socket().deliver(request(READ, 3, 98, 8).buffer);
  await settle();
  assert.equal(hex(socket().output()), hex(simpleReply(3, 0, pattern(8, 98))));
});

test('choosing another file or mode after a drop starts afresh', async () => {
  const { a, socket } = setup();
  a.choose(file());
  await a.attach();
  handshake(socket());
  socket().dropped(1001, 'vmediad stopping');
  await settle();
  assert.equal(a.state, 'lost');
  a.setMode('read-only');
  assert.equal(a.state, 'idle');
  assert.equal(a.canReattach, false);
});

test('a refused upgrade is explained from the export list', async () => {
  const busy = info({ state: 'active' });
  const { a, socket, calls } = setup(info(), { listExports: async () => [busy] });
  a.choose(file());
  await a.attach();
  socket().dispatchEvent(new Event('error'));
  socket().dropped(1006);
  await settle();
  await settle();
  assert.equal(a.state, 'error');
  assert.match(a.message, /busy/);
  assert.equal(a.inUseElsewhere, true);
  assert.equal(a.canAttach, false);
  assert.equal(calls.length, 0);
});

// A refused upgrade (never opened, code 1006), then whatever the list says.
async function refused(apiOverrides, user = null) {
  const t = setup(info(), apiOverrides, user);
  t.a.choose(file());
  await t.a.attach();
  t.socket().dispatchEvent(new Event('error'));
  t.socket().dropped(1006);
  for (let i = 0; i < 4; i++) await settle();
  return t;
}

test('a refused upgrade after the login ended says to log in again', async () => {
  const ended = Object.assign(new Error('authentication required'), { status: 401 });
  const { a } = await refused({ listExports: async () => { throw ended; } });
  assert.equal(a.state, 'error');
  assert.equal(a.message, 'Your login has ended: log in again, then attach.');
  assert.equal(a.canAttach, true); // the file is still chosen
});

test('a refused upgrade with the server gone says so', async () => {
  const gone = Object.assign(new Error('cannot reach the server (Failed to fetch)'), { status: 0 });
  const { a } = await refused({ listExports: async () => { throw gone; } });
  assert.match(a.message, /^Cannot reach the server\. Check the network connection/);
});

test('a refused upgrade for an export no longer listed for us', async () => {
  const { a } = await refused({ listExports: async () => [info({ name: 'other' })] });
  assert.equal(a.message, 'This export is not available to you any more (or it no longer exists).');
});

test('a refused upgrade while we serve another export: the per-user limit', async () => {
  const mine = info({ name: 'other', state: 'active', user: 'alice' });
  const { a } = await refused({ listExports: async () => [info(), mine] }, 'alice');
  assert.match(a.message, /as many images attached as it allows one person\. Eject one, then attach\.$/);
  // Someone else's session elsewhere does not explain it.
  const theirs = info({ name: 'other', state: 'active', user: 'bob' });
  const { a: b } = await refused({ listExports: async () => [info(), theirs] }, 'alice');
  assert.equal(b.message, 'The server refused the connection (code 1006).');
});

test('ejecting a session that is not ours gives back the server\'s error', async () => {
  const forbidden = Object.assign(new Error('only its owner or an admin may eject'), { status: 403 });
  const { a } = setup(info({ state: 'active', user: 'bob' }), { eject: async () => { throw forbidden; } });
  assert.equal(a.inUseElsewhere, true);
  assert.equal(await a.ejectElsewhere(), forbidden);
  const { a: b } = setup(info({ state: 'active' }), { eject: async () => ({ ejected: true }) });
  assert.equal(await b.ejectElsewhere(), null);
});

test('the server\'s reason is shown when it refuses the image', async () => {
  const { a, socket } = setup();
  a.choose(file());
  await a.attach();
  socket().open();
  socket().dropped(1008, 'image of 8192 bytes exceeds max-size 4096');
  await settle();
  assert.equal(a.state, 'error');
  assert.equal(a.message, 'Image of 8192 bytes exceeds max-size 4096 (code 1008).');
});

test('ejected by the server, ended by the server, cancelled while connecting', async () => {
  const { a, socket } = setup();
  a.choose(file());
  await a.attach();
  handshake(socket());
  socket().dropped(1000, 'ejected');
  await settle();
  assert.equal(a.state, 'ejected');
  assert.match(a.message, /by the server/);

  await a.attach();
  handshake(socket());
  socket().dropped(1000, 'kernel disconnected');
  await settle();
  assert.equal(a.state, 'ended');
  assert.equal(a.message, 'The server ended the session: kernel disconnected.');

  await a.attach();
  socket().open();
  await a.eject(); // while connecting: a cancel, no API call
  assert.deepEqual(socket().closedWith, { code: 1000, reason: 'cancelled' });
  socket().dropped(1000, 'cancelled');
  await settle();
  assert.equal(a.state, 'ejected');
  assert.equal(a.message, 'Cancelled.');
});

test('an eject the API refuses closes the socket from here', async () => {
  const { a, socket } = setup(info(), {
    eject: async () => {
      throw new Error('nothing attached to this export');
    },
  });
  a.choose(file());
  await a.attach();
  handshake(socket());
  await a.eject();
  assert.equal(a.state, 'ejecting');
  assert.deepEqual(socket().closedWith, { code: 1000, reason: 'ejected' });
  socket().dropped(1000, 'ejected');
  await settle();
  assert.equal(a.state, 'ejected');
});

test('write modes: read-only exports force read-only; file mode needs a handle', async () => {
  const ro = setup(info({ read_only: true })).a;
  assert.equal(ro.mode, 'read-only');
  assert.throws(() => ro.setMode('overlay'), /read-only/);
  const { a, socket } = setup();
  a.choose(file());
  a.setMode('file');
  assert.equal(a.canAttach, false);
  assert.throws(() => a.setMode('bogus'), RangeError);
  a.setMode('read-only');
  await a.attach();
  handshake(socket());
  assert.equal(a.stats.overlayBytes, 0);
  assert.throws(() => a.choose(file()), /attached/);
  assert.throws(() => a.setMode('overlay'), /attached/);
  // The flags advertised say read-only (EXPORT_NAME reply: size, flags).
  const s2 = setup();
  s2.a.choose(file());
  s2.a.setMode('read-only');
  await s2.a.attach();
  s2.socket().open();
  s2.socket().output();
  s2.socket().deliver(concat(clientFlags(3), option(1)).buffer);
  const reply = s2.socket().output();
  assert.equal(new DataView(reply.buffer).getUint16(8) & 2, 2);
});

test('a file-handle image without permission is an error, not a session', async () => {
  const { a, sockets } = setup();
  const handle = { name: 'disk.img', queryPermission: async () => 'prompt', getFile: async () => file() };
  a.choose(file(), handle);
  a.setMode('file');
  await a.attach();
  assert.equal(a.state, 'error');
  assert.match(a.message, /no write permission/);
  assert.equal(sockets.length, 0);
});

test('classifyClose: what each end means', () => {
  const open = (code, reason = '') => ({ code, reason, opened: true });
  assert.equal(classifyClose(open(1006), { wasAttached: true }).state, 'lost');
  assert.equal(classifyClose(open(1001, 'vmediad stopping'), { wasAttached: true }).state, 'lost');
  assert.equal(classifyClose(open(1000), { wasAttached: true }).state, 'lost');
  assert.equal(classifyClose(open(1006), { wasAttached: false }).state, 'error');
  assert.equal(classifyClose(open(1008, 'the peer stopped answering (10 s)'), { wasAttached: true }).state, 'error');
  assert.equal(classifyClose(open(1011, 'connect /dev/nbd0: No such file'), {}).state, 'error');
  assert.equal(classifyClose(open(1000, 'ejected'), { wasAttached: true }).state, 'ejected');
  assert.equal(classifyClose(open(1006), { ejectRequested: true, wasAttached: true }).state, 'ejected');
  assert.equal(classifyClose({ code: 1006, opened: false }, {}).state, 'error');
  assert.equal(classifyClose(open(4000), { localError: 'bad request magic' }).message, 'Session failed: bad request magic.');
});

// --- the reconnect window: the page takes the session back by itself ------

const SECRET = 'ab'.repeat(32);
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function resumable(apiOverrides = {}) {
  const t = setup(info({ reconnect: 30 }), {
    async resumeSecret(name) {
      t.calls.push(['resume-secret', name]);
      return { secret: SECRET, reconnect: 30 };
    },
    async resume(name, secret) {
      t.calls.push(['resume', name, secret]);
      return { resume: true, expires: 10 };
    },
    ...apiOverrides,
  }, null, { resumeDelays: [1] });
  return t;
}

// Chooses a file, attaches, negotiates and sees the export listed active
// with a window of reconnect seconds.
async function attachActive(a, socket, reconnect = 30) {
  a.choose(file());
  await a.attach();
  handshake(socket());
  a.update(info({ state: 'active', reconnect }));
  await settle();
}

// The same, then the connection drops with that close code and reason.
async function attachAndDrop(a, socket, reconnect = 30, code = 1006, reason = '') {
  await attachActive(a, socket, reconnect);
  socket().dropped(code, reason);
  await settle();
}

test('a drop with the window open: reconnects by itself, same image, writes kept', async () => {
  const { a, socket, sockets, calls, states } = resumable();
  a.choose(file());
  await a.attach();
  handshake(socket());
  await settle();
  assert.deepEqual(calls, []); // not before the listing shows it attached
  a.update(info({ state: 'active', reconnect: 30 }));
  await settle();
  assert.deepEqual(calls, [['resume-secret', 'lab']]);
  socket().deliver(request(WRITE, 1, 100, 4, { data: [9, 8, 7, 6] }).buffer);
  await settle();
  socket().output();
  socket().dropped(1006);
  await settle();
  assert.equal(a.state, 'reconnecting');
  assert.match(a.message, /lost.*Reconnecting/);
  assert.equal(a.busy, true);
  await wait(5);
  await settle();
  assert.deepEqual(calls.at(-1), ['resume', 'lab', SECRET]);
  assert.equal(sockets.length, 2);
  handshake(socket());
  assert.equal(a.state, 'attached');
  assert.equal(a.message, 'Reconnected.');
  socket().deliver(request(READ, 2, 98, 8).buffer);
  await settle();
  assert.equal(hex(socket().output()), hex(simpleReply(2, 0, [98, 99, 9, 8, 7, 6, 104, 105])));
  assert.deepEqual(states, ['idle', 'connecting', 'attached', 'reconnecting', 'attached']);
});

test('reconnecting: an unreachable server is tried again, backing off', async () => {
  let fails = 2;
  const { a, socket, sockets, calls } = resumable({
    async resume(name, secret) {
      calls.push(['resume', name, secret]);
      if (fails-- > 0) throw Object.assign(new Error('unreachable'), { status: 0 });
      return { resume: true };
    },
  });
  await attachAndDrop(a, socket);
  for (let i = 0; i < 20 && sockets.length < 2; i++) {
    await wait(5);
    await settle();
  }
  assert.equal(calls.filter((c) => c[0] === 'resume').length, 3);
  assert.equal(sockets.length, 2);
  assert.equal(a.state, 'reconnecting');
  // The resume's socket fails too: another try.
  socket().dropped(1006);
  for (let i = 0; i < 20 && sockets.length < 3; i++) {
    await wait(5);
    await settle();
  }
  assert.equal(sockets.length, 3);
  handshake(socket());
  assert.equal(a.state, 'attached');
});

test('reconnecting: a resume refused for its image (4002) is an error, not retried', async () => {
  const { a, socket, sockets } = resumable();
  await attachAndDrop(a, socket);
  await wait(5);
  await settle();
  socket().open();
  socket().dropped(4002, "resume refused: the image's content differs");
  await settle();
  await wait(5);
  await settle();
  assert.equal(a.state, 'error');
  assert.match(a.message, /content differs \(code 4002\)/);
  assert.equal(sockets.length, 2);
});

test('reconnecting: the window over (409) is lost, as without one', async () => {
  const { a, socket } = resumable({
    async resume() {
      throw Object.assign(new Error('nothing is reconnecting'), { status: 409 });
    },
  });
  await attachAndDrop(a, socket);
  await wait(5);
  await settle();
  assert.equal(a.state, 'lost');
  assert.equal(a.canReattach, true);
});

test('reconnecting: Eject ends it at once through the API', async () => {
  const { a, socket, sockets, calls } = resumable({
    async eject(name) {
      calls.push(['eject', name]);
      return { ejected: true };
    },
  });
  await attachAndDrop(a, socket);
  assert.equal(a.state, 'reconnecting');
  await a.eject();
  await settle();
  await wait(5);
  await settle();
  assert.equal(a.state, 'ejected');
  assert.deepEqual(calls.at(-1), ['eject', 'lab']);
  assert.equal(calls.filter((c) => c[0] === 'resume').length, 0);
  assert.equal(sockets.length, 1);
});

test('a server that closed the session (1001, going away) is lost, not resumed', async () => {
  const { a, socket, calls } = resumable();
  await attachAndDrop(a, socket, 30, 1001, 'vmediad stopping');
  await wait(5);
  await settle();
  assert.equal(a.state, 'lost');
  assert.equal(calls.filter((c) => c[0] === 'resume').length, 0);
});

test('no window (reconnect 0 or no secret): a drop is lost as before', async () => {
  const { a, socket, calls } = setup(info({ reconnect: 0 }), {
    async resumeSecret() {
      calls.push(['resume-secret']);
      return { secret: SECRET, reconnect: 0 };
    },
  });
  await attachAndDrop(a, socket, 0);
  assert.equal(a.state, 'lost');
  assert.deepEqual(calls, []);
});

test('abandon (the page going away) ends a held session with a keepalive eject', async () => {
  const ejects = [];
  const { a, socket } = resumable({
    async resume() {
      throw Object.assign(new Error('unreachable'), { status: 0 });
    },
    async eject(name, options) {
      ejects.push([name, options]);
      return { ejected: true };
    },
  });
  await attachActive(a, socket);
  assert.equal(a.canResume, true);
  a.abandon(); // attached: the browser's close frame ends it
  assert.deepEqual(ejects, []);
  socket().dropped(1006);
  await settle();
  assert.equal(a.state, 'reconnecting');
  a.abandon();
  assert.deepEqual(ejects, [['lab', { keepalive: true }]]);
});
