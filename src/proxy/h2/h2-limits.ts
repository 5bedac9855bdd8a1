// HTTP/2 limits for downstream connections (prior-knowledge h2c today, ALPN h2 once mTLS lands):
// each default is documented here, next to the attack it bounds (see ../shared/notes/proxy-hardening.md).

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise; extra streams are refused (REFUSED_STREAM). Default 100 (Envoy edge guide; node's own default is 2^32-1). */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, enforced by node on each received header block (HEADERS + CONTINUATION): a larger one resets the stream, which bounds CONTINUATION floods (CVE-2024-27983). Default 64 KiB (Envoy: 60 KiB). */
  readonly maxHeaderListSize: number;
  /** Header fields per block; more resets the stream. Default 128 (node's default, Envoy: 100). */
  readonly maxHeaderListPairs: number;
  /** Invalid frames tolerated per session before it is closed (node default 1000). Default 100. */
  readonly maxSessionInvalidFrames: number;
  /** Streams refused (over the concurrency limit) per session before it is closed with ENHANCE_YOUR_CALM. Default 100 (node's). */
  readonly maxSessionRejectedStreams: number;
  /** Unacknowledged PINGs we send (node) — inbound ping floods are bounded by nghttp2's outbound-queue flood limit (1000 queued PING/SETTINGS acks → session closed). Default 10. */
  readonly maxOutstandingPings: number;
  /** SETTINGS entries accepted per frame (node's maxSettings). Default 32. */
  readonly maxSettings: number;
  /** Rapid reset (CVE-2023-44487): streams the peer resets before their response ended, per window; past it GOAWAY ENHANCE_YOUR_CALM and close. Default 200 per 10 s. */
  readonly rapidResetLimit: number;
  readonly rapidResetWindowMs: number;
  /** Per-session memory node may buffer (MB) before refusing new streams. Default 10 (node's). */
  readonly maxSessionMemoryMb: number;
  /** How long a connection may take to send enough bytes to tell the h2 preface from HTTP/1.1. Default 5 s. */
  readonly prefaceTimeoutMs: number;
  /** Receive window of the whole connection (per-stream windows stay at 64 KiB, so a slow reader buffers little). Default 1 MiB. */
  readonly connectionWindowSize: number;
}

export const DEFAULT_H2_LIMITS: H2Limits = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderListSize: 64 * 1024,
  maxHeaderListPairs: 128,
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
  maxOutstandingPings: 10,
  maxSettings: 32,
  rapidResetLimit: 200,
  rapidResetWindowMs: 10_000,
  maxSessionMemoryMb: 10,
  prefaceTimeoutMs: 5_000,
  connectionWindowSize: 1024 * 1024,
});
