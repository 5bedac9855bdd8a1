// Decodes Envoy's tcp_proxy network filter (envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy)
// into TcpProxyConfig: one cluster by name, an idle timeout; other fields are rejected.
import { type Json, fail, join, optDurationMs, optInt, rejectUnsupported, reqStr } from './read.js';
import type { TcpProxyConfig } from './types.js';

export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** Envoy's default tcp_proxy idle_timeout (1 h). */
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 3_600_000;

const UNSUPPORTED = [
  'weighted_clusters',
  'on_demand',
  'metadata_match',
  'downstream_idle_timeout',
  'upstream_idle_timeout',
  'access_log',
  'hash_policy',
  'tunneling_config',
  'max_downstream_connection_duration',
  'access_log_flush_interval',
  'access_log_options',
  'backoff_options',
];

export function decodeTcpProxy(tc: Json, path: string): TcpProxyConfig {
  rejectUnsupported(tc, UNSUPPORTED, path);
  const attempts = optInt(tc, 'max_connect_attempts', path, 1);
  if (attempts !== undefined && attempts !== 1)
    fail(join(path, 'max_connect_attempts'), 'only 1 is supported (no connect retries yet)');
  const cluster = reqStr(tc, 'cluster', path);
  if (cluster === '') fail(join(path, 'cluster'), 'required');
  // An explicit zero Duration disables the idle timeout, as in Envoy.
  const idle = optDurationMs(tc, 'idle_timeout', path);
  return {
    statPrefix: reqStr(tc, 'stat_prefix', path),
    cluster,
    idleTimeoutMs: idle ?? DEFAULT_TCP_IDLE_TIMEOUT_MS,
  };
}
