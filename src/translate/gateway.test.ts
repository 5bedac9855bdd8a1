// Gateway translation: hostname intersection, listener ownership, attachment rules, isolation from
// mesh (GAMMA) routing, and translation scopes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serviceKey, type MeshSnapshot } from '../api/mesh-snapshot.js';
import type { GatewayResource, HTTPRouteResource } from '../api/types.js';
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, VIRTUAL_HOST_TYPE } from '../xds/type-urls.js';
import { covers, intersectHostnames } from '../api/gateway-hostnames.js';
import { parseNode, translate, translationScope, type XdsResource } from './index.js';
import {
  backend,
  gateway,
  gatewayNode,
  gatewayParent,
  httpRoute,
  parent,
  rule,
  service,
  sidecarNode,
  snapshot,
} from './testing.js';

type Obj = Record<string, unknown>;

const withGateways = (s: MeshSnapshot, gws: readonly GatewayResource[]): MeshSnapshot => ({
  ...s,
  gateways: new Map(gws.map((g) => [serviceKey(g.metadata.namespace, g.metadata.name), g])),
});

const hosts = (r: HTTPRouteResource, hostnames: string[]): HTTPRouteResource => ({
  ...r,
  spec: { ...r.spec, hostnames },
});

/** vhost name -> route names, of one gateway RouteConfiguration. */
function vhosts(rc: XdsResource | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const vh of (rc?.virtual_hosts ?? []) as Obj[])
    out[String(vh.name)] = ((vh.routes ?? []) as Obj[]).map((r) => String(r.name));
  return out;
}

test('covers: exact, *.suffix (one or more labels, never the bare suffix), *', () => {
  assert.ok(covers('*', 'a.example.com'));
  assert.ok(covers('a.example.com', 'a.example.com'));
  assert.ok(covers('*.example.com', 'a.example.com'));
  assert.ok(covers('*.example.com', 'a.b.example.com'));
  assert.ok(covers('*.example.com', '*.b.example.com'));
  assert.ok(!covers('*.example.com', 'example.com'));
  assert.ok(!covers('*.b.example.com', '*.example.com'));
  assert.ok(!covers('a.example.com', '*'));
  assert.ok(!covers('a.example.com', 'b.example.com'));
});

test('intersectHostnames follows the Gateway API', () => {
  assert.deepEqual(intersectHostnames([], undefined), ['*']);
  assert.deepEqual(intersectHostnames([], '*.shop.example'), ['*.shop.example']);
  assert.deepEqual(intersectHostnames(['a.com', 'b.com'], undefined), ['a.com', 'b.com']);
  assert.deepEqual(intersectHostnames(['www.shop.example', 'x.org'], '*.shop.example'), ['www.shop.example']);
  // A broader route wildcard narrows to the listener's hostname, a narrower one is kept.
  assert.deepEqual(intersectHostnames(['*.example'], 'www.shop.example'), ['www.shop.example']);
  assert.deepEqual(intersectHostnames(['*.a.shop.example'], '*.shop.example'), ['*.a.shop.example']);
  assert.deepEqual(intersectHostnames(['x.org'], 'www.shop.example'), []);
});

test('a gateway node: listeners per address x port, OUTBOUND edge HCM on RDS per port', () => {
  const gw = gateway(
    'edge',
    [
      { name: 'a', port: 8080 },
      { name: 'b', port: 8080, hostname: 'x.example' },
      { name: 'c', port: 9090 },
    ],
    'default',
    ['127.0.0.1', '::1'],
  );
  const s = withGateways(snapshot([service('web', [{ port: 80 }])]), [gw]);
  const lds = translate(s, gatewayNode('edge'), LISTENER_TYPE, '*');
  assert.deepEqual(
    [...lds.keys()],
    [
      'trellis_gateway_127.0.0.1_8080',
      'trellis_gateway_127.0.0.1_9090',
      'trellis_gateway_::1_8080',
      'trellis_gateway_::1_9090',
    ],
  );
  const l = lds.get('trellis_gateway_::1_9090') as Obj;
  assert.equal(l.traffic_direction, 'OUTBOUND');
  assert.deepEqual(l.address, { socket_address: { address: '::1', port_value: 9090 } });
  const hcm = ((l.filter_chains as Obj[])[0]?.filters as Obj[])[0]?.typed_config as Obj;
  assert.equal(hcm.use_remote_address, true);
  assert.deepEqual(hcm.rds, { route_config_name: 'trellis_gateway_9090', config_source: { ads: {} } });
  // Another Gateway's node, or a missing Gateway: nothing.
  assert.equal(translate(s, gatewayNode('other'), LISTENER_TYPE, '*').size, 0);
  assert.equal(translate(s, gatewayNode('edge', 'prod'), LISTENER_TYPE, '*').size, 0);
  // A port no listener has: no route configuration.
  assert.equal(translate(s, gatewayNode('edge'), ROUTE_TYPE, ['trellis_gateway_1234']).size, 0);
});

test("a host is served by the most specific listener covering it, with only that listener's routes", () => {
  const gw = gateway('edge', [
    { name: 'any', port: 8080 },
    { name: 'shop', port: 8080, hostname: '*.shop.example' },
  ]);
  const routes = [
    httpRoute(
      'any-only',
      [gatewayParent('edge', { sectionName: 'any' })],
      [rule({ backendRefs: [backend('web')] })],
    ),
    hosts(
      httpRoute(
        'www',
        [gatewayParent('edge', { sectionName: 'shop' })],
        [rule({ backendRefs: [backend('web')] })],
      ),
      ['www.shop.example'],
    ),
  ];
  const s = withGateways(snapshot([service('web', [{ port: 80 }])], routes), [gw]);
  const rds = translate(s, gatewayNode('edge'), ROUTE_TYPE, ['trellis_gateway_8080']);
  assert.deepEqual(vhosts(rds.get('trellis_gateway_8080')), {
    '*:8080': ['HTTPRoute/default/any-only/rule/0/match/0'],
    // Owned by the shop listener: the catch-all listener's route does not apply there.
    '*.shop.example:8080': [],
    'www.shop.example:8080': ['HTTPRoute/default/www/rule/0/match/0'],
  });
});

test('routes with Gateway parents never reach sidecars; GAMMA routes never reach the gateway', () => {
  const gw = gateway('edge', [{ name: 'http', port: 8080 }]);
  const routes = [
    httpRoute('ingress', [gatewayParent('edge')], [rule({ backendRefs: [backend('web', { weight: 1 })] })]),
    httpRoute('mesh', [parent('web')], [rule({ backendRefs: [backend('api')] })]),
  ];
  const s = withGateways(snapshot([service('web', [{ port: 80 }]), service('api', [{ port: 80 }])], routes), [
    gw,
  ]);
  const vh = translate(s, sidecarNode(), VIRTUAL_HOST_TYPE, ['trellis_outbound/web']).get(
    'trellis_outbound/web',
  );
  assert.deepEqual(
    ((vh?.routes ?? []) as Obj[]).map((r) => r.name),
    ['HTTPRoute/default/mesh/rule/0/match/0'],
  );
  const rc = translate(s, gatewayNode('edge'), ROUTE_TYPE, ['trellis_gateway_8080']).get(
    'trellis_gateway_8080',
  );
  assert.deepEqual(vhosts(rc), { '*:8080': ['HTTPRoute/default/ingress/rule/0/match/0'] });
  const route = ((rc?.virtual_hosts as Obj[])[0]?.routes as Obj[])[0] as Obj;
  assert.equal((route.route as Obj).cluster, 'outbound|80||web.default');
  // The gateway gets sidecar-flavoured clusters (peak-EWMA policy), not proxyless ones.
  const cl = translate(s, gatewayNode('edge'), CLUSTER_TYPE, ['outbound|80||web.default']).get(
    'outbound|80||web.default',
  );
  assert.ok(cl?.load_balancing_policy !== undefined && cl.lb_policy === undefined);
  // A gateway never gets the sidecar's VHDS or outbound route table.
  assert.equal(translate(s, gatewayNode('edge'), VIRTUAL_HOST_TYPE, ['trellis_outbound/web']).size, 0);
  assert.equal(translate(s, gatewayNode('edge'), ROUTE_TYPE, ['trellis_outbound']).size, 0);
});

test('allowedRoutes Same drops routes from other namespaces; sectionName and port select listeners', () => {
  const gw = gateway(
    'edge',
    [
      { name: 'public', port: 8080, allowedRoutesFrom: 'All' },
      { name: 'internal', port: 8081 },
    ],
    'infra',
  );
  const routes = [
    httpRoute(
      'web',
      [gatewayParent('edge', { namespace: 'infra' })],
      [rule({ backendRefs: [backend('web', { namespace: 'shop' })] })],
      'shop',
    ),
    httpRoute(
      'by-port',
      [gatewayParent('edge', { namespace: 'infra', port: 8081 })],
      [rule({ backendRefs: [backend('s', { namespace: 'infra' })] })],
      'infra',
    ),
  ];
  const s = withGateways(
    snapshot([service('web', [{ port: 80 }], {}, 'shop'), service('s', [{ port: 80 }], {}, 'infra')], routes),
    [gw],
  );
  const rds = translate(s, gatewayNode('edge', 'infra'), ROUTE_TYPE, [
    'trellis_gateway_8080',
    'trellis_gateway_8081',
  ]);
  assert.deepEqual(vhosts(rds.get('trellis_gateway_8080')), {
    '*:8080': ['HTTPRoute/shop/web/rule/0/match/0'],
  });
  assert.deepEqual(vhosts(rds.get('trellis_gateway_8081')), {
    '*:8081': ['HTTPRoute/infra/by-port/rule/0/match/0'],
  });
});

test('parseNode and scopes: gateways are scoped by their Gateway', () => {
  const n = parseNode({
    id: 'g',
    metadata: { TRELLIS_KIND: 'gateway', GATEWAY: 'edge', NAMESPACE: 'infra' },
  });
  assert.equal(n.kind, 'gateway');
  assert.equal(n.gateway, 'edge');
  assert.equal(n.namespace, 'infra');
  const other = { ...n, gateway: 'other' };
  for (const t of [LISTENER_TYPE, ROUTE_TYPE])
    assert.notEqual(
      translationScope(n, t, 'trellis_gateway_8080'),
      translationScope(other, t, 'trellis_gateway_8080'),
    );
  assert.equal(translationScope(n, CLUSTER_TYPE, 'outbound|80||web.default'), 'gateway');
});
