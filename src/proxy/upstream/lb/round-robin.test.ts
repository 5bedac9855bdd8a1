// ROUND_ROBIN: nginx's exact smooth sequence, plain rotation, long-weight scaling, availability.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLoadBalancer } from './create-lb.js';
import { endpoint, endpoints, testOptions } from './lb-conformance.js';
import { smoothWeightedSequence } from './round-robin.js';

describe('ROUND_ROBIN', () => {
  it('gives the smooth sequence a a b a c a a for weights 5:1:1 (as nginx)', () => {
    const [a, b, c] = [endpoint(1, 5), endpoint(2, 1), endpoint(3, 1)];
    const lb = createLoadBalancer('ROUND_ROBIN', testOptions({ random: () => 0 }), [a, b, c]);
    const name = new Map([
      [a.id, 'a'],
      [b.id, 'b'],
      [c.id, 'c'],
    ]);
    const seq = Array.from({ length: 14 }, () => name.get(lb.pick()!.id)).join('');
    assert.equal(seq, 'aabacaa'.repeat(2));
  });

  it('rotates through equal weights in order, from a random start', () => {
    const eps = endpoints(4);
    const lb = createLoadBalancer('ROUND_ROBIN', testOptions({ random: () => 0.5 }), eps);
    const ids = Array.from({ length: 8 }, () => lb.pick()!.id);
    assert.deepEqual(
      ids,
      [2, 3, 0, 1, 2, 3, 0, 1].map((i) => eps[i]!.id),
    );
  });

  it('reduces weights by their gcd and scales very large weight sums down', () => {
    assert.deepEqual([...smoothWeightedSequence([10, 20])], [1, 0, 1]);
    const seq = smoothWeightedSequence([1_000_000, 3_000_000, 1]);
    assert.ok(seq.length <= (1 << 14) + 3);
    const counts = [0, 0, 0];
    for (const i of seq) counts[i]!++;
    assert.ok(Math.abs(counts[1]! / counts[0]! - 3) < 0.01);
    assert.ok(counts[2]! >= 1, 'every endpoint keeps at least one slot');
  });

  it('skips unavailable endpoints and keeps the rest of the rotation', () => {
    const eps = endpoints(3);
    const lb = createLoadBalancer('ROUND_ROBIN', testOptions({ random: () => 0 }), eps);
    lb.setAvailable(eps[1]!.id, false);
    const ids = Array.from({ length: 4 }, () => lb.pick()!.id);
    assert.deepEqual(
      ids,
      [0, 2, 0, 2].map((i) => eps[i]!.id),
    );
  });
});
