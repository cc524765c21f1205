// ByteQueue: exact takes across chunk boundaries, zero-copy when possible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteQueue } from '../../web/byte-queue.js';
import { pattern } from './helpers.mjs';

test('take within one chunk is a view, across chunks a copy', () => {
  const q = new ByteQueue();
  const a = pattern(10);
  const b = pattern(10, 10);
  q.push(a);
  q.push(new Uint8Array(0)); // empty chunks are ignored
  q.push(b);
  assert.equal(q.length, 20);
  const first = q.take(4);
  assert.equal(first.buffer, a.buffer); // no copy
  assert.deepEqual(first, pattern(4));
  const straddle = q.take(10);
  assert.notEqual(straddle.buffer, a.buffer);
  assert.deepEqual(straddle, pattern(10, 4));
  assert.equal(q.length, 6);
  assert.deepEqual(q.take(6), pattern(6, 14));
  assert.equal(q.length, 0);
  assert.deepEqual(q.take(0), new Uint8Array(0));
  assert.throws(() => q.take(1), RangeError);
});

test('take spanning many small chunks and skip', () => {
  const q = new ByteQueue();
  const bytes = pattern(5000);
  for (let i = 0; i < bytes.length; i++) q.push(bytes.subarray(i, i + 1));
  assert.deepEqual(q.take(1000), pattern(1000));
  q.skip(2500);
  assert.equal(q.length, 1500);
  assert.deepEqual(q.take(1500), pattern(1500, 3500));
  assert.throws(() => q.skip(1), RangeError);
});

test('a long stream of chunks is consumed in linear time', () => {
  // 100k chunks of 28 bytes read back as 100k headers: quadratic
  // buffering (concat everything per chunk) would take minutes here.
  const q = new ByteQueue();
  const chunk = pattern(28);
  const t0 = Date.now();
  for (let i = 0; i < 100000; i++) {
    q.push(chunk);
    // Offset by 3 bytes so every take straddles two chunks.
    if (i === 0) q.skip(3);
    else q.take(28);
  }
  assert.equal(q.length, 25);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
});

test('clear empties the queue', () => {
  const q = new ByteQueue();
  q.push(pattern(10));
  q.clear();
  assert.equal(q.length, 0);
  q.push(pattern(3));
  assert.deepEqual(q.take(3), pattern(3));
});
