// The proxy's own validated, frozen config (what the data plane runs), decoded from xDS by
// src/proxy/config/decode-*.ts. Nothing past src/proxy/config and xds-client sees protobuf JSON.
import type { ListenerSecurityConfig } from '../authz/types.js';
import type { CompiledRegex } from './regex.js';
import type { ListenerTlsConfig, TlsSecretConfig, TransportSocketMatch } from './decode-tls.js';

/** Outbound: the app's HTTP proxy listener; inbound: mesh traffic to the local app. */
export type ListenerDirection = 'outbound' | 'inbound' | 'unspecified';

/** Where a listener's HTTP connection manager takes its routes from. */
export type RouteSource =
  | { readonly type: 'rds'; readonly routeConfigName: string }
  | { readonly type: 'inline'; readonly routeTable: RouteTableConfig };

export interface ListenerConfig {
  readonly name: string;
  readonly direction: ListenerDirection;
  readonly address: string;
  readonly port: number;
  readonly statPrefix: string;
  /** `AUTO`, `HTTP1` or `HTTP2` (HCM codec_type). */
  readonly codec: 'auto' | 'http1' | 'http2';
  readonly routeSource: RouteSource;
  /**
   * The mesh edge (HCM `use_remote_address`, a gateway's listeners): x-forwarded-for gets the
   * client's address, x-forwarded-proto the scheme, and a client x-request-id is replaced.
   */
  readonly edge?: boolean;
  /**
   * How accepted connections are dispatched (absent = 'http'). 'http': the HTTP connection manager
   * only (the h2 preface is still recognized); 'tcp': tcp_proxy only, never sniffed (server-first
   * protocols; the HTTP fields above are then inert); 'detect': the first bytes are peeked within
   * `detectTimeoutMs`: HTTP goes to the HCM, anything else (TLS, silence, other bytes) to tcp_proxy.
   */
  readonly mode?: ListenerMode;
  /** The opaque-TCP chain (mode 'tcp' or 'detect'). */
  readonly tcpProxy?: TcpProxyConfig;
  /** Envoy listener_filters_timeout for protocol detection (mode 'detect'; default 100 ms). */
  readonly detectTimeoutMs?: number;
  /**
   * Path normalisation, JWT authentication and RBAC (HCM normalize_path and the jwt_authn / rbac
   * http_filters; config/decode-authz.ts). Absent: the request pipeline does none of it.
   */
  readonly security?: ListenerSecurityConfig;
  /** Mesh mTLS on this listener (a filter chain with a DownstreamTlsContext; config/decode-tls.ts). */
  readonly tls?: ListenerTlsConfig;
}

export type ListenerMode = 'http' | 'tcp' | 'detect';

/** Envoy's tcp_proxy network filter: opaque bytes to one cluster, an endpoint picked per connection. */
export interface TcpProxyConfig {
  readonly statPrefix: string;
  readonly cluster: string;
  /** No bytes either way for this long closes both sides; 0 = never. Default 1 h (Envoy). */
  readonly idleTimeoutMs: number;
}

/** How a string is matched (header value, query parameter value). */
export type StringMatch =
  | { readonly type: 'exact'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly type: 'prefix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly type: 'suffix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly type: 'contains'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly type: 'regex'; readonly regex: CompiledRegex }
  | { readonly type: 'present' };

export interface HeaderMatcher {
  /** Lower-case header name (`:method`, `:authority` are pseudo-headers). */
  readonly name: string;
  readonly match: StringMatch;
  /** Envoy invert_match: the route matches when this does not. */
  readonly invert: boolean;
}

export interface QueryParamMatcher {
  readonly name: string;
  readonly match: StringMatch;
}

export type PathMatch =
  | { readonly type: 'exact'; readonly value: string }
  | { readonly type: 'prefix'; readonly value: string }
  /** `/api` matches `/api`, `/api/` and `/api/x`, never `/apix` (query excluded). */
  | { readonly type: 'path_separated_prefix'; readonly value: string }
  /** Whole-path match (no query string). */
  | { readonly type: 'regex'; readonly regex: CompiledRegex };

export interface RouteMatchConfig {
  readonly path: PathMatch;
  /** Path matching is case-sensitive unless Envoy's case_sensitive is false (regex excepted). */
  readonly caseSensitive: boolean;
  /** An exact `:method` header match, lifted out of `headers` for speed. */
  readonly method?: string;
  readonly headers: readonly HeaderMatcher[];
  readonly queryParams: readonly QueryParamMatcher[];
}

export type HeaderAppendAction =
  'append' | 'add_if_absent' | 'overwrite_if_exists_or_add' | 'overwrite_if_exists';

export interface HeaderValueOption {
  readonly name: string;
  readonly value: string;
  readonly action: HeaderAppendAction;
}

export interface HeaderMutation {
  readonly add: readonly HeaderValueOption[];
  readonly remove: readonly string[];
}

export interface WeightedCluster {
  readonly name: string;
  readonly weight: number;
}

export interface RegexRewrite {
  readonly regex: CompiledRegex;
  /** Envoy syntax (`\1` for groups). Use `regex.replaceAll(path, substitution)`. */
  readonly substitution: string;
}

export interface MirrorPolicy {
  readonly cluster: string;
  /** Share of requests mirrored, 0..1. */
  readonly fraction: number;
}

/** RetryPolicy.on bits: the conditions that may be retried (Envoy retry_on names in comments). */
export const RETRY_ON = {
  /** `connect-failure`: connection refused, connect timeout (nothing was sent). */
  connectFailure: 1,
  /** `refused-stream`: HTTP/2 REFUSED_STREAM (never processed). */
  refusedStream: 2,
  /** `reset`, `reset-before-request`: the upstream closed or reset before any response byte. */
  reset: 4,
  /** `retriable-status-codes`: a status in RetryPolicy.statusCodes. */
  retriableStatusCodes: 8,
  /** `5xx`: any 5xx status, connect failures and resets. */
  status5xx: 16,
  /** `gateway-error`: 502, 503 or 504. */
  gatewayError: 32,
  /** A per-attempt (backend request) timeout; set with `reset`, `5xx` or `gateway-error`. */
  perTryTimeout: 64,
} as const;

/** A route's retry policy (Envoy RouteAction.retry_policy), decoded once per config. */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 = none at all (not even after connect failures). */
  readonly numRetries: number;
  /** RETRY_ON bits. */
  readonly on: number;
  /** HTTP statuses retried with `retriable-status-codes`. */
  readonly statusCodes: readonly number[];
  /** gRPC statuses (numbers) retried when they come in a trailers-only response. */
  readonly grpcStatuses: readonly number[];
  /** Jittered exponential back-off: base and cap, ms. */
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  /** Per-attempt timeout (per_try_timeout), ms; 0 = none. */
  readonly perTryTimeoutMs: number;
}

export interface ForwardAction {
  readonly type: 'forward';
  /** One or more clusters; weights > 0. */
  readonly clusters: readonly WeightedCluster[];
  readonly totalWeight: number;
  /** Whole-request timeout in ms; 0 = none. */
  readonly timeoutMs: number;
  readonly prefixRewrite?: string;
  readonly regexRewrite?: RegexRewrite;
  readonly hostRewrite?: string;
  readonly mirrors: readonly MirrorPolicy[];
  /** Absent: only the proxy's safe default (one retry after a connect failure or refused stream). */
  readonly retry?: RetryPolicy;
}

export interface RedirectAction {
  readonly type: 'redirect';
  readonly scheme?: string;
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  readonly prefixRewrite?: string;
  readonly regexRewrite?: RegexRewrite;
  readonly stripQuery: boolean;
  /** 301, 302, 303, 307 or 308. */
  readonly status: number;
}

export interface DirectResponseAction {
  readonly type: 'direct_response';
  readonly status: number;
  readonly body?: string;
}

export type RouteActionConfig = ForwardAction | RedirectAction | DirectResponseAction;

export interface RouteConfig {
  readonly name: string;
  readonly match: RouteMatchConfig;
  readonly action: RouteActionConfig;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  /** Trellis metadata: per-attempt (backend request) timeout in ms. */
  readonly backendRequestTimeoutMs?: number;
}

export interface VirtualHostConfig {
  readonly name: string;
  /** Lower-case domains: exact, `*.suffix`, `prefix.*` or `*`. */
  readonly domains: readonly string[];
  readonly routes: readonly RouteConfig[];
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
}

export interface RouteTableConfig {
  readonly name: string;
  /** Inline virtual hosts, then (for VHDS tables) the on-demand ones received so far. */
  readonly virtualHosts: readonly VirtualHostConfig[];
  /** Exact (lower-case) domain -> virtual host, for O(1) lookups; see findVirtualHost. */
  readonly exactDomains: ReadonlyMap<string, VirtualHostConfig>;
  /** True when virtual hosts are discovered on demand (VHDS). */
  readonly onDemand: boolean;
}

/** Envoy lb_policy names, as src/proxy/upstream/lb understands them. */
export type ClusterLbPolicy =
  'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RING_HASH' | 'RANDOM' | 'MAGLEV' | 'PEAK_EWMA';

export interface ClusterConfig {
  readonly name: string;
  /** eds: endpoints come from EDS (`edsServiceName`); static: from `loadAssignment`. */
  readonly discovery: 'eds' | 'static';
  readonly edsServiceName: string;
  readonly lbPolicy: ClusterLbPolicy;
  readonly protocol: 'http1' | 'http2';
  readonly connectTimeoutMs: number;
  readonly loadAssignment?: ClusterEndpointsConfig;
  /** TLS per endpoint metadata (transport_socket_matches); absent: plaintext to every endpoint. */
  readonly transportSocketMatches?: readonly TransportSocketMatch[];
}

export type EndpointHealth = 'healthy' | 'unhealthy' | 'draining' | 'timeout' | 'degraded' | 'unknown';

export interface EndpointConfig {
  /** `address:port` (`[v6]:port`), unique within the cluster. */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly health: EndpointHealth;
  readonly priority: number;
  readonly labels: Readonly<Record<string, string>>;
  /** `metadata.filter_metadata["envoy.transport_socket_match"]` (e.g. `tlsMode: trellis`). */
  readonly tlsMatch?: Readonly<Record<string, string>>;
}

export interface ClusterEndpointsConfig {
  readonly clusterName: string;
  readonly endpoints: readonly EndpointConfig[];
}

/** Everything the data plane runs, one immutable object per change (swap by reference). */
export interface ProxyConfig {
  /** Accepted version per type (LDS, RDS, VHDS, CDS, EDS); '' before the first. */
  readonly versions: Readonly<Record<string, string>>;
  readonly listeners: ReadonlyMap<string, ListenerConfig>;
  /** RDS tables merged with the VHDS virtual hosts named `<table>/<host>`. */
  readonly routeTables: ReadonlyMap<string, RouteTableConfig>;
  readonly clusters: ReadonlyMap<string, ClusterConfig>;
  /** By cluster name (EDS service name for EDS clusters; the cluster itself for static ones). */
  readonly endpoints: ReadonlyMap<string, ClusterEndpointsConfig>;
  /** SDS certificates by name (a gateway's HTTPS listeners); absent or empty elsewhere. */
  readonly secrets?: ReadonlyMap<string, TlsSecretConfig>;
}
