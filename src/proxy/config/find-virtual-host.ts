// Picks the virtual host for a Host/:authority in a route table, with Envoy's domain precedence:
// exact, then the longest `*.suffix`, then the longest `prefix*`, then `*`.
import type { RouteTableConfig, VirtualHostConfig } from './types.js';

/** `host` as sent (any case, with or without port). */
export function findVirtualHost(table: RouteTableConfig, host: string): VirtualHostConfig | undefined {
  const h = host.toLowerCase();
  const exact = table.exactDomains.get(h);
  if (exact !== undefined) return exact;
  let best: VirtualHostConfig | undefined;
  let bestRank = -1;
  for (const vh of table.virtualHosts) {
    for (const d of vh.domains) {
      let rank = -1;
      if (d === '*') rank = 0;
      else if (d.startsWith('*') && h.endsWith(d.slice(1)) && h.length > d.length - 1)
        rank = 2_000_000 + d.length;
      else if (d.endsWith('*') && h.startsWith(d.slice(0, -1)) && h.length > d.length - 1)
        rank = 1_000_000 + d.length;
      if (rank > bestRank) {
        bestRank = rank;
        best = vh;
      }
    }
  }
  return best;
}
