// Names of the xDS resources Trellis emits: clusters (Istio-style), route configurations, the
// sidecar's listeners and on-demand virtual hosts. Building and parsing live side by side.

export const OUTBOUND_LISTENER = 'trellis_outbound';
export const INBOUND_LISTENER = 'trellis_inbound';
/** A per-upstream local port's listener: `trellis_upstream_reviews.default_9080`. */
export const upstreamListenerName = (service: string, namespace: string, port: number): string =>
  `trellis_upstream_${service}.${namespace}_${port}`;
/** The sidecar's outbound RouteConfiguration; its virtual hosts come one by one over VHDS. */
export const OUTBOUND_ROUTE_CONFIG = 'trellis_outbound';
/** VHDS resource names are `<route config>/<host as the app sent it>`, as Envoy asks for them. */
export const VHDS_PREFIX = `${OUTBOUND_ROUTE_CONFIG}/`;

/** `outbound|9080|v2|reviews.default`; subset '' for the whole Service. */
export const outboundClusterName = (service: string, namespace: string, port: number, subset = ''): string =>
  `outbound|${port}|${subset}|${service}.${namespace}`;

/** `inbound|8080`: the sidecar's own application. */
export const inboundClusterName = (appPort: number): string => `inbound|${appPort}`;

export interface OutboundClusterRef {
  readonly service: string;
  readonly namespace: string;
  readonly port: number;
  readonly subset: string;
}

const PORT_RE = /^[1-9]\d{0,4}$/;

export function parseOutboundClusterName(name: string): OutboundClusterRef | undefined {
  const parts = name.split('|');
  if (parts.length !== 4 || parts[0] !== 'outbound') return undefined;
  const [, port = '', subset = '', host = ''] = parts;
  const dot = host.indexOf('.');
  if (!PORT_RE.test(port) || dot <= 0 || dot === host.length - 1) return undefined;
  return { service: host.slice(0, dot), namespace: host.slice(dot + 1), port: Number(port), subset };
}

export function parseInboundClusterName(name: string): number | undefined {
  if (!name.startsWith('inbound|')) return undefined;
  const port = name.slice('inbound|'.length);
  return PORT_RE.test(port) ? Number(port) : undefined;
}

/** The canonical RouteConfiguration name for one Service port: `reviews.default:9080`. */
export const routeConfigName = (service: string, namespace: string, port: number): string =>
  `${service}.${namespace}:${port}`;

export function parseRouteConfigName(
  name: string,
): { readonly service: string; readonly namespace: string; readonly port: number } | undefined {
  const m = /^([^.:/]+)\.([^.:/]+):(\d+)$/.exec(name);
  if (m === null || !PORT_RE.test(m[3] ?? '')) return undefined;
  return { service: m[1] ?? '', namespace: m[2] ?? '', port: Number(m[3]) };
}

/** A route's name in xDS, for logs and stats: `HTTPRoute/default/reviews/rule/0/match/1`. */
export const routeEntryName = (
  kind: string,
  namespace: string,
  name: string,
  rule: number,
  match: number,
): string => `${kind}/${namespace}/${name}/rule/${rule}/match/${match}`;

/** A gateway's listener for one Gateway listener port on one of its addresses. */
export const gatewayListenerName = (address: string, port: number): string =>
  `trellis_gateway_${address}_${port}`;
/** A gateway's RouteConfiguration for one port (every address binding the port shares it). */
export const gatewayRouteConfigName = (port: number): string => `trellis_gateway_${port}`;

export function parseGatewayRouteConfigName(name: string): number | undefined {
  const m = /^trellis_gateway_(\d+)$/.exec(name);
  return m !== null && PORT_RE.test(m[1] ?? '') && Number(m[1]) <= 65535 ? Number(m[1]) : undefined;
}
