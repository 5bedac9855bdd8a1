// AuthorizationPolicy and RequestAuthentication: parse, defaults, round trip, field errors, analyze.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze } from './analyze.js';
import { normalizeKind } from './kinds.js';
import { parseDocuments } from './parse.js';
import { findIssue, parseIssues, parseOk, SERVICE_YAML } from './testing.js';
import { resourceToDocument } from './to-document.js';
import type { AuthorizationPolicyResource, RequestAuthenticationResource } from './types.js';

const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', kid: 'k' }] });

export const POLICY_YAML = `---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: reviews-read }
spec:
  targetRefs: [{ kind: Service, name: reviews }]
  rules:
    - from: [{ source: { requestPrincipals: ["https://idp.test/*"] } }]
      to: [{ operation: { methods: [get, HEAD], paths: ["/api/*", "/items/*/reviews"], hosts: [Reviews] } }]
      when: [{ key: "request.auth.claims[groups]", values: [readers] }]
`;

export const AUTHN_YAML = `---
apiVersion: trellis.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: idp }
spec:
  targetRefs: [{ kind: Namespace, name: default }]
  jwtRules:
    - issuer: https://idp.test
      audiences: [shop]
      jwks: '${JWKS}'
      clockSkew: 30s
`;

describe('security kinds', () => {
  it('parse with defaults, upper-cased methods and lower-cased hosts; documents round-trip', () => {
    const rs = parseOk(`${SERVICE_YAML}${POLICY_YAML}${AUTHN_YAML}`);
    const ap = rs.find((r) => r.kind === 'AuthorizationPolicy') as AuthorizationPolicyResource;
    assert.equal(ap.apiVersion, 'trellis.dev/v1alpha1');
    assert.equal(ap.spec.action, 'ALLOW');
    assert.deepEqual(ap.spec.rules[0]?.to[0]?.methods, ['GET', 'HEAD']);
    assert.deepEqual(ap.spec.rules[0]?.to[0]?.hosts, ['reviews']);
    const ra = rs.find((r) => r.kind === 'RequestAuthentication') as RequestAuthenticationResource;
    assert.equal(ra.spec.jwtRules[0]?.clockSkewSec, 30);
    assert.deepEqual(ra.spec.jwtRules[0]?.fromHeaders, []);
    for (const r of [ap, ra]) {
      const again = parseDocuments(JSON.stringify(resourceToDocument(r)), 'x.json');
      assert.ok(again.ok, JSON.stringify(!again.ok && again.error));
      assert.deepEqual(again.value[0], r);
    }
    assert.deepEqual(analyze(rs), []);
  });

  it('kind aliases', () => {
    assert.equal(normalizeKind('authorizationpolicies'), 'AuthorizationPolicy');
    assert.equal(normalizeKind('authz'), 'AuthorizationPolicy');
    assert.equal(normalizeKind('requestauthentication'), 'RequestAuthentication');
  });

  it('bad fields are reported with their paths', () => {
    const issues = parseIssues(`apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: p, namespace: shop }
spec:
  targetRefs: [{ kind: Namespace, name: other }, { kind: Deployment, name: x }]
  action: REJECT
  rules:
    - from: [{ source: { identities: ["spiffe://*/ns/x/*"], services: [Web] } }]
      to: [{ operation: { paths: ["/a/../b", "/a%2Fb", "admin"], methods: ["G E T"], ports: [0] } }]
      when: [{ key: "request.body", values: [x] }, { key: "request.headers[x-a]" }]
`);
    findIssue(issues, 'invalid_value', 'spec.targetRefs[0].name');
    findIssue(issues, 'invalid_value', 'spec.targetRefs[1].kind');
    findIssue(issues, 'invalid_value', 'spec.action');
    findIssue(issues, 'invalid_value', 'spec.rules[0].from[0].source.identities[0]');
    findIssue(issues, 'invalid_value', 'spec.rules[0].from[0].source.services[0]');
    findIssue(issues, 'invalid_value', 'spec.rules[0].to[0].operation.paths[0]');
    findIssue(issues, 'invalid_value', 'spec.rules[0].to[0].operation.paths[1]');
    findIssue(issues, 'invalid_value', 'spec.rules[0].to[0].operation.paths[2]');
    findIssue(issues, 'invalid_value', 'spec.rules[0].to[0].operation.methods[0]');
    findIssue(issues, 'invalid_value', 'spec.rules[0].to[0].operation.ports[0]');
    findIssue(issues, 'invalid_value', 'spec.rules[0].when[0].key');
    findIssue(issues, 'missing_field', 'spec.rules[0].when[1]');
  });

  it('RequestAuthentication: one JWKS source, loopback http only, no duplicate issuers', () => {
    const issues = parseIssues(`apiVersion: trellis.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: a }
spec:
  targetRefs: [{ kind: Service, name: reviews }]
  jwtRules:
    - issuer: https://i
      jwksUri: https://idp.example/jwks
    - issuer: https://i
      jwks: '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'
    - issuer: https://j
    - issuer: https://k
      jwksFile: relative/jwks.json
      clockSkew: 2h
`);
    findIssue(issues, 'invalid_value', 'spec.jwtRules[0].jwksUri');
    findIssue(issues, 'invalid_value', 'spec.jwtRules[1].jwks');
    findIssue(issues, 'duplicate', 'spec.jwtRules[1].issuer');
    findIssue(issues, 'missing_field', 'spec.jwtRules[2]');
    findIssue(issues, 'invalid_value', 'spec.jwtRules[3].jwksFile');
    findIssue(issues, 'invalid_value', 'spec.jwtRules[3].clockSkew');
  });

  it('analyze: targets naming nothing are errors; unmatchable rules are warnings', () => {
    const rs = parseOk(`${SERVICE_YAML}---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db }
spec: { ports: [{ port: 5432, protocol: tcp }] }
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: p }
spec:
  targetRefs: [{ kind: Service, name: reveiws }, { kind: Service, name: reviews, sectionName: grpc }, { kind: Service, name: db }]
  rules:
    - from: [{ source: { namespaces: [shop] } }]
      when: [{ key: "request.auth.claims[iss]", values: [x] }]
`);
    const issues = analyze(rs);
    const dangling = findIssue(issues, 'dangling_reference', 'spec.targetRefs[0].name');
    assert.equal(dangling.severity, 'error');
    assert.match(dangling.message, /did you mean 'reviews'/);
    findIssue(issues, 'dangling_reference', 'spec.targetRefs[1].sectionName');
    assert.equal(findIssue(issues, 'unsupported', 'spec.targetRefs[2].name').severity, 'error');
    assert.equal(
      issues.filter((i) => i.path === 'spec.rules[0].from[0].source').length,
      0,
      'mTLS is STRICT by default',
    );
    const plain = analyze([
      ...rs,
      ...parseOk(`apiVersion: trellis.dev/v1alpha1
kind: MeshTLS
metadata: { name: off }
spec: { mode: DISABLE }
`),
    ]);
    assert.equal(findIssue(plain, 'unsupported', 'spec.rules[0].from[0].source').severity, 'warning');
    assert.equal(findIssue(issues, 'dangling_reference', 'spec.rules[0].when[0].key').severity, 'warning');
  });
});
