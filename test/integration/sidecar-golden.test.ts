// The data plane running what the control plane really sends: the sidecar translate golden,
// decoded by src/proxy/config, with ports and endpoint addresses pointed at local fake apps.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  decodeClusterLoadAssignmentResource,
  decodeClusterResource,
  decodeListenerResource,
  decodeRouteConfigurationResource,
  decodeVirtualHostResource,
} from '../../src/proxy/config/decode.js';
import { buildRouteTable } from '../../src/proxy/config/decode-route.js';
import type {
  ClusterConfig,
  ClusterEndpointsConfig,
  ListenerConfig,
  ProxyConfig,
  VirtualHostConfig,
} from '../../src/proxy/config/types.js';
import type { Result } from '../../src/common/result.js';
import { createDataPlane } from '../../src/proxy/create-data-plane.js';
import { silentLogger } from '../../src/common/logger.js';
import { RawClient, startApp } from './sidecar-harness.js';

type Golden = Record<'LDS' | 'RDS' | 'VHDS' | 'CDS' | 'EDS', Record<string, unknown>>;

function must<T>(r: Result<T, { message: string }>): T {
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function retarget(e: ClusterEndpointsConfig, port: number): ClusterEndpointsConfig {
  return {
    clusterName: e.clusterName,
    endpoints: e.endpoints.map((x) => ({ ...x, address: '127.0.0.1', port, id: `127.0.0.1:${port}` })),
  };
}

describe('sidecar h1: translate golden (sidecar.yaml)', { timeout: 30_000 }, () => {
  it('routes outbound by on-demand virtual host and inbound to the local app', async () => {
    const g = JSON.parse(
      readFileSync(new URL('../../../test/fixtures/translate/sidecar.golden.json', import.meta.url), 'utf8'),
    ) as Golden;
    const local = await startApp('productpage');
    const reviews = await startApp('reviews');
    const listeners = new Map<string, ListenerConfig>();
    for (const j of Object.values(g.LDS)) {
      const l = must(decodeListenerResource(j));
      listeners.set(l.name, { ...l, port: 0 });
    }
    const clusters = new Map<string, ClusterConfig>();
    const endpoints = new Map<string, ClusterEndpointsConfig>();
    for (const j of Object.values(g.CDS)) {
      const c = must(decodeClusterResource(j));
      const la = c.loadAssignment && retarget(c.loadAssignment, local.port);
      clusters.set(c.name, la ? { ...c, loadAssignment: la } : c);
      if (la) endpoints.set(c.name, la);
    }
    for (const j of Object.values(g.EDS)) {
      const e = retarget(must(decodeClusterLoadAssignmentResource(j)), reviews.port);
      endpoints.set(e.clusterName, e);
    }
    const vhds = new Map<string, VirtualHostConfig>();
    for (const j of Object.values(g.VHDS)) {
      const v = must(decodeVirtualHostResource(j));
      vhds.set(v.name, v);
    }
    const rc = must(decodeRouteConfigurationResource(Object.values(g.RDS)[0]));
    const config = (held: VirtualHostConfig[]): ProxyConfig => ({
      versions: {},
      listeners,
      routeTables: new Map([[rc.name, buildRouteTable(rc.name, rc.onDemand, [...rc.virtualHosts, ...held])]]),
      clusters,
      endpoints,
    });
    const asked: string[] = [];
    const held: VirtualHostConfig[] = [];
    const dp = createDataPlane({
      nodeId: 'reviews-1',
      logger: silentLogger(),
      requestVirtualHost: async (host) => {
        asked.push(host);
        const v = vhds.get(`${rc.name}/${host}`);
        if (v !== undefined) {
          held.push(v);
          await dp.apply(config(held));
        }
        return v;
      },
    });
    await dp.apply(config(held));
    const out = new RawClient(dp.boundPorts().get('trellis_outbound')!);
    const r = await out.get('/reviews/1', 'reviews:9080', 'x-trellis-spoof: 1\r\n');
    assert.equal(r.status, 200, r.body);
    const j = JSON.parse(r.body);
    assert.equal(j.app, 'reviews');
    assert.equal(j.headers['x-trellis-spoof'], undefined);
    assert.deepEqual(asked, ['reviews:9080']);
    const miss = await out.get('/', 'ratings:9080');
    assert.equal(miss.status, 404);
    assert.match(miss.headers['x-trellis-error'] ?? '', /^NO_ROUTE; sidecar=reviews-1$/);
    const inbound = new RawClient(dp.boundPorts().get('trellis_inbound')!);
    const i = await inbound.get('/', 'productpage:9080');
    assert.equal(JSON.parse(i.body).app, 'productpage');
    out.close();
    inbound.close();
    await dp.close();
    await local.close();
    await reviews.close();
  });
});
