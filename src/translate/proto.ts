// Small builders for protobuf message shapes in the object form protobufjs `fromObject` takes
// (keepCase): Durations, wrapper types, Structs, and the '@type' URLs of every Any we emit.

/** The JSON form of one xDS resource (or nested message); top-level resources carry '@type'. */
export type XdsResource = Readonly<Record<string, unknown>>;
type Obj = Record<string, unknown>;

export const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const HTTP_PROTOCOL_OPTIONS_TYPE =
  'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/**
 * Message types that appear inside Anys (besides the resource types themselves). The encoder must
 * load their .proto files or protobufjs silently encodes an empty Any: router.proto and
 * upstreams/http/v3/http_protocol_options.proto are not imported by the resource protos.
 */
export const NESTED_ANY_TYPES: readonly string[] = [HCM_TYPE, ROUTER_TYPE, HTTP_PROTOCOL_OPTIONS_TYPE];

/** google.protobuf.Duration from milliseconds. */
export function duration(ms: number): Obj {
  const whole = Math.floor(ms / 1000);
  return { seconds: String(whole), nanos: Math.round((ms - whole * 1000) * 1e6) };
}

/** google.protobuf.UInt32Value (and the other numeric wrappers). */
export const wrapped = (value: number): Obj => ({ value });

/** google.protobuf.Value from plain JSON. */
function structValue(v: unknown): Obj {
  if (v === null || v === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(structValue) } };
  return { struct_value: struct(v as Record<string, unknown>) };
}

/** google.protobuf.Struct from a plain JSON object. */
export function struct(o: Readonly<Record<string, unknown>>): Obj {
  const fields: Obj = {};
  for (const [k, v] of Object.entries(o)) fields[k] = structValue(v);
  return { fields };
}

/** The HTTP router filter, which must be last in every HCM's http_filters. */
export const routerFilter = (): Obj => ({
  name: 'envoy.filters.http.router',
  typed_config: { '@type': ROUTER_TYPE },
});

/** Escapes a literal for use inside an RE2 regular expression. */
export const escapeRegex = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|]/g, (c) => `\\${c}`);
