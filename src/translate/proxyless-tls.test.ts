// Proxyless gRPC mTLS (gRFC A29): which clusters carry an UpstreamTlsContext, for which nodes, and
// that the endpoint-only fast path cannot hide the change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceConfig, MeshSnapshot } from '../api/mesh-snapshot.js';
import { CLUSTER_TYPE } from '../xds/type-urls.js';
import { parseNode, translate, translationScope } from './index.js';
import { checkProxylessResource } from './proxyless-check.js';
import { mtlsServedKey } from './proxyless-tls.js';
import { service, snapshot } from './testing.js';

const CLUSTER = 'outbound|50051||inventory.default';
const inst = (id: string, mtls: boolean): InstanceConfig => ({
  id,
  service: 'inventory',
  namespace: 'default',
  address: `10.0.0.${id.length}`,
  port: 15006,
  ports: {},
  labels: {},
  weight: 1,
  sidecar: true,
  ...(mtls ? { mtls: true } : {}),
});
const snap = (instances: InstanceConfig[], trustDomain: string | null = 'cluster.local'): MeshSnapshot => ({
  ...snapshot([service('inventory', [{ port: 50051, protocol: 'grpc' }])], [], [], instances),
  ...(trustDomain !== null ? { trustDomain } : {}),
});
const withProvider = parseNode({ id: 'c', metadata: { CERT_PROVIDER: 'trellis', SERVICE: 'frontend' } });
const without = parseNode({ id: 'c', metadata: { SERVICE: 'frontend' } });
const cds = (s: MeshSnapshot, node = withProvider) =>
  translate(s, node, CLUSTER_TYPE, [CLUSTER]).get(CLUSTER);

test('parseNode: CERT_PROVIDER is read for proxyless nodes only, and only a sane instance name', () => {
  assert.equal(withProvider.certProvider, 'trellis');
  assert.equal(without.certProvider, undefined);
  assert.equal(parseNode({ id: 'c', metadata: { CERT_PROVIDER: 'a b/"c' } }).certProvider, undefined);
  const sidecar = parseNode({ id: 's', metadata: { TRELLIS_KIND: 'sidecar', CERT_PROVIDER: 'trellis' } });
  assert.equal(sidecar.certProvider, undefined);
});

test('a client with a provider gets TLS with the exact SPIFFE ID on a Service served by an mTLS sidecar', () => {
  const c = cds(snap([inst('a', true), inst('bb', false)]));
  const ts = c?.transport_socket as { typed_config: { common_tls_context: Record<string, unknown> } };
  assert.deepEqual(ts.typed_config.common_tls_context, {
    tls_certificate_provider_instance: { instance_name: 'trellis' },
    validation_context: {
      ca_certificate_provider_instance: { instance_name: 'trellis' },
      match_subject_alt_names: [{ exact: 'spiffe://cluster.local/ns/default/sa/inventory' }],
    },
  });
  assert.deepEqual(checkProxylessResource(CLUSTER_TYPE, c!, ['trellis']), []);
  // A bootstrap without that provider would NACK it: the check says so.
  assert.match(checkProxylessResource(CLUSTER_TYPE, c!, []).join(), /not in the bootstrap/);
});

test('no TLS: without a provider, without mTLS instances, without a CA, or for a DISABLE Service', () => {
  const s = snap([inst('a', true)]);
  assert.equal(cds(s, without)?.transport_socket, undefined);
  assert.equal(cds(snap([inst('a', false)]))?.transport_socket, undefined);
  assert.equal(cds(snap([]))?.transport_socket, undefined);
  assert.equal(cds(snap([inst('a', true)], null))?.transport_socket, undefined);
  const disabled: MeshSnapshot = {
    ...s,
    meshTls: [
      {
        apiVersion: 'trellis.dev/v1alpha1',
        kind: 'MeshTLS',
        metadata: { name: 'off', namespace: 'default', labels: {}, annotations: {} },
        spec: { mode: 'DISABLE', targetRefs: [{ group: '', kind: 'Service', name: 'inventory' }] },
      } as never,
    ],
  };
  assert.equal(cds(disabled)?.transport_socket, undefined);
});

test('the same config with other instances (an endpoint-only change) flips the cluster', () => {
  const before = snapshot([service('inventory', [{ port: 50051, protocol: 'grpc' }])]);
  const a: MeshSnapshot = { ...before, trustDomain: 'cluster.local' };
  const b: MeshSnapshot = { ...a, endpointsVersion: 2, instances: snap([inst('a', true)]).instances };
  assert.equal(cds(a)?.transport_socket, undefined);
  assert.notEqual(cds(b)?.transport_socket, undefined);
  assert.equal(mtlsServedKey(a), '');
  assert.equal(mtlsServedKey(b), 'default/inventory');
});

test('subset clusters: TLS only where an instance of that subset has an identity', () => {
  const svc = service('inventory', [{ port: 50051, protocol: 'grpc' }], {
    subsets: [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' } },
    ],
  });
  const v1 = { ...inst('a', true), labels: { version: 'v1' } };
  const v2 = { ...inst('bb', false), labels: { version: 'v2' } };
  const s: MeshSnapshot = { ...snapshot([svc], [], [], [v1, v2]), trustDomain: 'cluster.local' };
  const sub = (name: string) =>
    translate(s, withProvider, CLUSTER_TYPE, [`outbound|50051|${name}|inventory.default`]).get(
      `outbound|50051|${name}|inventory.default`,
    );
  assert.notEqual(sub('v1')?.transport_socket, undefined);
  assert.equal(sub('v2')?.transport_socket, undefined);
  assert.notEqual(sub('')?.transport_socket, undefined);
  assert.equal(mtlsServedKey(s), 'default/inventory,default/inventory|v1');
  // v2's first sidecar with an identity changes the key: the control plane pushes clusters again.
  const later: MeshSnapshot = {
    ...s,
    instances: snapshot([svc], [], [], [v1, { ...v2, mtls: true }]).instances,
  };
  assert.notEqual(mtlsServedKey(later), mtlsServedKey(s));
});

test('translationScope separates clients with and without a provider', () => {
  assert.notEqual(
    translationScope(withProvider, CLUSTER_TYPE, CLUSTER),
    translationScope(without, CLUSTER_TYPE, CLUSTER),
  );
});
