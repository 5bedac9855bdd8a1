// The data plane's metrics (declared here, beside the families they use): per listener direction
// and route, per cluster, connection gauges. Label sets are resolved once per route/cluster object.
import type { ProxyConfig, RouteConfig, RouteTableConfig, VirtualHostConfig } from '../config/types.js';
import { Counter, Gauge, Histogram, MetricFamily, MetricsRegistry } from './metrics.js';

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** grpc_status label values kept as sent: the gRPC codes, and -1 (reset without a status). */
const GRPC_STATUS_LABELS: ReadonlySet<string> = new Set([
  '-1',
  ...Array.from({ length: 17 }, (_, i) => String(i)),
]);

/** Counters by status class (index status/100 - 1), plus a latency histogram and retries. */
export class StatusStats {
  constructor(
    readonly byClass: readonly Counter[],
    readonly duration: Histogram,
    /** Attempts made after the first (every kind of retry). */
    readonly retries: Counter,
  ) {}
  record(status: number, seconds: number): void {
    let i = ((status / 100) | 0) - 1;
    if (i < 0 || i > 4) i = 4;
    (this.byClass[i] as Counter).value++;
    this.duration.observe(seconds);
  }
}

export class ClusterStats extends StatusStats {
  constructor(
    byClass: readonly Counter[],
    duration: Histogram,
    retries: Counter,
    readonly connectErrors: Counter,
    readonly connections: Gauge,
    /** Endpoints taken out by passive health. */
    readonly ejections: Counter,
  ) {
    super(byClass, duration, retries);
  }
}

/** Per listener direction: resolves route stats once per RouteConfig object (new config, new objects). */
export class DirectionStats {
  private readonly byRoute = new WeakMap<RouteConfig, StatusStats>();
  readonly noRoute: StatusStats;
  constructor(
    private readonly m: DataPlaneMetrics,
    readonly direction: string,
  ) {
    this.noRoute = m.statusStats(direction, '', '');
  }
  /** vhost -> route -> grpc_status label -> counter: no key string built per response. */
  private readonly grpcCounters = new Map<string, Map<string, Map<string, Counter>>>();
  /**
   * The gRPC responses counter for a route ('' names for requests that matched none) and
   * grpc-status. The status is the upstream's trailer as sent: anything but the codes 0..16 (and
   * -1, a reset) is counted as `other`, so an upstream cannot add series without bound.
   */
  grpc(vhost: string, route: string, grpcStatus: string): Counter {
    const status = GRPC_STATUS_LABELS.has(grpcStatus) ? grpcStatus : 'other';
    let byRoute = this.grpcCounters.get(vhost);
    if (byRoute === undefined) this.grpcCounters.set(vhost, (byRoute = new Map()));
    let byStatus = byRoute.get(route);
    if (byStatus === undefined) byRoute.set(route, (byStatus = new Map()));
    let c = byStatus.get(status);
    if (c === undefined) {
      c = this.m.grpcResponse(this.direction, vhost, route, status);
      byStatus.set(status, c);
    }
    return c;
  }
  route(vhost: VirtualHostConfig, route: RouteConfig): StatusStats {
    let s = this.byRoute.get(route);
    if (s === undefined) {
      s = this.m.statusStats(this.direction, vhost.name, route.name);
      this.byRoute.set(route, s);
    }
    return s;
  }
}

export class DataPlaneMetrics {
  readonly registry = new MetricsRegistry();
  private readonly requests: MetricFamily<Counter>;
  private readonly duration: MetricFamily<Histogram>;
  private readonly upstreamRequests: MetricFamily<Counter>;
  private readonly upstreamDuration: MetricFamily<Histogram>;
  private readonly connectErrors: MetricFamily<Counter>;
  private readonly upstreamConnections: MetricFamily<Gauge>;
  private readonly activeConnections: MetricFamily<Gauge>;
  private readonly directions = new Map<string, DirectionStats>();
  private readonly grpcResponses: MetricFamily<Counter>;
  private readonly retries: MetricFamily<Counter>;
  private readonly upstreamRetries: MetricFamily<Counter>;
  private readonly ejections: MetricFamily<Counter>;

  constructor() {
    const r = this.registry;
    this.requests = r.counter(
      'trellis_requests_total',
      'Downstream requests answered, by route and status class',
      ['direction', 'vhost', 'route', 'status_class'],
    );
    this.grpcResponses = r.counter(
      'trellis_grpc_responses_total',
      'gRPC responses sent downstream (HTTP/2), by route and grpc-status (-1: stream reset without one; other: not a gRPC code)',
      ['direction', 'vhost', 'route', 'grpc_status'],
    );
    this.duration = r.histogram(
      'trellis_request_duration_seconds',
      'Downstream request duration (head to end of response)',
      ['direction', 'vhost', 'route'],
    );
    this.upstreamRequests = r.counter(
      'trellis_upstream_requests_total',
      'Upstream responses, by cluster and status class',
      ['cluster', 'status_class'],
    );
    this.upstreamDuration = r.histogram(
      'trellis_upstream_request_duration_seconds',
      'Upstream attempt duration',
      ['cluster'],
    );
    this.connectErrors = r.counter(
      'trellis_upstream_connect_errors_total',
      'Failed upstream connection attempts',
      ['cluster'],
    );
    this.retries = r.counter(
      'trellis_retries_total',
      'Upstream attempts made after the first (retries), by route',
      ['direction', 'vhost', 'route'],
    );
    this.upstreamRetries = r.counter(
      'trellis_upstream_retries_total',
      'Upstream attempts made after the first (retries), by cluster',
      ['cluster'],
    );
    this.ejections = r.counter(
      'trellis_upstream_ejections_total',
      'Endpoints taken out of load balancing by passive health (connect failures)',
      ['cluster'],
    );
    this.upstreamConnections = r.gauge('trellis_upstream_connections', 'Open upstream connections', [
      'cluster',
    ]);
    this.activeConnections = r.gauge('trellis_downstream_connections_active', 'Open downstream connections', [
      'listener',
      'direction',
    ]);
  }

  statusStats(direction: string, vhost: string, route: string): StatusStats {
    return new StatusStats(
      CLASSES.map((c) => this.requests.labels(direction, vhost, route, c)),
      this.duration.labels(direction, vhost, route),
      this.retries.labels(direction, vhost, route),
    );
  }

  grpcResponse(direction: string, vhost: string, route: string, grpcStatus: string): Counter {
    return this.grpcResponses.labels(direction, vhost, route, grpcStatus);
  }

  direction(direction: string): DirectionStats {
    let d = this.directions.get(direction);
    if (d === undefined) {
      d = new DirectionStats(this, direction);
      this.directions.set(direction, d);
    }
    return d;
  }

  cluster(name: string): ClusterStats {
    return new ClusterStats(
      CLASSES.map((c) => this.upstreamRequests.labels(name, c)),
      this.upstreamDuration.labels(name),
      this.upstreamRetries.labels(name),
      this.connectErrors.labels(name),
      this.upstreamConnections.labels(name),
      this.ejections.labels(name),
    );
  }

  /**
   * Resolves the series of every route the config's HTTP listeners can reach, so they are exposed
   * at 0 before their first request (config time, not per request). A counter whose first sample
   * Prometheus scrapes is already 5 gives no rate()/increase() for those 5: a route whose first
   * requests came between two scrapes had no latency quantile at all (test/e2e/prometheus.test.ts).
   * Series are resolved once per RouteConfig object (a WeakMap hit for routes seen before).
   */
  primeRoutes(config: ProxyConfig): void {
    for (const l of config.listeners.values()) {
      if (l.mode === 'tcp') continue;
      const table: RouteTableConfig | undefined =
        l.routeSource.type === 'inline'
          ? l.routeSource.routeTable
          : config.routeTables.get(l.routeSource.routeConfigName);
      if (table === undefined) continue;
      const d = this.direction(l.direction);
      for (const vh of table.virtualHosts) for (const r of vh.routes) d.route(vh, r);
    }
  }

  listenerConnections(listener: string, direction: string): Gauge {
    return this.activeConnections.labels(listener, direction);
  }

  render(): string {
    return this.registry.render();
  }
}
