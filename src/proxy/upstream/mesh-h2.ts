// HTTP/1.1 requests to a peer sidecar over mesh mTLS, sent as streams of one multiplexed HTTP/2
// connection per peer (ALPN h2) on our own HTTP/2 layer (../h2wire/), instead of one pooled
// HTTP/1.1 connection per request in flight.
//
// The HTTP/1.1 exchange (src/proxy/pipeline/h1-exchange.ts) is left as it is: it borrows a
// "connection" from MeshH2Pool as it would from an H1Pool, and pushes the re-framed request bytes
// (head, body with its chunk framing, the last chunk) into its write batch. Here those bytes go
// straight into the same HTTP/1 parser (no copy, no socket) and become one HTTP/2 stream:
// pseudo-headers from the request line, hop-by-hop fields dropped, DATA frames. The response's
// HEADERS / DATA / trailers come back to the exchange as the parse events of an HTTP/1.1 response
// (written downstream once per read of the peer connection), so framing towards the client
// (content-length kept, chunked otherwise), retries, timeouts, error mapping, passive health and
// metrics are the exchange's own. Upgrade / CONNECT never come here (ClusterRuntime gives them an
// HTTP/1.1 connection). Switch: TRELLIS_MESH_H2 (see meshH2FromEnv).
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { H1Parser, type H1Head, type H1Handler, type H1ResponseHead } from '../http/h1-parser.js';
import type { H1RequestHead } from '../http/h1-types.js';
import { ProxyError, toProxyError } from '../pipeline/rescue.js';
import { WriteBatch } from '../pipeline/write-batch.js';
import type { ReadFlush, WireClient } from '../h2wire/client.js';
import { ErrorCode } from '../h2wire/frames.js';
import type { WirePool, WireWaiter } from '../h2wire/pool.js';
import type { StreamHandler, WireStream } from '../h2wire/stream.js';
import type { ConnPool, PoolWaiter } from './h1-pool.js';
import type { H2Pool } from './h2-pool.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-conn.js';

/** Request fields that never go on an HTTP/2 stream (RFC 9113 §8.2.2), plus Host (→ :authority). */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect', // answered here: 100 Continue is sent to the client at once (as Envoy does)
]);

/**
 * TRELLIS_MESH_H2: `on` (default) sends HTTP/1.1 requests to mTLS peer sidecars as HTTP/2 streams
 * on one connection per peer; `off` keeps pooled HTTP/1.1 connections over TLS (docs/security.md
 * "HTTP/2 between sidecars"). Anything else is refused with what would be valid.
 */
export function meshH2FromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['TRELLIS_MESH_H2'];
  if (v === undefined || v === '') return MESH_H2_DEFAULT;
  if (v === 'off' || v === '0' || v === 'false') return false;
  if (v === 'on' || v === '1' || v === 'true') return true;
  throw new Error(`TRELLIS_MESH_H2: must be on or off, got '${v}'`);
}

/** What TRELLIS_MESH_H2 unset means. */
const MESH_H2_DEFAULT = true;

/** The pool the HTTP/1.1 exchange borrows from: each "connection" is a new stream to the peer. */
export class MeshH2Pool implements ConnPool {
  private readonly wire: WirePool;
  constructor(h2: H2Pool) {
    this.wire = h2.wire();
  }

  acquire(w: PoolWaiter, _fresh = false): void {
    this.wire.acquire(new Opener(w));
  }

  release(_c: UpstreamConn): void {
    // The stream has ended; the connection stays with the pool.
  }
}

class Opener implements WireWaiter {
  constructor(private readonly w: PoolWaiter) {}
  /**
   * A stream counts as a reused connection: a reset before any response byte (the peer restarted,
   * GOAWAY, REFUSED_STREAM) is retried once like a stale keep-alive connection (idempotent or no
   * body sent yet), and it does not count against the endpoint's passive health; the connection's
   * own connect failures do (onPoolError).
   */
  onWire(c: WireClient): void {
    this.w.onPoolConnection(new H2StreamConn(c) as unknown as UpstreamConn, true);
  }
  onPoolError(err: ProxyError): void {
    this.w.onPoolError(err);
  }
}

/** The exchange's write batch: each pushed buffer goes to the request parser at once. */
class StreamBatch extends WriteBatch {
  constructor(private readonly c: H2StreamConn) {
    super();
  }
  override get empty(): boolean {
    return true;
  }
  override push(b: Buffer): void {
    this.c.fromExchange(b);
  }
  override flush(_s: Socket): boolean {
    const s = this.c.stream;
    return s === null || !s.needDrain;
  }
  override clear(): void {}
}

/** What the exchange calls on `conn.socket` (pause / resume of the response, destroy). */
class StreamShim {
  constructor(private readonly c: H2StreamConn) {}
  write(b: Buffer): boolean {
    this.c.fromExchange(b);
    const s = this.c.stream;
    return s === null || !s.needDrain;
  }
  cork(): void {}
  uncork(): void {}
  pause(): void {
    this.c.stream?.pause();
  }
  resume(): void {
    this.c.stream?.resume();
  }
  destroy(): void {
    this.c.destroy();
  }
  get destroyed(): boolean {
    return this.c.closed;
  }
}

/** One request/response as one HTTP/2 stream, shaped like an UpstreamConn for the exchange. */
export class H2StreamConn implements H1Handler, StreamHandler, ReadFlush {
  readonly out: WriteBatch = new StreamBatch(this);
  readonly socket: Socket;
  owner: UpstreamOwner | null = null;
  reusable = true;
  closed = false;
  served = 0;
  idleSince = 0;
  stream: WireStream | null = null;
  private readonly parser: H1Parser;
  private method = 'GET';
  private gotBytes = false;
  private ended = false;
  private trailers: string[] | null = null;
  private flushQueued = false;

  constructor(private readonly client: WireClient) {
    this.parser = new H1Parser('request', this);
    this.socket = new StreamShim(this) as unknown as Socket;
  }

  attach(owner: UpstreamOwner, method: string): void {
    this.owner = owner;
    this.method = method;
  }

  detach(): void {
    this.owner = null;
    this.served++;
  }

  destroy(): void {
    this.owner = null;
    this.reusable = false;
    this.closed = true;
    const s = this.stream;
    if (s !== null && !s.closed) s.reset(ErrorCode.CANCEL);
  }

  /** Request bytes from the exchange (head, framed body): parsed into the stream. */
  fromExchange(b: Buffer): void {
    if (this.closed) return;
    try {
      this.parser.execute(b);
    } catch (e) {
      this.fail(toProxyError(e), false);
    }
  }

  // ---- the request, as parse events ----

  onHead(h: H1Head): void {
    const head = h as H1RequestHead;
    const fields = [
      ':method',
      head.method,
      ':scheme',
      'https',
      ':authority',
      head.authority,
      ':path',
      head.path,
    ];
    const flat = head.headers;
    const skip = head.connectionTokens;
    for (let i = 0; i < flat.length; i += 2) {
      const n = flat[i] as string;
      if (DROP_REQUEST.has(n) || (skip !== null && skip.includes(n))) continue;
      const v = flat[i + 1] as string;
      if (n === 'te' && v.toLowerCase() !== 'trailers') continue;
      fields.push(n, v);
    }
    const body = head.framing === 'content-length' ? head.contentLength > 0 : head.framing !== 'none';
    try {
      this.stream = this.client.request(fields, !body, this);
    } catch (e) {
      this.fail(
        new ProxyError('UPSTREAM_RESET', `HTTP/2 stream to the peer: ${(e as Error).message}`),
        false,
      );
      return;
    }
    if (head.expectContinue) this.interim(100);
  }

  onBody(chunk: Buffer): void {
    const s = this.stream;
    if (s !== null && !s.closed) s.write(chunk);
  }

  /**
   * Two roles, one method name: the end of the request as parsed (H1Handler: trailers or null) and
   * END_STREAM of the response (StreamHandler: the stream). Request trailers are not carried: the
   * receiving sidecar's HTTP/2 → HTTP/1.1 leg (src/proxy/h2/h2-to-h1.ts) does not forward them.
   */
  onEnd(x: string[] | null | WireStream): void {
    if (x === this.stream && x !== null) return this.endResponse();
    const s = this.stream;
    if (s !== null && !s.closed) s.end(null);
  }

  // ---- the response, as the events of an HTTP/1.1 response ----

  private interim(status: number): void {
    const o = this.owner;
    if (o === null) return;
    o.onResponseHead(responseHead(status, [], 'none', -1));
    o.onResponseEnd(null);
  }

  onHeaders(_s: WireStream, f: string[], endStream: boolean): void {
    const status = Number(f[1]); // :status is the only pseudo-header, first (checked)
    if (status < 200) {
      if (status !== 100) this.interim(status); // 100 Continue was already sent to the client
      return;
    }
    const o = this.owner;
    if (o === null) return;
    this.gotBytes = true;
    const flat = f.slice(2);
    let framing: H1ResponseHead['framing'] = 'chunked';
    let length = -1;
    if (this.method === 'HEAD' || status === 204 || status === 304) framing = 'none';
    else {
      for (let i = 0; i < flat.length; i += 2) {
        if (flat[i] !== 'content-length') continue;
        const cl = flat[i + 1] as string;
        if (/^\d+$/.test(cl)) {
          framing = 'content-length';
          length = Number(cl);
        }
        break;
      }
    }
    o.onResponseHead(responseHead(status, flat, framing, length));
    if (framing === 'none' || endStream) this.endResponse();
    else this.queueFlush();
  }

  onData(_s: WireStream, chunk: Buffer): void {
    const o = this.owner;
    if (o === null || this.ended) return;
    o.onResponseBody(chunk);
    this.queueFlush();
  }

  onTrailers(_s: WireStream, f: string[]): void {
    this.trailers = f;
  }

  onDrain(): void {
    this.owner?.onUpstreamDrain();
  }

  onClose(): void {
    this.closed = true;
  }

  onReset(_s: WireStream, code: number): void {
    this.closed = true;
    if (this.ended) return;
    const why =
      code < 0
        ? 'the HTTP/2 connection to the peer sidecar closed before the response ended'
        : `the peer sidecar reset the HTTP/2 stream (code ${code}) before the response ended`;
    this.fail(new ProxyError('UPSTREAM_RESET', why), this.gotBytes);
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.client.later(this);
  }

  /** Once per read of the peer connection: what this stream produced goes downstream. */
  flushRead(): void {
    this.flushQueued = false;
    this.owner?.flushDownstream();
  }

  private endResponse(): void {
    if (this.ended) return;
    this.ended = true;
    const o = this.owner;
    if (o !== null) o.onResponseEnd(this.trailers);
  }

  private fail(err: ProxyError, gotBytes: boolean): void {
    this.reusable = false;
    const o = this.owner;
    this.owner = null;
    const s = this.stream;
    if (s !== null && !s.closed) s.reset(ErrorCode.CANCEL);
    this.closed = true;
    if (o !== null) o.onUpstreamError(err, gotBytes);
  }
}

function responseHead(
  status: number,
  headers: string[],
  framing: H1ResponseHead['framing'],
  contentLength: number,
): H1ResponseHead {
  return {
    kind: 'response',
    status,
    reason: STATUS_CODES[status] ?? '',
    versionMinor: 1,
    headers,
    framing,
    contentLength,
    keepAlive: true,
    connectionTokens: null,
    upgrade: null,
  };
}
