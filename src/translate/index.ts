// translate/: pure (MeshSnapshot, NodeInfo) -> xDS v3 resources as protobufjs-ready JSON objects.
// The ADS server calls `translate` per type and subscription; results are memoized per snapshot.
import type { MeshSnapshot } from '../api/mesh-snapshot.js';
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  SECRET_TYPE,
  VIRTUAL_HOST_TYPE,
} from '../xds/type-urls.js';
import { cluster, defaultClusterNames } from './clusters.js';
import { clusterLoadAssignment } from './endpoints.js';
import { gatewaySecret } from './gateway.js';
import { defaultListenerNames, listener, sidecarListenerScope } from './listeners.js';
import { OUTBOUND_ROUTE_CONFIG, parseInboundClusterName } from './names.js';
import { parseHost } from './hosts.js';
import type { NodeInfo } from './node.js';
import type { XdsResource } from './proto.js';
import { routeConfiguration, virtualHost } from './routes.js';
import { isServerListenerName, serverListenerScope } from './server-listeners.js';
import { indexOf, type SnapshotIndex } from './snapshot-index.js';

export type { XdsResource } from './proto.js';
export { NESTED_ANY_TYPES } from './proto.js';
export {
  parseNode,
  NODE_META,
  type NodeInfo,
  type NodeKind,
  vocabulary,
  type SidecarPorts,
  type UpstreamPort,
  type XdsNodeInput,
} from './node.js';
export * from './names.js';
export { parseHost, resolveHost, hostSpellings, defaultPort } from './hosts.js';
export { checkProxylessResource } from './proxyless-check.js';
export {
  SERVER_LISTENER_TEMPLATE,
  serverListenerName,
  parseServerListenerName,
  isServerListenerName,
} from './server-listeners.js';
export { covers, intersectHostnames } from '../api/gateway-hostnames.js';

type Lookup = (idx: SnapshotIndex, node: NodeInfo, name: string) => XdsResource | undefined;

/*
 * What each type depends on (so the ADS server knows what to recompute and what to share):
 * - CDS: the Service (port, subset) only, plus the node's kind (sidecar clusters add HTTP/2
 *   options); `inbound|<port>` also on the sidecar's own Service; a proxyless client's with a
 *   certificate provider also on whether sidecars with an identity serve the Service (instances).
 * - EDS: the Service and its instances only; never on the node.
 * - LDS: proxyless, on the node's namespace when the name is short (`reviews`), and a server
 *   Listener (gRFC A36, server-listeners.ts) on the node's namespace, Service and certificate
 *   provider; sidecar, on its
 *   address, ports, namespace, Service (its app port's protocol) and per-upstream local ports
 *   (whose HTTP listeners carry the upstream Service's routes).
 * - RDS/VHDS: on the node's kind and namespace (short host spellings are listed only for nodes
 *   in the Service's namespace; GAMMA consumer routes apply only to their namespace's clients).
 * - Gateways: LDS and RDS on their Gateway (namespace + name) and the routes attached to it; CDS
 *   and EDS as for a sidecar.
 */
const LOOKUPS: Readonly<Record<string, Lookup>> = {
  [LISTENER_TYPE]: (idx, node, name) => listener(idx.config, node, name),
  [ROUTE_TYPE]: (idx, node, name) => routeConfiguration(idx.config, node, name),
  [VIRTUAL_HOST_TYPE]: (idx, node, name) => virtualHost(idx.config, node, name),
  [CLUSTER_TYPE]: (idx, node, name) => cluster(idx.config, node, name, idx.snapshot.instances),
  [ENDPOINT_TYPE]: (idx, _node, name) => clusterLoadAssignment(idx, name),
  // SDS: a gateway's HTTPS certificates (only those its own Gateway names).
  [SECRET_TYPE]: (idx, node, name) => gatewaySecret(idx.config, node, name),
};

/**
 * The names a wildcard (`'*'`) subscription of this type stands for, for this node (a gateway's
 * listeners depend on its Gateway, so on `snapshot`: without one it gets none).
 */
export function defaultResourceNames(
  node: NodeInfo,
  typeUrl: string,
  snapshot?: MeshSnapshot,
): readonly string[] {
  switch (typeUrl) {
    case LISTENER_TYPE:
      return defaultListenerNames(node, snapshot && indexOf(snapshot).config);
    case ROUTE_TYPE:
      return node.kind === 'sidecar' ? [OUTBOUND_ROUTE_CONFIG] : [];
    case CLUSTER_TYPE:
      return defaultClusterNames(node);
    default:
      return [];
  }
}

/**
 * The resources of `typeUrl` this node gets for `names` (or for the wildcard `'*'`), keyed by
 * name. Names that resolve to nothing are left out. Results are deep-frozen and memoized per
 * snapshot: nodes that see the same resource get the same object, so comparing by identity
 * (`===`) against the last sent object is a valid "unchanged" check.
 */
export function translate(
  snapshot: MeshSnapshot,
  node: NodeInfo,
  typeUrl: string,
  names: readonly string[] | '*',
): Map<string, XdsResource> {
  const out = new Map<string, XdsResource>();
  const lookup = LOOKUPS[typeUrl];
  if (lookup === undefined) return out;
  const idx = indexOf(snapshot);
  for (const name of names === '*' ? defaultResourceNames(node, typeUrl, snapshot) : names) {
    const r = lookup(idx, node, name);
    if (r !== undefined) out.set(name, r);
  }
  return out;
}

/** True for types whose content changes with registered instances only (EDS): the fast path. */
export const resourceDependsOnEndpointsOnly = (typeUrl: string): boolean => typeUrl === ENDPOINT_TYPE;

/** False for types whose resource for a given name is the same for every node (EDS). */
export const resourceDependsOnNode = (typeUrl: string): boolean => typeUrl !== ENDPOINT_TYPE;

/**
 * A string naming everything about `node` that translate's result for (typeUrl, name) depends on:
 * nodes with equal scopes get identical (indeed the same memoized) resources, so a per-snapshot
 * encode cache keyed by (typeUrl, name, scope) is shared as widely as possible. `name` may be '*'.
 */
export function translationScope(node: NodeInfo, typeUrl: string, name: string): string {
  const sc = node.sidecar;
  const ports = sc ? `${sc.address}|${sc.outboundPort}|${sc.inboundPort}|${sc.appPort}` : '';
  switch (typeUrl) {
    case ENDPOINT_TYPE:
      return name === '*' ? node.kind : '';
    case CLUSTER_TYPE:
      if (name === '*') return `${node.kind}|${ports}|${node.namespace}|${node.service ?? ''}`;
      return parseInboundClusterName(name) !== undefined
        ? `${node.kind}|${node.namespace}|${node.service ?? ''}`
        : node.certProvider !== undefined
          ? `${node.kind}|tls=${node.certProvider}`
          : node.kind;
    case LISTENER_TYPE:
      if (node.kind === 'sidecar') return `sidecar|${sidecarListenerScope(node)}`;
      if (node.kind === 'gateway') return `gateway|${node.namespace}|${node.gateway ?? ''}`;
      if (name !== '*' && isServerListenerName(name)) return `grpc-server|${serverListenerScope(node)}`;
      return name !== '*' && parseHost(name)?.namespace === undefined
        ? `proxyless|${node.namespace}`
        : 'proxyless';
    default:
      // A gateway's RDS depends on its Gateway (its VHDS and Service RDS are empty / unused).
      if (node.kind === 'gateway') return `gateway|${node.namespace}|${node.gateway ?? ''}`;
      return `${node.kind}|${node.namespace}`;
  }
}
