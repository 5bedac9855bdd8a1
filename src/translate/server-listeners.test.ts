// Server Listeners for proxyless gRPC servers (gRFC A36): names, who gets one, TLS per MeshTLS
// mode, RBAC mapping (RequestAuthentication fails closed), and which instances are dialed with mTLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceConfig, MeshSnapshot } from '../api/mesh-snapshot.js';
import { parseDocuments } from '../api/parse.js';
import type { MeshTLSResource, RequestAuthenticationResource, ServiceResource } from '../api/types.js';
import { ENDPOINT_TYPE, LISTENER_TYPE } from '../xds/type-urls.js';
import { parseNode, translate, translationScope } from './index.js';
import { instanceServesMtls } from './mtls.js';
import { checkProxylessResource } from './proxyless-check.js';
import {
  DENY_ALL_JWT_POLICY,
  parseServerListenerName,
  serverListenerName,
  SERVER_LISTENER_TEMPLATE,
} from './server-listeners.js';
import { snapshot } from './testing.js';
import { GRPC_SERVER_LISTENER_TEMPLATE } from '../proxy/identity/grpc-agent-files.js';

type Obj = Record<string, unknown>;
const NAME = serverListenerName('127.0.0.1', 50051);
const node = (md: Obj = {}) =>
  parseNode({
    id: 's',
    metadata: { NAMESPACE: 'default', SERVICE: 'inventory', CERT_PROVIDER: 'trellis', ...md },
  });

function mesh(yaml: string, instances: InstanceConfig[] = []): MeshSnapshot {
  const parsed = parseDocuments(
    `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: inventory }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
${yaml}`,
    'test.yaml',
  );
  if (!parsed.ok) assert.fail(JSON.stringify(parsed.error));
  const res = parsed.value;
  return {
    ...snapshot(
      res.filter((r): r is ServiceResource => r.kind === 'Service'),
      [],
      [],
      instances,
    ),
    meshTls: res.filter((r): r is MeshTLSResource => r.kind === 'MeshTLS'),
    requestAuthentications: res.filter(
      (r): r is RequestAuthenticationResource => r.kind === 'RequestAuthentication',
    ),
    trustDomain: 'cluster.local',
  };
}

const lds = (s: MeshSnapshot, n = node(), name = NAME) => translate(s, n, LISTENER_TYPE, [name]).get(name);
const chain = (l: Obj | undefined): Obj => (l?.['filter_chains'] as Obj[])[0] as Obj;
const httpFilters = (l: Obj | undefined): Obj[] =>
  ((((chain(l)['filters'] as Obj[])[0] as Obj)['typed_config'] as Obj)['http_filters'] as Obj[]) ?? [];

test('server listener names: the template, IPv4 and bracketed IPv6, nothing else', () => {
  assert.equal(SERVER_LISTENER_TEMPLATE.replace('%s', '127.0.0.1:50051'), NAME);
  assert.equal(
    GRPC_SERVER_LISTENER_TEMPLATE,
    SERVER_LISTENER_TEMPLATE,
    'grpc-agent writes what translate serves',
  );
  assert.deepEqual(parseServerListenerName(NAME), { host: '127.0.0.1', port: 50051 });
  assert.deepEqual(parseServerListenerName(serverListenerName('::1', 7)), { host: '::1', port: 7 });
  for (const bad of [
    'grpc/server?xds.resource.listening_address=localhost:50051',
    'grpc/server?xds.resource.listening_address=::1:50051',
    'grpc/server?xds.resource.listening_address=[127.0.0.1]:50051',
    'grpc/server?xds.resource.listening_address=127.0.0.1:0',
    'grpc/server?xds.resource.listening_address=127.0.0.1:70000',
    'grpc/server?xds.resource.listening_address=127.0.0.1',
    'inventory:50051',
  ])
    assert.equal(parseServerListenerName(bad), undefined, bad);
});

test('STRICT: mTLS with the node certificate provider, client certificate required; gRPC would take it', () => {
  const l = lds(mesh(''));
  assert.ok(l);
  assert.deepEqual(l['address'], { socket_address: { address: '127.0.0.1', port_value: 50051 } });
  const tc = (chain(l)['transport_socket'] as Obj)['typed_config'] as Obj;
  assert.equal(tc['require_client_certificate'], true);
  assert.deepEqual(tc['common_tls_context'], {
    tls_certificate_provider_instance: { instance_name: 'trellis' },
    validation_context: { ca_certificate_provider_instance: { instance_name: 'trellis' } },
  });
  assert.deepEqual(checkProxylessResource(LISTENER_TYPE, l, ['trellis']), []);
  assert.ok(
    checkProxylessResource(LISTENER_TYPE, l, []).some((p) => /bootstrap certificate provider/.test(p)),
  );
});

test('PERMISSIVE and DISABLE serve plaintext; so does a node without a certificate provider', () => {
  for (const mode of ['PERMISSIVE', 'DISABLE']) {
    const l = lds(
      mesh(
        `---\napiVersion: trellis.dev/v1alpha1\nkind: MeshTLS\nmetadata: { name: m }\nspec: { mode: ${mode} }\n`,
      ),
    );
    assert.equal(chain(l)['transport_socket'], undefined, mode);
    assert.equal(chain(l)['name'], 'plaintext');
  }
  const noProvider = parseNode({ id: 's', metadata: { SERVICE: 'inventory' } });
  assert.equal(chain(lds(mesh(''), noProvider))['transport_socket'], undefined);
});

test('no Listener without a Service in the node metadata, for an unknown Service, or for a sidecar', () => {
  assert.equal(lds(mesh(''), parseNode({ id: 's', metadata: {} })), undefined);
  assert.equal(lds(mesh(''), node({ SERVICE: 'ghost' })), undefined);
  const sidecar = parseNode({
    id: 's',
    metadata: {
      TRELLIS_KIND: 'sidecar',
      SERVICE: 'inventory',
      INBOUND_PORT: 1,
      OUTBOUND_PORT: 2,
      APP_PORT: 3,
    },
  });
  assert.equal(lds(mesh(''), sidecar), undefined);
});

test('a RequestAuthentication on the Service denies every RPC (gRPC has no JWT filter)', () => {
  const l = lds(
    mesh(`---
apiVersion: trellis.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: jwt }
spec:
  targetRefs: [{ kind: Service, name: inventory }]
  jwtRules: [{ issuer: https://issuer.test, jwks: '{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}' }]
`),
  );
  const f = httpFilters(l);
  assert.equal(f.length, 2);
  const rules = (f[0]?.['typed_config'] as Obj)['rules'] as Obj;
  assert.equal(rules['action'], 'DENY');
  assert.deepEqual(Object.keys(rules['policies'] as Obj), [DENY_ALL_JWT_POLICY]);
});

test('translationScope: server listeners depend on the Service and the provider, not on the name', () => {
  const a = translationScope(node(), LISTENER_TYPE, NAME);
  assert.equal(a, translationScope(node(), LISTENER_TYPE, serverListenerName('127.0.0.1', 1)));
  assert.notEqual(a, translationScope(node({ SERVICE: 'other' }), LISTENER_TYPE, NAME));
  assert.notEqual(a, translationScope(node({ CERT_PROVIDER: 'x' }), LISTENER_TYPE, NAME));
});

test('instances of proxyless servers are dialed with mTLS only in STRICT', () => {
  const sidecar = { mtls: true };
  const server = { mtls: true, proxyless: true };
  assert.equal(instanceServesMtls(sidecar, 'PERMISSIVE'), true);
  assert.equal(instanceServesMtls(server, 'STRICT'), true);
  assert.equal(instanceServesMtls(server, 'PERMISSIVE'), false);
  assert.equal(instanceServesMtls(server, 'DISABLE'), false);
  assert.equal(instanceServesMtls({ proxyless: true }, 'STRICT'), false);
  const inst: InstanceConfig = {
    id: 'i',
    service: 'inventory',
    namespace: 'default',
    address: '127.0.0.1',
    port: 50051,
    ports: {},
    labels: {},
    weight: 1,
    sidecar: false,
    proxyless: true,
    mtls: true,
  };
  const eds = translate(mesh('', [inst]), node(), ENDPOINT_TYPE, ['outbound|50051||inventory.default']);
  const ep = ((eds.values().next().value?.['endpoints'] as Obj[])[0]?.['lb_endpoints'] as Obj[])[0] as Obj;
  assert.ok(ep['metadata'], 'STRICT: the proxyless server instance is marked tlsMode trellis');
});
