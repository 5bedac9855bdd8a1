// RDS and VHDS: the routes of one Service port (HTTPRoutes/GRPCRoutes attached to it, merged in
// Gateway API precedence order), in a RouteConfiguration or an on-demand VirtualHost.
import type { ServicePortConfig, ServiceResource } from '../api/types.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { ROUTE_TYPE, VIRTUAL_HOST_TYPE } from '../xds/type-urls.js';
import { defaultPort, hostSpellings, resolveHost } from './hosts.js';
import { vocabulary, type NodeInfo, type NodeKind } from './node.js';
import {
  outboundClusterName,
  OUTBOUND_ROUTE_CONFIG,
  parseRouteConfigName,
  routeEntryName,
  VHDS_PREFIX,
} from './names.js';
import { gatewayRouteConfiguration } from './gateway.js';
import { compareKeys, grpcMatchKey, httpMatchKey, type PrecedenceKey } from './precedence.js';
import { duration, type XdsResource } from './proto.js';
import { routeAction, type ActionContext } from './route-action.js';
import { grpcRouteMatch, httpRouteMatch } from './route-match.js';
import { deepFreeze } from '../common/deep-freeze.js';
import { memoize, type AttachedRoute, type ConfigIndex } from './snapshot-index.js';

type Obj = Record<string, unknown>;

/**
 * The routes that apply to a Service port for clients in `nodeNamespace` (GAMMA): consumer
 * routes (in the client's namespace, not the Service's) replace the producer routes (in the
 * Service's namespace) for that namespace's clients; routes in other namespaces don't apply.
 * One kind serves a port: GRPCRoutes on a `grpc` port, HTTPRoutes on others, falling back to
 * the other kind when the preferred one has none.
 */
function selectRoutes(
  index: ConfigIndex,
  service: ServiceResource,
  port: ServicePortConfig,
  nodeNamespace: string,
): { readonly routes: readonly AttachedRoute[]; readonly consumer: boolean } {
  const all = (
    index.attached.get(serviceKey(service.metadata.namespace, service.metadata.name)) ?? []
  ).filter(
    (a) =>
      (a.parent.port === undefined || a.parent.port === port.port) &&
      (a.parent.sectionName === undefined || a.parent.sectionName === port.name),
  );
  const svcNs = service.metadata.namespace;
  const consumer =
    nodeNamespace !== svcNs ? all.filter((a) => a.route.metadata.namespace === nodeNamespace) : [];
  const chosen = consumer.length > 0 ? consumer : all.filter((a) => a.route.metadata.namespace === svcNs);
  const preferred = port.protocol === 'grpc' ? 'GRPCRoute' : 'HTTPRoute';
  const ofKind = chosen.filter((a) => a.kind === preferred);
  const picked = ofKind.length > 0 ? ofKind : chosen;
  // A route attached to this port through two parentRefs counts once.
  const seen = new Set<object>();
  const routes = picked.filter((a) => !seen.has(a.route) && (seen.add(a.route), true));
  return { routes, consumer: consumer.length > 0 };
}

/** One xDS Route to build, with its Gateway API precedence key (lower sorts first). */
export interface RouteEntry {
  readonly key: PrecedenceKey;
  readonly build: () => Obj | undefined;
}

/**
 * One entry per match of every rule of `routes` (unsorted), built with the sidecar's route-rule
 * translation. Shared by a Service port's routes (GAMMA) and a gateway's virtual hosts.
 */
export function routeEntries(ctx: ActionContext, routes: readonly AttachedRoute[]): RouteEntry[] {
  const kind = ctx.kind;
  const entries: RouteEntry[] = [];
  for (const a of routes) {
    const { namespace, name } = a.route.metadata;
    if (a.kind === 'HTTPRoute') {
      a.route.spec.rules.forEach((rule, r) =>
        rule.matches.forEach((m, i) =>
          entries.push({
            key: httpMatchKey(m),
            build: () => {
              const match = httpRouteMatch(m, kind);
              const action = match && routeAction(ctx, rule, m.path);
              return action && { name: routeEntryName(a.kind, namespace, name, r, i), match, ...action };
            },
          }),
        ),
      );
    } else {
      a.route.spec.rules.forEach((rule, r) =>
        rule.matches.forEach((m, i) =>
          entries.push({
            key: grpcMatchKey(m),
            build: () => {
              const action = routeAction(ctx, rule, undefined);
              return (
                action && {
                  name: routeEntryName(a.kind, namespace, name, r, i),
                  match: grpcRouteMatch(m),
                  ...action,
                }
              );
            },
          }),
        ),
      );
    }
  }
  return entries;
}

/** Sorts entries by precedence (stable: ties keep route, rule and match order) and builds them. */
export function buildSorted(entries: RouteEntry[]): Obj[] {
  entries.sort((x, y) => compareKeys(x.key, y.key));
  const out: Obj[] = [];
  for (const e of entries) {
    const built = e.build();
    if (built !== undefined) out.push(built);
  }
  return out;
}

function buildRoutes(
  index: ConfigIndex,
  service: ServiceResource,
  port: ServicePortConfig,
  nodeKind: NodeKind,
  routes: readonly AttachedRoute[],
): Obj[] {
  const kind = vocabulary(nodeKind);
  const ctx: ActionContext = { services: index.services, kind, parentPort: port.port };
  if (routes.length === 0) {
    const cluster = outboundClusterName(service.metadata.name, service.metadata.namespace, port.port);
    const route: Obj = kind === 'sidecar' ? { cluster, timeout: duration(0) } : { cluster };
    return [{ name: 'default', match: { prefix: '/' }, route }];
  }
  return buildSorted(routeEntries(ctx, routes));
}

export interface VirtualHostParts {
  /** Identifies the node facts the parts depend on; nodes with equal keys share the parts. */
  readonly key: string;
  readonly domains: readonly string[];
  readonly routes: readonly Obj[];
}

/** Domains and routes of the virtual host for one Service port, as seen by this node. */
export function virtualHostParts(
  index: ConfigIndex,
  service: ServiceResource,
  port: ServicePortConfig,
  node: NodeInfo,
): VirtualHostParts {
  const { routes, consumer } = selectRoutes(index, service, port, node.namespace);
  const short = node.namespace === service.metadata.namespace;
  // The parts depend on the node only through its kind, "same namespace as the Service", and
  // (for consumer routes) its namespace: nodes sharing those share one built object.
  const key = `${node.kind}|${short ? 1 : 0}|${consumer ? node.namespace : ''}|${serviceKey(service.metadata.namespace, service.metadata.name)}|${port.port}`;
  let parts = index.vhParts.get(key);
  if (parts === undefined) {
    parts = deepFreeze({
      key,
      domains: hostSpellings(service, port.port, defaultPort(service, node.kind) === port, short),
      routes: buildRoutes(index, service, port, node.kind, routes),
    });
    index.vhParts.set(key, parts);
  }
  return parts;
}

/**
 * RDS: `reviews.default:9080` (canonical names only), `trellis_outbound` for sidecars, and for
 * gateways only their own `trellis_gateway_<port>` (a Service's GAMMA routes never reach a gateway).
 */
export function routeConfiguration(
  index: ConfigIndex,
  node: NodeInfo,
  name: string,
): XdsResource | undefined {
  if (node.kind === 'gateway') return gatewayRouteConfiguration(index, node, name);
  if (name === OUTBOUND_ROUTE_CONFIG) {
    if (node.kind !== 'sidecar') return undefined;
    return memoize(index.memo, `rds|${name}`, () => ({
      '@type': ROUTE_TYPE,
      name,
      virtual_hosts: [],
      vhds: { config_source: { ads: {} } },
    }));
  }
  const ref = parseRouteConfigName(name);
  const service = ref && index.services.get(serviceKey(ref.namespace, ref.service));
  const port = service?.spec.ports.find((p) => p.port === ref?.port);
  if (service === undefined || port === undefined) return undefined;
  const parts = virtualHostParts(index, service, port, node);
  return memoize(index.memo, `rds|${parts.key}|${name}`, () => ({
    '@type': ROUTE_TYPE,
    name,
    virtual_hosts: [{ name, domains: parts.domains, routes: parts.routes }],
  }));
}

/** VHDS: `trellis_outbound/<host>` -> the VirtualHost for the Service port that host names. */
export function virtualHost(index: ConfigIndex, node: NodeInfo, name: string): XdsResource | undefined {
  if (!name.startsWith(VHDS_PREFIX) || node.kind === 'gateway') return undefined;
  const resolved = resolveHost(index.services, name.slice(VHDS_PREFIX.length), node.namespace, node.kind);
  if (resolved === undefined) return undefined;
  const parts = virtualHostParts(index, resolved.service, resolved.port, node);
  return memoize(index.memo, `vhds|${parts.key}|${name}`, () => ({
    '@type': VIRTUAL_HOST_TYPE,
    name,
    domains: parts.domains,
    routes: parts.routes,
  }));
}
