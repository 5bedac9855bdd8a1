// Micro-benchmark of the router: ns per matchRoute() on a 1-vhost/10-route table and a 200-vhost
// table, for prefix, path-separated, header, query and weighted matches, and per header mutation.
// Run: npx tsc -p . && node dist/bench/router-bench.js [LABEL-SUBSTRING]
import { buildRouteTable } from '../src/proxy/config/decode-route.js';
import { decodeVirtualHostResource } from '../src/proxy/config/decode.js';
import type { HeaderMutation, RouteTableConfig, VirtualHostConfig } from '../src/proxy/config/types.js';
import { applyHeaderMutation } from '../src/proxy/router/headers.js';
import { matchRoute } from '../src/proxy/router/match-route.js';
import type { RequestView } from '../src/proxy/router/types.js';

const N = 2_000_000;
const ROUNDS = 5;

function vhost(name: string, port: number): VirtualHostConfig {
  const routes: Record<string, unknown>[] = [];
  for (let i = 0; i < 7; i++)
    routes.push({ match: { path_separated_prefix: `/svc${i}` }, route: { cluster: `${name}-${i}` } });
  routes.push({
    match: { prefix: '/', headers: [{ name: 'x-canary', string_match: { exact: 'yes' } }] },
    route: { cluster: `${name}-canary` },
  });
  routes.push({
    match: { prefix: '/', query_parameters: [{ name: 'debug', string_match: { exact: '1' } }] },
    route: { cluster: `${name}-debug` },
  });
  routes.push({
    match: { prefix: '/' },
    route: {
      weighted_clusters: {
        clusters: [
          { name: `${name}-v1`, weight: 80 },
          { name: `${name}-v2`, weight: 20 },
        ],
      },
    },
  });
  const r = decodeVirtualHostResource({
    name: `${name}:${port}`,
    domains: [name, `${name}:${port}`, `${name}.default`, `${name}.default:${port}`],
    routes,
  });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

const one = buildRouteTable('one', false, [vhost('reviews', 9080)]);
const many = buildRouteTable(
  'many',
  false,
  Array.from({ length: 200 }, (_, i) => vhost(`svc-${i}`, 8000 + i)),
);

const HEADERS = ['user-agent', 'bench/1.0', 'accept', '*/*', 'x-request-id', 'abc'];
const view = (authority: string, path: string, extra: string[] = []): RequestView => ({
  method: 'GET',
  authority,
  path,
  headers: [...HEADERS, ...extra],
});

let seed = 1;
const random = (): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
};

/** Median ns per call over ROUNDS rounds. */
function measure(fn: () => unknown): number {
  for (let i = 0; i < 200_000; i++) fn();
  const ns: number[] = [];
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) if (fn() !== undefined) sink++;
    ns.push(Number(process.hrtime.bigint() - t0) / N);
  }
  if (sink < 0) console.log(sink);
  ns.sort((a, b) => a - b);
  return ns[ROUNDS >> 1] as number;
}

const cases: [string, RouteTableConfig, RequestView][] = [
  ['1 vhost: 1st route (path-sep prefix)', one, view('reviews:9080', '/svc0/items?id=1')],
  ['1 vhost: 7th route (path-sep prefix)', one, view('reviews:9080', '/svc6/items')],
  ['1 vhost: header match (8th route)', one, view('reviews:9080', '/x', ['x-canary', 'yes'])],
  ['1 vhost: query match (9th route)', one, view('reviews:9080', '/x?a=2&debug=1')],
  ['1 vhost: weighted split (10th route)', one, view('reviews:9080', '/x?a=2')],
  ['1 vhost: no route (unknown host)', one, view('ratings:9080', '/x')],
  ['200 vhosts: 1st route', many, view('svc-150:8150', '/svc0/items')],
  ['200 vhosts: host without port', many, view('svc-150.default', '/svc3/items')],
  ['200 vhosts: header match', many, view('svc-199:8199', '/x', ['x-canary', 'yes'])],
  ['200 vhosts: weighted split', many, view('svc-7:8007', '/x')],
];

const only = process.argv[2];
const rows: [string, string][] = [];
for (const [label, table, req] of cases.filter((c) => only === undefined || c[0].includes(only)))
  rows.push([label, measure(() => matchRoute(table, req, random)).toFixed(0)]);

const empty: HeaderMutation = { add: [], remove: [] };
const mutation: HeaderMutation = {
  add: [
    { name: 'x-via', value: 'trellis', action: 'append' },
    { name: 'x-api-version', value: '1', action: 'overwrite_if_exists_or_add' },
  ],
  remove: ['x-debug'],
};
const scratch: string[] = [];
rows.push(['headers: empty mutation', measure(() => applyHeaderMutation(scratch, empty)).toFixed(0)]);
rows.push([
  'headers: 1 remove + 2 adds (8 headers)',
  measure(() => {
    scratch.length = 0;
    scratch.push(...HEADERS, 'x-debug', '1');
    applyHeaderMutation(scratch, mutation);
  }).toFixed(0),
]);

const w = Math.max(...rows.map((r) => r[0].length));
console.log(`${'case'.padEnd(w)}  ns/op`);
for (const [label, ns] of rows) console.log(`${label.padEnd(w)}  ${ns.padStart(5)}`);
