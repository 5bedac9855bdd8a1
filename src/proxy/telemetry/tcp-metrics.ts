// Opaque TCP (tcp_proxy) metrics, per stat prefix (listener chain) and cluster: connections,
// active connections, bytes each way and errors by reason. Registered once per data plane registry.
import type { DataPlaneMetrics } from './data-plane-metrics.js';
import type { Counter, Gauge, MetricFamily } from './metrics.js';

/** Why a proxied TCP connection failed (label `reason` of trellis_tcp_errors_total). */
export type TcpErrorReason =
  | 'no_cluster'
  | 'no_healthy_upstream'
  | 'connect_failed'
  | 'connect_timeout'
  | 'idle_timeout'
  | 'upstream_reset'
  | 'downstream_reset';

/** One tcp_proxy's series, resolved once per (stat prefix, cluster). */
export class TcpStats {
  private readonly errors = new Map<TcpErrorReason, Counter>();
  constructor(
    private readonly m: TcpMetrics,
    private readonly prefix: string,
    private readonly cluster: string,
    readonly connections: Counter,
    readonly active: Gauge,
    readonly bytesReceived: Counter,
    readonly bytesSent: Counter,
  ) {}
  error(reason: TcpErrorReason): void {
    let c = this.errors.get(reason);
    if (c === undefined) {
      c = this.m.errorCounter(this.prefix, this.cluster, reason);
      this.errors.set(reason, c);
    }
    c.inc();
  }
}

export class TcpMetrics {
  private readonly connections: MetricFamily<Counter>;
  private readonly active: MetricFamily<Gauge>;
  private readonly bytes: MetricFamily<Counter>;
  private readonly errors: MetricFamily<Counter>;
  private readonly byKey = new Map<string, TcpStats>();

  constructor(dp: DataPlaneMetrics) {
    const r = dp.registry;
    const l = ['stat_prefix', 'cluster'];
    this.connections = r.counter('trellis_tcp_connections_total', 'Proxied TCP connections accepted', l);
    this.active = r.gauge('trellis_tcp_connections_active', 'Proxied TCP connections open', l);
    this.bytes = r.counter(
      'trellis_tcp_bytes_total',
      'Bytes proxied (received: from downstream, sent: to downstream), counted at close',
      [...l, 'direction'],
    );
    this.errors = r.counter('trellis_tcp_errors_total', 'Proxied TCP connections that failed, by reason', [
      ...l,
      'reason',
    ]);
  }

  stats(prefix: string, cluster: string): TcpStats {
    const key = `${prefix}\u0000${cluster}`;
    let s = this.byKey.get(key);
    if (s === undefined) {
      s = new TcpStats(
        this,
        prefix,
        cluster,
        this.connections.labels(prefix, cluster),
        this.active.labels(prefix, cluster),
        this.bytes.labels(prefix, cluster, 'received'),
        this.bytes.labels(prefix, cluster, 'sent'),
      );
      this.byKey.set(key, s);
    }
    return s;
  }

  errorCounter(prefix: string, cluster: string, reason: TcpErrorReason): Counter {
    return this.errors.labels(prefix, cluster, reason);
  }
}

const perPlane = new WeakMap<DataPlaneMetrics, TcpMetrics>();

/** The TcpMetrics of a data plane's registry (created on first use). */
export function tcpMetrics(dp: DataPlaneMetrics): TcpMetrics {
  let t = perPlane.get(dp);
  if (t === undefined) {
    t = new TcpMetrics(dp);
    perPlane.set(dp, t);
  }
  return t;
}
