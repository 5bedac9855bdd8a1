// AuthorizationPolicy / RequestAuthentication at an ingress Gateway: which policies reach which
// gateway listener (Gateway target, sectionName, Namespace target; never a Service's), the proxy
// decoding them into the listener's security, and analyze's errors and warnings with their paths.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze } from '../api/analyze.js';
import { WEB_BEHIND_EDGE_YAML } from '../api/gateway-testing.js';
import { serviceKey, type MeshSnapshot } from '../api/mesh-snapshot.js';
import { findIssue, parseOk } from '../api/testing.js';
import type {
  AuthorizationPolicyResource,
  GatewayResource,
  HTTPRouteResource,
  RequestAuthenticationResource,
  Resource,
  ServiceResource,
} from '../api/types.js';
import { jwksOf, makeKey } from '../proxy/authz/jwt-testing.js';
import { decodeListener } from '../proxy/config/decode-listener.js';
import { LISTENER_TYPE } from '../xds/type-urls.js';
import { translate, type XdsResource } from './index.js';
import { gatewayNode, snapshot } from './testing.js';

type Obj = Record<string, unknown>;

const BASE = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - { name: public, port: 8080, protocol: HTTP }
    - { name: shop, port: 8443, protocol: HTTP, hostname: shop.example }
    - { name: other, port: 8443, protocol: HTTP, hostname: other.example }
---
${WEB_BEHIND_EDGE_YAML}`;

function snapOf(rs: readonly Resource[]): MeshSnapshot {
  const of = <K extends Resource['kind']>(k: K) => rs.filter((r) => r.kind === k);
  return {
    ...snapshot(of('Service') as ServiceResource[], of('HTTPRoute') as HTTPRouteResource[]),
    gateways: new Map(
      (of('Gateway') as GatewayResource[]).map((g) => [serviceKey(g.metadata.namespace, g.metadata.name), g]),
    ),
    authorizationPolicies: of('AuthorizationPolicy') as AuthorizationPolicyResource[],
    requestAuthentications: of('RequestAuthentication') as RequestAuthenticationResource[],
  };
}

function listeners(yaml: string): Record<string, XdsResource> {
  const out: Record<string, XdsResource> = {};
  for (const [name, l] of translate(snapOf(parseOk(yaml)), gatewayNode('edge'), LISTENER_TYPE, '*'))
    out[name] = l;
  return out;
}

/** The HTTP filters of a listener's (first chain's) HCM. */
function httpFilters(l: XdsResource | undefined): Obj[] {
  const chains = (l?.filter_chains ?? []) as Obj[];
  const hcm = ((chains[0]?.filters as Obj[])[0]?.typed_config ?? {}) as Obj;
  return (hcm.http_filters ?? []) as Obj[];
}

/** Names of the HTTP filters of a listener's HCM, and the RBAC policy keys per action. */
function filters(l: XdsResource | undefined): string[] {
  return httpFilters(l).map((f) => {
    const rules = ((f.typed_config as Obj).rules ?? {}) as Obj;
    const policies = Object.keys((rules.policies ?? {}) as Obj);
    return f.name === 'envoy.filters.http.rbac'
      ? `rbac ${String(rules.action)} ${policies.join(',')}`
      : String(f.name);
  });
}

const P8080 = 'trellis_gateway_127.0.0.1_8080';
const P8443 = 'trellis_gateway_127.0.0.1_8443';

const JWKS = jwksOf(makeKey('ES256', 'k1'));

describe('policies at an ingress Gateway', () => {
  it('a gateway without policies has no security filters', () => {
    const ls = listeners(BASE);
    assert.deepEqual(filters(ls[P8080]), ['envoy.filters.http.router']);
    assert.equal(decodeListener(ls[P8080] as Obj).security, undefined);
  });

  it('Gateway, listener (sectionName) and Namespace targets reach the listener HCMs; Service targets do not', () => {
    const ls = listeners(`${BASE}---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-admin }
spec:
  targetRefs: [{ kind: Gateway, name: edge }]
  action: DENY
  rules: [{ to: [{ operation: { paths: [/admin/*] } }] }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: public-only }
spec:
  targetRefs: [{ kind: Gateway, name: edge, sectionName: public }]
  rules: [{ to: [{ operation: { methods: [GET] } }] }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: ns-audit }
spec:
  targetRefs: [{ kind: Namespace, name: default }]
  action: AUDIT
  rules: [{ to: [{ operation: { paths: ["*"] } }] }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: web-only }
spec:
  targetRefs: [{ kind: Service, name: web }]
  rules: [{ from: [{ source: { services: [web] } }] }]
---
apiVersion: trellis.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: idp }
spec:
  targetRefs: [{ kind: Gateway, name: edge, sectionName: public }]
  jwtRules: [{ issuer: https://idp.example, jwks: '${JWKS}' }]
`);
    assert.deepEqual(filters(ls[P8080]), [
      'envoy.filters.http.jwt_authn',
      'rbac LOG default/ns-audit[0]',
      'rbac DENY default/deny-admin[0]',
      'rbac ALLOW default/public-only[0]',
      'envoy.filters.http.router',
    ]);
    assert.deepEqual(filters(ls[P8443]), [
      'rbac LOG default/ns-audit[0]',
      'rbac DENY default/deny-admin[0]',
      'envoy.filters.http.router',
    ]);
    // The proxy decodes it into the listener's security: strict normalisation, then the filters.
    const d = decodeListener(ls[P8080] as Obj);
    assert.equal(d.edge, true);
    assert.equal(d.direction, 'outbound');
    assert.ok(d.security);
    assert.equal(d.security.jwt?.providers[0]?.issuer, 'https://idp.example');
    assert.deepEqual(
      d.security.rbac.map((r) => r.action),
      ['LOG', 'DENY', 'ALLOW'],
    );
    assert.deepEqual(d.security.normalization, decodeListener(ls[P8443] as Obj).security?.normalization);
  });

  it('destination.port and operation ports are the listener port at a gateway', () => {
    const ls = listeners(`${BASE}---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: by-port }
spec:
  targetRefs: [{ kind: Gateway, name: edge }]
  action: DENY
  rules: [{ to: [{ operation: { ports: [8443] } }] }]
`);
    const rbac = (l: XdsResource | undefined): unknown => {
      const f = httpFilters(l).find((x) => x.name === 'envoy.filters.http.rbac');
      return (((f?.typed_config as Obj).rules as Obj).policies as Obj)['default/by-port[0]'];
    };
    assert.deepEqual((rbac(ls[P8443]) as Obj).permissions, [{ any: true }]);
    assert.deepEqual((rbac(ls[P8080]) as Obj).permissions, [{ not_rule: { any: true } }]);
  });
});

describe('analyze: policies targeting a Gateway', () => {
  it('a missing Gateway or listener is an error with its path; a shared port refuses sectionName', () => {
    const issues = analyze(
      parseOk(`${BASE}---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: p }
spec:
  targetRefs:
    - { kind: Gateway, name: egde }
    - { kind: Gateway, name: edge, sectionName: pubic }
    - { kind: Gateway, name: edge, sectionName: shop }
    - { kind: Gateway, name: edge, group: example.com }
  action: DENY
  rules: [{ to: [{ operation: { paths: [/x] } }] }]
---
apiVersion: trellis.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: a }
spec:
  targetRefs: [{ kind: Gateway, name: gone }]
  jwtRules: [{ issuer: https://idp.example, jwks: '${JWKS}' }]
`),
    );
    const gone = findIssue(issues, 'dangling_reference', 'spec.targetRefs[0].name');
    assert.equal(gone.severity, 'error');
    assert.match(gone.message, /Gateway default\/egde does not exist.*did you mean 'edge'/);
    const section = findIssue(issues, 'dangling_reference', 'spec.targetRefs[1].sectionName');
    assert.match(section.message, /no listener named pubic.*its listeners: public, shop, other/);
    const shared = findIssue(issues, 'invalid_value', 'spec.targetRefs[2].sectionName');
    assert.equal(shared.severity, 'error');
    assert.match(shared.message, /shares port 8443 with other/);
    findIssue(issues, 'invalid_value', 'spec.targetRefs[3].group');
    const ra = issues.find((i) => i.resource === 'RequestAuthentication/default/a');
    assert.ok(ra, JSON.stringify(issues));
    assert.equal(ra.path, 'spec.targetRefs[0].name');
    assert.equal(
      issues.filter((i) => i.severity === 'error').length,
      5,
      issues.map((i) => `${i.path}: ${i.message}`).join('\n'),
    );
  });

  it('identity rules at a Gateway never match: a warning; JWT rules need a RequestAuthentication there', () => {
    const issues = analyze(
      parseOk(`${BASE}---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: p }
spec:
  targetRefs: [{ kind: Gateway, name: edge, sectionName: public }]
  rules:
    - from: [{ source: { services: [web] } }]
    - from: [{ source: { requestPrincipals: ["*"] } }]
`),
    );
    const id = findIssue(issues, 'unsupported', 'spec.rules[0].from[0].source');
    assert.equal(id.severity, 'warning');
    assert.match(id.message, /outside the mesh.*allows nothing there/);
    const jwt = findIssue(issues, 'dangling_reference', 'spec.rules[1].from[0].source');
    assert.match(jwt.message, /no RequestAuthentication covers Gateway edge/);
    assert.equal(issues.filter((i) => i.severity === 'error').length, 0);
  });

  it('a Gateway name may be a DNS subdomain; a Service name may not', () => {
    const ok = parseOk(`apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: p }
spec:
  targetRefs: [{ kind: Gateway, name: edge.public }]
  action: DENY
  rules: [{ to: [{ operation: { paths: [/x] } }] }]
`);
    assert.equal((ok[0] as AuthorizationPolicyResource).spec.targetRefs[0]?.name, 'edge.public');
  });
});
