// LDS: a proxyless client's api_listener per dial target (`xds:///reviews` -> Listener `reviews`),
// a sidecar's socket listeners: `trellis_outbound` (RDS + VHDS), `trellis_inbound` (protocol
// detection, or opaque TCP for a tcp app port) and one per per-upstream local port; a gateway's
// listeners are built in gateway.ts.
import type { PortProtocol } from '../api/types.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { LISTENER_TYPE } from '../xds/type-urls.js';
import { appProtocol } from './clusters.js';
import { parseHost, resolveHost } from './hosts.js';
import type { NodeInfo, SidecarPorts, UpstreamPort } from './node.js';
import {
  inboundClusterName,
  INBOUND_LISTENER,
  outboundClusterName,
  OUTBOUND_LISTENER,
  OUTBOUND_ROUTE_CONFIG,
  routeConfigName,
  upstreamListenerName,
} from './names.js';
import {
  duration,
  hcmFilter,
  HCM_TYPE,
  socketAddress,
  HTTP_INSPECTOR_TYPE,
  routerFilter,
  TCP_PROXY_TYPE,
  TLS_INSPECTOR_TYPE,
  type XdsResource,
} from './proto.js';
import { gatewayListener, gatewayListenerNames } from './gateway.js';
import { virtualHostParts } from './routes.js';
import { inboundSecurity, sidecarPolicies, type SidecarPolicies } from './authz.js';
import { memoize, type ConfigIndex } from './snapshot-index.js';
import { inboundWithMtls, serviceMtlsMode } from './mtls.js';
import { isServerListenerName, serverListener } from './server-listeners.js';

/** Proxyless: the Listener named exactly as the client asked, pointing at the canonical RDS name. */
function apiListener(index: ConfigIndex, node: NodeInfo, name: string): XdsResource | undefined {
  // Depends on the node's namespace only when the name is short (`reviews`, `reviews:9080`).
  const nsKey = parseHost(name)?.namespace === undefined ? node.namespace : '';
  return memoize(index.memo, `lds|proxyless|${nsKey}|${name}`, () => {
    const resolved = resolveHost(index.services, name, node.namespace, 'proxyless');
    if (resolved === undefined) return undefined;
    const { service, port } = resolved;
    return {
      '@type': LISTENER_TYPE,
      name,
      api_listener: {
        api_listener: {
          '@type': HCM_TYPE,
          rds: {
            route_config_name: routeConfigName(service.metadata.name, service.metadata.namespace, port.port),
            config_source: { ads: {} },
          },
          // No idle_timeout: grpc-js would take it as a deadline for every RPC.
          http_filters: [routerFilter()],
        },
      },
    };
  });
}

function outboundListener(sc: SidecarPorts): XdsResource | undefined {
  if (sc.outboundPort === 0) return undefined;
  return {
    '@type': LISTENER_TYPE,
    name: OUTBOUND_LISTENER,
    address: socketAddress(sc.address, sc.outboundPort),
    filter_chains: [
      {
        filters: [
          hcmFilter({
            stat_prefix: OUTBOUND_LISTENER,
            rds: { route_config_name: OUTBOUND_ROUTE_CONFIG, config_source: { ads: {} } },
          }),
        ],
      },
    ],
  };
}

/** Envoy's tcp_proxy network filter to one cluster (idle timeout: Envoy's default, 1 h). */
function tcpProxyFilter(statPrefix: string, cluster: string): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: statPrefix, cluster },
  };
}

/** Protocol detection on the inbound port: the TLS and HTTP inspectors, bounded by this timeout. */
const DETECT_TIMEOUT_MS = 100;

/**
 * `trellis_inbound`, to the local app. A `tcp` app port (server-first protocols: MySQL, SMTP) gets
 * one tcp_proxy chain and is never sniffed. Other ports sniff the first bytes (Istio-style): the
 * HTTP chain matches application_protocols http/1.1 and h2c, everything else (TLS until mTLS lands,
 * other bytes, or silence past the timeout) takes the tcp_proxy default chain to the same app.
 */
function inboundListener(
  sc: SidecarPorts,
  protocol: PortProtocol | undefined,
  policies: SidecarPolicies | undefined,
  namespace: string,
): XdsResource | undefined {
  if (sc.inboundPort === 0 || sc.appPort === 0) return undefined;
  const cluster = inboundClusterName(sc.appPort);
  const base = {
    '@type': LISTENER_TYPE,
    name: INBOUND_LISTENER,
    address: socketAddress(sc.address, sc.inboundPort),
  };
  if (protocol === 'tcp')
    return {
      ...base,
      filter_chains: [{ name: 'tcp', filters: [tcpProxyFilter(INBOUND_LISTENER, cluster)] }],
    };
  const route = { cluster, timeout: duration(0) };
  if (policies !== undefined) {
    // Security: HTTP only (no detection: bytes it would not recognise as HTTP, e.g. sent after
    // the detection timeout, would reach the app past the policies through tcp_proxy).
    const sec = inboundSecurity(policies, namespace, sc.appPort);
    const hcm = hcmFilter({ stat_prefix: INBOUND_LISTENER, ...sec.hcm, route_config: inboundRoutes(route) });
    const tc = hcm['typed_config'] as Record<string, unknown>;
    tc['http_filters'] = [...sec.httpFilters, ...(tc['http_filters'] as unknown[])];
    return { ...base, filter_chains: [{ name: 'http', filters: [hcm] }] };
  }
  return {
    ...base,
    listener_filters: [
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR_TYPE } },
      { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': HTTP_INSPECTOR_TYPE } },
    ],
    listener_filters_timeout: duration(DETECT_TIMEOUT_MS),
    continue_on_listener_filters_timeout: true,
    filter_chains: [
      {
        name: 'http',
        filter_chain_match: { application_protocols: ['http/1.1', 'h2c'] },
        filters: [
          hcmFilter({
            stat_prefix: INBOUND_LISTENER,
            route_config: inboundRoutes(route),
          }),
        ],
      },
    ],
    default_filter_chain: { name: 'tcp', filters: [tcpProxyFilter(INBOUND_LISTENER, cluster)] },
  };
}

function inboundRoutes(route: Record<string, unknown>): Record<string, unknown> {
  return {
    name: INBOUND_LISTENER,
    virtual_hosts: [
      {
        name: INBOUND_LISTENER,
        domains: ['*'],
        routes: [{ name: 'default', match: { prefix: '/' }, route }],
      },
    ],
  };
}

/**
 * `trellis_upstream_<svc>.<ns>_<port>` on 127.0.0.1:<localPort>, for apps that can't use an HTTP
 * proxy and for TCP Services: an HTTP port gets an HCM whose only virtual host (domains `*`, so any
 * Host works) has the same routes the Service's VHDS virtual host has; a tcp port a tcp_proxy to
 * `outbound|<port>||<svc>.<ns>`. Undefined while the Service or port does not exist.
 */
function upstreamListener(index: ConfigIndex, node: NodeInfo, up: UpstreamPort): XdsResource | undefined {
  const service = index.services.get(serviceKey(up.namespace, up.service));
  const port = service?.spec.ports.find((p) => p.port === up.port);
  if (service === undefined || port === undefined) return undefined;
  const name = upstreamListenerName(up.service, up.namespace, up.port);
  const base = {
    '@type': LISTENER_TYPE,
    name,
    address: socketAddress('127.0.0.1', up.localPort),
    traffic_direction: 'OUTBOUND',
  };
  if (port.protocol === 'tcp') {
    const cluster = outboundClusterName(up.service, up.namespace, up.port);
    return { ...base, filter_chains: [{ filters: [tcpProxyFilter(name, cluster)] }] };
  }
  const parts = virtualHostParts(index, service, port, node);
  const vhName = routeConfigName(up.service, up.namespace, up.port);
  return {
    ...base,
    filter_chains: [
      {
        filters: [
          hcmFilter({
            stat_prefix: name,
            route_config: {
              name,
              virtual_hosts: [{ name: vhName, domains: ['*'], routes: parts.routes }],
            },
          }),
        ],
      },
    ],
  };
}

/** Names a node gets for a wildcard LDS subscription: a sidecar's or gateway's listeners, else none. */
export function defaultListenerNames(node: NodeInfo, index?: ConfigIndex): readonly string[] {
  if (node.kind === 'gateway') return index ? gatewayListenerNames(index, node) : [];
  if (node.kind !== 'sidecar') return [];
  const ups = node.sidecar?.upstreams ?? [];
  return [
    OUTBOUND_LISTENER,
    INBOUND_LISTENER,
    ...ups.map((u) => upstreamListenerName(u.service, u.namespace, u.port)),
  ];
}

/** What a sidecar's listeners depend on besides the snapshot (memo keys, translationScope). */
export function sidecarListenerScope(node: NodeInfo): string {
  const sc = node.sidecar;
  if (sc === undefined) return '';
  const ups = (sc.upstreams ?? []).map((u) => `${u.service}.${u.namespace}:${u.port}=${u.localPort}`);
  return `${sc.address}|${sc.outboundPort}|${sc.inboundPort}|${sc.appPort}|${node.namespace}|${node.service ?? ''}|${ups.join(',')}${sc.mtls === true ? '|mtls' : ''}`;
}

export function listener(index: ConfigIndex, node: NodeInfo, name: string): XdsResource | undefined {
  if (node.kind === 'gateway') return gatewayListener(index, node, name);
  if (node.kind === 'proxyless' || node.sidecar === undefined)
    return isServerListenerName(name) ? serverListener(index, node, name) : apiListener(index, node, name);
  const sc = node.sidecar;
  const key = `lds|sidecar|${sidecarListenerScope(node)}|${name}`;
  if (name === OUTBOUND_LISTENER) return memoize(index.memo, key, () => outboundListener(sc));
  if (name === INBOUND_LISTENER)
    return memoize(index.memo, key, () => {
      const protocol = appProtocol(index, node, sc.appPort);
      const policies = protocol === 'tcp' ? undefined : sidecarPolicies(index, node, sc.appPort);
      const plain = inboundListener(sc, protocol, policies, node.namespace);
      // mTLS: only a sidecar with a workload identity can terminate it (mtls.ts).
      if (plain === undefined || sc.mtls !== true || node.service === undefined) return plain;
      return inboundWithMtls(plain, serviceMtlsMode(index, node.namespace, node.service));
    });
  const up = sc.upstreams?.find((u) => upstreamListenerName(u.service, u.namespace, u.port) === name);
  if (up !== undefined) return memoize(index.memo, key, () => upstreamListener(index, node, up));
  return undefined;
}
