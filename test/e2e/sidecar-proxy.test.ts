// End to end: a real control plane and two real `trellis proxy` processes. The app-less client
// sidecar (productpage) reaches the reviews app through the reviews sidecar's inbound listener;
// readiness gates registration, the admin endpoint answers, SIGTERM deregisters and exits 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
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
import {
  httpVia,
  startFakeApp,
  startProxyProcess,
  type FakeApp,
  type ProxyProcess,
} from './helpers/sidecar.js';

const REVIEWS = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: reviews }
spec:
  ports: [{ name: http, port: 9080, protocol: http }]
`;

interface Instance {
  id: string;
  service: string;
  address: string;
  port: number;
  sidecar: boolean;
  labels: Record<string, string>;
}

const DRAIN_SECONDS = 3;

describe('trellis proxy (sidecar pair)', { timeout: 180_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  let app: FakeApp | undefined;
  let reviews: ProxyProcess | undefined;
  let productpage: ProxyProcess | undefined;

  const instances = async (): Promise<Instance[]> => {
    const res = await fetch(`${cp.apiUrl}/api/v1/instances`, { headers: adminHeaders(cp.apiUrl) });
    return ((await res.json()) as { items: Instance[] }).items;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-sidecar-e2e-'));
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data') });
    const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: REVIEWS });
    assert.equal(applied.code, 0, applied.stderr);
  });

  after(async () => {
    await productpage?.stop('SIGKILL');
    await reviews?.stop('SIGKILL');
    await app?.close();
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('traffic flows through the pair; admin, registration and graceful shutdown', async () => {
    const appPort = await freePort();
    reviews = await startProxyProcess({
      service: 'reviews',
      xdsPort: cp.xdsPort,
      apiUrl: cp.sidecarApiUrl,
      caBundle: cp.caBundle,
      appPort,
      args: [
        '--token-file',
        await cp.tokenFile('reviews'),
        '--labels',
        'version=v1',
        '--app-ready-path',
        '/healthz',
        '--drain-seconds',
        String(DRAIN_SECONDS),
        '--ttl-seconds',
        '30',
      ],
    });
    const b = reviews;

    // Listeners come from the control plane; the app is not up yet, so not ready, not registered.
    await waitFor(
      'the reviews sidecar to wait on its app',
      async () => /app readiness check/.test((await b.admin('/ready')).body),
      20_000,
    );
    assert.equal((await b.admin('/ready')).status, 503);
    assert.deepEqual(await instances(), []);
    assert.equal((await b.admin('/live')).status, 200);

    app = await startFakeApp('reviews', appPort);
    await waitFor(
      'the reviews sidecar to be ready',
      async () => (await b.admin('/ready')).status === 200,
      20_000,
    );
    const [inst] = await instances();
    assert.ok(inst, 'registered before /ready said 200');
    assert.equal(inst.id, b.nodeId);
    assert.equal(inst.service, 'reviews');
    assert.equal(inst.address, '127.0.0.1');
    assert.equal(inst.port, b.inboundPort);
    assert.equal(inst.sidecar, true);
    assert.deepEqual(inst.labels, { version: 'v1' });

    productpage = await startProxyProcess({
      service: 'productpage',
      xdsPort: cp.xdsPort,
      apiUrl: cp.sidecarApiUrl,
      caBundle: cp.caBundle,
      appPort: 0,
      args: ['--token-file', await cp.tokenFile('productpage')],
    });
    const a = productpage;
    await waitFor(
      'the productpage sidecar to be ready',
      async () => (await a.admin('/ready')).status === 200,
      20_000,
    );
    assert.equal((await instances()).length, 1, 'an app-less sidecar does not register');

    // productpage's app -> A outbound (Host: reviews:9080) -> B inbound -> the reviews app.
    const res = await waitFor(
      'a request through the sidecar pair',
      async () => {
        const r = await httpVia(a.outboundPort, 'reviews:9080', '/reviews/1');
        return r.status === 200 ? r : undefined;
      },
      20_000,
    );
    assert.equal(res.body, 'hello from reviews /reviews/1');
    assert.equal(res.headers['x-app'], 'reviews');
    assert.ok(
      app.seen.some((s) => s.url === '/reviews/1'),
      'the app saw the request',
    );

    const stats = await a.admin('/stats');
    assert.equal(stats.status, 200);
    assert.equal(stats.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(stats.body, /^trellis_requests_total\{[^}]*\} [1-9]/m);
    assert.match(stats.body, /^trellis_xds_connected 1$/m);
    assert.match(stats.body, /^process_resident_memory_bytes \d+/m);
    assert.match((await b.admin('/stats')).body, /^trellis_requests_total\{[^}]*\} [1-9]/m);

    const dump = JSON.parse((await b.admin('/config_dump')).body) as {
      bootstrap: { service: string };
      xds: { types: Record<string, { resources: { resource: { name?: string } }[] }> };
    };
    assert.equal(dump.bootstrap.service, 'reviews');
    const names = dump.xds.types['LDS']!.resources.map((r) => r.resource.name).sort();
    assert.deepEqual(names, ['trellis_inbound', 'trellis_outbound']);
    assert.equal((await a.admin('/clusters')).status, 200);
    assert.equal((await a.admin('/no-such-page')).status, 404);

    // The app goes away: the sidecar deregisters and reports not ready; it re-registers on return.
    await app.close();
    await waitFor(
      'deregistration after the app went away',
      async () => (await instances()).length === 0,
      20_000,
    );
    const gone = await b.admin('/ready');
    assert.equal(gone.status, 503);
    assert.match(gone.body, /app stopped answering/);
    app = await startFakeApp('reviews', appPort);
    await waitFor('registration when the app is back', async () => (await instances()).length === 1, 20_000);
    await waitFor('/ready again', async () => (await b.admin('/ready')).status === 200, 20_000);
    await waitFor(
      'traffic again',
      async () => (await httpVia(a.outboundPort, 'reviews:9080', '/again')).status === 200,
      20_000,
    );

    // SIGTERM: deregister first (well inside the 30 s TTL, so not by expiry), drain, exit 0.
    const stopped = await b.stop('SIGTERM');
    assert.equal(stopped.code, 0, b.logs.slice(-20).join('\n'));
    assert.ok(stopped.ms < DRAIN_SECONDS * 1000 + 2000, `exited in ${stopped.ms} ms`);
    assert.deepEqual(await instances(), [], 'deregistered on shutdown');
    const order = b.logs.map((l) => (JSON.parse(l) as { msg?: string }).msg ?? '');
    assert.ok(
      order.indexOf('instance deregistered') < order.indexOf('proxy stopped'),
      'deregistered before closing',
    );

    const stoppedA = await a.stop('SIGTERM');
    assert.equal(stoppedA.code, 0, a.logs.slice(-20).join('\n'));
  });
});
