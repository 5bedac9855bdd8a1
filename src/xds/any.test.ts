// Any pack/unpack and discovery codecs: round trips, strictness, well-known type spellings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeResource, encodeResource, XdsEncodeError } from './any.js';
import {
  decodeDiscoveryRequest,
  decodeDiscoveryResponse,
  encodeDiscoveryRequest,
  encodeDiscoveryResponse,
} from './discovery-codec.js';
import { protoLoadMs, protoRoot } from './proto-root.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE, VIRTUAL_HOST_TYPE } from './type-urls.js';

const HCM =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

const listener = {
  '@type': LISTENER_TYPE,
  name: 'greeter',
  api_listener: {
    api_listener: {
      '@type': HCM,
      rds: { route_config_name: 'greeter-routes', config_source: { ads: {} } },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
    },
  },
};

function encodeError(json: Record<string, unknown>): string {
  try {
    encodeResource(json);
  } catch (e) {
    assert.ok(e instanceof XdsEncodeError);
    return e.message;
  }
  assert.fail('expected an encode error');
}

describe('encodeResource / decodeResource', () => {
  it('loads the protos once and quickly', () => {
    protoRoot();
    assert.ok((protoLoadMs() ?? Infinity) < 3000);
    assert.equal(protoRoot(), protoRoot());
  });

  it('round-trips a Listener with nested Anys', () => {
    const any = encodeResource(listener);
    assert.equal(any.type_url, LISTENER_TYPE);
    assert.deepEqual(decodeResource(any), listener);
  });

  it('rejects unknown fields, naming the path, inside nested Anys too', () => {
    assert.match(encodeError({ ...listener, nmae: 'x' }), /^\$\.nmae: unknown field/);
    const bad = structuredClone(listener);
    (bad.api_listener.api_listener.http_filters[0] as Record<string, unknown>)['typed_confg'] = {};
    assert.match(
      encodeError(bad),
      /\$\.api_listener\.api_listener\.http_filters\[0\]\.typed_confg: unknown field/,
    );
  });

  it('rejects unknown @types instead of encoding an empty Any', () => {
    const bad = structuredClone(listener);
    bad.api_listener.api_listener.http_filters[0]!.typed_config['@type'] = `${ROUTER}x`;
    assert.match(encodeError(bad), /typed_config\['@type'\]: unknown message type/);
    assert.match(encodeError({ name: 'x' }), /missing '@type'/);
  });

  it('rejects bad enum names, wrong scalar kinds and two members of one oneof', () => {
    assert.match(
      encodeError({ '@type': CLUSTER_TYPE, name: 'c', type: 'EDZ' }),
      /\$\.type: invalid enum value "EDZ"/,
    );
    assert.match(encodeError({ '@type': CLUSTER_TYPE, name: 7 }), /\$\.name: expected string/);
    assert.match(
      encodeError({ '@type': CLUSTER_TYPE, name: 'c', type: 'EDS', cluster_type: { name: 'x' } }),
      /oneof/,
    );
  });

  it('accepts proto3-JSON and message spellings of Duration, wrappers and Struct', () => {
    const a = encodeResource({
      '@type': CLUSTER_TYPE,
      name: 'c',
      connect_timeout: '1.5s',
      per_connection_buffer_limit_bytes: 1024,
      metadata: { filter_metadata: { x: { a: 1, b: ['s', true, null], c: { d: 'e' } } } },
    });
    const b = encodeResource({
      '@type': CLUSTER_TYPE,
      name: 'c',
      connect_timeout: { seconds: '1', nanos: 500_000_000 },
      per_connection_buffer_limit_bytes: { value: 1024 },
      metadata: {
        filter_metadata: {
          x: {
            fields: {
              a: { number_value: 1 },
              b: {
                list_value: {
                  values: [{ string_value: 's' }, { bool_value: true }, { null_value: 'NULL_VALUE' }],
                },
              },
              c: { struct_value: { fields: { d: { string_value: 'e' } } } },
            },
          },
        },
      },
    });
    assert.deepEqual(a.value, b.value);
    const d = decodeResource(a);
    assert.deepEqual(d['connect_timeout'], { seconds: '1', nanos: 500_000_000 });
    assert.deepEqual(d['per_connection_buffer_limit_bytes'], { value: 1024 });
    assert.deepEqual(d['metadata'], {
      filter_metadata: { x: { a: 1, b: ['s', true, null], c: { d: 'e' } } },
    });
  });

  it('knows every type we send: CLA, VirtualHost, Secret', () => {
    for (const t of [ENDPOINT_TYPE, VIRTUAL_HOST_TYPE, SECRET_TYPE]) {
      const json = t === ENDPOINT_TYPE ? { '@type': t, cluster_name: 'n' } : { '@type': t, name: 'n' };
      assert.equal(encodeResource(json).type_url, t);
    }
  });
});

describe('discovery codecs', () => {
  it('decodes a request with node metadata as plain JSON and error_detail', () => {
    const bytes = encodeDiscoveryRequest({
      version_info: '1',
      node: {
        id: 'n1',
        cluster: 'c',
        locality: {},
        metadata: { NAMESPACE: 'prod', LABELS: { app: 'x' }, PORT: 15001 },
      },
      resource_names: ['a', 'b'],
      type_url: CLUSTER_TYPE,
      response_nonce: '7',
      error_detail: { code: 14, message: 'bad' },
    });
    const req = decodeDiscoveryRequest(bytes);
    assert.equal(req.node?.id, 'n1');
    assert.deepEqual(req.node?.metadata, { NAMESPACE: 'prod', LABELS: { app: 'x' }, PORT: 15001 });
    assert.deepEqual(req.resource_names, ['a', 'b']);
    assert.deepEqual(req.error_detail, { code: 14, message: 'bad' });
    const plain = decodeDiscoveryRequest(encodeDiscoveryRequest({ type_url: CLUSTER_TYPE }));
    assert.equal(plain.version_info, '');
    assert.equal(plain.response_nonce, '');
    assert.deepEqual(plain.resource_names, []);
    assert.equal(plain.error_detail, undefined);
    assert.equal(plain.node, undefined);
  });

  it('encodes a response around pre-encoded resources', () => {
    const any = encodeResource(listener);
    const bytes = encodeDiscoveryResponse({
      version_info: 'v1',
      type_url: LISTENER_TYPE,
      nonce: '3',
      resources: [any, any],
      control_plane: { identifier: 'trellis' },
    });
    const res = decodeDiscoveryResponse(bytes);
    assert.equal(res.version_info, 'v1');
    assert.equal(res.nonce, '3');
    assert.equal(res.type_url, LISTENER_TYPE);
    assert.equal(res.control_plane?.identifier, 'trellis');
    assert.equal(res.resources.length, 2);
    assert.deepEqual(decodeResource(res.resources[1]!), listener);
  });
});
