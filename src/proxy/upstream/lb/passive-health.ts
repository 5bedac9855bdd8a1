// Passive health: an endpoint that refused a connection (or reset a fresh one before answering) is
// taken out of its cluster's load balancer for a while, so a dead replica does not eat an attempt
// from every request until the control plane removes it. Ejections double per repeat (5 s, 10 s,
// 20 s, capped at 30 s) and never take more than half of a cluster's endpoints out.
import type { Clock, Timer } from '../../../common/clock.js';
import type { Endpoint, LoadBalancer } from './lb.js';

export interface PassiveHealthOptions {
  /** First ejection, ms (default 5 s). */
  readonly baseEjectionMs?: number;
  /** Longest ejection, ms (default 30 s). */
  readonly maxEjectionMs?: number;
  /** At most this fraction of the endpoints is ejected at once (default 0.5). */
  readonly maxEjectedFraction?: number;
}

export const PASSIVE_HEALTH_DEFAULTS = {
  baseEjectionMs: 5_000,
  maxEjectionMs: 30_000,
  maxEjectedFraction: 0.5,
} as const;

interface Ejection {
  /** Ejections in a row (reset when the endpoint stayed in for a while). */
  count: number;
  /** When the current ejection ends (0 = in the set). */
  until: number;
  /** When the last ejection ended. */
  lastEnd: number;
  timer: Timer | null;
}

export class PassiveHealth<E extends Endpoint = Endpoint> {
  private readonly state = new Map<string, Ejection>();
  private ejectedNow = 0;
  private readonly base: number;
  private readonly max: number;
  private readonly fraction: number;

  /**
   * `lb()` is the cluster's current balancer; `healthy(id)` says whether the control plane has the
   * endpoint available (what it goes back to when its ejection ends).
   */
  constructor(
    private readonly lb: () => LoadBalancer<E>,
    private readonly healthy: (id: string) => boolean,
    private readonly clock: Clock,
    opts: PassiveHealthOptions = {},
    private readonly onEject: () => void = () => {},
  ) {
    this.base = opts.baseEjectionMs ?? PASSIVE_HEALTH_DEFAULTS.baseEjectionMs;
    this.max = opts.maxEjectionMs ?? PASSIVE_HEALTH_DEFAULTS.maxEjectionMs;
    this.fraction = opts.maxEjectedFraction ?? PASSIVE_HEALTH_DEFAULTS.maxEjectedFraction;
  }

  /** Ejected endpoints right now. */
  get ejectedCount(): number {
    return this.ejectedNow;
  }

  isEjected(id: string): boolean {
    const s = this.state.get(id);
    return s !== undefined && s.until > 0;
  }

  /** When `id`'s ejection ends (ms, the clock's time), or 0 when it is in the set. */
  ejectedUntil(id: string): number {
    return this.state.get(id)?.until ?? 0;
  }

  /**
   * A connection to `id` failed (refused, timed out, reset before any response byte on a fresh
   * connection). Ejects it unless it is out already, unknown, unavailable anyway, or ejecting it
   * would take out more than the allowed fraction. True when it was ejected.
   */
  failure(id: string): boolean {
    const lb = this.lb();
    const h = lb.get(id);
    if (h === undefined || !h.available) return false;
    let s = this.state.get(id);
    if (s !== undefined && s.until > 0) return false;
    if (this.ejectedNow + 1 > Math.floor(lb.handles.length * this.fraction)) return false;
    const now = this.clock.now();
    if (s === undefined) {
      s = { count: 0, until: 0, lastEnd: 0, timer: null };
      this.state.set(id, s);
    } else if (now - s.lastEnd > 2 * this.max) s.count = 0; // in for long enough: start over
    s.count++;
    const ms = Math.min(this.max, this.base * 2 ** Math.min(16, s.count - 1));
    s.until = now + ms;
    this.ejectedNow++;
    lb.setAvailable(id, false);
    const t = this.clock.setTimeout(() => this.restore(id), ms);
    t.unref?.();
    s.timer = t;
    this.onEject();
    return true;
  }

  private restore(id: string): void {
    const s = this.state.get(id);
    if (s === undefined || s.until === 0) return;
    s.until = 0;
    s.timer = null;
    s.lastEnd = this.clock.now();
    this.ejectedNow--;
    this.lb().setAvailable(id, this.healthy(id));
  }

  /** The endpoint set changed: forget endpoints that left (their timers too). */
  retain(ids: ReadonlySet<string>): void {
    for (const [id, s] of this.state) {
      if (ids.has(id)) continue;
      if (s.timer !== null) this.clock.clearTimeout(s.timer);
      if (s.until > 0) this.ejectedNow--;
      this.state.delete(id);
    }
  }

  close(): void {
    for (const s of this.state.values()) if (s.timer !== null) this.clock.clearTimeout(s.timer);
    this.state.clear();
    this.ejectedNow = 0;
  }
}
