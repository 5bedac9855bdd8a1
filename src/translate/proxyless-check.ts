// Checks xDS JSON against what proxyless gRPC (grpc-js-xds 1.14) accepts, per the notes in
// shared/notes/grpc-js-xds-client.md §3. Returns problems (empty = fine); used by tests.
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../xds/type-urls.js';
import { isIpLiteral } from './endpoints.js';
import { ROUTER_TYPE, type XdsResource } from './proto.js';

/** Fields gRPC NACKs (or mishandles) anywhere in a client's resources. */
const FORBIDDEN = [
  'direct_response',
  'redirect',
  'query_parameters',
  'path_separated_prefix',
  'non_forwarding_action',
  'cluster_specifier_plugin',
  'connect_matcher',
  'idle_timeout',
  'lrs_server',
  'scoped_routes',
  'api_config_source',
];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

function walk(v: unknown, path: string, problems: string[], forbidden = FORBIDDEN): void {
  if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`, problems, forbidden));
  else if (isObj(v))
    for (const [k, x] of Object.entries(v)) {
      if (forbidden.includes(k)) problems.push(`${path}.${k}: gRPC NACKs this field`);
      walk(x, `${path}.${k}`, problems, forbidden);
    }
}

/** A gRFC A36 server Listener: socket address, one HCM per chain, server routes, A29 TLS. */
function checkServerListener(r: XdsResource, providers: readonly string[], problems: string[]): void {
  const sa = isObj(r.address) ? r.address.socket_address : undefined;
  if (!isObj(sa) || typeof sa.address !== 'string' || typeof sa.port_value !== 'number')
    problems.push('address.socket_address with address and port_value is required');
  if (r.listener_filters !== undefined) problems.push('listener_filters: gRPC NACKs them');
  const chains = [
    ...list(r.filter_chains),
    ...(isObj(r.default_filter_chain) ? [r.default_filter_chain] : []),
  ];
  if (chains.length === 0) problems.push('no filter chain');
  chains.forEach((fc, c) => {
    const p = `filter_chains[${c}]`;
    const m = fc.filter_chain_match;
    if (isObj(m) && m.transport_protocol !== 'raw_buffer')
      problems.push(`${p}.filter_chain_match: gRPC only matches transport_protocol raw_buffer`);
    const filters = list(fc.filters);
    const hcm = filters[0]?.typed_config;
    if (filters.length !== 1 || !isObj(hcm)) {
      problems.push(`${p}.filters: exactly one HttpConnectionManager`);
      return;
    }
    const hf = list(hcm.http_filters);
    const last = hf[hf.length - 1]?.typed_config;
    if (!isObj(last) || last['@type'] !== ROUTER_TYPE) problems.push(`${p}: the Router must be last`);
    const names = hf.map((f) => f.name);
    if (new Set(names).size !== names.length) problems.push(`${p}: http_filters names repeat`);
    for (const f of hf)
      if (isObj(f.typed_config) && isObj(f.typed_config.rules) && f.typed_config.rules.action === 'LOG')
        problems.push(`${p}: RBAC action LOG is refused by gRPC`);
    const rc = hcm.route_config;
    if (isObj(rc))
      list(rc.virtual_hosts).forEach((vh, v) =>
        list(vh.routes).forEach((rt, i) => {
          if (!isObj(rt.non_forwarding_action))
            problems.push(
              `${p} virtual_hosts[${v}].routes[${i}]: a server route needs non_forwarding_action`,
            );
        }),
      );
    else if (!isObj(hcm.rds) || !isAdsSource(hcm.rds.config_source))
      problems.push(`${p}: route_config or rds over ads is required`);
    if (fc.transport_socket !== undefined) {
      const tc = isObj(fc.transport_socket) ? fc.transport_socket.typed_config : undefined;
      const ctx = isObj(tc) ? tc.common_tls_context : undefined;
      if (!isObj(tc) || tc['@type'] !== DOWNSTREAM_TLS_TYPE || !isObj(ctx)) {
        problems.push(`${p}.transport_socket must be a DownstreamTlsContext with common_tls_context`);
        return;
      }
      const inst = (v: unknown): string | undefined =>
        isObj(v) && typeof v.instance_name === 'string' ? v.instance_name : undefined;
      const cert = inst(ctx.tls_certificate_provider_instance);
      if (cert === undefined || !providers.includes(cert))
        problems.push(`${p}: tls_certificate_provider_instance must name a bootstrap certificate provider`);
      if (ctx.tls_params !== undefined) problems.push(`${p}: tls_params: gRPC NACKs this field`);
      const vc = ctx.validation_context;
      const ca = isObj(vc) ? inst(vc.ca_certificate_provider_instance) : undefined;
      if (tc.require_client_certificate === true && (ca === undefined || !providers.includes(ca)))
        problems.push(`${p}: require_client_certificate needs a ca_certificate_provider_instance`);
    }
  });
}

const isAdsSource = (s: unknown): boolean => isObj(s) && (isObj(s.ads) || isObj(s.self));

function checkRoutes(vhosts: Obj[], problems: string[]): void {
  vhosts.forEach((vh, v) => {
    for (const d of Array.isArray(vh.domains) ? (vh.domains as string[]) : []) {
      const stars = d.split('*').length - 1;
      if (stars > 1 || (stars === 1 && !d.startsWith('*') && !d.endsWith('*')))
        problems.push(`virtual_hosts[${v}].domains: bad wildcard ${d}`);
    }
    list(vh.routes).forEach((r, i) => {
      const p = `virtual_hosts[${v}].routes[${i}]`;
      const m = r.match;
      if (!isObj(m) || !['prefix', 'path', 'safe_regex'].some((k) => k in m))
        problems.push(`${p}.match: needs prefix, path or safe_regex`);
      if (!isObj(r.route)) problems.push(`${p}: action must be route`);
      else {
        const wc = r.route.weighted_clusters;
        if (isObj(wc)) {
          const sum = list(wc.clusters).reduce((s, c) => s + Number(c.weight ?? 0), 0);
          if (!(sum > 0)) problems.push(`${p}.route.weighted_clusters: weight sum must be > 0`);
        } else if (typeof r.route.cluster !== 'string')
          problems.push(`${p}.route: needs cluster or weighted_clusters`);
      }
    });
  });
}

const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const DOWNSTREAM_TLS_TYPE =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/**
 * A cluster's transport_socket as gRFC A29 in grpc-js-xds takes it: an UpstreamTlsContext whose
 * certificate provider instances are in the client's bootstrap (`providers`); no SDS, no inline
 * certificates, no tls_params; a validation context naming the CA provider.
 */
function checkTransportSocket(ts: unknown, providers: readonly string[], problems: string[]): void {
  const p = 'transport_socket';
  const tc = isObj(ts) ? ts.typed_config : undefined;
  if (!isObj(tc) || tc['@type'] !== UPSTREAM_TLS_TYPE) {
    problems.push(`${p}.typed_config must be an UpstreamTlsContext`);
    return;
  }
  const ctx = tc.common_tls_context;
  if (!isObj(ctx)) {
    problems.push(`${p}: common_tls_context unset`);
    return;
  }
  const known = (inst: unknown, where: string): void => {
    const name = isObj(inst) ? inst.instance_name : undefined;
    if (typeof name !== 'string' || !providers.includes(name))
      problems.push(
        `${p}.${where}: instance ${String(name)} is not in the bootstrap's certificate_providers`,
      );
  };
  if (ctx.tls_certificate_provider_instance !== undefined)
    known(ctx.tls_certificate_provider_instance, 'tls_certificate_provider_instance');
  for (const k of [
    'tls_certificates',
    'tls_certificate_sds_secret_configs',
    'validation_context_sds_secret_config',
  ])
    if (ctx[k] !== undefined) problems.push(`${p}.common_tls_context.${k}: gRPC NACKs this field`);
  for (const k of ['tls_params', 'custom_handshaker'])
    if (ctx[k] !== undefined) problems.push(`${p}.common_tls_context.${k}: gRPC NACKs this field`);
  const combined = isObj(ctx.combined_validation_context) ? ctx.combined_validation_context : undefined;
  const vc = ctx.validation_context ?? combined?.default_validation_context;
  if (!isObj(vc)) problems.push(`${p}: a validation_context is required`);
  else if (vc.ca_certificate_provider_instance === undefined)
    problems.push(`${p}.validation_context.ca_certificate_provider_instance unset`);
  else known(vc.ca_certificate_provider_instance, 'validation_context.ca_certificate_provider_instance');
}

/**
 * Problems gRPC would have with `r` (empty: fine). `certProviders`: the certificate provider
 * instance names of the client's bootstrap (a transport_socket may only name those).
 */
export function checkProxylessResource(
  typeUrl: string,
  r: XdsResource,
  certProviders: readonly string[] = [],
): string[] {
  const problems: string[] = [];
  const server = typeUrl === LISTENER_TYPE && r.api_listener === undefined && r.address !== undefined;
  walk(r, '$', problems, server ? FORBIDDEN.filter((k) => k !== 'non_forwarding_action') : FORBIDDEN);
  if (r['@type'] !== typeUrl) problems.push(`'@type' must be ${typeUrl}`);
  if (server) checkServerListener(r, certProviders, problems);
  else if (typeUrl === LISTENER_TYPE) {
    const al = isObj(r.api_listener) ? r.api_listener.api_listener : undefined;
    if (!isObj(al)) problems.push('api_listener.api_listener missing');
    else {
      const filters = list(al.http_filters);
      const last = filters[filters.length - 1]?.typed_config;
      if (!isObj(last) || last['@type'] !== ROUTER_TYPE)
        problems.push('http_filters: the Router must be last');
      if (isObj(al.rds) && !isAdsSource(al.rds.config_source)) problems.push('rds.config_source must be ads');
      if (isObj(al.route_config)) checkRoutes(list(al.route_config.virtual_hosts), problems);
    }
  } else if (typeUrl === ROUTE_TYPE) checkRoutes(list(r.virtual_hosts), problems);
  else if (typeUrl === CLUSTER_TYPE) {
    if (r.type !== 'EDS') problems.push(`type must be EDS (got ${String(r.type)})`);
    const eds = r.eds_cluster_config;
    if (!isObj(eds) || !isAdsSource(eds.eds_config))
      problems.push('eds_cluster_config.eds_config must be ads');
    if (r.lb_policy !== undefined && r.lb_policy !== 'ROUND_ROBIN' && r.lb_policy !== 'RING_HASH')
      problems.push(`lb_policy ${String(r.lb_policy)} is not supported`);
    if (r.transport_socket !== undefined) checkTransportSocket(r.transport_socket, certProviders, problems);
    if (r.transport_socket_matches !== undefined)
      problems.push('transport_socket_matches: gRPC ignores it (per-endpoint security is not supported)');
  } else if (typeUrl === ENDPOINT_TYPE) {
    const seen = new Set<string>();
    list(r.endpoints).forEach((loc, l) => {
      if (!isObj(loc.locality)) problems.push(`endpoints[${l}].locality must be set`);
      if (!(Number(loc.load_balancing_weight) >= 1))
        problems.push(`endpoints[${l}].load_balancing_weight must be >= 1`);
      for (const ep of list(loc.lb_endpoints)) {
        const sa = (ep.endpoint as { address?: { socket_address?: Obj } } | undefined)?.address
          ?.socket_address;
        const key = `${String(sa?.address)}:${String(sa?.port_value)}`;
        if (typeof sa?.address !== 'string' || !isIpLiteral(sa.address))
          problems.push(`${key}: not an IP literal`);
        if (typeof sa?.port_value !== 'number') problems.push(`${key}: port_value required`);
        if (seen.has(key)) problems.push(`${key}: duplicate address`);
        seen.add(key);
      }
    });
  }
  return problems;
}
