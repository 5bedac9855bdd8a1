// Decodes an xDS Listener (socket address; an HTTP connection manager with routes by RDS or inline,
// a tcp_proxy, or both behind protocol detection) into ListenerConfig.
import { decodeSecurity, JWT_AUTHN_TYPE, RBAC_TYPE } from './decode-authz.js';
import { buildRouteTable, decodeRouteConfiguration } from './decode-route.js';
import { decodeTcpProxy, TCP_PROXY_TYPE } from './decode-tcp-proxy.js';
import { decodeServerTls, isServerTlsListener } from './decode-gateway-tls.js';
import { decodePassthroughListener, isPassthroughListener } from './decode-gateway-passthrough.js';
import { decodeDownstreamTls } from './decode-tls.js';
import {
  type Json,
  arr,
  fail,
  join,
  objList,
  optBool,
  optDurationMs,
  optEnum,
  optInt,
  optObj,
  optStr,
  rejectUnsupported,
  reqObj,
  reqStr,
} from './read.js';
import type { ListenerConfig, ListenerDirection, RouteSource, TcpProxyConfig } from './types.js';

export const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const TLS_INSPECTOR_TYPE =
  'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
export const HTTP_INSPECTOR_TYPE =
  'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector';
/** Protocol detection timeout when listener_filters_timeout is unset (client-first data). */
export const DEFAULT_DETECT_TIMEOUT_MS = 100;
const HTTP_PROTOCOLS: readonly string[] = ['http/1.1', 'http/1.0', 'h2c'];
const CHAIN_MATCH_UNSUPPORTED = [
  'destination_port',
  'prefix_ranges',
  'direct_source_prefix_ranges',
  'source_prefix_ranges',
  'source_ports',
  'server_names',
  'transport_protocol',
  'address_suffix',
  'suffix_len',
];

/** A tcp-only listener's HTTP fields: present for the type, never used (mode 'tcp'). */
const INERT_HTTP = (name: string): Pick<ListenerConfig, 'statPrefix' | 'codec' | 'routeSource'> => ({
  statPrefix: name,
  codec: 'auto',
  routeSource: {
    type: 'inline',
    routeTable: { name, virtualHosts: [], exactDomains: new Map(), onDemand: false },
  },
});

/** Trellis's listener names; anything else takes its direction from traffic_direction. */
export const OUTBOUND_LISTENER = 'trellis_outbound';
export const INBOUND_LISTENER = 'trellis_inbound';

function direction(l: Json, name: string, path: string): ListenerDirection {
  if (name === OUTBOUND_LISTENER) return 'outbound';
  if (name === INBOUND_LISTENER) return 'inbound';
  const d = optEnum(l, 'traffic_direction', path, ['UNSPECIFIED', 'INBOUND', 'OUTBOUND'], 'UNSPECIFIED');
  return d === 'INBOUND' ? 'inbound' : d === 'OUTBOUND' ? 'outbound' : 'unspecified';
}

function routeSource(hcm: Json, path: string): RouteSource {
  const rds = optObj(hcm, 'rds', path);
  if (rds !== undefined) {
    const rp = join(path, 'rds');
    const cs = reqObj(rds, 'config_source', rp);
    if (optObj(cs, 'ads', join(rp, 'config_source')) === undefined)
      fail(join(rp, 'config_source'), 'only ads config sources are supported');
    return { type: 'rds', routeConfigName: reqStr(rds, 'route_config_name', rp) };
  }
  const rc = optObj(hcm, 'route_config', path);
  if (rc !== undefined) {
    const d = decodeRouteConfiguration(rc, join(path, 'route_config'));
    if (d.onDemand)
      fail(join(path, 'route_config.vhds'), 'VHDS is only supported on RDS route configurations');
    return { type: 'inline', routeTable: buildRouteTable(d.name, false, d.virtualHosts) };
  }
  return fail(path, 'rds or route_config is required');
}

function checkFilters(hcm: Json, path: string): void {
  const filters = objList(hcm, 'http_filters', path);
  for (const [f, p] of filters) {
    const tc = optObj(f, 'typed_config', p);
    const t = tc?.['@type'];
    if (t === JWT_AUTHN_TYPE || t === RBAC_TYPE) continue; // decode-authz.ts
    if (
      t !== ROUTER_TYPE &&
      optStr(f, 'name', p) !== 'envoy.filters.http.router' &&
      f['is_optional'] !== true
    )
      fail(p, `HTTP filter ${String(t ?? f['name'])} is not supported`);
  }
}

/** One network filter chain: the HCM or a tcp_proxy (exactly one network filter). */
type Chain =
  | { readonly kind: 'http'; readonly hcm: Json; readonly path: string; readonly matched: boolean }
  | { readonly kind: 'tcp'; readonly tcp: TcpProxyConfig; readonly matched: boolean };

/** filter_chain_match: only application_protocols naming plaintext HTTP (what detection yields). */
function chainMatch(chain: Json, cp: string): boolean {
  const m = optObj(chain, 'filter_chain_match', cp);
  if (m === undefined) return false;
  const mp = join(cp, 'filter_chain_match');
  rejectUnsupported(m, CHAIN_MATCH_UNSUPPORTED, mp);
  const protos = arr(m, 'application_protocols', mp);
  if (protos.length === 0) return false;
  for (const [i, v] of protos.entries())
    if (typeof v !== 'string' || !HTTP_PROTOCOLS.includes(v))
      fail(join(join(mp, 'application_protocols'), i), `supported: ${HTTP_PROTOCOLS.join(', ')}`);
  return true;
}

function decodeChain(chain: Json, cp: string): Chain {
  const matched = chainMatch(chain, cp);
  const filters = objList(chain, 'filters', cp);
  if (filters.length !== 1)
    fail(
      join(cp, 'filters'),
      'exactly one network filter (http_connection_manager or tcp_proxy) is supported',
    );
  const [filter, fp] = filters[0] as [Json, string];
  const tc = reqObj(filter, 'typed_config', fp);
  const tp = join(fp, 'typed_config');
  if (tc['@type'] === HCM_TYPE) return { kind: 'http', hcm: tc, path: tp, matched };
  if (tc['@type'] === TCP_PROXY_TYPE) {
    if (matched) fail(join(cp, 'filter_chain_match'), 'a tcp_proxy chain cannot match HTTP protocols');
    return { kind: 'tcp', tcp: decodeTcpProxy(tc, tp), matched };
  }
  return fail(tp, `network filter ${String(tc['@type'])} is not supported`);
}

/** listener_filters: the TLS and HTTP inspectors (the proxy's own protocol detection). */
function detection(l: Json): number {
  for (const [f, p] of objList(l, 'listener_filters', '')) {
    const t = optObj(f, 'typed_config', p)?.['@type'];
    if (t !== TLS_INSPECTOR_TYPE && t !== HTTP_INSPECTOR_TYPE)
      fail(p, `listener filter ${String(t ?? f['name'])} is not supported`);
  }
  if (optBool(l, 'continue_on_listener_filters_timeout', '') === false && l['listener_filters_timeout'])
    fail('continue_on_listener_filters_timeout', 'must be true: silence means a server-first protocol');
  return optDurationMs(l, 'listener_filters_timeout', '') || DEFAULT_DETECT_TIMEOUT_MS;
}

/**
 * Supported shapes: one HCM chain (mode http); one tcp_proxy chain (mode tcp, never sniffed); or
 * an HCM chain matching application_protocols http/1.1 / h2c plus a tcp_proxy default_filter_chain
 * (mode detect: HTTP to the HCM, anything else to tcp_proxy).
 */
export function decodeListener(l: Json): ListenerConfig {
  const all = objList(l, 'filter_chains', '');
  // A gateway's TLS passthrough port: tcp_proxy chains by SNI (decode-gateway-passthrough.ts).
  if (isPassthroughListener(all)) return decodePassthroughListener(l, all);
  // A gateway's HTTPS port: server-side TLS chains by SNI (decode-gateway-tls.ts).
  if (isServerTlsListener(all)) {
    const { tls, inner } = decodeServerTls(all, l);
    const cfg = decodeChains(l, [inner]);
    if (cfg.mode === 'tcp') fail('filter_chains', 'an HTTPS listener runs an HTTP connection manager');
    return { ...cfg, tls };
  }
  const tlsAt: number[] = [];
  for (const [i, [c, p]] of all.entries()) {
    const tp = optObj(c, 'filter_chain_match', p)?.['transport_protocol'];
    if (tp === 'tls') tlsAt.push(i);
    else if (c['transport_socket'] !== undefined && c['transport_socket'] !== null)
      fail(join(p, 'transport_socket'), 'a TLS chain must match filter_chain_match.transport_protocol "tls"');
  }
  const dfltChain = optObj(l, 'default_filter_chain', '');
  if (dfltChain?.['transport_socket'] !== undefined)
    fail('default_filter_chain.transport_socket', 'the default chain is plaintext');
  if (tlsAt.length === 0) return decodeChains(l, all);
  if (tlsAt.length > 1)
    fail('filter_chains', 'at most one TLS (transport_protocol "tls") chain is supported');
  const [tc, tp] = all[tlsAt[0] as number] as [Json, string];
  const mp = join(tp, 'filter_chain_match');
  const m = reqObj(tc, 'filter_chain_match', tp);
  for (const k of Object.keys(m))
    if (k !== 'transport_protocol' && m[k] !== undefined && m[k] !== null)
      fail(join(mp, k), 'a TLS chain matches transport_protocol only');
  const tls =
    decodeDownstreamTls(reqObj(tc, 'transport_socket', tp), join(tp, 'transport_socket')) ??
    fail(join(tp, 'transport_socket'), 'a TLS chain needs a DownstreamTlsContext');
  const inner: Json = { ...tc, filter_chain_match: undefined, transport_socket: undefined };
  const plain = all.filter((_, i) => i !== tlsAt[0]);
  if (plain.length === 0 && dfltChain === undefined) {
    // STRICT: the TLS chain is the only one; plaintext matches no chain and is refused.
    const cfg = decodeChains(l, [[inner, tp]]);
    return { ...cfg, tls: { mode: 'strict', inner: cfg.mode === 'tcp' ? 'tcp' : 'http', tls } };
  }
  // PERMISSIVE: TLS is terminated and runs the same network filter one of the plaintext chains runs.
  const cfg = decodeChains(l, plain);
  const filters = JSON.stringify(tc['filters']);
  const same = [...plain.map(([c]) => c), dfltChain].find(
    (c) => c !== undefined && JSON.stringify(c['filters']) === filters,
  );
  if (same === undefined)
    fail(join(tp, 'filters'), 'must be the network filter of one of the plaintext chains (permissive mTLS)');
  const kind = decodeChain(inner, tp).kind;
  return { ...cfg, tls: { mode: 'permissive', inner: kind, tls } };
}

function decodeChains(l: Json, rawChains: readonly [Json, string][]): ListenerConfig {
  const name = reqStr(l, 'name', '');
  if (optObj(l, 'api_listener', '') !== undefined)
    fail('api_listener', 'API listeners are for proxyless clients');
  const sa = reqObj(reqObj(l, 'address', ''), 'socket_address', 'address');
  const address = reqStr(sa, 'address', 'address.socket_address');
  const port = optInt(sa, 'port_value', 'address.socket_address', 0, 65535) ?? 0;
  const chains = rawChains.map(([c, p]) => decodeChain(c, p));
  const dflt = optObj(l, 'default_filter_chain', '');
  if (dflt !== undefined) chains.push(decodeChain(dflt, 'default_filter_chain'));
  const http = chains.filter((c) => c.kind === 'http');
  const tcp = chains.filter((c) => c.kind === 'tcp');
  if (chains.length === 0 || http.length > 1 || tcp.length > 1)
    fail('filter_chains', 'supported: one HTTP connection manager chain and/or one tcp_proxy chain');
  const base = { name, direction: direction(l, name, ''), address, port };
  const h = http[0];
  const t = tcp[0];
  const detectTimeoutMs = detection(l);
  if (h === undefined) {
    const tc = (t as Extract<Chain, { kind: 'tcp' }>).tcp;
    return { ...base, ...INERT_HTTP(name), mode: 'tcp', tcpProxy: tc };
  }
  if (h.kind !== 'http') return fail('filter_chains', 'expected an HTTP connection manager chain');
  if (t !== undefined && !h.matched)
    fail('filter_chains', 'with a tcp_proxy chain, the HTTP chain must match application_protocols');
  if (t === undefined && h.matched)
    fail('filter_chains', 'an HTTP chain matching application_protocols needs a tcp_proxy default chain');
  checkFilters(h.hcm, h.path);
  const codec = optEnum(h.hcm, 'codec_type', h.path, ['AUTO', 'HTTP1', 'HTTP2'], 'AUTO');
  const security = decodeSecurity(h.hcm, h.path, objList(h.hcm, 'http_filters', h.path));
  // Detection sends what it does not recognise as HTTP (late bytes, leading CRLF) to tcp_proxy,
  // which would carry it past the policy.
  if (security !== undefined && t !== undefined)
    fail(
      'default_filter_chain',
      'a listener with jwt_authn/rbac/normalize_path cannot have a tcp_proxy chain',
    );
  const httpPart = {
    statPrefix: optStr(h.hcm, 'stat_prefix', h.path) ?? name,
    codec: codec === 'HTTP1' ? 'http1' : codec === 'HTTP2' ? 'http2' : 'auto',
    routeSource: routeSource(h.hcm, h.path),
    ...(optBool(h.hcm, 'use_remote_address', h.path) === true ? { edge: true } : {}),
    ...(security !== undefined && { security }),
  } as const;
  if (t === undefined || t.kind !== 'tcp') return { ...base, ...httpPart };
  return { ...base, ...httpPart, mode: 'detect', tcpProxy: t.tcp, detectTimeoutMs };
}
