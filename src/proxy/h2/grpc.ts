// gRPC over HTTP/2 details the proxy needs: recognising gRPC requests and the grpc-timeout header
// (parsed to ms; re-encoded reduced by the time spent in the proxy, never raised).

/** `application/grpc`, `application/grpc+proto`, `application/grpc-web...` are all gRPC-shaped. */
export function isGrpcContentType(ct: string | undefined): boolean {
  return ct !== undefined && ct.startsWith('application/grpc');
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** grpc-timeout (`1-8 digits` + H/M/S/m/u/n) in ms, rounded up; -1 when absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number {
  if (v === undefined || v.length < 2 || v.length > 9) return -1;
  const unit = UNIT_MS[v[v.length - 1] as string];
  if (unit === undefined) return -1;
  let n = 0;
  for (let i = 0; i < v.length - 1; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return Math.ceil(n * unit);
}

/** ms as a grpc-timeout value (at most 8 digits; coarser units for long deadlines). */
export function formatGrpcTimeout(ms: number): string {
  const m = Math.max(1, Math.floor(ms));
  if (m < 100_000_000) return `${m}m`;
  const s = Math.floor(m / 1000);
  if (s < 100_000_000) return `${s}S`;
  return `${Math.min(99_999_999, Math.floor(s / 3600))}H`;
}
