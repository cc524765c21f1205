// Image back-ends for NbdServer.
//
// An image is any object with
//   size                         byte length (a Number; safe integer)
//   async read(offset, length)   -> Uint8Array of exactly `length` bytes,
//                                   read-only to the caller: it may be a view
//                                   of a buffer the image keeps (copy first
//                                   to modify)
//   async write(offset, bytes)   optional; absent means read-only. The image
//                                   copies what it keeps: callers may reuse
//                                   `bytes` once the promise settles.
//   async flush()                optional; make earlier writes durable
//   async trim(offset, length)   optional; contents afterwards are
//                                   unspecified by NBD (these back-ends zero)
// Callers (NbdServer) check ranges before calling; back-ends check again
// and throw RangeError, which the server reports as EINVAL.

import { RangeSet } from './range-set.js';
import { ENOSPC } from './nbd-protocol.js';

export const SECTOR_SIZE = 512;

function checkRange(image, offset, length) {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) ||
      offset < 0 || length < 0 || offset + length > image.size) {
    throw new RangeError(`range ${offset}+${length} outside image of ${image.size} bytes`);
  }
}

function checkSize(size) {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad image size ${size}`);
  return size;
}

/** Read-only image over a Blob or File; reads only the slices asked for. */
export class FileImage {
  #blob;

  constructor(blob) {
    this.#blob = blob;
    this.size = checkSize(blob.size);
    this.name = blob.name ?? '';
  }

  async read(offset, length) {
    checkRange(this, offset, length);
    const bytes = new Uint8Array(await this.#blob.slice(offset, offset + length).arrayBuffer());
    // A File changed or truncated on disk after it was picked reads short.
    if (bytes.length !== length) throw new Error(`short read: ${bytes.length} of ${length} bytes`);
    return bytes;
  }
}

/**
 * Read-ahead for sequential reads over a slow-per-call image (a Blob: every
 * slice().arrayBuffer() is a round trip through the browser process that
 * costs several times more per byte for 256 KiB than for 32 MiB). Like the
 * kernel's read-ahead: a read that starts where a recent read ended opens a
 * window of 4 times its length, and each window, once used, has the next
 * one fetched ahead at twice its size, up to maxWindow. So a long run is
 * read in large slices, while a short run costs at most a few times its
 * length; other reads, and reads of maxWindow or more, go straight to the
 * base. A read inside a window gets a view of it (no copy). A window is
 * dropped once all of it was served, and the oldest when more than
 * maxWindows are held.
 */
export class ReadAheadImage {
  #base;
  #windows = []; // {start, end, promise, served}, oldest first
  #recentEnds; // ends of the last few reads (a ring)
  #recentAt = 0;

  constructor(base, { maxWindow = 32 * 1024 * 1024, minWindow = 128 * 1024, maxWindows = 3, streams = 16 } = {}) {
    if (!Number.isSafeInteger(maxWindow) || maxWindow <= 0) throw new RangeError(`bad maxWindow ${maxWindow}`);
    this.#base = base;
    this.size = checkSize(base.size);
    this.name = base.name;
    this.maxWindow = maxWindow;
    this.minWindow = Math.min(minWindow, maxWindow);
    this.maxWindows = Math.max(2, maxWindows);
    this.#recentEnds = new Array(streams).fill(-1);
    this.windowReads = 0; // windows fetched (for tests and diagnostics)
  }

  /** Windows held (fetched or being fetched). */
  get heldWindows() {
    return this.#windows.length;
  }

  async read(offset, length) {
    checkRange(this, offset, length);
    const end = offset + length;
    const sequential = this.#recentEnds.includes(offset);
    this.#recentEnds[this.#recentAt] = end;
    this.#recentAt = (this.#recentAt + 1) % this.#recentEnds.length;
    if (length === 0 || length >= this.maxWindow) return this.#base.read(offset, length);

    let w = this.#windows.find((x) => x.start <= offset && end <= x.end);
    // A read across windows goes direct, rather than opening one that
    // overlaps them.
    if (!w && sequential && !this.#windows.some((x) => x.start < end && offset < x.end)) {
      w = this.#open(offset, Math.min(this.maxWindow, Math.max(this.minWindow, 4 * length), this.size - offset));
    }
    if (!w) return this.#base.read(offset, length);
    // The newest window of a run gets its successor fetched ahead.
    const size = w.end - w.start;
    if (w.end < this.size && !this.#windows.some((x) => x.start === w.end)) {
      this.#open(w.end, Math.min(this.maxWindow, 2 * size, this.size - w.end));
    }
    const bytes = await w.promise;
    w.served += length;
    if (w.served >= size) this.#drop(w);
    return bytes.subarray(offset - w.start, end - w.start);
  }

  // Starts fetching [start, start + size); a failed fetch is dropped so that
  // a later read tries again (its readers see the error).
  #open(start, size) {
    const w = { start, end: start + size, promise: this.#base.read(start, size), served: 0 };
    w.promise.catch(() => this.#drop(w));
    this.#windows.push(w);
    this.windowReads++;
    while (this.#windows.length > this.maxWindows) this.#windows.shift(); // readers keep their promise
    return w;
  }

  #drop(w) {
    const i = this.#windows.indexOf(w);
    if (i >= 0) this.#windows.splice(i, 1);
  }
}

/** Writable image held in memory (tests, demos, small scratch disks). */
export class MemoryImage {
  #bytes;

  constructor(bytesOrSize) {
    this.#bytes = typeof bytesOrSize === 'number' ? new Uint8Array(bytesOrSize) : bytesOrSize;
    this.size = this.#bytes.length;
  }

  /** The backing bytes, live (for tests). */
  get bytes() {
    return this.#bytes;
  }

  async read(offset, length) {
    checkRange(this, offset, length);
    return this.#bytes.slice(offset, offset + length);
  }

  async write(offset, bytes) {
    checkRange(this, offset, bytes.length);
    this.#bytes.set(bytes, offset);
  }

  async flush() {}

  async trim(offset, length) {
    checkRange(this, offset, length);
    this.#bytes.fill(0, offset, offset + length);
  }
}

/**
 * Copy-on-write layer over any image: writes land in an in-memory sparse map
 * of fixed-size blocks, reads merge those blocks over the base, and the base
 * is never written. Trimmed whole blocks are dropped and remembered as zero
 * extents (a RangeSet), so large discards cost no memory.
 *
 * Layers, bottom to top: base, zero extents, overlay blocks. An overlay block
 * always holds the block's complete current contents.
 *
 * Mutations are not meant to run concurrently with each other on the same
 * blocks (NbdServer serialises writes/trims); reads may run alongside.
 *
 * maxBytes bounds the memory held in blocks: a write that would need more
 * fails with ENOSPC (the machine sees a full disk, the tab survives) and
 * changes nothing.
 */
export class OverlayImage {
  #base;
  #blocks = new Map(); // block index -> Uint8Array (block length)
  #zeroed = new RangeSet();
  #maxBlocks;

  constructor(base, { blockSize = 4096, maxBytes = Infinity } = {}) {
    if (!Number.isSafeInteger(blockSize) || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
      throw new RangeError(`block size ${blockSize} must be a power of two >= 512`);
    }
    if (!(maxBytes >= 0)) throw new RangeError(`bad maxBytes ${maxBytes}`);
    this.#base = base;
    this.size = checkSize(base.size);
    this.blockSize = blockSize;
    this.maxBytes = maxBytes;
    this.#maxBlocks = Math.floor(maxBytes / blockSize);
  }

  /** Number of blocks held in memory. */
  get blockCount() {
    return this.#blocks.size;
  }

  /** Memory the overlay holds, in bytes (whole blocks). */
  get overlayBytes() {
    return this.#blocks.size * this.blockSize;
  }

  /** Trimmed extents as [[start, end], ...]. */
  get zeroedRanges() {
    return this.#zeroed.toArray();
  }

  /** True when nothing has been written or trimmed. */
  get clean() {
    return this.#blocks.size === 0 && this.#zeroed.size === 0;
  }

  async read(offset, length) {
    checkRange(this, offset, length);
    if (length === 0) return new Uint8Array(0);
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    let needLower = false;
    for (let i = first; i <= last && !needLower; i++) needLower = !this.#blocks.has(i);
    let out = needLower ? await this.#readLower(offset, length) : new Uint8Array(length);
    let owned = !needLower; // the lower read may be a shared view
    // Apply the overlay after the await, in one synchronous pass, so the
    // result reflects the overlay as of one instant.
    for (let i = first; i <= last; i++) {
      const block = this.#blocks.get(i);
      if (!block) continue;
      if (!owned) {
        out = out.slice();
        owned = true;
      }
      const start = i * bs;
      const from = Math.max(start, offset);
      const to = Math.min(start + block.length, offset + length);
      out.set(block.subarray(from - start, to - start), from - offset);
    }
    return out;
  }

  async write(offset, bytes) {
    checkRange(this, offset, bytes.length);
    await this.#update(offset, bytes.length, bytes);
  }

  async flush() {}

  async trim(offset, length) {
    checkRange(this, offset, length);
    if (length === 0) return;
    const bs = this.blockSize;
    const end = offset + length;
    // Whole blocks inside the range; a short final block counts as whole
    // when the range reaches the end of the image.
    const fullStart = Math.ceil(offset / bs) * bs;
    const fullEnd = end === this.size ? end : Math.floor(end / bs) * bs;
    if (fullStart >= fullEnd) {
      await this.#update(offset, length, null);
      return;
    }
    if (offset < fullStart) await this.#update(offset, fullStart - offset, null);
    if (fullEnd < end) await this.#update(fullEnd, end - fullEnd, null);
    this.#dropBlocks(fullStart / bs, Math.ceil(fullEnd / bs));
    this.#zeroed.add(fullStart, fullEnd);
  }

  /** Drops everything written so far: reads show the base again. */
  reset() {
    this.#blocks.clear();
    this.#zeroed = new RangeSet();
  }

  /**
   * The overlay's contents as [offset, Uint8Array] runs to be written in
   * order: first the zeroed extents (as zeros, in pieces of at most maxRun
   * bytes), then the blocks in offset order with adjacent blocks merged up
   * to maxRun bytes. Blocks written after a trim lie inside zeroed extents,
   * which is why they must come last. Used to commit to a writable file.
   */
  *dirtyRuns(maxRun = 1024 * 1024) {
    for (const [start, end] of this.#zeroed.toArray()) {
      for (let from = start; from < end; from += maxRun) {
        yield [from, new Uint8Array(Math.min(maxRun, end - from))];
      }
    }
    const bs = this.blockSize;
    const indices = [...this.#blocks.keys()].sort((a, b) => a - b);
    for (let i = 0; i < indices.length; ) {
      let j = i + 1;
      while (j < indices.length && indices[j] === indices[i] + (j - i) && (j - i + 1) * bs <= maxRun) j++;
      if (j - i === 1) {
        yield [indices[i] * bs, this.#blocks.get(indices[i])];
      } else {
        let length = 0;
        for (let k = i; k < j; k++) length += this.#blocks.get(indices[k]).length;
        const run = new Uint8Array(length);
        for (let k = i; k < j; k++) run.set(this.#blocks.get(indices[k]), (k - i) * bs);
        yield [indices[i] * bs, run];
      }
      i = j;
    }
  }

  // [start, end) of block i; the last block may be short.
  #blockEnd(i) {
    return Math.min((i + 1) * this.blockSize, this.size);
  }

  // Base with zero extents applied: what a block holds before the overlay.
  async #readLower(offset, length) {
    const end = offset + length;
    if (this.#zeroed.covers(offset, end)) return new Uint8Array(length);
    let out = await this.#base.read(offset, length);
    if (out.length !== length) throw new Error(`short read from base: ${out.length} of ${length}`);
    let owned = false;
    this.#zeroed.forEachOverlap(offset, end, (from, to) => {
      if (!owned) {
        out = out.slice();
        owned = true;
      }
      out.fill(0, from - offset, to - offset);
    });
    return out;
  }

  // Writes `bytes` (or zeros when bytes is null) over [offset, offset+length).
  async #update(offset, length, bytes) {
    if (length === 0) return;
    const bs = this.blockSize;
    const end = offset + length;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    if (this.#maxBlocks !== Infinity) this.#checkRoom(first, last);
    // Only the edge blocks can be partly covered; fetch their old contents
    // first so that the update below is one synchronous step.
    const fetched = new Map();
    for (const i of first === last ? [first] : [first, last]) {
      const start = i * bs;
      const blockEnd = this.#blockEnd(i);
      if ((offset > start || end < blockEnd) && !this.#blocks.has(i)) {
        fetched.set(i, (await this.#readLower(start, blockEnd - start)).slice());
      }
    }
    for (let i = first; i <= last; i++) {
      const start = i * bs;
      const blockEnd = this.#blockEnd(i);
      // A block that appeared while we awaited wins over our fetched copy.
      const block = this.#blocks.get(i) ?? fetched.get(i) ?? new Uint8Array(blockEnd - start);
      const from = Math.max(start, offset);
      const to = Math.min(blockEnd, end);
      if (bytes) block.set(bytes.subarray(from - offset, to - offset), from - start);
      else block.fill(0, from - start, to - start);
      this.#blocks.set(i, block);
    }
  }

  // Throws ENOSPC if blocks [first, last] do not fit under maxBytes.
  #checkRoom(first, last) {
    let add = 0;
    for (let i = first; i <= last; i++) if (!this.#blocks.has(i)) add++;
    if (this.#blocks.size + add > this.#maxBlocks) {
      const error = new Error(`the overlay is full (${this.maxBytes} bytes of writes held in memory)`);
      error.nbdErrno = ENOSPC;
      throw error;
    }
  }

  // Deletes blocks [first, last) by whichever is smaller: the range or the map.
  #dropBlocks(first, last) {
    if (last - first <= this.#blocks.size) {
      for (let i = first; i < last; i++) this.#blocks.delete(i);
    } else {
      for (const i of this.#blocks.keys()) if (i >= first && i < last) this.#blocks.delete(i);
    }
  }
}

/**
 * Writable image over a File System Access API FileSystemFileHandle (only on
 * explicit opt-in: it modifies the user's file). Browsers only expose writes
 * through createWritable(), which writes to a swap copy that becomes the file
 * on close(), and File snapshots from getFile() do not see uncommitted writes
 * (and go stale after a commit). So writes collect in an OverlayImage that
 * reads see immediately, and flush() commits them in one writable session
 * and takes a fresh snapshot. Writes also commit once the overlay holds
 * `commitThreshold` bytes, bounding memory.
 *
 * Cost: with keepExistingData the browser copies the whole file into the
 * swap file on every commit, so commits are batched (flushes with nothing
 * dirty do nothing). Trims are accepted and ignored: NBD leaves trimmed
 * contents unspecified and zeroing would mean writing the zeros out.
 */
export class FileHandleImage {
  #handle;
  #overlay;
  #blockSize;
  #commitThreshold;
  #ops = new Set(); // reads and writes in progress on the current overlay
  #committing = null; // promise while a commit runs

  /**
   * Opens a handle. The page must already hold readwrite permission
   * (handle.requestPermission({mode: 'readwrite'}) needs a user gesture).
   */
  static async open(handle, options = {}) {
    if (typeof handle.queryPermission === 'function') {
      const state = await handle.queryPermission({ mode: 'readwrite' });
      if (state !== 'granted') throw new Error(`no write permission for ${handle.name} (${state})`);
    }
    return new FileHandleImage(handle, await handle.getFile(), options);
  }

  constructor(handle, file, { blockSize = 4096, commitThreshold = 64 * 1024 * 1024 } = {}) {
    this.#handle = handle;
    this.#blockSize = blockSize;
    this.#commitThreshold = commitThreshold;
    this.#overlay = new OverlayImage(new ReadAheadImage(new FileImage(file)), { blockSize });
    this.size = this.#overlay.size;
    this.name = handle.name ?? file.name ?? '';
    this.commits = 0;
  }

  /** Bytes written but not yet committed to the file. */
  get pendingBytes() {
    return this.#overlay.overlayBytes;
  }

  async read(offset, length) {
    return this.#track(() => this.#overlay.read(offset, length));
  }

  async write(offset, bytes) {
    await this.#track(() => this.#overlay.write(offset, bytes));
    if (this.#overlay.overlayBytes >= this.#commitThreshold) await this.flush();
  }

  async trim(offset, length) {
    checkRange(this, offset, length);
  }

  async flush() {
    while (this.#committing) await this.#committing;
    if (this.#overlay.clean) return;
    const commit = this.#commit();
    // Others wait on a promise that never rejects; only this flush reports.
    this.#committing = commit.then(
      () => {},
      () => {},
    ).finally(() => {
      this.#committing = null;
    });
    await commit;
  }

  // Runs op once no commit is under way, and lets commits wait for it: a
  // read must not use a snapshot a commit made stale, and a write must not
  // land in an overlay a commit already copied out.
  async #track(op) {
    while (this.#committing) await this.#committing;
    const p = op();
    this.#ops.add(p);
    try {
      return await p;
    } finally {
      this.#ops.delete(p);
    }
  }

  async #commit() {
    await Promise.allSettled([...this.#ops]);
    const writable = await this.#handle.createWritable({ keepExistingData: true });
    try {
      for (const [position, data] of this.#overlay.dirtyRuns()) {
        await writable.write({ type: 'write', position, data });
      }
      await writable.close();
    } catch (e) {
      // Keep the overlay: reads stay correct and a later flush retries.
      try {
        await writable.abort?.();
      } catch {}
      throw e;
    }
    const file = await this.#handle.getFile();
    if (file.size !== this.size) throw new Error(`file size changed to ${file.size} during commit`);
    this.#overlay = new OverlayImage(new ReadAheadImage(new FileImage(file)), { blockSize: this.#blockSize });
    this.commits++;
  }
}

/**
 * Presents an image whose size is not a multiple of `alignment` as the next
 * multiple (block devices count 512-byte sectors). The padding reads as
 * zeros; writes to it are kept in memory so a read-back still matches, and
 * never reach the real image.
 */
export class PaddedImage {
  #image;
  #tail;

  constructor(image, alignment = SECTOR_SIZE) {
    this.#image = image;
    this.innerSize = checkSize(image.size);
    this.size = Math.ceil(this.innerSize / alignment) * alignment;
    this.#tail = new Uint8Array(this.size - this.innerSize);
    if (typeof image.write !== 'function') this.write = undefined;
  }

  async read(offset, length) {
    checkRange(this, offset, length);
    const inner = this.innerSize;
    const end = offset + length;
    if (end <= inner) return this.#image.read(offset, length);
    const out = new Uint8Array(length);
    if (offset < inner) out.set(await this.#image.read(offset, inner - offset), 0);
    const from = Math.max(offset, inner);
    out.set(this.#tail.subarray(from - inner, end - inner), from - offset);
    return out;
  }

  async write(offset, bytes) {
    checkRange(this, offset, bytes.length);
    const inner = this.innerSize;
    const end = offset + bytes.length;
    if (offset < inner) await this.#image.write(offset, end <= inner ? bytes : bytes.subarray(0, inner - offset));
    if (end > inner) {
      const from = Math.max(offset, inner);
      this.#tail.set(bytes.subarray(from - offset), from - inner);
    }
  }

  async flush() {
    await this.#image.flush?.();
  }

  async trim(offset, length) {
    checkRange(this, offset, length);
    const inner = this.innerSize;
    const end = offset + length;
    if (offset < inner) await this.#image.trim?.(offset, Math.min(end, inner) - offset);
    if (end > inner) this.#tail.fill(0, Math.max(offset, inner) - inner, end - inner);
  }
}

/** The image itself when already aligned, else a PaddedImage around it. */
export function alignImage(image, alignment = SECTOR_SIZE) {
  return checkSize(image.size) % alignment === 0 ? image : new PaddedImage(image, alignment);
}
