// The per-request load balancer interface: endpoints in, one endpoint handle out per pick().
// Handles are per-endpoint objects owned by the balancer, so pick() allocates nothing.
import type { Clock } from '../../../common/clock.js';

/** One upstream endpoint as the cluster knows it. Immutable; `id` is "ip:port". */
export interface Endpoint {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** Relative weight, > 0 (EDS load_balancing_weight). Bad values are treated as 1. */
  readonly weight: number;
}

/**
 * What pick() returns: the endpoint plus the load state the balancer keeps for it. The same object
 * is returned for the same endpoint for as long as it stays in the set (and survives update()).
 * Call onStart() when the request is sent and onComplete() exactly once when it ends; this works
 * even after the endpoint was removed by update(), so in-flight accounting never breaks.
 */
export interface EndpointHandle<E extends Endpoint = Endpoint> {
  readonly endpoint: E;
  readonly id: string;
  /** Normalized weight used for balancing. */
  readonly weight: number;
  /** Requests started and not yet completed. */
  readonly inFlight: number;
  /** False while health checking / outlier detection has it marked unavailable. */
  readonly available: boolean;
  /** True once update() dropped it; its in-flight requests may still complete. */
  readonly removed: boolean;
  /** Peak-sensitive RTT estimate in ms, decayed to now (kept for every policy; PEAK_EWMA uses it). */
  readonly rttMs: number;
  onStart(): void;
  /**
   * The request ended. `latencyMs` is its round-trip time (pass NaN when unknown, e.g. cancelled:
   * then only the in-flight count changes). `ok = false` records a failure: the RTT sample is
   * raised to at least `failurePenalty ×` the current estimate, so fast failures don't attract traffic.
   */
  onComplete(latencyMs: number, ok: boolean): void;
}

/** Per-pick input. Reuse one object per request (or per retry) on the hot path. */
export interface PickContext<E extends Endpoint = Endpoint> {
  /** Request hash for RING_HASH (a header value, or a precomputed 32-bit hash); ignored by others. */
  hash?: number | string;
  /**
   * Endpoints to avoid, e.g. those already tried by earlier attempts of a retried request. A
   * preference, as Envoy's previous_hosts predicate: when every candidate is excluded, the pick
   * ignores the exclusion (a one-endpoint cluster can still be retried).
   */
  exclude?: EndpointHandle<E> | readonly EndpointHandle<E>[];
}

export type LbPolicy = 'ROUND_ROBIN' | 'RANDOM' | 'LEAST_REQUEST' | 'PEAK_EWMA' | 'RING_HASH';

export interface LoadBalancer<E extends Endpoint = Endpoint> {
  readonly policy: LbPolicy;
  /**
   * One endpoint for one request, or undefined when the set is empty or no endpoint is available
   * (and panic mode is off). Never returns an unavailable endpoint while an available one exists,
   * unless panic mode is on (see LoadBalancerOptions.panicThreshold). O(1) or O(log n), no allocation.
   */
  pick(ctx?: PickContext<E>): EndpointHandle<E> | undefined;
  /**
   * Replace the endpoint set; takes effect for the next pick. Endpoints that stay (same id) keep
   * their handle and state (in-flight, RTT, availability); new ones start available with the
   * default RTT; duplicates of an id after the first are ignored.
   */
  update(endpoints: readonly E[]): void;
  /** Mark an endpoint (un)available (health checking, outlier detection). False if the id is unknown. */
  setAvailable(id: string, available: boolean): boolean;
  /** Current endpoints' handles, in update() order (for admin /clusters). */
  readonly handles: readonly EndpointHandle<E>[];
  get(id: string): EndpointHandle<E> | undefined;
  readonly availableCount: number;
  /** True while fewer than panicThreshold of the endpoints are available and all are used. */
  readonly panicking: boolean;
}

export interface LoadBalancerOptions {
  readonly clock: Clock;
  /**
   * Uniform in [0, 1). Seeds the balancer's own allocation-free generator (mulberry32) and makes
   * build-time choices (round robin's starting offset), so a seeded random makes picks reproducible.
   */
  readonly random: () => number;
  /**
   * Envoy's healthy panic threshold as a fraction (0..1). When fewer than this fraction of the
   * endpoints are available, balance over all of them, ignoring availability. Default 0: never
   * panic; when no endpoint is available pick() returns undefined (the caller answers 503
   * "no healthy endpoint"), so an unavailable endpoint is never chosen.
   */
  readonly panicThreshold?: number;
  /** Candidates sampled per pick by LEAST_REQUEST and PEAK_EWMA. Default 2 (power of two choices). */
  readonly choiceCount?: number;
  /** RTT estimate a new endpoint starts with, ms. Default 30 (linkerd2-proxy). */
  readonly defaultRttMs?: number;
  /** EWMA time constant, ms. Default 10 000 (linkerd2-proxy, Finagle). */
  readonly decayMs?: number;
  /** A failed request's RTT sample is at least this multiple of the current estimate. Default 2. */
  readonly failurePenalty?: number;
  /** RING_HASH: minimum number of ring entries. Default 1024 (Envoy). */
  readonly minRingSize?: number;
  /** RING_HASH: maximum number of ring entries. Default 2^20. */
  readonly maxRingSize?: number;
}

export const LB_DEFAULTS = {
  panicThreshold: 0,
  choiceCount: 2,
  defaultRttMs: 30,
  decayMs: 10_000,
  failurePenalty: 2,
  minRingSize: 1024,
  maxRingSize: 1 << 20,
} as const;
