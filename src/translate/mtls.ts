// Mesh mTLS in xDS. Inbound: a sidecar with a workload identity (node metadata MTLS) whose Service
// is STRICT gets one filter chain matching transport_protocol "tls" with a DownstreamTlsContext
// (client certificate required); PERMISSIVE adds that chain in front of the plaintext ones; DISABLE
// keeps the plaintext listener. Outbound: clusters of Services that are not DISABLE get a
// transport_socket_match for endpoints whose metadata says `tlsMode: trellis` (instances registered
// by a sidecar with an identity): TLS with the client certificate, the trust bundle and an exact
// URI SAN match of the Service's SPIFFE ID. Secrets are SDS names the proxy resolves from its own
// identity (`default`, `ROOTCA`), as Istio's node agent does; nothing secret is in the config.
import type { MtlsMode } from '../api/types.js';
import { mtlsModeFor } from '../api/schema-mtls.js';
import { duration, TLS_INSPECTOR_TYPE, type XdsResource } from './proto.js';
import type { ConfigIndex } from './snapshot-index.js';

export const TLS_MODE_KEY = 'tlsMode';
export const TLS_MODE_TRELLIS = 'trellis';
export const TLS_MATCH_METADATA = 'envoy.transport_socket_match';
const DOWNSTREAM_TLS_TYPE =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
/** Offered both ways: sidecars prefer one multiplexed HTTP/2 connection per peer pair. */
const ALPN = ['h2', 'http/1.1'];

/** The SPIFFE ID of a Service's workloads (the service account defaults to the Service's name). */
export const spiffeIdOf = (trustDomain: string, namespace: string, service: string): string =>
  `spiffe://${trustDomain}/ns/${namespace}/sa/${service}`;

/** A Service's mTLS mode; DISABLE when the control plane has no CA (no trust domain). */
export function serviceMtlsMode(index: ConfigIndex, namespace: string, service: string): MtlsMode {
  if (index.trustDomain === undefined) return 'DISABLE';
  return mtlsModeFor(index.meshTls, namespace, service);
}

const sds = (name: string): Record<string, unknown> => ({
  name,
  sds_config: { ads: {}, resource_api_version: 'V3' },
});

function commonTlsContext(san: string | undefined): Record<string, unknown> {
  return {
    tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3' },
    alpn_protocols: ALPN,
    tls_certificate_sds_secret_configs: [sds('default')],
    combined_validation_context: {
      default_validation_context:
        san === undefined
          ? {}
          : { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: san } }] },
      validation_context_sds_secret_config: sds('ROOTCA'),
    },
  };
}

function downstreamTransportSocket(): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS_TYPE,
      common_tls_context: commonTlsContext(undefined),
      require_client_certificate: true,
      disable_stateless_session_resumption: true,
    },
  };
}

/**
 * The inbound listener for `mode`: `plain` is the listener without mTLS (an HTTP chain and/or a
 * tcp chain); the TLS chain runs the HTTP chain's filters (or the tcp chain's for a tcp app).
 */
export function inboundWithMtls(plain: XdsResource, mode: MtlsMode): XdsResource {
  if (mode === 'DISABLE') return plain;
  const chains = (plain['filter_chains'] as Record<string, unknown>[] | undefined) ?? [];
  const dflt = plain['default_filter_chain'] as Record<string, unknown> | undefined;
  const inner = chains.find((c) => c['name'] === 'http') ?? chains[0] ?? dflt;
  if (inner === undefined) return plain;
  const tlsChain = {
    name: 'mtls',
    filter_chain_match: { transport_protocol: 'tls' },
    transport_socket: downstreamTransportSocket(),
    filters: inner['filters'],
  };
  const tlsInspector = {
    name: 'envoy.filters.listener.tls_inspector',
    typed_config: { '@type': TLS_INSPECTOR_TYPE },
  };
  const { default_filter_chain: _d, listener_filters: lf, ...rest } = plain;
  if (mode === 'STRICT') return { ...rest, listener_filters: [tlsInspector], filter_chains: [tlsChain] };
  // PERMISSIVE: TLS first, then the plaintext chains (sniffing needs the TLS inspector).
  const filters = (lf as unknown[] | undefined) ?? [tlsInspector];
  return {
    ...rest,
    listener_filters: filters,
    ...(lf === undefined
      ? { listener_filters_timeout: duration(100), continue_on_listener_filters_timeout: true }
      : {}),
    filter_chains: [tlsChain, ...chains],
    ...(dflt !== undefined ? { default_filter_chain: dflt } : {}),
  };
}

/** transport_socket_matches for a Service's cluster: TLS to sidecar'd endpoints (not DISABLE). */
export function upstreamMtls(
  index: ConfigIndex,
  namespace: string,
  service: string,
): Record<string, unknown> | undefined {
  const td = index.trustDomain;
  if (td === undefined || serviceMtlsMode(index, namespace, service) === 'DISABLE') return undefined;
  return {
    transport_socket_matches: [
      {
        name: `tlsMode-${TLS_MODE_TRELLIS}`,
        match: { [TLS_MODE_KEY]: TLS_MODE_TRELLIS },
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': UPSTREAM_TLS_TYPE,
            common_tls_context: commonTlsContext(spiffeIdOf(td, namespace, service)),
          },
        },
      },
    ],
  };
}

/**
 * Whether a registered instance terminates mTLS when its Service is in `mode`: one registered with
 * `mtls` by a sidecar (which sniffs TLS, so also in PERMISSIVE), or by a proxyless gRPC server only
 * in STRICT (its server Listener serves plaintext otherwise: server-listeners.ts). (In DISABLE
 * clusters carry no TLS at all, whatever their endpoints say.)
 */
export const instanceServesMtls = (
  inst: { readonly mtls?: boolean; readonly proxyless?: boolean },
  mode: MtlsMode,
): boolean => inst.mtls === true && (inst.proxyless !== true || mode === 'STRICT');

/** EDS metadata of an instance whose sidecar terminates mTLS. */
export const MTLS_ENDPOINT_METADATA = Object.freeze({
  filter_metadata: { [TLS_MATCH_METADATA]: { [TLS_MODE_KEY]: TLS_MODE_TRELLIS } },
});
