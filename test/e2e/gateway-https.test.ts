// End to end: HTTPS listeners on the ingress gateway. A real control plane, a real app behind a
// real sidecar, a real `trellis proxy --gateway edge`, and real TLS clients (node:https, node:tls,
// node:http2 and curl when installed). Certificates are kubernetes.io/tls Secrets delivered over
// SDS: the SNI picks the certificate (exact, *.suffix, default), ALPN h2 and http/1.1 both work,
// TLS below 1.2 and plaintext are refused, rotating a Secret with `trellis apply` serves the new
// certificate to new connections while an open one keeps working, a bad Secret is refused at
// apply with the path of the bad field, and reads never show the key.
import { execFile, spawnSync } from 'node:child_process';
import { connect as h2connect } from 'node:http2';
import { request, type RequestOptions } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { httpsEdgeYaml, WEB_BEHIND_EDGE_YAML } from '../../src/api/gateway-testing.js';
import { makeTlsCert, secretYaml, type TestCert } from '../../src/security/tls-testing.js';
import { ready, servedCert, startGatewayTestEnv, type GatewayTestEnv } from './helpers/gateway.js';
import { adminHeaders, freePort, trellis, waitFor, type ControlPlaneProcess } from './helpers/processes.js';
import type { FakeApp, TrellisProxyProcess } from './helpers/sidecar.js';

interface Res {
  status: number;
  body: string;
  cert: PeerCertificate;
  alpn: string | false | null;
}

/** One HTTPS/1.1 request with this SNI and Host, trusting `ca`; no connection reuse. */
function httpsGet(port: number, servername: string, ca: string, path = '/'): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        servername,
        ca,
        ALPNProtocols: ['http/1.1'],
        headers: { host: servername },
        agent: false,
        timeout: 5000,
      } as RequestOptions,
      (res) => {
        const sock = res.socket as TLSSocket;
        const cert = sock.getPeerCertificate();
        const alpn = sock.alpnProtocol;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cert, alpn }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function execCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('curl', args, { encoding: 'utf8', timeout: 10_000 }, (e, stdout, stderr) =>
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : -1, stdout, stderr }),
    ),
  );
}

const cn = (c: PeerCertificate): string => String(c.subject?.CN ?? '');

describe('HTTPS listeners on the ingress gateway (e2e)', { timeout: 180_000 }, () => {
  let env: GatewayTestEnv;
  let cp: ControlPlaneProcess;
  let app: FakeApp;
  let gw: TrellisProxyProcess;
  let port: number;
  let plain: number;
  const certs: Record<string, TestCert> = {};

  before(async () => {
    certs['shop'] = await makeTlsCert(['shop.example']);
    certs['other'] = await makeTlsCert(['*.other.example']);
    certs['default'] = await makeTlsCert(['default.example']);
    env = await startGatewayTestEnv('gateway-https-e2e');
    cp = env.cp;
    port = await freePort();
    plain = await freePort();
    await env.apply(
      [
        httpsEdgeYaml(port, plain, 'default-cert'),
        WEB_BEHIND_EDGE_YAML,
        secretYaml('shop-cert', certs['shop']),
        secretYaml('other-cert', certs['other']),
        secretYaml('default-cert', certs['default']),
      ].join('---\n'),
    );
    ({ app } = await env.startBackend('web', 'web'));
    gw = await env.startGateway('edge');
    await ready(gw, 'the gateway');
    const ca = certs['shop'].cert;
    await waitFor(
      'an HTTPS request through the gateway',
      async () => (await httpsGet(port, 'shop.example', ca, '/warm')).status === 200,
      20_000,
    );
  });

  after(async () => {
    await env?.stop();
  });

  test('an HTTPS request reaches the app (verified certificate, http/1.1); x-forwarded-proto is https', async () => {
    const r = await httpsGet(port, 'shop.example', certs['shop']!.cert, '/hello');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello from web /hello');
    assert.equal(r.alpn, 'http/1.1');
    const seen = app.seen.find((s) => s.url === '/hello');
    assert.equal(seen?.headers['x-forwarded-proto'], 'https');
    // The plain HTTP listener of the same Gateway still works.
    const p = await fetch(`http://127.0.0.1:${plain}/plain`, { headers: { host: 'shop.example' } });
    assert.equal(p.status, 200);
  });

  test('HTTP/2 by ALPN', async () => {
    const c = h2connect(`https://127.0.0.1:${port}`, { servername: 'shop.example', ca: certs['shop']!.cert });
    try {
      const { status, body, alpn } = await new Promise<{ status: number; body: string; alpn: string }>(
        (resolve, reject) => {
          c.on('error', reject);
          const r = c.request({ ':path': '/h2', ':authority': 'shop.example' });
          let body = '';
          let status = 0;
          r.setEncoding('utf8');
          r.on('response', (h) => (status = Number(h[':status'])));
          r.on('data', (d: string) => (body += d));
          r.on('end', () => resolve({ status, body, alpn: String(c.alpnProtocol) }));
          r.on('error', reject);
          r.end();
        },
      );
      assert.equal(alpn, 'h2');
      assert.equal(status, 200);
      assert.equal(body, 'hello from web /h2');
    } finally {
      c.close();
    }
  });

  test('SNI picks the certificate: exact, *.suffix, the default one otherwise and without SNI', async () => {
    assert.equal(cn(await servedCert(port, 'shop.example')), 'shop.example');
    assert.equal(cn(await servedCert(port, 'SHOP.example')), 'shop.example');
    assert.equal(cn(await servedCert(port, 'a.other.example')), '*.other.example');
    assert.equal(cn(await servedCert(port, 'x.y.other.example')), '*.other.example');
    assert.equal(cn(await servedCert(port, 'unknown.example')), 'default.example');
    assert.equal(cn(await servedCert(port, undefined)), 'default.example');
    const other = await httpsGet(port, 'a.other.example', certs['other']!.cert, '/o');
    assert.equal(other.status, 200);
  });

  test('TLS below 1.2 and plaintext are refused', async () => {
    // A TLS 1.1 ClientHello (the client allowed to send one) gets the gateway's protocol_version alert.
    await assert.rejects(
      servedCert(port, 'shop.example', {
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT:@SECLEVEL=0',
      }),
      (e: NodeJS.ErrnoException) => e.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    );
    // TLS 1.2 and 1.3 both work.
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const)
      assert.equal(
        cn(await servedCert(port, 'shop.example', { minVersion: v, maxVersion: v })),
        'shop.example',
      );
    const got = await new Promise<string>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      let data = '';
      s.setTimeout(5000, () => s.destroy());
      s.on('data', (d: Buffer) => (data += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => resolve(data));
      s.write('GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n');
    });
    assert.equal(got, '', 'no HTTP answer on an HTTPS port');
  });

  test(
    'curl with --cacert',
    // Without curl the case is skipped, except under CI=true, where it fails and says what to install.
    { skip: spawnSync('curl', ['--version']).status !== 0 && !process.env['CI'] && 'curl is not installed' },
    async () => {
      if (spawnSync('curl', ['--version']).status !== 0)
        throw new Error('curl is not installed; CI=true, so this is a failure: apt-get install curl');
      const ca = join(env.dir, 'shop-ca.pem');
      await writeFile(ca, certs['shop']!.cert);
      // Async: the app that answers runs in this process.
      const r = await execCurl([
        '-sS',
        '--max-time',
        '5',
        '--cacert',
        ca,
        '--resolve',
        `shop.example:${port}:127.0.0.1`,
        `https://shop.example:${port}/curl`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'hello from web /curl');
    },
  );

  test('a bad Secret is refused at apply with the path; reads never show the key', async () => {
    const mismatched = secretYaml('shop-cert', { cert: certs['shop']!.cert, key: certs['other']!.key });
    const r = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: mismatched });
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /data\["tls\.key"\]/);
    assert.match(r.stdout + r.stderr, /does not match the certificate/);
    const expired = await makeTlsCert(['shop.example'], {
      notBefore: new Date(Date.now() - 3 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const e = await trellis(['apply', '-f', '-'], {
      server: cp.apiUrl,
      input: secretYaml('shop-cert', expired),
    });
    assert.notEqual(e.code, 0);
    assert.match(e.stdout + e.stderr, /data\["tls\.crt"\].*expired/);
    // Still the old certificate.
    assert.equal((await httpsGet(port, 'shop.example', certs['shop']!.cert, '/still')).status, 200);
    const keyB64 = Buffer.from(certs['shop']!.key).toString('base64');
    for (const args of [
      ['get', 'secrets'],
      ['get', 'secret', 'shop-cert', '-o', 'yaml'],
      ['get', 'secrets', '-o', 'json'],
    ]) {
      const g = await trellis(args, { server: cp.apiUrl });
      assert.equal(g.code, 0, g.stderr);
      assert.ok(!g.stdout.includes('PRIVATE KEY') && !g.stdout.includes(keyB64.slice(0, 40)), g.stdout);
      assert.match(g.stdout, /shop\.example/);
    }
    const api = await fetch(`${cp.apiUrl}/api/v1/resources/Secret/default/shop-cert`, {
      headers: adminHeaders(cp.apiUrl),
    });
    const text = await api.text();
    assert.ok(!text.includes('PRIVATE KEY') && !text.includes(keyB64.slice(0, 40)), text);
    assert.match(text, /notAfter/);
    const proxies = (await (
      await fetch(`${cp.apiUrl}/api/v1/proxies`, { headers: adminHeaders(cp.apiUrl) })
    ).json()) as {
      items: { nodeId?: string; id?: string; kind?: string }[];
    };
    const gwNode = proxies.items.find((p) => p.kind === 'gateway');
    assert.ok(gwNode, JSON.stringify(proxies));
    const cpDump = await (
      await fetch(
        `${cp.apiUrl}/api/v1/proxies/${encodeURIComponent(String(gwNode.nodeId ?? gwNode.id))}/config`,
        { headers: adminHeaders(cp.apiUrl) },
      )
    ).text();
    assert.match(cpDump, /secret\/default\/shop-cert/);
    assert.ok(!cpDump.includes('PRIVATE KEY'), 'the control plane config dump never shows the key');
    const dump = await gw.admin('/config_dump');
    assert.ok(!dump.body.includes('PRIVATE KEY'), 'the proxy config dump never shows the key');
    assert.ok(!gw.logs.join('\n').includes('PRIVATE KEY'), 'the gateway never logs the key');
    assert.ok(!cp.logs.join('\n').includes('PRIVATE KEY'), 'the control plane never logs the key');
  });

  test('rotating the Secret serves the new certificate to new connections; open ones keep working', async () => {
    // An open HTTP/1.1 keep-alive connection on the old certificate.
    const old = certs['shop']!;
    const sock = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'shop.example',
      ca: old.cert,
      ALPNProtocols: ['http/1.1'],
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    const ask = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        let data = '';
        const onData = (d: Buffer): void => {
          data += d.toString('latin1');
          if (/\r\n\r\n[\s\S]*hello from web/.test(data)) {
            sock.removeListener('data', onData);
            resolve(data);
          }
        };
        sock.on('data', onData);
        sock.once('error', reject);
        sock.write(`GET ${path} HTTP/1.1\r\nHost: shop.example\r\n\r\n`);
      });
    assert.match(await ask('/before'), /^HTTP\/1\.1 200/);
    const fresh = await makeTlsCert(['shop.example']);
    const a = await trellis(['apply', '-f', '-'], {
      server: cp.apiUrl,
      input: secretYaml('shop-cert', fresh),
    });
    assert.equal(a.code, 0, a.stderr);
    const want = new (await import('node:crypto')).X509Certificate(fresh.cert).fingerprint256;
    await waitFor(
      'new connections to get the new certificate',
      async () => (await servedCert(port, 'shop.example')).fingerprint256 === want,
      10_000,
    );
    assert.equal((await httpsGet(port, 'shop.example', fresh.cert, '/after')).status, 200);
    // The connection opened before the rotation is still served.
    assert.match(await ask('/during'), /^HTTP\/1\.1 200/);
    sock.destroy();
    certs['shop'] = fresh;
  });
});
