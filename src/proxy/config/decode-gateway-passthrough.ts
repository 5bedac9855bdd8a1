// Decodes an ingress gateway's TLS passthrough port (Gateway listeners with protocol TLS and
// TLSRoutes): a tls_inspector and filter chains matching transport_protocol "tls" and server_names
// (SNI), each running a tcp_proxy to one cluster or weighted_clusters, no transport_socket (TLS is
// not terminated: the bytes go to the backend as they came). The chain the SNI picks is Envoy's:
// exact server name, then the longest `*.suffix`, then a chain without server_names; no chain:
// the connection is closed.
import { TCP_PROXY_TYPE, DEFAULT_TCP_IDLE_TIMEOUT_MS } from './decode-tcp-proxy.js';
import { onlyKeys } from './decode-tls.js';
import { chainForServerName } from './decode-gateway-tls.js';
import {
  type Json,
  arr,
  fail,
  isObj,
  join,
  objList,
  optDurationMs,
  optEnum,
  optInt,
  optObj,
  optStr,
  reqObj,
  reqStr,
} from './read.js';
import type { ListenerConfig, TcpProxyConfig, WeightedCluster } from './types.js';

/** A gateway's TLS passthrough port: chains by SNI, each a weighted tcp_proxy. */
export interface PassthroughListenerTlsConfig {
  readonly mode: 'passthrough';
  readonly inner: 'tcp';
  /** Chains with server_names first, in order; at most one without (the catch-all). */
  readonly chains: readonly PassthroughChain[];
}

export interface PassthroughChain {
  readonly name: string;
  /** Lower-cased; exact or `*.suffix`; empty: any SNI (and none). */
  readonly serverNames: readonly string[];
  readonly statPrefix: string;
  /** Weights > 0. */
  readonly clusters: readonly WeightedCluster[];
  readonly totalWeight: number;
  readonly idleTimeoutMs: number;
}

const SERVER_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const tcpFilterOf = (c: Json): Json | undefined => {
  const fs = c['filters'];
  if (!Array.isArray(fs) || fs.length !== 1 || !isObj(fs[0])) return undefined;
  const tc = fs[0]['typed_config'];
  return isObj(tc) && tc['@type'] === TCP_PROXY_TYPE ? tc : undefined;
};

/** True for a listener whose chains all match TLS by SNI with a tcp_proxy and no TLS termination. */
export function isPassthroughListener(chains: readonly [Json, string][]): boolean {
  return (
    chains.length > 0 &&
    chains.every(([c]) => {
      const m = c['filter_chain_match'];
      return (
        isObj(m) &&
        m['transport_protocol'] === 'tls' &&
        (c['transport_socket'] === undefined || c['transport_socket'] === null) &&
        tcpFilterOf(c) !== undefined
      );
    })
  );
}

function decodeChain(c: Json, cp: string, name: string): PassthroughChain {
  onlyKeys(c, ['name', 'filter_chain_match', 'filters'], cp);
  const mp = join(cp, 'filter_chain_match');
  const m = reqObj(c, 'filter_chain_match', cp);
  onlyKeys(m, ['transport_protocol', 'server_names'], mp);
  const serverNames = arr(m, 'server_names', mp).map((v, i) => {
    const n = typeof v === 'string' ? v.toLowerCase() : '';
    if (!SERVER_NAME.test(n)) fail(join(join(mp, 'server_names'), i), 'expected a hostname or *.suffix');
    return n;
  });
  const tp = join(join(join(cp, 'filters'), 0), 'typed_config');
  const tc = tcpFilterOf(c) as Json;
  onlyKeys(tc, ['stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout'], tp);
  const cluster = optStr(tc, 'cluster', tp);
  const wc = optObj(tc, 'weighted_clusters', tp);
  let clusters: WeightedCluster[];
  if (cluster !== undefined && cluster !== '') {
    if (wc !== undefined) fail(join(tp, 'weighted_clusters'), 'set either cluster or weighted_clusters');
    clusters = [{ name: cluster, weight: 1 }];
  } else {
    if (wc === undefined) return fail(tp, 'cluster or weighted_clusters is required');
    const wp = join(tp, 'weighted_clusters');
    onlyKeys(wc, ['clusters'], wp);
    clusters = objList(wc, 'clusters', wp).map(([w, p]) => {
      onlyKeys(w, ['name', 'weight'], p);
      const weight = w['weight'];
      if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0)
        fail(join(p, 'weight'), 'expected an integer >= 0');
      return { name: reqStr(w, 'name', p), weight: weight as number };
    });
    clusters = clusters.filter((x) => x.weight > 0);
    if (clusters.length === 0) fail(join(wp, 'clusters'), 'at least one cluster with a weight above 0');
  }
  const idle = optDurationMs(tc, 'idle_timeout', tp);
  return {
    name,
    serverNames,
    statPrefix: reqStr(tc, 'stat_prefix', tp),
    clusters,
    totalWeight: clusters.reduce((s, x) => s + x.weight, 0),
    idleTimeoutMs: idle ?? DEFAULT_TCP_IDLE_TIMEOUT_MS,
  };
}

/**
 * The listener config: mode 'tcp' with `tls` the passthrough chains. `tcpProxy` is the first
 * chain's first cluster; the xDS client subscribes to every chain's clusters over CDS
 * (neededClusterNames in ../xds-client/snapshot.ts).
 */
export function decodePassthroughListener(l: Json, chains: readonly [Json, string][]): ListenerConfig {
  const name = reqStr(l, 'name', '');
  const sa = reqObj(reqObj(l, 'address', ''), 'socket_address', 'address');
  const port = optInt(sa, 'port_value', 'address.socket_address', 0, 65535) ?? 0;
  const d = optEnum(l, 'traffic_direction', '', ['UNSPECIFIED', 'INBOUND', 'OUTBOUND'], 'UNSPECIFIED');
  const base = {
    name,
    direction:
      d === 'INBOUND'
        ? ('inbound' as const)
        : d === 'OUTBOUND'
          ? ('outbound' as const)
          : ('unspecified' as const),
    address: reqStr(sa, 'address', 'address.socket_address'),
    port,
  };
  if (optObj(l, 'default_filter_chain', '') !== undefined)
    fail('default_filter_chain', 'a TLS passthrough listener has SNI chains only (no match: closed)');
  for (const [f, p] of objList(l, 'listener_filters', '')) {
    const t = optObj(f, 'typed_config', p)?.['@type'];
    if (t !== 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector')
      fail(p, `listener filter ${String(t ?? f['name'])} is not supported on a TLS passthrough listener`);
  }
  const out: PassthroughChain[] = [];
  let catchAll = 0;
  for (const [c, cp] of chains) {
    const chain = decodeChain(c, cp, optStr(c, 'name', cp) ?? `chain${out.length}`);
    if (chain.serverNames.length === 0 && ++catchAll > 1)
      fail(join(cp, 'filter_chain_match'), 'at most one chain without server_names');
    for (const n of chain.serverNames)
      if (out.some((o) => o.serverNames.includes(n)))
        fail(join(cp, 'filter_chain_match.server_names'), `server name ${n} is matched by an earlier chain`);
    out.push(chain);
  }
  out.sort((a, b) => (a.serverNames.length === 0 ? 1 : 0) - (b.serverNames.length === 0 ? 1 : 0));
  const first = out[0] as PassthroughChain;
  const tcpProxy: TcpProxyConfig = {
    statPrefix: first.statPrefix,
    cluster: (first.clusters[0] as WeightedCluster).name,
    idleTimeoutMs: first.idleTimeoutMs,
  };
  return {
    ...base,
    // The HTTP fields are present for the type and never used (mode 'tcp').
    statPrefix: base.name,
    codec: 'auto',
    routeSource: {
      type: 'inline',
      routeTable: { name: base.name, virtualHosts: [], exactDomains: new Map(), onDemand: false },
    },
    mode: 'tcp',
    tcpProxy,
    tls: { mode: 'passthrough', inner: 'tcp', chains: out },
  };
}

/** The chain serving an SNI name: exact, then the most specific `*.suffix`, then the catch-all. */
export function passthroughChainFor(
  chains: readonly PassthroughChain[],
  servername: string | undefined,
): PassthroughChain | undefined {
  return chainForServerName(chains, servername);
}
