// The sidecar's DiscoveryRequest encoder, by hand (field numbers from discovery.proto, base.proto,
// struct.proto, status.proto): the same bytes as discovery-codec.ts's protobufjs encoder for every
// field a sidecar sends, and the same XdsEncodeError, naming the field, for anything else. Without
// protobufjs in the sidecar (see schema.ts).
import type { DiscoveryRequest } from '../discovery-codec.js';
import { XdsEncodeError } from '../encode-error.js';
import { isStructShape, jsonToStruct, structShapeToMessage } from '../struct.js';

type Obj = Record<string, unknown>;

/** A growable protobuf writer; nested messages are written to their own writer, then copied in. */
class Writer {
  private buf = Buffer.allocUnsafe(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  varint(v: number): this {
    this.room(10);
    if (v < 0) {
      // a negative int32: ten bytes, as its 64-bit two's complement
      let lo = v >>> 0;
      let hi = 0xffffffff;
      for (let i = 0; i < 9; i++) {
        this.buf[this.len++] = (lo & 0x7f) | 0x80;
        lo = ((lo >>> 7) | (hi << 25)) >>> 0;
        hi >>>= 7;
      }
      this.buf[this.len++] = lo & 0x01;
      return this;
    }
    while (v > 0x7f) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  string(field: number, s: string): this {
    const n = Buffer.byteLength(s);
    this.tag(field, 2).varint(n);
    this.room(n);
    this.len += this.buf.write(s, this.len, 'utf8');
    return this;
  }

  double(field: number, v: number): this {
    this.tag(field, 1);
    this.room(8);
    this.buf.writeDoubleLE(v, this.len);
    this.len += 8;
    return this;
  }

  message(field: number, inner: Writer): this {
    const b = inner.finish();
    this.tag(field, 2).varint(b.length);
    this.room(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

const isObj = (v: unknown): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new XdsEncodeError(path, `expected string, got ${JSON.stringify(v)}`);
  return v;
}

function fieldsOf(v: unknown, path: string, allowed: readonly string[], what: string): Obj {
  if (!isObj(v)) throw new XdsEncodeError(path, `expected an object (${what})`);
  for (const k of Object.keys(v))
    if (!allowed.includes(k)) throw new XdsEncodeError(`${path}.${k}`, `unknown field (not in ${what})`);
  return v;
}

/** Set = present and not null (as normalizeMessage: null and undefined fields are dropped). */
const set = (o: Obj, k: string): boolean => o[k] !== undefined && o[k] !== null;

function stringList(w: Writer, field: number, v: unknown, path: string): void {
  if (!Array.isArray(v)) throw new XdsEncodeError(path, 'expected an array');
  v.forEach((s, i) => w.string(field, str(s, `${path}[${i}]`)));
}

// google.protobuf.Value in protobufjs's camelCase message shape (struct.ts builds it).
function value(v: Obj): Writer {
  const w = new Writer();
  if ('nullValue' in v) w.tag(1, 0).varint(0);
  else if ('numberValue' in v) w.double(2, v['numberValue'] as number);
  else if ('stringValue' in v) w.string(3, v['stringValue'] as string);
  else if ('boolValue' in v) w.tag(4, 0).varint(v['boolValue'] ? 1 : 0);
  else if ('structValue' in v) w.message(5, struct(v['structValue'] as Obj));
  else if ('listValue' in v) {
    const list = new Writer();
    for (const x of (v['listValue'] as { values: Obj[] }).values) list.message(1, value(x));
    w.message(6, list);
  }
  return w;
}

function struct(s: Obj): Writer {
  const w = new Writer();
  for (const [k, v] of Object.entries(s['fields'] as Obj)) {
    const entry = new Writer().string(1, k).message(2, value(v as Obj));
    w.message(1, entry);
  }
  return w;
}

const NODE_FIELDS = [
  'id',
  'cluster',
  'metadata',
  'locality',
  'user_agent_name',
  'user_agent_version',
  'client_features',
];

function node(v: unknown, path: string): Writer {
  const n = fieldsOf(v, path, NODE_FIELDS, 'envoy.config.core.v3.Node');
  const w = new Writer();
  if (set(n, 'id')) w.string(1, str(n['id'], `${path}.id`));
  if (set(n, 'cluster')) w.string(2, str(n['cluster'], `${path}.cluster`));
  if (set(n, 'metadata')) {
    const m = n['metadata'];
    if (!isObj(m)) throw new XdsEncodeError(`${path}.metadata`, 'expected a JSON object (Struct)');
    w.message(3, struct(isStructShape(m) ? structShapeToMessage(m) : jsonToStruct(m)));
  }
  if (set(n, 'locality')) {
    const p = `${path}.locality`;
    const l = fieldsOf(n['locality'], p, ['region', 'zone', 'sub_zone'], 'envoy.config.core.v3.Locality');
    const lw = new Writer();
    if (set(l, 'region')) lw.string(1, str(l['region'], `${p}.region`));
    if (set(l, 'zone')) lw.string(2, str(l['zone'], `${p}.zone`));
    if (set(l, 'sub_zone')) lw.string(3, str(l['sub_zone'], `${p}.sub_zone`));
    w.message(4, lw);
  }
  if (set(n, 'user_agent_name')) w.string(6, str(n['user_agent_name'], `${path}.user_agent_name`));
  if (set(n, 'user_agent_version')) w.string(7, str(n['user_agent_version'], `${path}.user_agent_version`));
  if (set(n, 'client_features')) stringList(w, 10, n['client_features'], `${path}.client_features`);
  return w;
}

const REQUEST_FIELDS = [
  'version_info',
  'node',
  'resource_names',
  'type_url',
  'response_nonce',
  'error_detail',
];

/** Encodes a DiscoveryRequest as discovery-codec.ts's encodeDiscoveryRequest does (same bytes). */
export function encodeDiscoveryRequestLite(req: Partial<DiscoveryRequest>): Buffer {
  const path = '$';
  const r = fieldsOf(req, path, REQUEST_FIELDS, 'envoy.service.discovery.v3.DiscoveryRequest');
  const w = new Writer();
  if (set(r, 'version_info')) w.string(1, str(r['version_info'], '$.version_info'));
  if (set(r, 'node')) w.message(2, node(r['node'], '$.node'));
  if (set(r, 'resource_names')) stringList(w, 3, r['resource_names'], '$.resource_names');
  if (set(r, 'type_url')) w.string(4, str(r['type_url'], '$.type_url'));
  if (set(r, 'response_nonce')) w.string(5, str(r['response_nonce'], '$.response_nonce'));
  if (set(r, 'error_detail')) {
    const e = fieldsOf(r['error_detail'], '$.error_detail', ['code', 'message'], 'google.rpc.Status');
    const ew = new Writer();
    if (set(e, 'code')) {
      const code = e['code'];
      if (typeof code !== 'number' || !Number.isInteger(code))
        throw new XdsEncodeError('$.error_detail.code', `expected int32, got ${JSON.stringify(code)}`);
      ew.tag(1, 0).varint(code | 0);
    }
    if (set(e, 'message')) ew.string(2, str(e['message'], '$.error_detail.message'));
    w.message(6, ew);
  }
  return Buffer.from(w.finish());
}
