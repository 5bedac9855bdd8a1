// Reconciliation as a pure diff: desired Workloads (from the store) against the replicas that run,
// giving which replicas to stop and start; the same for Gateways.

export interface DesiredWorkload {
  readonly replicas: number;
  readonly fingerprint: string;
  /** Set when replicas cannot start: running ones are left alone, none is started. */
  readonly blocked?: boolean;
}

export interface RunningWorkload {
  /** Fingerprint the running replicas were started with. */
  readonly fingerprint: string;
  /** Replica indexes (1-based) that exist (starting, ready, or waiting to restart). */
  readonly indexes: readonly number[];
}

export type StopReason = 'scaled down' | 'removed' | 'changed';

export type PlanAction =
  | { readonly type: 'stop'; readonly key: string; readonly index: number; readonly reason: StopReason }
  | { readonly type: 'start'; readonly key: string; readonly index: number }
  /** A replica of a changed Workload, to be replaced by one of the new version (a rolling update). */
  | { readonly type: 'replace'; readonly key: string; readonly index: number };

/**
 * Stops come before starts and replacements. A Workload whose fingerprint changed has each of its
 * kept replicas replaced, in index order (the supervisor rolls them one at a time); scaling keeps
 * indexes 1..replicas, stopping the highest ones first.
 */
export function planWorkloads(
  desired: ReadonlyMap<string, DesiredWorkload>,
  running: ReadonlyMap<string, RunningWorkload>,
): PlanAction[] {
  const stops: PlanAction[] = [];
  const starts: PlanAction[] = [];
  const replaces: PlanAction[] = [];
  const keys = [...new Set([...running.keys(), ...desired.keys()])].sort();
  for (const key of keys) {
    const want = desired.get(key);
    const have = running.get(key);
    const indexes = [...(have?.indexes ?? [])].sort((a, b) => b - a);
    if (want === undefined) {
      for (const index of indexes) stops.push({ type: 'stop', key, index, reason: 'removed' });
      continue;
    }
    if (want.blocked) continue;
    const changed = have !== undefined && have.indexes.length > 0 && have.fingerprint !== want.fingerprint;
    const kept = new Set<number>();
    for (const index of indexes) {
      if (index > want.replicas) stops.push({ type: 'stop', key, index, reason: 'scaled down' });
      else kept.add(index);
    }
    for (let index = 1; index <= want.replicas; index++)
      if (!kept.has(index)) starts.push({ type: 'start', key, index });
      else if (changed) replaces.push({ type: 'replace', key, index });
  }
  return [...stops, ...starts, ...replaces];
}

/** Gateways to start and stop, by key. */
export function planGateways(
  desired: ReadonlySet<string>,
  running: ReadonlySet<string>,
): { start: string[]; stop: string[] } {
  return {
    start: [...desired].filter((k) => !running.has(k)).sort(),
    stop: [...running].filter((k) => !desired.has(k)).sort(),
  };
}
