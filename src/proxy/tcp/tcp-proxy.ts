// One opaque TCP connection through tcp_proxy: picks an endpoint of the cluster (per connection),
// connects within the cluster's connect timeout and pipes bytes both ways with backpressure,
// carrying half-closes; an idle timeout, resets and failures close both sides and are counted.
// An endpoint that the cluster's transport_socket_matches put on mTLS (a peer sidecar) is dialled
// with TLS: this sidecar's certificate, the trust bundle and the exact SPIFFE ID of the Service;
// without a certificate yet, or facing another server identity, the client connection is closed
// (counted in trellis_tcp_errors_total as connect_failed and in trellis_mtls_upstream_failures_total
// by reason, logged with why). Other endpoints get plaintext.
// A connection that never got set up (refused, reset or closed before it was, the TLS handshake
// failed, no connection within the connect timeout) is reported to the cluster's passive health, as
// the HTTP path does: the endpoint is ejected for a while and the next connections go elsewhere.
import { connect, type Socket } from 'node:net';
import type { TcpProxyConfig } from '../config/types.js';
import type { HandledConnection } from '../listener/protocol-handlers.js';
import type { PlaneContext } from '../pipeline/types.js';
import type { EndpointConfig } from '../config/types.js';
import type { EndpointHandle } from '../upstream/lb/lb.js';
import type { ClusterStats } from '../telemetry/data-plane-metrics.js';
import type { ClusterRuntime } from '../upstream/cluster-manager.js';
import type { TcpErrorReason, TcpMetrics, TcpStats } from '../telemetry/tcp-metrics.js';
import { ProxyError } from '../pipeline/rescue.js';
import { upstreamTlsDialer, type UpstreamTlsDialer } from '../tls/upstream.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export interface TcpProxyStart {
  readonly downstream: Socket;
  readonly config: TcpProxyConfig;
  readonly plane: PlaneContext;
  readonly metrics: TcpMetrics;
  /** Bytes already read from downstream (protocol detection), sent upstream first. */
  readonly head: Buffer | null;
  /** Downstream already half-closed (during detection): end upstream after `head`. */
  readonly downstreamEnded: boolean;
  readonly onClosed: () => void;
}

export class TcpProxySession implements HandledConnection {
  private readonly down: Socket;
  private up: Socket | null = null;
  private readonly stats: TcpStats;
  private clusterStats: ClusterStats | null = null;
  private cluster: ClusterRuntime | null = null;
  private handle: EndpointHandle<EndpointConfig> | null = null;
  /** The endpoint's mTLS dialer; null: plaintext. */
  private tls: UpstreamTlsDialer | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private connectedAt = 0;
  private startedAt: number;
  private closed = false;
  private failed = false;

  constructor(private readonly s: TcpProxyStart) {
    this.down = s.downstream;
    this.stats = s.metrics.stats(s.config.statPrefix, s.config.cluster);
    this.stats.connections.inc();
    this.stats.active.inc();
    this.startedAt = performance.now();
    const down = this.down;
    down.pause();
    down.setNoDelay(true);
    down.on('error', this.onDownError);
    down.on('close', this.onDownClose);
    if (s.config.idleTimeoutMs > 0) {
      // Inactivity on the downstream socket covers both directions: every byte crosses it.
      down.setTimeout(s.config.idleTimeoutMs, this.onIdle);
    }
    this.start();
  }

  private start(): void {
    const { plane, config } = this.s;
    const cluster = plane.clusters.get(config.cluster);
    if (cluster === undefined) return this.fail('no_cluster', `cluster ${config.cluster} is not known`);
    const h = cluster.lb.pick();
    if (h === undefined)
      return this.fail('no_healthy_upstream', `cluster ${config.cluster} has no healthy endpoint`);
    this.handle = h;
    this.cluster = cluster;
    this.clusterStats = cluster.stats;
    h.onStart();
    const ms =
      cluster.config.connectTimeoutMs > 0 ? cluster.config.connectTimeoutMs : DEFAULT_CONNECT_TIMEOUT_MS;
    const { address, port } = h.endpoint;
    const tls =
      cluster.config.transportSocketMatches === undefined
        ? undefined
        : upstreamTlsDialer(plane.mtls, cluster.config, h.endpoint, 'tcp');
    let up: Socket;
    if (tls === undefined) up = connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    else {
      const dialed = tls.dial(address, port);
      // No certificate yet: nothing is dialled (the endpoint is not at fault).
      if (dialed instanceof ProxyError) return this.fail('connect_failed', dialed.detail, true);
      this.tls = tls;
      // Half-closes cross TLS too: ending our side must not end the server's.
      dialed.allowHalfOpen = true;
      up = dialed;
    }
    this.up = up;
    up.pause();
    up.on('error', this.onUpError);
    up.on('close', this.onUpClose);
    up.once(tls === undefined ? 'connect' : 'secureConnect', this.onConnect);
    this.connectTimer = setTimeout(() => {
      this.clusterStats?.connectErrors.inc();
      this.connectFailed();
      this.fail('connect_timeout', `no connection to ${h.id} within ${ms} ms`);
    }, ms);
    this.connectTimer.unref();
  }

  private readonly onConnect = (): void => {
    if (this.closed) return;
    this.clearConnectTimer();
    this.connectedAt = performance.now();
    this.clusterStats?.connections.inc();
    const up = this.up as Socket;
    const down = this.down;
    const head = this.s.head;
    if (head !== null && head.length > 0) up.write(head);
    if (this.s.downstreamEnded) up.end();
    else down.pipe(up); // ends `up` (half-close) when downstream ends; pauses on backpressure
    up.pipe(down);
    up.resume();
    down.resume();
  };

  /** The picked endpoint could not be connected to: passive health (once per session). */
  private connectFailed(): void {
    const c = this.cluster;
    const h = this.handle;
    this.cluster = null;
    if (c === null || h === null || this.failed) return;
    c.connectFailed(h);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private readonly onIdle = (): void => {
    this.fail('idle_timeout', `no bytes either way for ${this.s.config.idleTimeoutMs} ms`);
  };

  private readonly onDownError = (): void => {
    // A reset from the client: the upstream connection goes too.
    if (!this.closed) this.fail('downstream_reset', 'downstream reset');
  };

  private readonly onUpError = (e: Error): void => {
    if (this.closed) return;
    if (this.connectedAt === 0) {
      this.clusterStats?.connectErrors.inc();
      this.connectFailed();
      const h = this.handle;
      if (this.tls !== null && h !== null) {
        const code = (e as NodeJS.ErrnoException).code;
        const refused = code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH';
        this.fail(
          'connect_failed',
          this.tls.failure(e, h.endpoint.address, h.endpoint.port).detail,
          !refused,
        );
      } else this.fail('connect_failed', `connect to ${h?.id ?? '?'} failed: ${e.message}`);
    } else this.fail('upstream_reset', `upstream ${this.handle?.id ?? '?'}: ${e.message}`);
  };

  private readonly onUpClose = (hadError: boolean): void => {
    if (this.closed) return;
    if (hadError || this.connectedAt === 0) {
      if (this.connectedAt === 0) this.connectFailed(); // closed before it was set up
      if (!this.failed) this.fail('upstream_reset', 'upstream closed');
      return;
    }
    // Upstream finished both ways; downstream ends once its buffered bytes are flushed.
    if (!this.down.writableEnded) this.down.end();
  };

  private readonly onDownClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.clearConnectTimer();
    this.down.setTimeout(0);
    const up = this.up;
    if (up !== null && !up.destroyed) {
      // A clean downstream close means both directions ended (the pipes ended `up` too), so
      // upstream closes by itself; a reset, a destroy or no connection yet tears it down now.
      if (this.failed || this.connectedAt === 0 || !up.writableEnded) up.destroy();
    }
    this.finish();
  };

  /** `mtls`: the connection could not be set up with mTLS (logged as a warning: a mesh problem). */
  private fail(reason: TcpErrorReason, detail: string, mtls = false): void {
    if (this.failed) return;
    this.failed = true;
    this.stats.error(reason);
    const { logger } = this.s.plane;
    const rec = { cluster: this.s.config.cluster, statPrefix: this.s.config.statPrefix, reason, detail };
    if (mtls) logger.warn(rec, 'tcp_proxy connection closed: no mTLS connection to the upstream');
    else logger.debug(rec, 'tcp_proxy connection closed');
    this.clearConnectTimer();
    this.up?.destroy();
    this.down.destroy();
  }

  private finish(): void {
    const h = this.handle;
    if (h !== null) {
      const ok = !this.failed;
      h.onComplete(this.connectedAt > 0 ? this.connectedAt - this.startedAt : NaN, ok);
      this.handle = null;
    }
    if (this.connectedAt > 0) this.clusterStats?.connections.dec();
    this.stats.active.dec();
    this.stats.bytesReceived.inc(this.down.bytesRead);
    this.stats.bytesSent.inc(this.down.bytesWritten);
    this.s.onClosed();
  }

  /** Opaque bytes cannot be drained gracefully: the connection runs until it ends or the deadline. */
  startDrain(): void {}

  destroy(): void {
    this.up?.destroy();
    this.down.destroy();
  }
}
