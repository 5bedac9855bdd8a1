// Reads just enough of each xDS resource (decoded with src/xds's protobuf root) to follow the
// chain a proxyless gRPC client follows: Listener -> RDS name, route -> clusters, cluster -> EDS name.
import { messageType } from '../../src/xds/proto-root.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../src/xds/type-urls.js';

const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const EDS = 3; // envoy.config.cluster.v3.Cluster.DiscoveryType.EDS

interface Any {
  type_url?: string;
  value?: Uint8Array;
}
interface VirtualHostMsg {
  domains?: string[];
  routes?: { route?: { cluster?: string; weighted_clusters?: { clusters?: { name?: string }[] } } }[];
}
interface RouteConfigMsg {
  name?: string;
  virtual_hosts?: VirtualHostMsg[];
}

export interface VirtualHostInfo {
  readonly domains: readonly string[];
  readonly clusters: readonly string[];
}

export type DecodedResource =
  | {
      readonly kind: 'listener';
      readonly name: string;
      readonly rds?: string;
      readonly inline?: VirtualHostInfo[];
    }
  | { readonly kind: 'route'; readonly name: string; readonly vhosts: VirtualHostInfo[] }
  | { readonly kind: 'cluster'; readonly name: string; readonly eds?: string }
  | { readonly kind: 'endpoints'; readonly name: string };

function vhosts(rc: RouteConfigMsg): VirtualHostInfo[] {
  return (rc.virtual_hosts ?? []).map((vh) => {
    const clusters = new Set<string>();
    for (const r of vh.routes ?? []) {
      if (r.route?.cluster) clusters.add(r.route.cluster);
      for (const wc of r.route?.weighted_clusters?.clusters ?? []) if (wc.name) clusters.add(wc.name);
    }
    return { domains: vh.domains ?? [], clusters: [...clusters] };
  });
}

/** Decodes one resource of an xDS type into the names it carries and refers to. */
export function decodeResource(typeUrl: string, value: Uint8Array): DecodedResource {
  switch (typeUrl) {
    case LISTENER_TYPE: {
      const l = messageType('envoy.config.listener.v3.Listener').decode(value) as unknown as {
        name?: string;
        api_listener?: { api_listener?: Any };
      };
      const any = l.api_listener?.api_listener;
      const name = l.name ?? '';
      if (!any || any.type_url !== HCM_TYPE || !any.value) return { kind: 'listener', name };
      const hcm = messageType(HCM_TYPE.slice(HCM_TYPE.indexOf('/') + 1)).decode(any.value) as unknown as {
        rds?: { route_config_name?: string };
        route_config?: RouteConfigMsg;
      };
      if (hcm.rds?.route_config_name) return { kind: 'listener', name, rds: hcm.rds.route_config_name };
      return { kind: 'listener', name, inline: hcm.route_config ? vhosts(hcm.route_config) : [] };
    }
    case ROUTE_TYPE: {
      const rc = messageType('envoy.config.route.v3.RouteConfiguration').decode(
        value,
      ) as unknown as RouteConfigMsg;
      return { kind: 'route', name: rc.name ?? '', vhosts: vhosts(rc) };
    }
    case CLUSTER_TYPE: {
      const c = messageType('envoy.config.cluster.v3.Cluster').decode(value) as unknown as {
        name?: string;
        type?: number;
        cluster_type?: unknown;
        eds_cluster_config?: { service_name?: string };
      };
      const name = c.name ?? '';
      const eds = !c.cluster_type && c.type === EDS ? c.eds_cluster_config?.service_name || name : undefined;
      return eds !== undefined ? { kind: 'cluster', name, eds } : { kind: 'cluster', name };
    }
    case ENDPOINT_TYPE: {
      const cla = messageType('envoy.config.endpoint.v3.ClusterLoadAssignment').decode(value) as unknown as {
        cluster_name?: string;
      };
      return { kind: 'endpoints', name: cla.cluster_name ?? '' };
    }
    default:
      throw new Error(`unexpected resource type ${typeUrl}`);
  }
}

/** Picks the virtual host for `host` as gRPC does: exact, then `*.suffix` / `prefix.*`, then `*`. */
export function matchVirtualHost(
  hosts: readonly VirtualHostInfo[],
  host: string,
): VirtualHostInfo | undefined {
  const h = host.toLowerCase();
  let best: { vh: VirtualHostInfo; rank: number; len: number } | undefined;
  for (const vh of hosts) {
    for (const d0 of vh.domains) {
      const d = d0.toLowerCase();
      let rank = 0;
      if (d === h) rank = 4;
      else if (d.startsWith('*') && d !== '*' && h.endsWith(d.slice(1))) rank = 3;
      else if (d.endsWith('*') && d !== '*' && h.startsWith(d.slice(0, -1))) rank = 2;
      else if (d === '*') rank = 1;
      if (rank > 0 && (!best || rank > best.rank || (rank === best.rank && d.length > best.len))) {
        best = { vh, rank, len: d.length };
      }
    }
  }
  return best?.vh;
}
