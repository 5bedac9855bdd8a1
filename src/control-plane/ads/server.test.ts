// ADS server protocol tests over a real grpc-js server on 127.0.0.1:0 with a raw ADS client and a
// fake translate: answers, ACK/NACK, stale nonces, reconnects, pushes, debounce, status.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import type { MeshSnapshot } from '../../api/mesh-snapshot.js';
import { decodeResource } from '../../xds/any.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../xds/type-urls.js';
import { type AdsServer, createAdsServer } from './server.js';
import {
  RawAdsClient,
  cla,
  cluster,
  fakeSnapshot,
  fakeTranslate,
  listener,
  namesIn,
  routeConfig,
} from './testing.js';

const NODE = {
  id: 'node-1',
  cluster: 'greeter',
  locality: {},
  metadata: { NAMESPACE: 'default', TEAM: 'mesh' },
};

function baseFake(v: number, port = 8080, timeout = 1): ReturnType<typeof fakeSnapshot> {
  return fakeSnapshot(v, {
    [CLUSTER_TYPE]: { a: cluster('a', timeout), b: cluster('b'), c: cluster('c') },
    [ENDPOINT_TYPE]: { a: cla('a', port), b: cla('b', 9090), c: cla('c', 9191) },
    [LISTENER_TYPE]: {
      greeter: listener('greeter', 'greeter-routes'),
      other: listener('other', 'other-routes'),
    },
    [ROUTE_TYPE]: { 'greeter-routes': routeConfig('greeter-routes', 'greeter', 'a') },
  });
}

interface Env {
  server: AdsServer;
  clock: FakeClock;
  port: number;
  calls: { typeUrl: string; names: readonly string[] | '*' }[];
  clients: RawAdsClient[];
  open(): RawAdsClient;
  set(s: MeshSnapshot, endpointsOnly?: boolean): void;
}

async function setup(initial: MeshSnapshot | null = baseFake(1)): Promise<Env> {
  const clock = new FakeClock();
  const calls: Env['calls'] = [];
  const server = createAdsServer({ logger: silentLogger(), clock, translate: fakeTranslate(calls) });
  const port = await server.listen('127.0.0.1', 0);
  if (initial) server.setSnapshot(initial);
  const clients: RawAdsClient[] = [];
  return {
    server,
    clock,
    port,
    calls,
    clients,
    open() {
      const c = new RawAdsClient(port);
      clients.push(c);
      return c;
    },
    set(s, endpointsOnly = false) {
      server.setSnapshot(s, { endpointsOnly });
      clock.advance(1000);
    },
  };
}

async function teardown(env: Env): Promise<void> {
  for (const c of env.clients) c.close();
  await env.server.close();
}

describe('ADS server', () => {
  let env: Env;
  before(async () => {
    env = await setup();
  });
  after(() => teardown(env));

  it('answers the first request of a type, and not a plain ACK', async () => {
    const c = env.open();
    c.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a', 'b'] });
    const r = await c.next();
    assert.equal(r.type_url, CLUSTER_TYPE);
    assert.deepEqual(namesIn(r), ['a', 'b']);
    assert.ok(r.version_info.length > 0 && r.nonce.length > 0);
    c.ack(r, ['a', 'b']);
    assert.ok(await c.quiet());
  });

  it('answers subscription growth even when it looks like an ACK; ignores stale nonces', async () => {
    const c = env.open();
    c.send({ node: NODE, type_url: ENDPOINT_TYPE, resource_names: ['a'] });
    const r1 = await c.next();
    assert.deepEqual(namesIn(r1), ['a']);
    c.send({
      type_url: ENDPOINT_TYPE,
      version_info: r1.version_info,
      response_nonce: r1.nonce,
      resource_names: ['a', 'b'],
    });
    const r2 = await c.next();
    assert.deepEqual(namesIn(r2), ['a', 'b'], 'every subscribed resource that exists');
    // A request still carrying r1's nonce is stale: recorded, not answered.
    c.send({
      type_url: ENDPOINT_TYPE,
      version_info: r1.version_info,
      response_nonce: r1.nonce,
      resource_names: ['a', 'b', 'c'],
    });
    assert.ok(await c.quiet());
    // The ACK of r2 then carries the grown list: answered.
    c.ack(r2, ['a', 'b', 'c']);
    const r3 = await c.next();
    assert.deepEqual(namesIn(r3), ['a', 'b', 'c']);
  });

  it('LDS responses carry every subscribed listener; unknown names are left out', async () => {
    const c = env.open();
    c.send({ node: NODE, type_url: LISTENER_TYPE, resource_names: ['greeter'] });
    const r1 = await c.next();
    c.send({
      type_url: LISTENER_TYPE,
      version_info: r1.version_info,
      response_nonce: r1.nonce,
      resource_names: ['greeter', 'other', 'nope'],
    });
    const r2 = await c.next();
    assert.deepEqual(namesIn(r2), ['greeter', 'other']);
  });

  it('records a NACK and does not resend', async () => {
    const c = env.open();
    c.send({ node: { ...NODE, id: 'nacker' }, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    const r = await c.next();
    c.send({
      type_url: CLUSTER_TYPE,
      version_info: '',
      response_nonce: r.nonce,
      resource_names: ['a'],
      error_detail: { code: 14, message: 'xDS response validation errors: [resource index 0: bad]' },
    });
    assert.ok(await c.quiet());
    const st = env.server.listProxies().find((p) => p.nodeId === 'nacker');
    const cds = st?.types['CDS'];
    assert.equal(cds?.lastNack?.nonce, r.nonce);
    assert.equal(cds?.lastNack?.version, r.version_info);
    assert.match(cds?.lastNack?.message ?? '', /resource index 0/);
    assert.equal(cds?.lastVersionAcked, '');
    assert.equal(cds?.synced, false);
  });

  it('answers a reconnecting client in full even with matching versions', async () => {
    const c1 = env.open();
    c1.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a', 'b'] });
    const r1 = await c1.next();
    c1.close();
    const c2 = env.open();
    c2.send({
      node: NODE,
      type_url: CLUSTER_TYPE,
      version_info: r1.version_info,
      response_nonce: '',
      resource_names: ['a', 'b'],
    });
    const r2 = await c2.next();
    assert.deepEqual(namesIn(r2), ['a', 'b']);
    assert.equal(r2.version_info, r1.version_info, 'content versions are stable');
  });

  it('wildcard: first request with no names gets everything; empty ACKs stay wildcard', async () => {
    const c = env.open();
    c.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: [] });
    const r = await c.next();
    assert.deepEqual(namesIn(r), ['a', 'b', 'c']);
    c.ack(r, []);
    assert.ok(await c.quiet());
    const status = env.server
      .listProxies()
      .find((p) => p.streamId === Math.max(...env.server.listProxies().map((x) => x.streamId)));
    assert.equal(status?.types['CDS']?.wildcard, true);
  });

  it("'*' in the names list is a wildcard too", async () => {
    const c = env.open();
    c.send({ node: NODE, type_url: LISTENER_TYPE, resource_names: ['*'] });
    assert.deepEqual(namesIn(await c.next()), ['greeter', 'other']);
  });
});

describe('ADS server pushes', () => {
  it('pushes only what changed: EDS the changed CLA, CDS the full set, nothing for unchanged types', async () => {
    const env = await setup();
    try {
      const c = env.open();
      c.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a', 'b'] });
      c.ack(await c.next(), ['a', 'b']);
      c.send({ type_url: ENDPOINT_TYPE, resource_names: ['a', 'b'] });
      c.ack(await c.next(), ['a', 'b']);
      c.send({ type_url: LISTENER_TYPE, resource_names: ['greeter'] });
      c.ack(await c.next(), ['greeter']);
      assert.ok(await c.quiet(50));

      env.set(baseFake(2, 8081, 1)); // only CLA a changes
      const e = await c.next();
      assert.equal(e.type_url, ENDPOINT_TYPE);
      assert.deepEqual(namesIn(e), ['a']);
      assert.equal(decodeResource(e.resources[0]!)['cluster_name'], 'a');
      c.ack(e, ['a', 'b']);
      assert.ok(await c.quiet());

      env.set(baseFake(3, 8081, 5)); // only cluster a changes: CDS carries both
      const r = await c.next();
      assert.equal(r.type_url, CLUSTER_TYPE);
      assert.deepEqual(namesIn(r), ['a', 'b']);
      c.ack(r, ['a', 'b']);
      assert.ok(await c.quiet());

      env.set(baseFake(4, 8081, 5)); // nothing changes
      assert.ok(await c.quiet());
    } finally {
      await teardown(env);
    }
  });

  it('pushes in order CDS, EDS, LDS, RDS', async () => {
    const env = await setup();
    try {
      const c = env.open();
      c.send({ node: NODE, type_url: LISTENER_TYPE, resource_names: ['greeter'] });
      c.ack(await c.next(), ['greeter']);
      c.send({ type_url: ROUTE_TYPE, resource_names: ['greeter-routes'] });
      c.ack(await c.next(), ['greeter-routes']);
      c.send({ type_url: CLUSTER_TYPE, resource_names: ['a'] });
      c.ack(await c.next(), ['a']);
      c.send({ type_url: ENDPOINT_TYPE, resource_names: ['a'] });
      c.ack(await c.next(), ['a']);
      env.set(
        fakeSnapshot(2, {
          [CLUSTER_TYPE]: { a: cluster('a', 9) },
          [ENDPOINT_TYPE]: { a: cla('a', 1234) },
          [LISTENER_TYPE]: { greeter: listener('greeter', 'r2') },
          [ROUTE_TYPE]: { 'greeter-routes': routeConfig('greeter-routes', 'greeter', 'b') },
        }),
      );
      const order = [];
      for (let i = 0; i < 4; i++) order.push((await c.next()).type_url);
      assert.deepEqual(order, [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]);
    } finally {
      await teardown(env);
    }
  });

  it('endpoint-only changes recompute and push only EDS', async () => {
    const env = await setup();
    try {
      const c = env.open();
      c.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
      c.ack(await c.next(), ['a']);
      c.send({ type_url: ENDPOINT_TYPE, resource_names: ['a'] });
      c.ack(await c.next(), ['a']);
      env.calls.length = 0;
      // Even if the fake's cluster differed, an endpoint-only change must not look at CDS.
      env.set(baseFake(2, 7000, 42), true);
      const r = await c.next();
      assert.equal(r.type_url, ENDPOINT_TYPE);
      assert.ok(await c.quiet());
      assert.deepEqual(new Set(env.calls.map((x) => x.typeUrl)), new Set([ENDPOINT_TYPE]));
    } finally {
      await teardown(env);
    }
  });

  it('debounce coalesces a burst into one push of the latest snapshot', async () => {
    const env = await setup();
    try {
      const c = env.open();
      c.send({ node: NODE, type_url: ENDPOINT_TYPE, resource_names: ['a'] });
      c.ack(await c.next(), ['a']);
      for (let i = 0; i < 5; i++) {
        env.server.setSnapshot(baseFake(2 + i, 7000 + i));
        env.clock.advance(20); // under the 50 ms quiet period
      }
      assert.ok(await c.quiet(50), 'nothing before the quiet period ends');
      env.clock.advance(50);
      const r = await c.next();
      const sock = (
        decodeResource(r.resources[0]!) as {
          endpoints: {
            lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[];
          }[];
        }
      ).endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address;
      assert.equal(sock?.port_value, 7004);
      c.ack(r, ['a']);
      assert.ok(await c.quiet());
      assert.equal(env.server.stats().snapshots, 2);
    } finally {
      await teardown(env);
    }
  });

  it('debounce has a bounded max delay', async () => {
    const env = await setup();
    try {
      const c = env.open();
      c.send({ node: NODE, type_url: ENDPOINT_TYPE, resource_names: ['a'] });
      c.ack(await c.next(), ['a']);
      for (let i = 0; i < 30; i++) {
        env.server.setSnapshot(baseFake(2 + i, 7000 + i));
        env.clock.advance(20);
      }
      const r = await c.next(); // 600 ms of changes every 20 ms: applied at 500 ms
      assert.equal(r.type_url, ENDPOINT_TYPE);
    } finally {
      await teardown(env);
    }
  });

  it('answers requests that arrived before the first snapshot once it is set', async () => {
    const env = await setup(null);
    try {
      const c = env.open();
      c.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
      assert.ok(await c.quiet(100));
      env.server.setSnapshot(baseFake(1));
      assert.deepEqual(namesIn(await c.next()), ['a']);
    } finally {
      await teardown(env);
    }
  });

  it('an empty list after explicit names unsubscribes: nothing more is sent', async () => {
    const env = await setup();
    try {
      const c = env.open();
      c.send({ node: NODE, type_url: ENDPOINT_TYPE, resource_names: ['a'] });
      const r = await c.next();
      c.send({
        type_url: ENDPOINT_TYPE,
        version_info: r.version_info,
        response_nonce: r.nonce,
        resource_names: [],
      });
      assert.ok(await c.quiet());
      env.set(baseFake(2, 7777));
      assert.ok(await c.quiet());
    } finally {
      await teardown(env);
    }
  });

  it('reports proxy status and config dumps', async () => {
    const env = await setup();
    try {
      const c = env.open();
      c.send({ node: { ...NODE, id: 'dumped' }, type_url: CLUSTER_TYPE, resource_names: ['a', 'b'] });
      const r = await c.next();
      c.ack(r, ['a', 'b']);
      c.send({ type_url: ENDPOINT_TYPE, resource_names: ['a'] });
      await c.next();
      await c.quiet(50);
      const p = env.server.listProxies().find((x) => x.nodeId === 'dumped');
      assert.ok(p);
      assert.equal(p.kind, 'proxyless');
      assert.equal(p.namespace, 'default');
      assert.equal(p.connected, true);
      assert.match(p.peer, /127\.0\.0\.1/);
      assert.equal(p.types['CDS']?.subscribed, 2);
      assert.equal(p.types['CDS']?.lastVersionSent, r.version_info);
      assert.equal(p.types['CDS']?.lastVersionAcked, r.version_info);
      assert.equal(p.types['CDS']?.synced, true);
      assert.equal(p.types['EDS']?.synced, false);
      const dump = env.server.configDump('dumped');
      assert.deepEqual(
        dump?.types['CDS']?.resources.map((x) => x['name']),
        ['a', 'b'],
      );
      assert.equal(dump?.types['CDS']?.resources[0]?.['@type'], CLUSTER_TYPE);
      assert.equal(dump?.types['EDS']?.resources.length, 1);
      c.close();
      await new Promise((res) => setTimeout(res, 100));
      const gone = env.server.listProxies().find((x) => x.nodeId === 'dumped');
      assert.equal(gone?.connected, false);
      assert.ok(env.server.configDump('dumped'));
      assert.equal(env.server.configDump('nobody'), undefined);
    } finally {
      await teardown(env);
    }
  });
});
