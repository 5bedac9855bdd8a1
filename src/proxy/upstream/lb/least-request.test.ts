// LEAST_REQUEST: prefers the less loaded endpoint; in-flight counts are normalized by weight.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLoadBalancer } from './create-lb.js';
import { countPicks, endpoint, endpoints, testOptions } from './lb-conformance.js';

describe('LEAST_REQUEST', () => {
  it('prefers the less loaded endpoint', () => {
    const eps = endpoints(3);
    const lb = createLoadBalancer('LEAST_REQUEST', testOptions(), eps);
    const busy = lb.get(eps[0]!.id)!;
    for (let i = 0; i < 10; i++) busy.onStart();
    lb.get(eps[1]!.id)!.onStart();
    const counts = countPicks(lb, 30_000);
    assert.equal(counts.get(eps[0]!.id) ?? 0, 0, 'the busiest never beats another candidate');
    assert.ok(counts.get(eps[2]!.id)! > counts.get(eps[1]!.id)! * 1.5);
  });

  it('balances in-flight requests in proportion to weight under sustained load', () => {
    const eps = [endpoint(1, 3), endpoint(2, 1)];
    const lb = createLoadBalancer('LEAST_REQUEST', testOptions(), eps);
    // Keep 40 requests in flight; each completion frees the oldest one.
    const queue = [];
    for (let i = 0; i < 20_000; i++) {
      const h = lb.pick()!;
      h.onStart();
      queue.push(h);
      if (queue.length > 40) queue.shift()!.onComplete(1, true);
    }
    const heavy = lb.get(eps[0]!.id)!.inFlight;
    const light = lb.get(eps[1]!.id)!.inFlight;
    assert.equal(heavy + light, 40);
    assert.ok(heavy / light >= 2 && heavy / light <= 4.5, `in flight ${heavy}:${light}, want ~3:1`);
  });
});
