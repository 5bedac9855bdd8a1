// Indexes built once per MeshSnapshot (and reused while its config parts are unchanged): routes by
// parent Service and by parent Gateway, plus memo tables so each resource is built once and shared.
import type {
  AuthorizationPolicyResource,
  GatewayResource,
  GRPCRouteResource,
  HTTPRouteResource,
  MeshTLSResource,
  ParentRefConfig,
  RequestAuthenticationResource,
  SecretResource,
  TLSRouteResource,
  ConfigMapResource,
  ServiceResource,
} from '../api/types.js';
import type { MeshSnapshot } from '../api/mesh-snapshot.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { deepFreeze } from '../common/deep-freeze.js';
import type { XdsResource } from './proto.js';
import type { VirtualHostParts } from './routes.js';

export type AttachedRoute =
  | { readonly kind: 'HTTPRoute'; readonly route: HTTPRouteResource; readonly parent: ParentRefConfig }
  | { readonly kind: 'GRPCRoute'; readonly route: GRPCRouteResource; readonly parent: ParentRefConfig };

/** Everything derived from resources alone (not from registered instances). */
export interface ConfigIndex {
  readonly services: ReadonlyMap<string, ServiceResource>;
  readonly httpRoutes: readonly HTTPRouteResource[];
  readonly grpcRoutes: readonly GRPCRouteResource[];
  readonly gateways: ReadonlyMap<string, GatewayResource>;
  readonly authorizationPolicies: readonly AuthorizationPolicyResource[];
  readonly requestAuthentications: readonly RequestAuthenticationResource[];
  readonly meshTls: readonly MeshTLSResource[];
  /** kubernetes.io/tls Secrets by `namespace/name` (HTTPS gateway listeners). */
  readonly secrets: ReadonlyMap<string, SecretResource>;
  /** ConfigMaps by `namespace/name` (CA bundles for Gateway client certificate validation). */
  readonly configMaps: ReadonlyMap<string, ConfigMapResource>;
  /** TLSRoutes (TLS passthrough on Gateway listeners with protocol TLS). */
  readonly tlsRoutes: readonly TLSRouteResource[];
  /** The CA's trust domain (absent: no mTLS). */
  readonly trustDomain: string | undefined;
  /** Service `namespace/name` -> attachments (GAMMA), sorted by the route's `namespace/name`. */
  readonly attached: ReadonlyMap<string, readonly AttachedRoute[]>;
  /** Gateway `namespace/name` -> attachments, sorted by the route's `namespace/name`. */
  readonly gatewayAttached: ReadonlyMap<string, readonly AttachedRoute[]>;
  /** Built LDS/RDS/VHDS/CDS resources, keyed by type + the node facts they depend on + name. */
  readonly memo: Map<string, XdsResource | null>;
  /** Virtual host domains + routes, shared by RDS and VHDS (see routes.ts). */
  readonly vhParts: Map<string, VirtualHostParts>;
}

export interface SnapshotIndex {
  readonly snapshot: MeshSnapshot;
  readonly config: ConfigIndex;
  /** Built ClusterLoadAssignments by cluster name (they depend on instances too). */
  readonly endpointMemo: Map<string, XdsResource | null>;
}

const NONE: readonly never[] = Object.freeze([]);
const NO_SECRETS: ReadonlyMap<string, SecretResource> = new Map();
const NO_CONFIGMAPS: ReadonlyMap<string, ConfigMapResource> = new Map();
const configBySnapshotServices = new WeakMap<object, ConfigIndex>();
const bySnapshot = new WeakMap<MeshSnapshot, SnapshotIndex>();

const routeOrder = (a: AttachedRoute, b: AttachedRoute): number => {
  const ka = `${a.route.metadata.namespace}/${a.route.metadata.name}`;
  const kb = `${b.route.metadata.namespace}/${b.route.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

function buildConfigIndex(snapshot: MeshSnapshot): ConfigIndex {
  const attached = new Map<string, AttachedRoute[]>();
  const gatewayAttached = new Map<string, AttachedRoute[]>();
  const attach = (a: AttachedRoute): void => {
    const p = a.parent;
    // Service parents are mesh (GAMMA) routes, Gateway parents ingress routes: never both.
    const into =
      p.kind === 'Service' && p.group === '' ? attached : p.kind === 'Gateway' ? gatewayAttached : undefined;
    if (into === undefined) return;
    const key = serviceKey(p.namespace, p.name);
    let list = into.get(key);
    if (list === undefined) into.set(key, (list = []));
    list.push(a);
  };
  for (const route of snapshot.httpRoutes)
    for (const parent of route.spec.parentRefs) attach({ kind: 'HTTPRoute', route, parent });
  for (const route of snapshot.grpcRoutes)
    for (const parent of route.spec.parentRefs) attach({ kind: 'GRPCRoute', route, parent });
  for (const list of attached.values()) list.sort(routeOrder);
  for (const list of gatewayAttached.values()) list.sort(routeOrder);
  return {
    services: snapshot.services,
    httpRoutes: snapshot.httpRoutes,
    grpcRoutes: snapshot.grpcRoutes,
    gateways: snapshot.gateways,
    authorizationPolicies: snapshot.authorizationPolicies ?? NONE,
    requestAuthentications: snapshot.requestAuthentications ?? NONE,
    meshTls: snapshot.meshTls ?? NONE,
    secrets: snapshot.secrets ?? NO_SECRETS,
    tlsRoutes: snapshot.tlsRoutes ?? NONE,
    configMaps: snapshot.configMaps ?? NO_CONFIGMAPS,
    trustDomain: snapshot.trustDomain,
    attached,
    gatewayAttached,
    memo: new Map(),
    vhParts: new Map(),
  };
}

/**
 * The index for a snapshot. When the control plane builds a new snapshot for an endpoint-only
 * change and passes the same `services` map, route arrays and `gateways` map, the config index (and every built
 * LDS/RDS/VHDS/CDS resource in it) is reused; only ClusterLoadAssignments are rebuilt.
 */
export function indexOf(snapshot: MeshSnapshot): SnapshotIndex {
  let idx = bySnapshot.get(snapshot);
  if (idx !== undefined) return idx;
  let config = configBySnapshotServices.get(snapshot.services);
  if (
    config === undefined ||
    config.httpRoutes !== snapshot.httpRoutes ||
    config.grpcRoutes !== snapshot.grpcRoutes ||
    config.gateways !== snapshot.gateways ||
    config.authorizationPolicies !== (snapshot.authorizationPolicies ?? NONE) ||
    config.requestAuthentications !== (snapshot.requestAuthentications ?? NONE) ||
    config.meshTls !== (snapshot.meshTls ?? NONE) ||
    config.secrets !== (snapshot.secrets ?? NO_SECRETS) ||
    config.tlsRoutes !== (snapshot.tlsRoutes ?? NONE) ||
    config.configMaps !== (snapshot.configMaps ?? NO_CONFIGMAPS) ||
    config.trustDomain !== snapshot.trustDomain
  ) {
    config = buildConfigIndex(snapshot);
    configBySnapshotServices.set(snapshot.services, config);
  }
  idx = { snapshot, config, endpointMemo: new Map() };
  bySnapshot.set(snapshot, idx);
  return idx;
}

/** Looks a value up in a memo table, building (and deep-freezing) it on first use. */
export function memoize(
  memo: Map<string, XdsResource | null>,
  key: string,
  build: () => XdsResource | undefined,
): XdsResource | undefined {
  const hit = memo.get(key);
  if (hit !== undefined) return hit ?? undefined;
  const built = build();
  memo.set(key, built === undefined ? null : deepFreeze(built));
  return built;
}
