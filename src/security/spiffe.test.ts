import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpiffeId, parseWorkloadId, SpiffeIdError, trustDomainError, workloadId } from './spiffe.js';

test('valid SPIFFE IDs parse to their parts', () => {
  assert.deepEqual(parseSpiffeId('spiffe://example.org'), {
    uri: 'spiffe://example.org',
    trustDomain: 'example.org',
    path: '',
  });
  assert.equal(parseSpiffeId('spiffe://a_b-c.d/x/Y.z/_-').path, '/x/Y.z/_-');
  const w = parseWorkloadId('spiffe://cluster.local/ns/default/sa/reviews');
  assert.equal(w.namespace, 'default');
  assert.equal(w.serviceAccount, 'reviews');
  assert.equal(
    workloadId('cluster.local', 'shop', 'cart.v2').uri,
    'spiffe://cluster.local/ns/shop/sa/cart.v2',
  );
});

const bad: [string, RegExp][] = [
  ['', /must start with "spiffe:\/\/"/],
  ['http://example.org/x', /must start with "spiffe:\/\/"/],
  ['SPIFFE://example.org/x', /lower case/],
  ['spiffe://', /trust domain is empty/],
  ['spiffe:///ns/a', /trust domain is empty/],
  ['spiffe://Example.org/x', /upper case/],
  ['spiffe://example.org:8443/x', /port/],
  ['spiffe://user@example.org/x', /userinfo/],
  ['spiffe://exa mple.org/x', /character " "/],
  ['spiffe://example.org/', /segment 1 is empty/],
  ['spiffe://example.org//x', /segment 1 is empty/],
  ['spiffe://example.org/x/', /segment 2 is empty/],
  ['spiffe://example.org/./x', /dot segments/],
  ['spiffe://example.org/x/..', /dot segments/],
  ['spiffe://example.org/x%2Fy', /percent-encoding/],
  ['spiffe://example.org/x?y=1', /queries and fragments/],
  ['spiffe://example.org/x#f', /queries and fragments/],
  ['spiffe://example.org?x', /queries and fragments/],
  ['spiffe://example.org/é', /character "é"/],
  [`spiffe://example.org/${'a'.repeat(2040)}`, /longer than 2048 bytes/],
  [`spiffe://${'a'.repeat(256)}/x`, /at most 255/],
];

for (const [input, re] of bad)
  test(`rejects ${JSON.stringify(input.slice(0, 40))}`, () => {
    assert.throws(
      () => parseSpiffeId(input, 'peer'),
      (e: unknown) => e instanceof SpiffeIdError && e.message.startsWith('peer: ') && re.test(e.message),
    );
  });

test('workload IDs need exactly /ns/<namespace>/sa/<account> with Kubernetes names', () => {
  for (const [uri, re] of [
    ['spiffe://td/ns/a', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://td/ns/a/sa/b/c', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://td/sa/a/ns/b', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://td/ns/A/sa/b', /spiffeId\.namespace: "A" must be a DNS-1123 label/],
    ['spiffe://td/ns/a/sa/b_c', /spiffeId\.serviceAccount: "b_c" must be a DNS-1123 subdomain/],
  ] as const)
    assert.throws(() => parseWorkloadId(uri), re, uri);
  assert.throws(() => workloadId('Bad', 'a', 'b'), /trustDomain: .*upper case/);
  assert.equal(trustDomainError('cluster.local'), undefined);
});
