// Host names clients use for a Service port (`reviews`, `reviews.default:9080`, ...): parsing one,
// resolving it in the node's namespace, the default port, and every spelling for vhost domains.
import type { NodeKind } from './node.js';
import type { ServicePortConfig, ServiceResource } from '../api/types.js';
import { serviceKey } from '../api/mesh-snapshot.js';

export interface HostRef {
  readonly name: string;
  /** Absent for a short name, which resolves in the node's namespace. */
  readonly namespace?: string;
  /** Absent when the host names no port: the Service's default port. */
  readonly port?: number;
}

const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/**
 * Parses `name[.ns[.svc[.cluster.local]]][:port]` (case-insensitive). Anything else (IP literals,
 * other domains) is not a mesh Service: undefined.
 */
export function parseHost(host: string): HostRef | undefined {
  let h = host.toLowerCase();
  let port: number | undefined;
  const colon = h.lastIndexOf(':');
  if (colon >= 0) {
    const p = h.slice(colon + 1);
    if (!/^[1-9]\d{0,4}$/.test(p) || Number(p) > 65535) return undefined;
    port = Number(p);
    h = h.slice(0, colon);
  }
  const parts = h.split('.');
  if (!parts.every((p) => LABEL.test(p))) return undefined;
  const [name = '', ns] = parts;
  const ok =
    parts.length <= 2 ||
    (parts.length === 3 && parts[2] === 'svc') ||
    (parts.length === 5 && parts[2] === 'svc' && parts[3] === 'cluster' && parts[4] === 'local');
  if (!ok) return undefined;
  return { name, ...(ns !== undefined ? { namespace: ns } : {}), ...(port !== undefined ? { port } : {}) };
}

/** Protocols a node kind can route, most preferred first. */
const PREFERRED: Record<NodeKind, readonly ServicePortConfig['protocol'][]> = {
  proxyless: ['grpc', 'http2', 'http'],
  sidecar: ['http', 'http2', 'grpc'],
  gateway: ['http', 'http2', 'grpc'],
};

/**
 * The port a host without `:port` means. A sidecar's app sending `Host: reviews` (or a gateway's
 * backendRef without a port) means port 80, so a routable port 80 wins there; otherwise the first
 * port of the most preferred protocol.
 */
export function defaultPort(service: ServiceResource, kind: NodeKind): ServicePortConfig | undefined {
  const ports = service.spec.ports;
  if (kind !== 'proxyless') {
    const p80 = ports.find((p) => p.port === 80 && p.protocol !== 'tcp');
    if (p80 !== undefined) return p80;
  }
  for (const proto of PREFERRED[kind]) {
    const p = ports.find((x) => x.protocol === proto);
    if (p !== undefined) return p;
  }
  return undefined;
}

export interface ResolvedHost {
  readonly service: ServiceResource;
  readonly port: ServicePortConfig;
}

/** Resolves a host a client used to a Service port, or undefined when it names none. */
export function resolveHost(
  services: ReadonlyMap<string, ServiceResource>,
  host: string,
  nodeNamespace: string,
  kind: NodeKind,
): ResolvedHost | undefined {
  const ref = parseHost(host);
  if (ref === undefined) return undefined;
  const service = services.get(serviceKey(ref.namespace ?? nodeNamespace, ref.name));
  if (service === undefined) return undefined;
  const port =
    ref.port === undefined ? defaultPort(service, kind) : service.spec.ports.find((p) => p.port === ref.port);
  return port === undefined ? undefined : { service, port };
}

/**
 * Every spelling of a Service port, for virtual host domains: `reviews.default`, `.svc`,
 * `.svc.cluster.local`, each with `:port`, and without it only when this is the default port.
 * The short `reviews` spellings only when the node is in the Service's namespace (elsewhere
 * `reviews` means another Service).
 */
export function hostSpellings(
  service: ServiceResource,
  port: number,
  isDefaultPort: boolean,
  includeShort: boolean,
): string[] {
  const { name, namespace } = service.metadata;
  const bases = [
    `${name}.${namespace}`,
    `${name}.${namespace}.svc`,
    `${name}.${namespace}.svc.cluster.local`,
  ];
  if (includeShort) bases.unshift(name);
  const out: string[] = [];
  for (const b of bases) {
    if (isDefaultPort) out.push(b);
    out.push(`${b}:${port}`);
  }
  return out;
}
