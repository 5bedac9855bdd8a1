// ResetBudget: the rapid-reset policy of mesh HTTP/2 connections (./reset-budget.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PREMATURE_MS, ResetBudget } from './reset-budget.js';

describe('ResetBudget (rapid reset on a shared mesh connection)', () => {
  it('a flood of open-then-reset streams trips just past the limit', () => {
    const b = new ResetBudget(200, 10_000);
    let tripped = -1;
    for (let i = 0; i < 1000 && tripped < 0; i++) if (b.reset(5_000 + i, 5_000 + i)) tripped = i + 1;
    assert.equal(tripped, 201);
  });

  it('a peer cancelling fewer streams than it completes never trips, however many', () => {
    const b = new ResetBudget(200, 10_000);
    for (let i = 0; i < 50_000; i++) {
      const now = 1_000 + i;
      b.completed(now);
      assert.equal(b.reset(now, now - 5), false, `reset ${i}`);
    }
  });

  it('interleaving completions only halves a flood: past the limit with more resets than completions it trips', () => {
    const b = new ResetBudget(200, 10_000);
    let tripped = false;
    for (let i = 0; i < 2000 && !tripped; i++) {
      const now = 1_000 + i;
      if (i % 3 === 0) b.completed(now);
      tripped = b.reset(now, now) || b.reset(now, now);
    }
    assert.ok(tripped);
  });

  it('resets of streams older than the premature threshold (client timeouts) never count', () => {
    const b = new ResetBudget(200, 10_000);
    for (let i = 0; i < 5_000; i++) {
      const now = 100_000 + i;
      assert.equal(b.reset(now, now - PREMATURE_MS), false);
    }
  });

  it('counts start over each window', () => {
    const b = new ResetBudget(200, 10_000);
    for (let i = 0; i < 200; i++) assert.equal(b.reset(1_000, 1_000), false);
    // A new window: 200 more are within the limit again.
    for (let i = 0; i < 200; i++) assert.equal(b.reset(12_000, 12_000), false);
    assert.equal(b.reset(12_000, 12_000), true);
  });
});
