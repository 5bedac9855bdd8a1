// RING_HASH: consistent hashing (Karger) of a request hash onto a ring of endpoint points, as Envoy's
// ring_hash: ≥ minRingSize points scaled by weight, binary search per pick, ~1/n keys move per change.
import { BaseBalancer, isExcluded } from './base-balancer.js';
import type { EndpointState } from './endpoint-state.js';
import { hashString, requestHash } from './hash.js';
import {
  LB_DEFAULTS,
  type Endpoint,
  type EndpointHandle,
  type LoadBalancerOptions,
  type PickContext,
} from './lb.js';

const OWNER_SPACE = 2 ** 23; // ring entries pack (hash, owner) into one float64: 30 + 23 bits

function nextPow2(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

/**
 * Points per endpoint, from the whole set (not just the available part, so health changes move only
 * the affected endpoint's keys): R = nextPow2(minRing / Σ(w/wmin)) points per unit of the smallest
 * weight. Rounding R to a power of two keeps it unchanged as most endpoints come and go, so the
 * other endpoints keep exactly their points; it halves or doubles only when n crosses a power of two.
 */
export function ringReplicas(weights: readonly number[], minRing: number, maxRing: number): number[] {
  if (weights.length === 0) return [];
  const wmin = Math.min(...weights);
  const units = weights.reduce((a, w) => a + w / wmin, 0);
  const r = nextPow2(Math.ceil(minRing / units));
  let reps = weights.map((w) => Math.max(1, Math.round((r * w) / wmin)));
  const total = reps.reduce((a, b) => a + b, 0);
  if (total > maxRing) reps = reps.map((x) => Math.max(1, Math.floor((x * maxRing) / total)));
  return reps;
}

export class RingHashBalancer<E extends Endpoint = Endpoint> extends BaseBalancer<E> {
  readonly policy = 'RING_HASH' as const;
  private ringHash = new Uint32Array(0);
  private ringOwner = new Int32Array(0);
  /** Ring owners sorted by id, so points with equal hashes order the same in every sidecar. */
  private owners: EndpointState<E>[] = [];
  private readonly minRing: number;
  private readonly maxRing: number;

  constructor(opts: LoadBalancerOptions) {
    super(opts);
    this.minRing = opts.minRingSize ?? LB_DEFAULTS.minRingSize;
    this.maxRing = Math.max(this.minRing, opts.maxRingSize ?? LB_DEFAULTS.maxRingSize);
  }

  protected override onSetChanged(all: readonly EndpointState<E>[]): void {
    const reps = ringReplicas(
      all.map((s) => s.weight),
      this.minRing,
      this.maxRing,
    );
    all.forEach((s, i) => {
      const n = reps[i] as number;
      s.replicas = n;
      if (s.points === undefined || s.points.length !== n) {
        const pts = new Uint32Array(n);
        for (let k = 0; k < n; k++) pts[k] = hashString(`${s.id}_${k}`);
        s.points = pts;
      }
    });
  }

  protected build(eligible: readonly EndpointState<E>[]): void {
    let size = 0;
    for (const s of eligible) size += s.points?.length ?? 0;
    const packed = new Float64Array(size);
    let k = 0;
    this.owners = [...eligible].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.owners.forEach((s, owner) => {
      for (const p of s.points ?? []) packed[k++] = p * OWNER_SPACE + owner;
    });
    packed.sort();
    this.ringHash = new Uint32Array(size);
    this.ringOwner = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const v = packed[i] as number;
      const h = Math.floor(v / OWNER_SPACE);
      this.ringHash[i] = h;
      this.ringOwner[i] = v - h * OWNER_SPACE;
    }
  }

  /** Ring index of the first point at or after the request's hash (wrapping). No hash: random. */
  private locate(ctx: PickContext<E> | undefined): number {
    const key = ctx === undefined ? undefined : ctx.hash;
    const h = key === undefined ? this.rng.next30() : requestHash(key);
    const ring = this.ringHash;
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ring[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === ring.length ? 0 : lo;
  }

  protected choose(ctx: PickContext<E> | undefined): EndpointState<E> {
    return this.owners[this.ringOwner[this.locate(ctx)] as number] as EndpointState<E>;
  }

  /** Walk clockwise past excluded endpoints, so a retried key goes to its next endpoint on the ring. */
  protected override chooseExcluding(
    ctx: PickContext<E>,
    ex: EndpointHandle<E> | readonly EndpointHandle<E>[],
  ): EndpointState<E> {
    const start = this.locate(ctx);
    const size = this.ringOwner.length;
    const first = this.owners[this.ringOwner[start] as number] as EndpointState<E>;
    let anyLeft = false;
    for (let i = 0; i < this.eligible.length && !anyLeft; i++) {
      anyLeft = !isExcluded(this.eligible[i] as EndpointState<E>, ex);
    }
    if (!anyLeft) return first;
    for (let i = 0, at = start; i < size; i++, at = at + 1 === size ? 0 : at + 1) {
      const s = this.owners[this.ringOwner[at] as number] as EndpointState<E>;
      if (!isExcluded(s, ex)) return s;
    }
    return first;
  }
}
