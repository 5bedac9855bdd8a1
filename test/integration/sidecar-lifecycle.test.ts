// The data plane over config changes and shutdown: swaps mid-traffic drop nothing, removed
// endpoints finish their in-flight requests, listeners rebind/close, on-demand vhosts, drain.
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { buildRouteTable } from '../../src/proxy/config/decode-route.js';
import type { ProxyConfig } from '../../src/proxy/config/types.js';
import {
  buildConfig,
  endpoint,
  get,
  RawClient,
  route,
  startApp,
  startPlane,
  vhost,
} from './sidecar-harness.js';

/** An app whose responses wait until release() (to hold requests in flight deterministically). */
async function gatedApp(name: string) {
  const waiting: ServerResponse[] = [];
  let onArrive: (() => void) | null = null;
  const app = await startApp(name, (_req: IncomingMessage, res: ServerResponse) => {
    waiting.push(res);
    onArrive?.();
  });
  return {
    app,
    arrived: (n: number) =>
      new Promise<void>((r) => {
        const check = (): void => {
          if (waiting.length >= n) r();
        };
        onArrive = check;
        check();
      }),
    release: () => {
      for (const res of waiting.splice(0)) res.end(`from ${name}`);
    },
  };
}

describe('sidecar h1: config changes', { timeout: 30_000 }, () => {
  it('swaps route tables mid-traffic without failing a request', async () => {
    const a = await startApp('a');
    const b = await startApp('b');
    const cfgA = buildConfig({
      vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'a', weight: 1 }])])],
      clusters: { a: [a.port], b: [b.port] },
    });
    const cfgB = buildConfig({
      vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'b', weight: 1 }])])],
      clusters: { a: [a.port], b: [b.port] },
    });
    const { dp, port } = await startPlane(cfgA);
    const clients = [0, 1, 2, 3].map(() => new RawClient(port));
    const seen = new Set<string>();
    let stop = false;
    const loops = clients.map(async (c) => {
      let n = 0;
      while (!stop || n < 5) {
        const r = await c.get('/');
        assert.equal(r.status, 200);
        seen.add(JSON.parse(r.body).app);
        n++;
      }
    });
    for (let i = 0; i < 10; i++) {
      await dp.apply(i % 2 === 0 ? cfgB : cfgA);
      await new Promise((r) => setImmediate(r));
    }
    await dp.apply(cfgB);
    stop = true;
    await Promise.all(loops);
    assert.equal(JSON.parse((await clients[0]!.get('/')).body).app, 'b');
    assert.ok(seen.has('a') && seen.has('b'));
    for (const c of clients) c.close();
    await dp.close();
    await a.close();
    await b.close();
  });

  it('in-flight requests to a removed endpoint complete; new ones go to the rest', async () => {
    const g = await gatedApp('old');
    const fresh = await startApp('new');
    const both = buildConfig({
      vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
      clusters: { c: [g.app.port] },
    });
    const { dp, port } = await startPlane(both);
    const inflight = [get(port, '/1'), get(port, '/2')];
    await g.arrived(2);
    const moved: ProxyConfig = {
      ...both,
      endpoints: new Map([['c', { clusterName: 'c', endpoints: [endpoint(fresh.port)] }]]),
    };
    await dp.apply(moved);
    assert.equal(JSON.parse((await get(port, '/3')).body).app, 'new');
    g.release();
    for (const r of await Promise.all(inflight)) {
      assert.equal(r.status, 200);
      assert.equal(r.body, 'from old');
    }
    await dp.close();
    await g.app.close();
    await fresh.close();
  });

  it('rebinds when the port changes and closes removed listeners', async () => {
    const a = await startApp('a');
    const cfg = buildConfig({
      vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'a', weight: 1 }])])],
      clusters: { a: [a.port] },
    });
    const { dp, port } = await startPlane(cfg);
    assert.equal((await get(port, '/')).status, 200);
    const l = cfg.listeners.get('l')!;
    // Move to another (OS-chosen) port: same name, new binding.
    const moved: ProxyConfig = {
      ...cfg,
      listeners: new Map([['l', { ...l, port: 0, address: '127.0.0.2' }]]),
    };
    await dp.apply(moved);
    const port2 = dp.boundPorts().get('l')!;
    const viaNew = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.2', port: port2, path: '/', headers: { host: 'svc' }, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(viaNew, 200);
    await assert.rejects(get(port, '/')); // the old binding is gone (drained: it had no connections)
    await dp.apply({ ...cfg, listeners: new Map() });
    assert.equal(dp.boundPorts().size, 0);
    await assert.rejects(get(port, '/'));
    await dp.close();
    await a.close();
  });

  it('asks for an unknown virtual host on demand, then routes with the new config', async () => {
    const a = await startApp('a');
    const base = buildConfig({ vhosts: [], clusters: { a: [a.port] }, onDemand: true });
    let asked: string[] = [];
    let dpRef: { apply(c: ProxyConfig): Promise<void> } | null = null;
    const withHost: ProxyConfig = {
      ...base,
      routeTables: new Map([
        [
          'routes',
          buildRouteTable('routes', true, [
            vhost('late', ['late:80'], [route('r', '/', [{ name: 'a', weight: 1 }])]),
          ]),
        ],
      ]),
    };
    const { dp, port } = await startPlane(base, {
      requestVirtualHost: async (host: string) => {
        asked.push(host);
        if (host === 'late:80') await dpRef!.apply(withHost);
        return undefined;
      },
    });
    dpRef = dp;
    const c = new RawClient(port);
    const [r] = await c.send('POST / HTTP/1.1\r\nhost: late:80\r\ncontent-length: 4\r\n\r\nbody');
    assert.equal(r!.status, 200);
    assert.equal(JSON.parse(r!.body).body, 'body');
    assert.deepEqual(asked, ['late:80']);
    asked = [];
    const miss = await c.get('/', 'nope:80');
    assert.equal(miss.status, 404);
    assert.deepEqual(asked, ['nope:80']);
    c.close();
    await dp.close();
    await a.close();
  });
});

describe('sidecar h1: idle keep-alive', { timeout: 30_000 }, () => {
  it('closes a keep-alive connection idle past the idle timeout, not one in use', async () => {
    const a = await startApp('a');
    const { dp, port } = await startPlane(
      buildConfig({
        vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'a', weight: 1 }])])],
        clusters: { a: [a.port] },
      }),
      { limits: { idleTimeoutMs: 150, requestHeadersTimeoutMs: 5000 } },
    );
    const c = new RawClient(port);
    const t0 = Date.now();
    assert.equal((await c.get('/')).status, 200);
    await new Promise<void>((r) => (c.closed ? r() : c.socket.on('close', () => r())));
    assert.ok(Date.now() - t0 >= 140);
    await dp.close();
    await a.close();
  });
});

describe('sidecar h1: drain', { timeout: 30_000 }, () => {
  it('closes idle keep-alive connections, finishes in-flight with Connection: close, stops accepting', async () => {
    const g = await gatedApp('a');
    const { dp, port } = await startPlane(
      buildConfig({
        vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'a', weight: 1 }])])],
        clusters: { a: [g.app.port] },
      }),
    );
    const idle = new RawClient(port);
    const busy = new RawClient(port);
    const first = idle.get('/');
    await g.arrived(1);
    g.release();
    assert.equal((await first).status, 200);
    const inflight = busy.get('/slow');
    await g.arrived(1);
    const drained = dp.drain(5000);
    const idleClosed = new Promise<void>((r) => (idle.closed ? r() : idle.socket.on('close', () => r())));
    await idleClosed;
    await assert.rejects(get(port, '/'));
    g.release();
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.headers['connection'], 'close');
    await drained;
    busy.close();
    await g.app.close();
  });

  it('destroys what is still running at the deadline', async () => {
    const g = await gatedApp('a');
    const { dp, port } = await startPlane(
      buildConfig({
        vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'a', weight: 1 }])])],
        clusters: { a: [g.app.port] },
      }),
    );
    const c = new RawClient(port);
    const p = c.send('GET / HTTP/1.1\r\nhost: svc\r\n\r\n');
    await g.arrived(1);
    const t0 = Date.now();
    await dp.drain(100);
    assert.ok(Date.now() - t0 < 2000);
    assert.deepEqual(await p, []);
    g.release();
    await g.app.close();
  });
});
