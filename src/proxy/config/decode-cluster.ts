// Decodes xDS Cluster (EDS or STATIC, lb policy, HTTP/1 or HTTP/2 upstream, connect timeout) and
// ClusterLoadAssignment (endpoints with weight, health, priority, labels) JSON into config types.
import {
  type Json,
  fail,
  isObj,
  join,
  objList,
  optDurationMs,
  optEnum,
  optInt,
  optObj,
  optStr,
  rejectUnsupported,
  reqObj,
  reqStr,
} from './read.js';
import type {
  ClusterConfig,
  ClusterEndpointsConfig,
  ClusterLbPolicy,
  EndpointConfig,
  EndpointHealth,
} from './types.js';
import { decodeTransportSocketMatches, tlsMatchMetadata } from './decode-tls.js';

const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const HTTP_OPTIONS_TYPE = `type.googleapis.com/${HTTP_OPTIONS_KEY}`;
const LB_POLICIES: readonly ClusterLbPolicy[] = [
  'ROUND_ROBIN',
  'LEAST_REQUEST',
  'RING_HASH',
  'RANDOM',
  'MAGLEV',
];

function protocol(c: Json): 'http1' | 'http2' {
  const opts = optObj(c, 'typed_extension_protocol_options', '');
  if (opts === undefined) return 'http1';
  for (const [key, v] of Object.entries(opts)) {
    const p = `typed_extension_protocol_options.${key}`;
    if (!isObj(v) || v['@type'] !== HTTP_OPTIONS_TYPE)
      fail(p, `unsupported protocol options ${String(isObj(v) ? v['@type'] : v)}`);
    const explicit = optObj(v, 'explicit_http_config', p);
    if (explicit === undefined) fail(p, 'explicit_http_config is required');
    const ep = join(p, 'explicit_http_config');
    if (optObj(explicit, 'http2_protocol_options', ep) !== undefined) return 'http2';
    if (optObj(explicit, 'http_protocol_options', ep) !== undefined) return 'http1';
    fail(ep, 'http_protocol_options or http2_protocol_options is required');
  }
  return 'http1';
}

const HEALTH: Readonly<Record<string, EndpointHealth>> = {
  UNKNOWN: 'unknown',
  HEALTHY: 'healthy',
  UNHEALTHY: 'unhealthy',
  DRAINING: 'draining',
  TIMEOUT: 'timeout',
  DEGRADED: 'degraded',
};

/** Labels from `metadata.filter_metadata["envoy.lb"]` or `["trellis"].labels` (string values). */
function labels(e: Json, path: string): Record<string, string> {
  const md = optObj(e, 'metadata', path);
  const fm = md && optObj(md, 'filter_metadata', join(path, 'metadata'));
  if (fm === undefined) return {};
  const src =
    isObj(fm['trellis']) && isObj(fm['trellis']['labels']) ? fm['trellis']['labels'] : fm['envoy.lb'];
  const out: Record<string, string> = {};
  if (isObj(src)) for (const [k, v] of Object.entries(src)) if (typeof v === 'string') out[k] = v;
  return out;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]{2,45}$/;

/** A ClusterLoadAssignment; `expectName` (a STATIC cluster's own name) when embedded. */
export function decodeClusterLoadAssignment(
  cla: Json,
  path = '',
  expectName?: string,
): ClusterEndpointsConfig {
  const clusterName = expectName ?? reqStr(cla, 'cluster_name', path);
  rejectUnsupported(cla, ['named_endpoints'], path);
  const endpoints: EndpointConfig[] = [];
  const seen = new Set<string>();
  for (const [loc, lp] of objList(cla, 'endpoints', path)) {
    const priority = optInt(loc, 'priority', lp, 0, 128) ?? 0;
    const locWeight = optInt(loc, 'load_balancing_weight', lp) ?? 1;
    if (locWeight === 0) continue; // Envoy: a zero-weight locality takes no traffic.
    for (const [lb, p] of objList(loc, 'lb_endpoints', lp)) {
      const ep = reqObj(lb, 'endpoint', p);
      const sap = join(p, 'endpoint.address.socket_address');
      const sa = reqObj(
        reqObj(ep, 'address', join(p, 'endpoint')),
        'socket_address',
        join(p, 'endpoint.address'),
      );
      const address = reqStr(sa, 'address', sap);
      const isV6 = address.includes(':');
      if (!IPV4.test(address) && !(isV6 && IPV6.test(address)))
        fail(join(sap, 'address'), `not an IP address: ${address}`);
      const port =
        optInt(sa, 'port_value', sap, 1, 65535) ?? fail(join(sap, 'port_value'), 'required (1-65535)');
      const id = isV6 ? `[${address}]:${port}` : `${address}:${port}`;
      if (seen.has(id)) fail(p, `duplicate endpoint ${id}`);
      seen.add(id);
      const weight = optInt(lb, 'load_balancing_weight', p, 1) ?? 1;
      const hs = optEnum(lb, 'health_status', p, Object.keys(HEALTH), 'UNKNOWN');
      const tlsMatch = tlsMatchMetadata(lb, p);
      endpoints.push({
        id,
        address,
        port,
        weight,
        health: HEALTH[hs] ?? 'unknown',
        priority,
        labels: labels(lb, p),
        ...(tlsMatch !== undefined ? { tlsMatch } : {}),
      });
    }
  }
  return { clusterName, endpoints };
}

/** Policies of `load_balancing_policy` (gRFC A52 / Envoy) by the type of their typed_config. */
const LB_EXTENSIONS: Readonly<Record<string, ClusterLbPolicy>> = {
  'type.trellis.dev/trellis.lb.v1.PeakEwma': 'PEAK_EWMA',
  'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest':
    'LEAST_REQUEST',
  'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin': 'ROUND_ROBIN',
  'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash': 'RING_HASH',
  'type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random': 'RANDOM',
};

/** The first policy of `load_balancing_policy` this proxy implements (undefined when the field is absent). */
function loadBalancingPolicy(c: Json): ClusterLbPolicy | undefined {
  const lbp = optObj(c, 'load_balancing_policy', '');
  if (lbp === undefined) return undefined;
  const policies = lbp['policies'];
  if (!Array.isArray(policies) || policies.length === 0)
    fail('load_balancing_policy.policies', 'must list at least one policy');
  const seen: string[] = [];
  for (const p of policies as Json[]) {
    const tc = (p?.['typed_extension_config'] as Json | undefined)?.['typed_config'] as Json | undefined;
    const type = String(tc?.['@type'] ?? '');
    // A TypedStruct names the policy by its type_url (how Trellis's own policies travel).
    const url = type.endsWith('.TypedStruct') ? String(tc?.['type_url'] ?? '') : type;
    const known = LB_EXTENSIONS[url];
    if (known) return known;
    seen.push(url || '(none)');
  }
  return fail(
    'load_balancing_policy.policies',
    `no policy this proxy implements (got ${seen.join(', ')}; known: ${Object.keys(LB_EXTENSIONS).join(', ')})`,
  );
}

export function decodeCluster(c: Json): ClusterConfig {
  const name = reqStr(c, 'name', '');
  rejectUnsupported(c, ['cluster_type', 'lb_subset_config'], '');
  const type = optEnum(c, 'type', '', ['STATIC', 'EDS'], 'STATIC');
  const lbPolicy = loadBalancingPolicy(c) ?? optEnum(c, 'lb_policy', '', LB_POLICIES, 'ROUND_ROBIN');
  const connectTimeoutMs = optDurationMs(c, 'connect_timeout', '') ?? 5000;
  if (connectTimeoutMs <= 0) fail('connect_timeout', 'must be > 0');
  const matches = decodeTransportSocketMatches(c);
  const base = {
    name,
    lbPolicy,
    protocol: protocol(c),
    connectTimeoutMs,
    ...(matches.length > 0 ? { transportSocketMatches: matches } : {}),
  };
  if (type === 'EDS') {
    const ecc = reqObj(c, 'eds_cluster_config', '');
    const cs = reqObj(ecc, 'eds_config', 'eds_cluster_config');
    if (
      optObj(cs, 'ads', 'eds_cluster_config.eds_config') === undefined &&
      optObj(cs, 'self', 'eds_cluster_config.eds_config') === undefined
    )
      fail('eds_cluster_config.eds_config', 'only ads config sources are supported');
    const svc = optStr(ecc, 'service_name', 'eds_cluster_config');
    return { ...base, discovery: 'eds', edsServiceName: svc || name };
  }
  const la = reqObj(c, 'load_assignment', '');
  return {
    ...base,
    discovery: 'static',
    edsServiceName: name,
    loadAssignment: decodeClusterLoadAssignment(la, 'load_assignment', name),
  };
}
