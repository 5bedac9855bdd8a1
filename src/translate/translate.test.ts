// Unit tests for translate/: node parsing, host names, precedence, proxyless safety, memoization.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  VIRTUAL_HOST_TYPE,
} from '../xds/type-urls.js';
import { hostSpellings, parseHost, parseNode, resolveHost, translate, translationScope } from './index.js';
import { checkProxylessResource } from './proxyless-check.js';
import {
  backend,
  gateway,
  gatewayNode,
  grpcRoute,
  grpcRule,
  httpRoute,
  match,
  parent,
  proxyless,
  rule,
  service,
  sidecarNode,
  snapshot,
} from './testing.js';

type Obj = Record<string, unknown>;
const one = (m: Map<string, unknown>, name: string): Obj => {
  const r = m.get(name);
  assert.ok(r, `expected resource ${name}; got ${[...m.keys()].join(', ')}`);
  return r as Obj;
};
const vhostRoutes = (rc: Obj): Obj[] => ((rc.virtual_hosts as Obj[])[0]?.routes ?? []) as Obj[];

test('parseNode: sidecar metadata with string or number ports', () => {
  const n = parseNode({
    id: 's1',
    metadata: {
      TRELLIS_KIND: 'sidecar',
      NAMESPACE: 'shop',
      INBOUND_PORT: '15006',
      OUTBOUND_PORT: 15001,
      APP_PORT: '8080',
      LABELS: { version: 'v1', bad: 3 },
    },
  });
  assert.deepEqual(n, {
    id: 's1',
    kind: 'sidecar',
    namespace: 'shop',
    labels: { version: 'v1' },
    sidecar: { address: '127.0.0.1', inboundPort: 15006, outboundPort: 15001, appPort: 8080 },
  });
});

test('parseNode: anything else is proxyless in default; never throws', () => {
  assert.deepEqual(parseNode({ id: 'x' }), { id: 'x', kind: 'proxyless', namespace: 'default', labels: {} });
  assert.equal(parseNode({ metadata: { NAMESPACE: 'a', TRELLIS_KIND: 'other' } }).namespace, 'a');
  assert.equal(parseNode(undefined).kind, 'proxyless');
  assert.equal(parseNode({ metadata: null }).kind, 'proxyless');
  const bad = parseNode({ metadata: { TRELLIS_KIND: 'sidecar', INBOUND_PORT: 'x', APP_PORT: 70000 } });
  assert.equal(bad.sidecar?.inboundPort, 0);
  assert.equal(bad.sidecar?.appPort, 0);
});

test('parseHost: the four spellings, with and without port', () => {
  assert.deepEqual(parseHost('reviews'), { name: 'reviews' });
  assert.deepEqual(parseHost('Reviews.Default:9080'), { name: 'reviews', namespace: 'default', port: 9080 });
  assert.deepEqual(parseHost('reviews.default.svc'), { name: 'reviews', namespace: 'default' });
  assert.deepEqual(parseHost('reviews.default.svc.cluster.local:1'), {
    name: 'reviews',
    namespace: 'default',
    port: 1,
  });
  for (const bad of ['reviews.default.com', '10.0.0.1', '[::1]:80', 'a:0', 'a:99999', 'a.b.svc.cluster', ''])
    assert.equal(parseHost(bad), undefined, bad);
});

test('resolveHost: short names resolve in the node namespace; default port by node kind', () => {
  const svcs = snapshot([
    service('reviews', [
      { port: 9080, protocol: 'http' },
      { port: 9090, protocol: 'grpc' },
    ]),
    service('reviews', [{ port: 80 }], {}, 'other'),
  ]).services;
  assert.equal(resolveHost(svcs, 'reviews', 'default', 'proxyless')?.port.port, 9090);
  assert.equal(resolveHost(svcs, 'reviews', 'default', 'sidecar')?.port.port, 9080);
  assert.equal(resolveHost(svcs, 'reviews', 'other', 'sidecar')?.service.metadata.namespace, 'other');
  assert.equal(resolveHost(svcs, 'reviews.default:9080', 'other', 'proxyless')?.port.port, 9080);
  assert.equal(resolveHost(svcs, 'reviews:1234', 'default', 'proxyless'), undefined);
  assert.equal(resolveHost(svcs, 'ratings', 'default', 'proxyless'), undefined);
});

test('hostSpellings: no-port spellings only for the default port, short only in-namespace', () => {
  const s = service('reviews', [{ port: 9080 }]);
  assert.deepEqual(hostSpellings(s, 9080, true, true), [
    'reviews',
    'reviews:9080',
    'reviews.default',
    'reviews.default:9080',
    'reviews.default.svc',
    'reviews.default.svc:9080',
    'reviews.default.svc.cluster.local',
    'reviews.default.svc.cluster.local:9080',
  ]);
  assert.deepEqual(hostSpellings(s, 9080, false, false), [
    'reviews.default:9080',
    'reviews.default.svc:9080',
    'reviews.default.svc.cluster.local:9080',
  ]);
});

test('HTTPRoute precedence: exact > longest prefix > method > headers > query params > name order', () => {
  const h = (name: string) => ({ type: 'Exact' as const, name, value: 'x' });
  const b = [backend('reviews')];
  const routes = [
    httpRoute(
      'b-route',
      [parent('reviews')],
      [
        rule({ name: 'r0', matches: [match()], backendRefs: b }),
        rule({
          matches: [match({ headers: [h('a')] }), match({ headers: [h('a'), h('b')] })],
          backendRefs: b,
        }),
        rule({ matches: [match({ queryParams: [h('q')], headers: [h('a')] })], backendRefs: b }),
      ],
    ),
    httpRoute(
      'a-route',
      [parent('reviews')],
      [
        rule({ matches: [match({ path: { type: 'PathPrefix', value: '/api' } })], backendRefs: b }),
        rule({ matches: [match({ path: { type: 'Exact', value: '/api/x' } })], backendRefs: b }),
        rule({ matches: [match({ method: 'GET' })], backendRefs: b }),
        rule({ matches: [match()], backendRefs: b }),
      ],
    ),
  ];
  const snap = snapshot([service('reviews', [{ port: 9080 }])], routes);
  const rc = one(
    translate(snap, sidecarNode(), ROUTE_TYPE, ['reviews.default:9080']),
    'reviews.default:9080',
  );
  assert.deepEqual(
    vhostRoutes(rc).map((r) => r.name),
    [
      'HTTPRoute/default/a-route/rule/1/match/0', // Exact
      'HTTPRoute/default/a-route/rule/0/match/0', // /api
      'HTTPRoute/default/a-route/rule/2/match/0', // method
      'HTTPRoute/default/b-route/rule/1/match/1', // 2 headers
      'HTTPRoute/default/b-route/rule/2/match/0', // 1 header + query
      'HTTPRoute/default/b-route/rule/1/match/0', // 1 header
      'HTTPRoute/default/a-route/rule/3/match/0', // tie: a-route before b-route
      'HTTPRoute/default/b-route/rule/0/match/0',
    ],
  );
});

test('GRPCRoute precedence: exact method > longer service > longer method > regex > headers', () => {
  const b = [backend('shop')];
  const m = (type: 'Exact' | 'RegularExpression', service?: string, method?: string, headers = 0) => ({
    method: { type, ...(service ? { service } : {}), ...(method ? { method } : {}) },
    headers: Array.from({ length: headers }, (_, i) => ({
      type: 'Exact' as const,
      name: `h${i}`,
      value: 'v',
    })),
  });
  const route = grpcRoute(
    'shop',
    [parent('shop')],
    [
      grpcRule({ backendRefs: b }),
      grpcRule({ matches: [m('RegularExpression', 'shop\\..*', 'Get.*')], backendRefs: b }),
      grpcRule({ matches: [m('Exact', 'shop.Inventory')], backendRefs: b }),
      grpcRule({ matches: [m('Exact', 'shop.Inventory', 'GetStock')], backendRefs: b }),
      grpcRule({ matches: [m('Exact', undefined, 'GetStock', 1)], backendRefs: b }),
    ],
  );
  const snap = snapshot([service('shop', [{ port: 50051, protocol: 'grpc' }])], [], [route]);
  const rc = one(translate(snap, proxyless(), ROUTE_TYPE, ['shop.default:50051']), 'shop.default:50051');
  const routes = vhostRoutes(rc);
  assert.deepEqual(
    routes.map((r) => (r.name as string).split('/')[4]),
    ['3', '2', '1', '4', '0'],
  );
  assert.deepEqual(routes[0]?.match, { path: '/shop.Inventory/GetStock' });
  assert.deepEqual(routes[1]?.match, { prefix: '/shop.Inventory/' });
  assert.deepEqual(routes[3]?.match, {
    safe_regex: { regex: '/[^/]+/GetStock' },
    headers: [{ name: 'h0', string_match: { exact: 'v' } }],
  });
});

function featureSnapshot() {
  const b = [backend('reviews')];
  return snapshot(
    [service('reviews', [{ port: 9080 }], { subsets: [{ name: 'v2', labels: { version: 'v2' } }] })],
    [
      httpRoute(
        'features',
        [parent('reviews')],
        [
          rule({
            matches: [match({ path: { type: 'PathPrefix', value: '/old' } })],
            filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'new', statusCode: 301 } }],
          }),
          rule({
            matches: [match({ path: { type: 'PathPrefix', value: '/none' } })],
            backendRefs: [backend('reviews', { weight: 0 })],
          }),
          rule({
            matches: [match({ queryParams: [{ type: 'Exact', name: 'v', value: '2' }] })],
            backendRefs: [backend('reviews', { subset: 'v2' })],
          }),
          rule({ matches: [match({ method: 'GET' })], backendRefs: b }),
          rule({
            matches: [match({ path: { type: 'PathPrefix', value: '/api/' } })],
            backendRefs: b,
            filters: [
              {
                type: 'RequestHeaderModifier',
                requestHeaderModifier: { set: [{ name: 'x', value: '1' }], add: [], remove: ['y'] },
              },
              {
                type: 'RequestMirror',
                requestMirror: { backendRef: backend('reviews', { subset: 'v2' }), percent: 10 },
              },
            ],
            timeouts: { requestMs: 1500, backendRequestMs: 500 },
          }),
          rule({
            backendRefs: [
              backend('reviews', { weight: 80 }),
              backend('reviews', { subset: 'v2', weight: 20 }),
              backend('missing'),
            ],
          }),
        ],
      ),
    ],
  );
}

test('proxyless output never carries what gRPC NACKs', () => {
  const snap = featureSnapshot();
  const node = proxyless();
  const lds = translate(snap, node, LISTENER_TYPE, ['reviews', 'reviews.default:9080', 'nope']);
  assert.deepEqual([...lds.keys()], ['reviews', 'reviews.default:9080']);
  const rds = translate(snap, node, ROUTE_TYPE, ['reviews.default:9080']);
  const cds = translate(snap, node, CLUSTER_TYPE, [
    'outbound|9080||reviews.default',
    'outbound|9080|v2|reviews.default',
  ]);
  const eds = translate(snap, node, ENDPOINT_TYPE, ['outbound|9080||reviews.default']);
  for (const [type, m] of [
    [LISTENER_TYPE, lds],
    [ROUTE_TYPE, rds],
    [CLUSTER_TYPE, cds],
    [ENDPOINT_TYPE, eds],
  ] as const)
    for (const r of m.values()) assert.deepEqual(checkProxylessResource(type, r), [], JSON.stringify(r));
  const routes = vhostRoutes(one(rds, 'reviews.default:9080'));
  // Redirect, all-zero-weight, query and GET rules are left out; the rest keeps its order.
  assert.deepEqual(
    routes.map((r) => (r.name as string).split('/')[4]),
    ['4', '5'],
  );
  assert.deepEqual(routes[0]?.match, { safe_regex: { regex: '/api(/.*)?' } });
  assert.deepEqual(routes[0]?.route, {
    cluster: 'outbound|9080||reviews.default',
    max_stream_duration: { max_stream_duration: { seconds: '1', nanos: 500_000_000 } },
  });
  assert.deepEqual(routes[1]?.route, {
    weighted_clusters: {
      clusters: [
        { name: 'outbound|9080||reviews.default', weight: 80 },
        { name: 'outbound|9080|v2|reviews.default', weight: 20 },
      ],
    },
  });
});

test('sidecar routes get redirects, direct responses, query matches, filters and metadata', () => {
  const snap = featureSnapshot();
  const vh = one(
    translate(snap, sidecarNode(), VIRTUAL_HOST_TYPE, ['trellis_outbound/reviews']),
    'trellis_outbound/reviews',
  );
  assert.equal(vh.name, 'trellis_outbound/reviews');
  assert.ok((vh.domains as string[]).includes('reviews.default.svc.cluster.local:9080'));
  const routes = vh.routes as Obj[];
  const byRule = (i: number) => routes.find((r) => (r.name as string).split('/')[4] === String(i)) as Obj;
  assert.deepEqual(byRule(0).redirect, { host_redirect: 'new', response_code: 'MOVED_PERMANENTLY' });
  assert.deepEqual(byRule(0).match, { path_separated_prefix: '/old' });
  assert.deepEqual(byRule(1).direct_response, { status: 500 });
  assert.deepEqual((byRule(2).match as Obj).query_parameters, [{ name: 'v', string_match: { exact: '2' } }]);
  assert.deepEqual((byRule(3).match as Obj).headers, [{ name: ':method', string_match: { exact: 'GET' } }]);
  const api = byRule(4);
  assert.deepEqual(api.request_headers_to_add, [
    { header: { key: 'x', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
  ]);
  assert.deepEqual(api.request_headers_to_remove, ['y']);
  assert.deepEqual(api.metadata, { filter_metadata: { trellis: { backend_request_timeout_ms: 500 } } });
  assert.deepEqual((api.route as Obj).timeout, { seconds: '1', nanos: 500_000_000 });
  assert.deepEqual((api.route as Obj).request_mirror_policies, [
    {
      cluster: 'outbound|9080|v2|reviews.default',
      runtime_fraction: { default_value: { numerator: 10, denominator: 'HUNDRED' } },
    },
  ]);
});

test('unknown names are left out; wildcards give node defaults', () => {
  const snap = featureSnapshot();
  assert.equal(translate(snap, proxyless(), LISTENER_TYPE, '*').size, 0);
  assert.equal(translate(snap, proxyless(), CLUSTER_TYPE, '*').size, 0);
  assert.equal(translate(snap, proxyless(), ENDPOINT_TYPE, '*').size, 0);
  assert.deepEqual(
    [...translate(snap, sidecarNode(), LISTENER_TYPE, '*').keys()],
    ['trellis_outbound', 'trellis_inbound'],
  );
  assert.deepEqual([...translate(snap, sidecarNode(), CLUSTER_TYPE, '*').keys()], ['inbound|8080']);
  const names = [
    'outbound|9080|v3|reviews.default',
    'outbound|9081||reviews.default',
    'outbound|9080||nope.default',
    'garbage',
    'inbound|8080',
  ];
  assert.equal(translate(snap, proxyless(), CLUSTER_TYPE, names).size, 0);
  assert.equal(translate(snap, proxyless(), ENDPOINT_TYPE, names).size, 0);
  assert.equal(translate(snap, proxyless(), ROUTE_TYPE, ['reviews:9080', 'trellis_outbound']).size, 0);
  assert.equal(translate(snap, proxyless(), 'type.googleapis.com/unknown', ['x']).size, 0);
});

test('a known Service with no endpoints gives an empty CLA; endpoints are deduplicated and subset-filtered', () => {
  const empty = snapshot([service('a', [{ port: 80 }])]);
  assert.deepEqual(
    one(translate(empty, proxyless(), ENDPOINT_TYPE, ['outbound|80||a.default']), 'outbound|80||a.default'),
    {
      '@type': ENDPOINT_TYPE,
      cluster_name: 'outbound|80||a.default',
      endpoints: [],
    },
  );
  const inst = (id: string, address: string, port: number, version: string) => ({
    id,
    service: 'a',
    namespace: 'default',
    address,
    port,
    ports: {},
    labels: { version },
    weight: 1,
    sidecar: true,
  });
  const snap = snapshot(
    [
      service('a', [{ port: 80, name: 'web' }], {
        endpoints: [{ address: '10.0.0.1', ports: { web: 8081 }, labels: { version: 'v1' }, weight: 3 }],
        subsets: [{ name: 'v1', labels: { version: 'v1' } }],
      }),
    ],
    [],
    [],
    [inst('b', '10.0.0.1', 8081, 'v1'), inst('a', '10.0.0.2', 15006, 'v2')],
  );
  const all = one(
    translate(snap, proxyless(), ENDPOINT_TYPE, ['outbound|80||a.default']),
    'outbound|80||a.default',
  );
  const addrs = (cla: Obj) =>
    ((cla.endpoints as Obj[])[0]?.lb_endpoints as Obj[]).map((e) => {
      const sa = ((e.endpoint as Obj).address as Obj).socket_address as Obj;
      return `${String(sa.address)}:${String(sa.port_value)}`;
    });
  assert.deepEqual(addrs(all), ['10.0.0.1:8081', '10.0.0.2:15006']);
  const v1 = one(
    translate(snap, proxyless(), ENDPOINT_TYPE, ['outbound|80|v1|a.default']),
    'outbound|80|v1|a.default',
  );
  assert.deepEqual(addrs(v1), ['10.0.0.1:8081']);
});

test('results are memoized per snapshot and shared between nodes', () => {
  const snap = featureSnapshot();
  const a = translate(snap, proxyless('default'), ROUTE_TYPE, ['reviews.default:9080']).get(
    'reviews.default:9080',
  );
  const b = translate(snap, { ...proxyless('default'), id: 'other' }, ROUTE_TYPE, [
    'reviews.default:9080',
  ]).get('reviews.default:9080');
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  const c1 = translate(snap, proxyless(), CLUSTER_TYPE, ['outbound|9080||reviews.default']);
  const c2 = translate(snap, proxyless('elsewhere'), CLUSTER_TYPE, ['outbound|9080||reviews.default']);
  assert.equal(c1.get('outbound|9080||reviews.default'), c2.get('outbound|9080||reviews.default'));
  // Outside the Service's namespace the short spellings are not domains.
  const far = translate(snap, proxyless('elsewhere'), ROUTE_TYPE, ['reviews.default:9080']).get(
    'reviews.default:9080',
  ) as Obj;
  assert.ok(!((far.virtual_hosts as Obj[])[0]?.domains as string[]).includes('reviews'));
});

test('GAMMA: consumer routes replace producer routes for clients in their namespace only', () => {
  const svc = service('reviews', [{ port: 9080 }]);
  const other = service('canary', [{ port: 9080 }]);
  const producer = httpRoute('prod', [parent('reviews')], [rule({ backendRefs: [backend('reviews')] })]);
  const consumer = httpRoute(
    'cons',
    [parent('reviews')],
    [rule({ backendRefs: [backend('canary')] })],
    'team',
  );
  const snap = snapshot([svc, other], [producer, consumer]);
  const clusterFor = (ns: string) =>
    (
      vhostRoutes(
        one(translate(snap, proxyless(ns), ROUTE_TYPE, ['reviews.default:9080']), 'reviews.default:9080'),
      )[0]?.route as Obj
    ).cluster;
  assert.equal(clusterFor('default'), 'outbound|9080||reviews.default');
  assert.equal(clusterFor('elsewhere'), 'outbound|9080||reviews.default');
  assert.equal(clusterFor('team'), 'outbound|9080||canary.default');
});

test('parentRef port scopes a route to one Service port', () => {
  const svc = service('multi', [
    { port: 80, protocol: 'http' },
    { port: 9090, protocol: 'grpc' },
  ]);
  const r = httpRoute(
    'web',
    [parent('multi', { port: 80 })],
    [rule({ matches: [match({ path: { type: 'Exact', value: '/x' } })], backendRefs: [backend('multi')] })],
  );
  const snap = snapshot([svc], [r]);
  const rds = translate(snap, proxyless(), ROUTE_TYPE, ['multi.default:80', 'multi.default:9090']);
  assert.equal(vhostRoutes(one(rds, 'multi.default:80'))[0]?.name, 'HTTPRoute/default/web/rule/0/match/0');
  assert.equal(
    (vhostRoutes(one(rds, 'multi.default:80'))[0]?.route as Obj).cluster,
    'outbound|80||multi.default',
  );
  assert.equal(vhostRoutes(one(rds, 'multi.default:9090'))[0]?.name, 'default');
});

test('translationScope: nodes with equal scopes get the same objects', () => {
  const base = featureSnapshot();
  const gws = [
    gateway('edge', [{ name: 'http', port: 8080 }]),
    gateway('other', [{ name: 'http', port: 8080, hostname: 'x.example' }]),
  ];
  const snap = { ...base, gateways: new Map(gws.map((g) => [`default/${g.metadata.name}`, g])) };
  const nodes = [
    proxyless('default'),
    { ...proxyless('default'), id: 'b', labels: { a: 'b' } },
    proxyless('elsewhere'),
    sidecarNode('default'),
    { ...sidecarNode('default'), id: 'c' },
    {
      ...sidecarNode('default', 'reviews'),
      sidecar: { address: '10.0.0.5', inboundPort: 1, outboundPort: 2, appPort: 9080 },
    },
    sidecarNode('elsewhere'),
    gatewayNode('edge'),
    { ...gatewayNode('edge'), id: 'gw-2' },
    gatewayNode('other'),
    gatewayNode('edge', 'elsewhere'),
  ];
  const asks: [string, string][] = [
    [LISTENER_TYPE, 'trellis_gateway_127.0.0.1_8080'],
    [ROUTE_TYPE, 'trellis_gateway_8080'],
    [LISTENER_TYPE, 'reviews'],
    [LISTENER_TYPE, 'reviews.default'],
    [LISTENER_TYPE, '*'],
    [LISTENER_TYPE, 'trellis_outbound'],
    [ROUTE_TYPE, 'reviews.default:9080'],
    [ROUTE_TYPE, '*'],
    [VIRTUAL_HOST_TYPE, 'trellis_outbound/reviews'],
    [CLUSTER_TYPE, 'outbound|9080|v2|reviews.default'],
    [CLUSTER_TYPE, 'inbound|9080'],
    [CLUSTER_TYPE, '*'],
    [ENDPOINT_TYPE, 'outbound|9080||reviews.default'],
  ];
  for (const [type, name] of asks) {
    const seen = new Map<string, unknown>();
    for (const node of nodes) {
      const got = [...translate(snap, node, type, name === '*' ? '*' : [name])];
      const scope = translationScope(node, type, name);
      if (seen.has(scope)) assert.deepEqual(got, seen.get(scope), `${type} ${name} scope ${scope}`);
      else seen.set(scope, got);
    }
  }
});
