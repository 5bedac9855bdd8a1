// LDS: a proxyless client's api_listener per dial target (`xds:///reviews` -> Listener `reviews`),
// and a sidecar's two socket listeners, `trellis_outbound` (RDS + VHDS) and `trellis_inbound`.
import { LISTENER_TYPE } from '../xds/type-urls.js';
import { parseHost, resolveHost } from './hosts.js';
import type { NodeInfo, SidecarPorts } from './node.js';
import {
  inboundClusterName,
  INBOUND_LISTENER,
  OUTBOUND_LISTENER,
  OUTBOUND_ROUTE_CONFIG,
  routeConfigName,
} from './names.js';
import { duration, HCM_TYPE, routerFilter, type XdsResource } from './proto.js';
import { memoize, type ConfigIndex } from './snapshot-index.js';

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

const socketAddress = (address: string, port: number): Record<string, unknown> => ({
  socket_address: { address, port_value: port },
});

function hcmFilter(hcm: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: { '@type': HCM_TYPE, codec_type: 'AUTO', ...hcm, http_filters: [routerFilter()] },
  };
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

function inboundListener(sc: SidecarPorts): XdsResource | undefined {
  if (sc.inboundPort === 0 || sc.appPort === 0) return undefined;
  const route = { cluster: inboundClusterName(sc.appPort), timeout: duration(0) };
  return {
    '@type': LISTENER_TYPE,
    name: INBOUND_LISTENER,
    address: socketAddress(sc.address, sc.inboundPort),
    filter_chains: [
      {
        filters: [
          hcmFilter({
            stat_prefix: INBOUND_LISTENER,
            route_config: {
              name: INBOUND_LISTENER,
              virtual_hosts: [
                {
                  name: INBOUND_LISTENER,
                  domains: ['*'],
                  routes: [{ name: 'default', match: { prefix: '/' }, route }],
                },
              ],
            },
          }),
        ],
      },
    ],
  };
}

/** Names a node gets for a wildcard LDS subscription: a sidecar's two listeners, else none. */
export function defaultListenerNames(node: NodeInfo): readonly string[] {
  return node.kind === 'sidecar' ? [OUTBOUND_LISTENER, INBOUND_LISTENER] : [];
}

export function listener(index: ConfigIndex, node: NodeInfo, name: string): XdsResource | undefined {
  if (node.kind === 'proxyless' || node.sidecar === undefined) return apiListener(index, node, name);
  const sc = node.sidecar;
  const key = `lds|sidecar|${sc.address}|${sc.outboundPort}|${sc.inboundPort}|${sc.appPort}|${name}`;
  if (name === OUTBOUND_LISTENER) return memoize(index.memo, key, () => outboundListener(sc));
  if (name === INBOUND_LISTENER) return memoize(index.memo, key, () => inboundListener(sc));
  return undefined;
}
