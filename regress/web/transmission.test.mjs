// NbdServer transmission phase: each command's exact reply bytes, errors,
// counters, large and unaligned sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../web/image.js';
import { NbdServer } from '../../web/nbd-server.js';
import {
  DISC, FLUSH, READ, TRIM, WRITE, byHandle, clientFlags, concat, fromHex, harness, hex, option, pattern, request,
  settle, simpleReply, transmitting,
} from './helpers.mjs';

const EPERM = 1;
const EIO = 5;
const EINVAL = 22;
const ENOSPC = 28;

function memory(size = 8192) {
  return new MemoryImage(pattern(size));
}

test('READ replies magic, error 0, handle, then the data', async () => {
  const h = transmitting(memory());
  h.send(request(READ, 0x0102030405060708n, 100, 8));
  await settle();
  assert.equal(hex(h.take()), '67446698' + '00000000' + '0102030405060708' + hex(pattern(8, 100)));
  assert.equal(h.server.stats.bytesRead, 8);
});

test('WRITE replies with no data and changes the image', async () => {
  const image = memory();
  const h = transmitting(image);
  h.send(request(WRITE, 7, 1000, 4, { data: [9, 8, 7, 6] }));
  await settle();
  assert.equal(hex(h.take()), '67446698' + '00000000' + '0000000000000007');
  assert.deepEqual([...image.bytes.subarray(1000, 1004)], [9, 8, 7, 6]);
  h.send(request(READ, 8, 998, 8));
  await settle();
  assert.equal(hex(h.take()), hex(simpleReply(8, 0, [...pattern(2, 998), 9, 8, 7, 6, ...pattern(2, 1004)])));
  assert.equal(h.server.stats.bytesWritten, 4);
});

test('FLUSH calls image.flush and replies', async () => {
  const image = memory();
  let flushes = 0;
  image.flush = async () => {
    flushes++;
  };
  const h = transmitting(image);
  h.send(request(FLUSH, 3, 0, 0));
  await settle();
  assert.equal(hex(h.take()), hex(simpleReply(3, 0)));
  assert.equal(flushes, 1);
});

test('TRIM zeros a MemoryImage range and replies', async () => {
  const image = memory();
  const h = transmitting(image);
  h.send(request(TRIM, 4, 512, 1024));
  await settle();
  assert.equal(hex(h.take()), hex(simpleReply(4, 0)));
  assert.ok(image.bytes.subarray(512, 1536).every((b) => b === 0));
  assert.equal(image.bytes[511], pattern(512)[511]);
  assert.equal(image.bytes[1536], pattern(1537)[1536]);
});

test('TRIM on an image without trim succeeds and changes nothing', async () => {
  const image = memory();
  image.trim = undefined;
  const before = image.bytes.slice();
  const h = transmitting(image);
  h.send(request(TRIM, 4, 0, 4096));
  await settle();
  assert.equal(hex(h.take()), hex(simpleReply(4, 0)));
  assert.deepEqual(image.bytes, before);
});

test('DISC waits for outstanding requests, flushes, closes without a reply', async () => {
  const image = memory();
  let flushed = false;
  image.flush = async () => {
    flushed = true;
  };
  const h = transmitting(image);
  h.send(request(READ, 1, 0, 4), request(DISC, 2, 0, 0), request(READ, 3, 0, 4));
  assert.equal(h.server.state, 'transmission'); // the read is still out
  await h.server.finished;
  assert.equal(hex(h.take()), hex(simpleReply(1, 0, pattern(4))));
  assert.equal(h.server.state, 'closed');
  assert.equal(h.server.reason, 'client disconnected');
  assert.equal(flushed, true);
  assert.equal(h.server.stats.inFlight, 0);
});

test('a read-only session does not flush on close', async () => {
  let flushed = false;
  const image = { size: 512, read: async (o, n) => new Uint8Array(n), flush: async () => (flushed = true) };
  const h = transmitting(image);
  h.send(request(DISC, 2, 0, 0));
  await h.server.finished;
  assert.equal(flushed, false);
});

test('READ beyond the end is EINVAL with no data', async () => {
  const h = transmitting(memory(8192));
  h.send(
    request(READ, 1, 8192, 1), // starts at the end
    request(READ, 2, 8000, 193), // crosses the end
    request(READ, 3, 0xffffffffffffff00n, 0x200), // wraps in 64 bits
    request(READ, 4, 8191, 1), // last byte: fine
  );
  await settle();
  assert.equal(hex(h.take()), hex(concat(
    simpleReply(1, EINVAL), simpleReply(2, EINVAL), simpleReply(3, EINVAL),
    simpleReply(4, 0, pattern(1, 8191)),
  )));
});

test('READ longer than maxRequest is EINVAL', async () => {
  const h = transmitting(memory(8192), { maxRequest: 4096 });
  h.send(request(READ, 1, 0, 4097), request(READ, 2, 0, 4096));
  await settle();
  const out = h.take();
  assert.equal(hex(out.subarray(0, 16)), hex(simpleReply(1, EINVAL)));
  assert.equal(out.length, 16 + 16 + 4096);
});

test('WRITE on a read-only export is EPERM and its payload is skipped', async () => {
  const image = memory();
  const before = image.bytes.slice();
  const h = transmitting(image, { readOnly: true });
  h.send(request(WRITE, 1, 0, 5, { data: [1, 2, 3, 4, 5] }), request(READ, 2, 0, 2));
  await settle();
  assert.equal(hex(h.take()), hex(concat(simpleReply(1, EPERM), simpleReply(2, 0, pattern(2)))));
  assert.deepEqual(image.bytes, before);
  assert.equal(h.server.stats.bytesWritten, 0);
});

test('TRIM on a read-only export is EPERM', async () => {
  const h = transmitting(memory(), { readOnly: true });
  h.send(request(TRIM, 1, 0, 512));
  await settle();
  assert.equal(hex(h.take()), hex(simpleReply(1, EPERM)));
});

test('WRITE beyond the end is EINVAL and its payload is skipped', async () => {
  const image = memory(1024);
  const before = image.bytes.slice();
  const h = transmitting(image);
  const data = new Uint8Array(600).fill(0xaa);
  // The payload arrives in two pieces, the second with the next request.
  const msg = concat(request(WRITE, 1, 512, 600, { data }), request(READ, 2, 0, 2));
  h.send(msg.subarray(0, 300));
  h.send(msg.subarray(300));
  await settle();
  assert.equal(hex(h.take()), hex(concat(simpleReply(1, EINVAL), simpleReply(2, 0, pattern(2)))));
  assert.deepEqual(image.bytes, before);
});

test('TRIM beyond the end is EINVAL; unknown commands are EINVAL', async () => {
  const h = transmitting(memory(1024));
  h.send(request(TRIM, 1, 512, 1024), request(5, 2, 0, 0), request(6, 3, 0, 512), request(0xffff, 4, 0, 0));
  await settle();
  assert.equal(hex(h.take()), hex(concat(
    simpleReply(1, EINVAL), simpleReply(2, EINVAL), simpleReply(3, EINVAL), simpleReply(4, EINVAL),
  )));
});

test('bad request magic is a protocol error; nothing more is sent', async () => {
  const h = transmitting(memory());
  const bad = request(READ, 1, 0, 4);
  bad[3] ^= 1;
  h.send(bad, request(READ, 2, 0, 4));
  await settle();
  assert.equal(h.take().length, 0);
  assert.equal(h.server.state, 'error');
  assert.equal(h.server.reason, 'bad request magic 0x25609512');
});

test('image failures map to errno and raise ioerror', async () => {
  const image = {
    size: 4096,
    read: async (o) => {
      if (o === 0) throw new Error('file vanished');
      if (o === 512) return new Uint8Array(3); // short
      const e = new Error('custom');
      e.nbdErrno = 61;
      throw e;
    },
    write: async () => {
      const e = new Error('quota');
      e.name = 'QuotaExceededError';
      throw e;
    },
    flush: async () => {
      throw new Error('disk gone');
    },
  };
  const h = transmitting(image);
  h.send(
    request(READ, 1, 0, 4),
    request(READ, 2, 512, 4),
    request(READ, 3, 1024, 4),
    request(WRITE, 4, 0, 1, { data: [1] }),
    request(FLUSH, 5, 0, 0),
  );
  await h.server.drain();
  assert.equal(hex(h.take()), hex(concat(
    simpleReply(1, EIO), simpleReply(2, EIO), simpleReply(3, 61), simpleReply(4, ENOSPC), simpleReply(5, EIO),
  )));
  assert.deepEqual(h.ioerrors.map((e) => [e.command, e.offset, e.errno]), [
    ['read', 0, EIO], ['read', 512, EIO], ['read', 1024, 61], ['write', 0, ENOSPC], ['flush', 0, EIO],
  ]);
  assert.equal(h.server.stats.errors, 5);
  assert.equal(h.server.state, 'transmission'); // I/O errors are not fatal
});

test('counters: requests, bytes, in flight, progress events', async () => {
  const h = transmitting(memory());
  const progress = [];
  h.server.addEventListener('progress', (e) => progress.push(e.detail));
  h.send(request(READ, 1, 0, 100), request(WRITE, 2, 0, 10, { data: new Uint8Array(10) }), request(READ, 3, 0, 50));
  assert.equal(h.server.stats.inFlight, 3);
  assert.equal(h.server.stats.requests, 3);
  await h.server.drain();
  assert.deepEqual(h.server.stats, { bytesRead: 150, bytesWritten: 10, inFlight: 0, requests: 3, errors: 0 });
  assert.equal(progress.length, 3);
  assert.deepEqual(progress.at(-1), h.server.stats);
  // stats is a snapshot, not a live object.
  const s = h.server.stats;
  s.bytesRead = -1;
  assert.equal(h.server.stats.bytesRead, 150);
});

test('size above 4 GiB: exact size bytes and a read at 5 GiB', async () => {
  const size = 6 * 2 ** 30 + 4096;
  const calls = [];
  // Sparse fake: every byte is its offset modulo 256.
  const image = {
    size,
    read: async (offset, length) => {
      calls.push([offset, length]);
      const b = new Uint8Array(length);
      for (let i = 0; i < length; i++) b[i] = (offset + i) % 256;
      return b;
    },
  };
  const h = transmitting(image);
  assert.equal(h.server.size, size);
  const offset = 5 * 2 ** 30 + 7;
  h.send(request(READ, 1, offset, 16), request(READ, 2, size - 1, 2), request(READ, 3, size - 1, 1));
  await settle();
  const expected = Array.from({ length: 16 }, (_, i) => (offset + i) % 256);
  assert.equal(byHandle(h.take(), { 1: 16, 3: 1 }),
    hex(concat(simpleReply(1, 0, expected), simpleReply(2, EINVAL), simpleReply(3, 0, [255]))));
  assert.deepEqual(calls, [[offset, 16], [size - 1, 1]]);

  // And the size as the handshake sends it.
  const h2 = harness(image);
  h2.server.start();
  h2.take();
  h2.send(fromHex('00000003'), fromHex('49484156454f5054 00000001 00000000'));
  assert.equal(hex(h2.take()), '0000000180001000' + '0003');
});

test('unaligned size is rounded up to 512 with a zero tail', async () => {
  const image = new MemoryImage(pattern(1000));
  const h = transmitting(image);
  assert.equal(h.server.size, 1024);
  h.send(request(READ, 1, 0, 1024), request(READ, 2, 1000, 24));
  await settle();
  assert.equal(byHandle(h.take(), { 1: 1024, 2: 24 }), hex(concat(
    simpleReply(1, 0, concat(pattern(1000), new Uint8Array(24))),
    simpleReply(2, 0, new Uint8Array(24)),
  )));
  // A write across the real end changes the image up to its end; the tail
  // part reads back but never reaches the image.
  h.send(request(WRITE, 3, 996, 8, { data: [1, 2, 3, 4, 5, 6, 7, 8] }), request(READ, 4, 992, 32));
  await h.server.drain();
  assert.equal(image.size, 1000);
  assert.deepEqual([...image.bytes.subarray(996, 1000)], [1, 2, 3, 4]);
  const expected = concat(pattern(4, 992), [1, 2, 3, 4, 5, 6, 7, 8], new Uint8Array(20));
  assert.equal(hex(h.take()), hex(concat(simpleReply(3, 0), simpleReply(4, 0, expected))));
  // A trim over the tail zeros it again.
  h.send(request(TRIM, 5, 512, 512), request(READ, 6, 1000, 24));
  await h.server.drain();
  assert.equal(hex(h.take()), hex(concat(simpleReply(5, 0), simpleReply(6, 0, new Uint8Array(24)))));
});

test('large reads are sent as header then data without changing the stream', async () => {
  const image = new MemoryImage(pattern(1 << 20));
  const h = transmitting(image);
  h.send(request(READ, 1, 0, 1 << 20));
  await settle();
  assert.equal(hex(h.take()), hex(simpleReply(1, 0, pattern(1 << 20))));
});

test('zero-length READ and WRITE succeed', async () => {
  const h = transmitting(memory());
  h.send(request(READ, 1, 0, 0), request(WRITE, 2, 4096, 0));
  await h.server.drain();
  assert.equal(hex(h.take()), hex(concat(simpleReply(1, 0), simpleReply(2, 0))));
});

test('close() stops output and flushes; later replies are dropped', async () => {
  const image = memory();
  let release;
  image.read = () => new Promise((resolve) => (release = () => resolve(new Uint8Array(4))));
  let flushed = false;
  image.flush = async () => {
    flushed = true;
  };
  const h = transmitting(image);
  h.send(request(READ, 1, 0, 4));
  await settle();
  const finished = h.server.close('websocket closed');
  assert.equal(h.server.state, 'closed');
  assert.equal(h.server.reason, 'websocket closed');
  release();
  await finished;
  assert.equal(h.take().length, 0);
  assert.equal(flushed, true);
  assert.equal(h.server.stats.inFlight, 0);
});

test('replies completing together go out in one send; a big lone reply as header then data', async () => {
  const sends = [];
  const image = new MemoryImage(pattern(10 << 20));
  const server = new NbdServer(image, { send: (b) => sends.push(b) });
  server.start();
  server.receive(concat(clientFlags(3), option(1)));
  sends.length = 0;
  server.receive(concat(request(READ, 1, 0, 512), request(READ, 2, 512, 512), request(WRITE, 3, 0, 4, { data: [1, 2, 3, 4] })));
  await server.drain();
  await settle();
  // The two reads complete together; the write is a barrier after them.
  assert.equal(sends.length, 2);
  assert.equal(hex(sends[0]), hex(concat(simpleReply(1, 0, pattern(512)), simpleReply(2, 0, pattern(512, 512)))));
  sends.length = 0;
  server.receive(request(READ, 4, 0, 9 << 20));
  await settle();
  assert.equal(sends.length, 2);
  assert.equal(sends[0].length, 16);
  assert.equal(sends[1].length, 9 << 20);
});

test('with sendCopies the packing buffer is reused', async () => {
  const buffers = [];
  const server = new NbdServer(new MemoryImage(pattern(4096)), { send: (b) => buffers.push(b.buffer), sendCopies: true, readOnly: true });
  server.start();
  server.receive(concat(clientFlags(3), option(1)));
  buffers.length = 0;
  for (let round = 0; round < 2; round++) {
    server.receive(concat(request(READ, 1, 0, 64), request(READ, 2, 64, 64)));
    await settle();
  }
  assert.equal(buffers.length, 2);
  assert.equal(buffers[0], buffers[1]);
});
