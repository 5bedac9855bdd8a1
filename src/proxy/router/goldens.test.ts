// End to end on what the control plane really sends: translate goldens through the wire codec and
// the proxy's decoders into route tables, then routing decisions on them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeResource, encodeResource } from '../../xds/any.js';
import { ROUTE_TYPE, VIRTUAL_HOST_TYPE } from '../../xds/type-urls.js';
import { buildRouteTable } from '../config/decode-route.js';
import { type RouteConfigurationConfig, decoderFor } from '../config/decode.js';
import type { RouteTableConfig, VirtualHostConfig } from '../config/types.js';
import { applyRequestHeaderMutations, applyResponseHeaderMutations } from './headers.js';
import { matchRoute } from './match-route.js';
import { type Obj, never, req, seeded } from './test-support.js';
import type { RouteDecision } from './types.js';

const dir = fileURLToPath(new URL('../../../../test/fixtures/translate/', import.meta.url));
const golden = (name: string): Record<string, Record<string, Obj>> =>
  JSON.parse(readFileSync(join(dir, `${name}.golden.json`), 'utf8')) as Record<string, Record<string, Obj>>;

function decode<T>(typeUrl: string, r: Obj): T {
  const res = decoderFor(typeUrl)?.(decodeResource(encodeResource(r)));
  assert.ok(res?.ok, res && !res.ok ? res.error.message : 'no decoder');
  return res.value as T;
}

/** The sidecar's outbound table: the RDS table (VHDS) with every on-demand virtual host merged in. */
function sidecarTable(name: string): RouteTableConfig {
  const g = golden(name);
  const rc = decode<RouteConfigurationConfig>(ROUTE_TYPE, g['RDS']!['trellis_outbound']!);
  assert.ok(rc.onDemand);
  const vhosts = Object.values(g['VHDS'] ?? {}).map((v) => decode<VirtualHostConfig>(VIRTUAL_HOST_TYPE, v));
  return buildRouteTable(rc.name, rc.onDemand, [...rc.virtualHosts, ...vhosts]);
}

const name = (d: RouteDecision): string => (d.type === 'no_route' ? `no_route:${d.reason}` : d.route.name);

describe('routing on translated config', () => {
  it('sidecar.golden: reviews by every domain form, unknown hosts explained', () => {
    const t = sidecarTable('sidecar');
    for (const host of ['reviews', 'reviews:9080', 'Reviews.Default.svc.cluster.local:9080']) {
      const d = matchRoute(t, req(host, '/x?y=1'), never);
      assert.ok(d.type === 'forward', `${host}: ${JSON.stringify(d)}`);
      assert.equal(d.cluster, 'outbound|9080||reviews.default');
      assert.equal(d.path, '/x?y=1');
      assert.equal(d.timeoutMs, 0);
    }
    const miss = matchRoute(t, req('reviewz:9080', '/'), never);
    assert.ok(miss.type === 'no_route' && miss.reason === 'no_virtual_host');
    assert.match(miss.detail, /"reviewz:9080" in route table trellis_outbound/);
  });

  it('weighted-split-http.golden: the header match wins, else an 80/20 split', () => {
    const g = golden('weighted-split-http');
    const rc = decode<RouteConfigurationConfig>(ROUTE_TYPE, g['RDS']!['reviews.default:9080']!);
    const t = buildRouteTable(rc.name, rc.onDemand, rc.virtualHosts);
    const canary = matchRoute(t, req('reviews.default:9080', '/r', 'GET', ['x-tester', 'yes']), never);
    assert.ok(canary.type === 'forward');
    assert.equal(canary.cluster, 'outbound|9080||reviews-canary.default');
    const rnd = seeded(1);
    let v1 = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const d = matchRoute(t, req('reviews', '/r', 'GET', ['x-tester', 'no']), rnd);
      assert.ok(d.type === 'forward');
      if (d.cluster === 'outbound|9080|v1|reviews.default') v1++;
      else assert.equal(d.cluster, 'outbound|9080|v2|reviews.default');
    }
    assert.ok(Math.abs(v1 / n - 0.8) < 0.01, String(v1));
    const none = matchRoute(
      buildRouteTable(rc.name, false, [{ ...rc.virtualHosts[0]!, routes: [] }]),
      req('reviews', '/x'),
      never,
    );
    assert.deepEqual(none, {
      type: 'no_route',
      reason: 'no_route_match',
      detail: 'no route on reviews.default:9080 matched GET /x',
    });
  });

  it('matches-sidecar.golden: exact, regex, path-separated prefix, method + header, query', () => {
    const t = sidecarTable('matches-sidecar');
    const cases: [string, string, string[], string][] = [
      ['GET', '/healthz', [], 'HTTPRoute/default/web/rule/0/match/1'],
      ['POST', '/v2/items', [], 'HTTPRoute/default/web/rule/0/match/2'],
      ['POST', '/api', [], 'HTTPRoute/default/web/rule/0/match/0'],
      ['POST', '/api/x?q', [], 'HTTPRoute/default/web/rule/0/match/0'],
      ['POST', '/apix', ['x-user', 'admin-7'], 'HTTPRoute/default/web/rule/1/match/0'],
      ['POST', '/apix', ['x-user', 'guest'], 'no_route:no_route_match'],
      ['GET', '/apix', [], 'HTTPRoute/default/web/rule/1/match/1'],
      ['PUT', '/p?debug=1', [], 'HTTPRoute/default/web/rule/1/match/2'],
      ['PUT', '/p?debug=0', [], 'no_route:no_route_match'],
    ];
    for (const [method, path, headers, want] of cases)
      assert.equal(
        name(matchRoute(t, req('web:8080', path, method, headers), never)),
        want,
        `${method} ${path}`,
      );
  });

  it('filters.golden: redirect, regex strip, direct response, rewrites, mirror and headers', () => {
    const g = golden('filters');
    const v = decode<VirtualHostConfig>(VIRTUAL_HOST_TYPE, g['VHDS']!['trellis_outbound/api.default']!);
    const t = buildRouteTable('trellis_outbound', true, [v]);
    const rd = matchRoute(t, req('api', '/old?x=1'), never);
    assert.deepEqual(rd.type === 'redirect' && [rd.status, rd.location], [
      301,
      'https://api.example.com/new?x=1',
    ]);
    const strip = matchRoute(t, req('api', '/strip/a/b?c'), never);
    assert.ok(strip.type === 'forward');
    assert.equal(strip.path, '/a/b?c');
    const gone = matchRoute(t, req('api:80', '/gone/x'), never);
    assert.ok(gone.type === 'direct_response' && gone.status === 500 && gone.body === '');
    const v1 = matchRoute(t, req('api.default', '/v1/users?id=3'), () => 0.1);
    assert.ok(v1.type === 'forward');
    assert.deepEqual(
      [v1.cluster, v1.path, v1.authority, v1.mirrors],
      ['outbound|80||api.default', '/v2/users?id=3', 'api.internal', ['outbound|80||api-shadow.default']],
    );
    const unmirrored = matchRoute(t, req('api', '/v1'), () => 0.5);
    assert.ok(unmirrored.type === 'forward');
    assert.deepEqual([unmirrored.path, unmirrored.mirrors], ['/v2', []]);
    const headers = ['x-debug', '1', 'x-api-version', '0'];
    applyRequestHeaderMutations(headers, v1.route, v1.vhost);
    assert.deepEqual(headers, ['x-api-version', '1', 'x-via', 'trellis']);
    const resp = ['cache-control', 'max-age=60'];
    applyResponseHeaderMutations(resp, v1.route, v1.vhost);
    assert.deepEqual(resp, ['cache-control', 'no-store']);
    assert.equal(name(matchRoute(t, req('api', '/other'), never)), 'no_route:no_route_match');
  });

  it('timeouts-sidecar.golden: route and backend request timeouts', () => {
    const t = sidecarTable('timeouts-sidecar');
    const d = matchRoute(t, req('slow:9000', '/slow.Batch/Run'), never);
    assert.ok(d.type === 'forward');
    assert.deepEqual([d.timeoutMs, d.backendTimeoutMs], [30_000, 10_000]);
    const other = matchRoute(t, req('slow', '/x'), never);
    assert.ok(other.type === 'forward');
    assert.deepEqual([other.timeoutMs, other.backendTimeoutMs], [250, 0]);
  });
});
