// The supervisor's pure parts: restart backoff, the reconciliation diff, the stop order, launch
// argv/env, and the status view's text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOk } from '../api/testing.js';
import type { ServiceResource, WorkloadResource } from '../api/types.js';
import { DEFAULT_RESTART_POLICY as P, failuresAfterCrash, restartDelayMs } from './backoff.js';
import { appEnv, buildLaunchTemplate, replicaId, sidecarArgs, type ReplicaPorts } from './launch.js';
import { planGateways, planWorkloads, type DesiredWorkload, type RunningWorkload } from './plan.js';
import { renderStatus } from './status.js';
import { stopWaves } from './supervisor.js';

test('restart backoff doubles from 0.5 s to a 30 s cap and starts over after a long run', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => restartDelayMs(n, P)),
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  assert.equal(failuresAfterCrash(0, 100, P), 1);
  assert.equal(failuresAfterCrash(5, 9_999, P), 6);
  assert.equal(failuresAfterCrash(5, 10_000, P), 1);
});

const want = (replicas: number, fingerprint = 'a', blocked = false): DesiredWorkload => ({
  replicas,
  fingerprint,
  blocked,
});
const have = (indexes: number[], fingerprint = 'a'): RunningWorkload => ({ indexes, fingerprint });
const show = (a: ReturnType<typeof planWorkloads>) =>
  a.map((x) => `${x.type} ${x.key}#${x.index}${x.type === 'stop' ? ` (${x.reason})` : ''}`);

test('plan: start what is missing, scale up and down by index, stops first', () => {
  assert.deepEqual(show(planWorkloads(new Map([['d/a', want(2)]]), new Map())), [
    'start d/a#1',
    'start d/a#2',
  ]);
  assert.deepEqual(
    show(
      planWorkloads(
        new Map([
          ['d/a', want(3)],
          ['d/b', want(1)],
        ]),
        new Map([
          ['d/a', have([1, 2])],
          ['d/b', have([1, 2, 3])],
        ]),
      ),
    ),
    ['stop d/b#3 (scaled down)', 'stop d/b#2 (scaled down)', 'start d/a#3'],
  );
  assert.deepEqual(show(planWorkloads(new Map([['d/a', want(2)]]), new Map([['d/a', have([2, 1])]]))), []);
});

test('plan: a changed Workload has its replicas replaced in order; a removed one stops; a blocked one is left alone', () => {
  assert.deepEqual(show(planWorkloads(new Map([['d/a', want(2, 'b')]]), new Map([['d/a', have([1, 2])]]))), [
    'replace d/a#1',
    'replace d/a#2',
  ]);
  // Changed and scaled at once: the extra replica stops, the missing one starts new, the rest roll.
  assert.deepEqual(show(planWorkloads(new Map([['d/a', want(2, 'b')]]), new Map([['d/a', have([1, 3])]]))), [
    'stop d/a#3 (scaled down)',
    'start d/a#2',
    'replace d/a#1',
  ]);
  assert.deepEqual(show(planWorkloads(new Map(), new Map([['d/a', have([1])]]))), ['stop d/a#1 (removed)']);
  assert.deepEqual(
    show(planWorkloads(new Map([['d/a', want(3, 'b', true)]]), new Map([['d/a', have([1])]]))),
    [],
  );
  assert.deepEqual(planGateways(new Set(['d/x', 'd/y']), new Set(['d/y', 'd/z'])), {
    start: ['d/x'],
    stop: ['d/z'],
  });
});

const MESH = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: backend }
spec: { ports: [{ port: 8080, protocol: http }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db, namespace: data }
spec: { ports: [{ port: 5432, protocol: tcp }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 80, protocol: http }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: { name: web }
spec:
  service: web
  command: node web.mjs --x
  workingDir: apps
  labels: { version: v2 }
  env: { PORT: "1", HTTP_PROXY: "http://elsewhere:1", EXTRA: "yes" }
  readinessProbe: { httpGet: { path: /ready } }
  upstreams: [{ service: backend }, { service: db.data, env: DB }]
---
apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: { name: backend }
spec: { service: backend, command: [node, b.mjs], replicas: 2 }
`;

function mesh() {
  const rs = parseOk(MESH);
  const services = new Map<string, ServiceResource>();
  for (const r of rs) if (r.kind === 'Service') services.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
  const w = (n: string) => rs.find((r) => r.kind === 'Workload' && r.metadata.name === n) as WorkloadResource;
  return { services, w };
}

test('launch: sidecar flags and the app environment of a replica', () => {
  const { services, w } = mesh();
  const t = buildLaunchTemplate(w('web'), services, '/mesh');
  assert.equal(t.cwd, '/mesh/apps');
  assert.deepEqual(t.command, ['/bin/sh', '-c', 'node web.mjs --x']);
  assert.equal(t.problem, undefined);
  const ports: ReplicaPorts = { app: 11, inbound: 12, outbound: 13, admin: 14, upstreams: [21, 22] };
  const cp = { xds: '127.0.0.1:9', api: 'http://127.0.0.1:8' };
  assert.deepEqual(
    sidecarArgs(t, 2, ports, cp, '/t/bin/trellis.js', 5).join(' '),
    '/t/bin/trellis.js proxy --service web --namespace default --node-id web-2 --labels version=v2 ' +
      '--app-port 11 --inbound-port 12 --outbound-port 13 --admin-port 14 --control-plane 127.0.0.1:9 ' +
      '--api http://127.0.0.1:8 --drain-seconds 5 --app-ready-path /ready ' +
      '--app-probe-period-ms 1000 --app-probe-timeout-ms 1000 ' +
      '--upstream backend.default:8080=21 --upstream db.data:5432=22',
  );
  const env = appEnv(t, 2, ports, { PATH: '/bin', TRELLIS_LOG_LEVEL: 'debug' });
  assert.equal(env['PATH'], '/bin');
  assert.equal(env['PORT'], '11', 'PORT is the allocated port even if the Workload sets one');
  assert.equal(env['HTTP_PROXY'], 'http://elsewhere:1', 'the Workload may point HTTP_PROXY elsewhere');
  assert.equal(env['http_proxy'], 'http://127.0.0.1:13');
  assert.equal(env['NO_PROXY'], '127.0.0.1,localhost,::1');
  assert.equal(env['TRELLIS_OUTBOUND'], '127.0.0.1:13');
  assert.equal(env['BACKEND_ADDR'], '127.0.0.1:21');
  assert.equal(env['DB'], '127.0.0.1:22');
  assert.equal(env['TRELLIS_WORKLOAD'], 'web');
  assert.equal(env['TRELLIS_REPLICA'], '2');
  assert.equal(env['EXTRA'], 'yes');
  assert.equal(replicaId('shop', 'web', 1), 'web.shop-1');
});

test('launch: a fingerprint ignores replicas; a missing upstream Service blocks', () => {
  const { services, w } = mesh();
  const b = w('backend');
  const t1 = buildLaunchTemplate(b, services, '/m');
  const t2 = buildLaunchTemplate({ ...b, spec: { ...b.spec, replicas: 5 } }, services, '/m');
  const t3 = buildLaunchTemplate({ ...b, spec: { ...b.spec, env: { A: 'b' } } }, services, '/m');
  assert.equal(t1.fingerprint, t2.fingerprint);
  assert.notEqual(t1.fingerprint, t3.fingerprint);
  const noDb = new Map(services);
  noDb.delete('data/db');
  assert.match(
    buildLaunchTemplate(w('web'), noDb, '/m').problem ?? '',
    /upstream Service data\/db does not exist/,
  );
});

test('stop order: callers before the Services they call; cycles in one last wave', () => {
  const { services, w } = mesh();
  const web = buildLaunchTemplate(w('web'), services, '/m');
  const backend = buildLaunchTemplate(w('backend'), services, '/m');
  assert.deepEqual(stopWaves([backend, web]), [['default/web'], ['default/backend']]);
  const loop = { ...backend, upstreams: [{ service: 'web', namespace: 'default', port: 80, env: 'W' }] };
  assert.deepEqual(stopWaves([loop, web]), [['default/backend', 'default/web']]);
});

test('status view: replicas, gateways and recent events, clipped to the width', () => {
  const lines = renderStatus(
    {
      apiUrl: 'http://127.0.0.1:15000',
      xds: '127.0.0.1:15010',
      dataDir: '/tmp/d',
      replicas: [
        {
          id: 'backend-1',
          workload: 'backend',
          namespace: 'default',
          index: 1,
          phase: 'ready',
          restarts: 0,
          appPid: 42,
          appPort: 10001,
          inboundPort: 10002,
          outboundPort: 10003,
          adminPort: 10004,
        },
        {
          id: 'backend-2',
          workload: 'backend',
          namespace: 'default',
          index: 2,
          phase: 'crashed',
          restarts: 3,
          detail: 'app exited with code 1; restart in 4.0 s',
        },
      ],
      gateways: [
        {
          name: 'edge',
          namespace: 'default',
          phase: 'ready',
          restarts: 0,
          pid: 7,
          urls: ['http://127.0.0.1:8080'],
        },
      ],
      events: ['12:00:00 backend-1 ready', `12:00:01 ${'x'.repeat(200)}`],
    },
    100,
  );
  assert.match(lines[0]!, /1\/2 replicas ready/);
  const row1 = lines.find((l) => l.startsWith('backend-1'))!;
  assert.match(row1, /^backend-1\s+ready\s+0\s+42\s+:10001\s+:10002\/:10003\/:10004$/);
  assert.match(
    lines.find((l) => l.startsWith('backend-2'))!,
    /crashed\s+3\s+-\s+-\s+-\s+app exited with code 1/,
  );
  assert.match(
    lines.find((l) => l.startsWith('edge'))!,
    /ready\s+0\s+7\s+http:\/\/127\.0\.0\.1:8080/,
  );
  assert.ok(lines.every((l) => l.length <= 100));
  assert.ok(lines.at(-1)!.endsWith('…'));
});
