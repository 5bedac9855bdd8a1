// Capped, jittered exponential backoff for reconnecting to the control plane ("equal jitter":
// half the exponential step fixed, half random, so delays never collapse to zero).

export interface BackoffOptions {
  /** First delay's upper bound in ms (default 500). */
  readonly initialMs?: number;
  /** Cap in ms (default 30 000). */
  readonly maxMs?: number;
  /** Uniform in [0, 1): injected so tests are deterministic. */
  readonly random: () => number;
}

export interface Backoff {
  /** The delay before the next attempt; each call doubles the step up to the cap. */
  next(): number;
  /** Back to the initial step (after a stream that delivered a response). */
  reset(): void;
  readonly attempts: number;
}

export function createBackoff(opts: BackoffOptions): Backoff {
  const initial = Math.max(1, opts.initialMs ?? 500);
  const max = Math.max(initial, opts.maxMs ?? 30_000);
  let attempts = 0;
  return {
    next() {
      const step = Math.min(max, initial * 2 ** Math.min(attempts, 30));
      attempts++;
      return Math.round(step / 2 + opts.random() * (step / 2));
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}
