// NbdServer concurrency and stream handling: pipelined reads, write/flush
// ordering, and input split or merged at any byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage, OverlayImage } from '../../web/image.js';
import {
  DISC, FLUSH, READ, TRIM, WRITE, clientFlags, concat, deferred, harness, hex, infoRequest,
  option, parseReplies, pattern, request, settle, simpleReply, transmitting,
} from './helpers.mjs';

// An image whose every operation waits until the test releases it.
function manualImage(size = 1 << 16) {
  const pending = [];
  const log = [];
  const wait = (op, offset, length, value) => {
    const d = deferred();
    pending.push({ op, offset, length, release: () => d.resolve(value()), fail: (e) => d.reject(e) });
    log.push(`${op}:start:${offset}`);
    return d.promise.then((v) => {
      log.push(`${op}:done:${offset}`);
      return v;
    });
  };
  return {
    size,
    pending,
    log,
    read: (offset, length) => wait('read', offset, length, () => pattern(length, offset)),
    write: (offset, data) => wait('write', offset, data.length, () => undefined),
    flush: () => wait('flush', 0, 0, () => undefined),
    trim: (offset, length) => wait('trim', offset, length, () => undefined),
    /** Releases the pending operation on `op` at `offset`. */
    release(op, offset) {
      const i = pending.findIndex((p) => p.op === op && p.offset === offset);
      assert.ok(i >= 0, `no pending ${op} at ${offset}; pending: ${pending.map((p) => p.op + '@' + p.offset)}`);
      pending.splice(i, 1)[0].release();
    },
  };
}

test('pipelined reads all start at once and are answered in completion order', async () => {
  const image = manualImage();
  const h = transmitting(image);
  h.send(request(READ, 1, 0, 4), request(READ, 2, 512, 4), request(READ, 3, 1024, 4));
  await settle();
  assert.equal(image.pending.length, 3, 'all three reads in flight');
  assert.equal(h.server.stats.inFlight, 3);
  image.release('read', 1024);
  await settle();
  image.release('read', 0);
  await settle();
  assert.equal(h.server.stats.inFlight, 1);
  image.release('read', 512);
  await settle();
  const replies = parseReplies(h.take(), () => 4);
  assert.deepEqual(replies.map((r) => r.handle), [3n, 1n, 2n]);
  assert.deepEqual(replies.map((r) => [...r.data]), [[...pattern(4, 1024)], [...pattern(4, 0)], [...pattern(4, 512)]]);
  assert.equal(h.server.stats.inFlight, 0);
});

test('FLUSH after writes waits for them, and replies after them', async () => {
  const image = manualImage();
  const h = transmitting(image);
  h.send(
    request(WRITE, 1, 0, 2, { data: [1, 2] }),
    request(WRITE, 2, 512, 2, { data: [3, 4] }),
    request(FLUSH, 3, 0, 0),
  );
  await settle();
  // Writes are serialised: only the first has started; flush waits.
  assert.deepEqual(image.pending.map((p) => p.op), ['write']);
  image.release('write', 0);
  await settle();
  assert.deepEqual(image.pending.map((p) => p.op), ['write']);
  assert.equal(hex(h.take()), hex(simpleReply(1, 0)));
  image.release('write', 512);
  await settle();
  assert.deepEqual(image.pending.map((p) => p.op), ['flush']);
  assert.equal(hex(h.take()), hex(simpleReply(2, 0)));
  image.release('flush', 0);
  await settle();
  assert.equal(hex(h.take()), hex(simpleReply(3, 0)));
  assert.deepEqual(image.log, [
    'write:start:0', 'write:done:0', 'write:start:512', 'write:done:512', 'flush:start:0', 'flush:done:0',
  ]);
});

test('a write waits for earlier reads; later reads wait for the write', async () => {
  const image = manualImage();
  const h = transmitting(image);
  h.send(
    request(READ, 1, 0, 4),
    request(READ, 2, 512, 4),
    request(WRITE, 3, 0, 4, { data: [9, 9, 9, 9] }),
    request(READ, 4, 0, 4),
    request(READ, 5, 4096, 4),
  );
  await settle();
  assert.deepEqual(image.pending.map((p) => p.op + '@' + p.offset), ['read@0', 'read@512']);
  image.release('read', 512);
  image.release('read', 0);
  await settle();
  assert.deepEqual(image.pending.map((p) => p.op + '@' + p.offset), ['write@0']);
  image.release('write', 0);
  await settle();
  // Reads after the barrier run in parallel again.
  assert.deepEqual(image.pending.map((p) => p.op + '@' + p.offset), ['read@0', 'read@4096']);
  image.release('read', 4096);
  image.release('read', 0);
  await settle();
  assert.deepEqual(parseReplies(h.take(), (hd) => (hd === 3n ? 0 : 4)).map((r) => r.handle), [2n, 1n, 3n, 5n, 4n]);
});

test('a read overlapping a just-sent write sees the written data', async () => {
  // A real overlay with a slow base: the write must finish before the read.
  const base = new MemoryImage(pattern(8192));
  const slowBase = {
    size: base.size,
    read: async (o, n) => {
      await settle();
      return base.read(o, n);
    },
  };
  const h = transmitting(new OverlayImage(slowBase));
  h.send(request(WRITE, 1, 4000, 200, { data: new Uint8Array(200).fill(7) }), request(READ, 2, 3900, 400));
  await h.server.drain();
  const expected = concat(pattern(100, 3900), new Uint8Array(200).fill(7), pattern(100, 4200));
  assert.equal(hex(h.take()), hex(concat(simpleReply(1, 0), simpleReply(2, 0, expected))));
});

test('TRIM is a barrier too', async () => {
  const image = manualImage();
  const h = transmitting(image);
  h.send(request(READ, 1, 0, 4), request(TRIM, 2, 0, 512), request(READ, 3, 0, 4));
  await settle();
  assert.deepEqual(image.pending.map((p) => p.op), ['read']);
  image.release('read', 0);
  await settle();
  assert.deepEqual(image.pending.map((p) => p.op), ['trim']);
  image.release('trim', 0);
  await settle();
  image.release('read', 0);
  await settle();
  assert.deepEqual(parseReplies(h.take(), (hd) => (hd === 2n ? 0 : 4)).map((r) => r.handle), [1n, 2n, 3n]);
});

test('a failed write does not stall later requests', async () => {
  const image = manualImage();
  const h = transmitting(image);
  h.send(request(WRITE, 1, 0, 1, { data: [1] }), request(READ, 2, 0, 4));
  await settle();
  image.pending.shift().fail(new Error('boom'));
  await settle();
  image.release('read', 0);
  await settle();
  assert.equal(hex(h.take()), hex(concat(simpleReply(1, 5), simpleReply(2, 0, pattern(4)))));
});

// A full session exercising every path, as one byte array.
function session() {
  return concat(
    clientFlags(3),
    option(8), // unknown: ERR_UNSUP
    option(6, infoRequest('a', [3])),
    option(7, infoRequest('')),
    request(READ, 1, 0, 100),
    request(WRITE, 2, 10, 20, { data: pattern(20, 77) }),
    request(READ, 3, 0, 64),
    request(FLUSH, 4, 0, 0),
    request(TRIM, 5, 4096, 4096),
    request(READ, 6, 4000, 200),
    request(READ, 7, 1 << 20, 1), // beyond the end: EINVAL
    request(WRITE, 8, 8700, 8, { data: pattern(8) }), // beyond the end (8704): EINVAL
    request(WRITE, 9, 8190, 4, { data: [1, 2, 3, 4] }), // across the real end (8204)
    request(READ, 11, 8180, 524), // into the zero tail
    request(DISC, 10, 0, 0),
  );
}

async function run(chunks) {
  const h = harness(new MemoryImage(pattern(8192 + 12)));
  h.server.start();
  for (const c of chunks) h.server.receive(c);
  await h.server.finished;
  assert.equal(h.server.state, 'closed', h.server.reason);
  return hex(h.take());
}

test('1-byte chunks, one chunk and random chunks give identical output', async () => {
  const bytes = session();
  const whole = await run([bytes.slice()]);
  const single = await run(Array.from(bytes, (b) => Uint8Array.of(b)));
  assert.equal(single, whole);
  // Random splits (deterministic generator), including empty chunks.
  let seed = 12345;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 20; round++) {
    const chunks = [];
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, rand(60));
      chunks.push(bytes.slice(at, at + n));
      at += n;
    }
    assert.equal(await run(chunks), whole, `round ${round}`);
  }
  // Chunks that are views into a larger buffer at odd offsets.
  const big = new Uint8Array(bytes.length + 7);
  big.set(bytes, 3);
  assert.equal(await run([big.subarray(3, 40), big.subarray(40, 3 + bytes.length)]), whole);
  // ArrayBuffers are accepted too.
  assert.equal(await run([bytes.slice().buffer]), whole);
});

test('several sessions in one chunk with a trailing request after DISC', async () => {
  const h = harness(new MemoryImage(4096));
  h.server.start();
  h.take();
  h.send(clientFlags(3), option(1), request(READ, 1, 0, 1), request(DISC, 2, 0, 0), request(READ, 3, 0, 1));
  await h.server.finished;
  // The request after DISC is ignored.
  assert.equal(hex(h.take()), '0000000000001000' + '0025' + hex(simpleReply(1, 0, [0])));
});
