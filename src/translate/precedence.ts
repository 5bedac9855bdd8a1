// Gateway API match precedence as sort keys: routes are emitted most specific first, because
// Envoy and gRPC both take the first route that matches.
import type { GRPCRouteMatchConfig, HTTPRouteMatchConfig } from '../api/types.js';

/** Lexicographic sort key: lower sorts first. */
export type PrecedenceKey = readonly number[];

const PATH_TIER = { Exact: 0, RegularExpression: 1, PathPrefix: 2 } as const;

/**
 * HTTPRoute (spec, "Route precedence"): Exact path > longest PathPrefix (in characters) > has a
 * method match > most header matches > most query param matches. RegularExpression paths are
 * implementation-specific: Trellis puts them between Exact and PathPrefix, longer first.
 */
export function httpMatchKey(m: HTTPRouteMatchConfig): PrecedenceKey {
  return [
    PATH_TIER[m.path.type],
    m.path.type === 'Exact' ? 0 : -m.path.value.length,
    m.method !== undefined ? 0 : 1,
    -m.headers.length,
    -m.queryParams.length,
  ];
}

/**
 * GRPCRoute: an Exact match naming both service and method first; then the spec's order:
 * most characters in the service, then in the method (Exact before RegularExpression at equal
 * lengths), then most header matches. No method match sorts last.
 */
export function grpcMatchKey(m: GRPCRouteMatchConfig): PrecedenceKey {
  const method = m.method;
  const full = method?.type === 'Exact' && method.service !== undefined && method.method !== undefined;
  return [
    full ? 0 : 1,
    -(method?.service?.length ?? 0),
    -(method?.method?.length ?? 0),
    method?.type === 'Exact' ? 0 : 1,
    -m.headers.length,
  ];
}

export function compareKeys(a: PrecedenceKey, b: PrecedenceKey): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
