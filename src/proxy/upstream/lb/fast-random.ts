// The pick path's random numbers: mulberry32 seeded from the injected random. Returns 30-bit
// integers (V8 small integers), since a float returned from a call can allocate a HeapNumber.

export const RAND_SPACE = 2 ** 30;

export class FastRandom {
  private readonly state = new Uint32Array(1);

  /** `seed` is the injected random (uniform in [0, 1)), read once: tests stay deterministic. */
  constructor(seed: () => number) {
    this.state[0] = Math.floor(seed() * 2 ** 32);
  }

  /** Uniform integer in [0, 2^30). */
  next30(): number {
    const a = ((this.state[0] as number) + 0x6d2b79f5) | 0;
    this.state[0] = a;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 2;
  }

  /** Uniform integer in [0, n), n ≤ 2^30. */
  below(n: number): number {
    return Math.floor((this.next30() * n) / RAND_SPACE);
  }
}
