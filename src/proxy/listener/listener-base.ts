// What every bound listener shares, whatever it dispatches: the net.Server, the set of tracked
// connections (gauge, drain, close at a deadline) and HTTP/1.1 start-up. Subclasses decide per socket.
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../config/types.js';
import type { ListenerContext, PlaneContext } from '../pipeline/types.js';
import type { DataPlaneMetrics } from '../telemetry/data-plane-metrics.js';
import type { Gauge } from '../telemetry/metrics.js';
import { H1Connection, onDownstreamRead } from './h1-connection.js';
import { moveToOnread, readTlsThroughOnread } from './onread-socket.js';
import type { ListenerLimits } from './limits.js';
import type { HandledConnection, ProtocolHost } from './protocol-handlers.js';
import { acceptMeshConnection } from '../tls/inbound.js';
import { DEFAULT_DETECT_TIMEOUT_MS } from '../config/decode-listener.js';

export abstract class ListenerBase implements ProtocolHost {
  readonly context: ListenerContext;
  private readonly server: Server;
  private readonly connections = new Set<HandledConnection>();
  private readonly gauge: Gauge;
  private idleWaiters: (() => void)[] = [];
  private draining = false;
  port = 0;

  constructor(
    config: ListenerConfig,
    plane: PlaneContext,
    metrics: DataPlaneMetrics,
    readonly limits: ListenerLimits,
  ) {
    this.context = {
      plane,
      name: config.name,
      config,
      stats: metrics.direction(config.direction),
      stripInternal: config.direction === 'outbound',
    };
    this.gauge = metrics.listenerConnections(config.name, config.direction);
    this.server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, (s) => {
      // Mesh mTLS (src/proxy/tls/inbound.ts): TLS is terminated first, then handled as below.
      const c = this.context.config;
      if (c.tls === undefined) this.onConnection(s);
      else acceptMeshConnection(this, s, c.tls, plane.mtls, c.detectTimeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS);
    });
    this.server.maxConnections = limits.maxConnections;
  }

  /** Takes over one accepted socket. */
  protected abstract onConnection(socket: Socket): void;

  /** The plaintext handling of a connection (mTLS: PERMISSIVE plaintext, decrypted tcp streams). */
  readonly acceptPlain = (socket: Socket): void => this.onConnection(socket);

  get address(): string {
    return this.context.config.address;
  }

  listen(): Promise<number> {
    const c = this.context.config;
    return new Promise((resolve, reject) => {
      const onErr = (e: Error): void => reject(e);
      this.server.once('error', onErr);
      this.server.listen({ host: c.address, port: c.port }, () => {
        this.server.removeListener('error', onErr);
        const a = this.server.address();
        this.port = typeof a === 'object' && a !== null ? a.port : c.port;
        resolve(this.port);
      });
    });
  }

  /**
   * Runs HTTP/1.1 on a socket (bytes already read were unshift()ed back onto it). A plaintext
   * accepted socket is moved onto the onread path first (onread-socket.ts): `socket` is then
   * destroyed (its handle lives on in the new socket) and the unshifted bytes are parsed at once;
   * a caller's later `socket.resume()` is harmless. A server-side TLS socket is switched to onread
   * in place (the caller's `resume()` is needed: the peer's close arrives as 'end'). Anything
   * that can't be switched is read by 'data' events.
   */
  readonly startH1 = (socket: Socket): void => {
    const moved = moveToOnread(socket, onDownstreamRead) ?? readTlsThroughOnread(socket, onDownstreamRead);
    if (moved === null) {
      this.adopt(new H1Connection(socket, this.context, this.limits, this.onClosed));
      return;
    }
    const c = new H1Connection(moved.socket, this.context, this.limits, this.onClosed, true);
    this.adopt(c);
    if (moved.head !== null) c.feed(moved.head);
  };

  /** Tracks a connection of any protocol; it must call `onClosed` once when it closes. */
  adopt(conn: HandledConnection): void {
    this.connections.add(conn);
    this.gauge.inc();
    if (this.draining) conn.startDrain();
  }

  readonly onClosed = (c: HandledConnection): void => {
    if (!this.connections.delete(c)) return;
    this.gauge.dec();
    if (this.connections.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  };

  /** Stop accepting; idle HTTP connections close now, busy ones after their response; TCP runs on. */
  drain(): void {
    this.draining = true;
    if (this.server.listening) this.server.close();
    for (const c of this.connections) c.startDrain();
  }

  /** Resolves when every connection has closed, or at the deadline (then it destroys them). */
  async closed(deadlineMs: number): Promise<void> {
    if (this.connections.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadlineMs));
        t.unref();
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.destroy();
  }

  destroy(): void {
    if (this.server.listening) this.server.close();
    for (const c of this.connections) c.destroy();
  }
}
