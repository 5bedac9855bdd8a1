// The shared conformance suite every load-balancing policy must pass (run by lb-conformance.test.ts),
// plus the helpers policy tests use: endpoints, a seeded random, pick counting, allocation measuring.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GCProfiler } from 'node:v8';
import { FakeClock } from '../../../common/clock.js';
import { createLoadBalancer } from './create-lb.js';
import type {
  Endpoint,
  EndpointHandle,
  LbPolicy,
  LoadBalancer,
  LoadBalancerOptions,
  PickContext,
} from './lb.js';

export function endpoint(i: number, weight = 1): Endpoint {
  const address = `10.0.${i >> 8}.${i & 255}`;
  return { id: `${address}:8080`, address, port: 8080, weight };
}

export function endpoints(n: number, weight = 1): Endpoint[] {
  return Array.from({ length: n }, (_, i) => endpoint(i + 1, weight));
}

/** mulberry32: a small deterministic PRNG, uniform in [0, 1). */
export function seededRandom(seed = 42): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function testOptions(
  extra: Omit<Partial<LoadBalancerOptions>, 'clock'> = {},
): LoadBalancerOptions & { clock: FakeClock } {
  return { clock: new FakeClock(), random: seededRandom(), ...extra };
}

/** Picks `n` times; ctxFor(i) gives each pick's context. Returns counts by endpoint id. */
export function countPicks(
  lb: LoadBalancer,
  n: number,
  ctxFor?: (i: number) => PickContext | undefined,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = lb.pick(ctxFor?.(i));
    assert.ok(h, 'pick returned undefined with endpoints available');
    counts.set(h.id, (counts.get(h.id) ?? 0) + 1);
  }
  return counts;
}

/** Bytes allocated on the JS heap while fn runs synchronously (GC-aware: sums across collections). */
export function allocatedDuring(fn: () => void): number {
  const profiler = new GCProfiler();
  profiler.start();
  fn();
  const end = process.memoryUsage().heapUsed;
  const { statistics } = profiler.stop();
  let total = 0;
  let prevAfter = statistics[0]?.beforeGC.heapStatistics.usedHeapSize ?? end;
  let first = true;
  for (const s of statistics) {
    if (!first) total += s.beforeGC.heapStatistics.usedHeapSize - prevAfter;
    first = false;
    prevAfter = s.afterGC.heapStatistics.usedHeapSize;
  }
  return total + Math.max(0, end - prevAfter);
}

export interface ConformanceOptions {
  /** Allowed relative error of each endpoint's share vs. its weight share over many picks. */
  readonly weightTolerance: number;
}

/** A context the ring hash needs to spread keys; other policies ignore the hash. */
const hashed = (i: number): PickContext => ({ hash: i });

export function runLbConformance(policy: LbPolicy, conf: ConformanceOptions): void {
  const make = (eps: readonly Endpoint[], extra: Omit<Partial<LoadBalancerOptions>, 'clock'> = {}) =>
    createLoadBalancer(policy, testOptions(extra), eps);

  describe(`${policy} load balancer conformance`, () => {
    it('returns undefined for an empty set, before and after updates', () => {
      const lb = make([]);
      assert.equal(lb.policy, policy);
      assert.equal(lb.pick(), undefined);
      assert.equal(lb.pick({ hash: 'k' }), undefined);
      lb.update(endpoints(2));
      assert.ok(lb.pick());
      lb.update([]);
      assert.equal(lb.pick(), undefined);
      assert.equal(lb.handles.length, 0);
    });

    it('picks only endpoints of the set, and the only one when there is one', () => {
      const lb = make([endpoint(1)]);
      for (let i = 0; i < 100; i++) assert.equal(lb.pick(hashed(i))?.id, endpoint(1).id);
      lb.update(endpoints(7));
      const ids = new Set(endpoints(7).map((e) => e.id));
      for (const id of countPicks(lb, 5000, hashed).keys()) assert.ok(ids.has(id));
      for (const id of countPicks(lb, 5000).keys()) assert.ok(ids.has(id));
    });

    it('never picks an unavailable endpoint while an available one exists', () => {
      const eps = endpoints(5);
      const lb = make(eps);
      assert.equal(lb.setAvailable(eps[0]!.id, false), true);
      lb.setAvailable(eps[2]!.id, false);
      lb.setAvailable(eps[4]!.id, false);
      assert.equal(lb.availableCount, 2);
      const counts = countPicks(lb, 20_000, hashed);
      assert.deepEqual([...counts.keys()].sort(), [eps[1]!.id, eps[3]!.id].sort());
      lb.setAvailable(eps[1]!.id, false);
      lb.setAvailable(eps[3]!.id, false);
      assert.equal(lb.pick(), undefined, 'all unavailable, no panic mode: undefined');
      assert.equal(lb.pick({ hash: 'x' }), undefined);
      lb.setAvailable(eps[2]!.id, true);
      assert.deepEqual([...countPicks(lb, 1000, hashed).keys()], [eps[2]!.id]);
      assert.equal(lb.setAvailable('10.9.9.9:1', false), false, 'unknown id');
      assert.equal(lb.panicking, false);
    });

    it('in panic mode (below panicThreshold available) balances over all endpoints', () => {
      const eps = endpoints(4);
      const lb = make(eps, { panicThreshold: 0.5 });
      lb.setAvailable(eps[0]!.id, false);
      lb.setAvailable(eps[1]!.id, false);
      assert.equal(countPicks(lb, 4000, hashed).size, 2, '2 of 4 available is not below 50%');
      lb.setAvailable(eps[2]!.id, false);
      assert.equal(countPicks(lb, 4000, hashed).size, 4);
      assert.equal(lb.panicking, true);
      lb.setAvailable(eps[3]!.id, false);
      assert.equal(countPicks(lb, 4000, hashed).size, 4, 'none available: still all');
    });

    it('respects weights over many picks', () => {
      const eps = [endpoint(1, 3), endpoint(2, 2), endpoint(3, 1), endpoint(4, 2)];
      const lb = make(eps);
      const n = 80_000;
      const counts = countPicks(lb, n, hashed);
      for (const e of eps) {
        const want = e.weight / 8;
        const got = (counts.get(e.id) ?? 0) / n;
        assert.ok(Math.abs(got - want) <= want * conf.weightTolerance, `${e.id}: share ${got}, want ${want}`);
      }
    });

    it('update() mid-traffic: removed endpoints leave at once, kept ones keep state, in-flight completes', () => {
      const [a, b, c, d] = endpoints(4) as [Endpoint, Endpoint, Endpoint, Endpoint];
      const lb = make([a, b, c]);
      const started: EndpointHandle[] = [];
      for (let i = 0; i < 60; i++) {
        const h = lb.pick(hashed(i))!;
        h.onStart();
        started.push(h);
      }
      const ha = lb.get(a.id)!;
      const hb = lb.get(b.id)!;
      lb.setAvailable(c.id, false);
      const aInFlight = ha.inFlight;
      const bInFlight = hb.inFlight;
      lb.update([b, c, { ...d, weight: 2 }]);
      assert.equal(ha.removed, true);
      assert.equal(lb.get(a.id), undefined);
      assert.equal(lb.get(b.id), hb, 'kept endpoints keep their handle');
      assert.equal(hb.inFlight, bInFlight);
      assert.equal(lb.get(c.id)!.available, false, 'availability survives update()');
      assert.equal(lb.get(d.id)!.weight, 2);
      const counts = countPicks(lb, 5000, hashed);
      assert.deepEqual([...counts.keys()].sort(), [b.id, d.id].sort());
      for (const h of started) h.onComplete(5, true);
      assert.equal(ha.inFlight, 0);
      assert.ok(aInFlight + bInFlight > 0);
      for (const h of lb.handles) assert.equal(h.inFlight, 0);
      ha.onComplete(5, true); // an extra completion never drives the count negative
      assert.equal(ha.inFlight, 0);
    });

    it('ignores duplicate ids and treats bad weights as 1', () => {
      const lb = make([endpoint(1), endpoint(1, 5), { ...endpoint(2), weight: Number.NaN }, endpoint(3, -1)]);
      assert.equal(lb.handles.length, 3);
      assert.deepEqual(
        lb.handles.map((h) => h.weight),
        [1, 1, 1],
      );
      assert.equal(countPicks(lb, 3000, hashed).size, 3);
    });

    it('exclude avoids the given endpoints, unless every candidate is excluded', () => {
      const eps = endpoints(3);
      const lb = make(eps);
      const [h0, h1, h2] = eps.map((e) => lb.get(e.id)!) as [EndpointHandle, EndpointHandle, EndpointHandle];
      for (let i = 0; i < 2000; i++) {
        assert.notEqual(lb.pick({ hash: i, exclude: h0 }), h0);
        assert.equal(lb.pick({ hash: i, exclude: [h0, h2] }), h1);
      }
      assert.ok(lb.pick({ hash: 1, exclude: [h0, h1, h2] }), 'all excluded: exclusion ignored');
      lb.setAvailable(h1.id, false);
      for (let i = 0; i < 200; i++) assert.equal(lb.pick({ hash: i, exclude: [h0] }), h2);
      const single = make([endpoint(9)]);
      const only = single.get(endpoint(9).id)!;
      assert.equal(single.pick({ exclude: only }), only, 'a one-endpoint cluster can still be retried');
    });

    for (const n of [3, 100]) {
      it(`picks 1e6 times quickly without allocating (${n} endpoints)`, () => {
        const lb = make(endpoints(n));
        const ctx: PickContext = { hash: 'user-1234' };
        let sink = 0;
        const loop = (count: number) => {
          for (let i = 0; i < count; i++) {
            const h = lb.pick(policy === 'RING_HASH' ? ctx : undefined)!;
            sink += h.inFlight;
            if ((i & 1023) === 0) {
              h.onStart();
              h.onComplete(1, true);
            }
          }
        };
        loop(200_000); // warm up: unoptimized code boxes floats, optimized pick code must not
        const t0 = performance.now();
        let bytes = allocatedDuring(() => loop(1_000_000));
        const ms = performance.now() - t0;
        // Steady state: a late (re)optimization can allocate in one run, a real per-pick cost in all.
        for (let run = 0; run < 2 && bytes >= 2_000_000; run++)
          bytes = allocatedDuring(() => loop(1_000_000));
        assert.equal(sink, 0);
        assert.ok(bytes < 2_000_000, `pick allocated ~${bytes} bytes over 1e6 picks`);
        assert.ok(ms < 3000, `1e6 picks took ${ms} ms`);
        // The retry path (exclude) allocates nothing either.
        const retry: PickContext = { hash: 'user-1234', exclude: [lb.pick(ctx)!] };
        const retries = (count: number) => {
          for (let i = 0; i < count; i++) sink += lb.pick(retry)!.inFlight;
        };
        retries(200_000);
        bytes = allocatedDuring(() => retries(1_000_000));
        for (let run = 0; run < 2 && bytes >= 2_000_000; run++)
          bytes = allocatedDuring(() => retries(1_000_000));
        assert.ok(bytes < 2_000_000, `pick with exclude allocated ~${bytes} bytes over 1e6 picks`);
      });
    }
  });
}
