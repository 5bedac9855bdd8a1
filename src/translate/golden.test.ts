// Golden tests: test/fixtures/translate/<case>.yaml (mesh YAML + header naming the node and what
// it subscribes) -> <case>.golden.json, following references as a client would (LDS -> RDS ->
// CDS -> EDS). UPDATE_GOLDEN=1 rewrites the goldens. Every resource must also encode strictly
// (src/xds) and, for proxyless nodes, pass grpc-js-xds's own validation (no NACK).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstanceConfig, MeshSnapshot } from '../api/mesh-snapshot.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { parseDocuments } from '../api/parse.js';
import type {
  AuthorizationPolicyResource,
  GatewayResource,
  GRPCRouteResource,
  HTTPRouteResource,
  MeshTLSResource,
  RequestAuthenticationResource,
  ServiceResource,
  TLSRouteResource,
  ConfigMapResource,
} from '../api/types.js';
import { encodeResource } from '../xds/any.js';
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  VIRTUAL_HOST_TYPE,
} from '../xds/type-urls.js';
import { parseNode, translate, type NodeInfo, type XdsResource } from './index.js';
import { checkProxylessResource } from './proxyless-check.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = join(root, 'test/fixtures/translate');
const update = process.env.UPDATE_GOLDEN === '1';

type Obj = Record<string, unknown>;
type Validator = (any: { type_url: string; value: Buffer }) => { error?: string };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

interface Case {
  readonly node: NodeInfo;
  readonly lds: readonly string[] | '*';
  readonly vhds: readonly string[];
  readonly snapshot: MeshSnapshot;
}

/**
 * Header lines: `# node: {xDS Node JSON}`, `# lds: a, b` (or `*`), `# vhds: ...`, `# instance: {...}`,
 * `# trust-domain: td` (the CA's, for mTLS).
 */
function readCase(file: string): Case {
  const text = readFileSync(join(dir, file), 'utf8');
  const header = (key: string): string[] =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`# ${key}:`))
      .map((l) => l.slice(key.length + 3).trim());
  const names = (key: string): string[] =>
    header(key).flatMap((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  const parsed = parseDocuments(text, file);
  if (!parsed.ok) assert.fail(`${file}: ${JSON.stringify(parsed.error, null, 2)}`);
  const res = parsed.value;
  const instances = new Map<string, InstanceConfig[]>();
  for (const i of header('instance').map((l) => JSON.parse(l) as InstanceConfig)) {
    const k = serviceKey(i.namespace, i.service);
    instances.set(k, [...(instances.get(k) ?? []), i]);
  }
  const services = res.filter((r): r is ServiceResource => r.kind === 'Service');
  const lds = names('lds');
  return {
    node: parseNode(JSON.parse(header('node')[0] ?? '{}') as Obj),
    lds: lds.length === 1 && lds[0] === '*' ? '*' : lds,
    vhds: names('vhds'),
    snapshot: {
      configVersion: 1,
      endpointsVersion: 1,
      services: new Map(services.map((s) => [serviceKey(s.metadata.namespace, s.metadata.name), s])),
      httpRoutes: res.filter((r): r is HTTPRouteResource => r.kind === 'HTTPRoute'),
      grpcRoutes: res.filter((r): r is GRPCRouteResource => r.kind === 'GRPCRoute'),
      gateways: new Map(
        res
          .filter((r): r is GatewayResource => r.kind === 'Gateway')
          .map((g) => [serviceKey(g.metadata.namespace, g.metadata.name), g]),
      ),
      authorizationPolicies: res.filter(
        (r): r is AuthorizationPolicyResource => r.kind === 'AuthorizationPolicy',
      ),
      requestAuthentications: res.filter(
        (r): r is RequestAuthenticationResource => r.kind === 'RequestAuthentication',
      ),
      meshTls: res.filter((r): r is MeshTLSResource => r.kind === 'MeshTLS'),
      tlsRoutes: res.filter((r): r is TLSRouteResource => r.kind === 'TLSRoute'),
      configMaps: new Map(
        res
          .filter((r): r is ConfigMapResource => r.kind === 'ConfigMap')
          .map((c) => [serviceKey(c.metadata.namespace, c.metadata.name), c]),
      ),
      ...(header('trust-domain')[0] !== undefined ? { trustDomain: header('trust-domain')[0] } : {}),
      instances,
    },
  };
}

function clustersOfRoutes(vhosts: Obj[], into: Set<string>): void {
  for (const vh of vhosts)
    for (const r of arr(vh.routes)) {
      const a = r.route;
      if (!isObj(a)) continue;
      if (typeof a.cluster === 'string') into.add(a.cluster);
      if (isObj(a.weighted_clusters))
        for (const c of arr(a.weighted_clusters.clusters)) into.add(String(c.name));
      for (const m of arr(a.request_mirror_policies)) into.add(String(m.cluster));
    }
}

const hcms = (l: Obj): Obj[] => [
  ...(isObj(l.api_listener) && isObj(l.api_listener.api_listener) ? [l.api_listener.api_listener] : []),
  ...[...arr(l.filter_chains), ...(isObj(l.default_filter_chain) ? [l.default_filter_chain] : [])].flatMap(
    (fc) =>
      arr(fc.filters)
        .map((f) => f.typed_config)
        .filter(isObj),
  ),
];

/** Everything a client would end up subscribed to, starting from its listeners. */
function subscribeAll(c: Case): Record<string, Record<string, XdsResource>> {
  const { snapshot, node } = c;
  const lds = translate(snapshot, node, LISTENER_TYPE, c.lds);
  const rdsNames = new Set<string>();
  const clusters = new Set<string>(
    node.kind === 'sidecar' ? translate(snapshot, node, CLUSTER_TYPE, '*').keys() : [],
  );
  for (const l of lds.values())
    for (const h of hcms(l)) {
      if (isObj(h.rds)) rdsNames.add(String(h.rds.route_config_name));
      if (isObj(h.route_config)) clustersOfRoutes(arr(h.route_config.virtual_hosts), clusters);
      if (typeof h.cluster === 'string') clusters.add(h.cluster); // tcp_proxy
      if (isObj(h.weighted_clusters))
        for (const c of arr(h.weighted_clusters.clusters)) clusters.add(String(c.name));
    }
  const rds = translate(snapshot, node, ROUTE_TYPE, [...rdsNames]);
  for (const rc of rds.values()) clustersOfRoutes(arr(rc.virtual_hosts), clusters);
  const vhds = translate(snapshot, node, VIRTUAL_HOST_TYPE, c.vhds);
  clustersOfRoutes([...vhds.values()], clusters);
  const cds = translate(snapshot, node, CLUSTER_TYPE, [...clusters].sort());
  const edsNames = [...cds.values()]
    .filter((cl) => cl.type === 'EDS')
    .map((cl) => {
      const eds = cl.eds_cluster_config as { service_name?: string } | undefined;
      return eds?.service_name || String(cl.name);
    });
  const eds = translate(snapshot, node, ENDPOINT_TYPE, edsNames);
  const o = (m: Map<string, XdsResource>) => Object.fromEntries(m);
  return { LDS: o(lds), RDS: o(rds), VHDS: o(vhds), CDS: o(cds), EDS: o(eds) };
}

const TYPES: Record<string, string> = {
  LDS: LISTENER_TYPE,
  RDS: ROUTE_TYPE,
  VHDS: VIRTUAL_HOST_TYPE,
  CDS: CLUSTER_TYPE,
  EDS: ENDPOINT_TYPE,
};

/** grpc-js-xds's own resource validators: what the real client would NACK. */
function grpcValidators(certProviders: readonly string[]): Record<string, Validator> {
  const require = createRequire(import.meta.url);
  // Server Listeners carry RBAC filters (gRFC A41), which grpc-js-xds 1.14 takes only with this set
  // (as a Trellis proxyless server must run: docs/security.md); read once, when the module loads.
  process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] ??= 'true';
  (require('@grpc/grpc-js-xds') as { register(): void }).register();
  const base = '@grpc/grpc-js-xds/build/src/xds-resource-type/';
  const providers = Object.fromEntries(certProviders.map((p) => [p, {}]));
  const ctx = { bootstrap: { certificateProviders: providers }, server: {} };
  const get = (file: string, cls: string): Validator => {
    const t = (
      require(base + file) as Record<
        string,
        { get(): { decode(c: unknown, a: unknown): { error?: string } } }
      >
    )[cls];
    assert.ok(t, `${cls} not found in grpc-js-xds`);
    const inst = t.get();
    return (a: { type_url: string; value: Buffer }) => inst.decode(ctx, a);
  };
  return {
    LDS: get('listener-resource-type.js', 'ListenerResourceType'),
    RDS: get('route-config-resource-type.js', 'RouteConfigurationResourceType'),
    CDS: get('cluster-resource-type.js', 'ClusterResourceType'),
    EDS: get('endpoint-resource-type.js', 'EndpointResourceType'),
  };
}

const cases = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
  : [];
const validatorsBy = new Map<string, Record<string, Validator>>();

for (const file of cases) {
  test(`golden: ${file}`, () => {
    const c = readCase(file);
    const out = subscribeAll(c);
    const golden = { node: c.node, ...out };
    const goldenFile = join(dir, file.replace(/\.yaml$/, '.golden.json'));
    const text = `${JSON.stringify(golden, null, 2)}\n`;
    if (!update && !existsSync(goldenFile) && process.env.CI)
      assert.fail(`${file}: no golden file ${goldenFile}; run the tests with UPDATE_GOLDEN=1 and commit it`);
    if (update || !existsSync(goldenFile)) writeFileSync(goldenFile, text);
    else
      assert.deepEqual(
        JSON.parse(text),
        JSON.parse(readFileSync(goldenFile, 'utf8')),
        `${file}: run with UPDATE_GOLDEN=1 to accept`,
      );

    // A client with a certificate provider (node CERT_PROVIDER) has it in its bootstrap.
    const providers = c.node.certProvider !== undefined ? [c.node.certProvider] : [];
    let validators = validatorsBy.get(providers.join());
    if (validators === undefined)
      validatorsBy.set(providers.join(), (validators = grpcValidators(providers)));
    for (const [short, resources] of Object.entries(out))
      for (const [name, r] of Object.entries(resources)) {
        const typeUrl = TYPES[short] ?? '';
        assert.equal(r['@type'], typeUrl, `${short} ${name}`);
        const any = encodeResource(r); // strict: unknown fields, bad enums and empty Anys throw
        if (c.node.kind !== 'proxyless') continue;
        assert.deepEqual(checkProxylessResource(typeUrl, r, providers), [], `${short} ${name}`);
        const validate: Validator | undefined = validators[short];
        assert.ok(validate, `proxyless clients never ask ${short}`);
        const result: { error?: string } = validate({
          type_url: any.type_url,
          value: Buffer.from(any.value),
        });
        assert.equal(result.error, undefined, `${short} ${name}: grpc-js-xds would NACK: ${result.error}`);
      }
  });
}
