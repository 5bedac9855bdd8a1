// Route retry policies and passive health over real sockets: a 503 retried on the other endpoint,
// a reset before any response retried with the body replayed, no retry of a big body or after
// response bytes, the attempt count header, counters in /stats, and a refusing endpoint ejected.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RETRY_ON, type RetryPolicy, type RouteConfig } from '../../src/proxy/config/types.js';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import {
  buildConfig,
  rawExchange,
  route,
  startApp,
  startPlane,
  startRaw,
  vhost,
  type FakeApp,
  closedPort,
} from './sidecar-harness.js';

const POLICY: RetryPolicy = {
  numRetries: 2,
  on: RETRY_ON.connectFailure | RETRY_ON.reset | RETRY_ON.retriableStatusCodes,
  statusCodes: [503],
  grpcStatuses: [],
  baseIntervalMs: 1,
  maxIntervalMs: 10,
  perTryTimeoutMs: 0,
};

function retrying(name: string, prefix: string, cluster: string): RouteConfig {
  const r = route(name, prefix, [{ name: cluster, weight: 1 }]);
  return {
    ...r,
    action: { ...(r.action as Extract<RouteConfig['action'], { type: 'forward' }>), retry: POLICY },
  };
}

const post = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nhost: svc\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
const getReq = (path: string) => `GET ${path} HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n`;

describe('sidecar retries', { timeout: 30_000 }, () => {
  let good: FakeApp;
  let bad: FakeApp;
  let closer: Awaited<ReturnType<typeof startRaw>>;
  let partial: Awaited<ReturnType<typeof startRaw>>;
  let closerConns = 0;
  let partialConns = 0;
  let dp: DataPlane;
  let port: number;
  before(async () => {
    good = await startApp('good');
    bad = await startApp('bad', (_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    // Reads the request, then closes without answering (a replica killed mid-request).
    closer = await startRaw((s) => {
      closerConns++;
      s.once('data', () => s.destroy());
    });
    // Answers a response head and part of the body, then dies.
    partial = await startRaw((s) => {
      partialConns++;
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf');
        setTimeout(() => s.destroy(), 20);
      });
    });
    const dead = await closedPort();
    const cfg = buildConfig({
      vhosts: [
        vhost(
          'svc',
          ['svc'],
          [
            retrying('status', '/status', 'mixed'),
            retrying('onlybad', '/onlybad', 'bad'),
            retrying('closer', '/closer', 'closing'),
            retrying('partial', '/partial', 'partial'),
            route('plain', '/dead', [{ name: 'dead', weight: 1 }]),
          ],
        ),
      ],
      clusters: {
        mixed: [bad.port, good.port],
        bad: [bad.port],
        closing: [closer.port, good.port],
        partial: [partial.port],
        dead: [dead, good.port],
      },
    });
    ({ dp, port } = await startPlane(cfg));
  });
  after(async () => {
    await dp.close();
    await good.close();
    await bad.close();
    await closer.close();
    await partial.close();
  });

  it('retries a 503 on the other endpoint, with the attempt count upstream', async () => {
    const goodBefore = good.requests.length;
    for (let i = 0; i < 6; i++) {
      const { responses } = await rawExchange(port, getReq(`/status/${i}`));
      assert.equal(responses[0]?.status, 200, JSON.stringify(responses[0]));
    }
    const seen = good.requests.slice(goodBefore);
    assert.equal(seen.length, 6);
    const retried = seen.filter((r) => r.headers['x-trellis-attempt-count'] === '2');
    assert.ok(retried.length >= 1, 'round robin sent some requests to the 503 endpoint first');
    assert.ok(seen.every((r) => r.headers['x-trellis-attempt-count'] !== '1'));
    assert.match(dp.renderMetrics(), /trellis_upstream_retries_total\{cluster="mixed"\} [1-9]/);
    assert.match(
      dp.renderMetrics(),
      /trellis_retries_total\{direction="outbound",vhost="svc",route="status"\} [1-9]/,
    );
  });

  it('gives the last 503 to the client when retries are used up', async () => {
    const before = bad.requests.length;
    const { responses } = await rawExchange(port, post('/onlybad', 'small body'));
    assert.equal(responses[0]?.status, 503);
    assert.equal(responses[0]?.body, 'busy');
    assert.equal(bad.requests.length - before, 3, 'first attempt + 2 retries');
    assert.ok(
      bad.requests.slice(before).every((r) => r.body === 'small body'),
      'the body was replayed',
    );
  });

  it('does not retry a request whose body is bigger than 64 KiB', async () => {
    const before = bad.requests.length;
    const body = 'x'.repeat(100 * 1024);
    const { responses } = await rawExchange(port, post('/onlybad', body));
    assert.equal(responses[0]?.status, 503);
    assert.equal(bad.requests.length - before, 1);
  });

  it('retries a POST when the upstream closes before answering, replaying its body', async () => {
    const goodBefore = good.requests.length;
    for (let i = 0; i < 4; i++) {
      const { responses } = await rawExchange(port, post('/closer', `order-${i}`));
      assert.equal(responses[0]?.status, 200, JSON.stringify(responses[0]));
      assert.equal(JSON.parse(responses[0]?.body ?? '{}').body, `order-${i}`);
    }
    assert.equal(good.requests.length - goodBefore, 4);
    assert.ok(closerConns >= 1);
  });

  it('never retries once response bytes went to the client', async () => {
    const { responses, raw, closed } = await rawExchange(port, getReq('/partial'));
    assert.ok(closed);
    assert.equal(responses.length, 0, 'the cut response is not complete');
    assert.match(raw, /^HTTP\/1\.1 200 OK/);
    assert.equal(partialConns, 1);
  });

  it('ejects an endpoint that refuses connections (passive health)', async () => {
    const metric = (name: string) =>
      Number(new RegExp(`${name}\\{cluster="dead"\\} (\\d+)`).exec(dp.renderMetrics())?.[1] ?? 0);
    for (let i = 0; i < 8; i++) {
      const { responses } = await rawExchange(port, getReq('/dead'));
      assert.equal(responses[0]?.status, 200);
    }
    assert.equal(metric('trellis_upstream_ejections_total'), 1);
    assert.equal(metric('trellis_upstream_connect_errors_total'), 1, 'the dead endpoint was tried once');
    const cluster = (dp.clustersStatus() as { name: string; endpoints: { available: boolean }[] }[]).find(
      (c) => c.name === 'dead',
    );
    assert.deepEqual(
      cluster?.endpoints.map((e) => e.available),
      [false, true],
    );
  });
});
