// A set of byte ranges kept as sorted, disjoint, non-adjacent [start, end)
// intervals. OverlayImage uses it to remember trimmed (zeroed) extents: one
// entry per trim rather than one per block, so discarding a whole 100 GiB
// disk (mkfs does) costs nothing.

export class RangeSet {
  #starts = [];
  #ends = [];

  get size() {
    return this.#starts.length;
  }

  /** Adds [start, end), merging with any overlapping or touching ranges. */
  add(start, end) {
    if (end <= start) return;
    // First range that ends at or after `start` (it may touch or overlap).
    let lo = this.#firstEndingAtOrAfter(start);
    let hi = lo;
    while (hi < this.#starts.length && this.#starts[hi] <= end) {
      start = Math.min(start, this.#starts[hi]);
      end = Math.max(end, this.#ends[hi]);
      hi++;
    }
    this.#starts.splice(lo, hi - lo, start);
    this.#ends.splice(lo, hi - lo, end);
  }

  /** True if [start, end) lies entirely inside one range. */
  covers(start, end) {
    const i = this.#firstEndingAtOrAfter(start + 1);
    return i < this.#starts.length && this.#starts[i] <= start && this.#ends[i] >= end;
  }

  /** Calls fn(from, to) for each part of [start, end) inside the set, in order. */
  forEachOverlap(start, end, fn) {
    for (let i = this.#firstEndingAtOrAfter(start + 1); i < this.#starts.length; i++) {
      if (this.#starts[i] >= end) break;
      fn(Math.max(start, this.#starts[i]), Math.min(end, this.#ends[i]));
    }
  }

  /** [[start, end], ...], for tests and diagnostics. */
  toArray() {
    return this.#starts.map((s, i) => [s, this.#ends[i]]);
  }

  // Binary search: index of the first range whose end >= pos.
  #firstEndingAtOrAfter(pos) {
    let lo = 0;
    let hi = this.#ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ends[mid] < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
