// On-demand virtual host discovery bookkeeping: one pending promise per VHDS name shared by every
// caller, resolved when the virtual host and the clusters and endpoints it routes to have arrived
// (warm), when the control plane answers without it, or after a bounded wait.
import type { Clock, Timer } from '../../common/clock.js';
import type { VirtualHostConfig } from '../config/types.js';

/** A virtual host that is ready to serve, 'warming' (held, but its clusters/endpoints are not), or absent. */
export type VhostState = VirtualHostConfig | 'warming' | undefined;

interface Pending {
  readonly promise: Promise<VirtualHostConfig | undefined>;
  readonly resolve: (v: VirtualHostConfig | undefined) => void;
  readonly timer: Timer;
}

export class VhdsWaiters {
  private readonly pending = new Map<string, Pending>();
  /** Names the control plane has answered for (present or not): later calls resolve at once. */
  private readonly settled = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  isSettled(name: string): boolean {
    return this.settled.has(name);
  }

  /**
   * The shared promise for `name`; `created` is true when the caller must subscribe. On timeout it
   * resolves with `onTimeout()` (the virtual host if it is held, even if not warm yet).
   */
  wait(
    name: string,
    onTimeout: () => VirtualHostConfig | undefined,
  ): { promise: Promise<VirtualHostConfig | undefined>; created: boolean } {
    const p = this.pending.get(name);
    if (p) return { promise: p.promise, created: false };
    let resolve!: (v: VirtualHostConfig | undefined) => void;
    const promise = new Promise<VirtualHostConfig | undefined>((r) => (resolve = r));
    const timer = this.clock.setTimeout(() => this.finish(name, onTimeout()), this.timeoutMs);
    timer.unref?.();
    this.pending.set(name, { promise, resolve, timer });
    return { promise, created: true };
  }

  /** After a VHDS response: every pending name is answered, without a virtual host when absent; warming ones wait. */
  answered(lookup: (name: string) => VhostState): void {
    for (const name of [...this.pending.keys()]) {
      const state = lookup(name);
      if (state !== 'warming') this.finish(name, state);
    }
  }

  /** After any response: names whose virtual host became warm are resolved. */
  progress(lookup: (name: string) => VhostState): void {
    for (const name of [...this.pending.keys()]) {
      const state = lookup(name);
      if (state !== undefined && state !== 'warming') this.finish(name, state);
    }
  }

  /** Resolves every waiter with undefined (client closing). */
  cancelAll(): void {
    for (const name of [...this.pending.keys()]) this.finish(name, undefined, false);
  }

  private finish(name: string, vh: VirtualHostConfig | undefined, settle = true): void {
    const p = this.pending.get(name);
    if (!p) return;
    this.pending.delete(name);
    this.clock.clearTimeout(p.timer);
    if (settle) this.settled.add(name);
    p.resolve(vh);
  }
}
