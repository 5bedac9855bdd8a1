// Packs plain JSON (snake_case fields, '@type' naming the message) into google.protobuf.Any and
// back. Strict: unknown fields, bad enum names, wrong scalar kinds and unknown '@type's are errors.
import protobuf from 'protobufjs';
import { XdsEncodeError } from './encode-error.js';
import { TYPE_PREFIX } from './type-urls.js';
import { lookupMessage, messageType } from './proto-root.js';
import {
  isStructShape,
  isValueShape,
  jsonToStruct,
  jsonToValue,
  structShapeToMessage,
  structToJson,
  valueShapeToMessage,
  valueToJson,
} from './struct.js';

export type JsonObject = Record<string, unknown>;

/** A packed resource: what goes into DiscoveryResponse.resources. */
export interface EncodedAny {
  readonly type_url: string;
  readonly value: Buffer;
}

export { XdsEncodeError };

const WRAPPERS = new Set(
  ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map(
    (w) => `google.protobuf.${w}Value`,
  ),
);
const INT_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Message type named by a type URL (`type.googleapis.com/x.y.Z`), or undefined. */
export function typeForUrl(typeUrl: string): protobuf.Type | undefined {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  return name ? lookupMessage(name) : undefined;
}

/** Encodes plain JSON with '@type' into an Any. Throws XdsEncodeError naming the bad field path. */
export function encodeResource(json: Readonly<JsonObject>, path = '$'): EncodedAny {
  const typeUrl = json['@type'];
  if (typeof typeUrl !== 'string' || typeUrl === '') throw new XdsEncodeError(path, "missing '@type'");
  if (!typeUrl.startsWith(TYPE_PREFIX)) {
    throw new XdsEncodeError(`${path}['@type']`, `type URL must start with ${TYPE_PREFIX} (got ${typeUrl})`);
  }
  const type = typeForUrl(typeUrl);
  if (!type) throw new XdsEncodeError(`${path}['@type']`, `unknown message type ${typeUrl} (not loaded)`);
  const normalized = normalizeMessage(type, json, path, true);
  const value = Buffer.from(type.encode(type.fromObject(normalized)).finish());
  return { type_url: typeUrl, value };
}

/** Encodes a plain JSON message of a known type (no '@type' needed), strictly checked. */
export function encodeMessage(fullName: string, json: Readonly<JsonObject>, path = '$'): Uint8Array {
  const type = messageType(fullName);
  return type.encode(type.fromObject(normalizeMessage(type, json, path, false))).finish();
}

interface FieldInfo {
  readonly field: protobuf.Field;
  readonly map: boolean;
  readonly repeated: boolean;
  readonly oneof: string | undefined;
  readonly message: protobuf.Type | undefined;
  readonly isAny: boolean;
  readonly enumType: protobuf.Enum | undefined;
  readonly enumName: string;
  readonly scalar: string;
}

interface Schema {
  /** Full name without the leading dot. */
  readonly name: string;
  readonly fields: ReadonlyMap<string, FieldInfo>;
}

/** protobufjs getters (fullName above all) are slow on a hot path: compile each Type once. */
const schemas = new WeakMap<protobuf.Type, Schema>();

function schemaOf(type: protobuf.Type): Schema {
  let s = schemas.get(type);
  if (!s) {
    const fields = new Map<string, FieldInfo>();
    for (const [key, field] of Object.entries(type.fields)) {
      const rt = field.resolvedType;
      const message = rt instanceof protobuf.Type ? rt : undefined;
      const enumType = rt instanceof protobuf.Enum ? rt : undefined;
      fields.set(key, {
        field,
        map: Boolean(field.map),
        repeated: Boolean(field.repeated),
        oneof: field.partOf?.name,
        message,
        isAny: message?.fullName === '.google.protobuf.Any',
        enumType,
        enumName: enumType ? enumType.fullName.slice(1) : '',
        scalar: field.type,
      });
    }
    s = { name: type.fullName.slice(1), fields };
    schemas.set(type, s);
  }
  return s;
}

/** Strict-checks and converts plain JSON to the object shape protobufjs fromObject expects. */
export function normalizeMessage(
  type: protobuf.Type,
  obj: unknown,
  path: string,
  allowType: boolean,
): JsonObject {
  const schema = schemaOf(type);
  const special = normalizeWellKnown(schema.name, type, obj, path);
  if (special !== undefined) return special;
  if (!isPlainObject(obj)) throw new XdsEncodeError(path, `expected an object (${schema.name})`);
  const out: JsonObject = {};
  let oneofSeen: Map<string, string> | undefined;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (key === '@type' && allowType) continue;
    const info = schema.fields.get(key);
    if (!info) throw new XdsEncodeError(`${path}.${key}`, `unknown field (not in ${schema.name})`);
    if (v === undefined || v === null) continue;
    if (info.oneof) {
      oneofSeen ??= new Map();
      const prev = oneofSeen.get(info.oneof);
      if (prev) throw new XdsEncodeError(`${path}.${key}`, `oneof ${info.oneof} already set by ${prev}`);
      oneofSeen.set(info.oneof, key);
    }
    out[key] = normalizeField(info, v, path, key);
  }
  return out;
}

function normalizeField(info: FieldInfo, v: unknown, parent: string, key: string): unknown {
  if (info.map) {
    if (!isPlainObject(v)) throw new XdsEncodeError(`${parent}.${key}`, 'expected an object (map)');
    const out: JsonObject = {};
    for (const [k, item] of Object.entries(v)) {
      out[k] = normalizeSingle(info, item, `${parent}.${key}[${JSON.stringify(k)}]`);
    }
    return out;
  }
  if (info.repeated) {
    if (!Array.isArray(v)) throw new XdsEncodeError(`${parent}.${key}`, 'expected an array');
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = normalizeSingle(info, v[i], `${parent}.${key}[${i}]`);
    return out;
  }
  return normalizeSingle(info, v, `${parent}.${key}`);
}

function normalizeSingle(info: FieldInfo, v: unknown, path: string): unknown {
  if (info.message) {
    if (info.isAny) return normalizeAny(v, path);
    return normalizeMessage(info.message, v, path, false);
  }
  if (info.enumType) {
    if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(info.enumType.values, v)) return v;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    throw new XdsEncodeError(path, `invalid enum value ${JSON.stringify(v)} for ${info.enumName}`);
  }
  return checkScalar(info.scalar, v, path);
}

function checkScalar(type: string, v: unknown, path: string): unknown {
  const bad = (): never => {
    throw new XdsEncodeError(path, `expected ${type}, got ${JSON.stringify(v)}`);
  };
  if (type === 'string') return typeof v === 'string' ? v : bad();
  if (type === 'bool') return typeof v === 'boolean' ? v : bad();
  if (type === 'double' || type === 'float') return typeof v === 'number' ? v : bad();
  if (INT_TYPES.has(type)) return typeof v === 'number' && Number.isInteger(v) ? v : bad();
  if (LONG_TYPES.has(type)) {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return v;
    return bad();
  }
  if (type === 'bytes') return typeof v === 'string' || v instanceof Uint8Array ? v : bad();
  return v;
}

function normalizeAny(v: unknown, path: string): JsonObject {
  if (!isPlainObject(v)) throw new XdsEncodeError(path, 'expected an object (google.protobuf.Any)');
  if ('@type' in v) {
    const packed = encodeResource(v, path);
    return { type_url: packed.type_url, value: packed.value };
  }
  for (const k of Object.keys(v)) {
    if (k !== 'type_url' && k !== 'value')
      throw new XdsEncodeError(`${path}.${k}`, "unknown field of Any (use '@type')");
  }
  return v;
}

const DURATION_RE = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;

/** Accepts proto3-JSON spellings of well-known types as well as their message shapes. */
function normalizeWellKnown(
  name: string,
  type: protobuf.Type,
  obj: unknown,
  path: string,
): JsonObject | undefined {
  if (!name.startsWith('google.protobuf.')) return undefined;
  if (name === 'google.protobuf.Duration' && typeof obj === 'string') {
    const m = DURATION_RE.exec(obj);
    if (!m) throw new XdsEncodeError(path, `invalid duration ${JSON.stringify(obj)} (expected e.g. "1.5s")`);
    const sign = m[1] ? -1 : 1;
    return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) };
  }
  if (name === 'google.protobuf.Timestamp' && typeof obj === 'string') {
    const ms = Date.parse(obj);
    if (Number.isNaN(ms)) throw new XdsEncodeError(path, `invalid timestamp ${JSON.stringify(obj)}`);
    return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
  }
  if (WRAPPERS.has(name) && !isPlainObject(obj)) {
    const field = schemaOf(type).fields.get('value');
    return { value: field ? checkScalar(field.scalar, obj, path) : obj };
  }
  if (name === 'google.protobuf.Struct') {
    if (!isPlainObject(obj)) throw new XdsEncodeError(path, 'expected a JSON object (Struct)');
    return isStructShape(obj) ? structShapeToMessage(obj) : jsonToStruct(obj);
  }
  if (name === 'google.protobuf.Value')
    return isValueShape(obj) ? valueShapeToMessage(obj) : jsonToValue(obj);
  if (name === 'google.protobuf.ListValue') {
    if (!Array.isArray(obj)) throw new XdsEncodeError(path, 'expected an array (ListValue)');
    return { values: obj.map((x) => jsonToValue(x)) };
  }
  return undefined;
}

export interface DecodeOptions {
  /** Fill unset fields with their defaults (as @grpc/proto-loader's `defaults: true`). */
  readonly defaults?: boolean;
  /** Add virtual oneof-name keys naming the set member (as proto-loader's `oneofs: true`). */
  readonly oneofs?: boolean;
}

/**
 * Decodes an Any into plain JSON with '@type' (nested Anys too). Longs and enums come back as
 * strings, bytes as base64; Struct/Value/ListValue as plain JSON; Duration as {seconds, nanos}.
 */
export function decodeResource(
  any: { type_url: string; value: Uint8Array },
  opts: DecodeOptions = {},
): JsonObject {
  const type = typeForUrl(any.type_url);
  if (!type) throw new Error(`cannot decode Any: unknown type ${any.type_url}`);
  const obj = decodeMessage(type, any.value, opts);
  return { '@type': any.type_url, ...obj };
}

/** Decodes bytes of a known message type to plain JSON (see decodeResource). */
export function decodeMessage(type: protobuf.Type, bytes: Uint8Array, opts: DecodeOptions = {}): JsonObject {
  const msg = type.decode(bytes);
  return messageToJson(type, msg, opts);
}

/** Converts a decoded protobufjs message to plain JSON (see decodeResource). */
export function messageToJson(
  type: protobuf.Type,
  msg: protobuf.Message,
  opts: DecodeOptions = {},
): JsonObject {
  const obj = type.toObject(msg, {
    longs: String,
    enums: String,
    bytes: String,
    defaults: opts.defaults ?? false,
    oneofs: opts.oneofs ?? false,
    json: true,
  });
  return plainify(type, obj) as JsonObject;
}

/** Post-processes toObject output: Struct family to plain JSON, recursing through Anys. */
function plainify(type: protobuf.Type, obj: unknown): unknown {
  if (!isPlainObject(obj)) return obj;
  const schema = schemaOf(type);
  switch (schema.name) {
    case 'google.protobuf.Struct':
      return structToJson(obj);
    case 'google.protobuf.Value':
      return valueToJson(obj);
    case 'google.protobuf.ListValue':
      return ((obj['values'] as unknown[] | undefined) ?? []).map((x) => valueToJson(x));
    case 'google.protobuf.Any': {
      const url = obj['@type'];
      const inner = typeof url === 'string' ? typeForUrl(url) : undefined;
      if (!inner) return obj;
      const rest = plainify(inner, obj) as JsonObject;
      return { '@type': url, ...rest };
    }
  }
  for (const key of Object.keys(obj)) {
    const info = schema.fields.get(key);
    const rt = info?.message;
    if (!info || !rt) continue;
    const v = obj[key];
    if (info.map && isPlainObject(v)) {
      for (const k of Object.keys(v)) v[k] = plainify(rt, v[k]);
    } else if (info.repeated && Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = plainify(rt, v[i]);
    } else {
      obj[key] = plainify(rt, v);
    }
  }
  return obj;
}
