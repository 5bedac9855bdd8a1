// Passive health: ejection after a failure, doubling durations, the half-of-the-cluster cap, and the
// control plane's own health kept when an ejection ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../../common/clock.js';
import { createLoadBalancer } from './create-lb.js';
import type { Endpoint } from './lb.js';
import { PassiveHealth } from './passive-health.js';

const eps = (n: number): Endpoint[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `10.0.0.${i + 1}:80`,
    address: `10.0.0.${i + 1}`,
    port: 80,
    weight: 1,
  }));

function setup(n: number, healthy: (id: string) => boolean = () => true) {
  const clock = new FakeClock();
  const lb = createLoadBalancer('ROUND_ROBIN', { clock, random: Math.random }, eps(n));
  let ejections = 0;
  const ph = new PassiveHealth(
    () => lb,
    healthy,
    clock,
    {},
    () => ejections++,
  );
  return { clock, lb, ph, count: () => ejections };
}

test('an ejected endpoint is not picked until its ejection ends', () => {
  const { clock, lb, ph, count } = setup(3);
  assert.ok(ph.failure('10.0.0.1:80'));
  assert.equal(count(), 1);
  assert.ok(ph.isEjected('10.0.0.1:80'));
  for (let i = 0; i < 30; i++) assert.notEqual(lb.pick()?.id, '10.0.0.1:80');
  assert.ok(!ph.failure('10.0.0.1:80'), 'already out');
  clock.advance(4_999);
  assert.ok(ph.isEjected('10.0.0.1:80'));
  clock.advance(1);
  assert.ok(!ph.isEjected('10.0.0.1:80'));
  assert.ok(lb.get('10.0.0.1:80')?.available);
});

test('repeat ejections double (5, 10, 20, 30 s cap) and start over after a quiet while', () => {
  const { clock, ph } = setup(4);
  const id = '10.0.0.2:80';
  const lengths: number[] = [];
  for (let i = 0; i < 5; i++) {
    ph.failure(id);
    lengths.push(ph.ejectedUntil(id) - clock.now());
    clock.advance(lengths[i] as number);
  }
  assert.deepEqual(lengths, [5_000, 10_000, 20_000, 30_000, 30_000]);
  clock.advance(60_001);
  ph.failure(id);
  assert.equal(ph.ejectedUntil(id) - clock.now(), 5_000);
});

test('never more than half of the endpoints are ejected', () => {
  const { ph } = setup(4);
  assert.ok(ph.failure('10.0.0.1:80'));
  assert.ok(ph.failure('10.0.0.2:80'));
  assert.ok(!ph.failure('10.0.0.3:80'));
  assert.equal(ph.ejectedCount, 2);
  const one = setup(1);
  assert.ok(!one.ph.failure('10.0.0.1:80'), 'a lone endpoint stays in');
});

test('the end of an ejection restores the control plane health; removed endpoints are forgotten', () => {
  const down = new Set<string>();
  const { clock, lb, ph } = setup(2, (id) => !down.has(id));
  ph.failure('10.0.0.1:80');
  down.add('10.0.0.1:80');
  clock.advance(5_000);
  assert.equal(lb.get('10.0.0.1:80')?.available, false);
  ph.failure('10.0.0.2:80');
  ph.retain(new Set(['10.0.0.1:80']));
  assert.equal(ph.ejectedCount, 0);
  ph.close();
});
