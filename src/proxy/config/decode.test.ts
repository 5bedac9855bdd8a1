// Decoder tests: every sidecar golden (through the real wire codec) decodes; bad resources are
// rejected with a message naming the resource and the field.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeResource, encodeResource } from '../../xds/any.js';
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  VIRTUAL_HOST_TYPE,
} from '../../xds/type-urls.js';
import {
  decodeClusterLoadAssignmentResource,
  decodeClusterResource,
  decodeListenerResource,
  decodeRouteConfigurationResource,
  decodeVirtualHostResource,
  decoderFor,
} from './decode.js';
import { buildRouteTable } from './decode-route.js';
import { findVirtualHost } from './find-virtual-host.js';
import { compileRegex } from './regex.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const dir = join(root, 'test/fixtures/translate');
const TYPES: Record<string, string> = {
  LDS: LISTENER_TYPE,
  RDS: ROUTE_TYPE,
  VHDS: VIRTUAL_HOST_TYPE,
  CDS: CLUSTER_TYPE,
  EDS: ENDPOINT_TYPE,
};

type Obj = Record<string, unknown>;
const wire = (r: Obj): Obj => decodeResource(encodeResource(r));
const golden = (name: string): Record<string, Record<string, Obj>> =>
  JSON.parse(readFileSync(join(dir, `${name}.golden.json`), 'utf8')) as Record<string, Record<string, Obj>>;

function vhost(routes: Obj[]): Obj {
  return { '@type': VIRTUAL_HOST_TYPE, name: 'trellis_outbound/web', domains: ['web'], routes };
}

describe('config decoders', () => {
  for (const f of readdirSync(dir).filter(
    (n) => n.endsWith('sidecar.golden.json') || n === 'filters.golden.json',
  )) {
    it(`decodes every resource of ${f}`, () => {
      const g = golden(f.replace('.golden.json', ''));
      for (const [short, typeUrl] of Object.entries(TYPES)) {
        for (const r of Object.values(g[short] ?? {})) {
          const res = decoderFor(typeUrl)?.(wire(r));
          assert.ok(res?.ok, `${short}: ${res && !res.ok ? res.error.message : 'no decoder'}`);
        }
      }
    });
  }

  it('decodes the sidecar listeners, clusters and endpoints', () => {
    const g = golden('sidecar');
    const out = decodeListenerResource(wire(g['LDS']?.['trellis_outbound'] as Obj));
    assert.ok(out.ok);
    assert.equal(out.value.direction, 'outbound');
    assert.equal(out.value.port, 15001);
    assert.deepEqual(out.value.routeSource, { type: 'rds', routeConfigName: 'trellis_outbound' });
    const inb = decodeListenerResource(wire(g['LDS']?.['trellis_inbound'] as Obj));
    assert.ok(inb.ok && inb.value.routeSource.type === 'inline');
    const rc = decodeRouteConfigurationResource(wire(g['RDS']?.['trellis_outbound'] as Obj));
    assert.ok(rc.ok && rc.value.onDemand);
    const inbound = decodeClusterResource(wire(g['CDS']?.['inbound|9080'] as Obj));
    assert.ok(inbound.ok);
    assert.equal(inbound.value.discovery, 'static');
    assert.equal(inbound.value.loadAssignment?.endpoints[0]?.port, 9080);
    const cla = decodeClusterLoadAssignmentResource(
      wire(g['EDS']?.['outbound|9080||reviews.default'] as Obj),
    );
    assert.ok(cla.ok);
    assert.deepEqual(cla.value.endpoints[0], {
      id: '10.0.0.1:9080',
      address: '10.0.0.1',
      port: 9080,
      weight: 1,
      health: 'healthy',
      priority: 0,
      labels: {},
    });
    assert.ok(Object.isFrozen(cla.value.endpoints));
    const outbound = decodeClusterResource(wire(g['CDS']?.['outbound|9080||reviews.default'] as Obj));
    assert.ok(outbound.ok);
    assert.equal(outbound.value.lbPolicy, 'PEAK_EWMA', 'peak-EWMA is the sidecar default');
  });

  it('takes the first load_balancing_policy it implements, and NACKs when it knows none', () => {
    const policy = (...types: string[]) => ({
      name: 'c',
      type: 'STATIC',
      load_assignment: { cluster_name: 'c', endpoints: [] },
      load_balancing_policy: {
        policies: types.map((t) => ({ typed_extension_config: { name: t, typed_config: { '@type': t } } })),
      },
    });
    const lr = 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest';
    const first = decodeClusterResource(policy('type.googleapis.com/example.Unknown', lr));
    assert.ok(first.ok);
    assert.equal(first.value.lbPolicy, 'LEAST_REQUEST');
    const none = decodeClusterResource(policy('type.googleapis.com/example.Unknown'));
    assert.ok(!none.ok);
    assert.match(
      none.error.message,
      /^Cluster c: load_balancing_policy\.policies: no policy this proxy implements/,
    );
  });

  it('decodes matches, actions, rewrites, mirrors, header mutations and trellis metadata', () => {
    const m = decodeVirtualHostResource(
      wire(golden('matches-sidecar')['VHDS']?.['trellis_outbound/web:8080'] as Obj),
    );
    assert.ok(m.ok);
    const [healthz, regex, api, post] = m.value.routes;
    assert.deepEqual(healthz?.match.path, { type: 'exact', value: '/healthz' });
    assert.ok(regex?.match.path.type === 'regex' && regex.match.path.regex.test('/v12/x'));
    assert.ok(regex?.match.path.type === 'regex' && !regex.match.path.regex.test('/x/v12/x'));
    assert.deepEqual(api?.match.path, { type: 'path_separated_prefix', value: '/api' });
    assert.equal(post?.match.method, 'POST');
    assert.equal(post?.match.headers.length, 1);
    const f = decodeVirtualHostResource(
      wire(golden('filters')['VHDS']?.['trellis_outbound/api.default'] as Obj),
    );
    assert.ok(f.ok);
    const [redirect, strip, gone, v1] = f.value.routes;
    assert.deepEqual(redirect?.action, {
      type: 'redirect',
      scheme: 'https',
      host: 'api.example.com',
      path: '/new',
      stripQuery: false,
      status: 301,
    });
    assert.ok(strip?.action.type === 'forward' && strip.action.regexRewrite);
    assert.equal(
      strip.action.regexRewrite.regex.replaceAll('/strip//a', strip.action.regexRewrite.substitution),
      '/a',
    );
    assert.deepEqual(gone?.action, { type: 'direct_response', status: 500 });
    assert.ok(v1?.action.type === 'forward');
    assert.equal(v1.action.prefixRewrite, '/v2');
    assert.equal(v1.action.hostRewrite, 'api.internal');
    assert.deepEqual(v1.action.mirrors, [{ cluster: 'outbound|80||api-shadow.default', fraction: 0.25 }]);
    assert.deepEqual(v1.requestHeaders, {
      add: [
        { name: 'x-api-version', value: '1', action: 'overwrite_if_exists_or_add' },
        { name: 'x-via', value: 'trellis', action: 'append' },
      ],
      remove: ['x-debug'],
    });
    const t = decodeVirtualHostResource(
      wire(golden('timeouts-sidecar')['VHDS']?.['trellis_outbound/slow:9000'] as Obj),
    );
    assert.ok(t.ok);
    assert.equal(t.value.routes[0]?.backendRequestTimeoutMs, 10_000);
    assert.ok(t.value.routes[0]?.action.type === 'forward' && t.value.routes[0].action.timeoutMs === 30_000);
    assert.ok(t.value.routes[1]?.action.type === 'forward' && t.value.routes[1].action.timeoutMs === 250);
  });

  it('names the resource and field of a bad regex', () => {
    const bad = vhost([
      { match: { prefix: '/' }, route: { cluster: 'a' } },
      { match: { prefix: '/' }, route: { cluster: 'a' } },
      { match: { safe_regex: { regex: '(?=x)' } }, route: { cluster: 'a' } },
    ]);
    const r = decodeVirtualHostResource(wire(bad));
    assert.ok(!r.ok);
    assert.match(
      r.error.message,
      /^VirtualHost trellis_outbound\/web: routes\[2\]\.match\.safe_regex\.regex: invalid regex/,
    );
    const rc = decodeRouteConfigurationResource({
      '@type': ROUTE_TYPE,
      name: 'trellis_outbound',
      virtual_hosts: [{ ...bad, name: 'web' }],
    });
    assert.ok(!rc.ok);
    assert.match(
      rc.error.message,
      /^RouteConfiguration trellis_outbound: virtual_hosts\[0\]\.routes\[2\]\.match\.safe_regex\.regex: /,
    );
  });

  it('rejects bad clusters, endpoints and listeners with paths', () => {
    const cases: [ReturnType<typeof decodeClusterResource | typeof decodeListenerResource>, RegExp][] = [
      [
        decodeClusterResource({ name: 'c', type: 'LOGICAL_DNS' }),
        /^Cluster c: type: unsupported value "LOGICAL_DNS"/,
      ],
      [decodeClusterResource({ name: 'c', type: 'EDS' }), /^Cluster c: eds_cluster_config: required/],
      [decodeClusterResource({ name: 'c', type: 'STATIC' }), /^Cluster c: load_assignment: required/],
      [decodeListenerResource({ name: 'l' }), /^Listener l: address: required/],
      [decodeListenerResource({}, '#3'), /^Listener #3: name: required/],
    ];
    for (const [r, re] of cases) {
      assert.ok(!r.ok);
      assert.match(r.error.message, re);
    }
    const cla = decodeClusterLoadAssignmentResource({
      cluster_name: 'x',
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: 'db.local', port_value: 1 } } } },
          ],
        },
      ],
    });
    assert.ok(!cla.ok);
    assert.equal(
      cla.error.message,
      'ClusterLoadAssignment x: endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: not an IP address: db.local',
    );
    const noPort = decodeClusterLoadAssignmentResource({
      cluster_name: 'x',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1' } } } }] }],
    });
    assert.ok(!noPort.ok && noPort.error.message.includes('socket_address.port_value: required'));
  });

  it('decodes retry policies, and NACKs what it cannot do with the field path', () => {
    const route = (retry_policy: Obj) =>
      decodeVirtualHostResource(vhost([{ match: { prefix: '/' }, route: { cluster: 'a', retry_policy } }]));
    const ok = route({
      retry_on: 'connect-failure,reset,retriable-status-codes,unavailable',
      num_retries: 3,
      retriable_status_codes: [503, 502],
      retry_back_off: { base_interval: { seconds: '0', nanos: 100_000_000 } },
      per_try_timeout: { seconds: '2' },
      retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
    });
    assert.ok(ok.ok, !ok.ok ? ok.error.message : '');
    const r0 = ok.value.routes[0];
    assert.ok(r0?.action.type === 'forward');
    assert.deepEqual(r0.action.retry, {
      numRetries: 3,
      on: 1 | 4 | 8 | 64,
      statusCodes: [503, 502],
      grpcStatuses: [14],
      baseIntervalMs: 100,
      maxIntervalMs: 1000,
      perTryTimeoutMs: 2000,
    });
    assert.equal(r0.backendRequestTimeoutMs, 2000);
    const bad: [Obj, string][] = [
      [{ retry_on: 'connect-failure,5xx,bogus' }, 'retry_policy.retry_on: unsupported condition "bogus"'],
      [{ num_retries: 11 }, 'retry_policy.num_retries: must be between 0 and 10'],
      [{ retriable_status_codes: [99] }, 'retry_policy.retriable_status_codes[0]: expected an HTTP status'],
      [
        { retry_back_off: { base_interval: { seconds: '1' }, max_interval: { nanos: 5 } } },
        'retry_policy.retry_back_off.max_interval: must be at least base_interval',
      ],
      [{ retry_back_off: { base_interval: {} } }, 'retry_policy.retry_back_off.base_interval: must be > 0'],
      [{ retry_priority: { name: 'x' } }, 'retry_policy.retry_priority: not supported'],
      [
        { retry_host_predicate: [{ name: 'omit' }] },
        'retry_policy.retry_host_predicate[0]: only the previous_hosts',
      ],
    ];
    for (const [rp, msg] of bad) {
      const r = route(rp);
      assert.ok(!r.ok && r.error.message.includes(`routes[0].route.${msg}`), !r.ok ? r.error.message : msg);
    }
  });

  it('rejects unsupported route features instead of ignoring them', () => {
    const r = decodeVirtualHostResource(
      vhost([
        { match: { prefix: '/' }, route: { cluster: 'a', hash_policy: [{ header: { header_name: 'x' } }] } },
      ]),
    );
    assert.ok(!r.ok);
    assert.match(r.error.message, /routes\[0\]\.route\.hash_policy: not supported/);
    const w = decodeVirtualHostResource(
      vhost([
        { match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: 0 }] } } },
      ]),
    );
    assert.ok(!w.ok && w.error.message.includes('routes[0].route.weighted_clusters.clusters: at least one'));
  });

  it('finds virtual hosts by exact, suffix, prefix and catch-all domains', () => {
    const mk = (name: string, domains: string[]) => {
      const r = decodeVirtualHostResource({ name, domains, routes: [] });
      assert.ok(r.ok);
      return r.value;
    };
    const t = buildRouteTable('t', false, [
      mk('a', ['Web:80']),
      mk('b', ['*.example.com']),
      mk('c', ['api.*']),
      mk('d', ['*']),
    ]);
    assert.equal(findVirtualHost(t, 'web:80')?.name, 'a');
    assert.equal(findVirtualHost(t, 'x.example.com')?.name, 'b');
    assert.equal(findVirtualHost(t, 'api.example.com')?.name, 'b');
    assert.equal(findVirtualHost(t, 'api.local')?.name, 'c');
    assert.equal(findVirtualHost(t, 'other')?.name, 'd');
  });

  it('compiles RE2 patterns with JS where possible, RE2-only syntax with re2', () => {
    const js = compileRegex('/v[0-9]+/.*');
    assert.ok(js.ok && js.value.engine === 'js');
    const named = compileRegex('(?P<v>v[0-9]+)');
    assert.ok(named.ok && named.value.engine === 're2' && named.value.test('v1') && !named.value.test('xv1'));
    const posix = compileRegex('[[:digit:]]+');
    assert.ok(posix.ok && posix.value.test('123') && !posix.value.test('1a'));
    assert.ok(!compileRegex('(a)\\1').ok);
    const sub = compileRegex('^/(a)/(b)');
    assert.ok(sub.ok);
    assert.equal(sub.value.replaceAll('/a/b/c', '/\\2/\\1$1'), '/b/a$1/c');
  });
});
