// Per-endpoint load state owned by a balancer (in-flight count, peak-sensitive RTT EWMA, availability).
// The state object is itself the EndpointHandle pick() returns, so picking allocates nothing.
import type { Clock } from '../../../common/clock.js';
import type { Endpoint, EndpointHandle } from './lb.js';

/** Shared by all endpoints of one balancer. */
export interface LatencyModel {
  readonly clock: Clock;
  readonly decayMs: number;
  readonly failurePenalty: number;
  readonly defaultRttMs: number;
  /**
   * The latest clock reading any endpoint recorded (creation or completion). Decaying every
   * estimate to the same instant scales all of them by the same factor, so comparing costs at
   * `latest` gives the same answer as at the true now: picks need no clock read.
   */
  latest: number;
}

export function normalizeWeight(w: number): number {
  return w > 0 && Number.isFinite(w) ? w : 1;
}

export class EndpointState<E extends Endpoint = Endpoint> implements EndpointHandle<E> {
  endpoint: E;
  readonly id: string;
  weight: number;
  inFlight = 0;
  available = true;
  removed = false;
  /** RTT estimate (ms) as of `stamp`; between samples it decays toward 0 (tower's PeakEwma). */
  ewma: number;
  stamp: number;
  /** RING_HASH cache: this endpoint's ring point hashes (depends only on id and count). */
  points: Uint32Array | undefined = undefined;
  /** RING_HASH: how many ring points this endpoint gets (set from the whole set on update()). */
  replicas = 0;
  private readonly model: LatencyModel;
  /** The estimate decayed to `decayedAt` (see decayToLatest); picks between two completions share it. */
  decayed = 0;
  private decayedAt = Number.NaN;

  constructor(endpoint: E, model: LatencyModel) {
    this.endpoint = endpoint;
    this.id = endpoint.id;
    this.weight = normalizeWeight(endpoint.weight);
    this.model = model;
    this.ewma = model.defaultRttMs;
    this.stamp = model.clock.now();
    if (this.stamp > model.latest) model.latest = this.stamp;
  }

  get rttMs(): number {
    return this.rttAt(this.model.clock.now());
  }

  /** The estimate decayed to `now`: an endpoint that gets no responses looks cheaper over time. */
  rttAt(now: number): number {
    const dt = now - this.stamp;
    return dt > 0 ? this.ewma * Math.exp(-dt / this.model.decayMs) : this.ewma;
  }

  /**
   * Sets `decayed` to the estimate as of the model's `latest` instant. No arguments and no result
   * on purpose: no float crosses a call boundary on the pick path (that can allocate a HeapNumber).
   */
  decayToLatest(): void {
    const now = this.model.latest;
    if (now === this.decayedAt) return;
    const dt = now - this.stamp;
    this.decayed = dt > 0 ? this.ewma * Math.exp(-dt / this.model.decayMs) : this.ewma;
    this.decayedAt = now;
  }

  onStart(): void {
    this.inFlight++;
  }

  onComplete(latencyMs: number, ok: boolean): void {
    if (this.inFlight > 0) this.inFlight--;
    if (!(latencyMs >= 0) || latencyMs === Infinity) return;
    const now = this.model.clock.now();
    const dt = now - this.stamp;
    const keep = dt > 0 ? Math.exp(-dt / this.model.decayMs) : 1;
    const decayed = this.ewma * keep;
    let sample = latencyMs;
    if (!ok) {
      const floor = Math.max(decayed, this.model.defaultRttMs) * this.model.failurePenalty;
      if (sample < floor) sample = floor;
    }
    // Peak-sensitive: a slower sample takes effect at once; faster ones blend in with time constant decayMs.
    this.ewma = sample > decayed ? sample : decayed + sample * (1 - keep);
    if (now > this.stamp) this.stamp = now;
    if (now > this.model.latest) this.model.latest = now;
    this.decayedAt = Number.NaN;
  }
}
