// analyzeGateways (through analyze): routes attached to Gateways, and Gateways binding one port.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyze } from './analyze.js';
import { parseOk, SERVICE_YAML } from './testing.js';
import type { ConfigIssue } from './types.js';

const summary = (issues: readonly ConfigIssue[]) =>
  issues.map((i) => `${i.severity} ${i.code} ${i.resource} ${i.path}`);

const gateway = (name: string, listeners: string, extra = '') => `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${name}${extra} }
spec:
  gatewayClassName: trellis
  listeners:
${listeners}`;

const EDGE = gateway(
  'edge',
  `    - { name: web, port: 8080, protocol: HTTP, hostname: "*.shop.example" }
    - { name: admin, port: 9090, protocol: HTTP }
`,
);

const route = (name: string, parentRefs: string, extra = '', ns = 'default') => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${ns} }
spec:
  parentRefs: ${parentRefs}
${extra}  rules: [{ backendRefs: [{ name: reviews, namespace: default, port: 8080 }] }]
`;

test('routes attached to an existing Gateway and listener have no issues', () => {
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${EDGE}${route('a', '[{ name: edge }]')}${route('b', '[{ name: edge, sectionName: web }]', '  hostnames: [www.shop.example]\n')}${route('c', '[{ name: edge, port: 9090 }]')}`,
    ),
  );
  assert.deepEqual(summary(issues), []);
});

test('a missing Gateway, listener or port is a dangling reference', () => {
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${EDGE}${route('a', '[{ name: egde }]')}${route('b', '[{ name: edge, sectionName: wbe }]')}${route('c', '[{ name: edge, port: 7070 }]')}`,
    ),
  );
  assert.deepEqual(summary(issues), [
    'error dangling_reference HTTPRoute/default/a spec.parentRefs[0].name',
    'error dangling_reference HTTPRoute/default/b spec.parentRefs[0].sectionName',
    'error dangling_reference HTTPRoute/default/c spec.parentRefs[0].port',
  ]);
  assert.match(
    issues[0]?.message ?? '',
    /parent Gateway default\/egde does not exist; did you mean 'edge'\?/,
  );
  assert.match(
    issues[1]?.message ?? '',
    /no listener named "wbe".*did you mean 'web'\?.*web \(port 8080, \*\.shop\.example\), admin \(port 9090\)/,
  );
  assert.match(issues[2]?.message ?? '', /no listener on port 7070/);
});

test('a Gateway in the same apply counts; GAMMA (Service parent) routes are checked as before', () => {
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${route('mesh', '[{ group: "", kind: Service, name: reviews }]')}${route('ing', '[{ name: edge }]')}${EDGE}`,
    ),
  );
  assert.deepEqual(summary(issues), []);
  const gamma = analyze(
    parseOk(`${SERVICE_YAML}${route('mesh', '[{ group: "", kind: Service, name: reviewz }]')}`),
  );
  assert.deepEqual(summary(gamma), [
    'error dangling_reference HTTPRoute/default/mesh spec.parentRefs[0].name',
  ]);
  assert.match(gamma[0]?.message ?? '', /parent Service default\/reviewz/);
});

test('a route from another namespace on a listener that allows only Same is an error', () => {
  const gw = gateway(
    'edge',
    `    - { name: public, port: 8080, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }
    - { name: internal, port: 8081, protocol: HTTP }
`,
    ', namespace: infra',
  );
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${gw}${route('ok', '[{ name: edge, namespace: infra }]', '', 'shop')}${route('bad', '[{ name: edge, namespace: infra, sectionName: internal }]', '', 'shop')}${route('own', '[{ name: edge, sectionName: internal }]', '', 'infra')}`,
    ),
  );
  assert.deepEqual(summary(issues), ['error invalid_value HTTPRoute/shop/bad spec.parentRefs[0]']);
  assert.match(
    issues[0]?.message ?? '',
    /HTTPRoute shop\/bad is in namespace shop, but listener 'internal' of Gateway infra\/edge only accepts routes from its own namespace infra \(allowedRoutes\.namespaces\.from: Same, the default\); set allowedRoutes: \{namespaces: \{from: All\}\} on the listener, or move the route to namespace infra/,
  );
});

test('two Gateways binding one address and port, or two listeners with one port and hostname, conflict', () => {
  const a = gateway('a', `    - { name: http, port: 8080, protocol: HTTP }\n`);
  const b = gateway(
    'b',
    `    - { name: web, port: 8080, protocol: HTTP }\n    - { name: other, port: 8081, protocol: HTTP }\n`,
  );
  const c = gateway('c', `    - { name: web, port: 8080, protocol: HTTP }\n`).replace(
    '  listeners:',
    '  addresses: [{ value: 127.0.0.2 }]\n  listeners:',
  );
  const d = gateway(
    'd',
    `    - { name: x, port: 7000, protocol: HTTP, hostname: a.example }\n    - { name: y, port: 7000, protocol: HTTP, hostname: b.example }\n    - { name: z, port: 7000, protocol: HTTP, hostname: a.example }\n`,
  ).replace('  listeners:', '  addresses: [{ value: 127.0.0.3 }]\n  listeners:');
  const issues = analyze(parseOk(`${a}${b}${c}${d}`));
  assert.deepEqual(summary(issues), [
    'error conflict Gateway/default/a spec.listeners[0].port',
    'error conflict Gateway/default/b spec.listeners[0].port',
    'error conflict Gateway/default/d spec.listeners[2].hostname',
  ]);
  assert.match(
    issues[0]?.message ?? '',
    /binds 127\.0\.0\.1:8080, which Gateway default\/b \(listener 'web'\) binds too/,
  );
  assert.match(
    issues[2]?.message ?? '',
    /listeners 'x' and 'z' both serve port 7000 for hostname a\.example/,
  );
});

test('a route whose hostnames match no listener hostname is a warning', () => {
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${EDGE}${route('r', '[{ name: edge, sectionName: web }]', '  hostnames: [api.other.example]\n')}`,
    ),
  );
  assert.deepEqual(summary(issues), ['warning invalid_value HTTPRoute/default/r spec.hostnames']);
});
