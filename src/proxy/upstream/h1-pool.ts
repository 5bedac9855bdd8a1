// Keep-alive HTTP/1.1 connections to one endpoint: idle sockets reused LIFO (the warmest first),
// new ones opened with the cluster's connect timeout, a bounded idle set, retired on endpoint removal.
import { connect } from 'node:net';
import type { Clock } from '../../common/clock.js';
import type { Gauge } from '../telemetry/metrics.js';
import { ProxyError } from '../pipeline/rescue.js';
import type { UpstreamTlsDialer } from '../tls/upstream.js';
import { nextReadBuffer, onUpstreamRead, UpstreamConn } from './upstream-conn.js';

/** Receives the outcome of `acquire` (callbacks, not promises: this runs once per request). */
export interface PoolWaiter {
  onPoolConnection(conn: UpstreamConn, reused: boolean): void;
  onPoolError(err: ProxyError): void;
}

/** What an HTTP/1.1 exchange borrows connections from (H1Pool, or MeshH2Pool's streams). */
export interface ConnPool {
  acquire(w: PoolWaiter, fresh?: boolean): void;
  release(conn: UpstreamConn): void;
}

export interface PoolOptions {
  readonly connectTimeoutMs: number;
  /** Idle connections kept per endpoint. */
  readonly maxIdle: number;
  /** An idle connection older than this is closed instead of reused. */
  readonly idleTimeoutMs: number;
  readonly clock: Clock;
  readonly gauge: Gauge;
  /** mTLS to this endpoint (src/proxy/tls); absent: plaintext. */
  readonly tls?: UpstreamTlsDialer;
}

export class H1Pool implements ConnPool {
  private readonly idle: UpstreamConn[] = [];
  /** Open connections (idle + lent out). */
  open = 0;
  connecting = 0;
  retired = false;

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly opts: PoolOptions,
  ) {}

  get idleCount(): number {
    return this.idle.length;
  }

  /** An idle connection (synchronously), or a new one (asynchronously); `fresh` skips the idle set. */
  acquire(w: PoolWaiter, fresh = false): void {
    if (!fresh) {
      const now = this.opts.clock.now();
      let c: UpstreamConn | undefined;
      while ((c = this.idle.pop()) !== undefined) {
        if (!c.closed && c.reusable && now - c.idleSince < this.opts.idleTimeoutMs) {
          w.onPoolConnection(c, true);
          return;
        }
        c.destroy();
      }
    }
    this.connect(w);
  }

  release(c: UpstreamConn): void {
    if (!c.reusable || c.closed || this.retired || this.idle.length >= this.opts.maxIdle) {
      c.destroy();
      return;
    }
    c.idleSince = this.opts.clock.now();
    this.idle.push(c);
  }

  /** Endpoint removed (or cluster gone): close idle connections; lent ones close when released. */
  retire(): void {
    this.retired = true;
    for (const c of this.idle.splice(0)) c.destroy();
  }

  /** Closes idle connections that outlived the idle timeout (called by a periodic sweep). */
  sweep(now: number): void {
    if (this.idle.length === 0) return;
    const keep = this.idle.filter((c) => !c.closed && now - c.idleSince < this.opts.idleTimeoutMs);
    if (keep.length === this.idle.length) return;
    for (const c of this.idle) if (!keep.includes(c)) c.destroy();
    this.idle.length = 0;
    this.idle.push(...keep);
  }

  closeAll(): void {
    this.retire();
  }

  private connect(w: PoolWaiter): void {
    const tls = this.opts.tls;
    const onread = { buffer: nextReadBuffer, callback: onUpstreamRead };
    const socket =
      tls === undefined
        ? connect({ host: this.address, port: this.port, noDelay: true, onread })
        : tls.dial(this.address, this.port, onread);
    if (socket instanceof ProxyError) return void queueMicrotask(() => w.onPoolError(socket));
    this.connecting++;
    let settled = false;
    const timer = this.opts.clock.setTimeout(() => {
      if (settled) return;
      settled = true;
      this.connecting--;
      socket.destroy();
      w.onPoolError(
        new ProxyError(
          'UPSTREAM_CONNECT_FAILED',
          `connect to ${this.address}:${this.port} timed out after ${this.opts.connectTimeoutMs} ms`,
        ),
      );
    }, this.opts.connectTimeoutMs);
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      if (settled) return;
      settled = true;
      this.connecting--;
      this.opts.clock.clearTimeout(timer);
      socket.removeListener('error', onError);
      this.open++;
      this.opts.gauge.inc();
      const conn = new UpstreamConn(socket, this.gone);
      w.onPoolConnection(conn, false);
    });
    const onError = (e: NodeJS.ErrnoException): void => {
      if (settled) return;
      settled = true;
      this.connecting--;
      this.opts.clock.clearTimeout(timer);
      socket.destroy();
      w.onPoolError(
        tls?.failure(e, this.address, this.port) ??
          new ProxyError(
            'UPSTREAM_CONNECT_FAILED',
            `connect to ${this.address}:${this.port} failed: ${e.code ?? e.message}`,
          ),
      );
    };
    socket.once('error', onError);
  }

  private readonly gone = (c: UpstreamConn): void => {
    this.open--;
    this.opts.gauge.dec();
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  };
}
