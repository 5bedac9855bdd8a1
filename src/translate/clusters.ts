// CDS: `outbound|<port>|<subset>|<svc>.<ns>` EDS clusters (the same for every node of a kind) and
// a sidecar's `inbound|<appPort>` STATIC cluster to its local application.
import type { PortProtocol, ServiceResource } from '../api/types.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { CLUSTER_TYPE } from '../xds/type-urls.js';
import { vocabulary, type NodeInfo, type NodeKind } from './node.js';
import { inboundClusterName, parseInboundClusterName, parseOutboundClusterName } from './names.js';
import { duration, HTTP_PROTOCOL_OPTIONS_TYPE, type XdsResource } from './proto.js';
import { memoize, type ConfigIndex } from './snapshot-index.js';
import { upstreamMtls } from './mtls.js';
import { proxylessTransportSocket, servedWithMtls, type InstancesByService } from './proxyless-tls.js';

const CONNECT_TIMEOUT_MS = 5000;

/** Tells a sidecar (Envoy-style) to speak HTTP/2 upstream, for grpc and http2 ports. */
function http2Options(protocol: PortProtocol | undefined): Record<string, unknown> {
  if (protocol !== 'grpc' && protocol !== 'http2') return {};
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': HTTP_PROTOCOL_OPTIONS_TYPE,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}

/** The cluster a route names, or undefined for an unknown Service, port or subset. */
function outboundCluster(
  services: ReadonlyMap<string, ServiceResource>,
  kind: NodeKind,
  name: string,
): XdsResource | undefined {
  const ref = parseOutboundClusterName(name);
  const svc = ref && services.get(serviceKey(ref.namespace, ref.service));
  const port = svc?.spec.ports.find((p) => p.port === ref?.port);
  if (ref === undefined || port === undefined) return undefined;
  if (ref.subset !== '' && !svc?.spec.subsets.some((s) => s.name === ref.subset)) return undefined;
  return {
    '@type': CLUSTER_TYPE,
    name,
    // gRPC NACKs a cluster without an explicit type; eds_config must be ADS (or self).
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
    connect_timeout: duration(CONNECT_TIMEOUT_MS),
    ...(kind === 'sidecar'
      ? { load_balancing_policy: SIDECAR_LB_POLICY, ...http2Options(port.protocol) }
      : { lb_policy: 'ROUND_ROBIN' }),
  };
}

/**
 * Sidecars balance with peak-EWMA (latency-aware, as linkerd2-proxy does), Trellis's default. It
 * has no Envoy extension, so it is named in a TypedStruct first, with least-request after it: a
 * proxy picks the first policy it knows (gRFC A52 / Envoy `load_balancing_policy`), so Envoy would
 * take least-request. Proxyless gRPC clients keep ROUND_ROBIN (they NACK anything else but RING_HASH).
 */
export const PEAK_EWMA_TYPE_URL = 'type.trellis.dev/trellis.lb.v1.PeakEwma';
const SIDECAR_LB_POLICY = {
  policies: [
    {
      typed_extension_config: {
        name: 'trellis.lb.peak_ewma',
        typed_config: {
          '@type': 'type.googleapis.com/xds.type.v3.TypedStruct',
          type_url: PEAK_EWMA_TYPE_URL,
          value: {},
        },
      },
    },
    {
      typed_extension_config: {
        name: 'envoy.load_balancing_policies.least_request',
        typed_config: {
          '@type':
            'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest',
        },
      },
    },
  ],
};

/** The protocol the sidecar's own app speaks on appPort, from its Service (http when unknown). */
export function appProtocol(index: ConfigIndex, node: NodeInfo, appPort: number): PortProtocol | undefined {
  if (node.service === undefined) return undefined;
  const svc = index.services.get(serviceKey(node.namespace, node.service));
  if (svc === undefined) return undefined;
  // The app port is usually a Service port's targetPort; when it is not (e.g. `trellis up` gave the
  // replica a free port), a Service with one port, or whose ports all speak one protocol, still says it.
  const exact = svc.spec.ports.find((p) => p.targetPort === appPort);
  if (exact !== undefined) return exact.protocol;
  const protocols = new Set(svc.spec.ports.map((p) => p.protocol));
  return protocols.size === 1 ? svc.spec.ports[0]?.protocol : undefined;
}

function inboundCluster(appPort: number, protocol: PortProtocol | undefined): XdsResource {
  return {
    '@type': CLUSTER_TYPE,
    name: inboundClusterName(appPort),
    type: 'STATIC',
    connect_timeout: duration(CONNECT_TIMEOUT_MS),
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: inboundClusterName(appPort),
      endpoints: [
        {
          locality: {},
          load_balancing_weight: 1,
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: appPort } } } },
          ],
        },
      ],
    },
    ...http2Options(protocol),
  };
}

/** Names a node gets for a wildcard CDS subscription: a sidecar's inbound cluster, else none. */
export function defaultClusterNames(node: NodeInfo): readonly string[] {
  const app = node.kind === 'sidecar' ? (node.sidecar?.appPort ?? 0) : 0;
  return app === 0 ? [] : [inboundClusterName(app)];
}

const NO_INSTANCES: InstancesByService = new Map();

/**
 * CDS. Outbound clusters depend only on the node's vocabulary, except for a proxyless client with a
 * certificate provider, whose clusters of mTLS-served Services also carry TLS (so on `instances`:
 * whether a sidecar with an identity serves the Service); inbound ones on its Service's protocol.
 */
export function cluster(
  index: ConfigIndex,
  node: NodeInfo,
  name: string,
  instances: InstancesByService = NO_INSTANCES,
): XdsResource | undefined {
  const appPort = parseInboundClusterName(name);
  if (appPort !== undefined) {
    // STATIC clusters are for sidecars only: gRPC NACKs them.
    if (node.kind !== 'sidecar') return undefined;
    const protocol = appProtocol(index, node, appPort);
    return memoize(index.memo, `cds|inbound|${protocol ?? ''}|${name}`, () =>
      inboundCluster(appPort, protocol),
    );
  }
  // Gateways get exactly the clusters sidecars get (they talk to sidecars' inbound ports too).
  const kind = vocabulary(node.kind);
  const provider = node.kind === 'proxyless' ? node.certProvider : undefined;
  const td = index.trustDomain;
  if (provider !== undefined && td !== undefined) {
    const ref = parseOutboundClusterName(name);
    if (ref && servedWithMtls(index, instances, ref.namespace, ref.service, ref.subset))
      return memoize(index.memo, `cds|proxyless|tls=${provider}|${name}`, () => {
        const c = outboundCluster(index.services, kind, name);
        return c && { ...c, ...proxylessTransportSocket(td, ref.namespace, ref.service, provider) };
      });
  }
  return memoize(index.memo, `cds|${kind}|${name}`, () => {
    const c = outboundCluster(index.services, kind, name);
    const ref = c && kind === 'sidecar' ? parseOutboundClusterName(name) : undefined;
    const tls = ref && upstreamMtls(index, ref.namespace, ref.service);
    return tls === undefined ? c : { ...c, ...tls };
  });
}
