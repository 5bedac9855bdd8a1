// Secret (kubernetes.io/tls) and HTTPS Gateway listeners: parse, path-precise errors (never quoting
// the key), the stored vs the shown document, analyze (expired, missing Secret, mixed port), the
// translation (SNI chains, SDS only for the node's own Gateway) and the proxy's decoding of it.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { decodeListener } from '../proxy/config/decode-listener.js';
import { chainForServerName, decodeTlsSecret } from '../proxy/config/decode-gateway-tls.js';
import { translate } from '../translate/index.js';
import { gatewayNode, snapshot } from '../translate/testing.js';
import { LISTENER_TYPE, SECRET_TYPE } from '../xds/type-urls.js';
import { analyze } from './analyze.js';
import { httpsEdgeYaml } from './gateway-testing.js';
import { serviceKey } from './mesh-snapshot.js';
import { parseDocuments, resourceToDocument } from './parse.js';
import { makeTlsCert, secretYaml, type TestCert } from '../security/tls-testing.js';
import { findIssue, parseIssues, parseOk } from './testing.js';
import { publicDocument } from './to-document.js';
import type { GatewayResource, Resource, SecretResource } from './types.js';

type Obj = Record<string, unknown>;
const DAY = 86_400_000;

const gatewayYaml = httpsEdgeYaml(8443, 8080, 'shop-cert');

describe('Secret (kubernetes.io/tls)', () => {
  let shop: TestCert;
  let other: TestCert;
  let expired: TestCert;
  before(async () => {
    shop = await makeTlsCert(['shop.example']);
    other = await makeTlsCert(['*.other.example']);
    expired = await makeTlsCert(['old.example'], {
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
  });

  it('parses data (base64) and stringData (PEM); shows facts, never the key', () => {
    const [a] = parseOk(secretYaml('shop-cert', shop)) as SecretResource[];
    assert.ok(a);
    assert.equal(a.spec.certificate.subject, 'CN=shop.example');
    assert.deepEqual(a.spec.certificate.sans, ['DNS:shop.example']);
    const [b] = parseOk(`apiVersion: v1
kind: Secret
metadata: { name: s }
type: kubernetes.io/tls
stringData:
  tls.crt: |
${shop.cert.replace(/^/gm, '    ')}
  tls.key: |
${shop.key.replace(/^/gm, '    ')}
`) as SecretResource[];
    assert.equal(b?.spec.privateKey.trim(), shop.key.trim());
    // Stored form round-trips (the key included) ...
    const stored = resourceToDocument(a);
    const again = parseDocuments(JSON.stringify(stored), 'x.json');
    assert.ok(again.ok);
    assert.equal((again.value[0] as SecretResource).spec.privateKey, a.spec.privateKey);
    // ... the shown form has no key and no PEM.
    const shown = JSON.stringify(publicDocument(a));
    assert.ok(
      !shown.includes('PRIVATE KEY') && !shown.includes(Buffer.from(a.spec.privateKey).toString('base64')),
    );
    assert.ok(!shown.includes('BEGIN CERTIFICATE'));
    assert.match(shown, /CN=shop.example/);
    assert.match(shown, /notAfter/);
  });

  it('bad Secrets: errors with the path, never quoting the value', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const cases: [string, string, string, RegExp][] = [
      [`data:\n  tls.crt: "%%%"\n  tls.key: ${b64(shop.key)}`, 'invalid_value', 'data["tls.crt"]', /base64/],
      [
        `data:\n  tls.crt: ${b64('hello')}\n  tls.key: ${b64(shop.key)}`,
        'invalid_value',
        'data["tls.crt"]',
        /PEM certificate/,
      ],
      [
        `data:\n  tls.crt: ${b64(shop.cert)}\n  tls.key: ${b64('nope')}`,
        'invalid_value',
        'data["tls.key"]',
        /PEM private key/,
      ],
      [
        `data:\n  tls.crt: ${b64(shop.cert)}\n  tls.key: ${b64(other.key)}`,
        'invalid_value',
        'data["tls.key"]',
        /does not match the certificate/,
      ],
      [`data:\n  tls.crt: ${b64(shop.cert)}`, 'missing_field', 'data["tls.key"]', /needs tls.key/],
    ];
    for (const [body, code, path, msg] of cases) {
      const issues = parseIssues(
        `apiVersion: v1\nkind: Secret\nmetadata: { name: s }\ntype: kubernetes.io/tls\n${body}\n`,
      );
      const i = findIssue(issues, code, path);
      assert.match(i.message, msg);
      for (const secret of [shop.key, other.key, shop.cert])
        assert.ok(!i.message.includes((secret.split('\n')[1] ?? '').slice(0, 20)), i.message);
    }
    const wrongType = parseIssues(`apiVersion: v1\nkind: Secret\nmetadata: { name: s }\ntype: Opaque\n`);
    findIssue(wrongType, 'invalid_value', 'type');
  });

  it('analyze: an expired certificate is an error at data.tls.crt', () => {
    const issues = analyze(parseOk(secretYaml('old', expired)));
    const i = findIssue(issues, 'invalid_value', 'data["tls.crt"]');
    assert.equal(i.severity, 'error');
    assert.match(i.message, /expired on/);
  });

  it('HTTPS listeners: tls required, certificateRefs checked, no HTTP on the same port', () => {
    const missing = analyze(parseOk(gatewayYaml));
    findIssue(missing, 'dangling_reference', 'spec.listeners[0].tls.certificateRefs[0].name');
    findIssue(missing, 'dangling_reference', 'spec.listeners[1].tls.certificateRefs[0].name');
    const ok = analyze(
      parseOk(`${gatewayYaml}---\n${secretYaml('shop-cert', shop)}---\n${secretYaml('other-cert', other)}`),
    );
    assert.deepEqual(
      ok.filter((i) => i.severity === 'error'),
      [],
    );
    const noTls = parseIssues(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - { name: a, port: 8443, protocol: HTTPS }
    - { name: b, port: 8080, protocol: HTTP, tls: { certificateRefs: [{ name: x }] } }
    - { name: c, port: 9443, protocol: HTTPS, tls: { mode: Passthrough, certificateRefs: [{ name: x }] } }
    - { name: d, port: 9444, protocol: HTTPS, tls: { certificateRefs: [{ name: x, namespace: other }] } }
`);
    findIssue(noTls, 'missing_field', 'spec.listeners[0].tls');
    findIssue(noTls, 'invalid_value', 'spec.listeners[1].tls');
    findIssue(noTls, 'invalid_value', 'spec.listeners[2].tls.mode');
    findIssue(noTls, 'unsupported', 'spec.listeners[3].tls.certificateRefs[0].namespace');
    const mixed = analyze(
      parseOk(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - { name: a, port: 8443, protocol: HTTP, hostname: a.example }
    - { name: b, port: 8443, protocol: HTTPS, hostname: b.example, tls: { certificateRefs: [{ name: shop-cert }] } }
---
${secretYaml('shop-cert', shop)}`),
    );
    findIssue(mixed, 'conflict', 'spec.listeners[1].protocol');
  });

  it('translation: SNI chains over SDS, decoded by the proxy; SDS only for the own Gateway', () => {
    const rs: Resource[] = parseOk(
      `${gatewayYaml}---\n${secretYaml('shop-cert', shop)}---\n${secretYaml('other-cert', other)}---\n${secretYaml('unrelated', shop)}`,
    );
    const gws = rs.filter((r): r is GatewayResource => r.kind === 'Gateway');
    const secrets = rs.filter((r): r is SecretResource => r.kind === 'Secret');
    const snap = {
      ...snapshot([]),
      gateways: new Map(gws.map((g) => [serviceKey(g.metadata.namespace, g.metadata.name), g])),
      secrets: new Map(secrets.map((s) => [serviceKey(s.metadata.namespace, s.metadata.name), s])),
    };
    const lds = translate(snap, gatewayNode('edge'), LISTENER_TYPE, '*');
    const l = lds.get('trellis_gateway_127.0.0.1_8443') as Obj;
    const chains = l.filter_chains as Obj[];
    assert.deepEqual(
      chains.map((c) => [c.name, (c.filter_chain_match as Obj).server_names]),
      [
        ['shop', ['shop.example']],
        ['wild', ['*.other.example']],
        ['fallback', undefined],
      ],
    );
    const d = decodeListener(l);
    assert.equal(d.tls?.mode, 'terminate');
    assert.ok(d.tls?.mode === 'terminate');
    const pick = (sni: string | undefined) =>
      chainForServerName(d.tls?.mode === 'terminate' ? d.tls.chains : [], sni)?.name;
    assert.equal(pick('shop.example'), 'shop');
    assert.equal(pick('SHOP.example'), 'shop');
    assert.equal(pick('a.b.other.example'), 'wild');
    assert.equal(pick('other.example'), 'fallback');
    assert.equal(pick(undefined), 'fallback');
    assert.equal(d.tls.chains[0]?.certSecret, 'secret/default/shop-cert');
    assert.deepEqual(d.tls.chains[0]?.alpn, ['h2', 'http/1.1']);
    assert.equal(d.tls.chains[0]?.minVersion, 'TLSv1.2');
    // The plain port is untouched.
    assert.equal(decodeListener(lds.get('trellis_gateway_127.0.0.1_8080') as Obj).tls, undefined);
    // SDS: the Gateway's own Secrets only, decodable; another node gets none.
    const sds = translate(snap, gatewayNode('edge'), SECRET_TYPE, [
      'secret/default/shop-cert',
      'secret/default/unrelated',
    ]);
    assert.deepEqual([...sds.keys()], ['secret/default/shop-cert']);
    const dec = decodeTlsSecret(sds.get('secret/default/shop-cert') as Obj);
    assert.equal(dec.privateKey.trim(), shop.key.trim());
    assert.equal(translate(snap, gatewayNode('other'), SECRET_TYPE, ['secret/default/shop-cert']).size, 0);
  });
});
