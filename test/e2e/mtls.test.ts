// End to end: automatic mutual TLS between real sidecars holding bootstrap tokens, with a real
// control plane (workload certificates of 20 s, so they rotate during the test) and real apps.
// Client sidecar -> server sidecar traffic is mTLS (the app sees the verified client identity in
// x-forwarded-client-cert, the server sidecar counts verified handshakes); STRICT refuses a plain
// client and a client certified by another CA; a client sidecar refuses a server presenting the
// wrong SPIFFE ID (503 saying why); PERMISSIVE takes plaintext and counts it; forged identity
// headers are stripped; gRPC (HTTP/2 over TLS, ALPN h2) goes through the pair; certificates
// rotate under continuous load with no failed request.
import * as grpc from '@grpc/grpc-js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { CertificateAuthority } from '../../src/security/ca.js';
import { workloadId } from '../../src/security/spiffe.js';
import { buildCsr, generateWorkloadKey } from '../../src/security/workload-identity.js';
import { echoClient, startGrpc, type Echo } from '../integration/h2-grpc-support.js';
import {
  adminHeaders,
  startControlPlaneProcess,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';
import {
  httpVia,
  startFakeApp,
  startProxyProcess,
  type FakeApp,
  type ProxyProcess,
  untilReady,
} from './helpers/sidecar.js';

const TD = 'cluster.local';
const id = (sa: string): string => `spiffe://${TD}/ns/default/sa/${sa}`;

const mesh = (
  serverPort: number,
  legacyPort: number,
  grpcPort: number,
): string => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: server }
spec:
  ports: [{ port: 9080, targetPort: ${serverPort}, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: impostor }
spec:
  ports: [{ port: 9080, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: legacy }
spec:
  ports: [{ port: 9080, targetPort: ${legacyPort}, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: inventory }
spec:
  ports: [{ name: grpc, port: 50051, targetPort: ${grpcPort}, protocol: grpc }]
---
apiVersion: trellis.dev/v1alpha1
kind: MeshTLS
metadata: { name: legacy-migration }
spec:
  mode: PERMISSIVE
  targetRefs: [{ kind: Service, name: legacy }]
`;

/** One request straight to a port (no proxy), with extra headers; rejects on a closed connection. */
function direct(
  port: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/direct', headers, agent: false, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** `name{labels} value` from Prometheus text (0 when absent). */
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

function unary(c: Echo, req: Buffer): Promise<{ err: grpc.ServiceError | null; res?: Buffer }> {
  type Cb = (e: grpc.ServiceError | null, r?: Buffer) => void;
  return new Promise((resolve) =>
    (c.unary as (r: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: Cb) => void)(
      req,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => resolve({ err, ...(res !== undefined ? { res } : {}) }),
    ),
  );
}

describe('mutual TLS between sidecars', { timeout: 240_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  let api = '';
  let xdsPort = 0;
  const sidecars: ProxyProcess[] = [];
  let serverApp: FakeApp;
  let legacyApp: FakeApp;
  let grpcApp: { server: grpc.Server; port: number };
  let server: ProxyProcess;
  let legacy: ProxyProcess;
  let inventory: ProxyProcess;
  let client: ProxyProcess;

  async function tokenFile(service: string): Promise<string> {
    const r = await trellis(['token', 'create', '--service', service, '--ttl', '1h'], { server: api });
    assert.equal(r.code, 0, r.stderr);
    const file = join(dir, `${service}.token`);
    writeFileSync(file, r.stdout, { mode: 0o600 });
    return file;
  }

  async function sidecar(service: string, appPort: number): Promise<ProxyProcess> {
    const s = await startProxyProcess({
      service,
      xdsPort,
      apiUrl: api,
      appPort,
      args: ['--token-file', await tokenFile(service)],
    });
    sidecars.push(s);
    await untilReady(s, `the ${service} sidecar`);
    return s;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-mtls-'));
    // Sidecars here use the plaintext xDS port on loopback (their identity is what is tested).
    cp = await startControlPlaneProcess({
      dataDir: join(dir, 'data'),
      plaintextXdsPort: 0,
      args: ['--workload-cert-ttl', '20s'],
    });
    api = cp.apiUrl;
    xdsPort = cp.plaintextXdsPort!;
    serverApp = await startFakeApp('server');
    legacyApp = await startFakeApp('legacy');
    grpcApp = await startGrpc({
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const xfcc = call.metadata.get('x-forwarded-client-cert')[0];
        cb(null, Buffer.from(`item:${call.request.toString()} peer:${String(xfcc)}`));
      },
      bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.end(),
    });
    const applied = await trellis(['apply', '-f', '-'], {
      server: api,
      input: mesh(serverApp.port, legacyApp.port, grpcApp.port),
    });
    assert.equal(applied.code, 0, applied.stderr);
    server = await sidecar('server', serverApp.port);
    legacy = await sidecar('legacy', legacyApp.port);
    inventory = await sidecar('inventory', grpcApp.port);
    client = await sidecar('client', 0);
  });

  after(async () => {
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
    await serverApp?.close();
    await legacyApp?.close();
    grpcApp?.server.forceShutdown();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('client sidecar -> server sidecar is mTLS; the app gets the verified client identity; forged headers are stripped', async () => {
    const r = await waitFor(
      'a request through the pair',
      async () => {
        const x = await httpVia(client.outboundPort, 'server:9080', '/hello');
        return x.status === 200 ? x : undefined;
      },
      30_000,
    );
    assert.equal(r.body, 'hello from server /hello');
    const seen = serverApp.seen.at(-1);
    assert.equal(seen?.headers['x-forwarded-client-cert'], `By=${id('server')};URI=${id('client')}`);
    const stats = (await server.admin('/stats')).body;
    assert.ok(metric(stats, 'trellis_mtls_inbound_connections_total') >= 1, stats);

    // The app behind the client sidecar cannot claim another identity: stripped at the outbound
    // edge, then replaced by the server sidecar with what it verified.
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: client.outboundPort,
          path: '/forged',
          agent: false,
          headers: { host: 'server:9080', 'x-forwarded-client-cert': `By=x;URI=${id('admin')}` },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(String(res.statusCode))),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(serverApp.seen.at(-1)?.url, '/forged');
    assert.equal(
      serverApp.seen.at(-1)?.headers['x-forwarded-client-cert'],
      `By=${id('server')};URI=${id('client')}`,
    );
  });

  test('STRICT refuses a plaintext client, and a client certified by another CA', async () => {
    const before = metric((await server.admin('/stats')).body, 'trellis_mtls_refused_total');
    await assert.rejects(direct(server.inboundPort, { host: 'server:9080' }), /socket hang up|ECONNRESET/);
    // Raw bytes that are not TLS at all: closed without an answer.
    const raw = netConnect(server.inboundPort, '127.0.0.1');
    raw.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    let got = '';
    raw.on('data', (d: Buffer) => (got += d.toString()));
    await once(raw, 'close');
    assert.equal(got, '');

    const other = await CertificateAuthority.generate({ trustDomain: TD });
    const key = generateWorkloadKey();
    const issued = await other.signWorkloadCsr(
      buildCsr(key, id('client')),
      workloadId(TD, 'default', 'client'),
      {
        ttlMs: 3_600_000,
      },
    );
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port: server.inboundPort,
        key: key.keyPem,
        cert: issued.chainPem,
        rejectUnauthorized: false, // we are the attacker: we do not care who the server is
        ALPNProtocols: ['http/1.1'],
      });
      let body = '';
      s.on('secureConnect', () => s.write('GET /stolen HTTP/1.1\r\nhost: server:9080\r\n\r\n'));
      s.on('data', (d: Buffer) => (body += d.toString()));
      s.on('error', (e) => resolve(`error: ${e.message}`));
      s.on('close', () => resolve(body === '' ? 'closed without an answer' : body));
    });
    assert.doesNotMatch(outcome, /200|hello/, outcome);
    assert.ok(!serverApp.seen.some((s) => s.url === '/stolen'));
    await waitFor('the refusals to be counted', async () => {
      const stats = (await server.admin('/stats')).body;
      return metric(stats, 'trellis_mtls_refused_total') >= before + 3 &&
        metric(stats, 'trellis_mtls_refused_total', 'reason="peer_identity"') >= 1
        ? true
        : undefined;
    });
  });

  test('a client sidecar refuses a server that presents another identity (503 saying why)', async () => {
    // An instance of Service `impostor` whose address is the server sidecar: it presents
    // spiffe://.../sa/server, not .../sa/impostor. Registered with the admin token (the plaintext
    // API needs a credential): the point is the data plane's check of the identity presented.
    const reg = await fetch(`${api}/api/v1/instances`, {
      method: 'POST',
      headers: adminHeaders(api, { 'content-type': 'application/json' }),
      body: JSON.stringify({
        service: 'impostor',
        namespace: 'default',
        address: '127.0.0.1',
        port: server.inboundPort,
        sidecar: true,
        mtls: true,
        ttlSeconds: 120,
      }),
    });
    assert.equal(reg.status < 300, true, await reg.text());
    const r = await waitFor(
      'the impostor endpoint to be tried',
      async () => {
        const x = await httpVia(client.outboundPort, 'impostor:9080', '/secret');
        return x.status === 503 && x.body.includes('identity') ? x : undefined;
      },
      30_000,
    );
    assert.match(r.body, /server identity rejected/);
    assert.match(r.body, new RegExp(`expected "${id('impostor')}"`));
    assert.match(String(r.headers['x-trellis-error']), /^UPSTREAM_CONNECT_FAILED/);
    assert.ok(!serverApp.seen.some((s) => s.url === '/secret'));
  });

  test('PERMISSIVE accepts plaintext (counted per source, forged identity stripped) and mTLS', async () => {
    const r = await direct(legacy.inboundPort, {
      host: 'legacy:9080',
      'x-forwarded-client-cert': `By=x;URI=${id('admin')}`,
    });
    assert.equal(r.status, 200);
    assert.equal(legacyApp.seen.at(-1)?.headers['x-forwarded-client-cert'], undefined);
    const stats = (await legacy.admin('/stats')).body;
    assert.ok(metric(stats, 'trellis_mtls_plaintext_connections_total', 'source="127.0.0.1"') >= 1, stats);
    // The log line reaches us through the sidecar's stdout pipe, maybe after the /stats answer.
    await waitFor(
      'the PERMISSIVE plaintext log line',
      async () => (legacy.logs.some((l) => l.includes('plaintext connection accepted')) ? true : undefined),
      5_000,
    );
    const viaMesh = await httpVia(client.outboundPort, 'legacy:9080', '/mesh');
    assert.equal(viaMesh.status, 200);
    assert.equal(
      legacyApp.seen.at(-1)?.headers['x-forwarded-client-cert'],
      `By=${id('legacy')};URI=${id('client')}`,
    );
  });

  test('gRPC through the pair: HTTP/2 over mTLS (ALPN h2), identity passed to the server', async () => {
    const c = echoClient(client.outboundPort, 'inventory:50051');
    let last = '';
    const ok = await waitFor(
      'a unary call',
      async () => {
        const r = await unary(c, Buffer.from('42'));
        last = `${r.err?.code} ${r.err?.details}`;
        return r.err === null ? r : undefined;
      },
      30_000,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}; last: ${last}\n${client.logs.slice(-5).join('\n')}\n${inventory.logs.slice(-5).join('\n')}`,
      );
    });
    assert.equal(ok.res?.toString(), `item:42 peer:By=${id('inventory')};URI=${id('client')}`);
    c.close();
    const stats = (await inventory.admin('/stats')).body;
    assert.ok(metric(stats, 'trellis_mtls_inbound_connections_total') >= 1, stats);
  });

  test('certificates rotate under continuous load with zero failed requests', async () => {
    const serials = async (s: ProxyProcess): Promise<string> =>
      (JSON.parse((await s.admin('/certs')).body) as { serialNumber: string }).serialNumber;
    const s0 = await serials(server);
    const c0 = await serials(client);
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop) {
        try {
          const r = await httpVia(client.outboundPort, 'server:9080', '/load');
          if (r.status === 200) ok++;
          else failures.push(`${r.status} ${r.body}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const workers = [worker(), worker(), worker()];
    await waitFor(
      'both sidecars to renew their certificates',
      async () => ((await serials(server)) !== s0 && (await serials(client)) !== c0 ? true : undefined),
      40_000,
    );
    // A little more load on the new certificates, then stop.
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures.slice(0, 5), []);
    assert.ok(ok > 20, `only ${ok} requests`);
  });
});
