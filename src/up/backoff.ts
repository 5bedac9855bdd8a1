// Restart backoff for crashed replicas and gateways: capped exponential (0.5 s, 1 s, 2 s ... 30 s),
// back to the start once a process stayed up for a while. Pure: the caller passes uptime.

export interface RestartPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A run at least this long counts as healthy: the next crash starts the backoff over. */
  readonly resetAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialMs: 500, maxMs: 30_000, resetAfterMs: 10_000 };

/** Consecutive failures after a run that lasted `uptimeMs` and ended in a crash. */
export function failuresAfterCrash(previousFailures: number, uptimeMs: number, p: RestartPolicy): number {
  return uptimeMs >= p.resetAfterMs ? 1 : previousFailures + 1;
}

/** Delay before the restart that follows the `failures`-th consecutive crash (failures >= 1). */
export function restartDelayMs(failures: number, p: RestartPolicy): number {
  const n = Math.max(1, failures);
  // 2^(n-1) grows past any cap quickly; stop at 2^30 to stay in safe integers.
  const factor = 2 ** Math.min(n - 1, 30);
  return Math.min(p.maxMs, p.initialMs * factor);
}
