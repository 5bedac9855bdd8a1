// ConfigMap (ca.crt checked as PEM X.509) and Gateway spec.tls.frontend (GEP-91): parsing,
// defaults, errors with paths, and analyze's cross-references.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze } from './analyze.js';
import { clientCaRefsForPort } from './schema-gateway.js';
import { parseResource } from './parse.js';
import { findIssue, parseIssues, parseOk } from './testing.js';
import { resourceToDocument } from './to-document.js';
import type { GatewayResource } from './types.js';
import { makeTlsCert } from '../security/tls-testing.js';

const indent = (pem: string): string =>
  pem
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

const gateway = (tls: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  tls:
${tls}
  listeners:
    - { name: a, port: 8443, protocol: HTTPS, tls: { certificateRefs: [{ name: cert }] } }
    - { name: b, port: 9443, protocol: HTTPS, tls: { certificateRefs: [{ name: cert }] } }
    - { name: c, port: 8080, protocol: HTTP }
`;

describe('ConfigMap and spec.tls.frontend', () => {
  it('a ConfigMap with a PEM ca.crt parses; a bad one is refused at data["ca.crt"]', async () => {
    const { cert } = await makeTlsCert(['ca.example']);
    const [cm] = parseOk(
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ca }\ndata:\n  ca.crt: |\n${indent(cert)}\n  other: x\n`,
    );
    assert.equal(cm?.kind, 'ConfigMap');
    assert.deepEqual(Object.keys(resourceToDocument(cm!)['data'] as object).sort(), ['ca.crt', 'other']);
    const bad = parseIssues(
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ca }\ndata: { ca.crt: "not pem" }\n`,
    );
    findIssue(bad, 'invalid_value', 'data["ca.crt"]');
    findIssue(
      parseIssues(`apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ca }\nbinaryData: { x: eA== }\n`),
      'unsupported',
      'binaryData',
    );
  });

  it('frontend: default and perPort, per-port lookup, and document round trip', () => {
    const [g] = parseOk(
      gateway(`    frontend:
      default: { validation: { caCertificateRefs: [{ kind: ConfigMap, name: ca }] } }
      perPort: [{ port: 9443, tls: {} }]`),
    ) as [GatewayResource];
    assert.deepEqual(clientCaRefsForPort(g.spec.frontendTls, 8443), ['ca']);
    assert.deepEqual(clientCaRefsForPort(g.spec.frontendTls, 9443), []);
    const again = parseResource(resourceToDocument(g), { source: '<test>', document: 0 });
    assert.ok(again.ok, JSON.stringify(!again.ok && again.error));
    assert.equal(again.value.kind, 'Gateway');
    assert.deepEqual((again.value as GatewayResource).spec.frontendTls, g.spec.frontendTls);
  });

  it('frontend errors have paths: mode, kind, namespace, duplicate port, listener-level frontendValidation', () => {
    const issues = parseIssues(
      gateway(`    frontend:
      default:
        validation:
          mode: AllowInsecureFallback
          caCertificateRefs: [{ kind: Secret, name: ca }, { name: ca, namespace: other }]
      perPort: [{ port: 9443, tls: {} }, { port: 9443, tls: {} }]
    backend: { clientCertificateRef: { name: x } }`),
    );
    findIssue(issues, 'unsupported', 'spec.tls.frontend.default.validation.mode');
    findIssue(issues, 'invalid_value', 'spec.tls.frontend.default.validation.caCertificateRefs[0].kind');
    findIssue(issues, 'unsupported', 'spec.tls.frontend.default.validation.caCertificateRefs[1].namespace');
    findIssue(issues, 'invalid_value', 'spec.tls.frontend.perPort[1].port');
    findIssue(issues, 'unsupported', 'spec.tls.backend');
    const legacy = parseIssues(
      gateway('    frontend: { default: {} }').replace(
        'tls: { certificateRefs: [{ name: cert }] } }\n    - { name: b',
        'tls: { certificateRefs: [{ name: cert }], frontendValidation: {} } }\n    - { name: b',
      ),
    );
    const i = findIssue(legacy, 'unsupported', 'spec.listeners[0].tls.frontendValidation');
    assert.match(i.message, /spec\.tls\.frontend/);
  });

  it('analyze: a missing ConfigMap, one without ca.crt, a perPort port without HTTPS', () => {
    const issues = analyze(
      parseOk(`${gateway(`    frontend:
      default: { validation: { caCertificateRefs: [{ name: missing }] } }
      perPort: [{ port: 8080, tls: { validation: { caCertificateRefs: [{ name: empty }] } } }]`)}---
apiVersion: v1
kind: ConfigMap
metadata: { name: empty }
data: { other: x }
`),
    );
    findIssue(issues, 'dangling_reference', 'spec.tls.frontend.default.validation.caCertificateRefs[0].name');
    findIssue(issues, 'invalid_value', 'spec.tls.frontend.perPort[0].port');
    findIssue(
      issues,
      'invalid_value',
      'spec.tls.frontend.perPort[0].tls.validation.caCertificateRefs[0].name',
    );
  });
});
