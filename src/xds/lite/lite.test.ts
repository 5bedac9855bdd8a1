// The sidecar's light codec against the protobufjs one it replaces: the same JSON (same keys in
// the same order) for every resource of every translate golden and for edge cases of the wire
// format, the same DiscoveryResponse, and the same DiscoveryRequest bytes and errors.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { decodeMessage, decodeResource, encodeResource, XdsEncodeError } from '../any.js';
import {
  decodeDiscoveryResponse,
  encodeDiscoveryRequest,
  encodeDiscoveryResponse,
  type DiscoveryRequest,
} from '../discovery-codec.js';
import { messageType } from '../proto-root.js';
import { decodeDiscoveryResponseLite, decodeMessageLite, decodeResourceLite } from './decode.js';
import { encodeDiscoveryRequestLite } from './encode-request.js';
import { liteSchema } from './schema.js';

const GOLDENS = new URL('../../../../test/fixtures/translate/', import.meta.url);
const TYPE = 'type.googleapis.com/';

/** Same JSON, and the same key order (config_dump prints it). */
function same(actual: unknown, expected: unknown, what: string): void {
  assert.deepStrictEqual(actual, expected, what);
  assert.equal(JSON.stringify(actual), JSON.stringify(expected), `${what}: key order`);
}

function bothWays(any: { type_url: string; value: Buffer }, what: string): void {
  same(decodeResourceLite(any), decodeResource(any), what);
}

/** Bytes of `fullName` from a protobufjs-shaped object (fromObject, no strict checks). */
function raw(fullName: string, obj: Record<string, unknown>): Buffer {
  const t = messageType(fullName);
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}

describe('lite xDS decoder', () => {
  it('decodes every resource of every translate golden as decodeResource does', () => {
    let n = 0;
    for (const file of readdirSync(GOLDENS).filter((f) => f.endsWith('.golden.json'))) {
      const golden = JSON.parse(readFileSync(new URL(file, GOLDENS), 'utf8')) as Record<string, unknown>;
      for (const [kind, byName] of Object.entries(golden)) {
        if (kind === 'node' || typeof byName !== 'object' || byName === null) continue;
        for (const [name, json] of Object.entries(byName as Record<string, Record<string, unknown>>)) {
          bothWays(encodeResource(json), `${file} ${kind} ${name}`);
          n++;
        }
      }
    }
    assert.ok(n > 200, `only ${n} resources in the goldens`);
  });

  it('scalars: 32/64-bit signed, unsigned, zigzag, fixed; floats; bytes; bools', () => {
    const fullName = 'envoy.config.core.v3.RuntimeFractionalPercent';
    assert.ok(liteSchema().messages.has(fullName));
    // Each well-known wrapper holds one scalar: every kind the descriptor uses.
    const wrappers: [string, unknown[]][] = [
      ['Int32Value', [0, 1, -1, 2147483647, -2147483648]],
      ['UInt32Value', [0, 1, 4294967295]],
      ['Int64Value', [0, 1, -1, '9223372036854775807', '-9223372036854775808', 2 ** 40]],
      ['UInt64Value', [0, '18446744073709551615', 2 ** 53 - 1]],
      ['FloatValue', [0.1, -3.5, Infinity, -Infinity, NaN]],
      ['DoubleValue', [0.1, -1e300, Infinity, NaN]],
      ['BoolValue', [true, false]],
      ['StringValue', ['', 'héllo ✓', 'a'.repeat(300)]],
      ['BytesValue', [Buffer.from([0, 1, 255]), Buffer.alloc(0)]],
    ];
    for (const [w, values] of wrappers)
      for (const value of values) {
        const name = `google.protobuf.${w}`;
        const bytes = raw(name, { value });
        same(
          decodeMessageLite(name, bytes),
          decodeMessage(messageType(name), bytes),
          `${w} ${String(value)}`,
        );
        bothWays({ type_url: TYPE + name, value: bytes }, `Any ${w} ${String(value)}`);
      }
  });

  it('enums by name, unknown enum numbers as numbers, negative enum numbers', () => {
    const cluster = {
      '@type': `${TYPE}envoy.config.cluster.v3.Cluster`,
      name: 'c',
      type: 'EDS',
      lb_policy: 'LEAST_REQUEST',
    };
    bothWays(encodeResource(cluster), 'known enums');
    for (const lb of [77, -5]) {
      const bytes = raw('envoy.config.cluster.v3.Cluster', { name: 'c', lb_policy: lb });
      bothWays({ type_url: `${TYPE}envoy.config.cluster.v3.Cluster`, value: bytes }, `enum ${lb}`);
    }
  });

  it('Struct, Value and ListValue as plain JSON, nested and inside Anys', () => {
    const meta = { a: 1, b: 'x', c: [true, null, { d: [1.5, 'y'] }], e: {}, f: null };
    const cla = {
      '@type': `${TYPE}envoy.config.endpoint.v3.ClusterLoadAssignment`,
      cluster_name: 'c',
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } },
              metadata: { filter_metadata: { trellis: meta, other: {} } },
            },
          ],
        },
      ],
    };
    bothWays(encodeResource(cla), 'metadata structs');
    for (const name of ['Struct', 'Value', 'ListValue']) {
      const t = `google.protobuf.${name}`;
      const json = name === 'Struct' ? meta : name === 'Value' ? meta : [1, 'a', [null]];
      const bytes = Buffer.from(
        messageType(t)
          .encode(messageType(t).fromObject(encodeAndDecodeShape(t, json)))
          .finish(),
      );
      same(decodeMessageLite(t, bytes), decodeMessage(messageType(t), bytes), `${name} top level`);
      bothWays({ type_url: TYPE + t, value: bytes }, `Any of ${name}`);
    }
  });

  it('Anys: nested, unknown type, no type URL, empty value, other prefixes, Any in Any', () => {
    const any = (type_url: string | undefined, value?: Buffer): Record<string, unknown> => ({
      ...(type_url !== undefined ? { type_url } : {}),
      ...(value !== undefined ? { value } : {}),
    });
    const router = raw('envoy.extensions.filters.http.router.v3.Router', { suppress_envoy_headers: true });
    const cases: Record<string, unknown>[] = [
      any(`${TYPE}envoy.extensions.filters.http.router.v3.Router`, router),
      any('example.com/x/envoy.extensions.filters.http.router.v3.Router', router),
      any('envoy.extensions.filters.http.router.v3.Router', router),
      any(`${TYPE}envoy.extensions.filters.http.router.v3.Router`),
      any(`${TYPE}no.such.Type`, Buffer.from([8, 1])),
      any('', Buffer.from([8, 1])),
      any(undefined, Buffer.from([1, 2])),
      any(
        `${TYPE}google.protobuf.Any`,
        raw('google.protobuf.Any', { type_url: 'x', value: Buffer.from([1]) }),
      ),
    ];
    const hcm = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
    for (const [i, a] of cases.entries()) {
      const bytes = raw(hcm, { stat_prefix: 's', http_filters: [{ name: 'f', typed_config: a }] });
      bothWays({ type_url: TYPE + hcm, value: bytes }, `Any case ${i}`);
    }
  });

  it('maps (string and int64 keys), packed and unpacked repeated, unknown fields, groups', () => {
    const route = 'envoy.config.route.v3.RouteConfiguration';
    const rc = {
      '@type': TYPE + route,
      name: 'r',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['a', 'b'],
          typed_per_filter_config: {
            'envoy.filters.http.router': { '@type': `${TYPE}envoy.extensions.filters.http.router.v3.Router` },
            __proto__x: { '@type': `${TYPE}envoy.extensions.filters.http.router.v3.Router` },
          },
        },
      ],
    };
    const bytes = encodeResource(rc).value;
    // unknown fields of every wire type, and a group, appended to the message: skipped
    const w = protobuf.Writer.create();
    w.uint32((900 << 3) | 0).uint64(12345);
    w.uint32((901 << 3) | 1).fixed64(7);
    w.uint32((902 << 3) | 2).bytes(Buffer.from('zz'));
    w.uint32((903 << 3) | 5).fixed32(9);
    w.uint32((904 << 3) | 3)
      .uint32((1 << 3) | 0)
      .uint32(5)
      .uint32((904 << 3) | 4);
    const extra = Buffer.concat([bytes, Buffer.from(w.finish())]);
    bothWays({ type_url: TYPE + route, value: extra }, 'unknown fields');
    // int64-keyed maps (CEL source positions) and packed repeated int64 (line offsets)
    const src = 'google.api.expr.v1alpha1.SourceInfo';
    if (liteSchema().messages.has(src)) {
      const b = raw(src, { location: 'l', line_offsets: [1, 2, 300], positions: { '1': 4, '-7': 9 } });
      same(decodeMessageLite(src, b), decodeMessage(messageType(src), b), 'int64 map keys, packed');
      const unpacked = protobuf.Writer.create();
      for (const v of [3, 4]) unpacked.uint32((3 << 3) | 0).int32(v);
      const ub = Buffer.from(unpacked.finish());
      same(decodeMessageLite(src, ub), decodeMessage(messageType(src), ub), 'unpacked repeated');
    }
  });

  it('refuses truncated input, bad wire types and unknown resource types', () => {
    const type_url = `${TYPE}envoy.config.cluster.v3.Cluster`;
    const bytes = encodeResource({ '@type': type_url, name: 'abc' }).value;
    // (protobufjs's Buffer reader cuts a truncated string short instead: this one is stricter)
    assert.throws(() => decodeResourceLite({ type_url, value: bytes.subarray(0, 3) }), /index out of range/);
    assert.throws(
      () => decodeResourceLite({ type_url, value: Buffer.from([0x10, 0x80]) }),
      /index out of range/,
    );
    assert.throws(
      () => decodeResourceLite({ type_url, value: Buffer.from([(999 << 3) | 7]) }),
      /invalid wire type 7/,
    );
    assert.throws(
      () => decodeResourceLite({ type_url: `${TYPE}no.such.Type`, value: Buffer.alloc(0) }),
      /cannot decode Any: unknown type type.googleapis.com\/no.such.Type/,
    );
  });

  it('DiscoveryResponse: the same fields, resources left packed', () => {
    const res = {
      version_info: 'v7',
      type_url: `${TYPE}envoy.config.cluster.v3.Cluster`,
      nonce: 'n1',
      resources: [
        encodeResource({ '@type': `${TYPE}envoy.config.cluster.v3.Cluster`, name: 'a' }),
        { type_url: 'x', value: Buffer.alloc(0) },
      ],
      control_plane: { identifier: 'trellis' },
    };
    const bytes = encodeDiscoveryResponse(res);
    same(decodeDiscoveryResponseLite(bytes), decodeDiscoveryResponse(bytes), 'full');
    const empty = encodeDiscoveryResponse({ version_info: '', type_url: '', nonce: '', resources: [] });
    same(decodeDiscoveryResponseLite(empty), decodeDiscoveryResponse(empty), 'empty');
  });
});

/** Plain JSON -> the protobufjs message shape of a Struct-family type, through encode/decode. */
function encodeAndDecodeShape(t: string, json: unknown): Record<string, unknown> {
  if (t === 'google.protobuf.Struct') return { fields: structFields(json as Record<string, unknown>) };
  if (t === 'google.protobuf.ListValue') return { values: (json as unknown[]).map(valueShape) };
  return valueShape(json);
}
function structFields(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, valueShape(v)]));
}
function valueShape(v: unknown): Record<string, unknown> {
  if (v === null) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(valueShape) } };
  return { structValue: { fields: structFields(v as Record<string, unknown>) } };
}

describe('lite DiscoveryRequest encoder', () => {
  const node = {
    id: 'sidecar-1',
    cluster: 'frontend',
    metadata: { TRELLIS_KIND: 'sidecar', LABELS: { app: 'x', v: '1' }, N: 3, B: true, L: ['a', 1, null] },
    locality: { region: 'r', zone: '', sub_zone: 'z' },
    user_agent_name: 'trellis-proxy',
    user_agent_version: '0.1.0',
    client_features: ['f1', 'f2'],
  };
  const requests: Partial<DiscoveryRequest>[] = [
    { version_info: '', node, resource_names: [], type_url: `${TYPE}x`, response_nonce: '' },
    { version_info: '3', resource_names: ['a', 'b', 'ü'], type_url: `${TYPE}x`, response_nonce: 'n' },
    { type_url: 'y', response_nonce: 'n', error_detail: { code: 3, message: 'bad: field' } },
    { type_url: 'y', error_detail: { code: -1, message: '' } },
    { node: { id: 'g', metadata: { fields: { k: { string_value: 'v' } } } } },
    {},
  ];
  it('writes the same bytes as the protobufjs encoder', () => {
    for (const [i, req] of requests.entries())
      assert.deepEqual(encodeDiscoveryRequestLite(req), encodeDiscoveryRequest(req), `request ${i}`);
  });

  it('refuses unknown and mistyped fields with the same XdsEncodeError', () => {
    const bad: unknown[] = [
      { nope: 1 },
      { node: { id: 'a', extra: true } },
      { node: { locality: { planet: 'x' } } },
      { version_info: 7 },
      { resource_names: 'a' },
      { error_detail: { code: 1.5 } },
      { node: { metadata: 'x' } },
    ];
    for (const req of bad) {
      const msg = (f: () => unknown): string => {
        try {
          f();
        } catch (e) {
          assert.ok(e instanceof XdsEncodeError, String(e));
          return e.message;
        }
        return 'no error';
      };
      const r = req as Partial<DiscoveryRequest>;
      assert.equal(
        msg(() => encodeDiscoveryRequestLite(r)),
        msg(() => encodeDiscoveryRequest(r)),
        JSON.stringify(req),
      );
    }
  });
});
