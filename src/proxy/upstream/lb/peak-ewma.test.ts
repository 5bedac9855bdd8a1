// PEAK_EWMA: simulated traffic on a FakeClock: slow and failing endpoints lose traffic, new and
// recovered ones gain it; the estimate is peak-sensitive and decays with the configured time constant.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FakeClock } from '../../../common/clock.js';
import { createLoadBalancer } from './create-lb.js';
import type { LoadBalancer } from './lb.js';
import { endpoint, endpoints, testOptions } from './lb-conformance.js';

interface Behaviour {
  latencyMs: number;
  ok: boolean;
}

/** `perMs` requests every ms for `ms`; each completes after its endpoint's latency. Counts picks. */
function simulate(
  lb: LoadBalancer,
  clock: FakeClock,
  ms: number,
  perMs: number,
  behaviour: (id: string) => Behaviour,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (let t = 0; t < ms; t++) {
    for (let k = 0; k < perMs; k++) {
      const h = lb.pick()!;
      h.onStart();
      counts.set(h.id, (counts.get(h.id) ?? 0) + 1);
      const b = behaviour(h.id);
      clock.setTimeout(() => h.onComplete(b.latencyMs, b.ok), b.latencyMs);
    }
    clock.advance(1);
  }
  return counts;
}

const share = (counts: Map<string, number>, id: string) =>
  (counts.get(id) ?? 0) / [...counts.values()].reduce((a, b) => a + b, 0);

describe('PEAK_EWMA', () => {
  it('is the default policy', async () => {
    const { DEFAULT_LB_POLICY } = await import('./create-lb.js');
    assert.equal(DEFAULT_LB_POLICY, 'PEAK_EWMA');
  });

  it('shifts traffic away from an endpoint 10x slower than the others', () => {
    const opts = testOptions();
    const eps = endpoints(4);
    const slow = eps[3]!.id;
    const lb = createLoadBalancer('PEAK_EWMA', opts, eps);
    const counts = simulate(lb, opts.clock, 30_000, 1, (id) => ({
      latencyMs: id === slow ? 100 : 10,
      ok: true,
    }));
    const s = share(counts, slow);
    assert.ok(s < 0.05, `slow endpoint got ${s}, 1/n would be 0.25`);
  });

  it('gives a new endpoint traffic at once, starting from the default RTT', () => {
    const opts = testOptions();
    const eps = endpoints(3);
    const lb = createLoadBalancer('PEAK_EWMA', opts, eps);
    simulate(lb, opts.clock, 5000, 2, () => ({ latencyMs: 10, ok: true }));
    const fresh = endpoint(4);
    lb.update([...eps, fresh]);
    assert.equal(lb.get(fresh.id)!.rttMs, 30);
    const counts = simulate(lb, opts.clock, 5000, 2, () => ({ latencyMs: 10, ok: true }));
    const s = share(counts, fresh.id);
    assert.ok(s > 0.15, `new endpoint got ${s}`);
  });

  it('sends traffic back to a slow endpoint once it recovers', () => {
    const opts = testOptions();
    const eps = endpoints(4);
    const lb = createLoadBalancer('PEAK_EWMA', opts, eps);
    let slowMs = 100;
    const behaviour = (id: string) => ({ latencyMs: id === eps[0]!.id ? slowMs : 10, ok: true });
    simulate(lb, opts.clock, 10_000, 1, behaviour);
    slowMs = 10;
    simulate(lb, opts.clock, 30_000, 1, behaviour);
    const s = share(simulate(lb, opts.clock, 10_000, 1, behaviour), eps[0]!.id);
    assert.ok(s > 0.15, `recovered endpoint got ${s}`);
  });

  it('does not let an endpoint that fails fast attract traffic', () => {
    const opts = testOptions();
    const eps = endpoints(4);
    const bad = eps[2]!.id;
    const lb = createLoadBalancer('PEAK_EWMA', opts, eps);
    const counts = simulate(lb, opts.clock, 20_000, 1, (id) =>
      id === bad ? { latencyMs: 1, ok: false } : { latencyMs: 10, ok: true },
    );
    const s = share(counts, bad);
    assert.ok(s < 0.1, `failing endpoint got ${s}`);
  });

  it('keeps a peak-sensitive estimate that decays with the time constant', () => {
    const opts = testOptions();
    const lb = createLoadBalancer('PEAK_EWMA', opts, [endpoint(1)]);
    const h = lb.pick()!;
    h.onStart();
    h.onComplete(100, true);
    assert.equal(h.rttMs, 100, 'a slower sample takes effect at once');
    opts.clock.advance(10_000);
    assert.ok(Math.abs(h.rttMs - 100 / Math.E) < 1e-9, 'decays toward 0 while idle (τ = 10 s)');
    h.onComplete(10, true);
    const want = 100 / Math.E + 10 * (1 - 1 / Math.E);
    assert.ok(Math.abs(h.rttMs - want) < 1e-9, `blends faster samples: ${h.rttMs} vs ${want}`);
    h.onComplete(Number.NaN, true);
    assert.ok(Math.abs(h.rttMs - want) < 1e-9, 'an unknown latency is no sample');
    assert.equal(h.inFlight, 0);
  });
});
