// A listener that dispatches each accepted socket by the listener's mode: opaque TCP (tcp_proxy,
// never sniffed) or detect (h1 / h2 by preface / anything else to tcp_proxy). HTTP-only listeners
// stay on H1Listener (whose own hook sniffs the h2 preface); createListener picks the class.
import type { Socket } from 'node:net';
import type { ListenerConfig, TcpProxyConfig } from '../config/types.js';
import { DEFAULT_DETECT_TIMEOUT_MS } from '../config/decode-listener.js';
import type { PlaneContext } from '../pipeline/types.js';
import { TcpProxySession } from '../tcp/tcp-proxy.js';
import type { DataPlaneMetrics } from '../telemetry/data-plane-metrics.js';
import { tcpMetrics, type TcpMetrics } from '../telemetry/tcp-metrics.js';
import { detectProtocol, type Detection } from './detect.js';
import { H1Listener } from './h1-listener.js';
import { ListenerBase } from './listener-base.js';
import type { ListenerLimits } from './limits.js';
import { protocolHandlers, type HandledConnection } from './protocol-handlers.js';

/** A socket still being classified (no request in progress): shutdown drops it. */
class Detecting implements HandledConnection {
  cancel: () => void = () => undefined;
  startDrain(): void {}
  destroy(): void {
    this.cancel();
  }
}

export class Listener extends ListenerBase {
  private readonly tcp: TcpMetrics;

  constructor(
    config: ListenerConfig,
    plane: PlaneContext,
    metrics: DataPlaneMetrics,
    limits: ListenerLimits,
  ) {
    super(config, plane, metrics, limits);
    this.tcp = tcpMetrics(metrics);
  }

  protected onConnection(socket: Socket): void {
    const lc = this.context.config; // the config current at accept decides
    if (lc.mode === 'tcp') return this.startTcp(socket, null, false);
    const pending = new Detecting();
    this.adopt(pending);
    pending.cancel = detectProtocol(
      socket,
      { timeoutMs: lc.detectTimeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS },
      (d) => {
        this.onClosed(pending);
        this.dispatch(socket, d);
      },
    );
    socket.once('close', () => this.onClosed(pending));
  }

  private dispatch(socket: Socket, d: Detection): void {
    const tcpFallback = this.context.config.tcpProxy !== undefined;
    if (d.protocol === 'h2') return this.startH2(socket, d);
    if (d.protocol === 'h1' || !tcpFallback) {
      if (d.ended) return void socket.destroy();
      if (d.head !== null) socket.unshift(d.head);
      this.startH1(socket);
      socket.resume();
      return;
    }
    // TLS (passed through to the app as is until mTLS lands), other bytes, or silence (a
    // server-first protocol): opaque TCP to the same app.
    this.startTcp(socket, d.head, d.ended);
  }

  private startH2(socket: Socket, d: Detection): void {
    const h2 = protocolHandlers.h2;
    if (h2 === undefined || d.ended) {
      this.context.plane.logger.info(
        { listener: this.context.name, remote: socket.remoteAddress },
        'HTTP/2 prior-knowledge connection closed: no HTTP/2 handler is registered',
      );
      socket.destroy();
      return;
    }
    if (d.head !== null) socket.unshift(d.head);
    h2(socket, this);
  }

  /** tcp_proxy with a chosen config (a gateway's TLS passthrough chain: tls/gateway-passthrough.ts). */
  readonly acceptTcp = (socket: Socket, head: Buffer | null, config: TcpProxyConfig): void =>
    this.startTcp(socket, head, false, config);

  private startTcp(socket: Socket, head: Buffer | null, ended: boolean, config?: TcpProxyConfig): void {
    const tcp = config ?? this.context.config.tcpProxy;
    if (tcp === undefined) return void socket.destroy();
    const session: TcpProxySession = new TcpProxySession({
      downstream: socket,
      config: tcp,
      plane: this.context.plane,
      metrics: this.tcp,
      head,
      downstreamEnded: ended,
      onClosed: () => this.onClosed(session),
    });
    this.adopt(session);
  }
}

/** Any bound listener of the data plane. */
export type BoundListener = H1Listener | Listener;

/** HTTP-only listeners run on H1Listener; tcp and detect listeners on Listener. */
export function createListener(
  config: ListenerConfig,
  plane: PlaneContext,
  metrics: DataPlaneMetrics,
  limits: ListenerLimits,
): BoundListener {
  return (config.mode ?? 'http') === 'http'
    ? new H1Listener(config, plane, metrics, limits)
    : new Listener(config, plane, metrics, limits);
}

/** True when a listener can take `b` in place of `a` (same socket, same listener class). */
export function sameBinding(a: ListenerConfig, b: ListenerConfig): boolean {
  return (
    a.address === b.address &&
    a.port === b.port &&
    ((a.mode ?? 'http') === 'http') === ((b.mode ?? 'http') === 'http')
  );
}
