// End to end: a real Prometheus (Debian's `prometheus` package) scrapes the admin /stats of a
// sidecar pair (plus a gRPC server sidecar) after known HTTP/1.1 and gRPC traffic, and
// `promtool check metrics` lints every sidecar's exposition. The counters Prometheus returns over
// its HTTP API must match the traffic sent exactly (route / cluster / status labels), and a latency
// quantile computed from the histogram buckets must be a finite number.
// Under CI=true a missing prometheus/promtool fails the test; elsewhere it is skipped with the
// install command (never silently).
import * as grpc from '@grpc/grpc-js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { echoClient, startGrpc, type Echo } from '../integration/h2-grpc-support.js';
import {
  freePort,
  startControlPlaneProcess,
  TRELLIS_BIN,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';
import {
  httpVia,
  spawnTrellisProxy,
  startProxyProcess,
  untilReady,
  type ProxyProcess,
  type TrellisProxyProcess,
} from './helpers/sidecar.js';

const INSTALL =
  'prometheus/promtool not found: apt-get install prometheus (Debian package; .ci/run installs it)';

function hasTool(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0;
}

const toolsPresent = hasTool('prometheus') && hasTool('promtool');
const skip = toolsPresent || process.env['CI'] === 'true' ? false : INSTALL;

const mesh = (httpPort: number, grpcPort: number, gwPort: number): string => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ port: 9080, targetPort: ${httpPort}, protocol: http }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ group: '', kind: Service, name: web, port: 9080 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /b } }]
      backendRefs: [{ name: web, port: 9080 }]
    - backendRefs: [{ name: web, port: 9080 }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: empty }
spec:
  ports: [{ port: 9080, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: inventory }
spec:
  ports: [{ name: grpc, port: 50051, targetPort: ${grpcPort}, protocol: grpc }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners: [{ name: http, port: ${gwPort}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: front }
spec:
  parentRefs: [{ name: edge, sectionName: http }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /g } }]
      backendRefs: [{ name: web, port: 9080 }]
    - backendRefs: [{ name: web, port: 9080 }]
`;

type Cb = (e: grpc.ServiceError | null, r?: Buffer) => void;

function unary(c: Echo, req: string): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) =>
    (c.unary as (r: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: Cb) => void)(
      Buffer.from(req),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err) => resolve(err),
    ),
  );
}

/** Sum of the samples of `name` in a /stats body whose labels include every `want` pair. */
function statValue(text: string, name: string, want: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const labels = line.slice(name.length, line.lastIndexOf(' '));
    if (
      Object.entries(want).every(([k, v]) => [`{${k}="${v}"`, `,${k}="${v}"`].some((x) => labels.includes(x)))
    )
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

describe('a real Prometheus scrapes the sidecars', { timeout: 180_000, skip }, () => {
  let dir = '';
  let cp: ControlPlaneProcess | undefined;
  let web: Server | undefined;
  let grpcApp: { server: grpc.Server; port: number } | undefined;
  const proxies: TrellisProxyProcess[] = [];
  let client: ProxyProcess;
  let webSide: ProxyProcess;
  let invSide: ProxyProcess;
  let gateway: TrellisProxyProcess;
  let gwPort = 0;
  let prom: ChildProcess | undefined;
  const promLogs: string[] = [];
  let promUrl = '';

  async function query(q: string): Promise<PromVector[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`, {
      signal: AbortSignal.timeout(5000),
    });
    const body = (await res.json()) as { status: string; error?: string; data?: { result: PromVector[] } };
    if (body.status !== 'success') throw new Error(`query ${q}: ${body.error ?? res.status}`);
    return body.data!.result;
  }

  /** The single value of a query that must return one sample (NaN when it returns none). */
  async function scalar(q: string): Promise<number> {
    const r = await query(q);
    if (r.length === 0) return NaN;
    assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
    return Number(r[0]!.value[1]);
  }

  before(async () => {
    if (!toolsPresent) throw new Error(INSTALL); // only reached under CI=true
    dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-prom-'));
    web = createServer((req, res) => {
      req.resume();
      res.setHeader('content-type', 'text/plain');
      res.end(req.url === '/healthz' ? 'ok' : 'hello');
    });
    await new Promise<void>((r) => web!.listen(0, '127.0.0.1', r));
    const webPort = (web.address() as AddressInfo).port;
    grpcApp = await startGrpc({
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        if (call.request.toString() === 'fail') cb({ code: grpc.status.NOT_FOUND, details: 'no such item' });
        else cb(null, Buffer.concat([Buffer.from('item:'), call.request]));
      },
      bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.end(),
    });
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data') });
    gwPort = await freePort();
    const applied = await trellis(['apply', '-f', '-'], {
      server: cp.apiUrl,
      input: mesh(webPort, grpcApp.port, gwPort),
    });
    assert.equal(applied.code, 0, applied.stderr);
    const sidecar = async (service: string, appPort: number): Promise<ProxyProcess> => {
      const s = await startProxyProcess({
        service,
        xdsPort: cp!.xdsPort,
        apiUrl: cp!.sidecarApiUrl,
        caBundle: cp!.caBundle,
        appPort,
        args: ['--token-file', await cp!.tokenFile(service)],
      });
      proxies.push(s);
      await untilReady(s, `the ${service} sidecar`);
      return s;
    };
    webSide = await sidecar('web', webPort);
    invSide = await sidecar('inventory', grpcApp.port);
    client = await sidecar('frontend', 0);
    // Warm-up (counted in the baselines below): both upstreams reachable from the client.
    await waitFor(
      'web through the client sidecar',
      async () =>
        (await httpVia(client.outboundPort, 'web:9080', '/warm').catch(() => ({ status: 0 }))).status === 200,
      30_000,
    );
    gateway = await spawnTrellisProxy([
      TRELLIS_BIN,
      'proxy',
      '--gateway',
      'edge',
      '--control-plane',
      `127.0.0.1:${cp.xdsPort}`,
      '--api',
      cp.sidecarApiUrl,
      '--ca-bundle',
      cp.caBundle,
      '--token-file',
      await cp.tokenFile('gateway-edge'),
      '--admin-port',
      '0',
    ]);
    proxies.push(gateway);
    await untilReady(gateway, 'the edge gateway');
    await waitFor(
      'web through the gateway',
      async () =>
        (await httpVia(gwPort, 'shop.example', '/warm').catch(() => ({ status: 0 }))).status === 200,
      30_000,
    );
    const warm = echoClient(client.outboundPort, 'inventory:50051');
    await waitFor(
      'inventory through the client sidecar',
      async () => (await unary(warm, 'w')) === null,
      30_000,
    );
    warm.close();

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const target = (name: string, s: TrellisProxyProcess): string =>
      `  - targets: ['127.0.0.1:${s.adminPort}']\n    labels: { sidecar: ${name} }\n`;
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      `global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }
scrape_configs:
- job_name: trellis
  metrics_path: /stats
  static_configs:
${target('frontend', client)}${target('web', webSide)}${target('inventory', invSide)}${target('edge', gateway)}`,
    );
    prom = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prom.stdout!.on('data', (d: Buffer) => promLogs.push(d.toString()));
    prom.stderr!.on('data', (d: Buffer) => promLogs.push(d.toString()));
    await waitFor(
      'prometheus to be ready',
      async () => {
        if (prom!.exitCode !== null)
          throw new Error(`prometheus exited ${prom!.exitCode}: ${promLogs.join('')}`);
        return (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200;
      },
      30_000,
    );
  });

  after(async () => {
    if (prom && prom.exitCode === null && prom.signalCode === null) {
      const exited = once(prom, 'exit');
      prom.kill('SIGTERM');
      const kill = setTimeout(() => prom!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    }
    await Promise.all(proxies.map((s) => s.stop('SIGKILL')));
    await cp?.stop();
    grpcApp?.server.forceShutdown();
    web?.close();
    web?.closeAllConnections();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every target is up; counters match the traffic; latency quantile is finite', async () => {
    await waitFor(
      'all four targets up with two scrapes each',
      async () => {
        const up = await query('up{job="trellis"}');
        const n = await query('count_over_time(up{job="trellis"}[1m]) >= 2');
        return up.length === 4 && up.every((v) => v.value[1] === '1') && n.length === 4;
      },
      30_000,
    ).catch(async (e: Error) => {
      const targets = await fetch(`${promUrl}/api/v1/targets`).then((r) => r.text());
      throw new Error(`${e.message}\ntargets: ${targets}\nprometheus: ${promLogs.join('')}`);
    });
    for (const v of await query('up{job="trellis"}')) assert.equal(v.value[1], '1', JSON.stringify(v));

    // What each sidecar counted before (the warm-up), straight from /stats; every check below is
    // "Prometheus shows the baseline plus exactly the traffic sent".
    const names = new Map<TrellisProxyProcess, string>([
      [client, 'frontend'],
      [webSide, 'web'],
      [invSide, 'inventory'],
      [gateway, 'edge'],
    ]);
    const checks: {
      sidecar: TrellisProxyProcess;
      name: string;
      q: string;
      metric: string;
      labels: Record<string, string>;
      sent: number;
    }[] = [];
    const check = (
      sidecar: TrellisProxyProcess,
      metric: string,
      labels: Record<string, string>,
      sent: number,
    ): void => {
      const name = names.get(sidecar)!;
      const sel = Object.entries(labels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',');
      checks.push({
        sidecar,
        name,
        metric,
        labels,
        sent,
        q: `sum(${metric}{job="trellis",sidecar="${name}",${sel}})`,
      });
    };
    // web's HTTPRoute: rule 0 (/b..., never used before the traffic below) and rule 1 (the rest).
    const webVh = { direction: 'outbound', vhost: 'trellis_outbound/web:9080' };
    const web = { ...webVh, route: 'HTTPRoute/default/web/rule/1/match/0' };
    const webB = { ...webVh, route: 'HTTPRoute/default/web/rule/0/match/0' };
    const inv = { direction: 'outbound', vhost: 'trellis_outbound/inventory:50051', route: 'default' };
    const empty = { direction: 'outbound', vhost: 'trellis_outbound/empty:9080', route: 'default' };
    // A request that matched no route has empty vhost/route labels (absent labels in Prometheus).
    const noRoute = { direction: 'outbound', vhost: '', route: '' };
    check(client, 'trellis_requests_total', { ...web, status_class: '2xx' }, 7);
    check(client, 'trellis_requests_total', { ...web, status_class: '5xx' }, 0);
    check(client, 'trellis_requests_total', { ...webB, status_class: '2xx' }, 3);
    check(client, 'trellis_requests_total', { ...noRoute, status_class: '4xx' }, 3);
    check(client, 'trellis_requests_total', { ...empty, status_class: '5xx' }, 2);
    check(client, 'trellis_requests_total', { ...inv, status_class: '2xx' }, 5);
    check(client, 'trellis_grpc_responses_total', { ...inv, grpc_status: '0' }, 4);
    check(client, 'trellis_grpc_responses_total', { ...inv, grpc_status: '5' }, 1);
    check(client, 'trellis_request_duration_seconds_count', web, 7);
    check(
      client,
      'trellis_upstream_requests_total',
      { cluster: 'outbound|9080||web.default', status_class: '2xx' },
      10,
    );
    check(
      client,
      'trellis_upstream_requests_total',
      { cluster: 'outbound|50051||inventory.default', status_class: '2xx' },
      5,
    );
    check(
      client,
      'trellis_upstream_request_duration_seconds_count',
      { cluster: 'outbound|9080||web.default' },
      10,
    );
    // The gateway's route rule 0 (/g..., never used before the traffic) to web.
    const gwRoute = { route: 'HTTPRoute/default/front/rule/0/match/0' };
    check(gateway, 'trellis_requests_total', { ...gwRoute, status_class: '2xx' }, 4);
    check(gateway, 'trellis_upstream_requests_total', { status_class: '2xx' }, 4);
    check(webSide, 'trellis_requests_total', { direction: 'inbound', status_class: '2xx' }, 14);
    check(webSide, 'trellis_upstream_requests_total', { status_class: '2xx' }, 14);
    check(invSide, 'trellis_requests_total', { direction: 'inbound', status_class: '2xx' }, 5);
    check(invSide, 'trellis_grpc_responses_total', { direction: 'inbound', grpc_status: '5' }, 1);
    const bodies = async (): Promise<Map<TrellisProxyProcess, string>> =>
      new Map(
        await Promise.all([...names.keys()].map(async (s) => [s, (await s.admin('/stats')).body] as const)),
      );
    const base = await bodies();
    const baseline = checks.map((c) => statValue(base.get(c.sidecar)!, c.metric, c.labels));

    // Traffic: 7 + 3 × 200 from web (two routes), 4 × 200 from web through the gateway, 3 × 404 (no route), 2 × 503 (a Service without endpoints),
    // 4 gRPC OK and 1 gRPC NOT_FOUND from inventory.
    for (let i = 0; i < 7; i++)
      assert.equal((await httpVia(client.outboundPort, 'web:9080', `/a${i}`)).status, 200);
    for (let i = 0; i < 3; i++)
      assert.equal((await httpVia(client.outboundPort, 'web:9080', `/b/${i}`)).status, 200);
    for (let i = 0; i < 3; i++) {
      const r = await httpVia(client.outboundPort, 'nowhere:9080', '/x');
      assert.equal(r.status, 404, r.body);
    }
    for (let i = 0; i < 2; i++) {
      const r = await httpVia(client.outboundPort, 'empty:9080', '/x');
      assert.equal(r.status, 503, r.body);
    }
    const g = echoClient(client.outboundPort, 'inventory:50051');
    for (let i = 0; i < 4; i++) assert.equal(await unary(g, `i${i}`), null);
    assert.equal((await unary(g, 'fail'))?.code, grpc.status.NOT_FOUND);
    g.close();
    for (let i = 0; i < 4; i++) assert.equal((await httpVia(gwPort, 'shop.example', `/g/${i}`)).status, 200);

    // /stats itself counts exactly the traffic.
    const now = await bodies();
    const want = checks.map((c, i) => baseline[i]! + c.sent);
    checks.forEach((c, i) =>
      assert.equal(
        statValue(now.get(c.sidecar)!, c.metric, c.labels),
        want[i],
        `/stats of ${c.name}: ${c.q}`,
      ),
    );
    // Prometheus, scraping every second, returns the same numbers over PromQL.
    await waitFor(
      'prometheus to scrape the counts',
      async () => {
        const v = await Promise.all(checks.map((c) => scalar(c.q)));
        return v.every((x, i) => x === want[i]) || undefined;
      },
      20_000,
    ).catch(() => undefined); // the assertions below say which one differs
    const values = await Promise.all(checks.map((c) => scalar(c.q)));
    checks.forEach((c, i) => assert.equal(values[i], want[i], `prometheus: ${c.q}`));

    // Prometheus ingested every sample: no duplicate series (same timestamp, other value), none out
    // of order or out of bounds, no scrape ever failed.
    const own = await fetch(`${promUrl}/metrics`).then((r) => r.text());
    for (const m of [
      'prometheus_target_scrapes_sample_duplicate_timestamp_total',
      'prometheus_target_scrapes_sample_out_of_order_total',
      'prometheus_target_scrapes_sample_out_of_bounds_total',
      'prometheus_target_scrapes_exceeded_sample_limit_total',
    ])
      assert.equal(statValue(own, m, {}), 0, `${m} in prometheus's own /metrics`);
    assert.equal(await scalar('min(min_over_time(up{job="trellis"}[5m]))'), 1, 'a scrape failed');
    assert.ok((await scalar('min(scrape_samples_scraped{job="trellis"})')) > 50, 'samples per scrape');

    // Latency quantiles from the histogram buckets: finite, positive, below the top bucket.
    for (const q of [
      'histogram_quantile(0.5, sum by (le) (rate(trellis_request_duration_seconds_bucket{sidecar="frontend",direction="outbound"}[1m])))',
      'histogram_quantile(0.5, sum by (le) (rate(trellis_upstream_request_duration_seconds_bucket{sidecar="frontend"}[1m])))',
      'histogram_quantile(0.99, sum by (le) (rate(trellis_request_duration_seconds_bucket{sidecar="web",direction="inbound"}[1m])))',
      // The gateway's /g route saw its first request after Prometheus's first scrapes.
      `histogram_quantile(0.5, sum by (le) (rate(trellis_request_duration_seconds_bucket{sidecar="edge",route="${gwRoute.route}"}[1m])))`,
    ]) {
      const v = await scalar(q);
      assert.ok(Number.isFinite(v) && v > 0 && v <= 30, `${q} = ${v}`);
    }
    // Per route and upstream, too (one series per route / cluster that saw traffic).
    const perRoute = await query(
      'histogram_quantile(0.5, sum by (le, vhost, route) (rate(trellis_request_duration_seconds_bucket{sidecar="frontend",direction="outbound"}[1m])))',
    );
    const finite = perRoute
      .filter((r) => Number.isFinite(Number(r.value[1])))
      .map((r) => `${r.metric['vhost'] ?? ''} ${r.metric['route'] ?? ''}`);
    // Every route of a virtual host the sidecar knew before the traffic has a quantile, including
    // web's rule 0, never requested before: its series are made at 0 when the config arrives, so
    // rate() sees its first requests. (A virtual host discovered on demand (VHDS) by its first
    // request, like empty:9080 here, only has series from that request on: its first increments
    // come before Prometheus's first sample of it, as for any new series.)
    for (const r of [
      `${web.vhost} ${web.route}`,
      `${webB.vhost} ${webB.route}`,
      `${inv.vhost} ${inv.route}`,
      ' ', // no route
    ])
      assert.ok(finite.includes(r), `p50 for "${r}": ${JSON.stringify(perRoute)}`);
  });

  test('promtool check metrics: the exposition of every sidecar (after the traffic) lints clean', async () => {
    for (const [name, s] of [
      ['frontend', client],
      ['web', webSide],
      ['inventory', invSide],
      ['edge', gateway],
    ] as const) {
      const stats = await s.admin('/stats');
      assert.equal(stats.status, 200);
      assert.match(stats.type, /^text\/plain; version=0\.0\.4/);
      const r = spawnSync('promtool', ['check', 'metrics'], {
        input: stats.body,
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(
        r.status,
        0,
        `promtool check metrics on the ${name} sidecar's /stats: exit ${r.status}\n${r.stdout}${r.stderr}`,
      );
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '', `promtool output for ${name}`);
    }
  });
});
