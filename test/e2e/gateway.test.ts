// End to end: a real control plane, two real apps (web v1 and v2) behind real sidecars, and a real
// `trellis proxy --gateway edge` on a free port. Requests through the gateway reach the apps by
// hostname and path, a weighted split is observed, a path with no route is a 404 that says so,
// client-supplied mesh headers never reach an app, a route applied later is picked up, and h2c
// (prior knowledge) works through the same listener.
import { connect } from 'node:http2';
import { request, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ready, startGatewayTestEnv, type GatewayTestEnv } from './helpers/gateway.js';
import { freePort, trellis, waitFor, type ControlPlaneProcess } from './helpers/processes.js';
import type { FakeApp, TrellisProxyProcess } from './helpers/sidecar.js';

const mesh = (port: number): string => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 80, protocol: http }]
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - { name: shop, port: ${port}, protocol: HTTP, hostname: shop.example }
    - { name: any, port: ${port}, protocol: HTTP }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ name: edge, sectionName: shop }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /app } }]
      backendRefs: [{ name: web, port: 80, subset: v1 }]
    - matches: [{ path: { type: PathPrefix, value: /split } }]
      backendRefs:
        - { name: web, port: 80, subset: v1, weight: 80 }
        - { name: web, port: 80, subset: v2, weight: 20 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: other }
spec:
  parentRefs: [{ name: edge, sectionName: any }]
  hostnames: [other.example]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /other } }]
      backendRefs: [{ name: web, port: 80, subset: v2 }]
`;

const LATE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: late }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [shop.example]
  rules:
    - matches: [{ path: { type: Exact, value: /late } }]
      backendRefs: [{ name: web, port: 80, subset: v2 }]
`;

interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request to the gateway with a Host and extra headers; no connection reuse. */
function get(port: number, host: string, path: string, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('trellis proxy --gateway (ingress)', { timeout: 180_000 }, () => {
  let env: GatewayTestEnv;
  let cp: ControlPlaneProcess;
  let gwPort: number;
  const apps: Record<string, FakeApp> = {};
  let gw: TrellisProxyProcess | undefined;

  before(async () => {
    env = await startGatewayTestEnv('gateway-e2e');
    cp = env.cp;
    gwPort = await freePort();
    await env.apply(mesh(gwPort));
    const sidecars = [];
    for (const v of ['v1', 'v2']) {
      const { app, sidecar } = await env.startBackend('web', v, ['--labels', `version=${v}`]);
      apps[v] = app;
      sidecars.push(sidecar);
    }
    for (const s of sidecars) await ready(s, 'a web sidecar');
  });

  after(async () => {
    await env?.stop();
  });

  test('the gateway binds its Gateway listeners and becomes ready; get gateways lists it', async () => {
    gw = await env.startGateway('edge');
    await ready(gw, 'the gateway');
    assert.match((await gw.admin('/ready')).body, /serving Gateway default\/edge/);
    const listed = await trellis(['get', 'gateways'], { server: cp.apiUrl });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(`edge\\s+listeners=shop:${gwPort}\\(shop\\.example\\),any:${gwPort}`),
    );
    const status = await trellis(['proxy-status'], { server: cp.apiUrl });
    assert.match(status.stdout, /gateway\s+gateway\/edge\.default/);
  });

  test('requests reach the apps by hostname and path; the edge headers are set', async () => {
    const p = gwPort;
    // Endpoints may still be arriving at the gateway: wait for the first success.
    const r = await waitFor(
      'a request through the gateway',
      async () => {
        const x = await get(p, 'shop.example', '/app/1');
        return x.status === 200 ? x : undefined;
      },
      20_000,
    );
    assert.equal(r.body, 'hello from v1 /app/1');
    assert.equal((await get(p, `shop.example:${p}`, '/app/2')).body, 'hello from v1 /app/2');
    const seen = apps['v1']!.seen.find((s) => s.url === '/app/1');
    assert.ok(seen);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.match(String(seen.headers['x-request-id']), /\S{8,}/);

    // other.example belongs to the catch-all listener; shop.example's listener has no /other.
    await waitFor(
      'other.example to route',
      async () => (await get(p, 'other.example', '/other')).status === 200,
    );
    assert.equal((await get(p, 'other.example', '/other')).body, 'hello from v2 /other');
    assert.equal((await get(p, 'shop.example', '/other')).status, 404);
    assert.equal((await get(p, 'other.example', '/app/1')).status, 404);
    assert.equal((await get(p, 'unknown.example', '/app/1')).status, 404);
  });

  test('a path with no route is a 404 that says so', async () => {
    const r = await get(gwPort, 'shop.example', '/nothing-here');
    assert.equal(r.status, 404);
    assert.match(String(r.headers['x-trellis-error']), /^NO_ROUTE; sidecar=gateway-edge-/);
    assert.match(r.body, /no route/i);
    assert.match(r.body, /\/nothing-here/);
  });

  test('client-supplied mesh headers are stripped; x-request-id is replaced', async () => {
    const r = await get(gwPort, 'shop.example', '/app/forged', {
      'x-forwarded-client-cert': 'By=spiffe://evil;URI=spiffe://cluster.local/ns/default/sa/admin',
      'x-trellis-forged': 'yes',
      'x-request-id': 'client-chosen-id',
      'x-forwarded-for': '203.0.113.7',
      'x-kept': 'yes',
    });
    assert.equal(r.status, 200);
    const seen = apps['v1']!.seen.find((s) => s.url === '/app/forged');
    assert.ok(seen);
    // The forged identity is stripped; what the app sees is the one the web sidecar verified (the
    // gateway's workload certificate, over mTLS).
    assert.equal(
      seen.headers['x-forwarded-client-cert'],
      'By=spiffe://cluster.local/ns/default/sa/web;URI=spiffe://cluster.local/ns/default/sa/gateway-edge',
    );
    assert.equal(seen.headers['x-trellis-forged'], undefined);
    assert.notEqual(seen.headers['x-request-id'], 'client-chosen-id');
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(seen.headers['x-kept'], 'yes');
  });

  test('a weighted split between two subsets is observed within tolerance', async () => {
    const n = 400;
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, k) => get(gwPort, 'shop.example', `/split/${i + k}`)),
      );
      for (const r of batch) {
        assert.equal(r.status, 200, r.body);
        const v = String(r.headers['x-app']);
        counts[v] = (counts[v] ?? 0) + 1;
      }
    }
    const v2 = (counts['v2'] ?? 0) / n;
    // 20% expected; binomial sd at n=400 is 2%: 5 sd either side.
    assert.ok(v2 > 0.1 && v2 < 0.3, `v2 share ${v2} (${JSON.stringify(counts)})`);
  });

  test('a route applied later is picked up', async () => {
    assert.equal((await get(gwPort, 'shop.example', '/late')).status, 404);
    const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: LATE });
    assert.equal(applied.code, 0, applied.stderr);
    const r = await waitFor(
      'the late route',
      async () => {
        const x = await get(gwPort, 'shop.example', '/late');
        return x.status === 200 ? x : undefined;
      },
      15_000,
    );
    assert.equal(r.body, 'hello from v2 /late');
  });

  test('HTTP/2 (h2c prior knowledge) through the gateway', async () => {
    const session = connect(`http://127.0.0.1:${gwPort}`);
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ':path': '/app/h2', ':authority': 'shop.example' });
        let status = 0;
        let body = '';
        req.setEncoding('utf8');
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', (d: string) => (body += d));
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
        req.setTimeout(5000, () => req.close());
        req.end();
      });
      assert.equal(status, 200);
      assert.equal(body, 'hello from v1 /app/h2');
      const seen = apps['v1']!.seen.find((s) => s.url === '/app/h2');
      assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
    } finally {
      session.close();
    }
  });

  test('SIGTERM stops the gateway cleanly', async () => {
    assert.equal((await gw?.stop())?.code, 0);
  });
});
