// Clusters at run time: one load balancer per cluster (its lbPolicy), updated in place on endpoint
// changes so balancer state survives, and one HTTP/1 connection pool per endpoint (an HTTP/2
// session pool for clusters whose protocol is http2).
import type { Clock } from '../../common/clock.js';
import type { ClusterConfig, EndpointConfig, EndpointHealth, ProxyConfig } from '../config/types.js';
import type { ClusterStats, DataPlaneMetrics } from '../telemetry/data-plane-metrics.js';
import { createLoadBalancer } from './lb/create-lb.js';
import type { EndpointHandle, LbPolicy, LoadBalancer } from './lb/lb.js';
import { PassiveHealth, type PassiveHealthOptions } from './lb/passive-health.js';
import { H1Pool, type ConnPool } from './h1-pool.js';
import { H2Pool } from './h2-pool.js';
import { meshH2FromEnv, MeshH2Pool } from './mesh-h2.js';
import type { H1RequestHead } from '../http/h1-types.js';
import { upstreamTlsFor } from '../config/decode-tls.js';
import type { MeshTls } from '../tls/mesh-tls.js';
import { upstreamTlsDialer } from '../tls/upstream.js';

export interface ClusterManagerOptions {
  readonly clock: Clock;
  readonly random: () => number;
  readonly metrics: DataPlaneMetrics;
  /** Idle upstream connections kept per endpoint (default 64). */
  readonly maxIdlePerEndpoint?: number;
  /** Idle upstream connections are closed after this (default 30 s, below common server keep-alives). */
  readonly upstreamIdleTimeoutMs?: number;
  /** Passive health (ejection after connect failures); defaults in lb/passive-health.ts. */
  readonly passiveHealth?: PassiveHealthOptions;
  /** mTLS runtime: endpoints that transport_socket_matches put on TLS are dialled through it. */
  readonly mtls?: MeshTls;
  /**
   * HTTP/1.1 requests to an mTLS peer whose TLS context offers h2 go as streams of one HTTP/2
   * connection per peer (src/proxy/upstream/mesh-h2.ts). Default: TRELLIS_MESH_H2, else on.
   */
  readonly meshH2?: boolean;
}

function policyOf(c: ClusterConfig): LbPolicy {
  // MAGLEV is a consistent hash too; our ring serves both.
  return c.lbPolicy === 'MAGLEV' ? 'RING_HASH' : c.lbPolicy;
}

/** `{ tls }` for an endpoint on mTLS, else nothing (the pool connects in plaintext). */
function tlsOption(
  mtls: MeshTls | undefined,
  c: ClusterConfig,
  e: EndpointConfig,
  protocol: 'h2' | 'http/1.1',
): { tls?: NonNullable<ReturnType<typeof upstreamTlsDialer>> } {
  if (c.transportSocketMatches === undefined) return {};
  const tls = upstreamTlsDialer(mtls, c, e, protocol);
  return tls === undefined ? {} : { tls };
}

const UNAVAILABLE: ReadonlySet<EndpointHealth> = new Set(['unhealthy', 'draining', 'timeout']);

export class ClusterRuntime {
  readonly pools = new Map<string, H1Pool>();
  readonly h2Pools = new Map<string, H2Pool>();
  lb: LoadBalancer<EndpointConfig>;
  readonly stats: ClusterStats;
  /** Endpoints the control plane has unavailable (EDS health), kept for the end of an ejection. */
  private readonly down = new Set<string>();
  readonly health: PassiveHealth<EndpointConfig>;
  private readonly meshH2: boolean;
  /** Per endpoint: whether its HTTP/1.1 requests go as HTTP/2 streams (mTLS peer offering h2). */
  private readonly meshH2On = new Map<string, boolean>();
  /** Per endpoint: the TLS its pools were built for (cluster matches + endpoint tlsMode). */
  private readonly tlsKeys = new Map<string, string>();

  constructor(
    public config: ClusterConfig,
    private readonly opts: ClusterManagerOptions,
  ) {
    this.meshH2 = opts.meshH2 ?? meshH2FromEnv();
    this.lb = createLoadBalancer<EndpointConfig>(policyOf(config), {
      clock: opts.clock,
      random: opts.random,
    });
    this.stats = opts.metrics.cluster(config.name);
    this.health = new PassiveHealth<EndpointConfig>(
      () => this.lb,
      (id) => !this.down.has(id),
      opts.clock,
      opts.passiveHealth,
      () => this.stats.ejections.inc(),
    );
  }

  /** An attempt to `h` failed to connect (or was reset unanswered on a fresh connection). */
  connectFailed(h: EndpointHandle<EndpointConfig>): void {
    this.health.failure(h.id);
  }

  /**
   * Where an HTTP/1.1 request to a picked endpoint borrows its connection: with mesh HTTP/2 on and
   * an mTLS endpoint whose TLS context offers h2, a stream of the endpoint's HTTP/2 session (not for
   * Upgrade / CONNECT, which need their own connection); else the endpoint's HTTP/1.1 pool.
   */
  pool(h: EndpointHandle<EndpointConfig>, head?: H1RequestHead): ConnPool {
    if (this.meshH2 && (head === undefined || head.framing !== 'upgrade')) {
      let on = this.meshH2On.get(h.id);
      if (on === undefined) {
        on = this.meshH2Eligible(h.endpoint);
        if (!h.removed) this.meshH2On.set(h.id, on);
      }
      if (on) return new MeshH2Pool(this.h2Pool(h));
    }
    return this.h1Pool(h);
  }

  private meshH2Eligible(e: EndpointConfig): boolean {
    const c = this.config;
    if (this.opts.mtls === undefined || c.transportSocketMatches === undefined) return false;
    const tls = upstreamTlsFor(c.transportSocketMatches, e.tlsMatch);
    return tls !== undefined && tls.alpn.includes('h2');
  }

  /** The HTTP/1.1 pool for a picked endpoint (created on first use). */
  h1Pool(h: EndpointHandle<EndpointConfig>): H1Pool {
    let p = this.pools.get(h.id);
    if (p === undefined || p.retired) {
      const o = this.opts;
      p = new H1Pool(h.endpoint.address, h.endpoint.port, {
        connectTimeoutMs: this.config.connectTimeoutMs > 0 ? this.config.connectTimeoutMs : 5000,
        maxIdle: o.maxIdlePerEndpoint ?? 64,
        idleTimeoutMs: o.upstreamIdleTimeoutMs ?? 30_000,
        clock: o.clock,
        gauge: this.stats.connections,
        ...tlsOption(o.mtls, this.config, h.endpoint, 'http/1.1'),
      });
      if (!h.removed) this.pools.set(h.id, p);
      else p.retired = true;
    }
    return p;
  }

  /** The HTTP/2 session pool for a picked endpoint (created on first use). */
  h2Pool(h: EndpointHandle<EndpointConfig>): H2Pool {
    let p = this.h2Pools.get(h.id);
    if (p === undefined || p.retired) {
      p = new H2Pool(h.endpoint.address, h.endpoint.port, {
        connectTimeoutMs: this.config.connectTimeoutMs > 0 ? this.config.connectTimeoutMs : 5000,
        idleTimeoutMs: this.opts.upstreamIdleTimeoutMs ?? 30_000,
        gauge: this.stats.connections,
        ...tlsOption(this.opts.mtls, this.config, h.endpoint, 'h2'),
      });
      if (!h.removed) this.h2Pools.set(h.id, p);
      else p.retired = true;
    }
    return p;
  }

  update(config: ClusterConfig, endpoints: readonly EndpointConfig[]): void {
    if (policyOf(config) !== this.lb.policy) {
      this.lb = createLoadBalancer<EndpointConfig>(policyOf(config), {
        clock: this.opts.clock,
        random: this.opts.random,
      });
    }
    this.config = config;
    this.lb.update(endpoints);
    this.down.clear();
    this.meshH2On.clear(); // TLS matches or endpoints may have changed: decided again on use
    for (const e of endpoints) {
      const up = !UNAVAILABLE.has(e.health);
      if (!up) this.down.add(e.id);
      this.lb.setAvailable(e.id, up && !this.health.isEjected(e.id));
    }
    const ids = new Set(endpoints.map((e) => e.id));
    this.health.retain(ids);
    // An endpoint whose TLS changed (MeshTLS mode, or a proxyless server's plaintext <-> mTLS) gets
    // new pools: the old ones would keep dialing the way they were built.
    const matches = JSON.stringify(config.transportSocketMatches ?? null);
    const changed = new Set<string>();
    for (const e of endpoints) {
      const key = `${matches}|${JSON.stringify(e.tlsMatch ?? null)}`;
      const was = this.tlsKeys.get(e.id);
      if (was !== undefined && was !== key) changed.add(e.id);
      this.tlsKeys.set(e.id, key);
    }
    for (const id of this.tlsKeys.keys()) if (!ids.has(id)) this.tlsKeys.delete(id);
    for (const [id, p] of this.pools) {
      if (!ids.has(id) || changed.has(id)) {
        p.retire();
        this.pools.delete(id);
      }
    }
    for (const [id, p] of this.h2Pools) {
      if (!ids.has(id) || changed.has(id)) {
        p.retire();
        this.h2Pools.delete(id);
      }
    }
  }

  close(): void {
    this.health.close();
    for (const p of this.pools.values()) p.closeAll();
    this.pools.clear();
    for (const p of this.h2Pools.values()) p.closeAll();
    this.h2Pools.clear();
  }

  status(): unknown {
    return {
      name: this.config.name,
      lbPolicy: this.lb.policy,
      endpoints: this.lb.handles.map((h) => {
        const p = this.pools.get(h.id);
        const p2 = this.h2Pools.get(h.id);
        return {
          id: h.id,
          weight: h.weight,
          available: h.available,
          ...(this.health.isEjected(h.id)
            ? { ejectedUntil: new Date(this.health.ejectedUntil(h.id)).toISOString() }
            : {}),
          inFlight: h.inFlight,
          rttMs: Math.round(h.rttMs * 100) / 100,
          pool: p === undefined ? null : { open: p.open, idle: p.idleCount, connecting: p.connecting },
          ...(p2 === undefined ? {} : { h2Pool: { sessions: p2.open, activeStreams: p2.activeStreams } }),
        };
      }),
    };
  }
}

export class ClusterManager {
  private readonly clusters = new Map<string, ClusterRuntime>();
  private sweeper: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly opts: ClusterManagerOptions) {}

  get(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  /** Make-before-break: new and changed clusters first; removed ones close their idle connections. */
  apply(config: ProxyConfig): void {
    for (const [name, c] of config.clusters) {
      const eps =
        config.endpoints.get(c.discovery === 'eds' ? c.edsServiceName || name : name)?.endpoints ??
        c.loadAssignment?.endpoints ??
        [];
      let rt = this.clusters.get(name);
      if (rt === undefined) {
        rt = new ClusterRuntime(c, this.opts);
        this.clusters.set(name, rt);
      }
      rt.update(c, eps);
    }
    for (const [name, rt] of this.clusters) {
      if (!config.clusters.has(name)) {
        rt.close();
        this.clusters.delete(name);
      }
    }
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), 5000);
      this.sweeper.unref();
    }
  }

  private sweep(): void {
    const now = this.opts.clock.now();
    for (const rt of this.clusters.values()) for (const p of rt.pools.values()) p.sweep(now);
  }

  status(): unknown {
    return [...this.clusters.values()].map((c) => c.status());
  }

  close(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const rt of this.clusters.values()) rt.close();
    this.clusters.clear();
  }
}
