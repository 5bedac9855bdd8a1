// Multiplexed HTTP/2 sessions to one endpoint (prior knowledge, h2c): streams share a session up to
// the peer's SETTINGS_MAX_CONCURRENT_STREAMS, then another opens; GOAWAY / close retire a session.
import type {
  ClientHttp2Session,
  ClientHttp2Stream,
  ClientSessionRequestOptions,
  OutgoingHttpHeaders,
} from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import type { Gauge } from '../telemetry/metrics.js';
import { ProxyError } from '../pipeline/rescue.js';
import type { UpstreamTlsDialer } from '../tls/upstream.js';
import { WirePool } from '../h2wire/pool.js';

/** Receives the outcome of `acquire` (callbacks, not promises). */
export interface H2Waiter {
  onH2Session(s: H2Session): void;
  onPoolError(err: ProxyError): void;
}

export interface H2PoolOptions {
  readonly connectTimeoutMs: number;
  /** A session with no stream for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly gauge: Gauge;
  /** Streams per session before the peer's SETTINGS arrive (and an upper bound after). Default 100. */
  readonly maxStreamsPerSession?: number;
  /** Connection receive window. Default 1 MiB. */
  readonly connectionWindowSize?: number;
  /** mTLS to this endpoint with ALPN h2 (src/proxy/tls); absent: h2c (prior knowledge). */
  readonly tls?: UpstreamTlsDialer;
}

/** One upstream session and the streams it carries. */
export class H2Session {
  active = 0;
  /** Streams opened on it so far (mesh HTTP/2: a stream on a used session counts as reused). */
  served = 0;
  ready = false;
  /** No new streams (GOAWAY received, closing or closed). */
  gone = false;
  waiters: H2Waiter[] = [];

  constructor(
    readonly session: ClientHttp2Session,
    private readonly pool: H2Pool,
  ) {}

  get capacity(): number {
    const remote = this.ready ? (this.session.remoteSettings.maxConcurrentStreams ?? 100) : 100;
    return Math.min(remote, this.pool.maxStreams);
  }

  /** Opens a stream (counted until it closes). Throws if the session cannot take it. */
  request(headers: OutgoingHttpHeaders, opts: ClientSessionRequestOptions): ClientHttp2Stream {
    const s = this.session.request(headers, opts);
    this.active++;
    s.once('close', this.onStreamClose);
    return s;
  }

  private readonly onStreamClose = (): void => {
    this.active--;
    this.pool.streamClosed(this);
  };
}

export class H2Pool {
  readonly sessions: H2Session[] = [];
  retired = false;
  readonly maxStreams: number;
  /** The same endpoint on our own HTTP/2 layer (mesh HTTP/2, ./mesh-h2.ts), made on first use. */
  private wirePool: WirePool | null = null;

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly opts: H2PoolOptions,
  ) {
    this.maxStreams = opts.maxStreamsPerSession ?? 100;
  }

  get open(): number {
    return this.sessions.length + (this.wirePool?.open ?? 0);
  }

  get activeStreams(): number {
    let n = this.wirePool?.activeStreams ?? 0;
    for (const s of this.sessions) n += s.active;
    return n;
  }

  /** Mesh HTTP/2 to this endpoint: connections of ../h2wire (not node:http2). */
  wire(): WirePool {
    let w = this.wirePool;
    if (w === null) {
      const o = this.opts;
      w = new WirePool(this.address, this.port, {
        connectTimeoutMs: o.connectTimeoutMs,
        idleTimeoutMs: o.idleTimeoutMs,
        gauge: o.gauge,
        maxStreams: this.maxStreams,
        ...(o.tls !== undefined ? { tls: o.tls } : {}),
      });
      if (this.retired) w.retired = true;
      this.wirePool = w;
    }
    return w;
  }

  /** A session with room for one more stream: now if one is ready, else when one connects. */
  acquire(w: H2Waiter): void {
    for (const s of this.sessions) {
      // A session whose socket died is skipped even before its 'close' event retired it (a stream
      // reset by that death may be retried at once, from inside the stream's own 'close').
      if (s.gone || s.session.destroyed || s.session.closed) continue;
      if (s.ready) {
        if (s.active < s.capacity) {
          w.onH2Session(s);
          return;
        }
      } else if (s.waiters.length + s.active < s.capacity) {
        s.waiters.push(w);
        return;
      }
    }
    if (this.retired) {
      w.onPoolError(
        new ProxyError('UPSTREAM_CONNECT_FAILED', `endpoint ${this.address}:${this.port} was removed`),
      );
      return;
    }
    const o = this.opts;
    const socket =
      o.tls === undefined
        ? netConnect({ host: this.address, port: this.port, noDelay: true })
        : o.tls.dial(this.address, this.port);
    if (socket instanceof ProxyError) return void queueMicrotask(() => w.onPoolError(socket));
    this.connect(socket).waiters.push(w);
  }

  private connect(socket: Socket): H2Session {
    const o = this.opts;
    // node:http2 loads with the first h2 upstream connection, not with the sidecar.
    const http2 = process.getBuiltinModule('node:http2');
    const session = http2.connect(
      `${o.tls ? 'https' : 'http'}://${this.address.includes(':') ? `[${this.address}]` : this.address}:${this.port}`,
      {
        createConnection: () => socket,
        settings: { enablePush: false },
        maxSessionMemory: 32,
      },
    );
    const s = new H2Session(session, this);
    this.sessions.push(s);
    o.gauge.inc();
    const timer = setTimeout(() => {
      fail(
        new ProxyError(
          'UPSTREAM_CONNECT_FAILED',
          `HTTP/2 connect to ${this.address}:${this.port} timed out after ${o.connectTimeoutMs} ms`,
        ),
      );
    }, o.connectTimeoutMs);
    timer.unref();
    const fail = (err: ProxyError): void => {
      clearTimeout(timer);
      this.remove(s);
      const ws = s.waiters;
      s.waiters = [];
      session.destroy();
      for (const w of ws) w.onPoolError(err);
    };
    session.once('connect', () => {
      clearTimeout(timer);
      s.ready = true;
      try {
        session.setLocalWindowSize(o.connectionWindowSize ?? 1024 * 1024);
      } catch {
        // closed meanwhile
      }
      const ws = s.waiters;
      s.waiters = [];
      for (const w of ws) w.onH2Session(s);
    });
    session.on('error', (e: NodeJS.ErrnoException) => {
      if (!s.ready) {
        fail(
          o.tls?.failure(e, this.address, this.port) ??
            new ProxyError(
              'UPSTREAM_CONNECT_FAILED',
              `HTTP/2 connect to ${this.address}:${this.port} failed: ${e.code ?? e.message}`,
            ),
        );
      }
    });
    session.on('goaway', () => this.remove(s));
    session.on('close', () => {
      if (!s.ready && s.waiters.length > 0) {
        fail(
          new ProxyError(
            'UPSTREAM_CONNECT_FAILED',
            `HTTP/2 connection to ${this.address}:${this.port} closed before it was ready`,
          ),
        );
      }
      this.remove(s);
    });
    session.setTimeout(o.idleTimeoutMs, () => {
      if (s.active === 0) {
        this.remove(s);
        session.close();
      }
    });
    session.unref();
    return s;
  }

  /** Called when one of a session's streams closed. */
  streamClosed(s: H2Session): void {
    if (s.active === 0 && (s.gone || this.retired)) s.session.close();
  }

  private remove(s: H2Session): void {
    if (s.gone) return;
    s.gone = true;
    const i = this.sessions.indexOf(s);
    if (i >= 0) this.sessions.splice(i, 1);
    this.opts.gauge.dec();
    if (s.active === 0 && !s.session.closed) s.session.close();
  }

  /** Endpoint removed: no new streams; sessions close once their streams end. */
  retire(): void {
    this.retired = true;
    this.wirePool?.retire();
    for (const s of [...this.sessions]) this.remove(s);
  }

  closeAll(): void {
    this.retired = true;
    this.wirePool?.closeAll();
    for (const s of [...this.sessions]) {
      this.remove(s);
      s.session.destroy();
    }
  }
}
