// runProxy with a fake xDS client, a fake data plane and a fake control plane API: readiness
// gates registration, the admin pages, the app going away and back, and the shutdown order.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../common/logger.js';
import type { ListenerConfig, ProxyConfig } from '../config/types.js';
import type { DataPlane } from '../data-plane.js';
import type { XdsClientStatus } from '../xds-client/index.js';
import type { FetchLike } from './registrar.js';
import { parseBootstrap } from './bootstrap.js';
import { runProxy, type XdsLike } from './run-proxy.js';

const listener = (name: string, port: number) => ({ name, port }) as unknown as ListenerConfig;

function config(versions: Record<string, string>): ProxyConfig {
  return {
    versions,
    listeners: new Map([
      ['trellis_outbound', listener('trellis_outbound', 25001)],
      ['trellis_inbound', listener('trellis_inbound', 25006)],
    ]),
    routeTables: new Map(),
    clusters: new Map(),
    endpoints: new Map(),
  };
}

function fakeXds() {
  const subs = new Set<(c: ProxyConfig) => void>();
  let cfg: ProxyConfig = { ...config({}), listeners: new Map() };
  const x = {
    closed: false,
    push(c: ProxyConfig) {
      cfg = c;
      for (const s of subs) s(c);
    },
    current: () => cfg,
    onUpdate: (cb: (c: ProxyConfig) => void) => {
      subs.add(cb);
      return () => subs.delete(cb);
    },
    requestVirtualHost: async () => undefined,
    status: (): XdsClientStatus => ({
      target: 'cp:1',
      connected: true,
      nacks: 0,
      streams: 1,
      versions: cfg.versions,
    }),
    configDump: () => ({ types: { LDS: { resources: [...cfg.listeners.keys()] } } }),
    close() {
      x.closed = true;
    },
  };
  return x satisfies XdsLike;
}

function fakeDataPlane(events: string[]): DataPlane {
  let bound = new Map<string, number>();
  return {
    async apply(c) {
      events.push(`apply ${c.versions['LDS'] ?? ''}`);
      bound = new Map([...c.listeners.values()].map((l) => [l.name, l.port]));
    },
    async drain(ms) {
      events.push(`drain ${ms > 0 ? '>0' : '0'}`);
    },
    async close() {
      events.push('close');
    },
    clustersStatus: () => ({ clusters: [{ name: 'outbound|9080||reviews.default' }] }),
    renderMetrics: () => '# TYPE trellis_requests_total counter\ntrellis_requests_total 7\n',
    boundPorts: () => bound,
  };
}

function fakeApi(events: string[]) {
  const fetch: FetchLike = async (url, init) => {
    const path = new URL(url).pathname;
    events.push(
      `${init.method} ${path}${init.body ? ` port=${(JSON.parse(init.body) as { port: number }).port}` : ''}`,
    );
    return { status: 200, text: async () => '{}' };
  };
  return fetch;
}

const until = async (what: string, fn: () => boolean | Promise<boolean>, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('runProxy', () => {
  test('ready only after config, app and registration; admin pages; app loss; shutdown order', async (t) => {
    const events: string[] = [];
    const xds = fakeXds();
    let appUp = false;
    const b = parseBootstrap({
      argv: [
        '--service',
        'reviews',
        '--node-id',
        'reviews-1',
        '--admin-port',
        '0',
        '--drain-seconds',
        '1',
        '--labels',
        'version=v1',
      ],
      env: {},
    });
    const proxy = await runProxy(b, {
      logger: silentLogger(),
      createXdsClient: () => xds,
      createDataPlane: () => fakeDataPlane(events),
      fetch: fakeApi(events),
      probeApp: async () =>
        appUp ? { ok: true } : { ok: false, reason: 'app at 127.0.0.1:8080: connect ECONNREFUSED' },
      probeIntervalMs: { starting: 10, ready: 10 },
      failureThreshold: 2,
    });
    // A failed assertion must not leave the admin server and probe loop running (the file would hang).
    t.after(() => proxy.shutdown('SIGTERM').catch(() => undefined));
    const admin = (path: string) => fetch(`http://127.0.0.1:${proxy.adminPort}${path}`);

    let res = await admin('/ready');
    assert.equal(res.status, 503);
    assert.match(
      ((await res.json()) as { reason: string }).reason,
      /waiting for listener and cluster config/,
    );
    assert.equal((await admin('/live')).status, 200);

    xds.push(config({ LDS: '1', CDS: '1' }));
    await until('listeners bound', () => /ECONNREFUSED/.test(proxy.readiness().reason));
    assert.equal(proxy.readiness().ready, false);
    assert.ok(!events.some((e) => e.startsWith('POST')), 'no registration before the app is ready');

    appUp = true;
    await until('registered', () => proxy.readiness().ready);
    assert.ok(events.includes('POST /api/v1/instances port=25006'), events.join('\n'));
    res = await admin('/ready');
    assert.equal(res.status, 200);
    assert.match(
      ((await res.json()) as { reason: string }).reason,
      /registered as reviews-1 at 127\.0\.0\.1:25006/,
    );

    res = await admin('/stats');
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const stats = await res.text();
    for (const m of [
      'trellis_requests_total 7',
      'process_resident_memory_bytes ',
      'process_cpu_seconds_total ',
      'trellis_xds_connected 1',
      'trellis_xds_config_version{type="LDS",version="1"} 1',
      'trellis_proxy_ready 1',
    ])
      assert.ok(stats.includes(m), `${m} in /stats`);
    const dump = (await (await admin('/config_dump')).json()) as {
      bootstrap: { service: string };
      xds: unknown;
      boundPorts: Record<string, number>;
    };
    assert.equal(dump.bootstrap.service, 'reviews');
    assert.deepEqual(dump.xds, { types: { LDS: { resources: ['trellis_outbound', 'trellis_inbound'] } } });
    assert.equal(dump.boundPorts['trellis_inbound'], 25006);
    assert.deepEqual(await (await admin('/clusters')).json(), {
      clusters: [{ name: 'outbound|9080||reviews.default' }],
    });
    assert.equal((await admin('/nope')).status, 404);
    assert.match(await (await admin('/')).text(), /\/config_dump/);

    appUp = false;
    await until('deregistered after the app went away', () =>
      events.includes('DELETE /api/v1/instances/reviews-1'),
    );
    assert.match(proxy.readiness().reason, /app stopped answering/);
    appUp = true;
    await until('registered again', () => proxy.readiness().ready);

    events.length = 0;
    const t0 = Date.now();
    await proxy.shutdown('SIGTERM');
    assert.deepEqual(events, ['DELETE /api/v1/instances/reviews-1', 'drain >0', 'close']);
    assert.ok(Date.now() - t0 < 1500, 'within the drain deadline');
    assert.equal(xds.closed, true);
    assert.equal(proxy.readiness().ready, false);
    await assert.rejects(admin('/live'));
  });

  test('a client-only sidecar (--app-port 0) is ready once its listeners are bound and never registers', async () => {
    const events: string[] = [];
    const xds = fakeXds();
    const b = parseBootstrap({
      argv: ['--service', 'productpage', '--app-port', '0', '--admin-port', '0', '--drain-seconds', '0'],
      env: {},
    });
    const proxy = await runProxy(b, {
      logger: silentLogger(),
      createXdsClient: () => xds,
      createDataPlane: () => fakeDataPlane(events),
      fetch: fakeApi(events),
    });
    assert.equal(proxy.readiness().ready, false);
    xds.push(config({ LDS: '1', CDS: '1' }));
    await until('ready', () => proxy.readiness().ready);
    await proxy.shutdown('SIGINT');
    assert.deepEqual(events, ['apply 1', 'drain 0', 'close']);
  });

  test('gateway mode: no app, no registration; ready once listeners are bound and routes arrived', async (t) => {
    const events: string[] = [];
    const xds = fakeXds();
    const b = parseBootstrap({
      argv: ['--gateway', 'edge', '--admin-port', '0', '--drain-seconds', '0'],
      env: {},
    });
    const proxy = await runProxy(b, {
      logger: silentLogger(),
      createXdsClient: () => xds,
      createDataPlane: () => fakeDataPlane(events),
      fetch: fakeApi(events),
      probeApp: async () => assert.fail('a gateway has no app to probe'),
    });
    t.after(() => proxy.shutdown('SIGTERM').catch(() => undefined));
    const gwListener = {
      name: 'trellis_gateway_127.0.0.1_8080',
      port: 8080,
      routeSource: { type: 'rds', routeConfigName: 'trellis_gateway_8080' },
    } as unknown as ListenerConfig;
    // The Gateway does not exist (yet): the control plane sends no listeners.
    xds.push({ ...config({ LDS: '1', CDS: '1' }), listeners: new Map() });
    await until('a reason naming the Gateway', () => /Gateway default\/edge/.test(proxy.readiness().reason));
    assert.equal(proxy.readiness().ready, false);
    const withListener = {
      ...config({ LDS: '2', CDS: '1' }),
      listeners: new Map([[gwListener.name, gwListener]]),
    };
    xds.push(withListener);
    await until('waiting for the route table', () => /trellis_gateway_8080/.test(proxy.readiness().reason));
    assert.equal(proxy.readiness().ready, false);
    xds.push({
      ...withListener,
      versions: { LDS: '2', CDS: '1', RDS: '1' },
      routeTables: new Map([['trellis_gateway_8080', {} as never]]),
    });
    await until('ready', () => proxy.readiness().ready);
    assert.match(proxy.readiness().reason, /serving Gateway default\/edge/);
    const res = await fetch(`http://127.0.0.1:${proxy.adminPort}/ready`);
    assert.equal(res.status, 200);
    await proxy.shutdown('SIGTERM');
    assert.ok(!events.some((e) => e.startsWith('PUT') || e.startsWith('POST')), events.join(', '));
  });
});
