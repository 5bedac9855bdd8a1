// Runs the shared load-balancer conformance suite for every policy createLoadBalancer knows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocatedDuring, runLbConformance } from './lb-conformance.js';

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
