// An HDR-style latency histogram in microseconds: 256 unit buckets, then 128 linear sub-buckets
// per power of two (< 0.8% error), fixed memory, cheap to record; percentiles walk the counts.
const SUB_BITS = 8;
const SUB = 1 << SUB_BITS;
const HALF = SUB / 2;
const MAX_EXP = 24; // up to ~2^31 µs

export class Histogram {
  private readonly counts = new Float64Array(SUB + MAX_EXP * HALF);
  total = 0;
  max = 0;

  record(us: number): void {
    const v = Math.min(2 ** 31 - 1, Math.max(0, Math.round(us)));
    if (v > this.max) this.max = v;
    this.counts[indexOf(v)]! += 1;
    this.total++;
  }

  /** The value at quantile q (0..1): the upper edge of the bucket holding it (never above max). */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdge(i), this.max);
    }
    return this.max;
  }
}

function indexOf(v: number): number {
  if (v < SUB) return v;
  const exp = 31 - Math.clz32(v) - SUB_BITS + 1; // >= 1
  return SUB + (exp - 1) * HALF + (Math.floor(v / 2 ** exp) - HALF);
}

function upperEdge(i: number): number {
  if (i < SUB) return i;
  const j = i - SUB;
  const exp = Math.floor(j / HALF) + 1;
  return ((j % HALF) + HALF + 1) * 2 ** exp - 1;
}
