// The shared retry rules: which failures a policy retries, when retrying must stop, the back-off
// curve, and the replay buffer's limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RETRY_ON, type RetryPolicy } from '../config/types.js';
import {
  backoffMs,
  DEFAULT_RETRY,
  FAILURE,
  REPLAY_LIMIT,
  ReplayBuffer,
  replayFor,
  retriesOn,
  retryDelay,
  staleConnectionRetry,
} from './retry.js';

const policy: RetryPolicy = {
  numRetries: 2,
  on: RETRY_ON.connectFailure | RETRY_ON.reset | RETRY_ON.retriableStatusCodes | RETRY_ON.perTryTimeout,
  statusCodes: [503],
  grpcStatuses: [14],
  baseIntervalMs: 100,
  maxIntervalMs: 1000,
  perTryTimeoutMs: 0,
};
const fresh = { attempts: 1, respStarted: false, replayable: true, deadline: 0, now: 1000 };
const half = () => 0.5;

test('retriesOn: conditions, status codes, gRPC statuses, 5xx and gateway-error', () => {
  assert.ok(retriesOn(policy, FAILURE.connectFailure));
  assert.ok(retriesOn(policy, FAILURE.reset));
  assert.ok(!retriesOn(policy, FAILURE.refusedStream));
  assert.ok(retriesOn(policy, FAILURE.status, 503));
  assert.ok(!retriesOn(policy, FAILURE.status, 500));
  assert.ok(retriesOn(policy, FAILURE.status, 14, true));
  assert.ok(!retriesOn(policy, FAILURE.status, 503, true));
  const fiveXx = { ...policy, on: RETRY_ON.status5xx };
  assert.ok(retriesOn(fiveXx, FAILURE.status, 500) && !retriesOn(fiveXx, FAILURE.status, 429));
  const gw = { ...policy, on: RETRY_ON.gatewayError };
  assert.ok(retriesOn(gw, FAILURE.status, 504) && !retriesOn(gw, FAILURE.status, 500));
  // The default: connect failures and refused streams only.
  assert.ok(retriesOn(DEFAULT_RETRY, FAILURE.connectFailure));
  assert.ok(retriesOn(DEFAULT_RETRY, FAILURE.refusedStream));
  assert.ok(!retriesOn(DEFAULT_RETRY, FAILURE.reset));
  assert.ok(!retriesOn(DEFAULT_RETRY, FAILURE.status, 503));
});

test('retryDelay: stops when used up, after response bytes, without a replayable body, past the deadline', () => {
  assert.equal(retryDelay(policy, FAILURE.status, 503, false, fresh, half), 50);
  assert.equal(retryDelay(policy, FAILURE.status, 503, false, { ...fresh, attempts: 2 }, half), 100);
  assert.equal(retryDelay(policy, FAILURE.status, 503, false, { ...fresh, attempts: 3 }, half), -1);
  assert.equal(retryDelay(policy, FAILURE.status, 503, false, { ...fresh, respStarted: true }, half), -1);
  assert.equal(retryDelay(policy, FAILURE.reset, 0, false, { ...fresh, replayable: false }, half), -1);
  assert.equal(retryDelay(policy, FAILURE.status, 503, false, { ...fresh, deadline: 1040 }, half), -1);
  assert.equal(retryDelay(policy, FAILURE.status, 503, false, { ...fresh, deadline: 1100 }, half), 50);
  assert.equal(retryDelay(policy, FAILURE.status, 500, false, fresh, half), -1);
  assert.equal(retryDelay({ ...policy, numRetries: 0 }, FAILURE.connectFailure, 0, false, fresh, half), -1);
  // The default retries once, at once.
  assert.equal(retryDelay(DEFAULT_RETRY, FAILURE.connectFailure, 0, false, fresh, half), 0);
  assert.equal(
    retryDelay(DEFAULT_RETRY, FAILURE.connectFailure, 0, false, { ...fresh, attempts: 2 }, half),
    -1,
  );
});

test('backoffMs: full jitter under a doubling ceiling, capped', () => {
  const top = () => 0.999999;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10].map((n) => backoffMs(policy, n, top)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(
    backoffMs(policy, 3, () => 0),
    0,
  );
  assert.equal(backoffMs(DEFAULT_RETRY, 1, top), 0);
});

test('ReplayBuffer keeps the body up to its limit, then gives up', () => {
  const r = new ReplayBuffer(10);
  r.push(Buffer.from('12345'));
  r.push(Buffer.from('67890'));
  assert.equal(Buffer.concat(r.chunks).toString(), '1234567890');
  assert.ok(!r.overflowed);
  r.push(Buffer.from('x'));
  assert.ok(r.overflowed);
  assert.equal(r.chunks.length, 0);
  assert.equal(replayFor(undefined, true, 10), null);
  assert.equal(replayFor(policy, false, -1), null);
  assert.equal(replayFor({ ...policy, numRetries: 0 }, true, 10), null);
  assert.equal(replayFor(policy, true, REPLAY_LIMIT + 1), null);
  assert.ok(replayFor(policy, true, -1) instanceof ReplayBuffer);
});

test('staleConnectionRetry: once, on a reused connection, when safe', () => {
  assert.ok(staleConnectionRetry(true, false, true, true));
  assert.ok(staleConnectionRetry(true, false, false, false));
  assert.ok(!staleConnectionRetry(true, false, false, true));
  assert.ok(!staleConnectionRetry(false, false, true, false));
  assert.ok(!staleConnectionRetry(true, true, true, false));
});
