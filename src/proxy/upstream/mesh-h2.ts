// HTTP/1.1 requests to a peer sidecar over mesh mTLS, sent as streams of one multiplexed HTTP/2
// connection per peer (ALPN h2) on our own HTTP/2 layer (../h2wire/), instead of one pooled
// HTTP/1.1 connection per request in flight.
//
// The HTTP/1.1 exchange (src/proxy/pipeline/h1-exchange.ts) borrows a "connection" from MeshH2Pool
// as it would from an H1Pool. Seeing a ParsedRequestConn, it hands over the request as parsed
// (sendHead: method, authority, path, the header list after the route's mutations, body framing)
// instead of serializing it: HEADERS are built straight from it (pseudo-headers, hop-by-hop fields
// dropped), body chunks go out as DATA as they come (no chunk framing), sendEnd ends the stream. The
// response's HEADERS / DATA / trailers come back to the exchange as the parse events of an
// HTTP/1.1 response (written downstream once per read of the peer connection), so framing towards
// the client (content-length kept, chunked otherwise), retries, timeouts, error mapping, passive
// health and metrics are the exchange's own. Upgrade / CONNECT never come here (ClusterRuntime gives
// them an HTTP/1.1 connection). Switch: TRELLIS_MESH_H2 (see meshH2FromEnv).
//
// One object per attempt: ClusterRuntime.pool() makes a MeshH2Pool for each attempt, and that
// object is also the waiter for a wire connection, the "connection" lent to the exchange (its own
// write batch and socket), and the stream's handler. A second acquire() on a pool whose stream is
// taken gets a new object.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { H1ResponseHead } from '../http/h1-parser.js';
import { FIELD_VALUE } from '../http/h1-chars.js';
import { H1SerializeError, type H1BodyFraming } from '../http/h1-serializer.js';
import type { H1RequestHead } from '../http/h1-types.js';
import { ProxyError } from '../pipeline/rescue.js';
import { ATTEMPT_HEADER } from '../pipeline/retry.js';
import type { WriteBatch } from '../pipeline/write-batch.js';
import type { ReadFlush, WireClient } from '../h2wire/client.js';
import { ErrorCode } from '../h2wire/frames.js';
import type { WirePool, WireWaiter } from '../h2wire/pool.js';
import type { StreamHandler, WireStream } from '../h2wire/stream.js';
import type { ConnPool, PoolWaiter } from './h1-pool.js';
import type { H2Pool } from './h2-pool.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-conn.js';

/**
 * Request fields that never go on an HTTP/2 stream (RFC 9113 §8.2.2), plus Host (→ :authority),
 * content-length (re-added from the framing), te (only `te: trailers`, from the head) and expect
 * (100 Continue is sent to the client at once, as Envoy does).
 */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'content-length',
  'te',
  'upgrade',
  'host',
  'http2-settings',
  'expect',
]);

/**
 * An upstream "connection" that takes the request as parsed rather than as HTTP/1.1 bytes (a mesh
 * HTTP/2 stream). The exchange calls sendHead once instead of pushing the serialized head, then
 * pushes the body chunks unframed to `out` (no chunk framing), and calls sendEnd once the request
 * body ended (trailers are not carried, as before: the peer's HTTP/2 → HTTP/1.1 leg drops them).
 */
export interface ParsedRequestConn {
  /**
   * `head` after the route's header mutations; `authority` / `path` as routed; `extra`: fields to
   * add (x-request-id); `body`: how the exchange frames the body (../pipeline/upstream-head.ts
   * requestFraming: a content-length, chunked or none); `attempt` > 0: the x-trellis-attempt-count
   * to send (retries under a route's retry policy).
   */
  sendHead(
    head: H1RequestHead,
    authority: string,
    path: string,
    extra: readonly string[] | undefined,
    body: H1BodyFraming,
    attempt: number,
  ): void;
  sendEnd(): void;
}

/** `conn` as a ParsedRequestConn when it takes the parsed request (a mesh HTTP/2 stream), else null. */
export function parsedRequestConn(conn: UpstreamConn): ParsedRequestConn | null {
  return conn instanceof MeshH2Pool ? conn : null;
}

/** Whether `pool` lends ParsedRequestConns (the exchange then serializes no HTTP/1.1 head). */
export function takesParsedHead(pool: ConnPool): boolean {
  return pool instanceof MeshH2Pool;
}

/**
 * The checks serializeRequestHead (../http/h1-serializer.ts) makes of the routed authority and
 * path, for a head that is not serialized: the same H1SerializeError (a 500) for a bad rewrite.
 */
export function checkParsedTarget(authority: string, path: string): void {
  for (let i = 0; i < authority.length; i++) {
    const c = authority.charCodeAt(i);
    if (c > 0xff || !FIELD_VALUE[c]) throw new H1SerializeError('control or non-latin1 character in host');
  }
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw new H1SerializeError('invalid byte in request target');
  }
}

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

/** The (shared) head of an interim 100 Continue: the exchange only reads its status. */
const CONTINUE_HEAD: H1ResponseHead = Object.freeze(responseHead(100, [], 'none', -1));

/**
 * The pool the HTTP/1.1 exchange borrows from (one per attempt), and the one HTTP/2 stream it
 * lends: a request/response shaped like an UpstreamConn for the exchange (it is its own `out`
 * batch and `socket`), the waiter for a wire connection, and the stream's handler.
 */
export class MeshH2Pool implements ConnPool, WireWaiter, ParsedRequestConn, StreamHandler, ReadFlush {
  readonly out: WriteBatch;
  readonly socket: Socket;
  owner: UpstreamOwner | null = null;
  reusable = true;
  closed = false;
  served = 0;
  idleSince = 0;
  stream: WireStream | null = null;
  private readonly wire: WirePool;
  private waiter: PoolWaiter | null = null;
  private client: WireClient | null = null;
  private method = 'GET';
  private gotBytes = false;
  private ended = false;
  private trailers: string[] | null = null;
  private flushQueued = false;

  constructor(h2: H2Pool | WirePool) {
    this.wire = 'wire' in h2 ? h2.wire() : h2;
    this.out = this as unknown as WriteBatch;
    this.socket = this as unknown as Socket;
  }

  // ---- ConnPool / WireWaiter ----

  acquire(w: PoolWaiter, _fresh = false): void {
    if (this.waiter !== null) return new MeshH2Pool(this.wire).acquire(w);
    this.waiter = w;
    this.wire.acquire(this);
  }

  release(_c: UpstreamConn): void {
    // The stream has ended; the connection stays with the pool.
  }

  /**
   * A stream counts as a reused connection: a reset before any response byte (the peer restarted,
   * GOAWAY, REFUSED_STREAM) is retried once like a stale keep-alive connection (idempotent or no
   * body sent yet), and it does not count against the endpoint's passive health; the connection's
   * own connect failures do (onPoolError).
   */
  onWire(c: WireClient): void {
    this.client = c;
    (this.waiter as PoolWaiter).onPoolConnection(this as unknown as UpstreamConn, true);
  }

  onPoolError(err: ProxyError): void {
    (this.waiter as PoolWaiter).onPoolError(err);
  }

  // ---- the "connection" the exchange holds ----

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

  // ---- the request ----

  sendHead(
    head: H1RequestHead,
    authority: string,
    path: string,
    extra: readonly string[] | undefined,
    body: H1BodyFraming,
    attempt: number,
  ): void {
    if (this.closed) return;
    const fields = [':method', head.method, ':scheme', 'https', ':authority', authority, ':path', path];
    const flat = head.headers;
    const skip = head.connectionTokens;
    for (let i = 0; i < flat.length; i += 2) {
      const n = flat[i] as string;
      if (DROP_REQUEST.has(n) || (skip !== null && skip.includes(n))) continue;
      fields.push(n, flat[i + 1] as string);
    }
    if (extra !== undefined) for (let i = 0; i < extra.length; i++) fields.push(extra[i] as string);
    if (head.teTrailers) fields.push('te', 'trailers');
    if (typeof body === 'number') fields.push('content-length', String(body));
    if (attempt > 0) fields.push(ATTEMPT_HEADER, String(attempt));
    try {
      const end = body === 'none' || body === 0;
      this.stream = (this.client as WireClient).request(fields, end, this);
    } catch (e) {
      this.fail(
        new ProxyError('UPSTREAM_RESET', `HTTP/2 stream to the peer: ${(e as Error).message}`),
        false,
      );
      return;
    }
    if (head.expectContinue) this.interim(100);
  }

  /** Request body bytes (WriteBatch.push for the exchange), unframed: DATA as they come. */
  push(chunk: Buffer): void {
    const s = this.stream;
    if (s !== null && !s.closed) s.write(chunk);
  }

  sendEnd(): void {
    const s = this.stream;
    if (s !== null && !s.closed) s.end(null);
  }

  /** WriteBatch.empty: false while the stream's send queue is over its mark (flush says wait). */
  get empty(): boolean {
    const s = this.stream;
    return s === null || !s.needDrain;
  }

  /** WriteBatch.flush: false while the stream holds STREAM_HWM unsent bytes (onDrain follows). */
  flush(_s?: Socket): boolean {
    const s = this.stream;
    return s === null || !s.needDrain;
  }

  clear(): void {}

  // ---- what the exchange calls on `socket` ----

  write(b: Buffer): boolean {
    this.push(b);
    return this.flush();
  }
  cork(): void {}
  uncork(): void {}
  pause(): void {
    this.stream?.pause();
  }
  resume(): void {
    this.stream?.resume();
  }
  get destroyed(): boolean {
    return this.closed;
  }

  // ---- the response, as the events of an HTTP/1.1 response ----

  private interim(status: number): void {
    const o = this.owner;
    if (o === null) return;
    o.onResponseHead(status === 100 ? CONTINUE_HEAD : responseHead(status, [], 'none', -1));
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
    const flat = f.slice(2); // (cheaper than shift() twice)
    let framing: H1ResponseHead['framing'] = 'chunked';
    let length = -1;
    if (this.method === 'HEAD' || status === 204 || status === 304) framing = 'none';
    else {
      for (let i = 0; i < flat.length; i += 2) {
        if (flat[i] !== 'content-length') continue;
        const cl = flat[i + 1] as string;
        if (digits(cl)) {
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

  /** END_STREAM of the response. */
  onEnd(_s: WireStream): void {
    this.endResponse();
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
    (this.client as WireClient).later(this);
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

/** A content-length value: 1–15 decimal digits (a safe integer). */
function digits(v: string): boolean {
  const n = v.length;
  if (n === 0 || n > 15) return false;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
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
