// Peer verification, renewal timing, and a real mutual-TLS handshake on loopback with
// checkServerIdentity replaced by the SPIFFE check.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority, type IssuedCertificate } from './ca.js';
import { workloadId } from './spiffe.js';
import {
  buildCsr,
  generateWorkloadKey,
  PeerVerifier,
  renewalTime,
  verifyPeerSpiffeId,
  type WorkloadKey,
} from './workload-identity.js';
import { needOpenssl, opensslOk } from './testing.js';

const TD = 'cluster.local';
const reviews = workloadId(TD, 'default', 'reviews');
const ratings = workloadId(TD, 'default', 'ratings');
let ca: CertificateAuthority;
let other: CertificateAuthority;
let reviewsKey: WorkloadKey;
let reviewsCert: IssuedCertificate;

before(async () => {
  ca = await CertificateAuthority.generate({ trustDomain: TD });
  other = await CertificateAuthority.generate({ trustDomain: TD });
  reviewsKey = generateWorkloadKey();
  reviewsCert = await ca.signWorkloadCsr(buildCsr(reviewsKey, reviews), reviews);
});

test('the CSR is a valid PKCS#10 request openssl accepts, naming the workload', (t) => {
  if (!needOpenssl(t)) return;
  const csr = buildCsr(generateWorkloadKey(), reviews);
  const out = opensslOk(['req', '-noout', '-verify', '-text'], csr);
  assert.match(out, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews/);
  assert.match(out, /ASN1 OID: prime256v1/);
});

test('verifyPeerSpiffeId accepts the right identity from the mesh CA', () => {
  const r = verifyPeerSpiffeId(reviewsCert.chainPem, reviews.uri, ca.trustBundlePem());
  assert.deepEqual(r.ok && r.value.spiffeId, reviews.uri);
});

test('a leaf from another CA, the wrong ID, expiry and wrong usage all fail', async () => {
  const bundle = ca.trustBundlePem();
  const foreign = await other.signWorkloadCsr(buildCsr(generateWorkloadKey(), reviews), reviews);
  const r1 = verifyPeerSpiffeId(foreign.chainPem, reviews.uri, bundle);
  assert.equal(r1.ok, false);
  assert.match(!r1.ok ? r1.error : '', /does not chain to a root in the trust bundle/);

  const r2 = verifyPeerSpiffeId(reviewsCert.chainPem, ratings.uri, bundle);
  assert.match(
    !r2.ok ? r2.error : '',
    /the peer is "spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews", expected ".*ratings"/,
  );

  const later = +reviewsCert.notAfter + 1000;
  const r3 = verifyPeerSpiffeId(reviewsCert.chainPem, reviews.uri, bundle, { now: later });
  assert.match(!r3.ok ? r3.error : '', /the peer certificate expired at/);
  const early = +reviewsCert.notBefore - 1000;
  assert.match(
    String(!verifyPeerSpiffeId(reviewsCert.chainPem, reviews.uri, bundle, { now: early }).ok),
    /true/,
  );

  // Leaf alone (no intermediate): cannot chain.
  const r4 = verifyPeerSpiffeId(reviewsCert.certPem, reviews.uri, bundle);
  assert.match(!r4.ok ? r4.error : '', /does not chain/);
  // An intermediate presented as the peer: refused (no SPIFFE workload SAN / CA).
  const r5 = verifyPeerSpiffeId(ca.intermediate.pem + ca.root.pem, `spiffe://${TD}`, bundle);
  assert.equal(r5.ok, false);
  // Empty chain, garbage.
  assert.equal(verifyPeerSpiffeId('', reviews.uri, bundle).ok, false);
  assert.equal(verifyPeerSpiffeId([Buffer.from('nope')], reviews.uri, bundle).ok, false);
  // A chain whose intermediate is swapped for the other CA's: the signature does not verify.
  const swapped = reviewsCert.certPem + other.intermediate.pem;
  assert.equal(verifyPeerSpiffeId(swapped, reviews.uri, bundle).ok, false);
});

test('the verifier remembers intermediates but still checks every leaf and the validity window', async () => {
  const v = new PeerVerifier(ca.trustBundlePem(), { trustDomain: TD });
  assert.equal(v.verify(reviewsCert.chainPem, reviews.uri, 'client').ok, true);
  // Second time uses the remembered intermediate; a forged leaf still fails.
  const foreign = await other.signWorkloadCsr(buildCsr(generateWorkloadKey(), reviews), reviews);
  assert.equal(v.verify(foreign.certPem + ca.intermediate.pem, reviews.uri, 'client').ok, false);
  assert.equal(v.verify(reviewsCert.chainPem, null, 'server').ok, true);
  const intermediateEnd = +ca.intermediate.info.notAfter + 1000;
  assert.equal(v.verify(reviewsCert.chainPem, reviews.uri, 'server', intermediateEnd).ok, false);
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) v.verify(reviewsCert.chainPem, reviews.uri, 'server');
  const us = ((performance.now() - t0) / n) * 1000;
  assert.ok(us < 5000, `verify took ${us.toFixed(0)} µs`);
});

test('renewal falls between 45 % and 55 % of the lifetime, spread by the random input', () => {
  const nb = Date.UTC(2030, 0, 1);
  const na = nb + 24 * 3600_000;
  const fractions = [0, 0.25, 0.5, 0.999999, 1].map((r) => (renewalTime(nb, na, r) - nb) / (na - nb));
  for (const f of fractions) assert.ok(f >= 0.45 && f <= 0.55, `renewal at ${f}`);
  assert.ok(
    (fractions[0] as number) < 0.451 && (fractions[3] as number) > 0.549,
    'uses the whole jitter range',
  );
  for (let i = 0; i < 1000; i++) {
    const f = (renewalTime(nb, na, Math.random()) - nb) / (na - nb);
    assert.ok(f >= 0.45 && f <= 0.55);
  }
  // Short lifetimes (tests) too.
  const f = (renewalTime(0, 10_000, 0.5) - 0) / 10_000;
  assert.equal(f, 0.5);
});

/** Runs a mutual-TLS handshake: server `srv` (identity), client `cli`, client expects `expect`. */
async function handshake(
  srv: { key: WorkloadKey; cert: IssuedCertificate },
  cli: { key: WorkloadKey; cert: IssuedCertificate },
  expect: string,
  serverExpectsClient: string | null = null,
): Promise<{ ok: boolean; clientError?: string; serverSawClient?: string }> {
  const bundle = ca.trustBundlePem();
  const verifier = new PeerVerifier(bundle, { trustDomain: TD });
  let serverSawClient: string | undefined;
  const server = tls.createServer({
    key: srv.key.keyPem,
    cert: srv.cert.chainPem,
    ca: bundle,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  server.on('secureConnection', (s) => {
    const r = verifier.verify(s.getPeerCertificate(true), serverExpectsClient, 'client');
    serverSawClient = r.ok ? r.value.spiffeId : `refused: ${r.error}`;
    if (!r.ok) s.destroy();
    else s.end('hello');
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, clientError: 'timeout' }), 5000);
      const sock = tls.connect({
        host: '127.0.0.1',
        port,
        key: cli.key.keyPem,
        cert: cli.cert.chainPem,
        ca: bundle,
        rejectUnauthorized: true,
        servername: 'outbound.trellis', // SNI only; identity is checked below, not the name
        checkServerIdentity: verifier.checkServerIdentity(expect),
        minVersion: 'TLSv1.3',
      });
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.on('end', () => {
        clearTimeout(timer);
        resolve({ ok: data === 'hello', serverSawClient });
      });
      sock.on('error', (e) => {
        clearTimeout(timer);
        resolve({ ok: false, clientError: e.message, serverSawClient });
      });
    });
  } finally {
    await new Promise((res) => server.close(res));
  }
}

test('mutual TLS on loopback: the right identity connects, the wrong one and a foreign CA do not', async () => {
  const ratingsKey = generateWorkloadKey();
  const ratingsCert = await ca.signWorkloadCsr(buildCsr(ratingsKey, ratings), ratings);
  const srv = { key: reviewsKey, cert: reviewsCert };
  const cli = { key: ratingsKey, cert: ratingsCert };

  const good = await handshake(srv, cli, reviews.uri);
  assert.equal(good.ok, true, good.clientError);
  assert.equal(good.serverSawClient, ratings.uri);

  const wrong = await handshake(srv, cli, ratings.uri);
  assert.equal(wrong.ok, false);
  assert.match(
    wrong.clientError ?? '',
    /mTLS: server identity rejected: the peer is ".*reviews", expected ".*ratings"/,
  );

  // A server holding a certificate from another CA: OpenSSL refuses the chain.
  const foreignKey = generateWorkloadKey();
  const foreign = await other.signWorkloadCsr(buildCsr(foreignKey, reviews), reviews);
  const bad = await handshake({ key: foreignKey, cert: foreign }, cli, reviews.uri);
  assert.equal(bad.ok, false);
  assert.match(bad.clientError ?? '', /certificate|verify/i);

  // A client from another CA is refused by the server (requestCert + rejectUnauthorized).
  const badClient = await handshake(srv, { key: foreignKey, cert: foreign }, reviews.uri);
  assert.equal(badClient.ok, false);

  // The server may require a particular client identity too.
  const picky = await handshake(srv, cli, reviews.uri, workloadId(TD, 'default', 'productpage').uri);
  assert.equal(picky.ok, false);
  assert.match(picky.serverSawClient ?? '', /refused: the peer is ".*ratings"/);
});
