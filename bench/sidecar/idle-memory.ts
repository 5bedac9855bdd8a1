// Idle memory once it has settled. A Node process's heap shrinks some seconds after start-up (V8's
// memory reducer): a sidecar's private pages drop from ~18 to ~13 MB in one step, 10 to 18 s after
// it started (sampled every second, 2026-11-29), and stay there while idle. Read earlier, "idle" RSS
// is ~5 MB too high, and the step does not show as a drift between two close readings. So every
// proxy is read together, after all of them have been idle for `minIdleMs` (25 s: past the latest
// step seen), and then every `everyMs` until two readings in a row agree for each process (or
// `maxExtraMs` passes).
import { memory, type MemoryStats } from '../xds-sim/proc-stats.js';
import { sleep } from './procs.js';

export interface SettleOptions {
  /** Idle time after the last process was ready before the first reading (ms). */
  minIdleMs: number;
  /** Time between readings (ms). */
  everyMs: number;
  /** Two readings agree when RSS differs by at most this many bytes. */
  toleranceBytes: number;
  /** Give up waiting for agreement after this long past the first reading (ms). */
  maxExtraMs: number;
}

export const SETTLE_DEFAULTS: SettleOptions = {
  minIdleMs: 25_000,
  everyMs: 2_000,
  toleranceBytes: 256 * 1024,
  maxExtraMs: 20_000,
};

export interface Settled {
  /** The last reading per pid (undefined: the process is gone). */
  stats: Map<number, MemoryStats | undefined>;
  /** Seconds from `readySince` to the last reading. */
  idleS: number;
  /** Whether every process's last two readings agreed. */
  agreed: boolean;
}

function read(pid: number): MemoryStats | undefined {
  try {
    return memory(pid);
  } catch {
    return undefined;
  }
}

/** Waits until `readySince + minIdleMs`, then reads every pid until two readings agree. */
export async function settledMemory(
  pids: readonly number[],
  readySince: number,
  o: SettleOptions = SETTLE_DEFAULTS,
): Promise<Settled> {
  const wait = readySince + o.minIdleMs - Date.now();
  if (wait > 0) await sleep(wait);
  const first = Date.now();
  let prev = new Map(pids.map((p) => [p, read(p)]));
  for (;;) {
    await sleep(o.everyMs);
    const cur = new Map(pids.map((p) => [p, read(p)]));
    const agreed = pids.every((p) => {
      const a = prev.get(p);
      const b = cur.get(p);
      return !a || !b || Math.abs(a.rssBytes - b.rssBytes) <= o.toleranceBytes;
    });
    prev = cur;
    if (agreed || Date.now() - first >= o.maxExtraMs)
      return { stats: cur, idleS: (Date.now() - readySince) / 1000, agreed };
  }
}
