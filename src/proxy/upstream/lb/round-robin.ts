// ROUND_ROBIN: nginx's smooth weighted round robin (5:1:1 gives a a b a c a a), precomputed into a
// table per endpoint-set change so pick() is O(1); starts at a random offset to avoid herds.
import { BaseBalancer } from './base-balancer.js';
import type { EndpointState } from './endpoint-state.js';
import type { Endpoint, PickContext } from './lb.js';

/** Longest schedule kept; bigger weight sums are scaled down (weights then hold to ~n/cap). */
const MAX_TABLE = 1 << 14;
/** Bound on table-building work (entries × endpoints) per rebuild. */
const MAX_BUILD_WORK = 4_000_000;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The smooth weighted round robin sequence for integer weights, one full cycle. */
export function smoothWeightedSequence(weights: readonly number[]): Int32Array {
  const n = weights.length;
  let w = weights.map((x) => Math.max(1, Math.round(x)));
  const cap = Math.max(n, Math.min(MAX_TABLE, Math.floor(MAX_BUILD_WORK / Math.max(1, n))));
  const g = w.reduce(gcd, 0) || 1;
  w = w.map((x) => x / g);
  let total = w.reduce((a, b) => a + b, 0);
  if (total > cap) {
    w = w.map((x) => Math.max(1, Math.round((x * cap) / total)));
    const g2 = w.reduce(gcd, 0) || 1;
    w = w.map((x) => x / g2);
    total = w.reduce((a, b) => a + b, 0);
  }
  const seq = new Int32Array(total);
  if (w.every((x) => x === w[0])) {
    for (let i = 0; i < total; i++) seq[i] = i % n;
    return seq;
  }
  const current = new Float64Array(n);
  for (let t = 0; t < total; t++) {
    let best = 0;
    for (let i = 0; i < n; i++) {
      current[i] = (current[i] as number) + (w[i] as number);
      if ((current[i] as number) > (current[best] as number)) best = i;
    }
    current[best] = (current[best] as number) - total;
    seq[t] = best;
  }
  return seq;
}

export class RoundRobinBalancer<E extends Endpoint = Endpoint> extends BaseBalancer<E> {
  readonly policy = 'ROUND_ROBIN' as const;
  private seq: Int32Array = new Int32Array(0);
  private cursor = 0;

  protected build(eligible: readonly EndpointState<E>[]): void {
    this.seq = smoothWeightedSequence(eligible.map((s) => s.weight));
    const len = this.seq.length;
    this.cursor = len === 0 ? 0 : Math.min(len - 1, Math.floor(this.random() * len));
  }

  protected choose(_ctx: PickContext<E> | undefined): EndpointState<E> {
    const c = this.cursor;
    this.cursor = c + 1 === this.seq.length ? 0 : c + 1;
    return this.eligible[this.seq[c] as number] as EndpointState<E>;
  }
}
