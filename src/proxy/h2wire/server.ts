// The server side of a wire connection: mesh mTLS connections whose ALPN chose h2 (a peer
// sidecar's, from ../tls/inbound.ts). Each request stream becomes an H2Exchange (../h2/) over a
// ServerStreamShim, so routing, authorization, XFCC, retries, metrics and the HTTP/1.1 leg to the
// app (H2ToH1) are exactly those of the node:http2 path. The connection is tracked by the listener
// (drain = GOAWAY then close) and does the stream idle tick and rapid-reset accounting that
// H2Connection (../h2/h2-server.ts) does for node sessions.
import type { Socket } from 'node:net';
import { H2Exchange, type ExchangeConn } from '../h2/h2-exchange.js';
import type { H2Limits } from '../h2/h2-limits.js';
import type { HandledConnection, ProtocolHost } from '../listener/protocol-handlers.js';
import { readTlsThroughOnread } from '../listener/onread-socket.js';
import { DEFAULT_WIRE_LIMITS, onWireRead, WireConnection, type WireLimits } from './connection.js';
import { ErrorCode, H2ConnectionError } from './frames.js';
import { ResetBudget } from './reset-budget.js';
import { WireDownStream } from './server-stream.js';
import type { WireStream } from './stream.js';

const STREAM_TICKS = 8;

export function wireLimitsFrom(l: H2Limits): WireLimits {
  return {
    ...DEFAULT_WIRE_LIMITS,
    maxConcurrentStreams: l.maxConcurrentStreams,
    maxHeaderListSize: l.maxHeaderListSize,
    maxHeaderListPairs: l.maxHeaderListPairs,
    maxSessionInvalidFrames: l.maxSessionInvalidFrames,
    maxSessionRejectedStreams: l.maxSessionRejectedStreams,
    maxSettings: l.maxSettings,
    connectionWindowSize: l.connectionWindowSize,
  };
}

/** Takes over a decrypted mesh connection whose ALPN is h2 (the client preface not yet read). */
export function acceptWireH2(socket: Socket, host: ProtocolHost): WireServer {
  const c = new WireServer(socket, host);
  host.adopt(c);
  // Decrypted bytes through `onread` (no Readable push/emit per read), as HTTP/1.1 connections do;
  // 'data' events when the socket can't be switched. resume(): the peer's close comes as 'end'.
  const moved = ONREAD ? readTlsThroughOnread(socket, onWireRead) : null;
  if (moved !== null) c.readThroughOnread();
  c.start();
  if (moved?.head != null) c.feed(moved.head);
  socket.resume();
  return c;
}

/** TRELLIS_H2_WIRE_ONREAD=off: wire connections read through 'data' events (A/B measurements). */
const ONREAD = process.env['TRELLIS_H2_WIRE_ONREAD'] !== 'off';

export class WireServer extends WireConnection implements HandledConnection, ExchangeConn {
  /** Streams in progress (H2Exchange decrements it on close, as with H2Connection). */
  active = 0;
  private readonly resets: ResetBudget;
  private closedOnce = false;
  private streamTimer: ReturnType<typeof setTimeout> | null = null;
  private ticking = false;
  private readonly streamIdleMs: number;

  constructor(
    socket: Socket,
    private readonly host: ProtocolHost,
  ) {
    super(socket, true, wireLimitsFrom(host.limits.h2));
    this.streamIdleMs = host.limits.streamIdleTimeoutMs;
    const l = host.limits.h2;
    this.resets = new ResetBudget(l.rapidResetLimit, l.rapidResetWindowMs);
    socket.setTimeout(host.limits.idleTimeoutMs, () => {
      if (this.streams.size === 0) this.drain();
    });
  }

  protected onStream(s: WireStream, fields: string[], endStream: boolean): void {
    s.openedAt = Date.now();
    this.active++;
    // The decoded field list as is: the exchange reads the head from it in one pass.
    new H2Exchange(
      new WireDownStream(s, this.socket, endStream),
      fields,
      this.host.context,
      this,
      this.limits.maxHeaderListSize,
    ).begin();
  }

  // ---- what H2Exchange asks of its connection (ExchangeConn) ----

  /**
   * The stream idle tick runs while streams are open: it goes over the connection's own stream
   * map (each stream's handler leads to its exchange), so a stream costs no set entry of its own.
   */
  watch(_ex: H2Exchange): void {
    if (this.streamIdleMs === 0 || this.closedOnce || this.ticking) return;
    this.ticking = true;
    if (this.streamTimer === null) {
      this.streamTimer = setTimeout(this.onTick, Math.ceil(this.streamIdleMs / STREAM_TICKS));
      this.streamTimer.unref();
    } else this.streamTimer.refresh();
  }

  /** A closed stream has left the stream map already. */
  unwatch(_ex: H2Exchange): void {}

  private readonly onTick = (): void => {
    if (this.streams.size === 0 || this.closedOnce) {
      this.ticking = false;
      return;
    }
    for (const s of this.streams.values()) {
      const ex = (s.handler as WireDownStream | null)?.sink as H2Exchange | null | undefined;
      if (ex == null || ex.idleExpired || !ex.idleTick(STREAM_TICKS)) continue;
      ex.idleExpired = true; // once, as the node:http2 path's H2Connection unwatches it
      ex.streamIdle(this.streamIdleMs);
    }
    (this.streamTimer as ReturnType<typeof setTimeout>).refresh();
  };

  /**
   * H2Exchange's rapid-reset hook (a stream the peer reset before its response ended): counted in
   * peerRst instead, where the stream's age is known (./reset-budget.ts).
   */
  peerReset(_now: number): void {}

  protected override peerRst(s: WireStream): void {
    if (s.localEnded || this.resets.reset(Date.now(), s.openedAt) === false) return;
    throw new H2ConnectionError(
      ErrorCode.ENHANCE_YOUR_CALM,
      'rapid reset: most streams reset by the peer right after opening them',
    );
  }

  protected override streamGone(s: WireStream): void {
    if (s.rstCode === -1) this.resets.completed(Date.now());
  }

  // ---- the listener's controls ----

  startDrain(): void {
    this.drain();
  }

  protected override connectionClosed(): void {
    if (this.closedOnce) return;
    this.closedOnce = true;
    if (this.streamTimer !== null) clearTimeout(this.streamTimer);
    this.host.onClosed(this);
  }
}

/**
 * TRELLIS_H2_WIRE_SERVER: `on` (default) serves ALPN-h2 mesh connections with this layer; `off`
 * hands them to node:http2 (../h2/h2-server.ts) as before.
 */
export function wireServerFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['TRELLIS_H2_WIRE_SERVER'];
  if (v === undefined || v === '' || v === 'on' || v === '1' || v === 'true') return true;
  if (v === 'off' || v === '0' || v === 'false') return false;
  throw new Error(`TRELLIS_H2_WIRE_SERVER: must be on or off, got '${v}'`);
}
