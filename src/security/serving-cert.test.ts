// The control plane's serving certificate (CertificateAuthority.issueServingCertificate): the
// SPIFFE ID plus DNS and IP SANs, serverAuth only, checked by openssl and by a real TLS handshake
// verifying either the SPIFFE ID (PeerVerifier) or the host name / IP (Node's default check).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority, ipBytes } from './ca.js';
import { workloadId } from './spiffe.js';
import { needOpenssl, opensslOk, tempFiles } from './testing.js';
import { PeerVerifier } from './workload-identity.js';

const CP = workloadId('example.org', 'trellis-system', 'control-plane');

test('ipBytes: IPv4, IPv6 (with ::, embedded IPv4), and not an IP', () => {
  assert.deepEqual([...ipBytes('127.0.0.1')!], [127, 0, 0, 1]);
  assert.equal(ipBytes('::1')!.toString('hex'), '00000000000000000000000000000001');
  assert.equal(ipBytes('fe80::1:2')!.toString('hex'), 'fe800000000000000000000000010002');
  assert.equal(ipBytes('::ffff:10.0.0.1')!.toString('hex'), '00000000000000000000ffff0a000001');
  assert.equal(ipBytes('localhost'), undefined);
});

test('a serving certificate: SPIFFE ID, DNS and IP SANs, serverAuth only; openssl agrees', async (t) => {
  const ca = await CertificateAuthority.generate({ trustDomain: 'example.org' });
  const c = ca.issueServingCertificate({
    identity: CP,
    dnsNames: ['localhost', 'cp.example.org'],
    ipAddresses: ['127.0.0.1', '::1'],
    ttlMs: 3_600_000,
  });
  assert.equal(c.spiffeId, CP.uri);
  assert.match(c.keyPem, /BEGIN PRIVATE KEY/);
  assert.ok(new PeerVerifier(c.trustBundlePem).verify(c.chainPem, CP.uri, 'server').ok);
  const asClient = new PeerVerifier(c.trustBundlePem).verify(c.chainPem, CP.uri, 'client');
  assert.ok(!asClient.ok, 'no clientAuth: a serving certificate cannot be used as a client identity');
  assert.throws(
    () => ca.issueServingCertificate({ identity: CP, ipAddresses: ['not-an-ip'] }),
    /ipAddresses: "not-an-ip" is not an IPv4 or IPv6 address/,
  );
  assert.throws(
    () => ca.issueServingCertificate({ identity: CP, dnsNames: ['bad name'] }),
    /dnsNames: "bad name" is not a DNS name/,
  );
  assert.throws(
    () => ca.issueServingCertificate({ identity: workloadId('other.org', 'a', 'b') }),
    /this CA issues for "example.org" only/,
  );
  if (!needOpenssl(t)) return;
  const f = tempFiles({ 'root.pem': c.trustBundlePem, 'chain.pem': c.chainPem, 'leaf.pem': c.certPem });
  try {
    opensslOk([
      'verify',
      '-purpose',
      'sslserver',
      '-CAfile',
      f.path('root.pem'),
      '-untrusted',
      f.path('chain.pem'),
      f.path('leaf.pem'),
    ]);
    const text = opensslOk(['x509', '-in', f.path('leaf.pem'), '-noout', '-text']);
    assert.match(
      text,
      /URI:spiffe:\/\/example\.org\/ns\/trellis-system\/sa\/control-plane, DNS:localhost, DNS:cp\.example\.org, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/,
    );
    assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
    assert.match(text, /CA:FALSE/);
  } finally {
    f.cleanup();
  }
});

test('a TLS client verifies the serving certificate by SPIFFE ID, by IP and by DNS name', async () => {
  const ca = await CertificateAuthority.generate({ trustDomain: 'example.org' });
  const c = ca.issueServingCertificate({ identity: CP, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const server = createServer({ key: c.keyPem, cert: c.chainPem }, (s) => s.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const handshake = (opts: Record<string, unknown>): Promise<string | undefined> =>
    new Promise((resolve) => {
      const s: TLSSocket = connect({ host: '127.0.0.1', port, ca: c.trustBundlePem, ...opts }, () => {
        s.end();
        resolve(undefined);
      });
      s.on('error', (e) => resolve(e.message));
    });
  try {
    const v = new PeerVerifier(c.trustBundlePem);
    assert.equal(await handshake({ checkServerIdentity: v.checkServerIdentity(CP.uri) }), undefined);
    assert.match(
      (await handshake({
        checkServerIdentity: v.checkServerIdentity(workloadId('example.org', 'default', 'web').uri),
      })) ?? '',
      /server identity rejected/,
    );
    assert.equal(await handshake({}), undefined, 'the IP SAN matches 127.0.0.1');
    assert.equal(await handshake({ servername: 'localhost' }), undefined, 'the DNS SAN matches localhost');
    assert.match((await handshake({ servername: 'elsewhere.example' })) ?? '', /altnames/);
  } finally {
    server.close();
  }
});
