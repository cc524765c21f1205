// NbdSession: the WebSocket glue, against a fake socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NbdSession } from '../../web/nbd-session.js';
import { MemoryImage } from '../../web/image.js';
import { DISC, GREETING, READ, clientFlags, concat, hex, option, pattern, request, settle, simpleReply } from './helpers.mjs';

class FakeSocket extends EventTarget {
  readyState = 0; // CONNECTING
  binaryType = 'blob';
  sent = [];
  closedWith = null;

  send(bytes) {
    assert.equal(this.readyState, 1, 'send on an open socket only');
    this.sent.push(Uint8Array.from(bytes));
  }
  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
  // Test side:
  open() {
    this.readyState = 1;
    this.dispatchEvent(new Event('open'));
  }
  deliver(data) {
    this.dispatchEvent(Object.assign(new Event('message'), { data }));
  }
  dropped(code, reason = '') {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event('close'), { code, reason }));
  }
  output() {
    const out = concat(...this.sent);
    this.sent = [];
    return out;
  }
}

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
