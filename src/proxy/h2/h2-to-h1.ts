// An HTTP/2 request to an HTTP/1.1 cluster: re-framed as an HTTP/1.1 request (always chunked, so a
// lying content-length cannot desync the upstream) on a pooled keep-alive connection; the response
// goes back as HTTP/2 headers, data and trailers, with backpressure both ways.
import type { H1ResponseHead } from '../http/h1-parser.js';
import { encodeChunk, encodeLastChunk, serializeRequestHead } from '../http/h1-serializer.js';
import type { H1RequestHead } from '../http/h1-types.js';
import { ProxyError } from '../pipeline/rescue.js';
import { FAILURE } from '../pipeline/retry.js';
import type { H1Pool, PoolWaiter } from '../upstream/h1-pool.js';
import type { UpstreamConn, UpstreamOwner } from '../upstream/upstream-conn.js';
import type { BodyReader, H2Exchange } from './h2-exchange.js';
import { relayResponseFlat } from './h2-response.js';

/** Response fields that mean something only on one HTTP/1.1 connection (never sent on HTTP/2). */
export const H1_ONLY = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
]);
const UNSAFE = /[\r\n\0]/;

/** HTTP/1.1 response fields for HTTP/2: a flat list without H1_ONLY fields nor those in `skip`. */
export function toH2Fields(flat: readonly string[], skip: string[] | null): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i] as string;
    if (H1_ONLY.has(n) || (skip !== null && skip.includes(n))) continue;
    out.push(n, flat[i + 1] as string);
  }
  return out;
}

export class H2ToH1 implements UpstreamOwner, PoolWaiter, BodyReader {
  private conn: UpstreamConn | null = null;
  private pool: H1Pool | null = null;
  private readonly headBytes: Buffer;
  private reqEnded: boolean;
  private gotResponse = false;
  private reused = false;
  private readonly hasBody: boolean;
  private listening = false;
  /** Request body read while no connection was attached, sent first on the next one. */
  private waiting: Buffer[] = [];

  constructor(
    private readonly ex: H2Exchange,
    private readonly method: string,
    authority: string,
    path: string,
    headers: string[],
  ) {
    for (let i = 0; i < headers.length; i++) {
      if (UNSAFE.test(headers[i] as string)) throw new ProxyError('BAD_REQUEST', 'CR, LF or NUL in a header');
    }
    const body = !ex.ds.endAfterHeaders;
    this.hasBody = body;
    this.reqEnded = !body;
    const head: H1RequestHead = {
      kind: 'request',
      method,
      target: path,
      targetForm: 'origin',
      scheme: null,
      authority,
      path,
      expectContinue: false,
      teTrailers: false,
      versionMinor: 1,
      headers,
      framing: body ? 'chunked' : 'none',
      contentLength: -1,
      keepAlive: true,
      connectionTokens: null,
      upgrade: null,
    };
    try {
      this.headBytes = serializeRequestHead(head, { body: body ? 'chunked' : 'none', authority, path });
    } catch (e) {
      throw new ProxyError('BAD_REQUEST', `cannot forward as HTTP/1.1: ${(e as Error).message}`);
    }
  }

  /** Borrows a connection from the endpoint's HTTP/1 pool (a fresh one to retry a stale keep-alive). */
  acquire(pool: H1Pool, fresh: boolean): void {
    this.pool = pool;
    pool.acquire(this, fresh);
  }

  onPoolError(err: ProxyError): void {
    this.ex.onPoolError(err);
  }

  onPoolConnection(conn: UpstreamConn, reused: boolean): void {
    const ex = this.ex;
    if (ex.done) {
      this.pool?.release(conn);
      return;
    }
    this.conn = conn;
    this.reused = reused;
    this.gotResponse = false;
    conn.attach(this, this.method);
    conn.out.push(this.headBytes);
    const ds = ex.ds;
    const r = ex.replay;
    if (ex.replaying && r !== null) {
      // A retry after body bytes went up: the kept body goes again (it holds what came meanwhile).
      for (const c of r.chunks) for (const b of encodeChunk(c)) conn.out.push(b);
      ex.bodyStarted = true;
    } else if (this.waiting.length > 0) {
      // Body that arrived while there was no connection (a stale keep-alive being replaced).
      for (const c of this.waiting) for (const b of encodeChunk(c)) conn.out.push(b);
      ex.bodyStarted = true;
    }
    this.waiting = [];
    ex.replaying = false;
    if (this.hasBody && this.reqEnded) conn.out.push(encodeLastChunk(null)); // a retry after the end
    if (!this.listening) {
      this.listening = true;
      if (this.hasBody) ex.readBody(this);
    }
    if (!conn.out.flush(conn.socket)) ds.pause();
    else if (this.listening && ds.isPaused()) ds.resume();
  }

  onDownData(chunk: Buffer): void {
    this.ex.moved = true;
    const r = this.ex.replay;
    if (r !== null) r.push(chunk);
    const c = this.conn;
    if (c === null) {
      // Between connections (a stale one failed, a fresh one is coming): keep it, and stop reading
      // until the fresh connection takes it.
      this.waiting.push(chunk);
      this.ex.ds.pause();
      return;
    }
    this.ex.bodyStarted = true;
    for (const b of encodeChunk(chunk)) c.out.push(b);
    if (!c.out.flush(c.socket)) this.ex.ds.pause();
  }

  onDownEnd(): void {
    this.reqEnded = true;
    this.ex.reqDone = true;
    const c = this.conn;
    if (c === null) return;
    c.out.push(encodeLastChunk(null));
    c.out.flush(c.socket);
  }

  onDownDrain(): void {
    this.conn?.socket.resume();
  }

  onUpstreamDrain(): void {
    this.ex.ds.resume();
  }

  onResponseHead(rh: H1ResponseHead): void {
    if (rh.status < 200) return; // interim (100 Continue): HTTP/2 clients get the final response only
    this.gotResponse = true;
    if (rh.status === 101) {
      this.ex.fail(new ProxyError('UPSTREAM_BAD_RESPONSE', '101 Switching Protocols to an HTTP/2 request'));
      return;
    }
    const noBody = rh.framing === 'none' || (rh.framing === 'content-length' && rh.contentLength === 0);
    relayResponseFlat(this.ex, rh.status, toH2Fields(rh.headers, rh.connectionTokens), noBody);
  }

  onResponseBody(chunk: Buffer): void {
    this.ex.moved = true;
    const ds = this.ex.ds;
    if (!ds.destroyed && !ds.writableEnded && !ds.write(chunk)) this.conn?.socket.pause();
  }

  flushDownstream(): void {}

  onResponseEnd(trailers: string[] | null): void {
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) {
      if (!this.reqEnded) conn.reusable = false;
      conn.detach();
      this.pool?.release(conn);
    }
    if (trailers !== null && trailers.length > 0) this.ex.trailers = toH2Fields(trailers, null);
    this.ex.finishResponse();
  }

  onUpstreamError(err: ProxyError, gotBytes: boolean): void {
    this.conn = null;
    const ex = this.ex;
    if (ex.done) return;
    if (!this.gotResponse && !gotBytes && this.reused && !ex.bodyStarted) {
      // A keep-alive connection the server had closed while idle: once more on a fresh one.
      ex.retryStale(err);
      return;
    }
    if (ex.respStarted) {
      ex.reportAttempt(false);
      ex.resetDown(0x2); // NGHTTP2_INTERNAL_ERROR (no node:http2 import: it loads on first use)
    } else ex.upstreamFailed(FAILURE.reset, err);
  }

  /** The exchange ended early (reset, timeout, failure): the connection cannot be reused. */
  destroy(): void {
    const c = this.conn;
    this.conn = null;
    if (c !== null) c.destroy();
  }
}
