// From the accepted resources of every type: the names the next subscriptions need (RDS from
// listeners, CDS from routes, EDS from clusters) and the frozen ProxyConfig the data plane runs.
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  SECRET_TYPE,
  VIRTUAL_HOST_TYPE,
} from '../../xds/type-urls.js';
import type { RouteConfigurationConfig } from '../config/decode.js';
import { buildRouteTable } from '../config/decode-route.js';
import type { TlsSecretConfig } from '../config/decode-tls.js';
import type {
  ClusterConfig,
  ClusterEndpointsConfig,
  ListenerConfig,
  ProxyConfig,
  RouteTableConfig,
  VirtualHostConfig,
} from '../config/types.js';
import type { TypeState } from './type-state.js';

export type States = ReadonlyMap<string, TypeState>;

function values<T>(states: States, typeUrl: string): T[] {
  const ts = states.get(typeUrl);
  return ts ? [...ts.resources.values()].map((h) => h.value as T) : [];
}

/** Route configuration names the listeners take from RDS. */
export function neededRouteNames(states: States): Set<string> {
  const out = new Set<string>();
  for (const l of values<ListenerConfig>(states, LISTENER_TYPE))
    if (l.routeSource.type === 'rds') out.add(l.routeSource.routeConfigName);
  return out;
}

function addClusters(out: Set<string>, vhs: readonly VirtualHostConfig[]): void {
  for (const vh of vhs)
    for (const r of vh.routes) {
      if (r.action.type !== 'forward') continue;
      for (const c of r.action.clusters) out.add(c.name);
      for (const m of r.action.mirrors) out.add(m.cluster);
    }
}

/** Clusters the routes name (RDS tables, VHDS virtual hosts, inline tables of listeners) and tcp_proxy filters. */
export function neededClusterNames(states: States): Set<string> {
  const out = new Set<string>();
  for (const rc of values<RouteConfigurationConfig>(states, ROUTE_TYPE)) addClusters(out, rc.virtualHosts);
  addClusters(out, values<VirtualHostConfig>(states, VIRTUAL_HOST_TYPE));
  for (const l of values<ListenerConfig>(states, LISTENER_TYPE)) {
    if (l.routeSource.type === 'inline') addClusters(out, l.routeSource.routeTable.virtualHosts);
    if (l.tcpProxy !== undefined) out.add(l.tcpProxy.cluster);
    // A gateway's TLS passthrough port: every SNI chain's (weighted) clusters.
    if (l.tls?.mode === 'passthrough')
      for (const c of l.tls.chains) for (const x of c.clusters) out.add(x.name);
  }
  return out;
}

/** SDS names the listeners' TLS chains take their certificates from (a gateway's HTTPS ports). */
export function neededSecretNames(states: States): Set<string> {
  const out = new Set<string>();
  for (const l of values<ListenerConfig>(states, LISTENER_TYPE))
    if (l.tls?.mode === 'terminate') for (const c of l.tls.chains) out.add(c.certSecret);
  return out;
}

/** EDS names of the EDS clusters held. */
export function neededEndpointNames(states: States): Set<string> {
  const out = new Set<string>();
  for (const c of values<ClusterConfig>(states, CLUSTER_TYPE))
    if (c.discovery === 'eds') out.add(c.edsServiceName);
  return out;
}

/** True when every cluster `vh` routes to, and the endpoints of each EDS one, are held (warm). */
export function vhostWarm(
  vh: VirtualHostConfig,
  clusters: ReadonlyMap<string, ClusterConfig>,
  endpoints: ReadonlyMap<string, ClusterEndpointsConfig>,
): boolean {
  for (const route of vh.routes) {
    if (route.action.type !== 'forward') continue;
    for (const c of route.action.clusters) {
      const cluster = clusters.get(c.name);
      if (cluster === undefined) return false;
      if (cluster.discovery === 'eds' && !endpoints.has(cluster.edsServiceName)) return false;
    }
  }
  return true;
}

/**
 * The ProxyConfig for the resources held now (maps and the object frozen; values already are).
 * On-demand virtual hosts are included once `admit` says so (warm, or waited for long enough), so
 * no request is routed to a cluster whose config is still in flight.
 */
export function buildProxyConfig(
  states: States,
  admit: (vh: VirtualHostConfig, warm: boolean) => boolean = () => true,
): ProxyConfig {
  const versions: Record<string, string> = {};
  for (const ts of states.values()) versions[ts.short] = ts.version;
  const listeners = new Map<string, ListenerConfig>();
  for (const l of values<ListenerConfig>(states, LISTENER_TYPE)) listeners.set(l.name, l);
  const clusters = new Map<string, ClusterConfig>();
  const endpoints = new Map<string, ClusterEndpointsConfig>();
  for (const c of values<ClusterConfig>(states, CLUSTER_TYPE)) {
    clusters.set(c.name, c);
    if (c.loadAssignment) endpoints.set(c.name, c.loadAssignment);
  }
  for (const e of values<ClusterEndpointsConfig>(states, ENDPOINT_TYPE)) endpoints.set(e.clusterName, e);
  const vhds = values<VirtualHostConfig>(states, VIRTUAL_HOST_TYPE).filter((vh) =>
    admit(vh, vhostWarm(vh, clusters, endpoints)),
  );
  const routeTables = new Map<string, RouteTableConfig>();
  for (const rc of values<RouteConfigurationConfig>(states, ROUTE_TYPE)) {
    const prefix = `${rc.name}/`;
    const onDemand = rc.onDemand ? vhds.filter((v) => v.name.startsWith(prefix)) : [];
    routeTables.set(
      rc.name,
      Object.freeze(buildRouteTable(rc.name, rc.onDemand, [...rc.virtualHosts, ...onDemand])),
    );
  }
  const secrets = new Map<string, TlsSecretConfig>();
  for (const x of values<TlsSecretConfig>(states, SECRET_TYPE)) secrets.set(x.name, x);
  return Object.freeze({
    secrets: Object.freeze(secrets),
    versions: Object.freeze(versions),
    listeners: Object.freeze(listeners),
    routeTables: Object.freeze(routeTables),
    clusters: Object.freeze(clusters),
    endpoints: Object.freeze(endpoints),
  });
}
