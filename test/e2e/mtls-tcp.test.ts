// End to end: mutual TLS for opaque TCP between real sidecars holding bootstrap tokens, with a real
// control plane and a real echo app. A client app connects to its sidecar's per-upstream local port
// (`--upstream echo:7000=LOCAL`); tcp_proxy dials the echo sidecar's STRICT inbound port with TLS
// (client certificate, exact SPIFFE ID of Service `echo`); bytes echo both ways, a half-close
// crosses, and the server sidecar counts the verified handshake. A plain TCP client straight to the
// STRICT inbound port gets nothing; a server presenting another identity, and a client sidecar
// without a certificate, close the client connection and count why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminHeaders,
  freePort,
  startControlPlaneProcess,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';
import { startProxyProcess, type ProxyProcess, untilReady } from './helpers/sidecar.js';

const TD = 'cluster.local';
const id = (sa: string): string => `spiffe://${TD}/ns/default/sa/${sa}`;

const mesh = (echoPort: number): string => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: echo }
spec:
  ports: [{ port: 7000, targetPort: ${echoPort}, protocol: tcp }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: impostor }
spec:
  ports: [{ port: 7000, protocol: tcp }]
`;

/** `name{labels} value` from Prometheus text, summed (0 when absent). */
function metric(text: string, name: string, labels = ''): number {
  let total = 0;
  for (const line of text.split('\n'))
    if (
      line.startsWith(name) &&
      (line[name.length] === '{' || line[name.length] === ' ') &&
      line.includes(labels)
    )
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

/**
 * Connects to `port`, writes `payload` then half-closes, and collects what comes back until the
 * connection closes (bounded by `timeoutMs`).
 */
function exchange(
  port: number,
  payload: Buffer,
  timeoutMs = 10_000,
): Promise<{ data: Buffer; error?: string; ended: boolean }> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let ended = false;
    const timer = setTimeout(() => s.destroy(new Error('timed out')), timeoutMs);
    s.on('connect', () => s.end(payload));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      ended = true;
    });
    s.on('error', (e) => (error = e.message));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), ended, ...(error !== undefined ? { error } : {}) });
    });
  });
}

describe('mutual TLS for tcp Services between sidecars', { timeout: 180_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  const sidecars: ProxyProcess[] = [];
  const appSockets = new Set<Socket>();
  let echoApp: Server;
  let echoAppPort = 0;
  let echo: ProxyProcess;
  let client: ProxyProcess;
  let anon: ProxyProcess;
  let echoLocal = 0;
  let impostorLocal = 0;
  let anonLocal = 0;

  async function tokenFile(service: string): Promise<string> {
    const r = await trellis(['token', 'create', '--service', service, '--ttl', '1h'], {
      server: cp.apiUrl,
    });
    assert.equal(r.code, 0, r.stderr);
    const file = join(dir, `${service}.token`);
    writeFileSync(file, r.stdout, { mode: 0o600 });
    return file;
  }

  async function sidecar(service: string, appPort: number, args: string[]): Promise<ProxyProcess> {
    const s = await startProxyProcess({
      service,
      xdsPort: cp.plaintextXdsPort!,
      apiUrl: cp.apiUrl,
      appPort,
      args,
    });
    sidecars.push(s);
    await untilReady(s, `the ${service} sidecar`);
    return s;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-mtls-tcp-'));
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data'), plaintextXdsPort: 0 });
    // The app: echoes every byte, and ends its side once the client has ended its own.
    echoApp = createServer({ allowHalfOpen: true }, (s) => {
      appSockets.add(s);
      s.on('close', () => appSockets.delete(s));
      s.on('error', () => s.destroy());
      s.pipe(s);
    });
    await new Promise<void>((r) => echoApp.listen(0, '127.0.0.1', r));
    echoAppPort = (echoApp.address() as { port: number }).port;
    const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: mesh(echoAppPort) });
    assert.equal(applied.code, 0, applied.stderr);
    echoLocal = await freePort();
    impostorLocal = await freePort();
    anonLocal = await freePort();
    echo = await sidecar('echo', echoAppPort, ['--token-file', await tokenFile('echo')]);
    client = await sidecar('client', 0, [
      '--token-file',
      await tokenFile('client'),
      '--upstream',
      `echo:7000=${echoLocal}`,
      '--upstream',
      `impostor:7000=${impostorLocal}`,
    ]);
    // No token: no workload certificate, so no mTLS to the echo sidecar.
    anon = await sidecar('anon', 0, ['--upstream', `echo:7000=${anonLocal}`]);
  });

  after(async () => {
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
    for (const s of appSockets) s.destroy();
    await new Promise<void>((r) => (echoApp ? echoApp.close(() => r()) : r()));
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('bytes echo through the sidecar pair over mTLS; a half-close crosses', async () => {
    const before = metric((await echo.admin('/stats')).body, 'trellis_mtls_inbound_connections_total');
    const r = await waitFor(
      'an echo through the pair',
      async () => {
        const x = await exchange(echoLocal, Buffer.from('ping over mtls'));
        return x.data.toString() === 'ping over mtls' ? x : undefined;
      },
      30_000,
    );
    // The echo app ended only after our half-close reached it, and its end came back to us.
    assert.equal(r.ended, true);
    assert.equal(r.error, undefined);

    // A larger payload both ways (backpressure over TLS), byte for byte.
    const big = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
    const b = await exchange(echoLocal, big, 30_000);
    assert.equal(b.data.length, big.length);
    assert.ok(b.data.equals(big), 'the echoed bytes differ');

    const stats = (await echo.admin('/stats')).body;
    // Each tcp connection through the pair is its own verified mTLS handshake at the server sidecar.
    assert.ok(metric(stats, 'trellis_mtls_inbound_connections_total') >= before + 2, stats);
    assert.equal(metric(stats, 'trellis_mtls_refused_total', 'reason="peer_identity"'), 0, stats);
    const cstats = (await client.admin('/stats')).body;
    assert.equal(metric(cstats, 'trellis_mtls_upstream_failures_total'), 0, cstats);
  });

  test('STRICT refuses a plain TCP client straight to the inbound port', async () => {
    const before = metric(
      (await echo.admin('/stats')).body,
      'trellis_mtls_refused_total',
      'reason="plaintext"',
    );
    const r = await exchange(echo.inboundPort, Buffer.from('plain bytes, no TLS'));
    assert.equal(r.data.length, 0, `got ${JSON.stringify(r.data.toString())}`);
    await waitFor('the refusal to be counted', async () =>
      metric((await echo.admin('/stats')).body, 'trellis_mtls_refused_total', 'reason="plaintext"') > before
        ? true
        : undefined,
    );
  });

  test('a client sidecar refuses a tcp server presenting another identity (connection closed, counted)', async () => {
    // An instance of tcp Service `impostor` whose address is the echo sidecar: it presents
    // .../sa/echo, not .../sa/impostor. Registered with the admin token (the plaintext API needs
    // a credential): the point is the data plane's check of the identity presented.
    const reg = await fetch(`${cp.apiUrl}/api/v1/instances`, {
      method: 'POST',
      headers: adminHeaders(cp.apiUrl, { 'content-type': 'application/json' }),
      body: JSON.stringify({
        service: 'impostor',
        namespace: 'default',
        address: '127.0.0.1',
        port: echo.inboundPort,
        sidecar: true,
        mtls: true,
        ttlSeconds: 120,
      }),
    });
    assert.equal(reg.status < 300, true, await reg.text());
    await waitFor(
      'the impostor endpoint to be refused',
      async () => {
        const x = await exchange(impostorLocal, Buffer.from('secret'));
        assert.equal(x.data.length, 0, 'bytes came back from a server with the wrong identity');
        const stats = (await client.admin('/stats')).body;
        return metric(stats, 'trellis_mtls_upstream_failures_total', 'reason="peer_identity"') >= 1
          ? true
          : undefined;
      },
      30_000,
    );
    const log = client.logs.find((l) => l.includes('no mTLS connection to the upstream'));
    assert.ok(log !== undefined, client.logs.slice(-10).join('\n'));
    assert.match(log, /identity/);
    assert.ok(log.includes(id('impostor')), log);
  });

  test('a client sidecar without a certificate closes the connection (no plaintext fallback)', async () => {
    await waitFor(
      'the connection without an identity to be refused and counted',
      async () => {
        const x = await exchange(anonLocal, Buffer.from('hello?'));
        assert.equal(x.data.length, 0, 'bytes came back without mTLS');
        const stats = (await anon.admin('/stats')).body;
        return metric(stats, 'trellis_mtls_upstream_failures_total', 'reason="no_certificate_yet"') >= 1
          ? true
          : undefined;
      },
      30_000,
    );
    const log = anon.logs.find((l) => l.includes('no mTLS connection to the upstream'));
    assert.ok(log !== undefined, anon.logs.slice(-10).join('\n'));
    assert.match(log, /no workload certificate yet/);
  });
});
