// Runs the shared load-balancer conformance suite for every policy createLoadBalancer knows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrellisError } from '../../../common/errors.js';
import { createLoadBalancer } from './create-lb.js';
import type { LbPolicy } from './lb.js';
import { allocatedDuring, runLbConformance, testOptions } from './lb-conformance.js';

runLbConformance('ROUND_ROBIN', { weightTolerance: 0.001 });
runLbConformance('RANDOM', { weightTolerance: 0.05 });
runLbConformance('LEAST_REQUEST', { weightTolerance: 0.05 });
runLbConformance('PEAK_EWMA', { weightTolerance: 0.05 });
runLbConformance('RING_HASH', { weightTolerance: 0.2 });

describe('allocatedDuring (the conformance allocation probe)', () => {
  it('sees allocation when there is some', () => {
    const keep: object[] = [];
    const bytes = allocatedDuring(() => {
      for (let i = 0; i < 1_000_000; i++) keep[i & 7] = { i };
    });
    assert.ok(bytes > 10_000_000, `saw only ${bytes} bytes`);
  });
});

describe('createLoadBalancer', () => {
  it('rejects an unknown policy with INVALID_CONFIG', () => {
    assert.throws(
      () => createLoadBalancer('MAGLEV' as LbPolicy, testOptions()),
      (e: unknown) => e instanceof TrellisError && e.code === 'INVALID_CONFIG',
    );
  });
});
