// RING_HASH: the same key always maps to the same endpoint, adding a 5th endpoint moves ~1/5 of keys
// (all to it), removals and health changes move only the affected endpoint's keys, shares are even.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLoadBalancer } from './create-lb.js';
import { hashString, requestHash } from './hash.js';
import type { Endpoint, LoadBalancer } from './lb.js';
import { endpoint, endpoints, testOptions } from './lb-conformance.js';
import { ringReplicas } from './ring-hash.js';

const KEYS = Array.from({ length: 20_000 }, (_, i) => `session-${i}`);
const ring = (eps: readonly Endpoint[]) => createLoadBalancer('RING_HASH', testOptions(), eps);
const mapKeys = (lb: LoadBalancer) => KEYS.map((k) => lb.pick({ hash: k })!.id);

describe('RING_HASH', () => {
  it('maps the same key to the same endpoint, whatever the endpoint order', () => {
    const eps = endpoints(6);
    const a = mapKeys(ring(eps));
    assert.deepEqual(mapKeys(ring(eps)), a);
    assert.deepEqual(mapKeys(ring([...eps].reverse())), a);
    const lb = ring(eps);
    for (let i = 0; i < 100; i++) assert.equal(lb.pick({ hash: 'user-7' }), lb.pick({ hash: 'user-7' }));
  });

  it('moves about 1/5 of keys, all to the new endpoint, when a 5th endpoint joins', () => {
    const eps = endpoints(4);
    const lb = ring(eps);
    const before = mapKeys(lb);
    const fifth = endpoint(5);
    lb.update([...eps, fifth]);
    const after = mapKeys(lb);
    const moved = before.filter((id, i) => id !== after[i]);
    const frac = moved.length / KEYS.length;
    assert.ok(frac > 0.14 && frac < 0.26, `moved ${frac}`);
    assert.ok(
      after.every((id, i) => id === before[i] || id === fifth.id),
      'keys move only to the new endpoint',
    );
  });

  it('moves only the keys of a removed or unavailable endpoint, and takes them back', () => {
    const eps = endpoints(5);
    const lb = ring(eps);
    const before = mapKeys(lb);
    const gone = eps[2]!.id;
    lb.setAvailable(gone, false);
    const down = mapKeys(lb);
    assert.ok(down.every((id, i) => (before[i] === gone ? id !== gone : id === before[i])));
    lb.setAvailable(gone, true);
    assert.deepEqual(mapKeys(lb), before);
    lb.update(eps.filter((e) => e.id !== gone));
    assert.deepEqual(mapKeys(lb), down, 'removal moves keys exactly as unavailability does');
  });

  it('spreads keys evenly and by weight', () => {
    const eps = endpoints(10);
    const counts = new Map<string, number>();
    for (const id of mapKeys(ring(eps))) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const e of eps) {
      const s = (counts.get(e.id) ?? 0) / KEYS.length;
      assert.ok(s > 0.07 && s < 0.13, `${e.id} got ${s} of keys`);
    }
    const weighted = ring([endpoint(1, 2), endpoint(2, 1)]);
    const heavy = mapKeys(weighted).filter((id) => id === endpoint(1).id).length / KEYS.length;
    assert.ok(Math.abs(heavy - 2 / 3) < 0.06, `weight 2 of 3 got ${heavy}`);
  });

  it('sizes the ring to at least minRingSize, in proportion to weight', () => {
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.ok(sum(ringReplicas([1, 1, 1], 1024, 1 << 20)) >= 1024);
    assert.deepEqual(ringReplicas([1, 1, 1, 1], 1024, 1 << 20), [256, 256, 256, 256]);
    assert.deepEqual(ringReplicas([1, 1, 1, 1, 1], 1024, 1 << 20), [256, 256, 256, 256, 256]);
    assert.deepEqual(ringReplicas([3, 1], 1024, 1 << 20), [768, 256]);
    assert.ok(sum(ringReplicas([1e6, 1], 1024, 4096)) <= 4096 + 1);
  });

  it('retries a key on the next endpoint along the ring when the first is excluded', () => {
    const lb = ring(endpoints(5));
    const first = lb.pick({ hash: 'cart-42' })!;
    const second = lb.pick({ hash: 'cart-42', exclude: first })!;
    assert.notEqual(second, first);
    assert.equal(lb.pick({ hash: 'cart-42', exclude: [first] }), second, 'deterministic');
    lb.setAvailable(first.id, false);
    assert.equal(lb.pick({ hash: 'cart-42' }), second, 'same as the key moving on unavailability');
  });

  it('hashes strings and numbers into 30 bits, deterministically', () => {
    assert.equal(hashString('abc'), hashString('abc'));
    assert.notEqual(hashString('abc'), hashString('abd'));
    for (const k of ['', 'a', 'ab', 'ünïcode', 'x'.repeat(1000), 0, 1, 2 ** 32 - 1]) {
      const h = requestHash(k);
      assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 30, `${String(k)} -> ${h}`);
    }
    const top = new Set(Array.from({ length: 1000 }, (_, i) => requestHash(i) >>> 26));
    assert.equal(top.size, 16, 'sequential numbers spread over the whole space');
  });
});
