// Image back-ends: FileImage (Blob), MemoryImage, OverlayImage,
// PaddedImage, and the RangeSet behind overlay trims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileImage, MemoryImage, OverlayImage, PaddedImage, alignImage } from '../../web/image.js';
import { RangeSet } from '../../web/range-set.js';
import { concat, hex, pattern } from './helpers.mjs';

// A reference model: a plain array that every operation is mirrored into.
class Model {
  constructor(bytes) {
    this.bytes = Uint8Array.from(bytes);
  }
  write(offset, data) {
    this.bytes.set(data, offset);
  }
  trim(offset, length) {
    this.bytes.fill(0, offset, offset + length);
  }
}

test('FileImage reads exact slices of a Blob', async () => {
  const bytes = pattern(10000);
  const image = new FileImage(new Blob([bytes.subarray(0, 3000), bytes.subarray(3000)]));
  assert.equal(image.size, 10000);
  assert.equal(image.write, undefined);
  assert.deepEqual(await image.read(0, 10), pattern(10));
  assert.deepEqual(await image.read(2990, 20), pattern(20, 2990));
  assert.deepEqual(await image.read(9999, 1), pattern(1, 9999));
  assert.deepEqual(await image.read(10000, 0), new Uint8Array(0));
  await assert.rejects(image.read(9999, 2), RangeError);
  await assert.rejects(image.read(-1, 1), RangeError);
  await assert.rejects(image.read(0.5, 1), RangeError);
});

test('FileImage keeps a File name', () => {
  const file = new File([new Uint8Array(512)], 'disk.iso');
  assert.equal(new FileImage(file).name, 'disk.iso');
});

test('MemoryImage reads copies, writes, trims', async () => {
  const image = new MemoryImage(pattern(1024));
  const r = await image.read(0, 4);
  r[0] = 99; // the caller owns what read() returns
  assert.equal(image.bytes[0], 0);
  await image.write(2, Uint8Array.of(7, 7));
  await image.trim(10, 5);
  assert.deepEqual(await image.read(0, 16), Uint8Array.of(0, 1, 7, 7, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 15));
  await assert.rejects(image.write(1023, Uint8Array.of(1, 2)), RangeError);
  assert.equal(new MemoryImage(4096).size, 4096);
});

test('OverlayImage reads the base until written, never writes the base', async () => {
  const base = new FileImage(new Blob([pattern(20000)]));
  const image = new OverlayImage(base);
  assert.equal(image.size, 20000);
  assert.deepEqual(await image.read(100, 50), pattern(50, 100));
  await image.write(5000, new Uint8Array(10).fill(1));
  assert.deepEqual(await base.read(5000, 10), pattern(10, 5000));
  assert.deepEqual(await image.read(4995, 20), concat(pattern(5, 4995), new Uint8Array(10).fill(1), pattern(5, 5010)));
});

test('OverlayImage writes spanning blocks, partial blocks and the short last block', async () => {
  const size = 4096 * 5 + 100; // last block is 100 bytes
  const base = new MemoryImage(pattern(size));
  const image = new OverlayImage(base);
  const model = new Model(pattern(size));
  const writes = [
    [4090, pattern(12, 50)], // across the block 0/1 boundary
    [8192, new Uint8Array(4096).fill(2)], // exactly block 2
    [100, Uint8Array.of(3)], // one byte inside block 0
    [4096 * 3 - 1, new Uint8Array(4096 + 2).fill(4)], // end of 2, all of 3, start of 4
    [size - 50, new Uint8Array(50).fill(5)], // the short block's tail
    [4091, Uint8Array.of(6, 6)], // rewrite inside an overlay block
    [0, new Uint8Array(size).fill(8).subarray(0, 1)],
  ];
  for (const [offset, data] of writes) {
    await image.write(offset, data);
    model.write(offset, data);
    assert.equal(hex(await image.read(0, size)), hex(model.bytes), `after write at ${offset}`);
  }
  // Unaligned reads at every kind of boundary.
  for (const [o, n] of [[4095, 2], [1, 4096 * 3], [size - 101, 101], [8192, 4096], [4000, 200]]) {
    assert.equal(hex(await image.read(o, n)), hex(model.bytes.subarray(o, o + n)), `read ${o}+${n}`);
  }
  assert.deepEqual(base.bytes, pattern(size)); // base untouched
  assert.equal(image.blockCount, 6);
  assert.equal(image.overlayBytes, 6 * 4096);
  await assert.rejects(image.write(size - 1, Uint8Array.of(1, 2)), RangeError);
});

test('OverlayImage reads fully overlaid ranges without touching the base', async () => {
  let baseReads = 0;
  const base = { size: 8192, read: async (o, n) => (baseReads++, pattern(n, o)) };
  const image = new OverlayImage(base);
  await image.write(0, new Uint8Array(8192).fill(1)); // whole blocks: no base read
  assert.equal(baseReads, 0);
  assert.deepEqual(await image.read(100, 5000), new Uint8Array(5000).fill(1));
  assert.equal(baseReads, 0);
});

test('OverlayImage trim zeros partial and whole blocks, later writes win', async () => {
  const size = 4096 * 8 + 300;
  const image = new OverlayImage(new MemoryImage(pattern(size)));
  const model = new Model(pattern(size));
  const ops = [
    ['write', 4096, new Uint8Array(8192).fill(1)],
    ['trim', 5000, 100], // inside one block
    ['trim', 3000, 4096 * 3], // partial, two whole blocks, partial
    ['write', 8192 + 10, Uint8Array.of(9, 9, 9)], // into a trimmed block
    ['trim', 4096 * 7 + 1, 4096 + 299], // partial block, then the short last block to the end
    ['trim', 0, 10],
    ['write', size - 2, Uint8Array.of(4, 4)],
  ];
  for (const [op, offset, arg] of ops) {
    if (op === 'write') {
      await image.write(offset, arg);
      model.write(offset, arg);
    } else {
      await image.trim(offset, arg);
      model.trim(offset, arg);
    }
    assert.equal(hex(await image.read(0, size)), hex(model.bytes), `after ${op} at ${offset}`);
  }
  assert.deepEqual(image.zeroedRanges, [[4096, 4096 * 3], [4096 * 8, size]]);
});

test('OverlayImage trim of a huge range costs no memory', async () => {
  const size = 2 ** 40; // 1 TiB, never allocated
  const base = { size, read: async (o, n) => new Uint8Array(n).fill(0xee) };
  const image = new OverlayImage(base);
  await image.write(2 ** 39, Uint8Array.of(1));
  await image.trim(4096, size - 8192);
  assert.equal(image.blockCount, 0); // the written block was trimmed; the edges are aligned
  assert.deepEqual(await image.read(2 ** 39, 2), new Uint8Array(2));
  assert.deepEqual(await image.read(4094, 4), Uint8Array.of(0xee, 0xee, 0, 0));
  assert.deepEqual(await image.read(size - 4097, 2), Uint8Array.of(0, 0xee));
  // An unaligned huge trim keeps just its two edge blocks.
  await image.trim(100, size - 200);
  assert.equal(image.blockCount, 2);
  assert.deepEqual(await image.read(98, 4), Uint8Array.of(0xee, 0xee, 0, 0));
  assert.deepEqual(await image.read(size - 102, 4), Uint8Array.of(0, 0, 0xee, 0xee));
  assert.deepEqual(image.zeroedRanges, [[4096, size - 4096]]);
});

test('OverlayImage dirtyRuns merges adjacent blocks and puts zeros first', async () => {
  const image = new OverlayImage(new MemoryImage(pattern(4096 * 10)), { blockSize: 4096 });
  await image.trim(0, 4096 * 4);
  await image.write(4096, new Uint8Array(4096 * 2).fill(1)); // blocks 1-2, inside the trim
  await image.write(4096 * 6, Uint8Array.of(2)); // block 6
  const runs = [...image.dirtyRuns()].map(([o, d]) => [o, d.length, d[0]]);
  assert.deepEqual(runs, [[0, 4096 * 4, 0], [4096, 8192, 1], [4096 * 6, 4096, 2]]);
  // Applying the runs in order to a copy of the base reproduces the image.
  const copy = pattern(4096 * 10);
  for (const [o, d] of image.dirtyRuns()) copy.set(d, o);
  assert.equal(hex(copy), hex(await image.read(0, 4096 * 10)));
  // maxRun splits long runs.
  assert.deepEqual([...image.dirtyRuns(4096)].map(([o, d]) => [o, d.length]),
    [[0, 4096], [4096, 4096], [8192, 4096], [12288, 4096], [4096, 4096], [8192, 4096], [24576, 4096]]);
  image.reset();
  assert.equal(image.clean, true);
  assert.deepEqual(await image.read(0, 4), pattern(4));
});

test('OverlayImage block size option and validation', async () => {
  const image = new OverlayImage(new MemoryImage(pattern(1 << 20)), { blockSize: 65536 });
  await image.write(65535, Uint8Array.of(1, 1));
  assert.equal(image.blockCount, 2);
  assert.deepEqual(await image.read(65534, 4), Uint8Array.of(65534 % 251, 1, 1, 65537 % 251));
  assert.throws(() => new OverlayImage(new MemoryImage(512), { blockSize: 1000 }), RangeError);
  assert.throws(() => new OverlayImage(new MemoryImage(512), { blockSize: 256 }), RangeError);
});

test('OverlayImage concurrent writes to one partial block both land', async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  const base = { size: 8192, read: async (o, n) => (await gate, pattern(n, o)) };
  const image = new OverlayImage(base);
  const a = image.write(10, Uint8Array.of(1));
  const b = image.write(20, Uint8Array.of(2));
  release();
  await Promise.all([a, b]);
  const r = await image.read(0, 32);
  assert.equal(r[10], 1);
  assert.equal(r[20], 2);
  assert.equal(r[0], 0);
  assert.equal(r[11], 11);
});

test('PaddedImage rounds up, zero tail, tail writes kept apart', async () => {
  const inner = new MemoryImage(pattern(700));
  const image = new PaddedImage(inner, 512);
  assert.equal(image.size, 1024);
  assert.equal(image.innerSize, 700);
  assert.deepEqual(await image.read(0, 1024), concat(pattern(700), new Uint8Array(324)));
  assert.deepEqual(await image.read(800, 10), new Uint8Array(10));
  await image.write(698, Uint8Array.of(1, 2, 3, 4));
  assert.deepEqual(inner.bytes.subarray(696), Uint8Array.of(...pattern(2, 696), 1, 2));
  assert.deepEqual(await image.read(696, 8), Uint8Array.of(...pattern(2, 696), 1, 2, 3, 4, 0, 0));
  await image.trim(699, 325);
  assert.deepEqual(await image.read(696, 8), Uint8Array.of(...pattern(2, 696), 1, 0, 0, 0, 0, 0));
  await assert.rejects(image.read(1000, 25), RangeError);
});

test('PaddedImage of a read-only image is read-only', () => {
  const image = new PaddedImage(new FileImage(new Blob([new Uint8Array(100)])));
  assert.equal(typeof image.write, 'undefined');
  assert.equal(image.size, 512);
});

test('alignImage wraps only unaligned images', () => {
  const aligned = new MemoryImage(1024);
  assert.equal(alignImage(aligned), aligned);
  assert.ok(alignImage(new MemoryImage(1000)) instanceof PaddedImage);
  assert.throws(() => alignImage({ size: -1 }), RangeError);
  assert.throws(() => alignImage({ size: 2 ** 53 }), RangeError);
  assert.throws(() => alignImage({ size: 1024n }), RangeError); // sizes are Numbers
});

test('RangeSet merges overlapping and touching ranges', () => {
  const s = new RangeSet();
  s.add(10, 20);
  s.add(30, 40);
  s.add(50, 60);
  assert.deepEqual(s.toArray(), [[10, 20], [30, 40], [50, 60]]);
  s.add(20, 30); // touches both neighbours
  assert.deepEqual(s.toArray(), [[10, 40], [50, 60]]);
  s.add(0, 5);
  s.add(45, 70);
  s.add(5, 5); // empty: ignored
  assert.deepEqual(s.toArray(), [[0, 5], [10, 40], [45, 70]]);
  assert.equal(s.covers(12, 40), true);
  assert.equal(s.covers(4, 6), false);
  assert.equal(s.covers(40, 41), false);
  const parts = [];
  s.forEachOverlap(3, 50, (a, b) => parts.push([a, b]));
  assert.deepEqual(parts, [[3, 5], [10, 40], [45, 50]]);
  s.add(-10, 100);
  assert.deepEqual(s.toArray(), [[-10, 100]]);
});
