// Coalesces bursts of snapshot changes: apply after a quiet period, never later than a bounded
// max delay; endpoint-only bursts take a faster path. Time comes from the injected Clock.
import type { Clock, Timer } from '../../common/clock.js';

export interface DebounceOptions {
  /** Quiet period after a config change (ms). */
  readonly quietMs: number;
  /** Longest a config change waits while changes keep coming (ms). */
  readonly maxDelayMs: number;
  /** Quiet period when every pending change is endpoint-only (ms). */
  readonly endpointsQuietMs: number;
  /** Longest an endpoint-only change waits (ms). */
  readonly endpointsMaxDelayMs: number;
}

export const DEFAULT_DEBOUNCE: DebounceOptions = {
  quietMs: 50,
  maxDelayMs: 500,
  endpointsQuietMs: 10,
  endpointsMaxDelayMs: 100,
};

export class Debouncer<T> {
  private pending: { value: T; endpointsOnly: boolean; firstAt: number } | undefined;
  private timer: Timer | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly opts: DebounceOptions,
    private readonly apply: (value: T, endpointsOnly: boolean) => void,
  ) {}

  /** Queues `value` (replacing any pending one); endpointsOnly stays true only if every queued change was. */
  offer(value: T, endpointsOnly: boolean): void {
    const now = this.clock.now();
    if (this.pending) {
      this.pending.value = value;
      this.pending.endpointsOnly &&= endpointsOnly;
    } else {
      this.pending = { value, endpointsOnly, firstAt: now };
    }
    const p = this.pending;
    const quiet = p.endpointsOnly ? this.opts.endpointsQuietMs : this.opts.quietMs;
    const max = p.endpointsOnly ? this.opts.endpointsMaxDelayMs : this.opts.maxDelayMs;
    const delay = Math.max(0, Math.min(quiet, p.firstAt + max - now));
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => this.flush(), delay);
    this.timer.unref?.();
  }

  /** Applies the pending value now, if any. */
  flush(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (p) this.apply(p.value, p.endpointsOnly);
  }

  hasPending(): boolean {
    return this.pending !== undefined;
  }

  /** Drops anything pending without applying it. */
  cancel(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}
