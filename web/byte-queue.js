// A FIFO of received byte chunks. WebSocket frames split and merge NBD
// messages arbitrarily, so the parser asks for "the next n bytes" and this
// queue hands them out without ever concatenating the whole backlog:
// a message inside one chunk comes back as a zero-copy view, and only a
// message straddling chunks is copied (once, into a buffer of its own size).
//
// Ownership: push() keeps a reference to the chunk, and take() may return a
// view into it, so callers must not modify a chunk after pushing it.

export class ByteQueue {
  #chunks = [];
  #head = 0; // index of the first live chunk in #chunks
  #offset = 0; // bytes already consumed from #chunks[#head]
  #length = 0;

  /** Bytes queued and not yet consumed. */
  get length() {
    return this.#length;
  }

  push(chunk) {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /**
   * Removes and returns the next n bytes as one Uint8Array.
   * Throws RangeError if fewer than n bytes are queued.
   */
  take(n) {
    if (n > this.#length) throw new RangeError(`take(${n}) with ${this.#length} queued`);
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[this.#head];
    if (first.length - this.#offset >= n) {
      const view = first.subarray(this.#offset, this.#offset + n);
      this.#advance(n);
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#head];
      const part = Math.min(chunk.length - this.#offset, n - filled);
      out.set(chunk.subarray(this.#offset, this.#offset + part), filled);
      filled += part;
      this.#advance(part);
    }
    return out;
  }

  /** Discards the next n bytes (n <= length) without copying them. */
  skip(n) {
    if (n > this.#length) throw new RangeError(`skip(${n}) with ${this.#length} queued`);
    while (n > 0) {
      const chunk = this.#chunks[this.#head];
      const part = Math.min(chunk.length - this.#offset, n);
      this.#advance(part);
      n -= part;
    }
  }

  clear() {
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.#length = 0;
  }

  // Consumes `n` bytes, all within the head chunk.
  #advance(n) {
    this.#offset += n;
    this.#length -= n;
    if (this.#offset < this.#chunks[this.#head].length) return;
    this.#chunks[this.#head] = undefined; // let the chunk be collected now
    this.#head++;
    this.#offset = 0;
    // Compact now and then instead of shift()ing on every chunk.
    if (this.#head === this.#chunks.length) {
      this.#chunks.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}
