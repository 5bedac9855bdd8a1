// Free loopback ports for replicas and their sidecars: random ports in 10000-19999 (below the
// kernel's ephemeral range, so no outgoing connection takes one before the child binds it; 15000-15999,
// Trellis's own defaults, excluded), each checked by binding and never handed out twice while held.
import { createServer } from 'node:net';

const LOW = 10_000;
const HIGH = 20_000;
const SKIP_LOW = 15_000;
const SKIP_HIGH = 16_000;

export function canBind(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

export class PortAllocator {
  private readonly held = new Set<number>();
  constructor(private readonly random: () => number = Math.random) {}

  /** `n` distinct free ports, now held until released. */
  async take(n: number): Promise<number[]> {
    const out: number[] = [];
    for (let tries = 0; out.length < n; tries++) {
      if (tries > 2000) {
        this.release(out);
        throw new Error(`no free loopback port found in ${LOW}-${HIGH - 1}`);
      }
      const p = LOW + Math.floor(this.random() * (HIGH - LOW));
      if ((p >= SKIP_LOW && p < SKIP_HIGH) || this.held.has(p)) continue;
      this.held.add(p);
      if (await canBind(p)) out.push(p);
      else this.held.delete(p);
    }
    return out;
  }

  /** Holds a port given by the user (a Workload's fixed port). */
  hold(port: number): void {
    this.held.add(port);
  }

  release(ports: Iterable<number>): void {
    for (const p of ports) this.held.delete(p);
  }
}
