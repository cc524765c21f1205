// The NBD server side of a vmediad session, as a transport-independent state
// machine: feed it received bytes with receive(), it emits bytes through the
// `send` callback. It speaks first (fixed-newstyle greeting), negotiates
// EXPORT_NAME or INFO/GO, then serves requests from an image (see image.js).
//
// Concurrency: reads run in parallel and are answered as each completes
// (the handle tells the client which is which). Writes, flushes and trims
// are barriers: each waits for everything received before it, and
// everything received after it waits for it. So a FLUSH replies only after
// all earlier writes completed, and a read never races a write it overlaps.
//
// Replies that complete in the same task (say, all the reads one
// read-ahead window answers) go out in one send() at the end of it: fewer,
// larger WebSocket messages.

import * as P from './nbd-protocol.js';
import { ByteQueue } from './byte-queue.js';
import { alignImage, SECTOR_SIZE } from './image.js';

// Parser phases: what the next bytes on the wire are.
const NOT_STARTED = 'not-started';
const CLIENT_FLAGS = 'client-flags';
const OPTION_HEADER = 'option-header';
const OPTION_DATA = 'option-data';
const REQUEST = 'request';
const WRITE_DATA = 'write-data';
const DISCARD = 'discard';
const DONE = 'done';

const view = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

// Replies batched into one send() stay under this (sessiond takes frames of
// up to 32 MiB + 4 KiB); a single larger reply goes out as header + data.
const BATCH_MAX = 1024 * 1024;

/** errno for a failed image operation; images may set err.nbdErrno. */
export function errnoFor(err) {
  if (Number.isInteger(err?.nbdErrno)) return err.nbdErrno;
  if (err?.name === 'QuotaExceededError') return P.ENOSPC;
  if (err instanceof RangeError) return P.EINVAL;
  return P.EIO;
}

/**
 * Events (EventTarget, detail in event.detail):
 *   'statechange' {state, reason, size, flags, exportName}
 *        state: 'handshake' (greeting sent), 'transmission',
 *               'closed' (clean or local close), 'error' (protocol violation)
 *   'progress'    the stats object, after every reply
 *   'ioerror'     {command, offset, length, errno, error} when the image failed
 */
export class NbdServer extends EventTarget {
  #image;
  #send;
  #queue = new ByteQueue();
  #phase = NOT_STARTED;
  #need = 0; // bytes the current phase needs
  #option = 0; // option whose data is awaited
  #write = null; // {handle, offset} of the WRITE whose payload is awaited
  #discardLeft = 0;
  #afterDiscard = null;
  #fixedNewstyle = false;
  #noZeroes = false;
  #closed = false; // no more output
  #finishing = false;
  #resolveFinished;
  #maxRequest;
  #multiConn;
  #sendCopies;
  #batch = []; // reply parts waiting for the end of the task
  #batchBytes = 0;
  #flushQueued = false;
  #scratch = null; // reused to pack batches when send() copies

  // Ordering (see top of file): the promise of the last barrier operation,
  // and the reads started since it.
  #barrier = Promise.resolve();
  #reads = new Set();

  #stats = { bytesRead: 0, bytesWritten: 0, inFlight: 0, requests: 0, errors: 0 };

  /**
   * Resolves (never rejects) after the session ended, outstanding image
   * operations settled and a writable image was flushed.
   */
  finished = new Promise((resolve) => {
    this.#resolveFinished = resolve;
  });

  state = 'new';
  reason = '';
  exportName = '';

  /**
   * @param image   see image.js; a size that is not a multiple of 512 is
   *                presented rounded up, the tail reading as zeros
   * @param options send(Uint8Array)  required; the bytes to transmit
   *                readOnly          default: true unless image.write exists
   *                maxRequest        largest READ/WRITE (default 32 MiB)
   *                multiConn         advertise NBD_FLAG_CAN_MULTI_CONN
   *                sendCopies        send() copies the bytes before it
   *                                  returns (WebSocket.send does), so
   *                                  one packing buffer can be reused
   */
  constructor(image, { send, readOnly, maxRequest = P.DEFAULT_MAX_REQUEST, multiConn = false, sendCopies = false } = {}) {
    super();
    if (typeof send !== 'function') throw new TypeError('NbdServer needs a send(bytes) function');
    const writable = typeof image.write === 'function';
    this.readOnly = readOnly ?? !writable;
    if (!this.readOnly && !writable) throw new TypeError('image has no write() but readOnly is false');
    this.#image = alignImage(image, SECTOR_SIZE);
    this.size = this.#image.size;
    this.#send = send;
    this.#maxRequest = maxRequest;
    this.#multiConn = multiConn;
    this.#sendCopies = sendCopies;
  }

  /** Transmission flags this server advertises. */
  get flags() {
    // Flush and trim only mean something on a writable export.
    let flags = P.TFLAG_HAS_FLAGS;
    flags |= this.readOnly ? P.TFLAG_READ_ONLY : P.TFLAG_SEND_FLUSH | P.TFLAG_SEND_TRIM;
    if (this.#multiConn) flags |= P.TFLAG_CAN_MULTI_CONN;
    return flags;
  }

  /** A snapshot of the counters. */
  get stats() {
    return { ...this.#stats };
  }

  /** Sends the greeting; call once the transport is open. */
  start() {
    if (this.#phase !== NOT_STARTED) throw new Error('NbdServer already started');
    const greeting = new Uint8Array(P.GREETING_SIZE);
    const v = view(greeting);
    v.setBigUint64(0, P.NBDMAGIC);
    v.setBigUint64(8, P.IHAVEOPT);
    v.setUint16(16, P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES);
    this.#expect(CLIENT_FLAGS, 4);
    this.#setState('handshake');
    this.#output(greeting);
    this.#pump();
  }

  /**
   * Feeds received bytes (Uint8Array or ArrayBuffer). The server keeps a
   * reference: do not modify the bytes afterwards.
   */
  receive(bytes) {
    if (this.#phase === DONE) return;
    this.#queue.push(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    this.#pump();
  }

  /**
   * Ends the session from this side (transport closed, user detached).
   * Returns a promise like `finished`.
   */
  close(reason = 'closed') {
    return this.#finish('closed', reason);
  }

  /** Ends the session as failed (state 'error'), e.g. on a transport error. */
  fail(reason) {
    return this.#finish('error', reason);
  }

  /** Resolves when every request received so far has been handled. */
  drain() {
    return Promise.all([this.#barrier, ...this.#reads]).then(() => {});
  }

  // ---- input parsing ------------------------------------------------------

  #expect(phase, need) {
    this.#phase = phase;
    this.#need = need;
  }

  #pump() {
    try {
      while (this.#phase !== DONE && this.#phase !== NOT_STARTED) {
        if (this.#phase === DISCARD) {
          const n = Math.min(this.#discardLeft, this.#queue.length);
          this.#queue.skip(n);
          this.#discardLeft -= n;
          if (this.#discardLeft > 0) return;
          const then = this.#afterDiscard;
          this.#afterDiscard = null;
          then();
          continue;
        }
        if (this.#queue.length < this.#need) return;
        const bytes = this.#queue.take(this.#need);
        switch (this.#phase) {
          case CLIENT_FLAGS: this.#onClientFlags(bytes); break;
          case OPTION_HEADER: this.#onOptionHeader(bytes); break;
          case OPTION_DATA: this.#onOptionData(bytes); break;
          case REQUEST: this.#onRequest(bytes); break;
          case WRITE_DATA: this.#onWriteData(bytes); break;
        }
      }
    } catch (e) {
      this.fail(`internal error: ${e?.message ?? e}`);
    }
  }

  // Skips `length` input bytes as they arrive, then calls `then`.
  #discard(length, then) {
    this.#discardLeft = length;
    this.#afterDiscard = then;
    this.#phase = DISCARD;
  }

  #onClientFlags(bytes) {
    const flags = view(bytes).getUint32(0);
    if (flags & ~P.CLIENT_FLAGS_KNOWN) return this.fail(`unknown client flags 0x${flags.toString(16)}`);
    this.#fixedNewstyle = (flags & P.FLAG_FIXED_NEWSTYLE) !== 0;
    this.#noZeroes = (flags & P.FLAG_NO_ZEROES) !== 0;
    this.#expect(OPTION_HEADER, P.OPTION_HEADER_SIZE);
  }

  #onOptionHeader(bytes) {
    const v = view(bytes);
    if (v.getBigUint64(0) !== P.IHAVEOPT) return this.fail('bad option magic');
    const option = v.getUint32(8);
    const length = v.getUint32(12);
    if (length > P.MAX_OPTION_LENGTH) {
      // EXPORT_NAME has no error reply, nor has anything without fixed newstyle.
      if (option === P.OPT_EXPORT_NAME || !this.#fixedNewstyle) {
        return this.fail(`option ${option} of ${length} bytes is too large`);
      }
      this.#discard(length, () => {
        this.#expect(OPTION_HEADER, P.OPTION_HEADER_SIZE);
        this.#optionReply(option, P.REP_ERR_TOO_BIG);
      });
      return;
    }
    this.#option = option;
    this.#expect(OPTION_DATA, length);
  }

  #onOptionData(data) {
    const option = this.#option;
    this.#expect(OPTION_HEADER, P.OPTION_HEADER_SIZE);
    if (option === P.OPT_EXPORT_NAME) return this.#exportName(data);
    // Replies to options exist only in fixed newstyle.
    if (!this.#fixedNewstyle) return this.fail(`option ${option} without fixed newstyle`);
    switch (option) {
      case P.OPT_ABORT:
        this.#optionReply(option, P.REP_ACK);
        this.#finish('closed', 'client aborted');
        return;
      case P.OPT_INFO:
      case P.OPT_GO:
        this.#infoOrGo(option, data);
        return;
      default:
        this.#optionReply(option, P.REP_ERR_UNSUP);
    }
  }

  #exportName(name) {
    this.exportName = new TextDecoder().decode(name);
    const reply = new Uint8Array(10 + (this.#noZeroes ? 0 : P.EXPORT_NAME_PAD));
    const v = view(reply);
    v.setBigUint64(0, BigInt(this.size));
    v.setUint16(8, this.flags);
    this.#output(reply);
    this.#enterTransmission();
  }

  // INFO and GO share a format: name length(32) name count(16) types(16)...
  #infoOrGo(option, data) {
    const v = view(data);
    if (data.length < 6) return this.#optionReply(option, P.REP_ERR_INVALID);
    const nameLength = v.getUint32(0);
    if (nameLength > data.length - 6) return this.#optionReply(option, P.REP_ERR_INVALID);
    const count = v.getUint16(4 + nameLength);
    if (data.length !== 6 + nameLength + 2 * count) return this.#optionReply(option, P.REP_ERR_INVALID);
    let wantBlockSize = false;
    for (let i = 0; i < count; i++) {
      if (v.getUint16(6 + nameLength + 2 * i) === P.INFO_BLOCK_SIZE) wantBlockSize = true;
    }
    // One buffer for INFO export [+ INFO block size] + ACK.
    const exportInfo = 2 + 8 + 2;
    const blockInfo = 2 + 4 + 4 + 4;
    const H = P.OPTION_REPLY_HEADER_SIZE;
    const reply = new Uint8Array(H + exportInfo + (wantBlockSize ? H + blockInfo : 0) + H);
    const r = view(reply);
    let at = this.#writeOptionReplyHeader(r, 0, option, P.REP_INFO, exportInfo);
    r.setUint16(at, P.INFO_EXPORT);
    r.setBigUint64(at + 2, BigInt(this.size));
    r.setUint16(at + 10, this.flags);
    at += exportInfo;
    if (wantBlockSize) {
      at = this.#writeOptionReplyHeader(r, at, option, P.REP_INFO, blockInfo);
      r.setUint16(at, P.INFO_BLOCK_SIZE);
      r.setUint32(at + 2, 1); // any alignment works: the images are byte-addressed
      r.setUint32(at + 6, P.PREFERRED_BLOCK_SIZE);
      r.setUint32(at + 10, this.#maxRequest);
      at += blockInfo;
    }
    this.#writeOptionReplyHeader(r, at, option, P.REP_ACK, 0);
    this.#output(reply);
    if (option === P.OPT_GO) {
      this.exportName = new TextDecoder().decode(data.subarray(4, 4 + nameLength));
      this.#enterTransmission();
    }
  }

  #writeOptionReplyHeader(v, at, option, type, length) {
    v.setBigUint64(at, P.OPTION_REPLY_MAGIC);
    v.setUint32(at + 8, option);
    v.setUint32(at + 12, type);
    v.setUint32(at + 16, length);
    return at + P.OPTION_REPLY_HEADER_SIZE;
  }

  #optionReply(option, type) {
    const reply = new Uint8Array(P.OPTION_REPLY_HEADER_SIZE);
    this.#writeOptionReplyHeader(view(reply), 0, option, type, 0);
    this.#output(reply);
  }

  #enterTransmission() {
    this.#expect(REQUEST, P.REQUEST_HEADER_SIZE);
    this.#setState('transmission');
  }

  // ---- transmission -------------------------------------------------------

  #onRequest(bytes) {
    const v = view(bytes);
    if (v.getUint32(0) !== P.REQUEST_MAGIC) return this.fail(`bad request magic 0x${v.getUint32(0).toString(16)}`);
    const type = v.getUint16(6);
    const handle = v.getBigUint64(8);
    const offset = v.getBigUint64(16);
    const length = v.getUint32(24);
    // Command flags (offset 4) are ignored: none that matter is advertised.

    if (type === P.CMD_DISC) return this.#disconnect();
    this.#stats.requests++;
    this.#stats.inFlight++;
    switch (type) {
      case P.CMD_READ: {
        const error = this.#checkRange(offset, length, true);
        if (error) return this.#reply(handle, error);
        const at = Number(offset);
        const p = this.#barrier.then(() => this.#read(handle, at, length));
        this.#reads.add(p);
        p.then(() => this.#reads.delete(p));
        return;
      }
      case P.CMD_WRITE: {
        // The payload follows whatever we answer, so consume it either way.
        const error = this.readOnly ? P.EPERM : this.#checkRange(offset, length, true);
        if (error) {
          this.#discard(length, () => {
            this.#expect(REQUEST, P.REQUEST_HEADER_SIZE);
            this.#reply(handle, error);
          });
          return;
        }
        this.#write = { handle, offset: Number(offset) };
        this.#expect(WRITE_DATA, length);
        return;
      }
      case P.CMD_FLUSH:
        this.#exclusive(() => this.#run(handle, 'flush', 0, 0, () => this.#image.flush?.()));
        return;
      case P.CMD_TRIM: {
        const error = this.readOnly ? P.EPERM : this.#checkRange(offset, length, false);
        if (error) return this.#reply(handle, error);
        const at = Number(offset);
        this.#exclusive(() => this.#run(handle, 'trim', at, length, () => this.#image.trim?.(at, length)));
        return;
      }
      default:
        this.#reply(handle, P.EINVAL);
    }
  }

  #onWriteData(data) {
    const { handle, offset } = this.#write;
    this.#write = null;
    this.#expect(REQUEST, P.REQUEST_HEADER_SIZE);
    this.#exclusive(() =>
      this.#run(handle, 'write', offset, data.length, async () => {
        await this.#image.write(offset, data);
        this.#stats.bytesWritten += data.length;
      }),
    );
  }

  // 0 if [offset, offset+length) is a valid request range, else an errno.
  #checkRange(offset, length, limited) {
    if (limited && length > this.#maxRequest) return P.EINVAL;
    if (offset + BigInt(length) > BigInt(this.size)) return P.EINVAL;
    return 0;
  }

  // Queues a barrier operation behind everything received so far.
  #exclusive(op) {
    const before = Promise.all([this.#barrier, ...this.#reads]);
    this.#reads.clear();
    this.#barrier = before.then(op);
  }

  async #read(handle, offset, length) {
    let data;
    try {
      data = length === 0 ? new Uint8Array(0) : await this.#image.read(offset, length);
      if (data instanceof ArrayBuffer) data = new Uint8Array(data);
      if (data?.length !== length) throw new Error(`image read returned ${data?.length} of ${length} bytes`);
    } catch (error) {
      this.#ioError(handle, 'read', offset, length, error);
      return;
    }
    this.#stats.bytesRead += length;
    this.#reply(handle, 0, data);
  }

  // Runs a write/flush/trim and replies; never rejects (the barrier chain
  // must keep going).
  async #run(handle, command, offset, length, op) {
    try {
      await op();
    } catch (error) {
      this.#ioError(handle, command, offset, length, error);
      return;
    }
    this.#reply(handle, 0);
  }

  #ioError(handle, command, offset, length, error) {
    const errno = errnoFor(error);
    this.#stats.errors++;
    this.#reply(handle, errno);
    this.dispatchEvent(new CustomEvent('ioerror', { detail: { command, offset, length, errno, error } }));
  }

  #reply(handle, error, data = null) {
    this.#stats.inFlight--;
    if (this.#closed) return;
    const header = new Uint8Array(P.SIMPLE_REPLY_SIZE);
    const v = view(header);
    v.setUint32(0, P.SIMPLE_REPLY_MAGIC);
    v.setUint32(4, error);
    v.setBigUint64(8, handle);
    const bytes = header.length + (data?.length ?? 0);
    if (this.#batchBytes + bytes > BATCH_MAX) this.#flush();
    this.#batch.push(header);
    if (data?.length) this.#batch.push(data);
    this.#batchBytes += bytes;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
    this.dispatchEvent(new CustomEvent('progress', { detail: this.stats }));
  }

  // Sends the batched replies: one part as it is, several packed into one
  // buffer (the stream has no message boundaries), a lone reply too big to
  // batch as its parts, uncopied.
  #flush() {
    const parts = this.#batch;
    const total = this.#batchBytes;
    if (parts.length === 0) return;
    this.#batch = [];
    this.#batchBytes = 0;
    if (parts.length === 1 || total > BATCH_MAX) {
      for (const part of parts) this.#output(part);
      return;
    }
    let out;
    if (this.#sendCopies) {
      if (!this.#scratch || this.#scratch.length < total) this.#scratch = new Uint8Array(Math.max(total, 1024 * 1024));
      out = this.#scratch.subarray(0, total);
    } else {
      out = new Uint8Array(total);
    }
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    this.#output(out);
  }

  // NBD_CMD_DISC: no reply; finish what is outstanding, then close.
  #disconnect() {
    this.#phase = DONE;
    this.#queue.clear();
    this.drain().then(() => this.#finish('closed', 'client disconnected'));
  }

  // ---- lifecycle ----------------------------------------------------------

  #output(bytes) {
    if (this.#closed) return;
    try {
      this.#send(bytes);
    } catch (e) {
      this.fail(`send failed: ${e?.message ?? e}`);
    }
  }

  // Stops input and output, then lets outstanding image work settle and
  // flushes a writable image, so what the client wrote is not left behind
  // in an overlay or swap file when the connection drops.
  #finish(state, reason) {
    if (this.#finishing) return this.finished;
    this.#finishing = true;
    this.#flush(); // replies already made go out before the end
    this.#phase = DONE;
    this.#closed = true;
    this.#queue.clear();
    this.drain()
      .then(async () => {
        if (!this.readOnly) await this.#image.flush?.();
      })
      .catch((error) => {
        const detail = { command: 'flush', offset: 0, length: 0, errno: errnoFor(error), error };
        this.dispatchEvent(new CustomEvent('ioerror', { detail }));
      })
      .then(this.#resolveFinished);
    this.#setState(state, reason);
    return this.finished;
  }

  #setState(state, reason = '') {
    this.state = state;
    this.reason = reason;
    const detail = { state, reason };
    if (state === 'transmission') Object.assign(detail, { size: this.size, flags: this.flags, exportName: this.exportName });
    this.dispatchEvent(new CustomEvent('statechange', { detail }));
  }
}
