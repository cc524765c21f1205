// FileHandleImage against a fake FileSystemFileHandle that behaves like the
// browser's: createWritable() writes to a swap copy that replaces the file
// on close(), and File snapshots do not see later changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileHandleImage } from '../../web/image.js';
import { FLUSH, READ, TRIM, WRITE, DISC, concat, hex, pattern, request, simpleReply, transmitting } from './helpers.mjs';

class FakeHandle {
  constructor(bytes, name = 'disk.img') {
    this.bytes = bytes;
    this.name = name;
    this.permission = 'granted';
    this.log = [];
    this.failWrites = false;
  }

  async queryPermission({ mode }) {
    this.log.push(`query:${mode}`);
    return this.permission;
  }

  async getFile() {
    return new File([this.bytes.slice()], this.name);
  }

  async createWritable({ keepExistingData } = {}) {
    this.log.push(`open:${keepExistingData}`);
    let swap = keepExistingData ? this.bytes.slice() : new Uint8Array(0);
    return {
      write: async ({ type, position, data }) => {
        assert.equal(type, 'write');
        if (this.failWrites) throw Object.assign(new Error('disk full'), { name: 'QuotaExceededError' });
        if (position + data.length > swap.length) {
          const grown = new Uint8Array(position + data.length);
          grown.set(swap);
          swap = grown;
        }
        swap.set(data, position);
        this.log.push(`write:${position}:${data.length}`);
      },
      close: async () => {
        this.bytes = swap;
        this.log.push('close');
      },
      abort: async () => {
        this.log.push('abort');
      },
    };
  }
}

test('open needs readwrite permission', async () => {
  const handle = new FakeHandle(pattern(4096));
  handle.permission = 'prompt';
  await assert.rejects(FileHandleImage.open(handle), /no write permission for disk.img \(prompt\)/);
  handle.permission = 'granted';
  const image = await FileHandleImage.open(handle);
  assert.equal(image.size, 4096);
  assert.equal(image.name, 'disk.img');
  assert.deepEqual(handle.log, ['query:readwrite', 'query:readwrite']);
});

test('writes are readable at once and reach the file only on flush', async () => {
  const handle = new FakeHandle(pattern(16384));
  const image = await FileHandleImage.open(handle);
  await image.write(4000, new Uint8Array(200).fill(1)); // blocks 0 and 1
  await image.write(12288, new Uint8Array(4096).fill(2)); // block 3
  assert.deepEqual(await image.read(3999, 202), concat(pattern(1, 3999), new Uint8Array(200).fill(1), pattern(1, 4200)));
  assert.deepEqual(handle.bytes, pattern(16384)); // untouched so far
  assert.equal(image.pendingBytes, 3 * 4096);

  await image.flush();
  const expected = pattern(16384);
  expected.fill(1, 4000, 4200);
  expected.fill(2, 12288);
  assert.equal(hex(handle.bytes), hex(expected));
  // One writable session; adjacent blocks 0-1 went out as one write.
  assert.deepEqual(handle.log.slice(1), ['open:true', 'write:0:8192', 'write:12288:4096', 'close']);
  assert.equal(image.pendingBytes, 0);
  assert.equal(image.commits, 1);
  // Reads now come from a fresh snapshot of the committed file.
  assert.equal(hex(await image.read(0, 16384)), hex(expected));
});

test('flush with nothing written does not open the file', async () => {
  const handle = new FakeHandle(pattern(4096));
  const image = await FileHandleImage.open(handle);
  await image.flush();
  await image.flush();
  assert.deepEqual(handle.log, ['query:readwrite']);
});

test('writes commit by themselves past the threshold', async () => {
  const handle = new FakeHandle(new Uint8Array(1 << 16));
  const image = await FileHandleImage.open(handle, { commitThreshold: 8192 });
  await image.write(0, new Uint8Array(4096).fill(1));
  assert.equal(image.commits, 0);
  await image.write(8192, new Uint8Array(4096).fill(2));
  assert.equal(image.commits, 1);
  assert.equal(handle.bytes[0], 1);
  assert.equal(handle.bytes[8192], 2);
  assert.equal(image.pendingBytes, 0);
});

test('a failed commit keeps the data, aborts, and a later flush retries', async () => {
  const handle = new FakeHandle(pattern(8192));
  const image = await FileHandleImage.open(handle);
  await image.write(10, Uint8Array.of(7, 7));
  handle.failWrites = true;
  await assert.rejects(image.flush(), { name: 'QuotaExceededError' });
  assert.ok(handle.log.includes('abort'));
  assert.deepEqual(handle.bytes, pattern(8192));
  assert.deepEqual(await image.read(9, 4), Uint8Array.of(9, 7, 7, 12));
  handle.failWrites = false;
  await image.flush();
  assert.deepEqual(handle.bytes.subarray(9, 13), Uint8Array.of(9, 7, 7, 12));
});

test('reads and writes issued during a commit wait for it', async () => {
  const handle = new FakeHandle(pattern(8192));
  const image = await FileHandleImage.open(handle);
  await image.write(0, Uint8Array.of(1));
  const flush = image.flush();
  const read = image.read(0, 2);
  const write = image.write(1, Uint8Array.of(2));
  await Promise.all([flush, read, write]);
  assert.deepEqual(await read, Uint8Array.of(1, 1));
  assert.deepEqual(await image.read(0, 2), Uint8Array.of(1, 2));
  assert.equal(handle.bytes[1], 1); // the second write is pending again
  await image.flush();
  assert.equal(handle.bytes[1], 2);
});

test('trim is accepted and leaves the file alone', async () => {
  const handle = new FakeHandle(pattern(8192));
  const image = await FileHandleImage.open(handle);
  await image.trim(0, 8192);
  await image.flush();
  assert.deepEqual(await image.read(0, 8192), pattern(8192));
  await assert.rejects(image.trim(0, 8193), RangeError);
});

test('through NbdServer: WRITE and FLUSH reach the file, DISC commits the rest', async () => {
  const handle = new FakeHandle(pattern(8192));
  const image = await FileHandleImage.open(handle);
  const h = transmitting(image);
  h.send(request(WRITE, 1, 100, 3, { data: [1, 2, 3] }), request(FLUSH, 2, 0, 0), request(READ, 3, 99, 5));
  await h.server.drain();
  assert.equal(hex(h.take()), hex(concat(simpleReply(1, 0), simpleReply(2, 0), simpleReply(3, 0, [99 % 251, 1, 2, 3, 103 % 251]))));
  assert.deepEqual(handle.bytes.subarray(100, 103), Uint8Array.of(1, 2, 3));
  h.send(request(WRITE, 4, 5000, 1, { data: [9] }), request(TRIM, 5, 0, 512), request(DISC, 6, 0, 0));
  await h.server.finished;
  assert.equal(handle.bytes[5000], 9);
  assert.equal(handle.bytes[1], 1); // the trim was accepted and ignored
});
