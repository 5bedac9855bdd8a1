// End to end: a real @grpc/grpc-js-xds application, configured only by a real `trellis control-plane`
// process: header routing, an 80/20 split, endpoint removal without failed RPCs, no NACKs, restarts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEchoServer } from './helpers/echo-service.js';
import {
  adminHeaders,
  freePort,
  JsonLineChild,
  ROOT,
  startControlPlaneProcess,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';

type Burst = { ok: boolean; counts: Record<string, number>; errors: string[] };
type Run = { ok: boolean; events: { t: number; server: string }[]; errors: { t: number; message: string }[] };

const service = (name: string, endpoints: number[]) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
  endpoints:
${endpoints.length ? endpoints.map((p) => `    - { address: 127.0.0.1, port: ${p} }`).join('\n') : '    []'}
`;

describe('proxyless gRPC client configured by Trellis', { timeout: 180_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  let client: JsonLineChild;
  const servers: { close(): Promise<void> }[] = [];
  const ports: Record<string, number> = {};
  let xdsPort: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-e2e-'));
    for (const name of ['a1', 'a2', 'b', 'canary']) {
      const s = await startEchoServer(name);
      servers.push(s);
      ports[name] = s.port;
    }
    xdsPort = await freePort();
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data'), plaintextXdsPort: xdsPort });
    const mesh = [
      service('echo', []),
      service('echo-a', [ports['a1']!, ports['a2']!]),
      service('echo-b', [ports['b']!]),
      service('echo-canary', [ports['canary']!]),
      `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 50051 }]
  rules:
    # Gateway API precedence: with the same method match, the rule with more header matches wins.
    - matches: [{ method: { service: trellis.test.Echo }, headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: echo-canary, port: 50051 }]
    - matches: [{ method: { service: trellis.test.Echo } }]
      backendRefs:
        - { name: echo-a, port: 50051, weight: 80 }
        - { name: echo-b, port: 50051, weight: 20 }
`,
    ].join('---\n');
    await writeFile(join(dir, 'mesh.yaml'), mesh);
    const applied = await trellis(['apply', '-f', join(dir, 'mesh.yaml')], { server: cp.apiUrl });
    assert.equal(applied.code, 0, applied.stderr);
    // A bootstrap naming nothing Trellis-specific beyond the xDS address (the control plane's
    // plaintext listener, on loopback, turned on with --plaintext-xds-port); any node id.
    const bootstrap = {
      xds_servers: [
        {
          server_uri: `127.0.0.1:${xdsPort}`,
          channel_creds: [{ type: 'insecure' }],
          server_features: ['xds_v3'],
        },
      ],
      node: { id: `some-app-${process.pid}`, locality: {} },
    };
    await writeFile(join(dir, 'bootstrap.json'), JSON.stringify(bootstrap));
    client = JsonLineChild.start(join(ROOT, 'dist/test/e2e/helpers/grpc-xds-client.js'), {
      GRPC_XDS_BOOTSTRAP: join(dir, 'bootstrap.json'),
    });
  });

  after(async () => {
    await client?.stop();
    await cp?.stop();
    await Promise.all(servers.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  test('a header routes to one backend, the rest splits 80/20, on every target spelling', async () => {
    for (const target of [
      'xds:///echo',
      'xds:///echo.default',
      'xds:///echo:50051',
      'xds:///echo.default:50051',
    ]) {
      const canary = await client.send<Burst>({
        op: 'burst',
        target,
        n: 40,
        metadata: { 'x-canary': 'yes' },
      });
      assert.deepEqual(canary.errors, [], `${target}: ${canary.errors[0]}`);
      assert.deepEqual(canary.counts, { canary: 40 }, target);
    }
    const n = 2000;
    const split = await client.send<Burst>({ op: 'burst', target: 'xds:///echo', n, concurrency: 20 });
    assert.deepEqual(split.errors, []);
    const a = (split.counts['a1'] ?? 0) + (split.counts['a2'] ?? 0);
    const b = split.counts['b'] ?? 0;
    assert.equal(a + b, n, JSON.stringify(split.counts));
    assert.equal(split.counts['canary'], undefined);
    // 80/20 within ±4 percentage points (about 4.5 standard deviations at n = 2000).
    assert.ok(Math.abs(b / n - 0.2) < 0.04, `b got ${((100 * b) / n).toFixed(1)}% of ${n}`);
    assert.ok((split.counts['a1'] ?? 0) > 0 && (split.counts['a2'] ?? 0) > 0, 'both echo-a endpoints used');
  });

  test('applying echo-a with one endpoint fewer stops traffic to it within 3 s, no failed RPC', async () => {
    // Long enough that traffic after t0 + 3 s is measured even when the apply itself is slow (a
    // loaded machine takes seconds to spawn the CLI).
    const running = client.send<Run>({ op: 'run', target: 'xds:///echo', durationMs: 8000, intervalMs: 4 });
    await new Promise((r) => setTimeout(r, 1000));
    await writeFile(join(dir, 'echo-a.yaml'), service('echo-a', [ports['a1']!]));
    const t0 = Date.now();
    const applied = await trellis(['apply', '-f', join(dir, 'echo-a.yaml')], { server: cp.apiUrl });
    assert.equal(applied.code, 0, applied.stderr);
    const out = await running;
    assert.deepEqual(out.errors, [], `failed RPCs: ${JSON.stringify(out.errors.slice(0, 3))}`);
    const late = out.events.filter((e) => e.t > t0 + 3000 && e.server === 'a2');
    assert.equal(late.length, 0, 'a2 still got traffic 3 s after it was removed');
    assert.ok(
      out.events.some((e) => e.t < t0 && e.server === 'a2'),
      'a2 had traffic before removal',
    );
    const after = out.events.filter((e) => e.t > t0 + 3000).length;
    assert.ok(
      after > 100,
      `traffic continued: ${after} RPCs more than 3 s after the apply (${Date.now() - t0} ms ago)`,
    );
  });

  test('an instance registered at run time gets traffic, and leaves when its heartbeats stop', async () => {
    const extra = await startEchoServer('b-registered');
    servers.push(extra);
    // The plaintext API needs a credential to register: the admin token.
    const res = await fetch(`${cp.apiUrl}/api/v1/instances`, {
      method: 'POST',
      headers: adminHeaders(cp.apiUrl),
      body: JSON.stringify({
        service: 'echo-b',
        namespace: 'default',
        address: '127.0.0.1',
        port: extra.port,
        ttlSeconds: 2,
      }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    // Heartbeat for a while: the instance must stay and get a share of echo-b's traffic.
    const beat = setInterval(
      () =>
        void fetch(`${cp.apiUrl}/api/v1/instances/${id}/heartbeat`, {
          method: 'POST',
          headers: adminHeaders(cp.apiUrl),
        }),
      500,
    );
    try {
      await waitFor('traffic to the registered instance', async () => {
        const b = await client.send<Burst>({ op: 'burst', target: 'xds:///echo', n: 100 });
        assert.deepEqual(b.errors, []);
        return (b.counts['b-registered'] ?? 0) > 0 ? true : undefined;
      });
      await new Promise((r) => setTimeout(r, 2500));
      const still = await client.send<Burst>({ op: 'burst', target: 'xds:///echo', n: 200 });
      assert.ok((still.counts['b-registered'] ?? 0) > 0, 'a heartbeating instance must not expire');
    } finally {
      clearInterval(beat);
    }
    // No more heartbeats: after the 2 s TTL the instance leaves the endpoint set. Polled (bounded)
    // rather than one fixed sleep: on a loaded machine the expiry sweep and the push can take a
    // moment longer. No RPC may fail meanwhile, and once gone it stays gone.
    const stopped = Date.now();
    await waitFor(
      'the expired instance to leave the endpoint set',
      async () => {
        const b = await client.send<Burst>({ op: 'burst', target: 'xds:///echo', n: 100 });
        assert.deepEqual(b.errors, []);
        return (b.counts['b-registered'] ?? 0) === 0 ? true : undefined;
      },
      15_000,
    );
    assert.ok(Date.now() - stopped >= 1500, 'the instance left before its 2 s TTL could have run out');
    const after = await client.send<Burst>({ op: 'burst', target: 'xds:///echo', n: 300 });
    assert.deepEqual(after.errors, []);
    assert.equal(after.counts['b-registered'] ?? 0, 0, 'expired instance still gets traffic');
  });

  test('a Service applied after the client first dialled it is discovered without a restart', async () => {
    const late = await startEchoServer('late');
    servers.push(late);
    const pending = client.send<Burst>({ op: 'burst', target: 'xds:///echo-late', n: 5, concurrency: 1 });
    await new Promise((r) => setTimeout(r, 1000));
    await writeFile(join(dir, 'late.yaml'), service('echo-late', [late.port]));
    const applied = await trellis(['apply', '-f', join(dir, 'late.yaml')], { server: cp.apiUrl });
    assert.equal(applied.code, 0, applied.stderr);
    const out = await pending;
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.counts, { late: 5 });
  });

  test('the client never NACKed, and proxy-status shows it synced', async () => {
    const res = await fetch(`${cp.apiUrl}/api/v1/proxies`, { headers: adminHeaders(cp.apiUrl) });
    const { items } = (await res.json()) as {
      items: { nodeId: string; types: Record<string, { lastNack?: unknown; synced?: boolean }> }[];
    };
    const me = items.find((p) => p.nodeId === `some-app-${process.pid}`);
    assert.ok(me, `client not in proxy status: ${JSON.stringify(items)}`);
    assert.deepEqual(Object.keys(me.types).sort(), ['CDS', 'EDS', 'LDS', 'RDS']);
    for (const [type, st] of Object.entries(me.types)) {
      assert.equal(st.lastNack ?? undefined, undefined, `${type} NACKed: ${JSON.stringify(st.lastNack)}`);
      assert.equal(st.synced, true, `${type} not synced`);
    }
    const status = await trellis(['proxy-status'], { server: cp.apiUrl });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`some-app-${process.pid}`));
    assert.doesNotMatch(status.stdout, /NACKED|STALE/);
  });

  test('invalid config is rejected, nothing is stored, and traffic keeps flowing', async () => {
    await writeFile(
      join(dir, 'bad.yaml'),
      `${service('echo-b', [ports['b']!])}---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo }]
  rules:
    - backendRefs: [{ name: echo-missing, port: 50051, weight: -1 }]
`,
    );
    const res = await trellis(['apply', '-f', join(dir, 'bad.yaml')], { server: cp.apiUrl });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /spec\.rules\[0\]\.backendRefs\[0\]\.weight/);
    const burst = await client.send<Burst>({ op: 'burst', target: 'xds:///echo', n: 200 });
    assert.deepEqual(burst.errors, []);
    assert.ok((burst.counts['b'] ?? 0) > 0, 'the 80/20 split still applies');
  });

  test('killing the control plane loses nothing; the client carries on and resyncs', async () => {
    const running = client.send<Run>({ op: 'run', target: 'xds:///echo', durationMs: 4000, intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 300));
    await cp.stop('SIGKILL');
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data'), plaintextXdsPort: xdsPort });
    const out = await running;
    assert.deepEqual(out.errors, [], 'RPCs failed while the control plane was down');
    const got = await trellis(['get', 'grpcroutes', 'echo', '-o', 'json'], { server: cp.apiUrl });
    assert.equal(got.code, 0, got.stderr);
    assert.equal((JSON.parse(got.stdout) as { spec: { rules: unknown[] } }).spec.rules.length, 2);
    const svcs = await trellis(['get', 'services', '-o', 'json'], { server: cp.apiUrl });
    assert.equal((JSON.parse(svcs.stdout) as { items: unknown[] }).items.length, 5);
    // The client reconnects (grpc-js backs off ~1 s) and is answered in full.
    await waitFor(
      'the client to reconnect',
      async () => {
        const r = (await (
          await fetch(`${cp.apiUrl}/api/v1/proxies`, { headers: adminHeaders(cp.apiUrl) })
        ).json()) as {
          items: { nodeId: string; connected: boolean }[];
        };
        return r.items.find((p) => p.nodeId === `some-app-${process.pid}` && p.connected);
      },
      15_000,
    );
    const burst = await client.send<Burst>({ op: 'burst', target: 'xds:///echo', n: 100 });
    assert.deepEqual(burst.errors, []);
  });
});
