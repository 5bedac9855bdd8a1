// The CA checked by the real openssl: chains verify, the leaf says what it should, and the CA
// issues only the identity it is told, whatever the CSR asks.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { CaError, CertificateAuthority, checkCsr, CLOCK_SKEW_BACKDATE_MS } from './ca.js';
import { pemBlocks, toPem } from './der.js';
import { parseCertInfo } from './cert-info.js';
import { workloadId } from './spiffe.js';
import { buildCsr, generateWorkloadKey } from './workload-identity.js';
import { needOpenssl, openssl, opensslOk, tempFiles } from './testing.js';

const TD = 'cluster.local';
const reviews = workloadId(TD, 'default', 'reviews');
let ca: CertificateAuthority;

before(async () => {
  ca = await CertificateAuthority.generate({ trustDomain: TD });
});

function verifyWithOpenssl(
  rootPem: string,
  interPem: string,
  leafPem: string,
): { status: number; out: string } {
  const f = tempFiles({ 'root.pem': rootPem, 'inter.pem': interPem, 'leaf.pem': leafPem });
  try {
    return openssl([
      'verify',
      '-CAfile',
      f.path('root.pem'),
      '-untrusted',
      f.path('inter.pem'),
      f.path('leaf.pem'),
    ]);
  } finally {
    f.cleanup();
  }
}

test('openssl verify accepts an issued chain; x509 -text shows SPIFFE SAN, usages and a 24 h lifetime', async (t) => {
  if (!needOpenssl(t)) return;
  const key = generateWorkloadKey();
  const now = Date.now();
  const issued = await ca.signWorkloadCsr(buildCsr(key, reviews), reviews, { now });
  const v = verifyWithOpenssl(ca.trustBundlePem(), ca.intermediate.pem, issued.certPem);
  assert.equal(v.status, 0, v.out);
  assert.match(v.out, /leaf\.pem: OK/);
  // The root and intermediate themselves, as openssl sees them.
  const rootText = opensslOk(['x509', '-noout', '-text'], ca.root.pem);
  assert.match(rootText, /CA:TRUE, pathlen:1/);
  assert.match(rootText, /Certificate Sign, CRL Sign/);
  assert.match(rootText, /ASN1 OID: prime256v1/);
  const interText = opensslOk(['x509', '-noout', '-text'], ca.intermediate.pem);
  assert.match(interText, /CA:TRUE, pathlen:0/);

  const text = opensslOk(['x509', '-noout', '-text'], issued.certPem);
  assert.match(
    text,
    /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews\n/,
  );
  assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
  assert.match(
    text,
    /X509v3 Extended Key Usage: \s+TLS Web Server Authentication, TLS Web Client Authentication/,
  );
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text, /X509v3 Subject Key Identifier/);
  assert.match(text, /X509v3 Authority Key Identifier/);
  assert.match(text, /Subject: \n/);
  assert.match(text, /ecdsa-with-SHA256/);
  const nb = Date.parse(/Not Before: (.*)/.exec(text)?.[1] ?? '');
  const na = Date.parse(/Not After : (.*)/.exec(text)?.[1] ?? '');
  assert.ok(Math.abs(nb - (now - CLOCK_SKEW_BACKDATE_MS)) < 2000, 'backdated by the clock-skew allowance');
  assert.ok(Math.abs(na - (now + 24 * 3600_000)) < 2000, `24 h lifetime, got ${(na - now) / 3600_000} h`);
  assert.equal(issued.truncated, false);
  // Serial: 17 octets, positive.
  assert.match(text, /Serial Number:\n\s+[0-7][0-9a-f](:[0-9a-f]{2}){16}\n/);
  // Chain = leaf + intermediate.
  assert.equal(pemBlocks(issued.chainPem, 'CERTIFICATE').length, 2);
});

test('the lifetime is configurable and never outlives the intermediate', async (t) => {
  if (!needOpenssl(t)) return;
  const short = await CertificateAuthority.generate({ trustDomain: TD, intermediateTtlMs: 2 * 3600_000 });
  const csr = buildCsr(generateWorkloadKey(), reviews);
  const oneHour = await short.signWorkloadCsr(csr, reviews, { ttlMs: 3600_000 });
  assert.equal(oneHour.truncated, false);
  assert.ok(Math.abs(+oneHour.notAfter - Date.now() - 3600_000) < 2000);
  const day = await short.signWorkloadCsr(csr, reviews);
  assert.equal(day.truncated, true);
  assert.equal(+day.notAfter, +parseCertInfo(short.intermediate.der).notAfter);
  assert.equal(verifyWithOpenssl(short.trustBundlePem(), short.intermediate.pem, day.certPem).status, 0);
  await assert.rejects(short.signWorkloadCsr(csr, reviews, { ttlMs: 1000 }), /ttlMs: must be between/);
  await assert.rejects(
    short.signWorkloadCsr(csr, reviews, { now: Date.now() + 3 * 3600_000 }),
    /intermediateCert: expired/,
  );
});

test('a CSR asking for another identity (SAN, subject, DNS names) still gets only the given identity', async (t) => {
  if (!needOpenssl(t)) return;
  const admin = workloadId(TD, 'kube-system', 'admin');
  const ours = await ca.signWorkloadCsr(buildCsr(generateWorkloadKey(), admin), reviews);
  assert.deepEqual(ours.ignoredRequest.uriSans, [admin.uri]);
  // An openssl-made CSR with a subject, a URI SAN for admin and DNS names.
  const f = tempFiles({});
  try {
    const csr = opensslOk([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      f.path('k.pem'),
      '-subj',
      '/CN=admin/O=system:masters',
      '-addext',
      `subjectAltName=URI:${admin.uri},DNS:kubernetes.default,IP:10.0.0.1`,
    ]);
    const issued = await ca.signWorkloadCsr(csr, reviews);
    assert.equal(issued.ignoredRequest.subject, 'CN=admin, O=system:masters');
    assert.deepEqual(issued.ignoredRequest.uriSans, [admin.uri]);
    assert.equal(issued.ignoredRequest.otherSans, 2);
    for (const pem of [issued.certPem, ours.certPem]) {
      const x = new X509Certificate(pem);
      assert.ok(!x.subject, `empty subject, got ${x.subject}`);
      assert.equal(x.subjectAltName, `URI:${reviews.uri}`);
      const text = opensslOk(['x509', '-noout', '-text'], pem);
      assert.doesNotMatch(text, /admin|kubernetes|DNS:|IP Address/);
      assert.equal(verifyWithOpenssl(ca.trustBundlePem(), ca.intermediate.pem, pem).status, 0);
    }
  } finally {
    f.cleanup();
  }
});

test('a CSR with a bad signature is refused', async () => {
  const key = generateWorkloadKey();
  const der = pemBlocks(buildCsr(key, reviews), 'CERTIFICATE REQUEST')[0] as Buffer;
  // Change the requested identity in place (same length): the signature no longer matches.
  const i = der.indexOf('sa/reviews');
  const tampered = Buffer.from(der);
  tampered.write('sa/ratings', i, 'latin1');
  await assert.rejects(ca.signWorkloadCsr(toPem('CERTIFICATE REQUEST', tampered), reviews), (e: unknown) => {
    return (
      e instanceof CaError && e.code === 'BAD_REQUEST' && /csr\.signature: does not verify/.test(e.message)
    );
  });
  // A CSR signed by another key than the one it carries.
  const other = generateWorkloadKey();
  const forged = buildCsr({ ...other, publicSpki: key.publicSpki }, reviews);
  await assert.rejects(ca.signWorkloadCsr(forged, reviews), /csr\.signature: does not verify/);
  // Garbage and truncation.
  await assert.rejects(
    ca.signWorkloadCsr('hello', reviews),
    /csr: expected one PEM "CERTIFICATE REQUEST" block, found 0/,
  );
  await assert.rejects(ca.signWorkloadCsr(der.subarray(0, der.length - 5), reviews), /csr: is not a PKCS#10/);
  await assert.rejects(ca.signWorkloadCsr('x'.repeat(20000), reviews), /at most 16384/);
});

test('RSA keys and curves other than P-256 are refused with a clear error', async (t) => {
  if (!needOpenssl(t)) return;
  const f = tempFiles({});
  try {
    const mk = (alg: string[]) =>
      opensslOk(['req', '-new', ...alg, '-nodes', '-keyout', f.path('k.pem'), '-subj', '/CN=x']);
    assert.throws(
      () => checkCsr(mk(['-newkey', 'rsa:1024'])),
      /csr\.publicKey: is RSA-1024, which is too weak for any use, but .*ECDSA P-256/,
    );
    assert.throws(
      () => checkCsr(mk(['-newkey', 'rsa:2048'])),
      /csr\.publicKey: is RSA-2048 but Trellis issues .*ECDSA P-256/,
    );
    assert.throws(
      () => checkCsr(mk(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'])),
      /on curve secp384r1; only P-256/,
    );
    assert.throws(() => checkCsr(mk(['-newkey', 'ed25519'])), /is ed25519; .*ECDSA P-256/);
    // P-256 signed with SHA-1: refused on the algorithm.
    const sha1 = opensslOk([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-sha1',
      '-nodes',
      '-keyout',
      f.path('k.pem'),
      '-subj',
      '/CN=x',
    ]);
    assert.throws(() => checkCsr(sha1), /csr\.signatureAlgorithm: must be ecdsa-with-SHA256/);
    // And a plain openssl P-256 CSR is fine.
    const ok = opensslOk([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      f.path('k.pem'),
      '-subj',
      '/CN=x',
    ]);
    assert.equal(checkCsr(ok).requested.subject, 'CN=x');
  } finally {
    f.cleanup();
  }
});

test('identities outside the trust domain are refused', async () => {
  const csr = buildCsr(generateWorkloadKey(), reviews);
  await assert.rejects(
    ca.signWorkloadCsr(csr, workloadId('other.org', 'default', 'reviews')),
    /identity: .*this CA issues for "cluster.local" only/,
  );
});

/** A user root (+ intermediate) made by openssl, as an operator would. */
function userCaFiles(dir: { path: (n: string) => string }): {
  root: string;
  rootKey: string;
  inter: string;
  interKey: string;
} {
  const p = dir.path;
  opensslOk([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    p('rk.pem'),
    '-out',
    p('r.pem'),
    '-subj',
    '/O=Acme/CN=Acme Mesh Root',
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  opensslOk([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    p('ik.pem'),
    '-out',
    p('i.csr'),
    '-subj',
    '/O=Acme/CN=Acme Mesh Issuing',
  ]);
  tempWrite(
    p('ext.cnf'),
    '[v]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  opensslOk([
    'x509',
    '-req',
    '-in',
    p('i.csr'),
    '-CA',
    p('r.pem'),
    '-CAkey',
    p('rk.pem'),
    '-set_serial',
    '0x1234',
    '-days',
    '20',
    '-extfile',
    p('ext.cnf'),
    '-extensions',
    'v',
    '-out',
    p('i.pem'),
  ]);
  const read = (n: string) => readText(p(n));
  return { root: read('r.pem'), rootKey: read('rk.pem'), inter: read('i.pem'), interKey: read('ik.pem') };
}
const readText = (p: string) => readFileSync(p, 'utf8');
const tempWrite = (p: string, s: string) => writeFileSync(p, s);

test('a user-supplied root + intermediate issue chains openssl accepts', async (t) => {
  if (!needOpenssl(t)) return;
  const f = tempFiles({});
  try {
    const u = userCaFiles(f);
    const userCa = await CertificateAuthority.load({
      trustDomain: TD,
      rootCertPem: u.root,
      intermediateCertPem: u.inter,
      intermediateKeyPem: u.interKey,
    });
    const issued = await userCa.signWorkloadCsr(buildCsr(generateWorkloadKey(), reviews), reviews);
    const v = verifyWithOpenssl(u.root, u.inter, issued.certPem);
    assert.equal(v.status, 0, v.out);
    assert.match(
      opensslOk(['x509', '-noout', '-issuer'], issued.certPem),
      /O = Acme, CN = Acme Mesh Issuing/,
    );
    // Leaves end with the user intermediate (20 days) when asked for more.
    const long = await userCa.signWorkloadCsr(buildCsr(generateWorkloadKey(), reviews), reviews, {
      ttlMs: 60 * 86400_000,
    });
    assert.equal(long.truncated, true);
    // A user root with its key and no intermediate: Trellis signs its own intermediate.
    const rootOnly = await CertificateAuthority.load({
      trustDomain: TD,
      rootCertPem: u.root,
      rootKeyPem: u.rootKey,
    });
    const issued2 = await rootOnly.signWorkloadCsr(buildCsr(generateWorkloadKey(), reviews), reviews);
    const v2 = verifyWithOpenssl(u.root, rootOnly.intermediate.pem, issued2.certPem);
    assert.equal(v2.status, 0, v2.out);
    assert.match(
      opensslOk(['x509', '-noout', '-issuer'], rootOnly.intermediate.pem),
      /O = Acme, CN = Acme Mesh Root/,
    );
  } finally {
    f.cleanup();
  }
});

test('mismatched keys, non-CA certificates and foreign intermediates are refused', async (t) => {
  if (!needOpenssl(t)) return;
  const f = tempFiles({});
  try {
    const u = userCaFiles(f);
    await assert.rejects(
      CertificateAuthority.load({
        trustDomain: TD,
        rootCertPem: u.root,
        intermediateCertPem: u.inter,
        intermediateKeyPem: u.rootKey,
      }),
      (e: unknown) =>
        e instanceof CaError &&
        e.code === 'INVALID_CONFIG' &&
        /^intermediateKey: this private key does not match the certificate/.test(e.message),
    );
    await assert.rejects(
      CertificateAuthority.load({ trustDomain: TD, rootCertPem: u.root, rootKeyPem: u.interKey }),
      /rootKey: this private key does not match/,
    );
    // An intermediate of another root.
    await assert.rejects(
      CertificateAuthority.load({
        trustDomain: TD,
        rootCertPem: ca.root.pem,
        intermediateCertPem: u.inter,
        intermediateKeyPem: u.interKey,
      }),
      /intermediateCert: is not signed by the root/,
    );
    // The intermediate given as the root.
    await assert.rejects(
      CertificateAuthority.load({ trustDomain: TD, rootCertPem: u.inter, rootKeyPem: u.interKey }),
      /rootCert: is not self-signed/,
    );
    // A leaf given as a CA.
    const leaf = await ca.signWorkloadCsr(buildCsr(generateWorkloadKey(), reviews), reviews);
    await assert.rejects(
      CertificateAuthority.load({ trustDomain: TD, rootCertPem: leaf.certPem }),
      /rootCert: is not a CA certificate/,
    );
    // Missing pieces.
    await assert.rejects(
      CertificateAuthority.load({ trustDomain: TD, rootCertPem: u.root }),
      /rootKey: is required when no intermediate/,
    );
    await assert.rejects(
      CertificateAuthority.load({ trustDomain: TD, rootCertPem: u.root, intermediateCertPem: u.inter }),
      /intermediateKey: is required/,
    );
    await assert.rejects(
      CertificateAuthority.load({ trustDomain: TD, rootCertPem: 'nope', rootKeyPem: u.rootKey }),
      /rootCert: expected exactly one PEM CERTIFICATE block, found 0/,
    );
    // An RSA intermediate key: Trellis signs with P-256 only.
    opensslOk([
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      f.path('rsa.pem'),
    ]);
    await assert.rejects(
      CertificateAuthority.load({
        trustDomain: TD,
        rootCertPem: u.root,
        rootKeyPem: readText(f.path('rsa.pem')),
      }),
      /rootKey: the key is rsa; Trellis signs with ECDSA P-256/,
    );
  } finally {
    f.cleanup();
  }
});

test('rotation: a new intermediate, and a new root trusted alongside the old during the overlap', async (t) => {
  if (!needOpenssl(t)) return;
  const csr = buildCsr(generateWorkloadKey(), reviews);
  const rotated = await ca.rotateIntermediate();
  assert.notEqual(rotated.intermediate.fingerprint256, ca.intermediate.fingerprint256);
  const a = await rotated.signWorkloadCsr(csr, reviews);
  assert.equal(verifyWithOpenssl(ca.trustBundlePem(), rotated.intermediate.pem, a.certPem).status, 0);

  const next = await CertificateAuthority.generate({ trustDomain: TD });
  const overlap = await next.withExtraRoots(ca.trustBundlePem());
  assert.equal(overlap.roots.length, 2);
  assert.equal(pemBlocks(overlap.trustBundlePem(), 'CERTIFICATE').length, 2);
  const b = await overlap.signWorkloadCsr(csr, reviews);
  // Old and new leaves both verify against the overlap bundle.
  const bundle = overlap.trustBundlePem();
  assert.equal(verifyWithOpenssl(bundle, rotated.intermediate.pem, a.certPem).status, 0);
  assert.equal(verifyWithOpenssl(bundle, overlap.intermediate.pem, b.certPem).status, 0);
  // After the overlap the old root is dropped, and old leaves no longer verify.
  const done = await overlap.withoutRoot(ca.root.fingerprint256);
  assert.equal(done.roots.length, 1);
  assert.notEqual(verifyWithOpenssl(done.trustBundlePem(), rotated.intermediate.pem, a.certPem).status, 0);
  assert.throws(() => done.withoutRoot(done.root.fingerprint256), /own root cannot be dropped/);
});

test('signing is fast enough for every workload to rotate', async () => {
  const csr = buildCsr(generateWorkloadKey(), reviews);
  await ca.signWorkloadCsr(csr, reviews);
  const n = 50;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await ca.signWorkloadCsr(csr, reviews);
  const each = (performance.now() - t0) / n;
  // Generous bound for a loaded CI machine; typically well under 1 ms.
  assert.ok(each < 50, `signing took ${each.toFixed(2)} ms per certificate`);
});
