// Shared by the web/ tests: building client messages byte by byte (written
// out independently of web/nbd-protocol.js, so a wrong constant there shows
// up here), a server harness capturing its output, and small async tools.
import { NbdServer } from '../../web/nbd-server.js';

export function concat(...parts) {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

export const hex = (bytes) => Buffer.from(bytes).toString('hex');
export const fromHex = (text) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

export function be16(n) {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n);
  return b;
}
export function be32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
export function be64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

export const GREETING = fromHex('4e42444d41474943 49484156454f5054 0003');
export const IHAVEOPT = fromHex('49484156454f5054');
export const REPLY_MAGIC = fromHex('0003e889045565a9');

export const clientFlags = (flags) => be32(flags);
export const option = (opt, data = []) => concat(IHAVEOPT, be32(opt), be32(data.length), data);
export const optionReply = (opt, type, data = []) => concat(REPLY_MAGIC, be32(opt), be32(type), be32(data.length), data);

/** NBD_OPT_INFO/GO data: name length, name, count, info types. */
export function infoRequest(name, types = []) {
  const nameBytes = new TextEncoder().encode(name);
  return concat(be32(nameBytes.length), nameBytes, be16(types.length), ...types.map(be16));
}

export function request(type, handle, offset, length, { flags = 0, data = null } = {}) {
  return concat(fromHex('25609513'), be16(flags), be16(type), be64(handle), be64(offset), be32(length), data ?? []);
}

export const simpleReply = (handle, error, data = []) => concat(fromHex('67446698'), be32(error), be64(handle), data);

export const READ = 0;
export const WRITE = 1;
export const DISC = 2;
export const FLUSH = 3;
export const TRIM = 4;

/** A server on `image` whose output and state changes are recorded. */
export function harness(image, options = {}) {
  const chunks = [];
  const server = new NbdServer(image, { ...options, send: (b) => chunks.push(Uint8Array.from(b)) });
  const states = [];
  const ioerrors = [];
  server.addEventListener('statechange', (e) => states.push(e.detail));
  server.addEventListener('ioerror', (e) => ioerrors.push(e.detail));
  return {
    server,
    states,
    ioerrors,
    /** All output since the last take(), as one array. */
    take() {
      const out = concat(...chunks);
      chunks.length = 0;
      return out;
    },
    send(...parts) {
      server.receive(concat(...parts));
    },
  };
}

/** Started, negotiated with EXPORT_NAME and NO_ZEROES, output cleared. */
export function transmitting(image, options = {}) {
  const h = harness(image, options);
  h.server.start();
  h.send(clientFlags(3), option(1));
  h.take();
  return h;
}

/** Waits until pending promise callbacks and I/O callbacks have run. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Bytes 0..n-1 with a pattern that differs at every offset modulo 251. */
export function pattern(n, seed = 0) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i + seed) % 251;
  return b;
}

/** Splits simple replies out of a byte stream, given each reply's data length by handle. */
export function parseReplies(bytes, dataLength = () => 0) {
  const replies = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (v.getUint32(at) !== 0x67446698) throw new Error(`bad reply magic at ${at}`);
    const error = v.getUint32(at + 4);
    const handle = v.getBigUint64(at + 8);
    const n = error ? 0 : dataLength(handle);
    replies.push({ error, handle, data: bytes.slice(at + 16, at + 16 + n) });
    at += 16 + n;
  }
  return replies;
}

/**
 * Replies re-ordered by handle, as hex: for comparing exact bytes when
 * replies may legitimately come in any order. `lengths` maps a handle
 * (Number) to the data length of a successful reply.
 */
export function byHandle(bytes, lengths = {}) {
  const replies = parseReplies(bytes, (handle) => lengths[Number(handle)] ?? 0);
  replies.sort((a, b) => (a.handle < b.handle ? -1 : a.handle > b.handle ? 1 : 0));
  return hex(concat(...replies.map((r) => simpleReply(r.handle, r.error, r.data))));
}

/** A WebSocket stand-in: records what is sent; the test opens, delivers, drops. */
export class FakeSocket extends EventTarget {
  readyState = 0; // CONNECTING
  binaryType = 'blob';
  sent = [];
  closedWith = null;

  send(bytes) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
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
  dropped(code, reason = '', wasClean = code !== 1006) {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event('close'), { code, reason, wasClean }));
  }
  output() {
    const out = concat(...this.sent);
    this.sent = [];
    return out;
  }
}
