// TLSRoute and protocol TLS listeners: parsing (defaults, apiVersions, errors with paths) and the
// cross-resource checks of analyze-tlsroute.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze } from './analyze.js';
import { findIssue, parseIssues, parseOk } from './testing.js';
import type { TLSRouteResource } from './types.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - { name: pass, port: 8443, protocol: TLS, hostname: "*.shop.example", tls: { mode: Passthrough } }
    - { name: web, port: 8080, protocol: HTTP }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db }
spec:
  ports: [{ port: 5432, protocol: tcp }]
`;

const route = (spec: string, apiVersion = 'gateway.networking.k8s.io/v1alpha2'): string =>
  `apiVersion: ${apiVersion}\nkind: TLSRoute\nmetadata: { name: r }\nspec:\n${spec}`;

describe('TLSRoute', () => {
  it('parses with defaults (namespace, group/kind, weight 1), for v1alpha2, v1alpha3 and v1', () => {
    for (const v of ['v1alpha2', 'v1alpha3', 'v1']) {
      const [r] = parseOk(
        route(
          `  parentRefs: [{ name: edge, sectionName: pass }]\n  hostnames: [DB.shop.example]\n  rules: [{ backendRefs: [{ name: db, port: 5432 }] }]\n`,
          `gateway.networking.k8s.io/${v}`,
        ),
      ) as [TLSRouteResource];
      assert.equal(r.kind, 'TLSRoute');
      assert.deepEqual(r.spec.hostnames, ['db.shop.example']);
      assert.deepEqual(r.spec.parentRefs[0], {
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        name: 'edge',
        namespace: 'default',
        sectionName: 'pass',
      });
      assert.equal(r.spec.rules[0]?.backendRefs[0]?.weight, 1);
    }
  });

  it('refuses bad fields with their paths', () => {
    const issues = parseIssues(
      route(
        `  parentRefs: [{ name: db, kind: Service }]\n  hostnames: ["bad host"]\n  rules:\n    - backendRefs: [{ name: db, port: 5432 }]\n    - backendRefs: [{ name: db, port: 5432 }]\n`,
      ),
    );
    findIssue(issues, 'invalid_value', 'spec.parentRefs[0].kind');
    findIssue(issues, 'invalid_value', 'spec.hostnames[0]');
    findIssue(issues, 'invalid_value', 'spec.rules');
    const noPort = parseIssues(
      route(`  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: db }] }]\n`),
    );
    assert.ok(
      noPort.some((i) => i.path === 'spec.rules[0].backendRefs[0].port'),
      JSON.stringify(noPort),
    );
    const badVersion = parseIssues(
      route(`  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: db, port: 5432 }] }]\n`, 'v1'),
    );
    findIssue(badVersion, 'unknown_api_version', 'apiVersion');
  });

  it('protocol TLS listeners need tls.mode Passthrough and no certificate', () => {
    const issues = parseIssues(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: g }
spec:
  gatewayClassName: trellis
  listeners:
    - { name: a, port: 1, protocol: TLS }
    - { name: b, port: 2, protocol: TLS, tls: { mode: Terminate, certificateRefs: [{ name: c }] } }
    - { name: c, port: 3, protocol: TLS, tls: { mode: Passthrough, certificateRefs: [{ name: c }] } }
    - { name: d, port: 4, protocol: HTTPS, tls: { mode: Passthrough } }
`);
    findIssue(issues, 'missing_field', 'spec.listeners[0].tls');
    findIssue(issues, 'unsupported', 'spec.listeners[1].tls.mode');
    findIssue(issues, 'invalid_value', 'spec.listeners[2].tls.certificateRefs');
    findIssue(issues, 'invalid_value', 'spec.listeners[3].tls.mode');
  });

  it('analyze: the parent must be a TLS Passthrough listener, hostnames must intersect, backends exist', () => {
    const ok = analyze(
      parseOk(
        `${GATEWAY}---\n${route(`  parentRefs: [{ name: edge, sectionName: pass }]\n  hostnames: [db.shop.example]\n  rules: [{ backendRefs: [{ name: db, port: 5432 }] }]\n`)}`,
      ),
    );
    assert.deepEqual(
      ok.filter((i) => i.severity === 'error'),
      [],
    );
    const bad = analyze(
      parseOk(
        `${GATEWAY}---\n${route(`  parentRefs: [{ name: edge, sectionName: web }, { name: edge, sectionName: pass }, { name: egde }]\n  hostnames: [db.other.example]\n  rules: [{ backendRefs: [{ name: db, port: 5433 }, { name: nope, port: 1 }] }]\n`)}`,
      ),
    );
    findIssue(bad, 'invalid_value', 'spec.parentRefs[0].sectionName');
    findIssue(bad, 'invalid_value', 'spec.hostnames');
    findIssue(bad, 'dangling_reference', 'spec.parentRefs[2].name');
    findIssue(bad, 'dangling_reference', 'spec.rules[0].backendRefs[0].port');
    findIssue(bad, 'dangling_reference', 'spec.rules[0].backendRefs[1].name');
  });

  it('analyze: an HTTPRoute naming a TLS listener, and a port with two protocols, are errors', () => {
    const issues = analyze(
      parseOk(`${GATEWAY.replace('port: 8080, protocol: HTTP', 'port: 8443, protocol: HTTP')}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: h }
spec:
  parentRefs: [{ name: edge, sectionName: pass }]
  rules: [{ backendRefs: [{ name: db, port: 5432 }] }]
`),
    );
    findIssue(issues, 'invalid_value', 'spec.parentRefs[0].sectionName');
    findIssue(issues, 'conflict', 'spec.listeners[1].protocol');
  });
});
