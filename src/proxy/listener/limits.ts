// Per-listener limits and timeouts (all configurable; defaults are on, unlike Envoy's headers timeout).
import { DEFAULT_H2_LIMITS, type H2Limits } from '../h2/h2-limits.js';
import { DEFAULT_H1_LIMITS, type H1Limits } from '../http/h1-types.js';

export interface ListenerLimits {
  /** A request head must be complete within this (slowloris) → 408 and close. Default 10 s. */
  readonly requestHeadersTimeoutMs: number;
  /** A keep-alive connection with no request in progress is closed after this. Default 60 s. */
  readonly idleTimeoutMs: number;
  /**
   * A request/stream (or an upgrade/CONNECT tunnel) with no byte moving either way for this long is
   * ended: 504 STREAM_IDLE_TIMEOUT if the response has not started, else the stream is cut (a
   * tunnel is closed). Checked on a coarse tick (1/8 of it), so the cut comes between
   * this and 9/8 of it after the last byte. Envoy's stream_idle_timeout. Default 5 min; 0 = off.
   */
  readonly streamIdleTimeoutMs: number;
  /** Connections per listener; more are refused at accept. Default 10 000. */
  readonly maxConnections: number;
  /** Header size / count limits (431), request line (414), chunk limits. */
  readonly h1: H1Limits;
  /** HTTP/2 settings and flood limits (h2/h2-limits.ts documents each default). */
  readonly h2: H2Limits;
}

export const DEFAULT_LISTENER_LIMITS: ListenerLimits = Object.freeze({
  requestHeadersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  streamIdleTimeoutMs: 300_000,
  maxConnections: 10_000,
  h1: DEFAULT_H1_LIMITS,
  h2: DEFAULT_H2_LIMITS,
});

export function listenerLimits(
  over: Partial<Omit<ListenerLimits, 'h1' | 'h2'>> & { h1?: Partial<H1Limits>; h2?: Partial<H2Limits> } = {},
): ListenerLimits {
  return Object.freeze({
    ...DEFAULT_LISTENER_LIMITS,
    ...over,
    h1: Object.freeze({ ...DEFAULT_H1_LIMITS, ...over.h1 }),
    h2: Object.freeze({ ...DEFAULT_H2_LIMITS, ...over.h2 }),
  });
}
