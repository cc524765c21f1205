// format.js: numbers for people.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, formatRate } from '../../web/format.js';

test('formatBytes uses binary units and three significant digits', () => {
  assert.equal(formatBytes(0), '0 bytes');
  assert.equal(formatBytes(1), '1 byte');
  assert.equal(formatBytes(1023), '1023 bytes');
  assert.equal(formatBytes(1024), '1 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(64 * 1024 * 1024), '64 MiB');
  assert.equal(formatBytes(4.7 * 1024 ** 3), '4.7 GiB');
  assert.equal(formatBytes(123.456 * 1024 ** 2), '123 MiB');
  assert.equal(formatBytes(6 * 1024 ** 4), '6 TiB');
  assert.equal(formatBytes(-1), '–');
  assert.equal(formatBytes(NaN), '–');
});

test('formatRate and formatDuration', () => {
  assert.equal(formatRate(0), '0 MiB/s');
  assert.equal(formatRate(512 * 1024), '512 KiB/s');
  assert.equal(formatRate(25.6 * 1024 * 1024), '25.6 MiB/s');
  assert.equal(formatRate(250 * 1024 * 1024), '250 MiB/s');
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(59.9), '59 s');
  assert.equal(formatDuration(185), '3 min 05 s');
  assert.equal(formatDuration(2 * 3600 + 7 * 60), '2 h 07 min');
});
