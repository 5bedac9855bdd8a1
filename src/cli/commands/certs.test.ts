import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certWarnings, gatewayCertificates, left, renderCerts, type CertsReport } from './certs.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const iso = (ms: number) => new Date(NOW + ms).toISOString();
const DAY = 86_400_000;

function report(interLeftMs: number, rootLeftMs: number, items: CertsReport['items']): CertsReport {
  const ca = (subject: string, l: number) => ({
    subject,
    notBefore: iso(-DAY),
    notAfter: iso(l),
    fingerprint256: subject,
  });
  return {
    trustDomain: 'cluster.local',
    now: iso(0),
    workloadCertTtlSeconds: 86_400,
    ca: {
      roots: [{ ...ca('CN=Root', rootLeftMs), role: 'issuing' }],
      intermediate: { ...ca('CN=Trellis Intermediate CA 1, O=Trellis', interLeftMs), issuer: 'CN=Root' },
    },
    rotation: null,
    warnThresholds: { intermediateSeconds: 30 * 86_400, rootSeconds: 90 * 86_400 },
    items,
  };
}

const item = (state: string, notAfterMs: number): CertsReport['items'][number] => ({
  spiffeId: 'spiffe://cluster.local/ns/default/sa/web',
  instance: 'web-1',
  serialNumber: 'abcdef0123456789',
  issuer: 'CN=Trellis Intermediate CA 1, O=Trellis',
  notBefore: iso(-3_600_000),
  notAfter: iso(notAfterMs),
  lastRenewalAt: iso(-3_600_000),
  renewals: 2,
  state,
  truncated: false,
});

test('warnings: well before the intermediate and root expire, and for workloads not renewing', () => {
  assert.deepEqual(certWarnings(report(365 * DAY, 3650 * DAY, [item('valid', 20 * 3_600_000)])), []);
  const w = certWarnings(
    report(10 * DAY, 60 * DAY, [
      item('overdue', 3_600_000),
      { ...item('expired', -1000), instance: 'web-2' },
    ]),
  );
  assert.equal(w.length, 4);
  assert.match(w[0]!, /intermediate .* expires in 10d .*trellis ca rotate'/);
  assert.match(w[1]!, /root "CN=Root" expires in 60d .*trellis ca rotate --root'/);
  assert.match(w[2]!, /web-1\): certificate not renewed and expires in 1h/);
  assert.match(w[3]!, /web-2\): certificate expired at/);
});

test('the table shows identity, instance, short serial, issuer, time left and state', () => {
  const out = renderCerts(report(365 * DAY, 3650 * DAY, [item('valid', 20 * 3_600_000)]));
  assert.match(out, /trust domain cluster\.local; workload certificates live 1d/);
  assert.match(
    out,
    /spiffe:\/\/cluster\.local\/ns\/default\/sa\/web\s+web-1\s+abcdef012345\s+Trellis Intermediate CA 1\s+\S+\s+20h\s+1h ago \(2x\)\s+valid/,
  );
  assert.equal(left(-5), 'expired');
  assert.equal(left(90_000), '1m30s');
});

test('gateway certificates: the Gateways serving each Secret, a warning within 30 days, never quiet when expired', () => {
  const secret = (name: string, leftMs: number) => ({
    metadata: { name, namespace: 'shop' },
    type: 'kubernetes.io/tls',
    certificate: {
      subject: `CN=${name}.example`,
      sans: [`DNS:${name}.example`],
      notAfter: new Date(NOW + leftMs).toISOString(),
    },
  });
  const gateway = {
    metadata: { name: 'edge', namespace: 'shop' },
    spec: {
      listeners: [
        { name: 'https', tls: { certificateRefs: [{ kind: 'Secret', name: 'soon' }] } },
        { name: 'admin', tls: { certificateRefs: [{ kind: 'Secret', name: 'gone' }] } },
        { name: 'http' },
      ],
    },
  };
  const gws = gatewayCertificates(
    [secret('later', 200 * DAY), secret('soon', 12 * DAY), secret('gone', -DAY)],
    [gateway],
  );
  assert.deepEqual(
    gws.map((g) => [g.name, g.usedBy]),
    [
      ['gone', ['shop/edge:admin']],
      ['soon', ['shop/edge:https']],
      ['later', []],
    ],
  );
  const r = { ...report(365 * DAY, 3650 * DAY, []), gatewayCertificates: gws };
  const w = certWarnings(r);
  assert.equal(w.length, 2, w.join('\n'));
  assert.match(
    w[0]!,
    /Secret shop\/gone \(CN=gone\.example\) expired .*served by shop\/edge:admin: apply a renewed Secret/,
  );
  assert.match(w[1]!, /Secret shop\/soon .* expires in 12d .*served by shop\/edge:https/);
  assert.match(renderCerts(r), /shop\/later\s+CN=later\.example\s+\S+\s+200d\s+-/);
});
