// Retries, shared by the HTTP/1.1 and HTTP/2 exchanges: which failed attempt may be tried again (per
// the route's policy, or the safe default), the jittered back-off before it, and the request body
// kept for replay. Pure functions and one small buffer; the exchanges own the attempts themselves.
import type { EndpointConfig, RetryPolicy } from '../config/types.js';
import type { ClusterRuntime } from '../upstream/cluster-manager.js';
import type { EndpointHandle } from '../upstream/lb/lb.js';
import { ProxyError } from './rescue.js';
import { RETRY_ON } from '../config/types.js';

/** How an attempt failed (RETRY_ON bits, so a policy's `on` tests them directly). */
export const FAILURE = {
  connectFailure: RETRY_ON.connectFailure,
  refusedStream: RETRY_ON.refusedStream,
  /** Closed or reset before any response byte. */
  reset: RETRY_ON.reset,
  /** A response status (HTTP, or gRPC in a trailers-only response). */
  status: RETRY_ON.retriableStatusCodes,
  perTryTimeout: RETRY_ON.perTryTimeout,
} as const;
export type Failure = (typeof FAILURE)[keyof typeof FAILURE];

/**
 * Without a route policy: one more attempt, on another endpoint, after a connect failure or a
 * refused stream (nothing was processed), immediately. (A stale keep-alive connection is a separate,
 * free retry: see staleConnectionRetry.)
 */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  numRetries: 1,
  on: RETRY_ON.connectFailure | RETRY_ON.refusedStream,
  statusCodes: Object.freeze([]) as readonly number[],
  grpcStatuses: Object.freeze([]) as readonly number[],
  baseIntervalMs: 0,
  maxIntervalMs: 0,
  perTryTimeoutMs: 0,
});

/** A request body is kept for replay only up to this many bytes; a bigger one is not retried. */
export const REPLAY_LIMIT = 64 * 1024;

/** Whether `policy` retries a failure of this kind (`status`: the HTTP status, or the gRPC one). */
export function retriesOn(policy: RetryPolicy, kind: Failure, status = 0, grpc = false): boolean {
  const on = policy.on;
  if (kind !== FAILURE.status) return (on & kind) !== 0;
  if (grpc) return policy.grpcStatuses.includes(status);
  if ((on & RETRY_ON.retriableStatusCodes) !== 0 && policy.statusCodes.includes(status)) return true;
  if ((on & RETRY_ON.status5xx) !== 0 && status >= 500 && status <= 599) return true;
  return (on & RETRY_ON.gatewayError) !== 0 && status >= 502 && status <= 504;
}

/** What the exchange knows when an attempt failed. */
export interface AttemptState {
  /** Attempts made so far (the failed one included). */
  readonly attempts: number;
  /** Response bytes went to the client: nothing can be retried any more. */
  readonly respStarted: boolean;
  /** The whole request can be sent again: no body, a body not sent yet, or one kept in full. */
  readonly replayable: boolean;
  /** Absolute deadline of the whole request (ms, the plane's clock), 0 = none. */
  readonly deadline: number;
  readonly now: number;
}

/**
 * The delay before the next attempt, or -1 when the failure is final: the policy does not retry
 * it, retries are used up, the response started, the body cannot be replayed, or the back-off
 * would end past the request's deadline.
 */
export function retryDelay(
  policy: RetryPolicy,
  kind: Failure,
  status: number,
  grpc: boolean,
  s: AttemptState,
  random: () => number,
): number {
  if (s.respStarted || !s.replayable || s.attempts > policy.numRetries) return -1;
  if (!retriesOn(policy, kind, status, grpc)) return -1;
  const delay = backoffMs(policy, s.attempts, random);
  if (s.deadline > 0 && s.now + delay >= s.deadline) return -1;
  return delay;
}

/**
 * Envoy's fully jittered exponential back-off: uniform in [0, min(max, base × 2^(retry-1))], so
 * retries from many clients spread out. `retry` is 1 for the first retry.
 */
export function backoffMs(policy: RetryPolicy, retry: number, random: () => number): number {
  const base = policy.baseIntervalMs;
  if (base <= 0) return 0;
  const ceiling = Math.min(policy.maxIntervalMs, base * 2 ** Math.min(30, Math.max(0, retry - 1)));
  return Math.floor(random() * (ceiling + 1));
}

/**
 * A reused keep-alive connection that died before any response byte was most likely closed by the
 * server while idle: once per request, the request goes again on a fresh connection, when that is
 * safe (an idempotent method without a body, or no body byte sent yet).
 */
export function staleConnectionRetry(
  reused: boolean,
  alreadyRetried: boolean,
  idempotentNoBody: boolean,
  bodySent: boolean,
): boolean {
  return reused && !alreadyRetried && (idempotentNoBody || !bodySent);
}

/** The request body as it streamed upstream, kept (by reference) for a retry, up to REPLAY_LIMIT. */
export class ReplayBuffer {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  /** Past the limit: chunks were dropped and the body can no longer be replayed. */
  overflowed = false;

  constructor(private readonly limit = REPLAY_LIMIT) {}

  push(chunk: Buffer): void {
    if (this.overflowed) return;
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.overflowed = true;
      this.chunks.length = 0;
      return;
    }
    this.chunks.push(chunk);
  }
}

/**
 * A replay buffer for a request about to be forwarded under `policy`, or null when nothing needs
 * keeping (no policy retries, no body) or the body is announced bigger than the limit.
 */
export function replayFor(
  policy: RetryPolicy | undefined,
  hasBody: boolean,
  contentLength: number,
): ReplayBuffer | null {
  if (policy === undefined || policy.numRetries === 0 || !hasBody) return null;
  if (contentLength > REPLAY_LIMIT) return null;
  return new ReplayBuffer();
}

/** The header a retried attempt carries upstream (Envoy: x-envoy-attempt-count), first attempt = 1. */
export const ATTEMPT_HEADER = 'x-trellis-attempt-count';

/**
 * The endpoint for the next attempt: one not in `tried` when there is one (the load balancer
 * decides), else a NO_HEALTHY_UPSTREAM error saying whether the cluster has endpoints at all.
 */
export function pickEndpoint(
  cluster: ClusterRuntime,
  tried: readonly EndpointHandle<EndpointConfig>[] | null,
): EndpointHandle<EndpointConfig> {
  const h = tried === null ? cluster.lb.pick() : cluster.lb.pick({ exclude: tried });
  if (h !== undefined) return h;
  const n = cluster.lb.handles.length;
  throw new ProxyError(
    'NO_HEALTHY_UPSTREAM',
    n === 0
      ? `cluster "${cluster.config.name}" has no endpoints`
      : `cluster "${cluster.config.name}" has no healthy endpoint (${n} known)`,
  );
}
