// One bound listener (a net.Server per ListenerConfig): accepts up to maxConnections raw sockets,
// runs an H1Connection on each, and drains or closes them on removal / shutdown.
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../config/types.js';
import type { ListenerContext, PlaneContext } from '../pipeline/types.js';
import { dispatchConnection } from '../h2/h2-dispatch.js';
import type { DataPlaneMetrics } from '../telemetry/data-plane-metrics.js';
import type { Gauge } from '../telemetry/metrics.js';
import { H1Connection } from './h1-connection.js';
import type { ListenerLimits } from './limits.js';

/** What a listener tracks per connection, whatever its protocol (drain / close). */
export interface ListenerConnection {
  startDrain(): void;
  destroy(): void;
}

export class H1Listener {
  readonly context: ListenerContext;
  private readonly server: Server;
  private readonly connections = new Set<ListenerConnection>();
  private readonly gauge: Gauge;
  private idleWaiters: (() => void)[] = [];
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
    this.server = createServer(
      { allowHalfOpen: true, noDelay: true, pauseOnConnect: false },
      this.onConnection,
    );
    this.server.maxConnections = limits.maxConnections;
  }

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

  // ---- protocol dispatch hook: dispatchConnection sniffs the h2 preface, then calls startH1 or
  // adopts an HTTP/2 session (src/proxy/h2/h2-dispatch.ts) ----
  private readonly onConnection = (socket: Socket): void => {
    dispatchConnection(socket, this);
  };

  /** Runs HTTP/1.1 on a socket (bytes already read were unshift()ed back onto it). */
  readonly startH1 = (socket: Socket): void => {
    this.adopt(new H1Connection(socket, this.context, this.limits, this.onClosed));
  };

  /** Tracks a connection of any protocol; it must call `onClosed` once when it closes. */
  adopt(conn: ListenerConnection): void {
    this.connections.add(conn);
    this.gauge.inc();
  }
  // ---- end of protocol dispatch hook ----

  readonly onClosed = (c: ListenerConnection): void => {
    if (this.connections.delete(c)) this.gauge.dec();
    if (this.connections.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  };

  /** Stop accepting; idle keep-alive connections close now, busy ones after their response. */
  drain(): void {
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
