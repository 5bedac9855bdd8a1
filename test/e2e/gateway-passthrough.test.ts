// End to end: TLS passthrough on the ingress gateway. A real control plane, two real TLS servers
// (node:tls, each with its own certificate) as the endpoints of two Services, a real
// `trellis proxy --gateway edge` with a protocol TLS listener (tls.mode Passthrough) and TLSRoutes,
// and real TLS clients (node:tls and `openssl s_client`). The ClientHello's SNI picks the route;
// the client completes its handshake with the backend itself (it sees and verifies the backend's
// certificate, never one of the gateway's); two hostnames reach two backends, a weighted route
// reaches both; an unknown SNI, no SNI and plaintext are closed; bad TLSRoutes are refused at apply
// with the path of the bad field.
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import {
  connect as tlsConnect,
  createServer as createTlsServer,
  type Server as TlsServer,
  type TLSSocket,
} from 'node:tls';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTlsCert, type TestCert } from '../../src/security/tls-testing.js';
import { ready, startGatewayTestEnv, type GatewayTestEnv } from './helpers/gateway.js';
import { freePort, trellis, waitFor } from './helpers/processes.js';
import type { TrellisProxyProcess } from './helpers/sidecar.js';

/** A TLS server answering `<name> <sni>\n` to every connection, then echoing. */
async function tlsBackend(name: string, cert: TestCert): Promise<{ server: TlsServer; port: number }> {
  const server = createTlsServer({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2' }, (s) => {
    s.write(`${name} ${(s as TLSSocket & { servername?: string }).servername ?? '-'}\n`);
    s.pipe(s);
  });
  server.on('tlsClientError', () => undefined);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, port };
}

interface Hello {
  readonly line: string;
  readonly fingerprint256: string;
  readonly authorized: boolean;
}

/** A TLS connection through the gateway with this SNI, verifying against `ca`: the first line. */
function through(port: number, servername: string | undefined, ca: string): Promise<Hello> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ...(servername !== undefined ? { servername } : {}),
      ca,
      checkServerIdentity: () => undefined, // SAN checks are the servers' business here
    });
    s.setTimeout(5000, () => s.destroy(new Error('timed out')));
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const c = s.getPeerCertificate();
      const authorized = s.authorized;
      s.write('ping\n');
      s.once('data', (echo: string) => {
        s.destroy();
        if (!echo.startsWith('ping')) reject(new Error(`no echo: ${echo}`));
        else resolve({ line: buf.slice(0, nl), fingerprint256: c.fingerprint256, authorized });
      });
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error(`closed after ${JSON.stringify(buf)}`)));
  });
}

/** Resolves how a TLS attempt with this SNI ended: 'closed' when no handshake completed. */
function refused(port: number, servername: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ...(servername !== undefined ? { servername } : {}),
      rejectUnauthorized: false,
    });
    s.setTimeout(5000, () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('secureConnect', () => {
      s.destroy();
      resolve('handshake completed');
    });
    s.once('error', () => resolve('closed'));
    s.once('close', () => resolve('closed'));
  });
}

const fp = (pem: string): string => new X509Certificate(pem).fingerprint256;

function openssl(args: string[], input: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
    p.stdin.end(input);
  });
}

const yaml = (port: number, a: number, b: number): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - { name: pass, port: ${port}, protocol: TLS, hostname: "*.pass.example", tls: { mode: Passthrough } }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: a-tls }
spec:
  ports: [{ port: 443, protocol: tcp }]
  endpoints: [{ address: 127.0.0.1, port: ${a} }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: b-tls }
spec:
  ports: [{ port: 443, protocol: tcp }]
  endpoints: [{ address: 127.0.0.1, port: ${b} }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: { name: a }
spec:
  parentRefs: [{ name: edge, sectionName: pass }]
  hostnames: [a.pass.example]
  rules: [{ backendRefs: [{ name: a-tls, port: 443 }] }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: { name: b }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [b.pass.example]
  rules: [{ backendRefs: [{ name: b-tls, port: 443 }] }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: { name: split }
spec:
  parentRefs: [{ name: edge, sectionName: pass }]
  hostnames: [split.pass.example]
  rules: [{ backendRefs: [{ name: a-tls, port: 443, weight: 50 }, { name: b-tls, port: 443, weight: 50 }] }]
`;

describe('TLS passthrough on the ingress gateway (e2e)', { timeout: 180_000 }, () => {
  let env: GatewayTestEnv;
  let gw: TrellisProxyProcess;
  let port: number;
  const certs: Record<string, TestCert> = {};
  const servers: TlsServer[] = [];

  before(async () => {
    certs['a'] = await makeTlsCert(['a.pass.example', 'split.pass.example']);
    certs['b'] = await makeTlsCert(['b.pass.example', 'split.pass.example']);
    const a = await tlsBackend('backend-a', certs['a']);
    const b = await tlsBackend('backend-b', certs['b']);
    servers.push(a.server, b.server);
    env = await startGatewayTestEnv('gateway-passthrough-e2e');
    port = await freePort();
    await env.apply(yaml(port, a.port, b.port));
    gw = await env.startGateway('edge');
    await ready(gw, 'the gateway');
    await waitFor(
      'a passthrough connection',
      async () => (await through(port, 'a.pass.example', certs['a']!.cert).catch(() => undefined))?.line,
      20_000,
    );
  });

  after(async () => {
    await env?.stop();
    for (const s of servers) s.close();
  });

  test('the SNI picks the backend; the client sees and verifies the backend certificate', async () => {
    const a = await through(port, 'a.pass.example', certs['a']!.cert);
    assert.equal(a.line, 'backend-a a.pass.example');
    assert.equal(a.fingerprint256, fp(certs['a']!.cert));
    assert.equal(a.authorized, true);
    const b = await through(port, 'B.Pass.Example', certs['b']!.cert);
    assert.equal(b.line.toLowerCase(), 'backend-b b.pass.example');
    assert.equal(b.fingerprint256, fp(certs['b']!.cert));
    // b's certificate does not verify against a's: the handshake is the backend's own.
    await assert.rejects(through(port, 'b.pass.example', certs['a']!.cert));
  });

  test('a weighted TLSRoute reaches both backends', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 24 && seen.size < 2; i++) {
      const s = await through(port, 'split.pass.example', `${certs['a']!.cert}${certs['b']!.cert}`);
      seen.add(s.line.split(' ')[0] ?? '');
    }
    assert.deepEqual([...seen].sort(), ['backend-a', 'backend-b']);
  });

  test('unknown SNI, no SNI and plaintext are closed', async () => {
    assert.equal(await refused(port, 'c.pass.example'), 'closed');
    assert.equal(await refused(port, 'a.other.example'), 'closed');
    assert.equal(await refused(port, undefined), 'closed');
    const plain = await new Promise<string>((resolve) => {
      const s = netConnect(port, '127.0.0.1', () =>
        s.write('GET / HTTP/1.1\r\nhost: a.pass.example\r\n\r\n'),
      );
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.setTimeout(5000, () => s.destroy());
      s.on('error', () => undefined);
      s.on('close', () => resolve(got));
    });
    assert.equal(plain, '');
  });

  test('openssl s_client through the gateway verifies the backend certificate', async () => {
    const { dir } = env;
    const caFile = `${dir}/a-ca.pem`;
    await writeFile(caFile, certs['a']!.cert);
    const r = await openssl(
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-servername',
        'a.pass.example',
        '-CAfile',
        caFile,
        '-verify_return_error',
        '-ign_eof',
      ],
      'hello\n',
    );
    assert.match(r.out, /Verify return code: 0 \(ok\)/);
    assert.match(r.out, /backend-a a\.pass\.example/);
  });

  test('trellis get tlsroutes lists them', async () => {
    const r = await trellis(['get', 'tlsroutes', '-o', 'json'], { server: env.cp.apiUrl });
    assert.equal(r.code, 0, r.stderr);
    const names = (JSON.parse(r.stdout) as { items: { metadata: { name: string } }[] }).items.map(
      (i) => i.metadata.name,
    );
    assert.deepEqual(names.sort(), ['a', 'b', 'split']);
  });

  test('apply refuses TLSRoutes the gateway cannot serve, with the path of the field', async () => {
    const bad = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: other }
spec:
  gatewayClassName: trellis
  listeners: [{ name: web, port: ${await freePort()}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: { name: wrong-parent }
spec:
  parentRefs: [{ name: other, sectionName: web }]
  rules: [{ backendRefs: [{ name: a-tls, port: 443 }] }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: { name: wrong-host }
spec:
  parentRefs: [{ name: edge, sectionName: pass }]
  hostnames: [a.elsewhere.example]
  rules: [{ backendRefs: [{ name: a-tls, port: 444 }] }]
`;
    const r = await trellis(['apply', '-f', '-'], { server: env.cp.apiUrl, input: bad });
    assert.notEqual(r.code, 0);
    const out = r.stdout + r.stderr;
    assert.match(out, /spec\.parentRefs\[0\]\.sectionName/);
    assert.match(out, /protocol: TLS and tls\.mode: Passthrough/);
    assert.match(out, /spec\.hostnames/);
    assert.match(out, /spec\.rules\[0\]\.backendRefs\[0\]\.port/);
  });
});
