// Mesh mTLS for proxyless gRPC clients (gRFC A29). A client whose bootstrap has a certificate
// provider (`trellis grpc-agent` writes a file_watcher one and says so in node metadata
// CERT_PROVIDER) gets, on the cluster of a Service its sidecars serve over mTLS, a transport_socket
// with an UpstreamTlsContext naming that provider for its own certificate and for the trust bundle,
// and the Service's exact SPIFFE ID as the only acceptable server SAN. With XdsChannelCredentials
// the client then dials those endpoints with TLS and its workload certificate.
//
// gRPC has no transport_socket_matches: security is per cluster, not per endpoint. A cluster is
// secured when the Service is not DISABLE and at least one of its instances (of the subset, for a
// subset cluster) was registered by a sidecar with an identity (the endpoints the sidecar path
// dials with TLS); a cluster with only static or plaintext-registered endpoints stays plaintext.
// In one that mixes both, the plaintext endpoints fail their TLS handshake and round robin skips
// them (RPCs go to the others).
import type { InstanceConfig, MeshSnapshot } from '../api/mesh-snapshot.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { instanceServesMtls, serviceMtlsMode, spiffeIdOf } from './mtls.js';
import type { ConfigIndex } from './snapshot-index.js';

const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

export type InstancesByService = ReadonlyMap<string, readonly InstanceConfig[]>;

const matches = (labels: Readonly<Record<string, string>>, want: Readonly<Record<string, string>>): boolean =>
  Object.entries(want).every(([k, v]) => labels[k] === v);

/**
 * True when the sidecar path would dial (some of) the endpoints of this Service's cluster with mTLS:
 * the Service is not DISABLE and an instance of it (of the subset, for a subset cluster) was
 * registered by a sidecar with an identity, or is a static endpoint marked `mtls: true`.
 */
export function servedWithMtls(
  index: ConfigIndex,
  instances: InstancesByService,
  namespace: string,
  service: string,
  subset = '',
): boolean {
  const mode = serviceMtlsMode(index, namespace, service);
  if (index.trustDomain === undefined || mode === 'DISABLE') return false;
  const key = serviceKey(namespace, service);
  const want =
    subset === '' ? {} : (index.services.get(key)?.spec.subsets.find((s) => s.name === subset)?.labels ?? {});
  return (
    (instances.get(key) ?? []).some((i) => instanceServesMtls(i, mode) && matches(i.labels, want)) ||
    (index.services.get(key)?.spec.endpoints ?? []).some((e) => e.mtls === true && matches(e.labels, want))
  );
}

/**
 * The cluster's `transport_socket` for a proxyless client with certificate provider `provider`.
 * Only what grpc-js-xds 1.14 accepts: provider instances (no SDS, no tls_params, no inline
 * certificates), a plain `validation_context`, and `match_subject_alt_names` (the matcher it reads;
 * an exact matcher compares the SAN value without its `URI:` type, byte for byte).
 */
export function proxylessTransportSocket(
  trustDomain: string,
  namespace: string,
  service: string,
  provider: string,
): Record<string, unknown> {
  return {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': UPSTREAM_TLS_TYPE,
        common_tls_context: {
          tls_certificate_provider_instance: { instance_name: provider },
          validation_context: {
            ca_certificate_provider_instance: { instance_name: provider },
            match_subject_alt_names: [{ exact: spiffeIdOf(trustDomain, namespace, service) }],
          },
        },
      },
    },
  };
}

/**
 * A stable digest of which clusters are served with mTLS (each Service, and each of its subsets,
 * with an instance registered with `mtls`): when it changes, proxyless clusters change too, so the
 * control plane must not treat the change as endpoints-only.
 */
export function mtlsServedKey(snapshot: Pick<MeshSnapshot, 'services' | 'instances'>): string {
  const out: string[] = [];
  for (const [key, list] of snapshot.instances) {
    const served = list.filter((i) => i.mtls === true);
    if (served.length === 0) continue;
    out.push(key);
    for (const sub of snapshot.services.get(key)?.spec.subsets ?? [])
      if (served.some((i) => matches(i.labels, sub.labels))) out.push(`${key}|${sub.name}`);
  }
  return out.sort().join(',');
}
