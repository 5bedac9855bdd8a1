// The downstream HTTP/2 side of one listener: a node:http2 server (never listening itself; the
// listener hands it sockets) with hardened settings, per-session tracking, drain and rapid-reset guard.
import type { Http2Server, Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { ListenerConnection } from '../listener/h1-listener.js';
import type { ListenerHost } from './h2-dispatch.js';
import { NodeDownStream } from './down-stream.js';
import { H2Exchange, type ExchangeConn } from './h2-exchange.js';
import type { H2Limits } from './h2-limits.js';

/** The stream idle timeout is checked on a tick of 1/STREAM_TICKS of it (see H2Exchange.idleTick). */
const STREAM_TICKS = 8;

/** One downstream HTTP/2 connection as the listener tracks it. */
export class H2Connection implements ListenerConnection, ExchangeConn {
  active = 0;
  private resets = 0;
  private windowStart = 0;
  private closedOnce = false;
  /** Streams in progress, watched by one stream idle tick per connection (none per stream). */
  private readonly streams = new Set<H2Exchange>();
  private streamTimer: ReturnType<typeof setTimeout> | null = null;
  private streamTicking = false;

  constructor(
    readonly session: Http2Session,
    private readonly limits: H2Limits,
    private readonly onClosed: (c: H2Connection) => void,
    /** limits.streamIdleTimeoutMs (0: off). */
    private readonly streamIdleMs = 0,
  ) {}

  /** A stream arrived: the stream idle timeout applies to it until unwatch(). */
  watch(ex: H2Exchange): void {
    if (this.streamIdleMs === 0 || this.closedOnce) return;
    this.streams.add(ex);
    if (this.streamTicking) return;
    this.streamTicking = true;
    if (this.streamTimer === null) {
      this.streamTimer = setTimeout(this.onStreamTick, Math.ceil(this.streamIdleMs / STREAM_TICKS));
      this.streamTimer.unref();
    } else this.streamTimer.refresh();
  }

  unwatch(ex: H2Exchange): void {
    this.streams.delete(ex);
  }

  private readonly onStreamTick = (): void => {
    if (this.streams.size === 0 || this.closedOnce) {
      this.streamTicking = false;
      return;
    }
    for (const ex of this.streams) {
      if (!ex.idleTick(STREAM_TICKS)) continue;
      this.streams.delete(ex);
      ex.streamIdle(this.streamIdleMs);
    }
    (this.streamTimer as ReturnType<typeof setTimeout>).refresh();
  };

  /** A stream the peer reset before its response ended; too many per window is a rapid-reset attack. */
  peerReset(now: number): void {
    if (now - this.windowStart > this.limits.rapidResetWindowMs) {
      this.windowStart = now;
      this.resets = 0;
    }
    if (++this.resets > this.limits.rapidResetLimit && !this.calming) {
      // Not from inside this callback: it runs within nghttp2's processing of the peer's bytes, and
      // destroying the session there aborts the process (node's nghttp2 memory accounting assertion,
      // with thousands of HEADERS + RST_STREAM in one read). Once the current read is processed.
      this.calming = true;
      setImmediate(this.calm);
    }
  }

  private calming = false;

  private readonly calm = (): void => {
    if (!this.session.destroyed) {
      this.session.destroy(
        new Error('rapid reset: too many streams reset by the peer'),
        0xb, // ENHANCE_YOUR_CALM
      );
    }
  };

  /** GOAWAY now; streams in progress finish, then the session closes. */
  startDrain(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  destroy(): void {
    this.session.destroy();
  }

  closed(): void {
    if (this.closedOnce) return;
    this.closedOnce = true;
    if (this.streamTimer !== null) clearTimeout(this.streamTimer);
    this.streams.clear();
    this.onClosed(this);
  }
}

const CONN = Symbol('trellis.h2conn');
type Tagged = Http2Session & { [CONN]?: H2Connection };

/** The connection a server stream belongs to (for rapid-reset accounting). */
export function connectionOf(stream: ServerHttp2Stream): H2Connection | undefined {
  return (stream.session as Tagged | undefined)?.[CONN];
}

export class H2Server {
  private readonly server: Http2Server;

  constructor(private readonly host: ListenerHost) {
    const l = host.limits.h2;
    // node:http2 loads with the first h2 connection of a listener, not with the sidecar.
    this.server = process.getBuiltinModule('node:http2').createServer({
      settings: {
        maxConcurrentStreams: l.maxConcurrentStreams,
        maxHeaderListSize: l.maxHeaderListSize,
        enablePush: false,
      },
      maxHeaderListPairs: l.maxHeaderListPairs,
      maxSessionInvalidFrames: l.maxSessionInvalidFrames,
      maxSessionRejectedStreams: l.maxSessionRejectedStreams,
      maxOutstandingPings: l.maxOutstandingPings,
      maxSettings: l.maxSettings,
      maxSessionMemory: l.maxSessionMemoryMb,
    });
    this.server.on('session', this.onSession);
    this.server.on('stream', this.onStream);
  }

  accept(socket: Socket): void {
    this.server.emit('connection', socket);
  }

  private readonly onSession = (session: Http2Session): void => {
    const host = this.host;
    const limits = host.limits;
    const conn = new H2Connection(session, limits.h2, host.onClosed, limits.streamIdleTimeoutMs);
    (session as Tagged)[CONN] = conn;
    host.adopt(conn);
    session.on('error', () => undefined);
    session.on('close', () => conn.closed());
    session.once('connect', () => {
      try {
        session.setLocalWindowSize(limits.h2.connectionWindowSize);
      } catch {
        // the session went away first
      }
    });
    // Idle: no stream for idleTimeoutMs → GOAWAY (long-lived streams keep the session open).
    session.setTimeout(limits.idleTimeoutMs, () => {
      if (conn.active === 0) conn.startDrain();
    });
  };

  private readonly onStream = (
    stream: ServerHttp2Stream,
    _headers: IncomingHttpHeaders,
    _flags: number,
    rawHeaders: string[],
  ): void => {
    const conn = connectionOf(stream);
    if (conn !== undefined) conn.active++;
    new H2Exchange(
      new NodeDownStream(stream),
      rawHeaders,
      this.host.context,
      conn,
      this.host.limits.h2.maxHeaderListSize,
    ).begin();
  };
}

const servers = new WeakMap<ListenerHost, H2Server>();

/** The listener's HTTP/2 server, created on its first h2 connection. */
export function h2ServerFor(host: ListenerHost): H2Server {
  let s = servers.get(host);
  if (s === undefined) {
    s = new H2Server(host);
    servers.set(host, s);
  }
  return s;
}
