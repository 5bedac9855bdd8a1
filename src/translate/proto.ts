// Shared bits of the xDS JSON we emit (snake_case; Durations as {seconds, nanos}; wrapper types
// as plain numbers and Structs as plain JSON, which src/xds/any.ts encodes), '@type' URLs.

/** The JSON form of one xDS resource (or nested message); top-level resources carry '@type'. */
export type XdsResource = Readonly<Record<string, unknown>>;
type Obj = Record<string, unknown>;

export const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const HTTP_PROTOCOL_OPTIONS_TYPE =
  'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const TLS_INSPECTOR_TYPE =
  'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
export const HTTP_INSPECTOR_TYPE =
  'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector';

/**
 * Message types that appear inside Anys (besides the resource types themselves). The encoder must
 * load their .proto files or protobufjs silently encodes an empty Any: router.proto and
 * upstreams/http/v3/http_protocol_options.proto are not imported by the resource protos.
 */
export const NESTED_ANY_TYPES: readonly string[] = [
  HCM_TYPE,
  ROUTER_TYPE,
  HTTP_PROTOCOL_OPTIONS_TYPE,
  TCP_PROXY_TYPE,
  TLS_INSPECTOR_TYPE,
  HTTP_INSPECTOR_TYPE,
  'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
];

/** google.protobuf.Duration from milliseconds. */
export function duration(ms: number): Obj {
  const whole = Math.floor(ms / 1000);
  return { seconds: String(whole), nanos: Math.round((ms - whole * 1000) * 1e6) };
}

/** The HTTP router filter, which must be last in every HCM's http_filters. */
export const routerFilter = (): Obj => ({
  name: 'envoy.filters.http.router',
  typed_config: { '@type': ROUTER_TYPE },
});

/** Escapes a literal for use inside an RE2 regular expression. */
export const escapeRegex = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|]/g, (c) => `\\${c}`);

export const socketAddress = (address: string, port: number): Obj => ({
  socket_address: { address, port_value: port },
});

/** The HTTP connection manager as a listener's network filter (codec AUTO: HTTP/1.1 or h2c). */
export function hcmFilter(hcm: Obj): Obj {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: { '@type': HCM_TYPE, codec_type: 'AUTO', ...hcm, http_filters: [routerFilter()] },
  };
}
