// What every policy shares: the endpoint set and its handles, availability and panic mode, lazy
// rebuild of the policy's pick structures, and exclusion (retries) around the policy's choose().
import { EndpointState, normalizeWeight, type LatencyModel } from './endpoint-state.js';
import { FastRandom } from './fast-random.js';
import {
  LB_DEFAULTS,
  type Endpoint,
  type EndpointHandle,
  type LbPolicy,
  type LoadBalancer,
  type LoadBalancerOptions,
  type PickContext,
} from './lb.js';

type Exclude<E extends Endpoint> = EndpointHandle<E> | readonly EndpointHandle<E>[];

export function isExcluded<E extends Endpoint>(h: EndpointHandle<E>, ex: Exclude<E>): boolean {
  if (ex === h) return true;
  if (!Array.isArray(ex)) return false;
  const list = ex as readonly EndpointHandle<E>[];
  for (let i = 0; i < list.length; i++) if (list[i] === h) return true;
  return false;
}

/**
 * Policies implement build() (called with the eligible set whenever it changes: update(),
 * setAvailable(), panic on/off) and choose() (O(1) or O(log n) over that set, never allocating).
 */
export abstract class BaseBalancer<E extends Endpoint = Endpoint> implements LoadBalancer<E> {
  abstract readonly policy: LbPolicy;
  /** The injected random: seeds `rng` and serves build-time choices (off the pick path). */
  protected readonly random: () => number;
  /** Random numbers on the pick path (allocation-free whatever `random` is). */
  protected readonly rng: FastRandom;
  protected readonly opts: LoadBalancerOptions;
  protected readonly model: LatencyModel;
  /** Endpoints the policy balances over: the available ones, or all of them in panic mode. */
  protected eligible: EndpointState<E>[] = [];
  private all: EndpointState<E>[] = [];
  private byId = new Map<string, EndpointState<E>>();
  private dirty = true;
  private panic = false;
  private readonly panicThreshold: number;

  constructor(opts: LoadBalancerOptions) {
    this.opts = opts;
    this.random = opts.random;
    this.rng = new FastRandom(opts.random);
    this.panicThreshold = opts.panicThreshold ?? LB_DEFAULTS.panicThreshold;
    this.model = {
      clock: opts.clock,
      decayMs: opts.decayMs ?? LB_DEFAULTS.decayMs,
      failurePenalty: opts.failurePenalty ?? LB_DEFAULTS.failurePenalty,
      defaultRttMs: opts.defaultRttMs ?? LB_DEFAULTS.defaultRttMs,
      latest: Number.NEGATIVE_INFINITY,
    };
  }

  /** Rebuild the policy's structures over `eligible` (non-empty or empty; allocation is fine here). */
  protected abstract build(eligible: readonly EndpointState<E>[], all: readonly EndpointState<E>[]): void;
  /** Pick one of `this.eligible` (non-empty). */
  protected abstract choose(ctx: PickContext<E> | undefined): EndpointState<E>;

  get handles(): readonly EndpointHandle<E>[] {
    return this.all;
  }

  get availableCount(): number {
    let n = 0;
    for (const s of this.all) if (s.available) n++;
    return n;
  }

  get panicking(): boolean {
    if (this.dirty) this.rebuild();
    return this.panic;
  }

  get(id: string): EndpointHandle<E> | undefined {
    return this.byId.get(id);
  }

  pick(ctx?: PickContext<E>): EndpointHandle<E> | undefined {
    if (this.dirty) this.rebuild();
    if (this.eligible.length === 0) return undefined;
    const ex = ctx === undefined ? undefined : ctx.exclude;
    if (ex === undefined) return this.choose(ctx);
    return this.chooseExcluding(ctx as PickContext<E>, ex);
  }

  /**
   * Default exclusion: re-choose a few times (random and rotating policies move on), then scan the
   * eligible set from a random offset (O(n), only on retries). All excluded: ignore the exclusion.
   */
  protected chooseExcluding(ctx: PickContext<E>, ex: Exclude<E>): EndpointState<E> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const s = this.choose(ctx);
      if (!isExcluded(s, ex)) return s;
    }
    const list = this.eligible;
    const n = list.length;
    const start = this.rng.below(n);
    for (let i = 0; i < n; i++) {
      const s = list[(start + i) % n] as EndpointState<E>;
      if (!isExcluded(s, ex)) return s;
    }
    return this.choose(ctx);
  }

  update(endpoints: readonly E[]): void {
    const next: EndpointState<E>[] = [];
    const nextById = new Map<string, EndpointState<E>>();
    for (const ep of endpoints) {
      if (nextById.has(ep.id)) continue;
      let s = this.byId.get(ep.id);
      if (s === undefined) {
        s = new EndpointState(ep, this.model);
      } else {
        s.endpoint = ep;
        s.weight = normalizeWeight(ep.weight);
      }
      nextById.set(ep.id, s);
      next.push(s);
    }
    for (const [id, s] of this.byId) if (!nextById.has(id)) s.removed = true;
    this.all = next;
    this.byId = nextById;
    this.dirty = true;
    this.onSetChanged(next);
  }

  /** Hook for policies that derive per-endpoint data from the whole set (ring replicas). */
  protected onSetChanged(_all: readonly EndpointState<E>[]): void {}

  setAvailable(id: string, available: boolean): boolean {
    const s = this.byId.get(id);
    if (s === undefined) return false;
    if (s.available !== available) {
      s.available = available;
      this.dirty = true;
    }
    return true;
  }

  private rebuild(): void {
    this.dirty = false;
    const all = this.all;
    const avail = all.filter((s) => s.available);
    this.panic = all.length > 0 && avail.length < all.length * this.panicThreshold;
    this.eligible = this.panic ? all.slice() : avail;
    this.build(this.eligible, all);
  }
}
