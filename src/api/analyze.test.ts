// analyze(): cross-resource issues with codes, severities, paths and (for parsed YAML) lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyze } from './analyze.js';
import { formatIssue } from './issues.js';
import { parseResource } from './parse.js';
import { parseOk, ROUTE_YAML, SERVICE_YAML } from './testing.js';
import type { ConfigIssue } from './types.js';

const summary = (issues: readonly ConfigIssue[]) =>
  issues.map((i) => `${i.severity} ${i.code} ${i.resource} ${i.path}`);

const httpRoute = (name: string, rules: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules:
${rules}`;

test('a consistent mesh has no issues', () => {
  assert.deepEqual(analyze(parseOk(`${SERVICE_YAML}---\n${ROUTE_YAML}`)), []);
});

test('references to a missing Service, subset or port', () => {
  const issues = analyze(
    parseOk(`${SERVICE_YAML}${httpRoute(
      'r',
      `    - backendRefs:
        - { name: ratings }
        - { name: reviews, subset: v3 }
        - { name: reviews, port: 9090 }
      filters:
        - type: RequestMirror
          requestMirror: { backendRef: { name: shadow } }
`,
    )}---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviewz, port: 1 }]
  rules: [{ backendRefs: [{ name: reviews }] }]
`),
  );
  assert.deepEqual(summary(issues), [
    'error dangling_reference HTTPRoute/default/r spec.rules[0].backendRefs[0].name',
    'error dangling_reference HTTPRoute/default/r spec.rules[0].backendRefs[1].subset',
    'error dangling_reference HTTPRoute/default/r spec.rules[0].backendRefs[2].port',
    'error dangling_reference HTTPRoute/default/r spec.rules[0].filters[0].requestMirror.backendRef.name',
    'error dangling_reference GRPCRoute/default/g spec.parentRefs[0].name',
  ]);
  assert.match(issues[1]?.message ?? '', /no subset "v3"; did you mean 'v1'\? its subsets: v1, v2/);
  assert.match(issues[4]?.message ?? '', /did you mean 'reviews'/);
  assert.equal(issues[1]?.line, 28);
  assert.match(
    formatIssue(issues[1]!),
    /^test\.yaml doc 2 \(HTTPRoute\/default\/r\) line 28: spec\.rules\[0\]\.backendRefs\[1\]\.subset: /,
  );
});

test('a parentRef port or sectionName the Service lacks is an error', () => {
  const issues = analyze(
    parseOk(`${SERVICE_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews, port: 9090, sectionName: admin }]
  rules: [{ backendRefs: [{ name: reviews }] }]
`),
  );
  assert.deepEqual(summary(issues), [
    'error dangling_reference HTTPRoute/default/r spec.parentRefs[0].port',
    'error dangling_reference HTTPRoute/default/r spec.parentRefs[0].sectionName',
  ]);
});

test('weights summing to zero is an error; a rule without backends a warning', () => {
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${httpRoute(
        'r',
        `    - backendRefs: [{ name: reviews, weight: 0 }, { name: reviews, subset: v2, weight: 0 }]
    - matches: [{ path: { value: /old } }]
`,
      )}`,
    ),
  );
  assert.deepEqual(summary(issues), [
    'error invalid_value HTTPRoute/default/r spec.rules[0].backendRefs',
    'warning no_backends HTTPRoute/default/r spec.rules[1]',
  ]);
});

test('the same resource twice is a duplicate', () => {
  const issues = analyze(parseOk(`${SERVICE_YAML}---\n${SERVICE_YAML}`));
  assert.deepEqual(summary(issues), ['error duplicate Service/default/reviews metadata.name']);
  assert.equal(issues[0]?.document, 1);
  assert.match(issues[0]?.message ?? '', /first in test\.yaml doc 1/);
});

test('two routes with the same match on one parent conflict (warning)', () => {
  const rule = `    - matches: [{ path: { type: PathPrefix, value: /api } }]\n      backendRefs: [{ name: reviews }]\n`;
  const issues = analyze(parseOk(`${SERVICE_YAML}${httpRoute('a', rule)}${httpRoute('b', rule)}`));
  assert.deepEqual(summary(issues), ['warning conflict HTTPRoute/default/b spec.rules[0].matches[0]']);
  assert.match(issues[0]?.message ?? '', /HTTPRoute\/default\/a rules\[0\]\.matches\[0\]/);
});

test('a Gateway parent that is missing is an error that points at the Service; protocol mismatches are warnings', () => {
  const issues = analyze(
    parseOk(`apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db }
spec: { ports: [{ port: 5432, protocol: tcp }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: db }, { group: "", kind: Service, name: db }]
  rules: [{ backendRefs: [{ name: db }] }]
`),
  );
  assert.deepEqual(summary(issues), [
    'warning protocol_mismatch HTTPRoute/default/r spec.parentRefs[1]',
    'error dangling_reference HTTPRoute/default/r spec.parentRefs[0].name',
  ]);
  assert.match(issues[1]?.message ?? '', /set group: "" and kind: Service/);
});

test('resources from JSON (no origin) get issues without source or line', () => {
  const r = parseResource(
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'nope' }],
        rules: [{ backendRefs: [{ name: 'nope' }] }],
      },
    },
    { source: '<request>', document: 0 },
  );
  assert.ok(r.ok);
  const issues = analyze([r.value]);
  assert.equal(issues.length, 2);
  assert.ok(issues.every((i) => i.line === undefined && i.source === undefined));
});
