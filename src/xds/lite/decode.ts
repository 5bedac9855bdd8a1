// The sidecar's xDS decoder: protobuf bytes straight to the plain JSON that any.ts's decodeResource
// gives (protobufjs decode + toObject {longs, enums, bytes: String, json: true} + Struct family as
// plain JSON, nested Anys unpacked with '@type' first), key for key and in the same key order,
// driven by the compact schema: no protobufjs and no generated code in the sidecar.
// lite.test.ts checks it against decodeResource on every translate golden.
import type { EncodedAny } from '../any.js';
import type { DiscoveryResponse } from '../discovery-codec.js';
import { structToJson, valueToJson } from '../struct.js';
import { Kind, liteSchema, type LiteField, type LiteMessage, type LiteSchema } from './schema.js';

type Json = Record<string, unknown>;

/** protobufjs's util.recursionLimit: deeper messages are refused. */
const MAX_DEPTH = 100;

const ANY = 'google.protobuf.Any';
const STRUCT = 'google.protobuf.Struct';
const VALUE = 'google.protobuf.Value';
const LIST_VALUE = 'google.protobuf.ListValue';

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    public end: number,
  ) {}

  varint(): [lo: number, hi: number] {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError(`index out of range: ${this.pos} + 1 > ${this.end}`);
      const b = buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (i * 7);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (i * 7 - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw new Error('invalid varint encoding');
  }

  uint32(): number {
    return this.varint()[0];
  }

  take(n: number): number {
    const start = this.pos;
    if (n < 0 || start + n > this.end)
      throw new RangeError(`index out of range: ${start} + ${n} > ${this.end}`);
    this.pos = start + n;
    return start;
  }

  /** Start of a length-delimited run; the reader's position moves past it. */
  delimited(): [start: number, end: number] {
    const len = this.uint32();
    const start = this.take(len);
    return [start, start + len];
  }

  skip(wireType: number, depth: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.take(8);
        return;
      case 2:
        this.delimited();
        return;
      case 3:
        if (depth > MAX_DEPTH) throw new Error('max depth exceeded');
        for (;;) {
          const wt = this.uint32() & 7;
          if (wt === 4) return;
          this.skip(wt, depth + 1);
        }
      case 5:
        this.take(4);
        return;
      default:
        throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }
}

const toBig = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo);

/** A 64-bit value as protobufjs's Long.toString gives it (signed or unsigned decimal). */
function longString(kind: number, lo: number, hi: number): string {
  if (kind === Kind.uint64 || kind === Kind.fixed64) return hi === 0 ? String(lo) : toBig(lo, hi).toString();
  if (kind === Kind.sint64) {
    const u = toBig(lo, hi);
    return BigInt.asIntN(64, (u >> 1n) ^ -(u & 1n)).toString();
  }
  return hi === 0 && lo < 0x80000000 ? String(lo) : BigInt.asIntN(64, toBig(lo, hi)).toString();
}

/** A map key as protobufjs stores it: 64-bit keys as util.longToHash's 8-char string. */
function readKey(r: Reader, kind: number): string | number | boolean {
  switch (kind) {
    case Kind.string: {
      const [s, e] = r.delimited();
      return r.buf.toString('utf8', s, e);
    }
    case Kind.int64:
    case Kind.uint64:
    case Kind.sint64:
    case Kind.fixed64:
    case Kind.sfixed64: {
      let lo: number;
      let hi: number;
      if (kind === Kind.fixed64 || kind === Kind.sfixed64) {
        const at = r.take(8);
        lo = r.buf.readUInt32LE(at);
        hi = r.buf.readUInt32LE(at + 4);
      } else [lo, hi] = r.varint();
      if (kind === Kind.sint64) {
        const u = toBig(lo, hi);
        const z = BigInt.asUintN(64, (u >> 1n) ^ -(u & 1n));
        lo = Number(z & 0xffffffffn);
        hi = Number(z >> 32n);
      }
      return String.fromCharCode(
        lo & 255,
        (lo >>> 8) & 255,
        (lo >>> 16) & 255,
        lo >>> 24,
        hi & 255,
        (hi >>> 8) & 255,
        (hi >>> 16) & 255,
        hi >>> 24,
      );
    }
    default:
      return readScalar(r, kind) as number | boolean;
  }
}

function readScalar(r: Reader, kind: number): unknown {
  const buf = r.buf;
  switch (kind) {
    case Kind.string: {
      const [s, e] = r.delimited();
      return buf.toString('utf8', s, e);
    }
    case Kind.bytes: {
      const [s, e] = r.delimited();
      return buf.toString('base64', s, e);
    }
    case Kind.bool:
      return r.uint32() !== 0;
    case Kind.int32:
      return r.uint32() | 0;
    case Kind.uint32:
      return r.uint32();
    case Kind.sint32: {
      const v = r.uint32();
      return ((v >>> 1) ^ -(v & 1)) | 0;
    }
    case Kind.fixed32:
      return buf.readUInt32LE(r.take(4));
    case Kind.sfixed32:
      return buf.readInt32LE(r.take(4));
    case Kind.float: {
      const v = buf.readFloatLE(r.take(4));
      return Number.isFinite(v) ? v : String(v);
    }
    case Kind.double: {
      const v = buf.readDoubleLE(r.take(8));
      return Number.isFinite(v) ? v : String(v);
    }
    case Kind.int64:
    case Kind.uint64:
    case Kind.sint64: {
      const [lo, hi] = r.varint();
      return longString(kind, lo, hi);
    }
    case Kind.fixed64:
    case Kind.sfixed64: {
      const at = r.take(8);
      return longString(kind, buf.readUInt32LE(at), buf.readUInt32LE(at + 4));
    }
    default:
      throw new Error(`unsupported field kind ${kind}`);
  }
}

/** Wire types a packed run may hold (every scalar but string and bytes, and enums). */
const packable = (kind: number): boolean =>
  kind !== Kind.string && kind !== Kind.bytes && kind !== Kind.message;

/** Runs fn over the length-delimited run at r.pos, with r.end set to the run's end. */
function within<T>(r: Reader, fn: () => T): T {
  const len = r.uint32();
  const start = r.take(len);
  const saved = r.end;
  r.pos = start;
  r.end = start + len;
  const v = fn();
  r.pos = start + len;
  r.end = saved;
  return v;
}

/** Struct, Value and ListValue (protobufjs's camelCase shapes) as plain JSON, as any.ts's plainify. */
function toPlainJson(name: string, d: Json): unknown {
  if (name === STRUCT) return structToJson(d);
  if (name === VALUE) return valueToJson(d);
  return ((d['values'] as unknown[] | undefined) ?? []).map((x) => valueToJson(x));
}

function setKey(obj: Json, key: string | number | boolean, v: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[String(key)] = v;
}

const LONG_KINDS: ReadonlySet<number> = new Set([
  Kind.int64,
  Kind.uint64,
  Kind.sint64,
  Kind.fixed64,
  Kind.sfixed64,
]);

/** protobufjs's default for an absent map value (types.defaults), as toObject gives it. */
function scalarDefault(kind: number): unknown {
  if (kind === Kind.string || kind === Kind.bytes) return '';
  if (kind === Kind.bool) return false;
  return LONG_KINDS.has(kind) ? '0' : 0;
}

class Decoder {
  constructor(private readonly schema: LiteSchema) {}

  hasMessage(name: string): boolean {
    return this.schema.messages.has(name);
  }

  message(name: string): LiteMessage {
    const m = this.schema.messages.get(name);
    if (!m) throw new Error(`type ${name} is not in the xDS descriptor`);
    return m;
  }

  /** One value of field f (a repeated element or a map value); `raw` = inside a Struct (no conversion). */
  private value(r: Reader, f: LiteField, depth: number, raw: boolean): unknown {
    if (f.kind === Kind.message) {
      const type = this.message(f.ref);
      return within(r, () => this.decode(type, r, depth + 1, raw));
    }
    if (f.kind === Kind.enum) {
      const n = r.uint32() | 0;
      return this.schema.enums.get(f.ref)?.get(n) ?? n;
    }
    return readScalar(r, f.kind);
  }

  /**
   * Decodes the message from r.pos to r.end. Struct, Value and ListValue become plain JSON at the
   * outermost one (as any.ts's plainify); an Any with a known type becomes `{'@type', ...fields}`.
   */
  decode(type: LiteMessage, r: Reader, depth: number, raw = false): unknown {
    if (depth > MAX_DEPTH) throw new Error('max depth exceeded');
    if (type.name === ANY && !raw) return this.any(r, depth);
    const structFamily = type.name === STRUCT || type.name === VALUE || type.name === LIST_VALUE;
    const inner = raw || structFamily;
    const fields = type.fields;
    const vals = new Array<unknown>(fields.length);
    while (r.pos < r.end) {
      const tag = r.uint32();
      const id = tag >>> 3;
      let i = 0;
      while (i < fields.length && fields[i]!.id !== id) i++;
      const f = fields[i];
      if (f === undefined) r.skip(tag & 7, depth);
      else if (f.keyKind !== 0) this.mapEntry(r, f, (vals[i] ??= {}) as Json, depth, inner);
      else if (f.repeated) {
        const arr = (vals[i] ??= []) as unknown[];
        if ((tag & 7) === 2 && packable(f.kind))
          within(r, () => {
            while (r.pos < r.end) arr.push(this.value(r, f, depth, inner));
          });
        else arr.push(this.value(r, f, depth, inner));
      } else vals[i] = this.value(r, f, depth, inner);
    }
    const d: Json = {};
    for (let i = 0; i < fields.length; i++) {
      const v = vals[i];
      if (v === undefined) continue;
      const f = fields[i]!;
      if (f.keyKind !== 0 ? Object.keys(v as Json).length === 0 : f.repeated && (v as unknown[]).length === 0)
        continue;
      d[f.name] = v;
    }
    return raw || !structFamily ? d : toPlainJson(type.name, d);
  }

  /** One map entry (key 1, value 2; absent ones take protobufjs's defaults). */
  private mapEntry(r: Reader, f: LiteField, map: Json, depth: number, raw: boolean): void {
    within(r, () => {
      let key: string | number | boolean = f.keyKind === Kind.string ? '' : 0;
      let value: unknown;
      let has = false;
      while (r.pos < r.end) {
        const tag = r.uint32();
        if (tag >>> 3 === 1) key = readKey(r, f.keyKind);
        else if (tag >>> 3 === 2) {
          value = this.value(r, f, depth, raw);
          has = true;
        } else r.skip(tag & 7, depth);
      }
      if (!has) {
        // protobufjs leaves a message value null and its toObject then fails on it.
        if (f.kind === Kind.message) throw new TypeError(`map ${f.name}: entry without a value`);
        value = f.kind === Kind.enum ? (this.schema.enums.get(f.ref)?.get(0) ?? 0) : scalarDefault(f.kind);
      }
      setKey(map, key, value);
    });
  }

  /** An Any: its type's JSON with '@type' first when the type is known, else {type_url, value}. */
  private any(r: Reader, depth: number): Json {
    let typeUrl: string | undefined;
    let value: [number, number] | undefined;
    while (r.pos < r.end) {
      const tag = r.uint32();
      const id = tag >>> 3;
      if (id === 1) {
        const [s, e] = r.delimited();
        typeUrl = r.buf.toString('utf8', s, e);
      } else if (id === 2) value = r.delimited();
      else r.skip(tag & 7, depth);
    }
    if (typeUrl) {
      const slash = typeUrl.lastIndexOf('/');
      const name = typeUrl.slice(slash + 1);
      // An Any holding an Any: protobufjs gives the inner one's fields, still packed.
      if (name === ANY) {
        const sub = new Reader(r.buf, value ? value[1] : 0);
        sub.pos = value ? value[0] : 0;
        return this.decode(this.message(ANY), sub, depth + 1, true) as Json;
      }
      const type = this.schema.messages.get(name);
      if (type) {
        const prefix = slash >= 0 ? typeUrl.slice(0, slash + 1) : 'type.googleapis.com/';
        const sub = new Reader(r.buf, value ? value[1] : 0);
        sub.pos = value ? value[0] : 0;
        const obj = this.decode(type, sub, depth + 1);
        return { '@type': prefix + name, ...(obj as Json) };
      }
    }
    const d: Json = {};
    if (typeUrl !== undefined) d['type_url'] = typeUrl;
    if (value !== undefined) d['value'] = r.buf.toString('base64', value[0], value[1]);
    return d;
  }
}

let decoder: Decoder | undefined;
const theDecoder = (): Decoder => (decoder ??= new Decoder(liteSchema()));

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Bytes of message `fullName` (no leading dot) as plain JSON (see decodeMessage in any.ts). */
export function decodeMessageLite(fullName: string, bytes: Uint8Array): Json {
  const d = theDecoder();
  const buf = asBuffer(bytes);
  return d.decode(d.message(fullName), new Reader(buf, buf.length), 0) as Json;
}

/**
 * Decodes an Any into plain JSON with '@type' (nested Anys too), as decodeResource in any.ts:
 * longs and enums as strings, bytes as base64, Struct/Value/ListValue as plain JSON.
 */
export function decodeResourceLite(any: { type_url: string; value: Uint8Array }): Json {
  const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  if (!name || !theDecoder().hasMessage(name))
    throw new Error(`cannot decode Any: unknown type ${any.type_url}`);
  return { '@type': any.type_url, ...decodeMessageLite(name, any.value) };
}

/**
 * Decodes DiscoveryResponse bytes as discovery-codec.ts's decodeDiscoveryResponse, leaving the
 * resources packed (each value copied out, so the response buffer is not kept alive).
 */
export function decodeDiscoveryResponseLite(bytes: Uint8Array): DiscoveryResponse {
  const buf = asBuffer(bytes);
  const r = new Reader(buf, buf.length);
  let versionInfo = '';
  let typeUrl = '';
  let nonce = '';
  let controlPlane: { identifier: string } | undefined;
  const resources: EncodedAny[] = [];
  const str = (): string => {
    const [s, e] = r.delimited();
    return buf.toString('utf8', s, e);
  };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        versionInfo = str();
        break;
      case 2:
        within(r, () => {
          let url = '';
          let value: Buffer = Buffer.alloc(0);
          while (r.pos < r.end) {
            const t = r.uint32();
            if (t >>> 3 === 1) url = str();
            else if (t >>> 3 === 2) {
              const [s, e] = r.delimited();
              value = Buffer.from(buf.subarray(s, e));
            } else r.skip(t & 7, 1);
          }
          resources.push({ type_url: url, value });
        });
        break;
      case 4:
        typeUrl = str();
        break;
      case 5:
        nonce = str();
        break;
      case 6:
        controlPlane = { identifier: '' };
        within(r, () => {
          while (r.pos < r.end) {
            const t = r.uint32();
            if (t >>> 3 === 1) controlPlane = { identifier: str() };
            else r.skip(t & 7, 1);
          }
        });
        break;
      default:
        r.skip(tag & 7, 0);
    }
  }
  return {
    version_info: versionInfo,
    type_url: typeUrl,
    nonce,
    resources,
    ...(controlPlane ? { control_plane: controlPlane } : {}),
  };
}
