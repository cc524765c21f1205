// ReadAheadImage: sequential runs read in growing windows, random reads
// untouched; and OverlayImage's memory cap and shared-view discipline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage, OverlayImage, ReadAheadImage } from '../../web/image.js';
import { hex, pattern } from './helpers.mjs';

// A base recording its reads; reads can be made to fail.
function countingBase(size) {
  const memory = new MemoryImage(pattern(size));
  const base = {
    size,
    calls: [],
    failNext: 0,
    async read(offset, length) {
      base.calls.push([offset, length]);
      if (base.failNext > 0) {
        base.failNext--;
        throw new Error('disk on fire');
      }
      return memory.read(offset, length);
    },
  };
  return base;
}

test('a sequential run is read in growing windows, each fetched ahead', async () => {
  const base = countingBase(1 << 20);
  const image = new ReadAheadImage(base, { minWindow: 4096, maxWindow: 65536 });
  assert.equal(hex(await image.read(0, 1024)), hex(pattern(1024))); // first: direct
  assert.deepEqual(base.calls, [[0, 1024]]);
  // Pipelined, as a client sends them: the second read opens a window of
  // 4 x 1024 (at least minWindow), the next one is fetched ahead at twice that.
  const offsets = [1024, 2048, 3072, 4096, 5120];
  const got = await Promise.all(offsets.map((at) => image.read(at, 1024)));
  for (const [i, at] of offsets.entries()) assert.equal(hex(got[i]), hex(pattern(1024, at)));
  // Reading from the newest window fetched the one after it.
  assert.deepEqual(base.calls, [[0, 1024], [1024, 4096], [5120, 8192], [13312, 16384]]);
  // A long run: windows double up to maxWindow, and the reads stay few.
  for (let at = 6144; at < 400000; at += 1024) assert.equal(hex(await image.read(at, 1024)), hex(pattern(1024, at)));
  const sizes = base.calls.map(([, l]) => l);
  assert.deepEqual(sizes.slice(0, 7), [1024, 4096, 8192, 16384, 32768, 65536, 65536]);
  assert.ok(base.calls.length <= 13, `${base.calls.length} base reads for 400 KB`);
  assert.ok(image.heldWindows <= 3);
});

test('a short run costs a few times its length', async () => {
  const base = countingBase(1 << 24);
  const image = new ReadAheadImage(base, { minWindow: 16384, maxWindow: 1 << 22 });
  for (let at = 100000; at < 100000 + 8 * 16384; at += 16384) await image.read(at, 16384);
  const fetched = base.calls.reduce((n, [, l]) => n + l, 0);
  assert.ok(fetched <= 8 * 16384 * 4, `${fetched} bytes fetched for a run of ${8 * 16384}`);
});

test('random reads and reads of maxWindow or more go straight to the base', async () => {
  const base = countingBase(65536);
  const image = new ReadAheadImage(base, { maxWindow: 8192 });
  await image.read(40000, 512);
  await image.read(100, 512);
  await image.read(612, 8192); // sequential but large
  await image.read(20000, 0);
  assert.deepEqual(base.calls, [[40000, 512], [100, 512], [612, 8192], [20000, 0]]);
});

test('windows end at the end of the image; a read across windows goes direct', async () => {
  const size = 10000;
  const base = countingBase(size);
  const image = new ReadAheadImage(base, { minWindow: 2048, maxWindow: 4096 });
  await image.read(0, 1000);
  assert.equal(hex(await image.read(1000, 1000)), hex(pattern(1000, 1000))); // window [1000, 5000)
  assert.equal(hex(await image.read(2000, 3500)), hex(pattern(3500, 2000))); // crosses into [5000, 9000)
  assert.equal(hex(await image.read(5500, 3500)), hex(pattern(3500, 5500)));
  assert.equal(hex(await image.read(9000, 1000)), hex(pattern(1000, 9000)));
  assert.deepEqual(base.calls, [[0, 1000], [1000, 4000], [5000, 4096], [2000, 3500], [9096, 904], [9000, 1000]]);
});

test('a failed window read fails its readers and is retried later', async () => {
  const base = countingBase(16384);
  const image = new ReadAheadImage(base, { minWindow: 4096, maxWindow: 4096 });
  await image.read(0, 512);
  base.failNext = 1;
  await assert.rejects(image.read(512, 512), /disk on fire/);
  assert.equal(hex(await image.read(1024, 512)), hex(pattern(512, 1024)));
});

test('any mix of reads returns the base bytes, memory stays bounded', async () => {
  const size = 1 << 20;
  const base = countingBase(size);
  const image = new ReadAheadImage(base, { minWindow: 4096, maxWindow: 65536, maxWindows: 3 });
  let seed = 7;
  const random = (n) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  let at = 0;
  for (let i = 0; i < 400; i++) {
    if (random(4) === 0) at = random(size - 1);
    const length = Math.min(1 + random(40000), size - at);
    const batch = [image.read(at, length)];
    const next = at + length;
    if (next < size) batch.push(image.read(next, Math.min(1000, size - next)));
    assert.ok(image.heldWindows <= 3, `${image.heldWindows} windows held`);
    const [a, b] = await Promise.all(batch);
    assert.equal(hex(a), hex(pattern(length, at)), `read ${at}+${length}`);
    if (b) assert.equal(hex(b), hex(pattern(b.length, next)));
    at = (next + (b?.length ?? 0)) % size;
  }
});

test('OverlayImage maxBytes: a write needing more memory is ENOSPC and changes nothing', async () => {
  const image = new OverlayImage(new MemoryImage(pattern(65536)), { blockSize: 4096, maxBytes: 8192 });
  await image.write(0, new Uint8Array(4096).fill(1));
  await image.write(10000, new Uint8Array(10)); // one more block: 2 of 2
  await assert.rejects(image.write(20000, new Uint8Array(1)), (e) => e.nbdErrno === 28);
  await assert.rejects(image.write(4000, new Uint8Array(5000)), (e) => e.nbdErrno === 28); // needs block 1 too
  assert.equal(image.blockCount, 2);
  assert.equal(hex(await image.read(4000, 200)), hex(new Uint8Array([...new Uint8Array(96).fill(1), ...pattern(104, 4096)])));
  await image.write(8192, new Uint8Array(4096).fill(2)); // rewriting held blocks is fine
  await image.trim(0, 4096); // and trimming frees
  await image.write(30000, new Uint8Array(1).fill(3));
  assert.equal((await image.read(30000, 1))[0], 3);
});

test('OverlayImage never modifies bytes its base shares', async () => {
  // A base handing out views of one buffer, like ReadAheadImage does.
  const shared = pattern(16384);
  const base = { size: shared.length, read: async (o, l) => shared.subarray(o, o + l) };
  const image = new OverlayImage(base, { blockSize: 4096 });
  await image.write(100, new Uint8Array(10).fill(0xee));
  await image.trim(8192, 4096);
  await image.write(8200, new Uint8Array(4).fill(0xdd)); // partial block over a zeroed one
  await image.trim(5000, 10); // partial trim: zeros inside a block fetched from below
  const all = await image.read(0, 16384);
  assert.equal(all[100], 0xee);
  assert.equal(all[8192], 0);
  assert.equal(all[8200], 0xdd);
  assert.equal(all[5000], 0);
  assert.equal(hex(shared), hex(pattern(16384)));
});
