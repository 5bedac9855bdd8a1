// tcp_proxy and passive health over real sockets: a cluster of a closed port and a live echo
// server; the connection that meets the closed port fails, the endpoint is ejected (counted in
// trellis_upstream_ejections_total), and the next connections all go to the live endpoint.
import assert from 'node:assert/strict';
import { connect, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/common/logger.js';
import { buildRouteTable } from '../../src/proxy/config/decode-route.js';
import type { ListenerConfig, ProxyConfig } from '../../src/proxy/config/types.js';
import { createDataPlane } from '../../src/proxy/create-data-plane.js';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import { endpoint, listen, closedPort } from './sidecar-harness.js';

/** One connection: sends `ping`, true when it comes back echoed, false when the proxy closes it. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 5000);
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got === 'ping') done(true);
    });
    s.on('close', () => done(got === 'ping'));
    s.write('ping');
  });
}

describe('tcp_proxy: connect failures eject the endpoint (passive health)', { timeout: 30_000 }, () => {
  let dp: DataPlane;
  let echo: { server: Server; port: number };
  let port = 0;

  before(async () => {
    echo = await listen((s) => s.pipe(s));
    const listener: ListenerConfig = {
      name: 'up-mixed',
      direction: 'outbound',
      address: '127.0.0.1',
      port: 0,
      statPrefix: 'up-mixed',
      codec: 'auto',
      routeSource: { type: 'inline', routeTable: buildRouteTable('up-mixed', false, []) },
      mode: 'tcp',
      tcpProxy: { statPrefix: 'up-mixed', cluster: 'mixed', idleTimeoutMs: 60_000 },
    };
    const cfg: ProxyConfig = {
      versions: {},
      listeners: new Map([['up-mixed', listener]]),
      routeTables: new Map(),
      clusters: new Map([
        [
          'mixed',
          {
            name: 'mixed',
            discovery: 'eds',
            edsServiceName: 'mixed',
            lbPolicy: 'ROUND_ROBIN',
            protocol: 'http1',
            connectTimeoutMs: 2000,
          },
        ],
      ]),
      endpoints: new Map([
        ['mixed', { clusterName: 'mixed', endpoints: [endpoint(await closedPort()), endpoint(echo.port)] }],
      ]),
    };
    dp = createDataPlane({
      nodeId: 'tcp-health',
      requestVirtualHost: async () => undefined,
      logger: silentLogger(),
    });
    await dp.apply(cfg);
    port = dp.boundPorts().get('up-mixed') as number;
  });

  after(async () => {
    await dp.close();
    echo.server.close();
  });

  it('one connection meets the refusing endpoint; the next ones all reach the live one', async () => {
    const results: boolean[] = [];
    for (let i = 0; i < 8; i++) results.push(await ping(port));
    // Round robin alternates between the two endpoints: without passive health, every other
    // connection would fail (4 of 8).
    assert.equal(results.filter((ok) => !ok).length, 1, `results: ${results.join(',')}`);
    assert.ok(results.indexOf(false) <= 1, 'the refusing endpoint was met within the first two picks');
    const m = dp.renderMetrics();
    assert.match(m, /trellis_upstream_ejections_total\{[^}]*cluster="mixed"[^}]*\} 1/);
    assert.match(
      m,
      /trellis_tcp_errors_total\{stat_prefix="up-mixed",cluster="mixed",reason="connect_failed"\} 1/,
    );
  });
});
