// O(1) weighted sampling of an index with Vose's alias method, built once per endpoint-set change.
// Equal weights skip the table; one 30-bit random integer yields both the column and the coin flip.
import { RAND_SPACE, type FastRandom } from './fast-random.js';

export class WeightedSampler {
  /** Number of indices. */
  n = 0;
  /** True when all weights are equal: sample() is then a plain uniform index. */
  uniform = true;
  private prob = new Float64Array(0);
  private alias = new Int32Array(0);

  build(weights: readonly number[]): void {
    const n = weights.length;
    this.n = n;
    this.uniform = weights.every((w) => w === weights[0]);
    if (this.uniform) return;
    let total = 0;
    for (const w of weights) total += w;
    const prob = new Float64Array(n);
    const alias = new Int32Array(n);
    const scaled = weights.map((w) => (w * n) / total);
    const small: number[] = [];
    const large: number[] = [];
    scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
    while (small.length > 0 && large.length > 0) {
      const s = small.pop() as number;
      const l = large.pop() as number;
      prob[s] = scaled[s] as number;
      alias[s] = l;
      const rest = (scaled[l] as number) + (scaled[s] as number) - 1;
      scaled[l] = rest;
      (rest < 1 ? small : large).push(l);
    }
    for (const i of large) prob[i] = 1;
    for (const i of small) prob[i] = 1; // only rounding error left
    this.prob = prob;
    this.alias = alias;
  }

  /** An index in [0, n) drawn with probability ∝ weight; `r` uniform in [0, 2^30). n must be > 0. */
  sample(r: number): number {
    const x = (r * this.n) / RAND_SPACE;
    let i = x | 0;
    if (i >= this.n) i = this.n - 1;
    if (this.uniform) return i;
    return x - i < (this.prob[i] as number) ? i : (this.alias[i] as number);
  }

  /** An index other than `not` (uniform case: exact; weighted: one redraw, may still equal `not`). */
  sampleOther(rng: FastRandom, not: number): number {
    if (this.uniform) {
      const j = rng.below(this.n - 1);
      return j >= not ? j + 1 : j;
    }
    const j = this.sample(rng.next30());
    return j !== not ? j : this.sample(rng.next30());
  }
}
