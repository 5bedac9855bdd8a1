// End to end: an HTTPS listener of the ingress gateway with several certificateRefs. A real
// control plane, a real app behind a real sidecar, a real `trellis proxy --gateway edge`, real TLS
// clients (node:tls, node:https). The listener holds an ECDSA and an RSA certificate for
// a.multi.example, a wildcard one for *.multi.example and one for b.multi.example: the SNI picks
// by the certificates' SANs (exact before wildcard, else the first), and of an RSA and an ECDSA
// certificate for the same name the client's signature algorithms choose.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WEB_BEHIND_EDGE_YAML } from '../../src/api/gateway-testing.js';
import { makeTlsCert, secretYaml, type TestCert } from '../../src/security/tls-testing.js';
import { ready, servedCert, startGatewayTestEnv, type GatewayTestEnv } from './helpers/gateway.js';
import { freePort, waitFor } from './helpers/processes.js';
import type { TrellisProxyProcess } from './helpers/sidecar.js';

/** A self-signed RSA certificate for `name` (openssl). */
async function rsaCert(dir: string, name: string): Promise<TestCert> {
  const key = join(dir, 'rsa.key');
  const crt = join(dir, 'rsa.crt');
  await new Promise<void>((resolve, reject) =>
    execFile(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        crt,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=DNS:${name}`,
      ],
      { timeout: 30_000 },
      (e) => (e === null ? resolve() : reject(e)),
    ),
  );
  return { cert: await readFile(crt, 'utf8'), key: await readFile(key, 'utf8') };
}

/** The fingerprint of the certificate served for this SNI (and client options); no verification. */
const served = async (port: number, servername: string | undefined, extra: object = {}): Promise<string> =>
  (await servedCert(port, servername, extra)).fingerprint256;

const fp = (c: TestCert): string => new X509Certificate(c.cert).fingerprint256;

function httpsGet(
  port: number,
  servername: string,
  ca: string,
): Promise<{ status: number; body: string; fp: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/multi',
        servername,
        ca,
        headers: { host: servername },
        agent: false,
        timeout: 5000,
      } as RequestOptions,
      (res) => {
        const c = (res.socket as TLSSocket).getPeerCertificate();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fp: c.fingerprint256 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('several certificates on one HTTPS listener (e2e)', { timeout: 180_000 }, () => {
  let env: GatewayTestEnv;
  let gw: TrellisProxyProcess;
  let port: number;
  const certs: Record<string, TestCert> = {};

  before(async () => {
    env = await startGatewayTestEnv('gateway-multi-cert-e2e');
    certs['ec'] = await makeTlsCert(['a.multi.example']);
    certs['rsa'] = await rsaCert(env.dir, 'a.multi.example');
    certs['wild'] = await makeTlsCert(['*.multi.example']);
    certs['b'] = await makeTlsCert(['b.multi.example']);
    port = await freePort();
    await env.apply(
      [
        `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - name: multi
      port: ${port}
      protocol: HTTPS
      tls:
        mode: Terminate
        certificateRefs: [{ name: ec-cert }, { name: wild-cert }, { name: rsa-cert }, { name: b-cert }]
`,
        WEB_BEHIND_EDGE_YAML,
        secretYaml('ec-cert', certs['ec']),
        secretYaml('rsa-cert', certs['rsa']),
        secretYaml('wild-cert', certs['wild']),
        secretYaml('b-cert', certs['b']),
      ].join('---\n'),
    );
    await env.startBackend('web', 'web');
    gw = await env.startGateway('edge');
    await ready(gw, 'the gateway');
    await waitFor(
      'an HTTPS request through the gateway',
      async () =>
        (await httpsGet(port, 'b.multi.example', certs['b']!.cert).catch(() => undefined))?.status === 200,
      20_000,
    );
  });

  after(async () => {
    await env?.stop();
  });

  test('two hostnames on one listener: each gets its own certificate, verified, and the request goes through', async () => {
    const b = await httpsGet(port, 'b.multi.example', certs['b']!.cert);
    assert.equal(b.status, 200);
    assert.equal(b.body, 'hello from web /multi');
    assert.equal(b.fp, fp(certs['b']!));
    const a = await httpsGet(port, 'a.multi.example', certs['ec']!.cert);
    assert.equal(a.status, 200);
    assert.equal(a.fp, fp(certs['ec']!));
  });

  test('exact SAN before wildcard; the wildcard for other names under it; else the first', async () => {
    assert.equal(await served(port, 'B.multi.example'), fp(certs['b']!));
    assert.equal(await served(port, 'c.multi.example'), fp(certs['wild']!));
    // *.multi.example covers one label only (RFC 6125): x.y.multi.example gets the first.
    assert.equal(await served(port, 'x.y.multi.example'), fp(certs['ec']!));
    assert.equal(await served(port, 'elsewhere.example'), fp(certs['ec']!));
    assert.equal(await served(port, undefined), fp(certs['ec']!));
  });

  test('RSA and ECDSA for one name: the client signature algorithms choose', async () => {
    const rsaOnly = { sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' };
    const ecOnly = { sigalgs: 'ecdsa_secp256r1_sha256' };
    assert.equal(await served(port, 'a.multi.example', rsaOnly), fp(certs['rsa']!));
    assert.equal(
      await served(port, 'a.multi.example', { ...rsaOnly, maxVersion: 'TLSv1.2' }),
      fp(certs['rsa']!),
    );
    assert.equal(await served(port, 'a.multi.example', ecOnly), fp(certs['ec']!));
    const any = await served(port, 'a.multi.example');
    assert.ok(any === fp(certs['ec']!) || any === fp(certs['rsa']!), 'one of the two exact certificates');
  });
});
