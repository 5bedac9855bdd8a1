// Debouncer: quiet period, bounded max delay, endpoint-only fast path, upgrade to a full change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../common/clock.js';
import { DEFAULT_DEBOUNCE, Debouncer } from './debounce.js';

function make(): { clock: FakeClock; d: Debouncer<number>; applied: [number, boolean][] } {
  const clock = new FakeClock();
  const applied: [number, boolean][] = [];
  const d = new Debouncer<number>(clock, DEFAULT_DEBOUNCE, (v, e) => applied.push([v, e]));
  return { clock, d, applied };
}

describe('Debouncer', () => {
  it('applies the latest value after the quiet period', () => {
    const { clock, d, applied } = make();
    d.offer(1, false);
    clock.advance(30);
    d.offer(2, false);
    clock.advance(30);
    assert.deepEqual(applied, []);
    clock.advance(20);
    assert.deepEqual(applied, [[2, false]]);
  });

  it('never waits longer than the max delay', () => {
    const { clock, d, applied } = make();
    for (let i = 0; i < 100; i++) {
      d.offer(i, false);
      clock.advance(10);
      if (applied.length) break;
    }
    assert.equal(applied.length, 1);
    assert.ok(clock.now() - 1_700_000_000_000 <= DEFAULT_DEBOUNCE.maxDelayMs + 10);
  });

  it('endpoint-only bursts take the fast path; a config change in the burst makes it full', () => {
    const { clock, d, applied } = make();
    d.offer(1, true);
    clock.advance(DEFAULT_DEBOUNCE.endpointsQuietMs);
    assert.deepEqual(applied, [[1, true]]);
    d.offer(2, true);
    d.offer(3, false);
    clock.advance(DEFAULT_DEBOUNCE.endpointsQuietMs);
    assert.equal(applied.length, 1);
    clock.advance(DEFAULT_DEBOUNCE.quietMs);
    assert.deepEqual(applied[1], [3, false]);
  });

  it('flush applies at once; cancel drops', () => {
    const { clock, d, applied } = make();
    d.offer(1, false);
    d.flush();
    assert.deepEqual(applied, [[1, false]]);
    d.offer(2, false);
    d.cancel();
    clock.advance(1000);
    assert.equal(applied.length, 1);
    assert.equal(clock.pending(), 0);
  });
});
