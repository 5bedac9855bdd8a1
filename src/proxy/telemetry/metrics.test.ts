// The allocation-free registry: text exposition format, cumulative buckets, label escaping; the
// data plane's families (route priming) and a promtool lint of the whole exposition.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import type { ProxyConfig, RouteConfig, RouteTableConfig, VirtualHostConfig } from '../config/types.js';
import { DataPlaneMetrics } from './data-plane-metrics.js';
import { MetricsRegistry, sampleValue } from './metrics.js';
import { tcpMetrics } from './tcp-metrics.js';

describe('MetricsRegistry', () => {
  it('renders counters, gauges and cumulative histograms', () => {
    const r = new MetricsRegistry();
    const c = r.counter('t_requests_total', 'Requests', ['route']).labels('a"b\\');
    c.inc();
    c.inc(2);
    r.gauge('t_open', 'Open', []).labels().inc(5);
    const h = r.histogram('t_seconds', 'Latency', ['cluster'], [0.1, 1]).labels('c');
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    const text = r.render();
    assert.match(text, /# TYPE t_requests_total counter\nt_requests_total\{route="a\\"b\\\\"\} 3\n/);
    assert.match(text, /\nt_open 5\n/);
    assert.match(text, /t_seconds_bucket\{cluster="c",le="0.1"\} 1\n/);
    assert.match(text, /t_seconds_bucket\{cluster="c",le="1"\} 2\n/);
    assert.match(text, /t_seconds_bucket\{cluster="c",le="\+Inf"\} 3\n/);
    assert.match(text, /t_seconds_count\{cluster="c"\} 3\n/);
  });

  it('resolves a label set to the same series object', () => {
    const f = new MetricsRegistry().counter('x', 'x', ['a']);
    assert.equal(f.labels('1'), f.labels('1'));
    assert.notEqual(f.labels('1'), f.labels('2'));
  });
});

describe('exposition details', () => {
  it('escapes HELP text and spells infinities as the text format does', () => {
    const r = new MetricsRegistry();
    r.gauge('t_g', 'a \\ b\nc "q"', []).labels().set(Infinity);
    r.gauge('t_h', 'h', ['x']).labels('1').set(-Infinity);
    const text = r.render();
    assert.match(text, /^# HELP t_g a \\\\ b\\nc "q"\n/);
    assert.match(text, /\nt_g \+Inf\n/);
    assert.match(text, /\nt_h\{x="1"\} -Inf\n/);
    assert.equal(sampleValue(NaN), 'NaN');
  });

  it('a name registered twice is one family; a different shape under one name throws', () => {
    const r = new MetricsRegistry();
    const a = r.counter('t_total', 'T', ['a']);
    assert.equal(r.counter('t_total', 'T', ['a']), a);
    assert.equal(r.render().match(/# TYPE t_total/g)?.length, 1);
    assert.throws(() => r.gauge('t_total', 'T', ['a']), /t_total registered twice with different shapes/);
    assert.throws(() => r.counter('t_total', 'T', ['b']), /registered twice/);
    assert.throws(() => r.counter('t-x', 'T', []), /metric name "t-x"/);
    assert.throws(() => r.histogram('t_s', 'T', ['le']), /label name "le"/);
  });
});

describe('DataPlaneMetrics', () => {
  it('primeRoutes exposes every route of the config at 0 before its first request', () => {
    const m = new DataPlaneMetrics();
    const route = (name: string): RouteConfig => ({ name }) as unknown as RouteConfig;
    const vh = {
      name: 'vh',
      domains: ['a'],
      routes: [route('r0'), route('r1')],
    } as unknown as VirtualHostConfig;
    const table = { name: 't', virtualHosts: [vh] } as unknown as RouteTableConfig;
    const config = {
      listeners: new Map([
        ['out', { direction: 'outbound', routeSource: { type: 'rds', routeConfigName: 't' } }],
        ['in', { direction: 'inbound', routeSource: { type: 'inline', routeTable: table } }],
        ['tcp', { direction: 'inbound', mode: 'tcp', routeSource: { type: 'rds', routeConfigName: 'gone' } }],
      ]),
      routeTables: new Map([['t', table]]),
    } as unknown as ProxyConfig;
    m.primeRoutes(config);
    const text = m.render();
    for (const d of ['outbound', 'inbound'])
      for (const r of ['r0', 'r1']) {
        assert.match(
          text,
          new RegExp(
            `\\ntrellis_requests_total\\{direction="${d}",vhost="vh",route="${r}",status_class="2xx"\\} 0\\n`,
          ),
        );
        assert.match(
          text,
          new RegExp(
            `\\ntrellis_request_duration_seconds_count\\{direction="${d}",vhost="vh",route="${r}"\\} 0\\n`,
          ),
        );
      }
    // The same objects the request path resolves (no second series).
    m.direction('outbound').route(vh, vh.routes[0]!).record(200, 0.001);
    assert.match(
      m.render(),
      /\ntrellis_requests_total\{direction="outbound",vhost="vh",route="r0",status_class="2xx"\} 1\n/,
    );
  });
});

describe('gRPC response counters', () => {
  it('keeps the gRPC codes and -1; any other grpc-status is counted as other (bounded series)', () => {
    const d = new DataPlaneMetrics().direction('outbound');
    assert.equal(d.grpc('v', 'r', '0'), d.grpc('v', 'r', '0'));
    assert.notEqual(d.grpc('v', 'r', '0'), d.grpc('v', 'r2', '0'));
    d.grpc('v', 'r', '16').inc();
    d.grpc('v', 'r', '-1').inc();
    for (let i = 0; i < 1000; i++) d.grpc('v', 'r', `bogus-${i}`).inc();
    d.grpc('v', 'r', '17').inc();
    d.grpc('v', 'r', ' 0').inc();
    assert.equal(d.grpc('v', 'r', 'x'), d.grpc('v', 'r', '99'));
  });

  it('renders them', () => {
    const m = new DataPlaneMetrics();
    const d = m.direction('inbound');
    d.grpc('v', 'r', 'nope').inc(3);
    d.grpc('v', 'r', '5').inc();
    const text = m.render();
    assert.match(
      text,
      /\ntrellis_grpc_responses_total\{direction="inbound",vhost="v",route="r",grpc_status="other"\} 3\n/,
    );
    assert.match(
      text,
      /\ntrellis_grpc_responses_total\{direction="inbound",vhost="v",route="r",grpc_status="5"\} 1\n/,
    );
    assert.equal(text.match(/grpc_status=/g)?.length, 2);
  });
});

// The whole data plane exposition (HTTP, gRPC, TCP, escaped label values) through promtool's
// parser and linter, when Debian's prometheus package is installed (CI installs it).
describe('promtool check metrics', () => {
  const present = spawnSync('promtool', ['--version'], { timeout: 10_000 }).status === 0;
  const skip =
    present || process.env['CI'] === 'true'
      ? false
      : 'promtool not found: apt-get install prometheus (Debian package; .ci/run installs it)';
  it('lints a full data plane exposition clean', { skip }, () => {
    assert.ok(present, 'promtool not found: apt-get install prometheus');
    const m = new DataPlaneMetrics();
    const d = m.direction('outbound');
    const vh = { name: 'out/"odd"\\vhost\nx' } as unknown as VirtualHostConfig;
    d.route(vh, { name: 'r' } as unknown as RouteConfig).record(503, 0.2);
    d.noRoute.record(404, 0.0001);
    d.grpc('vh', 'r', '0').inc();
    m.cluster('outbound|80||a.default').record(200, 0.01);
    m.listenerConnections('l', 'outbound').inc();
    const t = tcpMetrics(m).stats('tcp.db', 'outbound|5432||db.default');
    t.connections.inc();
    t.bytesSent.inc(10);
    t.error('connect_failed');
    const r = spawnSync('promtool', ['check', 'metrics'], {
      input: m.render(),
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '');
  });
});
