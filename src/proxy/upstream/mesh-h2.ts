// HTTP/1.1 requests to a peer sidecar over mesh mTLS, sent as streams of one multiplexed HTTP/2
// connection per peer (ALPN h2), instead of one pooled HTTP/1.1 connection per request in flight.
//
// The HTTP/1.1 exchange (src/proxy/pipeline/h1-exchange.ts) is left as it is: it borrows a
// "connection" from MeshH2Pool as it would from an H1Pool, and writes the re-framed request bytes
// (head, body with its chunk framing, the last chunk) into it. Here those bytes are
// parsed again with the same HTTP/1 parser and become one HTTP/2 stream: pseudo-headers from the
// request line, hop-by-hop fields dropped, DATA frames, trailers. The response's HEADERS / DATA /
// trailers come back to the exchange as the parse events of an HTTP/1.1 response, so framing towards
// the client (content-length kept, chunked otherwise), retries, timeouts, error mapping, passive
// health and metrics are the exchange's own. Upgrade / CONNECT never come here (ClusterRuntime gives
// them an HTTP/1.1 connection). Switch: TRELLIS_MESH_H2 (see meshH2FromEnv).
import {
  constants,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { toH2Fields } from '../h2/h2-to-h1.js';
import { H1Parser, type H1Head, type H1Handler, type H1ResponseHead } from '../http/h1-parser.js';
import type { H1RequestHead } from '../http/h1-types.js';
import { ProxyError, toProxyError } from '../pipeline/rescue.js';
import { WriteBatch } from '../pipeline/write-batch.js';
import type { ConnPool, PoolWaiter } from './h1-pool.js';
import type { H2Pool, H2Session, H2Waiter } from './h2-pool.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-conn.js';

const { NGHTTP2_CANCEL, HTTP2_HEADER_STATUS } = constants;

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
 * TRELLIS_MESH_H2: `on` sends HTTP/1.1 requests to mTLS peer sidecars as HTTP/2 streams on one
 * connection per peer; `off` (default, see docs/security.md "HTTP/2 between sidecars") keeps pooled
 * HTTP/1.1 connections over TLS. Anything else is refused with what would be valid.
 */
export function meshH2FromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['TRELLIS_MESH_H2'];
  if (v === undefined || v === '' || v === 'off' || v === '0' || v === 'false') return false;
  if (v === 'on' || v === '1' || v === 'true') return true;
  throw new Error(`TRELLIS_MESH_H2: must be on or off, got '${v}'`);
}

/** The pool the HTTP/1.1 exchange borrows from: each "connection" is a new stream on the peer's session. */
export class MeshH2Pool implements ConnPool {
  constructor(private readonly h2: H2Pool) {}

  acquire(w: PoolWaiter, _fresh = false): void {
    this.h2.acquire(new Opener(w));
  }

  release(_c: UpstreamConn): void {
    // The stream has ended; the session stays with the H2Pool.
  }
}

class Opener implements H2Waiter {
  constructor(private readonly w: PoolWaiter) {}
  /**
   * A stream counts as a reused connection: a reset before any response byte (the peer restarted,
   * GOAWAY, REFUSED_STREAM) is retried once like a stale keep-alive connection (idempotent or no
   * body sent yet), and it does not count against the endpoint's passive health; the session's own
   * connect failures do (onPoolError).
   */
  onH2Session(s: H2Session): void {
    s.served++;
    this.w.onPoolConnection(new H2StreamConn(s) as unknown as UpstreamConn, true);
  }
  onPoolError(err: ProxyError): void {
    this.w.onPoolError(err);
  }
}

/**
 * What the exchange writes to (`socket.write`, `pause`, `resume`): the request bytes go to the
 * parser, the pause/resume to the HTTP/2 stream's reading side.
 */
class StreamShim {
  constructor(private readonly c: H2StreamConn) {}
  write(b: Buffer): boolean {
    return this.c.fromExchange(b);
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
export class H2StreamConn implements H1Handler {
  readonly out = new WriteBatch();
  readonly socket: Socket;
  owner: UpstreamOwner | null = null;
  reusable = true;
  closed = false;
  served = 0;
  idleSince = 0;
  stream: ClientHttp2Stream | null = null;
  private readonly parser: H1Parser;
  private method = 'GET';
  private gotBytes = false;
  private ended = false;
  private trailers: string[] | null = null;
  /** Response DATA (and the end) node:http2 delivered before the 'response' event. */
  private early: Buffer[] | null = null;
  private endEarly = false;

  constructor(private readonly session: H2Session) {
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
    if (s !== null && !s.closed) s.close(NGHTTP2_CANCEL);
  }

  /** Request bytes from the exchange (head, framed body): parsed into the stream. */
  fromExchange(b: Buffer): boolean {
    if (this.closed) return true;
    try {
      this.parser.execute(b);
    } catch (e) {
      this.fail(toProxyError(e), false);
      return true;
    }
    const s = this.stream;
    return s === null || !s.writableNeedDrain;
  }

  // ---- the request, as parse events ----

  onHead(h: H1Head): void {
    const head = h as H1RequestHead;
    const fields: OutgoingHttpHeaders = toH2Fields(
      dropForH2(head.headers),
      head.connectionTokens,
    ) as OutgoingHttpHeaders;
    fields[':method'] = head.method;
    fields[':scheme'] = 'https';
    fields[':authority'] = head.authority;
    fields[':path'] = head.path;
    const body = head.framing === 'content-length' ? head.contentLength > 0 : head.framing !== 'none';
    let stream: ClientHttp2Stream;
    try {
      stream = this.session.request(fields, { endStream: !body });
    } catch (e) {
      this.fail(
        new ProxyError('UPSTREAM_RESET', `HTTP/2 stream to the peer: ${(e as Error).message}`),
        false,
      );
      return;
    }
    this.stream = stream;
    if (head.expectContinue) this.interim(100);
    stream.on('response', this.onResponse);
    stream.on('headers', this.onInformational);
    stream.on('data', this.onData);
    stream.on('trailers', this.onTrailers);
    stream.on('end', this.onEnd2);
    stream.on('close', this.onClose);
    stream.on('error', noop); // 'close' reports it
    stream.on('drain', this.onDrain);
  }

  onBody(chunk: Buffer): void {
    const s = this.stream;
    if (s !== null && !s.destroyed) s.write(chunk);
  }

  /**
   * Request trailers are not carried: the receiving sidecar's HTTP/2 → HTTP/1.1 leg
   * (src/proxy/h2/h2-to-h1.ts) does not forward request trailers to the app either.
   */
  onEnd(_trailers: string[] | null): void {
    const s = this.stream;
    if (s !== null && !s.destroyed && !s.writableEnded) s.end();
  }

  private readonly onDrain = (): void => {
    this.owner?.onUpstreamDrain();
  };

  // ---- the response, as the events of an HTTP/1.1 response ----

  private interim(status: number): void {
    const o = this.owner;
    if (o === null) return;
    o.onResponseHead(responseHead(status, [], 'none', -1));
    o.onResponseEnd(null);
  }

  private readonly onInformational = (h: IncomingHttpHeaders): void => {
    const status = Number(h[HTTP2_HEADER_STATUS]);
    if (status === 100) return; // 100 Continue already sent to the client
    if (status > 100 && status < 200) this.interim(status);
  };

  private readonly onResponse = (h: IncomingHttpHeaders): void => {
    const o = this.owner;
    if (o === null) return;
    this.gotBytes = true;
    const status = Number(h[HTTP2_HEADER_STATUS]);
    const flat = flatten(h);
    let framing: H1ResponseHead['framing'] = 'chunked';
    let length = -1;
    if (this.method === 'HEAD' || status === 204 || status === 304) framing = 'none';
    else {
      const cl = h['content-length'];
      if (typeof cl === 'string' && /^\d+$/.test(cl)) {
        framing = 'content-length';
        length = Number(cl);
      }
    }
    o.onResponseHead(responseHead(status, flat, framing, length));
    if (framing === 'none') this.endResponse();
    else {
      const early = this.early;
      this.early = null;
      if (early !== null) for (const c of early) if (this.owner !== null) this.owner.onResponseBody(c);
      if (this.endEarly) this.endResponse();
    }
    if (this.owner !== null) this.owner.flushDownstream();
  };

  private readonly onData = (chunk: Buffer): void => {
    if (!this.gotBytes) {
      // node:http2 can emit a stream's first 'data' (and 'end') before its 'response' event when
      // HEADERS and DATA arrive in one read: held until the head went out.
      (this.early ??= []).push(chunk);
      return;
    }
    const o = this.owner;
    if (o === null || this.ended) return;
    o.onResponseBody(chunk);
    o.flushDownstream();
  };

  private readonly onTrailers = (h: IncomingHttpHeaders): void => {
    this.trailers = flatten(h);
  };

  private readonly onEnd2 = (): void => {
    // A dying session ends its streams' readable side too ('end' with an RST code, before 'close'):
    // only a clean end after the response head ends the response; the rest is a reset (onClose).
    const s = this.stream;
    if (s !== null && s.rstCode > 0) return;
    if (!this.gotBytes) {
      this.endEarly = true; // before 'response' (see onData)
      return;
    }
    this.endResponse();
  };

  private endResponse(): void {
    if (this.ended) return;
    this.ended = true;
    const o = this.owner;
    if (o !== null) o.onResponseEnd(this.trailers);
  }

  private readonly onClose = (): void => {
    this.closed = true;
    if (this.ended) return;
    const s = this.stream;
    const code = s?.rstCode ?? 0;
    if (code === 0 && this.endEarly && !this.gotBytes) {
      // A clean end whose 'response' event is still queued: give it its turn.
      setImmediate(this.afterClose);
      return;
    }
    this.afterClose();
  };

  private readonly afterClose = (): void => {
    if (this.ended) return;
    const code = this.stream?.rstCode ?? 0;
    this.fail(
      new ProxyError(
        'UPSTREAM_RESET',
        `the peer sidecar reset the HTTP/2 stream (code ${code}) before the response ended`,
      ),
      this.gotBytes,
    );
  };

  private fail(err: ProxyError, gotBytes: boolean): void {
    this.reusable = false;
    const o = this.owner;
    this.owner = null;
    const s = this.stream;
    if (s !== null && !s.closed) s.close(NGHTTP2_CANCEL);
    this.closed = true;
    if (o !== null) o.onUpstreamError(err, gotBytes);
  }
}

function noop(): void {}

/** Flat HTTP/1 fields without the ones HTTP/2 forbids. */
function dropForH2(flat: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i] as string;
    if (DROP_REQUEST.has(n)) continue;
    if (n === 'te' && (flat[i + 1] as string).toLowerCase() !== 'trailers') continue;
    out.push(n, flat[i + 1] as string);
  }
  return out;
}

/** HTTP/2 fields → flat lower-case HTTP/1 name/value list (pseudo-headers left out). */
function flatten(h: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const n of Object.keys(h)) {
    if (n.charCodeAt(0) === 58 /* : */) continue;
    const v = h[n];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(n, x);
    else out.push(n, String(v));
  }
  return out;
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
