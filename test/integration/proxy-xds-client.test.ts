// The sidecar xDS client against a real in-process control plane: listeners, clusters, endpoints,
// on-demand virtual hosts, later changes, proxy status without NACKs, and a control-plane restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/common/logger.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { createXdsClient, type XdsClient } from '../../src/proxy/xds-client/index.js';
import type { ProxyConfig } from '../../src/proxy/config/index.js';
import { apply, waitFor } from './control-plane-support.js';

const MESH = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: productpage }
spec:
  ports: [{ port: 9080, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: reviews }
spec:
  ports: [{ port: 9080, protocol: http }]
  endpoints: [{ address: 10.0.0.1 }]
`;

const RATINGS = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ratings }
spec:
  ports: [{ port: 8080, protocol: http2 }]
  endpoints: [{ address: 10.0.0.7 }]
`;

const REVIEWS = 'outbound|9080||reviews.default';
const RATINGS_CLUSTER = 'outbound|8080||ratings.default';

const endpointsOf = (c: ProxyConfig, cluster: string): string[] =>
  (c.endpoints.get(cluster)?.endpoints ?? []).map((e) => e.id).sort();

describe('sidecar xDS client against the control plane', { timeout: 60_000 }, () => {
  let dir: string;
  let cp: RunningControlPlane;
  let client: XdsClient;
  const updates: ProxyConfig[] = [];

  const start = (xdsPort: number): Promise<RunningControlPlane> =>
    startControlPlane({
      dataDir: join(dir, 'data'),
      plaintextXds: { port: xdsPort },
      securePort: false,
      apiPort: 0,
      logger: silentLogger(),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-xds-client-'));
    cp = await start(0);
    await apply(cp, MESH);
    client = createXdsClient({
      target: `127.0.0.1:${cp.plaintextXdsPort!}`,
      node: {
        id: 'productpage-1',
        service: 'productpage',
        inboundPort: 15006,
        outboundPort: 15001,
        appPort: 9080,
      },
      logger: silentLogger(),
      backoff: { initialMs: 50, maxMs: 400 },
    });
    client.onUpdate((c) => updates.push(c));
  });

  after(async () => {
    client?.close();
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('receives listeners, the inbound cluster and the outbound route table', async () => {
    const c = await waitFor('listeners and inbound cluster', () => {
      const c = client.current();
      return (
        c.listeners.size === 2 && c.clusters.has('inbound|9080') && c.routeTables.has('trellis_outbound') && c
      );
    });
    const out = c.listeners.get('trellis_outbound');
    assert.equal(out?.port, 15001);
    assert.deepEqual(out?.routeSource, { type: 'rds', routeConfigName: 'trellis_outbound' });
    assert.equal(c.listeners.get('trellis_inbound')?.port, 15006);
    assert.deepEqual(endpointsOf(c, 'inbound|9080'), ['127.0.0.1:9080']);
    assert.ok(c.routeTables.get('trellis_outbound')?.onDemand);
    assert.ok(Object.isFrozen(c) && updates.length > 0);
  });

  it('discovers a virtual host on demand, then its cluster and endpoints', async () => {
    const [a, b] = await Promise.all([
      client.requestVirtualHost('reviews:9080'),
      client.requestVirtualHost('reviews:9080'),
    ]);
    assert.equal(a?.name, 'trellis_outbound/reviews:9080');
    assert.equal(a, b);
    // Warming: when the virtual host is handed out, its clusters and endpoints are already held,
    // so the first request to a Service never fails for config still in flight.
    const c = client.current();
    assert.deepEqual(endpointsOf(c, REVIEWS), ['10.0.0.1:9080']);
    assert.equal(c.routeTables.get('trellis_outbound')?.exactDomains.get('reviews.default')?.name, a?.name);
    // Another spelling served by the same virtual host's domains needs no new subscription.
    assert.equal((await client.requestVirtualHost('Reviews'))?.name, a?.name);
  });

  it('answers undefined for an unknown host, then picks up the Service applied later', async () => {
    const t0 = Date.now();
    const [a, b] = await Promise.all([
      client.requestVirtualHost('ratings'),
      client.requestVirtualHost('ratings'),
    ]);
    assert.equal(a, undefined);
    assert.equal(b, undefined);
    assert.ok(Date.now() - t0 < 2500);
    await apply(cp, RATINGS);
    const c = await waitFor(
      'ratings endpoints',
      () => endpointsOf(client.current(), RATINGS_CLUSTER).length > 0 && client.current(),
      5000,
    );
    assert.equal(
      c.routeTables.get('trellis_outbound')?.exactDomains.get('ratings')?.name,
      'trellis_outbound/ratings',
    );
    assert.equal(c.clusters.get(RATINGS_CLUSTER)?.protocol, 'http2');
    assert.equal((await client.requestVirtualHost('ratings'))?.name, 'trellis_outbound/ratings');
  });

  it('gets an endpoint change', async () => {
    cp.registry.register({ service: 'reviews', address: '10.0.0.2', port: 9080 });
    await waitFor('second reviews endpoint', () => endpointsOf(client.current(), REVIEWS).length === 2);
    assert.deepEqual(endpointsOf(client.current(), REVIEWS), ['10.0.0.1:9080', '10.0.0.2:9080']);
  });

  it('shows as synced with no NACK in /api/v1/proxies', async () => {
    type P = {
      nodeId: string;
      connected: boolean;
      types: Record<string, { synced: boolean; lastNack?: unknown }>;
    };
    const p = await waitFor('proxy synced', async () => {
      const res = await fetch(`${cp.apiUrl}/api/v1/proxies`, {
        headers: { authorization: `Bearer ${cp.adminToken ?? ''}` },
      });
      const body = (await res.json()) as { items: P[] };
      const p = body.items.find((i) => i.nodeId === 'productpage-1' && i.connected);
      return p && Object.values(p.types).every((t) => t.synced) && p;
    });
    for (const [type, t] of Object.entries(p.types)) assert.equal(t.lastNack, undefined, type);
    for (const t of ['LDS', 'RDS', 'VHDS', 'CDS', 'EDS']) assert.ok(p.types[t], t);
    assert.equal(client.status().lastNack, undefined);
    assert.equal(client.status().connected, true);
    const dump = client.configDump();
    assert.equal(dump.types['VHDS']?.resources.length, 2);
    assert.ok(dump.types['CDS']?.version);
  });

  it('keeps its config while the control plane is down and reconnects when it is back', async () => {
    const port = cp.plaintextXdsPort!;
    const streams = client.status().streams;
    const before = client.current();
    await cp.close();
    await waitFor('disconnect', () => !client.status().connected);
    assert.equal(client.current(), before);
    assert.equal((await client.requestVirtualHost('reviews:9080'))?.name, 'trellis_outbound/reviews:9080');
    cp = await start(port);
    await waitFor('reconnect', () => client.status().connected && client.status().streams > streams);
    // The registry is in memory: after the restart only the static endpoint is left.
    await waitFor('endpoints after restart', () => endpointsOf(client.current(), REVIEWS).length === 1);
    const c = client.current();
    assert.ok(c.listeners.has('trellis_outbound') && c.clusters.has(RATINGS_CLUSTER));
    assert.ok(c.routeTables.get('trellis_outbound')?.exactDomains.has('ratings'));
    assert.equal(client.status().lastNack, undefined);
  });
});
