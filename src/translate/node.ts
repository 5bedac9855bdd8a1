// Who is asking for config: a Trellis sidecar, a Trellis ingress gateway or a proxyless gRPC client,
// read from the xDS Node.
// (Contract shared by translate/ and the ADS server; parseNode is implemented in this file.)

export type NodeKind = 'sidecar' | 'gateway' | 'proxyless';

/**
 * The route vocabulary a node takes: Trellis proxies (sidecars and gateways) get Envoy's full set,
 * proxyless gRPC clients only what gRPC accepts.
 */
export const vocabulary = (kind: NodeKind): 'sidecar' | 'proxyless' =>
  kind === 'proxyless' ? 'proxyless' : 'sidecar';

export interface SidecarPorts {
  /** Address the sidecar's listeners bind and its instance is reached at (default 127.0.0.1). */
  readonly address: string;
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly appPort: number;
  /** Per-upstream local ports (metadata UPSTREAMS); absent or empty when none. */
  readonly upstreams?: readonly UpstreamPort[];
  /** The sidecar has a workload identity (metadata MTLS "true"): its inbound can terminate mTLS. */
  readonly mtls?: boolean;
}

/** A local port on 127.0.0.1 that forwards to one Service port (`--upstream NAME[.NS]:PORT=LOCAL`). */
export interface UpstreamPort {
  readonly service: string;
  /** Resolved: the node's namespace when the spec gave none. */
  readonly namespace: string;
  readonly port: number;
  readonly localPort: number;
}

export interface NodeInfo {
  readonly id: string;
  readonly kind: NodeKind;
  /** Namespace short names resolve in (`reviews` -> `reviews.<namespace>`); default `default`. */
  readonly namespace: string;
  /** The Service this node's workload belongs to, when known. */
  readonly service?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Present for sidecars. */
  readonly sidecar?: SidecarPorts;
  /** Present for gateways: the name of the Gateway resource (in `namespace`) it serves. */
  readonly gateway?: string;
  /**
   * Proxyless clients only: the gRFC A29 certificate provider instance (in the client's bootstrap
   * `certificate_providers`) holding its workload certificate and the trust bundle, as
   * `trellis grpc-agent` writes it (metadata CERT_PROVIDER). Clusters of mTLS Services then carry
   * an UpstreamTlsContext naming it; without it the client gets no transport_socket (it would NACK one).
   */
  readonly certProvider?: string;
}

/**
 * Node metadata keys a Trellis sidecar or gateway sets (anything else, e.g. a plain gRPC bootstrap with any
 * node id and no metadata, is a proxyless client in namespace `default`).
 */
export const NODE_META = {
  kind: 'TRELLIS_KIND', // "sidecar" or "gateway"
  namespace: 'NAMESPACE',
  gateway: 'GATEWAY', // a gateway's Gateway resource name (in NAMESPACE)
  service: 'SERVICE',
  labels: 'LABELS', // a Struct of string values
  address: 'INSTANCE_IP',
  inboundPort: 'INBOUND_PORT',
  outboundPort: 'OUTBOUND_PORT',
  appPort: 'APP_PORT',
  upstreams: 'UPSTREAMS', // a list of "name[.ns]:port=localPort" strings (or one comma-separated string)
  mtls: 'MTLS', // "true": the sidecar has a workload identity and terminates mTLS inbound
  certProvider: 'CERT_PROVIDER', // proxyless: the bootstrap's certificate provider instance name
} as const;

/** A certificate provider instance name as a bootstrap key (anything else is ignored). */
const CERT_PROVIDER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** The xDS Node as the ADS server hands it over (metadata: the Struct already converted to JSON). */
export interface XdsNodeInput {
  readonly id?: string;
  readonly cluster?: string;
  readonly metadata?: Readonly<Record<string, unknown>> | null;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A port from metadata (a number, or a string of digits); 0 when missing or out of range. */
function port(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) && n > 0 && n <= 65535 ? n : 0;
}

function labels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  }
  return out;
}

const UPSTREAM_RE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.([a-z0-9]([-a-z0-9]*[a-z0-9])?))?:(\d{1,5})=(\d{1,5})$/;

/** `name[.ns]:port=localPort` entries; malformed ones and repeated local ports are left out. */
function upstreams(v: unknown, namespace: string): UpstreamPort[] {
  const items = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [];
  const out: UpstreamPort[] = [];
  const seen = new Set<number>();
  for (const item of items) {
    if (typeof item !== 'string') continue;
    const m = UPSTREAM_RE.exec(item.trim());
    if (m === null) continue;
    const p = port(m[5]);
    const localPort = port(m[6]);
    if (p === 0 || localPort === 0 || seen.has(localPort)) continue;
    seen.add(localPort);
    out.push({ service: m[1] ?? '', namespace: m[3] ?? namespace, port: p, localPort });
  }
  return out;
}

/**
 * Reads who is asking from the xDS Node. `TRELLIS_KIND: sidecar` in metadata makes a sidecar
 * (ports as numbers or strings; a missing or bad port becomes 0 and the listener on it is left
 * out); `TRELLIS_KIND: gateway` with a `GATEWAY` name makes a gateway (without a name it gets
 * nothing but is still a gateway); anything else is a proxyless gRPC client. Namespace: metadata
 * `NAMESPACE`, else `default`. A proxyless client's `CERT_PROVIDER` (an instance name) says it can
 * do mTLS with that provider. Never throws.
 */
export function parseNode(node: XdsNodeInput | null | undefined): NodeInfo {
  const md = node?.metadata !== null && typeof node?.metadata === 'object' ? node.metadata : {};
  const service = str(md[NODE_META.service]);
  const base = {
    id: typeof node?.id === 'string' ? node.id : '',
    namespace: str(md[NODE_META.namespace]) ?? 'default',
    labels: labels(md[NODE_META.labels]),
    ...(service !== undefined ? { service } : {}),
  };
  if (md[NODE_META.kind] === 'gateway') {
    const gateway = str(md[NODE_META.gateway]);
    return { ...base, kind: 'gateway', gateway: gateway ?? '' };
  }
  if (md[NODE_META.kind] !== 'sidecar') {
    const provider = str(md[NODE_META.certProvider]);
    return {
      ...base,
      kind: 'proxyless',
      ...(provider !== undefined && CERT_PROVIDER_RE.test(provider) ? { certProvider: provider } : {}),
    };
  }
  const ups = upstreams(md[NODE_META.upstreams], base.namespace);
  return {
    ...base,
    kind: 'sidecar',
    sidecar: {
      address: str(md[NODE_META.address]) ?? '127.0.0.1',
      inboundPort: port(md[NODE_META.inboundPort]),
      outboundPort: port(md[NODE_META.outboundPort]),
      appPort: port(md[NODE_META.appPort]),
      ...(ups.length > 0 ? { upstreams: ups } : {}),
      ...(md[NODE_META.mtls] === 'true' || md[NODE_META.mtls] === true ? { mtls: true } : {}),
    },
  };
}
