// LDS for a gateway port whose listeners have protocol TLS (tls.mode Passthrough): the TLSRoutes
// attached to them, translated as Envoy does TLS passthrough. A tls_inspector listener filter reads
// the ClientHello's SNI without terminating; one filter chain per route and listener, matched on
// transport_protocol "tls" and server_names (the route's hostnames intersected with the
// listener's; none when both have none), runs a tcp_proxy to the route's backend cluster (or
// weighted_clusters). A ClientHello no chain matches, or anything that is not TLS, is closed.
import type { GatewayListenerConfig, GatewayResource, TLSRouteResource } from '../api/types.js';
import { intersectHostnames, isWild } from '../api/gateway-hostnames.js';
import { LISTENER_TYPE } from '../xds/type-urls.js';
import { vocabulary } from './node.js';
import { socketAddress, TCP_PROXY_TYPE, TLS_INSPECTOR_TYPE, type XdsResource } from './proto.js';
import { backendCluster, type ActionContext } from './route-action.js';
import type { ConfigIndex } from './snapshot-index.js';

type Obj = Record<string, unknown>;

/** True when a Gateway port is a TLS passthrough one (analyze keeps a port to one protocol). */
export const isPassthroughPort = (gw: GatewayResource, port: number): boolean =>
  gw.spec.listeners.some((l) => l.port === port && l.protocol === 'TLS');

/** Listener hostname specificity: exact, then longer wildcards, then none. */
const rank = (l: GatewayListenerConfig): number =>
  l.hostname === undefined ? 0 : isWild(l.hostname) ? 1_000 + l.hostname.length : 1_000_000;

/** The TLSRoutes a listener accepts, oldest key first (`namespace/name`, Gateway API tie-break). */
function routesOf(index: ConfigIndex, gw: GatewayResource, l: GatewayListenerConfig): TLSRouteResource[] {
  const gns = gw.metadata.namespace;
  return index.tlsRoutes
    .filter(
      (r) =>
        (l.allowedRoutesFrom === 'All' || r.metadata.namespace === gns) &&
        r.spec.parentRefs.some(
          (p) =>
            p.namespace === gns &&
            p.name === gw.metadata.name &&
            (p.sectionName === undefined || p.sectionName === l.name) &&
            (p.port === undefined || p.port === l.port),
        ),
    )
    .sort((a, b) => {
      const ka = `${a.metadata.namespace}/${a.metadata.name}`;
      const kb = `${b.metadata.namespace}/${b.metadata.name}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
}

/** tcp_proxy's cluster (or weighted_clusters) for a route; undefined: no valid backend. */
function clusterSpec(index: ConfigIndex, r: TLSRouteResource): Obj | undefined {
  const ctx: ActionContext = { services: index.services, kind: vocabulary('gateway'), parentPort: 0 };
  const weights = new Map<string, number>();
  for (const b of r.spec.rules.flatMap((rule) => rule.backendRefs)) {
    if (b.weight <= 0) continue;
    const name = backendCluster(ctx, b);
    if (name !== undefined) weights.set(name, (weights.get(name) ?? 0) + b.weight);
  }
  if (weights.size === 0) return undefined;
  if (weights.size === 1) return { cluster: [...weights.keys()][0] };
  return { weighted_clusters: { clusters: [...weights].map(([name, weight]) => ({ name, weight })) } };
}

/** `trellis_gateway_<address>_<port>` for a TLS passthrough port. */
export function passthroughListener(
  index: ConfigIndex,
  gw: GatewayResource,
  name: string,
  address: string,
  port: number,
): XdsResource {
  const listeners = gw.spec.listeners
    .filter((l) => l.port === port && l.protocol === 'TLS')
    .sort((a, b) => rank(b) - rank(a));
  const claimed = new Set<string>();
  let catchAll = false;
  const chains: Obj[] = [];
  for (const l of listeners)
    for (const r of routesOf(index, gw, l)) {
      const spec = clusterSpec(index, r);
      if (spec === undefined) continue;
      // A server name goes to the most specific listener, then the oldest route (Envoy refuses
      // two chains with the same match).
      const hosts = intersectHostnames(r.spec.hostnames, l.hostname).filter(
        (h) => !claimed.has(h) && !listeners.some((o) => rank(o) > rank(l) && o.hostname === h),
      );
      if (hosts.length === 0) continue;
      const any = hosts.includes('*');
      if (any && catchAll) continue;
      const names = hosts.filter((h) => h !== '*');
      names.forEach((h) => claimed.add(h));
      if (any) catchAll = true;
      const base = {
        name: `TLSRoute/${r.metadata.namespace}/${r.metadata.name}/${l.name}`,
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: name, ...spec },
          },
        ],
      };
      if (names.length > 0)
        chains.push({ ...base, filter_chain_match: { transport_protocol: 'tls', server_names: names } });
      if (any)
        chains.push({
          ...base,
          name: `${base.name}/any`,
          filter_chain_match: { transport_protocol: 'tls' },
        });
    }
  // Chains with server names first, the catch-all (no server_names) last.
  chains.sort(
    (a, b) =>
      ((a['filter_chain_match'] as Obj)['server_names'] === undefined ? 1 : 0) -
      ((b['filter_chain_match'] as Obj)['server_names'] === undefined ? 1 : 0),
  );
  return {
    '@type': LISTENER_TYPE,
    name,
    address: socketAddress(address, port),
    traffic_direction: 'OUTBOUND',
    listener_filters: [
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR_TYPE } },
    ],
    filter_chains: chains,
  };
}
