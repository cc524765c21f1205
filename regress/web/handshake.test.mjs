// NbdServer handshake: greeting, client flags, options, exact reply bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../web/image.js';
import {
  GREETING, be16, be32, be64, clientFlags, concat, fromHex, harness, hex, infoRequest,
  option, optionReply, request, simpleReply, pattern, settle, READ,
} from './helpers.mjs';

const SIZE = 1 << 20;
const roImage = () => ({ size: SIZE, read: async (o, n) => pattern(n, o) });

test('greeting is NBDMAGIC IHAVEOPT and FIXED_NEWSTYLE|NO_ZEROES', () => {
  const h = harness(roImage());
  h.server.start();
  assert.equal(hex(h.take()), '4e42444d41474943' + '49484156454f5054' + '0003');
  assert.equal(h.server.state, 'handshake');
  assert.deepEqual(h.states, [{ state: 'handshake', reason: '' }]);
});

test('nothing is sent or parsed before start', () => {
  const h = harness(roImage());
  h.send(clientFlags(3), option(1));
  assert.equal(h.take().length, 0);
  h.server.start();
  // The queued bytes are parsed once started.
  assert.equal(hex(h.take()), hex(concat(GREETING, be64(SIZE), be16(3))));
  assert.equal(h.server.state, 'transmission');
});

test('export name without NO_ZEROES sends size, flags and 124 zeros', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(1), option(1, new TextEncoder().encode('cdrom')));
  const expected = concat(fromHex('0000000000100000'), fromHex('0003'), new Uint8Array(124));
  assert.equal(hex(h.take()), hex(expected));
  assert.equal(h.server.state, 'transmission');
  assert.equal(h.server.exportName, 'cdrom');
  assert.deepEqual(h.states.at(-1), { state: 'transmission', reason: '', size: SIZE, flags: 3, exportName: 'cdrom' });
});

test('export name with NO_ZEROES sends size and flags only', () => {
  const h = harness(new MemoryImage(SIZE));
  h.server.start();
  h.take();
  h.send(clientFlags(3), option(1));
  // Writable: HAS_FLAGS | SEND_FLUSH | SEND_TRIM.
  assert.equal(hex(h.take()), '0000000000100000' + '0025');
});

test('read-only option overrides a writable image', () => {
  const h = harness(new MemoryImage(SIZE), { readOnly: true });
  h.server.start();
  h.take();
  h.send(clientFlags(3), option(1));
  assert.equal(hex(h.take()), '0000000000100000' + '0003');
});

test('multiConn adds CAN_MULTI_CONN', () => {
  const h = harness(roImage(), { multiConn: true });
  h.server.start();
  h.take();
  h.send(clientFlags(3), option(1));
  assert.equal(hex(h.take()), '0000000000100000' + '0103');
});

test('GO without info requests replies INFO export then ACK and transmits', async () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(3), option(7, infoRequest('')));
  const expected = concat(
    optionReply(7, 3, concat(be16(0), be64(SIZE), be16(3))),
    optionReply(7, 1),
  );
  assert.equal(hex(h.take()), hex(expected));
  assert.equal(h.server.state, 'transmission');
  h.send(request(READ, 9, 512, 4));
  await settle();
  assert.equal(hex(h.take()), hex(simpleReply(9, 0, pattern(4, 512))));
});

test('GO with BLOCK_SIZE and NAME requests adds block size info only', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(3), option(7, infoRequest('cdrom', [3, 1])));
  const expected = concat(
    optionReply(7, 3, concat(be16(0), be64(SIZE), be16(3))),
    optionReply(7, 3, concat(be16(3), be32(1), be32(4096), be32(32 << 20))),
    optionReply(7, 1),
  );
  assert.equal(hex(h.take()), hex(expected));
  assert.equal(h.server.exportName, 'cdrom');
});

test('INFO answers like GO but stays in option haggling', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(3), option(6, infoRequest('x', [3])));
  const info = concat(
    optionReply(6, 3, concat(be16(0), be64(SIZE), be16(3))),
    optionReply(6, 3, concat(be16(3), be32(1), be32(4096), be32(32 << 20))),
    optionReply(6, 1),
  );
  assert.equal(hex(h.take()), hex(info));
  assert.equal(h.server.state, 'handshake');
  h.send(option(1));
  assert.equal(hex(h.take()), '0000000000100000' + '0003');
  assert.equal(h.server.state, 'transmission');
});

test('ABORT is acknowledged and closes', async () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(3), option(2));
  assert.equal(hex(h.take()), hex(optionReply(2, 1)));
  assert.equal(h.server.state, 'closed');
  assert.equal(h.server.reason, 'client aborted');
  // Further input is ignored.
  h.send(option(1));
  assert.equal(h.take().length, 0);
  await h.server.finished;
});

test('unknown options get ERR_UNSUP and the server stays usable', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  // STRUCTURED_REPLY (8), LIST (3), STARTTLS (5) and an unassigned option.
  h.send(clientFlags(3), option(8), option(3), option(5), option(0x1234, [1, 2, 3]));
  const expected = concat(
    optionReply(8, 0x80000001),
    optionReply(3, 0x80000001),
    optionReply(5, 0x80000001),
    optionReply(0x1234, 0x80000001),
  );
  assert.equal(hex(h.take()), hex(expected));
  h.send(option(7, infoRequest('')));
  assert.equal(h.take().length, 20 + 12 + 20);
  assert.equal(h.server.state, 'transmission');
});

test('malformed INFO/GO lengths get ERR_INVALID and the server stays usable', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(3));
  const bad = [
    [], // shorter than name length + count
    [0, 0, 0], // still too short
    concat(be32(100), be16(0)), // name length beyond the data
    concat(be32(0), be16(2), be16(0)), // two info types announced, one sent
    concat(be32(0), be16(0), [0xff]), // trailing byte
  ];
  for (const data of bad) {
    h.send(option(7, data));
    assert.equal(hex(h.take()), hex(optionReply(7, 0x80000003)), `data ${hex(data)}`);
  }
  h.send(option(6, [1]));
  assert.equal(hex(h.take()), hex(optionReply(6, 0x80000003)));
  assert.equal(h.server.state, 'handshake');
  h.send(option(7, infoRequest('')));
  assert.equal(h.server.state, 'transmission');
});

test('oversized option data is skipped and answered ERR_TOO_BIG', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(3));
  const data = new Uint8Array(100000);
  const msg = option(0x99, data);
  // Arrive in pieces: the data is discarded as it comes.
  h.send(msg.subarray(0, 20));
  h.send(msg.subarray(20, 50000));
  assert.equal(h.take().length, 0);
  h.send(msg.subarray(50000), option(1));
  assert.equal(hex(h.take()), hex(optionReply(0x99, 0x80000009)) + '0000000000100000' + '0003');
});

test('oversized EXPORT_NAME cannot be answered and is a protocol error', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(3), optionHeader(1, 1 << 20));
  assert.equal(h.server.state, 'error');
  assert.match(h.server.reason, /too large/);
});

function optionHeader(opt, length) {
  return concat(fromHex('49484156454f5054'), be32(opt), be32(length));
}

test('bad option magic is a protocol error', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(3), concat(fromHex('49484156454f5055'), be32(1), be32(0)));
  assert.equal(h.server.state, 'error');
  assert.equal(h.server.reason, 'bad option magic');
  assert.equal(h.take().length, 0);
});

test('unknown client flags are a protocol error', () => {
  const h = harness(roImage());
  h.server.start();
  h.take();
  h.send(clientFlags(4));
  assert.equal(h.server.state, 'error');
  assert.match(h.server.reason, /unknown client flags 0x4/);
});

test('a client without FIXED_NEWSTYLE may only use EXPORT_NAME', () => {
  const old = harness(roImage());
  old.server.start();
  old.take();
  old.send(clientFlags(0), option(1));
  assert.equal(old.take().length, 10 + 124);
  assert.equal(old.server.state, 'transmission');

  const h = harness(roImage());
  h.server.start();
  h.send(clientFlags(0), option(7, infoRequest('')));
  assert.equal(h.server.state, 'error');
});

test('start twice throws', () => {
  const h = harness(roImage());
  h.server.start();
  assert.throws(() => h.server.start(), /already started/);
});

test('constructor demands send and a writable image when not read-only', () => {
  assert.throws(() => new (harness(roImage()).server.constructor)(roImage(), {}), /send/);
  assert.throws(() => harness(roImage(), { readOnly: false }), /no write/);
  assert.equal(harness(roImage()).server.readOnly, true);
  assert.equal(harness(new MemoryImage(512)).server.readOnly, false);
});
