// Wire HTTP/2 connections to one endpoint (mesh mTLS with ALPN h2, or h2c in tests): streams go on
// the first connection with room (the server's SETTINGS_MAX_CONCURRENT_STREAMS, at most
// maxStreams; before its SETTINGS arrive, 100 are assumed), else a new connection opens.
// GOAWAY retires a connection (its streams finish); one with no stream for idleTimeoutMs closes.
import { connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ProxyError } from '../pipeline/rescue.js';
import type { Gauge } from '../telemetry/metrics.js';
import type { UpstreamTlsDialer } from '../tls/upstream.js';
import { WireClient, type WireClientEvents } from './client.js';
import { DEFAULT_WIRE_LIMITS, WIRE_ONREAD, type WireLimits } from './connection.js';

/** TRELLIS_H2_WIRE_ONREAD=off: sockets read through 'data' events (A/B measurements). */
const ONREAD = process.env['TRELLIS_H2_WIRE_ONREAD'] !== 'off';

export interface WireWaiter {
  onWire(c: WireClient): void;
  onPoolError(err: ProxyError): void;
}

export interface WirePoolOptions {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly gauge: Gauge;
  /** Streams per connection at most (and assumed before the server's SETTINGS). Default 100. */
  readonly maxStreams?: number;
  readonly limits?: WireLimits;
  /** mTLS with ALPN h2; absent: h2c with prior knowledge. */
  readonly tls?: UpstreamTlsDialer;
}

interface Entry {
  readonly c: WireClient;
  connected: boolean;
  waiters: WireWaiter[];
}

export class WirePool implements WireClientEvents {
  private readonly entries: Entry[] = [];
  private readonly byClient = new Map<WireClient, Entry>();
  retired = false;
  private readonly maxStreams: number;

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly opts: WirePoolOptions,
  ) {
    this.maxStreams = opts.maxStreams ?? 100;
  }

  get open(): number {
    return this.entries.length;
  }

  get activeStreams(): number {
    let n = 0;
    for (const e of this.entries) n += e.c.streams.size;
    return n;
  }

  /** A connection with room for one more stream: now if one is connected, else once one is. */
  acquire(w: WireWaiter): void {
    for (const e of this.entries) {
      const c = e.c;
      if (c.gone) continue;
      if (e.connected) {
        if (c.room(this.maxStreams) > 0) return w.onWire(c);
      } else if (e.waiters.length < this.maxStreams) {
        e.waiters.push(w);
        return;
      }
    }
    if (this.retired) {
      w.onPoolError(
        new ProxyError('UPSTREAM_CONNECT_FAILED', `endpoint ${this.address}:${this.port} was removed`),
      );
      return;
    }
    const tls = this.opts.tls;
    const onread = ONREAD ? WIRE_ONREAD : undefined;
    const socket: Socket | TLSSocket | ProxyError =
      tls === undefined
        ? netConnect({ host: this.address, port: this.port, noDelay: true, ...(onread ? { onread } : {}) })
        : tls.dial(this.address, this.port, onread);
    if (socket instanceof ProxyError) return void queueMicrotask(() => w.onPoolError(socket));
    this.connect(socket, tls).waiters.push(w);
  }

  private connect(socket: Socket, tls: UpstreamTlsDialer | undefined): Entry {
    const o = this.opts;
    const c = new WireClient(socket, o.limits ?? DEFAULT_WIRE_LIMITS, this);
    if (ONREAD) c.readThroughOnread();
    const e: Entry = { c, connected: false, waiters: [] };
    this.entries.push(e);
    this.byClient.set(c, e);
    o.gauge.inc();
    const at = `${this.address}:${this.port}`;
    let settled = false;
    const fail = (err: ProxyError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const ws = e.waiters;
      e.waiters = [];
      this.remove(e);
      socket.destroy();
      for (const w of ws) w.onPoolError(err);
    };
    const timer = setTimeout(
      () =>
        fail(
          new ProxyError(
            'UPSTREAM_CONNECT_FAILED',
            `HTTP/2 connect to ${at} timed out after ${o.connectTimeoutMs} ms`,
          ),
        ),
      o.connectTimeoutMs,
    );
    timer.unref();
    const onError = (err: NodeJS.ErrnoException): void =>
      fail(
        tls?.failure(err, this.address, this.port) ??
          new ProxyError(
            'UPSTREAM_CONNECT_FAILED',
            `HTTP/2 connect to ${at} failed: ${err.code ?? err.message}`,
          ),
      );
    socket.once('error', onError);
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      if (settled) return;
      const proto = (socket as TLSSocket).alpnProtocol;
      if (tls !== undefined && proto !== 'h2') {
        fail(
          new ProxyError(
            'UPSTREAM_CONNECT_FAILED',
            `mTLS to ${at}: the peer did not agree to HTTP/2 (ALPN ${proto === false || proto === undefined ? 'none' : proto})`,
          ),
        );
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      e.connected = true;
      c.start();
      if (ONREAD) socket.resume(); // reads go to onread; the peer's close still comes as 'end'
      socket.setTimeout(o.idleTimeoutMs, () => {
        if (c.streams.size === 0) {
          this.remove(e);
          c.drain();
        }
      });
      const ws = e.waiters;
      e.waiters = [];
      for (const w of ws) {
        if (c.gone) this.acquire(w);
        else w.onWire(c);
      }
    });
    return e;
  }

  // ---- WireClientEvents ----

  onReady(): void {}

  onGoaway(c: WireClient): void {
    const e = this.byClient.get(c);
    if (e !== undefined) this.remove(e);
  }

  onStreamGone(c: WireClient): void {
    if (c.streams.size === 0 && this.retired && !c.closed) c.drain();
  }

  onClosed(c: WireClient): void {
    const e = this.byClient.get(c);
    if (e !== undefined) this.remove(e);
  }

  private remove(e: Entry): void {
    if (!this.byClient.delete(e.c)) return;
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    this.opts.gauge.dec();
  }

  /** Endpoint removed: no new streams; connections close once their streams end. */
  retire(): void {
    this.retired = true;
    for (const e of [...this.entries]) {
      this.remove(e);
      if (e.c.streams.size === 0) e.c.drain();
    }
  }

  closeAll(): void {
    this.retired = true;
    for (const e of [...this.entries]) {
      this.remove(e);
      e.c.destroy();
    }
  }
}
