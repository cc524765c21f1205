// NbdSession: the WebSocket glue, against a fake socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NbdSession } from '../../web/nbd-session.js';
import { MemoryImage } from '../../web/image.js';
import { DISC, FakeSocket, GREETING, READ, clientFlags, concat, hex, option, pattern, request, settle, simpleReply } from './helpers.mjs';

test('greets on open, serves binary frames, closes with 1000 after DISC', async () => {
  const socket = new FakeSocket();
  const session = new NbdSession(socket, new MemoryImage(pattern(4096)), { readOnly: true });
  const states = [];
  const progress = [];
  session.addEventListener('statechange', (e) => states.push(e.detail.state));
  session.addEventListener('progress', (e) => progress.push(e.detail));
  assert.equal(socket.binaryType, 'arraybuffer');
  assert.equal(socket.sent.length, 0);
  socket.open();
  assert.equal(hex(socket.output()), hex(GREETING));
  const bytes = concat(clientFlags(3), option(1), request(READ, 1, 8, 4));
  // Frame boundaries mean nothing: deliver in two ArrayBuffers split mid-header.
  socket.deliver(bytes.slice(0, 30).buffer);
  socket.deliver(bytes.slice(30).buffer);
  await settle();
  assert.equal(hex(socket.output()), '0000000000001000' + '0003' + hex(simpleReply(1, 0, pattern(4, 8))));
  assert.equal(session.state, 'transmission');
  assert.equal(progress.length, 1);
  assert.equal(session.stats.bytesRead, 4);
  socket.deliver(request(DISC, 2, 0, 0).buffer);
  await session.finished;
  assert.deepEqual(states, ['handshake', 'transmission', 'closed']);
  assert.deepEqual(socket.closedWith, { code: 1000, reason: 'client disconnected' });
});

test('a socket that is already open is greeted at once', () => {
  const socket = new FakeSocket();
  socket.readyState = 1;
  new NbdSession(socket, new MemoryImage(512));
  assert.equal(hex(socket.output()), hex(GREETING));
});

test('a text frame is a protocol error and closes the socket with 4000', async () => {
  const socket = new FakeSocket();
  const session = new NbdSession(socket, new MemoryImage(512));
  socket.open();
  socket.deliver('hello');
  assert.equal(session.state, 'error');
  assert.equal(session.reason, 'text frame on the NBD socket');
  assert.deepEqual(socket.closedWith, { code: 4000, reason: 'text frame on the NBD socket' });
  await session.finished;
});

test('the socket closing ends the session; nothing more is sent', async () => {
  const socket = new FakeSocket();
  const session = new NbdSession(socket, new MemoryImage(512));
  socket.open();
  socket.output();
  socket.dropped(1006);
  assert.equal(session.state, 'closed');
  assert.equal(session.reason, 'connection closed (1006)');
  assert.equal(socket.closedWith, null); // already closed: not closed again
  socket.deliver(concat(clientFlags(3), option(1)).buffer); // ignored
  assert.equal(socket.sent.length, 0);
  await session.finished;
});

test('close() detaches: socket closed with 1000 and the reason', async () => {
  const socket = new FakeSocket();
  const session = new NbdSession(socket, new MemoryImage(512));
  socket.open();
  await session.close('user ejected');
  assert.deepEqual(socket.closedWith, { code: 1000, reason: 'user ejected' });
  assert.equal(session.state, 'closed');
});

test('a socket error is an error state', () => {
  const socket = new FakeSocket();
  const session = new NbdSession(socket, new MemoryImage(512));
  socket.dispatchEvent(new Event('error'));
  assert.equal(session.state, 'error');
  assert.equal(session.reason, 'connection error');
  assert.equal(socket.closedWith.code, 4000);
});

test('socketclose reports the code, the reason and that the socket opened', async () => {
  const socket = new FakeSocket();
  const session = new NbdSession(socket, new MemoryImage(512));
  const closes = [];
  session.addEventListener('socketclose', (e) => closes.push(e.detail));
  socket.open();
  socket.dropped(1008, 'image too big');
  socket.dropped(1008, 'again'); // a second close event is ignored
  assert.deepEqual(closes, [{ code: 1008, reason: 'image too big', wasClean: true, opened: true }]);
  assert.deepEqual(session.closeInfo, closes[0]);
  assert.equal(session.reason, 'connection closed (1008: image too big)');
  await session.finished;
});

test('a refused connection: error, then close 1006 that never opened', async () => {
  const socket = new FakeSocket();
  const session = new NbdSession(socket, new MemoryImage(512));
  const closes = [];
  session.addEventListener('socketclose', (e) => closes.push(e.detail));
  socket.dispatchEvent(new Event('error'));
  assert.equal(session.state, 'error');
  socket.dropped(1006);
  assert.deepEqual(closes, [{ code: 1006, reason: '', wasClean: false, opened: false }]);
});

test('replies are sent with one send per batch over the socket', async () => {
  const socket = new FakeSocket();
  new NbdSession(socket, new MemoryImage(pattern(8192)), { readOnly: true });
  socket.open();
  socket.deliver(concat(clientFlags(3), option(1)).buffer);
  socket.output();
  socket.deliver(concat(request(READ, 1, 0, 100), request(READ, 2, 100, 100), request(READ, 3, 4096, 8)).buffer);
  await settle();
  assert.equal(socket.sent.length, 1);
  assert.equal(hex(socket.output()), hex(concat(simpleReply(1, 0, pattern(100)), simpleReply(2, 0, pattern(100, 100)), simpleReply(3, 0, pattern(8, 4096)))));
});
