// One downstream HTTP/1.1 connection on a raw socket: a request parser, one exchange at a time
// (pipelined requests wait, so responses stay in order), keep-alive, header, idle and stream idle
// timeouts.
import type { Socket } from 'node:net';
import { H1Parser, type H1Handler, type H1Head, type H1RequestHead } from '../http/h1-parser.js';
import { H1Exchange } from '../pipeline/h1-exchange.js';
import { ProxyError, rescue } from '../pipeline/rescue.js';
import type { Downstream, ListenerContext, RequestTimerOwner } from '../pipeline/types.js';
import { WriteBatch } from '../pipeline/write-batch.js';
import { inReadBuffer, keep, readView } from '../io/read-buffer.js';
import type { ListenerLimits } from './limits.js';

/** After we close (FIN sent), how long a peer may take to read the rest before the socket is destroyed. */
const LINGER_MS = 5000;
/** The stream idle timeout is checked on a tick of 1/STREAM_TICKS of it (see onStreamTick). */
const STREAM_TICKS = 8;

const CONN = Symbol('trellis.h1Connection');
type Tagged = Socket & { [CONN]?: H1Connection };

/**
 * The `onread` callback of accepted sockets moved onto the onread path (onread-socket.ts; `this`
 * is the socket): each read goes to the connection's parser, in place (a view of the shared read
 * buffer, see onRead); false stops reading (tunnel backpressure).
 */
export function onDownstreamRead(this: Socket, n: number, buf: Buffer): boolean {
  const c = (this as Tagged)[CONN];
  if (c === undefined) {
    this.destroy(); // bytes before the connection was set up: never expected
    return false;
  }
  return c.onRead(readView(n, buf));
}

export class H1Connection implements H1Handler, Downstream {
  private readonly parser: H1Parser;
  readonly out = new WriteBatch();
  private active: H1Exchange | null = null;
  /** Bytes read but not yet parsed (pipelined requests waiting, or backpressure). */
  private pending: Buffer | null = null;
  /** Parser held for request-body backpressure / upstream not ready. */
  private bpHeld = false;
  /** Parser held after a request ended until its response is done (pipelining). */
  private waitHeld = false;
  private executing = false;
  private socketPaused = false;
  private upgrade = false;
  private closing = false;
  private tunneled = false;
  draining = false;
  private headersArmed = false;
  private idleArmed = false;
  private headersTimer: ReturnType<typeof setTimeout> | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private reqTimer: ReturnType<typeof setTimeout> | null = null;
  private reqTimerMs = 0;
  private reqTimerArmed = false;
  private reqTimerOwner: RequestTimerOwner | null = null;
  // Stream idle: while a request (or a tunnel) is in progress, a tick compares the socket's byte
  // counters with the last tick's; STREAM_TICKS quiet ticks in a row end the stream. Nothing runs
  // per chunk, and back-to-back requests keep the running tick (no re-arm per request).
  private streamTimer: ReturnType<typeof setTimeout> | null = null;
  private streamTicking = false;
  private streamArmed = false;
  private streamQuiet = 0;
  private streamBytes = 0;

  /**
   * `onread`: the socket reads through onDownstreamRead (it was made by moveToOnread with it) and
   * has no 'data' events; otherwise (TLS, sockets that could not be moved) 'data' events are read.
   */
  constructor(
    readonly socket: Socket,
    readonly listener: ListenerContext,
    private readonly limits: ListenerLimits,
    private readonly onClosed: (c: H1Connection) => void,
    private readonly onread = false,
  ) {
    this.parser = new H1Parser('request', this, limits.h1);
    socket.setNoDelay(true);
    if (onread) (socket as Tagged)[CONN] = this;
    else socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onPeerEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.armHeaders();
  }

  /** True while no request is in progress (drain closes these at once). */
  get idle(): boolean {
    return this.active === null && this.pending === null && !this.tunneled;
  }

  // ---- timers (created once per connection, re-armed with refresh()) ----

  private armHeaders(): void {
    this.idleArmed = false;
    if (this.headersArmed) return;
    this.headersArmed = true;
    if (this.headersTimer === null) {
      this.headersTimer = setTimeout(this.onHeadersTimeout, this.limits.requestHeadersTimeoutMs);
      this.headersTimer.unref();
    } else this.headersTimer.refresh();
  }

  private armIdle(): void {
    this.headersArmed = false;
    if (this.idleArmed) return;
    this.idleArmed = true;
    if (this.idleTimer === null) {
      this.idleTimer = setTimeout(this.onIdleTimeout, this.limits.idleTimeoutMs);
      this.idleTimer.unref();
    } else this.idleTimer.refresh();
  }

  armRequestTimer(ms: number, owner: RequestTimerOwner): void {
    this.reqTimerArmed = true;
    this.reqTimerOwner = owner;
    if (this.reqTimer !== null && this.reqTimerMs === ms) {
      this.reqTimer.refresh();
      return;
    }
    if (this.reqTimer !== null) clearTimeout(this.reqTimer);
    this.reqTimerMs = ms;
    this.reqTimer = setTimeout(this.onRequestTimer, ms);
    this.reqTimer.unref();
  }

  disarmRequestTimer(): void {
    this.reqTimerArmed = false;
    this.reqTimerOwner = null;
  }

  private readonly onRequestTimer = (): void => {
    const o = this.reqTimerOwner;
    if (!this.reqTimerArmed || o === null) return;
    this.reqTimerArmed = false;
    this.reqTimerOwner = null;
    o.onRequestTimeout();
  };

  private disarm(): void {
    this.headersArmed = false;
    this.idleArmed = false;
  }

  /** A request (or tunnel) is in progress: the stream idle timeout applies (unless it is 0). */
  private armStream(): void {
    const ms = this.limits.streamIdleTimeoutMs;
    if (ms === 0) return;
    this.streamArmed = true;
    this.streamQuiet = 0;
    if (this.streamTicking) return;
    this.streamTicking = true;
    if (this.streamTimer === null) {
      this.streamTimer = setTimeout(this.onStreamTick, Math.ceil(ms / STREAM_TICKS));
      this.streamTimer.unref();
    } else this.streamTimer.refresh();
  }

  /**
   * Bytes moved since the last tick (either way, as counted at the downstream socket: request bytes
   * read, response or tunnel bytes written): not idle. Counters only grow, so a stale snapshot can
   * only delay a cut by a tick, never cause one: the cut comes between N and N + N/8 after the last
   * byte.
   */
  private readonly onStreamTick = (): void => {
    if (!this.streamArmed || this.closing) {
      this.streamTicking = false;
      return;
    }
    const s = this.socket;
    const n = s.bytesRead + (s.bytesWritten ?? 0);
    if (n !== this.streamBytes) {
      this.streamBytes = n;
      this.streamQuiet = 0;
    } else if (++this.streamQuiet >= STREAM_TICKS) {
      this.streamArmed = false;
      this.streamTicking = false;
      this.onStreamIdle();
      return;
    }
    (this.streamTimer as ReturnType<typeof setTimeout>).refresh();
  };

  private onStreamIdle(): void {
    if (this.tunneled) {
      // An upgrade/CONNECT tunnel idle both ways: closed (the splice closes the upstream side).
      this.socket.destroy();
      return;
    }
    const ex = this.active;
    if (ex !== null) ex.streamIdle(this.limits.streamIdleTimeoutMs);
  }

  private readonly onHeadersTimeout = (): void => {
    if (!this.headersArmed || this.closing || this.active !== null) return;
    this.headersArmed = false;
    const err = new ProxyError(
      'REQUEST_HEADERS_TIMEOUT',
      `no complete request head within ${this.limits.requestHeadersTimeoutMs} ms`,
    );
    this.closeWith(err);
  };

  private readonly onLingerTimeout = (): void => {
    this.socket.destroy();
  };

  private readonly onIdleTimeout = (): void => {
    if (!this.idleArmed || this.closing || this.active !== null) return;
    this.idleArmed = false;
    this.close();
  };

  // ---- socket events ----

  /**
   * One read of an onread socket. In a tunnel the bytes go into the socket's Readable side, which
   * the tunnel pipes upstream (false: its buffer is full, reading stops until the pipe drains it).
   */
  onRead(buf: Buffer): boolean {
    if (this.tunneled) return this.socket.push(keep(buf));
    this.onData(buf);
    // `buf` is a view of the shared read buffer (../io/read-buffer.ts), parsed in place: what is
    // left unparsed (pipelined, held, past an upgrade head) outlives this read, so it is copied.
    const p = this.pending;
    if (p !== null && inReadBuffer(p)) this.pending = keep(p);
    return true;
  }

  /** Bytes read before the connection was set up (detection's head): parsed as if just read. */
  feed(head: Buffer): void {
    this.onData(head);
  }

  private readonly onData = (buf: Buffer): void => {
    if (this.tunneled || this.closing) return;
    if (this.active === null) this.armHeaders();
    this.pending = this.pending === null ? buf : Buffer.concat([this.pending, buf]);
    this.drive();
  };

  private readonly onDrain = (): void => {
    this.active?.onDownstreamDrain();
  };

  private readonly onPeerEnd = (): void => {
    if (this.tunneled) return;
    // The client half-closed: finish the request in progress (if complete), then close.
    if (this.active === null || !this.active.reqEnded) {
      if (this.active !== null) this.active.abort();
      this.active = null;
      this.close();
      return;
    }
    this.draining = true;
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.closing = true;
    this.disarm();
    if (this.headersTimer !== null) clearTimeout(this.headersTimer);
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    if (this.reqTimer !== null) clearTimeout(this.reqTimer);
    if (this.streamTimer !== null) clearTimeout(this.streamTimer);
    this.streamArmed = false;
    if (this.active !== null && !this.tunneled) this.active.abort();
    this.active = null;
    this.onClosed(this);
  };

  // ---- parsing ----

  private drive(): void {
    while (this.pending !== null && !this.bpHeld && !this.waitHeld && !this.closing && !this.tunneled) {
      const buf = this.pending;
      this.pending = null;
      let n: number;
      this.executing = true;
      try {
        n = this.parser.execute(buf);
      } catch (e) {
        this.executing = false;
        this.onParseError(e);
        return;
      }
      this.executing = false;
      if (this.active !== null) this.active.flushUpstream();
      // Unconsumed bytes: held (kept for later), after an upgrade head (the tunnel's), or after a
      // final `Connection: close` request (discarded: never parsed as another request).
      if (n < buf.length && (this.bpHeld || this.waitHeld || this.upgrade)) this.pending = buf.subarray(n);
    }
    const wantPause = this.pending !== null;
    if (wantPause !== this.socketPaused && !this.closing && !this.tunneled) {
      this.socketPaused = wantPause;
      if (wantPause) this.socket.pause();
      else this.socket.resume();
    }
  }

  onHead(head: H1Head): void {
    this.disarm();
    this.armStream();
    const h = head as H1RequestHead;
    if (h.framing === 'upgrade') this.upgrade = true;
    const ex = new H1Exchange(this, h);
    this.active = ex;
    ex.begin();
  }

  onBody(chunk: Buffer): void {
    // With no active exchange this is the rest of a request already answered: discarded.
    if (this.active !== null) this.active.onRequestBody(chunk);
  }

  onEnd(trailers: string[] | null): void {
    const ex = this.active;
    if (ex === null) return;
    ex.onRequestEnd(trailers);
    if (this.active === ex) {
      this.waitHeld = true;
      this.parser.pause();
    }
  }

  private onParseError(e: unknown): void {
    const ex = this.active;
    if (ex !== null) {
      ex.fail(e, true);
      this.close();
      return;
    }
    this.closeWith(e);
  }

  // ---- Downstream (driven by the exchange) ----

  holdRequest(): void {
    if (this.bpHeld) return;
    this.bpHeld = true;
    this.parser.pause();
  }

  releaseRequest(): void {
    if (!this.bpHeld) return;
    this.bpHeld = false;
    if (!this.waitHeld && !this.upgrade) this.parser.resume();
    if (!this.executing) this.drive();
  }

  exchangeDone(keepAlive: boolean): void {
    this.active = null;
    this.streamArmed = false;
    this.bpHeld = false;
    this.waitHeld = false;
    if (!keepAlive || this.draining || this.upgrade) {
      this.close();
      return;
    }
    this.parser.resume();
    if (!this.executing) this.drive();
    if (this.active === null && !this.closing) {
      if (this.pending === null) this.armIdle();
      else this.armHeaders();
    }
  }

  detachForTunnel(): Buffer | null {
    this.tunneled = true;
    this.disarm();
    // Stream sockets: the tunnel's pipe takes the 'data' events. Onread sockets: onRead pushes
    // the bytes into the Readable side, for the same pipe.
    if (!this.onread) this.socket.removeListener('data', this.onData);
    this.socket.removeListener('drain', this.onDrain);
    this.socket.removeListener('end', this.onPeerEnd);
    const rest = this.pending;
    this.pending = null;
    this.socketPaused = false;
    return rest;
  }

  // ---- closing ----

  /** Drain: idle connections close now; busy ones close after their response (`Connection: close`). */
  startDrain(): void {
    this.draining = true;
    if (this.idle) this.close();
  }

  private closeWith(err: unknown): void {
    if (this.closing) return;
    const r = rescue(err, this.listener.plane.nodeId, true);
    this.listener.stats.noRoute.record(r.status, 0);
    this.socket.write(r.bytes);
    this.close();
  }

  /** Graceful: flush what was written, then FIN. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.disarm();
    this.pending = null;
    this.socket.end();
    // Keep reading (onData discards while closing) so the peer's FIN or RST is seen at once: a
    // socket paused on pipelined bytes would otherwise stay open until the linger timer.
    if (this.socketPaused) {
      this.socketPaused = false;
      this.socket.resume();
    }
    // A peer that never reads must not hold the socket forever (the idle timer doubles as linger).
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(this.onLingerTimeout, LINGER_MS);
    this.idleTimer.unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
