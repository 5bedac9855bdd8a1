// Valid inputs: defaults applied, results frozen, JSON objects and YAML streams, round trips.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDocuments, parseResource } from './parse.js';
import { resourceToDocument } from './to-document.js';
import { parseOk, ROUTE_YAML, SERVICE_YAML } from './testing.js';
import type { GRPCRouteResource, HTTPRouteResource, ServiceResource } from './types.js';

test('a Service gets its defaults and is frozen', () => {
  const [svc] = parseOk(SERVICE_YAML) as [ServiceResource];
  assert.equal(svc.metadata.namespace, 'default');
  assert.deepEqual(svc.spec.ports, [{ name: 'http', port: 8080, protocol: 'http', targetPort: 8080 }]);
  assert.deepEqual(svc.spec.endpoints[0], {
    address: '10.0.0.1',
    ports: {},
    labels: { version: 'v1' },
    weight: 1,
  });
  assert.equal(svc.spec.endpoints[1]?.weight, 3);
  assert.ok(
    Object.isFrozen(svc) && Object.isFrozen(svc.spec.ports[0]) && Object.isFrozen(svc.metadata.labels),
  );
  assert.throws(() => {
    (svc.spec.ports as unknown as unknown[]).push(1);
  });
});

test('an HTTPRoute gets GAMMA parentRefs, backend defaults and the default match', () => {
  const [route] = parseOk(ROUTE_YAML) as [HTTPRouteResource];
  assert.deepEqual(route.spec.parentRefs, [
    { group: '', kind: 'Service', name: 'reviews', namespace: 'default' },
  ]);
  const rule = route.spec.rules[0];
  assert.deepEqual(rule?.matches, [
    { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] },
  ]);
  assert.deepEqual(rule?.backendRefs, [
    { group: '', kind: 'Service', name: 'reviews', namespace: 'default', subset: 'v1', weight: 1 },
  ]);
  assert.deepEqual(rule?.timeouts, {});
  assert.ok(Object.isFrozen(rule?.backendRefs[0]));
});

test('header names are lower-cased, durations become milliseconds, group "core" means ""', () => {
  const [route] = parseOk(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: shop }
spec:
  parentRefs: [{ group: core, kind: Service, name: reviews, port: 8080 }]
  hostnames: [Reviews.Example.COM]
  rules:
    - matches:
        - path: { type: Exact, value: /v1/items }
          headers: [{ name: X-User, value: Jason }]
          queryParams: [{ type: RegularExpression, name: Page, value: "[0-9]+" }]
          method: GET
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: X-Mesh, value: "1" }], remove: [X-Debug] }
        - type: RequestMirror
          requestMirror: { backendRef: { name: shadow, port: 80 }, fraction: { numerator: 1, denominator: 3 } }
      backendRefs: [{ name: reviews, namespace: other, port: 8080, weight: 0 }, { name: reviews-v2 }]
      timeouts: { request: 1h30m, backendRequest: 500ms }
`) as [HTTPRouteResource];
  assert.deepEqual(route.spec.parentRefs[0], {
    group: '',
    kind: 'Service',
    name: 'reviews',
    namespace: 'shop',
    port: 8080,
  });
  assert.deepEqual(route.spec.hostnames, ['reviews.example.com']);
  const rule = route.spec.rules[0];
  assert.deepEqual(rule?.matches[0], {
    path: { type: 'Exact', value: '/v1/items' },
    headers: [{ type: 'Exact', name: 'x-user', value: 'Jason' }],
    queryParams: [{ type: 'RegularExpression', name: 'Page', value: '[0-9]+' }],
    method: 'GET',
  });
  assert.deepEqual(rule?.filters[0], {
    type: 'RequestHeaderModifier',
    requestHeaderModifier: { set: [{ name: 'x-mesh', value: '1' }], add: [], remove: ['x-debug'] },
  });
  const mirror = rule?.filters[1];
  assert.equal(mirror?.type === 'RequestMirror' && mirror.requestMirror.percent, 33.3333);
  assert.equal(rule?.backendRefs[0]?.namespace, 'other');
  assert.equal(rule?.backendRefs[0]?.weight, 0);
  assert.deepEqual(rule?.timeouts, { requestMs: 5_400_000, backendRequestMs: 500 });
});

test('a GRPCRoute gets method match defaults and a match-everything default', () => {
  const [route] = parseOk(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: inventory }
spec:
  parentRefs: [{ group: "", kind: Service, name: inventory }]
  rules:
    - matches: [{ method: { service: shop.Inventory, method: GetStock } }]
      backendRefs: [{ name: inventory }]
    - backendRefs: [{ name: inventory }]
`) as [GRPCRouteResource];
  assert.deepEqual(route.spec.rules[0]?.matches, [
    { method: { type: 'Exact', service: 'shop.Inventory', method: 'GetStock' }, headers: [] },
  ]);
  assert.deepEqual(route.spec.rules[1]?.matches, [{ headers: [] }]);
});

test('empty documents are skipped; document indexes stay those of the file', () => {
  const r = parseDocuments(`---\n${SERVICE_YAML}---\n# only a comment\n---\n${ROUTE_YAML}---\n`, 'x.yaml');
  assert.ok(r.ok);
  assert.deepEqual(
    r.value.map((x) => x.kind),
    ['Service', 'HTTPRoute'],
  );
  assert.deepEqual(parseDocuments('', 'empty.yaml'), { ok: true, value: [] });
});

test('parseResource validates a decoded JSON object the same way', () => {
  const r = parseResource(
    {
      apiVersion: 'trellis.dev/v1alpha1',
      kind: 'Service',
      metadata: { name: 'cart', namespace: 'shop' },
      spec: {
        ports: [
          { name: 'grpc', port: 9090, protocol: 'grpc' },
          { name: 'admin', port: 9901 },
        ],
      },
    },
    { source: '<request>', document: 0 },
  );
  assert.ok(r.ok);
  assert.equal(r.value.metadata.namespace, 'shop');
  const bad = parseResource(
    {
      kind: 'Service',
      apiVersion: 'trellis.dev/v1alpha1',
      metadata: { name: 'x' },
      spec: { ports: [{ port: 0 }] },
    },
    { source: '<request>', document: 3 },
  );
  assert.ok(!bad.ok);
  assert.deepEqual(
    bad.error.map((i) => [i.code, i.path, i.source, i.document, i.resource, i.line]),
    [['invalid_value', 'spec.ports[0].port', '<request>', 3, 'Service/default/x', undefined]],
  );
});

test('resourceToDocument parses back to an equal resource', () => {
  const all = parseOk(`${SERVICE_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: everything, labels: { team: a }, annotations: { note: "x y" } }
spec:
  parentRefs: [{ name: reviews, kind: Service, sectionName: http }, { name: edge }]
  rules:
    - name: first
      matches: [{ path: { type: PathPrefix, value: /api } }, { headers: [{ name: a, value: b }] }]
      filters:
        - type: URLRewrite
          urlRewrite: { hostname: api.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-a, value: b }] }
        - type: RequestMirror
          requestMirror: { backendRef: { name: shadow, subset: v1 }, fraction: { numerator: 1, denominator: 3 } }
      backendRefs: [{ name: reviews, weight: 9 }, { name: reviews, subset: v2, port: 8080 }]
      timeouts: { request: 90s, backendRequest: 0s }
    - filters:
        - type: RequestRedirect
          requestRedirect: { scheme: https, port: 443, statusCode: 301, path: { type: ReplaceFullPath, replaceFullPath: /new } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules:
    - matches: [{ method: { type: RegularExpression, service: "shop\\\\..*" } }, {}]
      backendRefs: [{ name: reviews }]
`);
  for (const r of all) {
    const doc = resourceToDocument(r);
    const back = parseResource(JSON.parse(JSON.stringify(doc)), { source: 'rt', document: 0 });
    assert.ok(back.ok, JSON.stringify(!back.ok && back.error));
    assert.deepEqual(back.value, r);
    assert.deepEqual(resourceToDocument(back.value), doc);
  }
});
