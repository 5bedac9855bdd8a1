// The validated, defaulted, frozen config model (`*Config`): what every module past api/ sees.
// The user's YAML (`*Spec`) is parsed into these by parse.ts; field names follow the Gateway API.

export const TRELLIS_API_VERSION = 'trellis.dev/v1alpha1';
export const GATEWAY_API_VERSION = 'gateway.networking.k8s.io/v1';

export type ResourceKind =
  | 'Service'
  | 'HTTPRoute'
  | 'GRPCRoute'
  | 'Gateway'
  | 'Workload'
  | 'AuthorizationPolicy'
  | 'RequestAuthentication'
  | 'MeshTLS'
  | 'Secret'
  | 'TLSRoute'
  | 'ConfigMap';
export const RESOURCE_KINDS: readonly ResourceKind[] = [
  'Service',
  'HTTPRoute',
  'GRPCRoute',
  'Gateway',
  'Workload',
  'AuthorizationPolicy',
  'RequestAuthentication',
  'MeshTLS',
  'Secret',
  'TLSRoute',
  'ConfigMap',
];

/** Identifies one resource: kind + namespace + name. */
export interface ResourceKey {
  readonly kind: ResourceKind;
  readonly namespace: string;
  readonly name: string;
}

export const keyString = (k: ResourceKey): string => `${k.kind}/${k.namespace}/${k.name}`;

export interface ObjectMeta {
  readonly name: string;
  /** Defaults to `default`. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------- Service

export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

export interface ServicePortConfig {
  /** Defaults to the protocol name when the Service has a single port, else required. */
  readonly name: string;
  readonly port: number;
  readonly protocol: PortProtocol;
  /** Port on the instances; defaults to `port`. */
  readonly targetPort: number;
}

export interface StaticEndpointConfig {
  /** An IPv4 or IPv6 literal. */
  readonly address: string;
  /** Port on this endpoint for every service port; defaults to each port's targetPort. */
  readonly port?: number;
  /** Per service-port-name overrides of `port`. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  /** Load-balancing weight, 1..1000000; default 1. */
  readonly weight: number;
  /**
   * The endpoint is a Trellis sidecar holding the Service's workload identity: sidecars reach it
   * with mesh mTLS (checking that identity), as they reach registered instances. Default false: a
   * static endpoint is a workload outside the mesh, reached in plain text.
   */
  readonly mtls?: boolean;
}

/** A named set of a Service's instances, selected by labels (e.g. version: v2). */
export interface SubsetConfig {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ServiceSpecConfig {
  readonly ports: readonly ServicePortConfig[];
  readonly endpoints: readonly StaticEndpointConfig[];
  readonly subsets: readonly SubsetConfig[];
}

// ---------------------------------------------------------------- routes (Gateway API)

/** A reference to the parent of a route: in mesh mode (GAMMA) a Service; later a Gateway. */
export interface ParentRefConfig {
  /** '' (core) for Service; 'gateway.networking.k8s.io' for Gateway. */
  readonly group: string;
  readonly kind: 'Service' | 'Gateway';
  readonly name: string;
  readonly namespace: string;
  /** When set, the route applies only to traffic for this port of the Service. */
  readonly port?: number;
  readonly sectionName?: string;
}

export type PathMatchConfig =
  | { readonly type: 'Exact'; readonly value: string }
  | { readonly type: 'PathPrefix'; readonly value: string }
  | { readonly type: 'RegularExpression'; readonly value: string };

export interface HeaderMatchConfig {
  readonly type: 'Exact' | 'RegularExpression';
  /** Lower-cased. */
  readonly name: string;
  readonly value: string;
}

export type QueryParamMatchConfig = HeaderMatchConfig;

export type HTTPMethod =
  'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'CONNECT' | 'OPTIONS' | 'TRACE' | 'PATCH';

export interface HTTPRouteMatchConfig {
  /** Defaults to PathPrefix "/". */
  readonly path: PathMatchConfig;
  readonly headers: readonly HeaderMatchConfig[];
  readonly queryParams: readonly QueryParamMatchConfig[];
  readonly method?: HTTPMethod;
}

export interface HeaderValueConfig {
  readonly name: string;
  readonly value: string;
}

export interface HeaderModifierConfig {
  readonly set: readonly HeaderValueConfig[];
  readonly add: readonly HeaderValueConfig[];
  /** Lower-cased header names. */
  readonly remove: readonly string[];
}

export type PathModifierConfig =
  | { readonly type: 'ReplaceFullPath'; readonly replaceFullPath: string }
  | { readonly type: 'ReplacePrefixMatch'; readonly replacePrefixMatch: string };

export interface BackendRefConfig {
  readonly group: string; // '' for core Service
  readonly kind: 'Service';
  readonly name: string;
  readonly namespace: string;
  /** Service port; defaults to the parent's port, or the Service's only/first matching port. */
  readonly port?: number;
  /** Trellis extension: a named subset of the Service (see ServiceSpecConfig.subsets). */
  readonly subset?: string;
  /** 0..1000000; default 1. A weight of 0 sends nothing to this backend. */
  readonly weight: number;
}

export type HTTPRouteFilterConfig =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifierConfig }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifierConfig }
  | {
      readonly type: 'URLRewrite';
      readonly urlRewrite: { readonly hostname?: string; readonly path?: PathModifierConfig };
    }
  | {
      readonly type: 'RequestRedirect';
      readonly requestRedirect: {
        readonly scheme?: 'http' | 'https';
        readonly hostname?: string;
        readonly path?: PathModifierConfig;
        readonly port?: number;
        /** 301 | 302 | 303 | 307 | 308, default 302. */
        readonly statusCode: number;
      };
    }
  | {
      readonly type: 'RequestMirror';
      readonly requestMirror: {
        readonly backendRef: BackendRefConfig;
        /** Share of requests mirrored, 0..100; default 100. */
        readonly percent: number;
      };
    };

export interface HTTPRouteTimeoutsConfig {
  /** Whole request (including retries), in milliseconds; 0 = no timeout. */
  readonly requestMs?: number;
  /** Each attempt to a backend, in milliseconds. */
  readonly backendRequestMs?: number;
}

/**
 * Gateway API rule retries (GEP-1731, `rules[].retry`). A request is retried, to another endpoint
 * when there is one, after a connect failure, a reset before any response byte, or a response whose
 * status is in `codes`; never after response bytes reached the client, and only when the request
 * body was small enough to be kept for replay.
 */
export interface HTTPRouteRetryConfig {
  /** Retries after the first attempt, 0..10 (0: no retries at all); default 1. */
  readonly attempts: number;
  /** HTTP status codes (400..599, as the Gateway API allows) that are retried; sorted, unique. */
  readonly codes: readonly number[];
  /** Base backoff between attempts in milliseconds (jittered, doubling, capped at 10x); default 25. */
  readonly backoffMs: number;
}

export interface HTTPRouteRuleConfig {
  readonly name?: string;
  /** Never empty: defaults to one PathPrefix "/" match. Any one match selects the rule. */
  readonly matches: readonly HTTPRouteMatchConfig[];
  readonly filters: readonly HTTPRouteFilterConfig[];
  readonly backendRefs: readonly BackendRefConfig[];
  readonly timeouts: HTTPRouteTimeoutsConfig;
  /** Absent: only the proxy's safe retries (connect failures before any byte was sent). */
  readonly retry?: HTTPRouteRetryConfig;
}

export interface HTTPRouteSpecConfig {
  readonly parentRefs: readonly ParentRefConfig[];
  /** Lower-cased; ignored for Service parents (GAMMA), used by Gateways. */
  readonly hostnames: readonly string[];
  readonly rules: readonly HTTPRouteRuleConfig[];
}

export interface GRPCMethodMatchConfig {
  readonly type: 'Exact' | 'RegularExpression';
  /** Fully qualified service, e.g. `shop.Inventory`; absent = any service. */
  readonly service?: string;
  /** Method name, e.g. `GetStock`; absent = any method. */
  readonly method?: string;
}

export interface GRPCRouteMatchConfig {
  readonly method?: GRPCMethodMatchConfig;
  readonly headers: readonly HeaderMatchConfig[];
}

export type GRPCRouteFilterConfig = Extract<
  HTTPRouteFilterConfig,
  { type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestMirror' }
>;

/** gRPC status codes a GRPCRoute retry may name: the ones Envoy and proxyless gRPC both retry on. */
export type GRPCRetryCode =
  'CANCELLED' | 'DEADLINE_EXCEEDED' | 'INTERNAL' | 'RESOURCE_EXHAUSTED' | 'UNAVAILABLE';

/**
 * Trellis extension (GEP-1731 covers HTTPRoute only): `rules[].retry` on a GRPCRoute, the same
 * shape with gRPC status names as codes. Retried when the status comes in a trailers-only response.
 */
export interface GRPCRouteRetryConfig {
  /** Retries after the first attempt, 0..10 (0: no retries at all); default 1. */
  readonly attempts: number;
  /** Sorted, unique. */
  readonly codes: readonly GRPCRetryCode[];
  /** Base backoff in milliseconds; default 25. */
  readonly backoffMs: number;
}

export interface GRPCRouteRuleConfig {
  readonly name?: string;
  /** Never empty: defaults to one match-everything match. */
  readonly matches: readonly GRPCRouteMatchConfig[];
  readonly filters: readonly GRPCRouteFilterConfig[];
  readonly backendRefs: readonly BackendRefConfig[];
  /** Trellis extension; absent: only the proxy's safe retries. */
  readonly retry?: GRPCRouteRetryConfig;
}

export interface GRPCRouteSpecConfig {
  readonly parentRefs: readonly ParentRefConfig[];
  readonly hostnames: readonly string[];
  readonly rules: readonly GRPCRouteRuleConfig[];
}

// ---------------------------------------------------------------- Gateway (ingress)

/** HTTP, HTTPS (TLS terminated) or TLS (passthrough: TLSRoutes by the ClientHello's SNI). */
export type GatewayListenerProtocol = 'HTTP' | 'HTTPS' | 'TLS';

export interface GatewayListenerConfig {
  /** The listener's name: a route's parentRef.sectionName selects it. */
  readonly name: string;
  readonly port: number;
  readonly protocol: GatewayListenerProtocol;
  /** Lower-cased; may start with `*.`; absent = any host. */
  readonly hostname?: string;
  /** Which namespaces' routes may attach: `Same` (the default) or `All`. */
  readonly allowedRoutesFrom: 'Same' | 'All';
  /** HTTPS: TLS terminated with this Secret (kubernetes.io/tls) of the Gateway's namespace. */
  readonly tls?: GatewayListenerTlsConfig;
}

export interface GatewayListenerTlsConfig {
  /** Terminate (HTTPS); Passthrough (protocol TLS: no certificate, the bytes go to the backend). */
  readonly mode: 'Terminate' | 'Passthrough';
  /** Secret names in the Gateway's namespace (Terminate: at least one; Passthrough: none). */
  readonly certificateRefs: readonly string[];
}

/**
 * Client certificate validation on a Gateway's HTTPS ports (Gateway API GEP-91,
 * `spec.tls.frontend`): ConfigMap names (their `ca.crt`, in the Gateway's namespace).
 */
export interface GatewayFrontendTlsConfig {
  /** Every HTTPS port without a perPort entry; absent: no client certificates asked for. */
  readonly defaultCaRefs?: readonly string[];
  readonly perPort: readonly { readonly port: number; readonly caRefs: readonly string[] }[];
}

export interface GatewaySpecConfig {
  /** Must be `trellis`. */
  readonly gatewayClassName: string;
  readonly listeners: readonly GatewayListenerConfig[];
  /** Client certificate validation (spec.tls.frontend); absent: none. */
  readonly frontendTls?: GatewayFrontendTlsConfig;
  /** IP literals the gateway binds (spec.addresses of type IPAddress); default ['127.0.0.1']. */
  readonly addresses: readonly string[];
}

// ---------------------------------------------------------------- TLSRoute (TLS passthrough)

/** A TLSRoute (schema-tlsroute.ts): TLS connections to a TLS Passthrough listener, by SNI. */
export interface TLSRouteSpecConfig {
  /** Gateways only (kind Gateway). */
  readonly parentRefs: readonly ParentRefConfig[];
  /** Lower-cased; exact or `*.suffix`; empty: every SNI its listener serves. */
  readonly hostnames: readonly string[];
  /** One rule (Gateway API v1: exactly one): the weighted backends of a connection. */
  readonly rules: readonly { readonly backendRefs: readonly BackendRefConfig[] }[];
}

// ---------------------------------------------------------------- Workload (trellis up)

export interface WorkloadProbeConfig {
  /** HTTP GET this path on the app (2xx/3xx = ready); absent: a TCP connect to the app's port. */
  readonly httpPath?: string;
  readonly periodMs: number;
  readonly timeoutMs: number;
}

export interface WorkloadUpstreamConfig {
  /** Service name, `name` or `name.namespace`. */
  readonly service: string;
  /** Service port; default: the Service's only/first port. */
  readonly port?: number;
  /** Env var that receives `127.0.0.1:<local port>`; default `<SERVICE>_ADDR` (upper-cased, - → _). */
  readonly env: string;
}

/** A process `trellis up` runs (replicas times), each replica next to its own sidecar. */
export interface WorkloadSpecConfig {
  /** The Service (in the Workload's namespace) the replicas are instances of. */
  readonly service: string;
  /** argv; a YAML string is run by /bin/sh -c. */
  readonly command: readonly string[];
  /** Relative to the file the Workload came from; default its directory. */
  readonly workingDir?: string;
  readonly env: Readonly<Record<string, string>>;
  /** Port the app listens on; absent: one is allocated per replica. Always given to the app as PORT. */
  readonly port?: number;
  /** Instance labels (e.g. version: v2), matched by Service subsets. */
  readonly labels: Readonly<Record<string, string>>;
  /** 0..64; default 1. */
  readonly replicas: number;
  readonly readinessProbe: WorkloadProbeConfig;
  /** Per-upstream local ports on the replica's sidecar. */
  readonly upstreams: readonly WorkloadUpstreamConfig[];
  /**
   * A proxyless gRPC app (@grpc/grpc-js-xds XdsServer / XdsChannelCredentials): no sidecar; each
   * replica gets a `trellis grpc-agent --serve 127.0.0.1:PORT` (identity files, xDS bootstrap,
   * registration). No upstreams and no httpGet probe.
   */
  readonly proxyless?: true;
}

// ---------------------------------------------------------------- policy attachment (next issues)

/**
 * How policies (retries, circuit breaking, outlier detection, rate limits, fault injection, mTLS
 * mode, authorization) attach to what exists: Gateway API policy attachment. A policy kind has
 * `spec.targetRefs` naming a Service (optionally one port by `sectionName`), a route (optionally
 * one rule by `sectionName`), or a namespace; nothing in Service or routes changes shape.
 */
export interface PolicyTargetRefConfig {
  readonly group: string;
  readonly kind: 'Service' | 'HTTPRoute' | 'GRPCRoute' | 'Namespace';
  readonly name: string;
  readonly sectionName?: string;
}

// ---------------------------------------------------------------- security (schema-security.ts)

/**
 * A security policy's target: a Service (optionally one port by name), an ingress Gateway
 * (optionally one listener by name) or the policy's namespace (its Services and Gateways).
 */
export interface SecurityTargetRefConfig {
  /** '' for Service and Namespace; '' or gateway.networking.k8s.io for Gateway. */
  readonly group: string;
  readonly kind: 'Service' | 'Gateway' | 'Namespace';
  readonly name: string;
  /** Service port name, or Gateway listener name: the policy applies to that one only. */
  readonly sectionName?: string;
}

/**
 * One source: its fields are ANDed, the values of one field ORed, `not*` values excluded.
 * identities/services/namespaces need a verified peer (mTLS); a plaintext peer never matches them.
 */
export interface AuthzSourceConfig {
  /** SPIFFE IDs: exact, `prefix*`, `*suffix` or `*` (any authenticated peer). */
  readonly identities: readonly string[];
  readonly notIdentities: readonly string[];
  /** Services of the caller: `name` (the policy's namespace) or `name.namespace`. */
  readonly services: readonly string[];
  readonly notServices: readonly string[];
  readonly namespaces: readonly string[];
  readonly notNamespaces: readonly string[];
  /** `issuer/subject` of a verified JWT: exact, `prefix*`, `*suffix` or `*` (any token). */
  readonly requestPrincipals: readonly string[];
  readonly notRequestPrincipals: readonly string[];
}

/** One operation: fields ANDed, values ORed. */
export interface AuthzOperationConfig {
  /** Service ports (or their target ports). */
  readonly ports: readonly number[];
  readonly notPorts: readonly number[];
  /** Upper-cased; matched case-insensitively. */
  readonly methods: readonly string[];
  readonly notMethods: readonly string[];
  // Exact `/a`, prefix `/a/*`, suffix `*.json`, any `*`, glob `/a/*/b` (`*` one segment, `**` any).
  readonly paths: readonly string[];
  readonly notPaths: readonly string[];
  /** Lower-cased; matched case-insensitively, with or without a port. */
  readonly hosts: readonly string[];
  readonly notHosts: readonly string[];
}

export interface AuthzConditionConfig {
  /** `request.headers[name]`, `request.auth.claims[name]...`, `request.auth.principal`, ... */
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
}

export interface AuthzRuleConfig {
  /** Any one source (empty: any caller). */
  readonly from: readonly AuthzSourceConfig[];
  /** Any one operation (empty: any request). */
  readonly to: readonly AuthzOperationConfig[];
  /** All conditions. */
  readonly when: readonly AuthzConditionConfig[];
}

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT';

export interface AuthorizationPolicySpecConfig {
  readonly targetRefs: readonly SecurityTargetRefConfig[];
  /** Default ALLOW. */
  readonly action: AuthzAction;
  /** Any one rule. ALLOW with no rules allows nothing; DENY/AUDIT with no rules match nothing. */
  readonly rules: readonly AuthzRuleConfig[];
}

export interface JwtHeaderConfig {
  /** Lower-cased. */
  readonly name: string;
  readonly prefix: string;
}

export type JwksSourceConfig =
  | { readonly type: 'inline'; readonly jwks: string }
  | { readonly type: 'file'; readonly path: string }
  | { readonly type: 'uri'; readonly uri: string };

export interface JwtRuleConfig {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly jwks: JwksSourceConfig;
  /** Default: `Authorization: Bearer <token>`. */
  readonly fromHeaders: readonly JwtHeaderConfig[];
  /** Keep the token when forwarding to the app (default false: removed). */
  readonly forwardOriginalToken: boolean;
  /** Allowed clock difference in seconds (default 60). */
  readonly clockSkewSec: number;
}

export interface RequestAuthenticationSpecConfig {
  readonly targetRefs: readonly SecurityTargetRefConfig[];
  readonly jwtRules: readonly JwtRuleConfig[];
}

// ---------------------------------------------------------------- resources

interface ResourceBase<K extends ResourceKind, S> {
  readonly apiVersion: string;
  readonly kind: K;
  readonly metadata: ObjectMeta;
  readonly spec: S;
}

export type ServiceResource = ResourceBase<'Service', ServiceSpecConfig>;
export type HTTPRouteResource = ResourceBase<'HTTPRoute', HTTPRouteSpecConfig>;
export type GRPCRouteResource = ResourceBase<'GRPCRoute', GRPCRouteSpecConfig>;
export type GatewayResource = ResourceBase<'Gateway', GatewaySpecConfig>;
export type WorkloadResource = ResourceBase<'Workload', WorkloadSpecConfig>;
export type AuthorizationPolicyResource = ResourceBase<'AuthorizationPolicy', AuthorizationPolicySpecConfig>;
export type RequestAuthenticationResource = ResourceBase<
  'RequestAuthentication',
  RequestAuthenticationSpecConfig
>;

/** mTLS between sidecars (schema-mtls.ts): STRICT (default), PERMISSIVE or DISABLE. */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';
export interface MeshTLSSpecConfig {
  readonly mode: MtlsMode;
  /** Services or the own Namespace; empty: the namespace (in trellis-system: the whole mesh). */
  readonly targetRefs: readonly Omit<SecurityTargetRefConfig, 'sectionName'>[];
}
export type MeshTLSResource = ResourceBase<'MeshTLS', MeshTLSSpecConfig>;

/** What is shown of a certificate (never the key). */
export interface TlsCertificateInfo {
  /** `CN=shop.example, O=...` */
  readonly subject: string;
  readonly issuer: string;
  /** `DNS:shop.example`, `IP Address:127.0.0.1`, ... */
  readonly sans: readonly string[];
  /** ISO 8601. */
  readonly notBefore: string;
  readonly notAfter: string;
  /** SHA-256 of the DER, hex. */
  readonly sha256: string;
}

/** A Secret (schema-secret.ts): type kubernetes.io/tls only; PEM, normalised to end in a newline. */
export interface SecretSpecConfig {
  readonly type: 'kubernetes.io/tls';
  /** The leaf first. */
  readonly certificateChain: string;
  readonly privateKey: string;
  /** The leaf's facts. */
  readonly certificate: TlsCertificateInfo;
  readonly chainLength: number;
}
export type SecretResource = ResourceBase<'Secret', SecretSpecConfig>;
export type TLSRouteResource = ResourceBase<'TLSRoute', TLSRouteSpecConfig>;
/** A ConfigMap (schema-configmap.ts): string data; `ca.crt` checked as a PEM CA bundle. */
export interface ConfigMapSpecConfig {
  readonly data: Readonly<Record<string, string>>;
}
export type ConfigMapResource = ResourceBase<'ConfigMap', ConfigMapSpecConfig>;
export type Resource =
  | ServiceResource
  | HTTPRouteResource
  | GRPCRouteResource
  | GatewayResource
  | WorkloadResource
  | AuthorizationPolicyResource
  | RequestAuthenticationResource
  | MeshTLSResource
  | SecretResource
  | TLSRouteResource
  | ConfigMapResource;

export const resourceKey = (r: Resource): ResourceKey => ({
  kind: r.kind,
  namespace: r.metadata.namespace,
  name: r.metadata.name,
});

// ---------------------------------------------------------------- validation issues

/** One problem found in user config; every problem of an input is reported at once. */
export interface ConfigIssue {
  /** Stable code, e.g. `invalid_value`, `unknown_field`, `dangling_reference`. Tests match on it. */
  readonly code: string;
  readonly severity: 'error' | 'warning';
  /** File (or `<stdin>`, `<request>`) the document came from. */
  readonly source?: string;
  /** 0-based index of the document in its file. */
  readonly document?: number;
  /** 1-based line of the offending field, when known. */
  readonly line?: number;
  /** `Kind/namespace/name` of the resource, when known. */
  readonly resource?: string;
  /** JSON path of the bad field, e.g. `spec.rules[0].backendRefs[1].weight`. */
  readonly path: string;
  /** What is wrong and what would be valid. */
  readonly message: string;
}
