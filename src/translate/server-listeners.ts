// Server Listeners for proxyless gRPC servers (gRFC A36 xDS-enabled servers, with A29 for their
// TLS): an XdsServer (grpc-js-xds, grpc-go, grpc-java) bound to IP:PORT asks for the Listener named
// by its bootstrap's `server_listener_resource_name_template` (`trellis grpc-agent` writes
// SERVER_LISTENER_TEMPLATE, so the name is `grpc/server?xds.resource.listening_address=IP:PORT`)
// and serves nothing until it gets one whose address is exactly IP:PORT.
//
// A node whose metadata names its Service (SERVICE, NAMESPACE) gets, for any such name, one filter
// chain (no filter_chain_match: every connection) with an HttpConnectionManager whose inline
// route_config lets every RPC through (non_forwarding_action, the only action a server takes), the
// Service's AuthorizationPolicies as RBAC filters (gRFC A41) and the router last; plus, when the
// Service is STRICT and the node has a certificate provider (node CERT_PROVIDER, the bootstrap's
// `file_watcher` instance), a DownstreamTlsContext naming that provider for the server's
// certificate and for the trust bundle, with the client certificate required.
//
// What gRPC does not support and how it is mapped (docs/security.md, proxyless servers):
// - Its filter chain match only takes transport_protocol "raw_buffer" (no TLS sniffing), so one
//   port cannot take TLS and plaintext: PERMISSIVE serves plaintext (as Istio does), and the
//   instance is then not marked for mTLS (mtls.ts instanceServesMtls); DISABLE serves plaintext.
// - RBAC needs GRPC_XDS_EXPERIMENTAL_RBAC=true in the server (grpc-js-xds 1.14); without it the
//   server NACKs a Listener carrying RBAC filters and does not serve: fail closed.
// - RBAC action LOG is refused: AUDIT policies are left out (no audit log lines for these servers).
// - No JWT filter: when a RequestAuthentication applies, every RPC is denied (policy
//   `trellis/request-authentication-unsupported`) rather than skip token checks.
// - Denials say PERMISSION_DENIED "Unauthorized RPC rejected", without the policy's name.
// - A change between TLS and plaintext reaches the server only because the HCM differs too (below).
import { serviceKey } from '../api/mesh-snapshot.js';
import { LISTENER_TYPE } from '../xds/type-urls.js';
import { isIpLiteral } from './endpoints.js';
import { inboundSecurity, JWT_FILTER, RBAC_TYPE, sidecarPolicies } from './authz.js';
import { serviceMtlsMode } from './mtls.js';
import type { NodeInfo } from './node.js';
import { HCM_TYPE, routerFilter, socketAddress, type XdsResource } from './proto.js';
import { memoize, type ConfigIndex } from './snapshot-index.js';

type Obj = Record<string, unknown>;

/** The resource name template `trellis grpc-agent` puts in the bootstrap (gRFC A36's example). */
export const SERVER_LISTENER_PREFIX = 'grpc/server?xds.resource.listening_address=';
export const SERVER_LISTENER_TEMPLATE = `${SERVER_LISTENER_PREFIX}%s`;

const DOWNSTREAM_TLS_TYPE =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const DENY_ALL_JWT_POLICY = 'trellis/request-authentication-unsupported';

/** The name an XdsServer bound to `host:port` asks for (an IPv6 host in brackets, as bound). */
export const serverListenerName = (host: string, port: number): string =>
  `${SERVER_LISTENER_PREFIX}${host.includes(':') ? `[${host}]` : host}:${port}`;

/** `grpc/server?xds.resource.listening_address=IP:PORT` -> the IP literal and port, else undefined. */
export function parseServerListenerName(name: string): { host: string; port: number } | undefined {
  if (!name.startsWith(SERVER_LISTENER_PREFIX)) return undefined;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(name.slice(SERVER_LISTENER_PREFIX.length));
  if (m === null) return undefined;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (!isIpLiteral(host) || (m[1] !== undefined) !== host.includes(':')) return undefined;
  return port >= 1 && port <= 65535 ? { host, port } : undefined;
}

export const isServerListenerName = (name: string): boolean => name.startsWith(SERVER_LISTENER_PREFIX);

/** What a server Listener depends on besides the snapshot (memo keys, translationScope). */
export const serverListenerScope = (node: NodeInfo): string =>
  `${node.namespace}|${node.service ?? ''}|${node.certProvider ?? ''}`;

/** The Service's DENY and ALLOW policies as gRPC RBAC filters (distinct names: gRPC NACKs repeats). */
function rbacFilters(index: ConfigIndex, node: NodeInfo, port: number): Obj[] {
  const policies = sidecarPolicies(index, node, port);
  if (policies === undefined) return [];
  if (policies.authn.length > 0)
    // No JWT verification in gRPC: refuse every RPC rather than let tokens (and claims) through unchecked.
    return [
      {
        name: 'envoy.filters.http.rbac.request-authentication',
        typed_config: {
          '@type': RBAC_TYPE,
          rules: {
            action: 'DENY',
            policies: {
              [DENY_ALL_JWT_POLICY]: { permissions: [{ any: true }], principals: [{ any: true }] },
            },
          },
        },
      },
    ];
  const out: Obj[] = [];
  for (const f of inboundSecurity(policies, node.namespace, port).httpFilters) {
    if (f['name'] === JWT_FILTER) continue;
    const action = ((f['typed_config'] as Obj)['rules'] as Obj)['action'];
    if (action === 'LOG') continue; // gRPC refuses LOG (AUDIT): left out
    out.push({ ...f, name: `envoy.filters.http.rbac.${String(action).toLowerCase()}` });
  }
  return out;
}

function downstreamTls(provider: string): Obj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS_TYPE,
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: provider },
        validation_context: { ca_certificate_provider_instance: { instance_name: provider } },
      },
      require_client_certificate: true,
    },
  };
}

/**
 * The server Listener `name` for a proxyless node of a Service, or undefined (not a server
 * listener name, no Service in the node's metadata, or no such Service: the server then waits).
 */
export function serverListener(index: ConfigIndex, node: NodeInfo, name: string): XdsResource | undefined {
  const addr = parseServerListenerName(name);
  if (addr === undefined || node.kind !== 'proxyless' || node.service === undefined) return undefined;
  const service = node.service;
  return memoize(index.memo, `lds|grpc-server|${serverListenerScope(node)}|${name}`, () => {
    if (!index.services.has(serviceKey(node.namespace, service))) return undefined;
    const mode = serviceMtlsMode(index, node.namespace, service);
    const tls = mode === 'STRICT' && node.certProvider !== undefined;
    // The transport is in the HCM (stat_prefix): grpc-js-xds 1.14 compares a new Listener with the
    // one it serves by the filters' bytes first, and its transport_socket comparison is inverted
    // (plaintext -> TLS looks "equivalent" and is ignored; TLS -> plaintext throws), so a change of
    // mode must change the filter bytes for the server to take it.
    const statPrefix = `grpc_server_${tls ? 'mtls' : 'plaintext'}_${addr.port}`;
    return {
      '@type': LISTENER_TYPE,
      name,
      address: socketAddress(addr.host, addr.port),
      filter_chains: [
        {
          name: tls ? 'mtls' : 'plaintext',
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: {
                '@type': HCM_TYPE,
                stat_prefix: statPrefix,
                route_config: {
                  name: statPrefix,
                  virtual_hosts: [
                    {
                      name: `${service}.${node.namespace}`,
                      domains: ['*'],
                      routes: [{ name: 'default', match: { prefix: '' }, non_forwarding_action: {} }],
                    },
                  ],
                },
                http_filters: [...rbacFilters(index, node, addr.port), routerFilter()],
              },
            },
          ],
          ...(tls && node.certProvider !== undefined
            ? { transport_socket: downstreamTls(node.certProvider) }
            : {}),
        },
      ],
    };
  });
}
