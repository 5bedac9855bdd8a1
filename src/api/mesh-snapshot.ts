// An immutable view of the whole mesh at one moment: validated resources plus registered
// instances. translate/ turns it into xDS for one node; the control plane rebuilds it on change.
import type {
  AuthorizationPolicyResource,
  GatewayResource,
  SecretResource,
  TLSRouteResource,
  ConfigMapResource,
  GRPCRouteResource,
  HTTPRouteResource,
  MeshTLSResource,
  RequestAuthenticationResource,
  ServiceResource,
} from './types.js';

/** An instance registered at run time (by a sidecar, or by anything using the registration API). */
export interface InstanceConfig {
  readonly id: string;
  readonly service: string;
  readonly namespace: string;
  /** IPv4 or IPv6 literal. */
  readonly address: string;
  /** The port mesh traffic for this instance is sent to (a sidecar's inbound port). */
  readonly port: number;
  /** Per service-port-name overrides of `port`. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  /** True when a Trellis sidecar fronts this instance. */
  readonly sidecar: boolean;
  /** True when that sidecar has a workload identity and terminates mTLS on `port`. */
  readonly mtls?: boolean;
  /**
   * True when a proxyless gRPC server (`trellis grpc-agent --serve`) registered it: with `mtls` it
   * serves mTLS itself (gRFC A36/A29 server Listener), but only while its Service is STRICT (gRPC
   * cannot tell TLS from plaintext on one port, so PERMISSIVE serves plaintext there).
   */
  readonly proxyless?: boolean;
}

export interface MeshSnapshot {
  /** Changes whenever resources change. */
  readonly configVersion: number;
  /** Changes whenever registered instances change. */
  readonly endpointsVersion: number;
  /** Keyed `namespace/name`. */
  readonly services: ReadonlyMap<string, ServiceResource>;
  readonly httpRoutes: readonly HTTPRouteResource[];
  readonly grpcRoutes: readonly GRPCRouteResource[];
  /** Keyed `namespace/name`. (Workloads are run by `trellis up` and never reach translate.) */
  readonly gateways: ReadonlyMap<string, GatewayResource>;
  /** Security policies (absent: none); they shape the inbound listeners of the Services they target. */
  readonly authorizationPolicies?: readonly AuthorizationPolicyResource[];
  readonly requestAuthentications?: readonly RequestAuthenticationResource[];
  /** kubernetes.io/tls Secrets keyed `namespace/name` (absent: none): HTTPS Gateway listeners' certificates. */
  readonly secrets?: ReadonlyMap<string, SecretResource>;
  /** ConfigMaps keyed `namespace/name` (absent: none): CA bundles for Gateway client certificate validation. */
  readonly configMaps?: ReadonlyMap<string, ConfigMapResource>;
  /** TLSRoutes (absent: none): TLS passthrough on Gateway listeners with protocol TLS. */
  readonly tlsRoutes?: readonly TLSRouteResource[];
  /** MeshTLS policies (absent: none, every Service STRICT). */
  readonly meshTls?: readonly MeshTLSResource[];
  /** The CA's trust domain; absent (no CA): no mTLS anywhere. */
  readonly trustDomain?: string;
  /** Registered instances keyed by the Service's `namespace/name`. */
  readonly instances: ReadonlyMap<string, readonly InstanceConfig[]>;
}

export const serviceKey = (namespace: string, name: string): string => `${namespace}/${name}`;
