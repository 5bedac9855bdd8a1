// One HTTP/1.1 connection to an upstream endpoint: a raw socket plus a response parser, lent to one
// request (its `owner`) at a time by the endpoint's pool; parse events go to the owner.
import type { Socket } from 'node:net';
import { H1Parser, type H1Head, type H1Handler, type H1ResponseHead } from '../http/h1-parser.js';
import { ProxyError, toProxyError } from '../pipeline/rescue.js';
import { WriteBatch } from '../pipeline/write-batch.js';
import { copyRead, keep, nextReadBuffer, readView } from '../io/read-buffer.js';

/** Upstream sockets read through `onread` into the shared read buffers (../io/read-buffer.ts). */
export { nextReadBuffer };

const CONN = Symbol('trellis.upstreamConn');
type Tagged = Socket & { [CONN]?: UpstreamConn };

/** The `onread` callback of every upstream socket (`this` is the socket). */
export function onUpstreamRead(this: Socket, n: number, buf: Buffer): boolean {
  const c = (this as Tagged)[CONN];
  if (c === undefined) {
    this.destroy(); // bytes before the connection was handed out: never expected
    return false;
  }
  // Parsed in place when the owner writes or drops response body bytes before flushDownstream()
  // returns (a view of the shared read buffer); copied for other owners and tunnels.
  const o = c.owner;
  c.onData(o !== null && o.bodyInPlace === true ? readView(n, buf) : copyRead(n, buf));
  return true;
}

/** What a request being forwarded implements to receive its response. */
export interface UpstreamOwner {
  /**
   * True: onResponseBody's chunks are written (or dropped) by the time flushDownstream() returns,
   * never kept, so they may be views of the shared read buffer (../io/read-buffer.ts). Otherwise
   * each read is copied first.
   */
  readonly bodyInPlace?: boolean;
  onResponseHead(head: H1ResponseHead): void;
  onResponseBody(chunk: Buffer): void;
  onResponseEnd(trailers: string[] | null): void;
  /** The connection failed or closed before the response ended; `gotBytes`: any response byte arrived. */
  onUpstreamError(err: ProxyError, gotBytes: boolean): void;
  /** The upstream socket drained (request-body backpressure relief). */
  onUpstreamDrain(): void;
  /** Called after each upstream read was parsed: write what it produced downstream. */
  flushDownstream(): void;
}

export class UpstreamConn implements H1Handler {
  readonly parser: H1Parser;
  /** Request bytes collected during one downstream read, written with one write(). */
  readonly out = new WriteBatch();
  owner: UpstreamOwner | null = null;
  /** False once it must not go back to the pool (error, `Connection: close`, unfinished request). */
  reusable = true;
  closed = false;
  /** Requests served, 0 while the first is in flight (a reused connection has served ≥ 1). */
  served = 0;
  /** When it went idle in the pool (ms, the pool's clock). */
  idleSince = 0;
  private gotBytes = false;
  /** After a 101: bytes that follow the head go straight to this socket. */
  tunnelTo: Socket | null = null;

  /**
   * `socket` was made by `net.connect({ onread: { buffer: nextReadBuffer, callback: onUpstreamRead } })`
   * (see h1-pool.ts): reads arrive in onData, there are no 'data' events.
   */
  constructor(
    readonly socket: Socket,
    private readonly onGone: (c: UpstreamConn) => void,
  ) {
    this.parser = new H1Parser('response', this);
    (socket as Tagged)[CONN] = this;
    socket.on('drain', this.onDrain);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onClose);
  }

  /** Lends the connection to one request. */
  attach(owner: UpstreamOwner, method: string): void {
    this.owner = owner;
    this.gotBytes = false;
    this.parser.expectResponse(method);
  }

  /** The request is done with it (response complete); the caller releases it to the pool. */
  detach(): void {
    this.owner = null;
    this.served++;
  }

  /** Kills it, owner or not (timeouts, aborted requests). The owner is not told. */
  destroy(): void {
    this.owner = null;
    this.reusable = false;
    this.socket.destroy();
  }

  /** For a tunnel: stop parsing; from now on the bytes read go to `tunnelTo` (see tunnel()). */
  stopParsing(): void {
    this.tunneling = true;
    this.owner = null;
    this.reusable = false;
  }

  /**
   * After stopParsing(): what the upstream sends goes to `ds` (with backpressure, and its FIN as
   * ds.end()), as `pipe` would do; the socket has no 'data' events to pipe.
   */
  tunnel(ds: Socket): void {
    this.tunnelTo = ds;
    ds.on('drain', () => this.socket.resume());
    this.socket.on('end', () => ds.end());
  }

  onHead(head: H1Head): void {
    const o = this.owner;
    if (o !== null) return o.onResponseHead(head as H1ResponseHead);
    // A response nobody asked for (after the one that ended in this read): never reused, see onData.
    this.reusable = false;
    this.parser.pause();
  }
  onBody(chunk: Buffer): void {
    this.owner?.onResponseBody(chunk);
  }
  onEnd(trailers: string[] | null): void {
    this.owner?.onResponseEnd(trailers);
  }

  private tunneling = false;

  /** One read (called by onUpstreamRead; a view of the shared read buffer when the owner allows). */
  onData(buf: Buffer): void {
    if (this.tunneling) {
      const t = this.tunnelTo;
      if (t !== null && !t.destroyed && !t.write(buf)) this.socket.pause();
      return;
    }
    const o = this.owner;
    if (o === null) {
      // Bytes on an idle connection (or after a finished response): the framing can't be trusted.
      this.reusable = false;
      this.socket.destroy();
      return;
    }
    this.gotBytes = true;
    try {
      const n = this.parser.execute(buf);
      if (n < buf.length && this.tunnelTo !== null && !this.tunnelTo.write(keep(buf.subarray(n))))
        this.socket.pause();
      // The response ended in this read (the owner let go) and bytes followed it: the upstream's
      // framing can't be trusted, and the rest must never be read as the next request's response.
      else if (this.owner !== o && !this.tunneling && !this.parser.atRest())
        throw new ProxyError('UPSTREAM_BAD_RESPONSE', 'the upstream sent bytes after its response');
    } catch (e) {
      this.fail(toProxyError(e));
    }
    o.flushDownstream();
  }

  private readonly onDrain = (): void => {
    this.owner?.onUpstreamDrain();
  };

  private readonly onSocketEnd = (): void => {
    this.reusable = false;
    if (this.tunneling) return;
    if (this.owner === null) return;
    try {
      this.parser.finish();
    } catch (e) {
      this.fail(
        this.gotBytes
          ? new ProxyError(
              'UPSTREAM_RESET',
              'the upstream closed the connection in the middle of its response',
            )
          : toProxyError(e),
      );
      return;
    }
    this.socket.end();
  };

  private readonly onSocketError = (e: NodeJS.ErrnoException): void => {
    this.fail(new ProxyError('UPSTREAM_RESET', `upstream connection error ${e.code ?? e.message}`));
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.reusable = false;
    this.onGone(this);
    this.fail(new ProxyError('UPSTREAM_RESET', 'the upstream closed the connection before responding'));
  };

  private fail(err: ProxyError): void {
    this.reusable = false;
    const o = this.owner;
    this.owner = null;
    if (!this.socket.destroyed) this.socket.destroy();
    if (o !== null) o.onUpstreamError(err, this.gotBytes);
  }
}
