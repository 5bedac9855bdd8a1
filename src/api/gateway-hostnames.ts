// Gateway API hostname matching, shared by analyze (routes whose hostnames match no listener) and
// translate (a gateway's virtual hosts): wildcard coverage and route/listener intersection.

/** `*.example.com`: a wildcard hostname. */
export const isWild = (h: string): boolean => h.startsWith('*.');

/**
 * True when hostname pattern `outer` (exact, `*.suffix`, or `*` for any) covers `inner` (exact or
 * `*.suffix`). `*.example.com` covers `a.example.com` and `a.b.example.com`, not `example.com`.
 */
export function covers(outer: string, inner: string): boolean {
  if (outer === '*' || outer === inner) return true;
  if (!isWild(outer) || inner === '*') return false;
  const suffix = outer.slice(1); // `.example.com`
  return inner.endsWith(suffix) && inner.length > suffix.length;
}

/**
 * The hostnames a route serves on a listener (Gateway API): the route's hostnames intersected with
 * the listener's. A route without hostnames takes the listener's (`*` when it has none); a wildcard
 * route hostname narrower than the listener's is kept, a broader one yields the listener's. Empty:
 * the route does not attach to this listener.
 */
export function intersectHostnames(
  routeHosts: readonly string[],
  listenerHost: string | undefined,
): string[] {
  const lh = listenerHost ?? '*';
  if (routeHosts.length === 0) return [lh];
  const out: string[] = [];
  for (const h of routeHosts) {
    const e = covers(lh, h) ? h : covers(h, lh) ? lh : undefined;
    if (e !== undefined && !out.includes(e)) out.push(e);
  }
  return out;
}
