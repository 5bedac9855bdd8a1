// One HTTP/2 stream through the sidecar: route on :authority/:path, pick an endpoint, open an
// upstream HTTP/2 stream and relay headers, data (with backpressure), trailers and resets both ways.
// The downstream is a DownStream (./down-stream.ts): a node:http2 stream through NodeDownStream, or
// a mesh wire stream (../h2wire/server-stream.ts) that calls this exchange (its DownSink) directly.
import type { OutgoingHttpHeaders } from 'node:http2';
import type { RouteConfig, VirtualHostConfig } from '../config/types.js';
import { ProxyError, rescueH2 } from '../pipeline/rescue.js';
import { replayFor } from '../pipeline/retry.js';
import type { ListenerContext } from '../pipeline/types.js';
import { applyRequestHeaderMutations } from '../router/headers.js';
import type { RouteDecision } from '../router/types.js';
import type { H2Session } from '../upstream/h2-pool.js';
import type { DownSink, DownStream, H2Fields } from './down-stream.js';
import { formatGrpcTimeout, parseGrpcTimeout } from './grpc.js';
import { H2Attempts } from './h2-attempts.js';
import { H2Relay } from './h2-relay.js';
import { fieldOf, readRequestHead, routeH2 } from './h2-route.js';
import { H2ToH1 } from './h2-to-h1.js';

// node:http2's constants, spelled out so that importing this module does not load node:http2.
const NGHTTP2_CANCEL = 0x8;
const NGHTTP2_NO_ERROR = 0x0;
const NGHTTP2_INTERNAL_ERROR = 0x2;

type Forward = Extract<RouteDecision, { type: 'forward' }>;

/** The downstream connection as the exchange sees it (H2Connection, or the mesh WireServer). */
export interface ExchangeConn {
  /** Streams in progress (incremented by the connection, decremented on the stream's close). */
  active: number;
  /** The stream idle timeout applies to `ex` until unwatch(). */
  watch(ex: H2Exchange): void;
  unwatch(ex: H2Exchange): void;
  /** The client reset a stream before its response ended (rapid-reset accounting). */
  peerReset(now: number): void;
}

/** The upstream side reading the request body (H2Relay, H2ToH1). */
export interface BodyReader {
  onDownData(chunk: Buffer): void;
  onDownEnd(): void;
  onDownDrain(): void;
}

export class H2Exchange extends H2Attempts implements DownSink {
  /** The request head (readRequestHead in h2-route.ts): pseudo-headers, grpc-timeout. */
  method = '';
  authority = '';
  path = '';
  scheme = '';
  grpcTimeout: string | undefined = undefined;
  /** The request's header list size (RFC 9113 §6.5.2 accounting). */
  headSize = 0;
  grpcStatus = '';
  /** Trailers to send downstream when it wants them (the upstream's, or our DEADLINE_EXCEEDED). */
  trailers: H2Fields | null = null;
  route: RouteConfig | null = null;
  vhost: VirtualHostConfig | null = null;
  /** Request headers without pseudo-headers (flat name/value), as routed and forwarded. */
  flat: string[] = [];
  /** Who gets the request body (the upstream side that asked for it: readBody). */
  private reader: BodyReader | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly start: number;
  /**
   * Set by the relays on every chunk either way (one store): what the connection's stream idle tick
   * (H2Connection.watch) reads. True at first: the stream's arrival counts as activity.
   */
  moved = true;
  /** The stream idle timeout fired for this exchange (the mesh connection's tick skips it then). */
  idleExpired = false;
  private idleQuiet = 0;
  private idleSawHead = false;

  /**
   * `rawHeaders`: the request's decoded field list (name, value, ...), pseudo-headers included;
   * nothing else is made of it until routing.
   */
  constructor(
    readonly ds: DownStream,
    rawHeaders: readonly string[],
    lc: ListenerContext,
    private readonly conn: ExchangeConn | undefined,
    private readonly maxHeaderListSize: number,
  ) {
    super(lc);
    this.start = lc.plane.clock.now();
    readRequestHead(this, rawHeaders);
  }

  begin(): void {
    this.ds.bind(this);
    this.conn?.watch(this);
    try {
      routeH2(this, this.maxHeaderListSize);
    } catch (e) {
      this.fail(e);
    }
  }

  // ---- routing (h2-route.ts) ----

  /** The routing decision (possibly after an on-demand virtual host lookup). */
  act(d: RouteDecision): void {
    if (this.done) return;
    switch (d.type) {
      case 'no_route':
        this.fail(
          new ProxyError(d.reason === 'unknown_cluster' ? 'CLUSTER_NOT_FOUND' : 'NO_ROUTE', d.detail),
        );
        return;
      case 'redirect':
        this.stats = this.lc.stats.route(d.vhost, d.route);
        this.local(d.status, '', d.location.replace(/[\r\n\0]/g, ''));
        return;
      case 'direct_response':
        this.stats = this.lc.stats.route(d.vhost, d.route);
        this.local(d.status, d.body, null);
        return;
      case 'forward':
        this.forward(d);
    }
  }

  /** A response of our own (`location`: a redirect's). */
  private local(status: number, body: string, location: string | null): void {
    this.done = true;
    this.status = status;
    const ds = this.ds;
    if (ds.destroyed || ds.closed) return;
    const b = Buffer.from(body, 'utf8');
    const h = location === null ? [] : ['location', location];
    if (b.length > 0) h.push('content-type', 'text/plain; charset=utf-8');
    ds.respond(status, h, b.length === 0, false);
    if (b.length > 0) ds.end(b);
  }

  private forward(d: Forward): void {
    const plane = this.lc.plane;
    this.route = d.route;
    this.vhost = d.vhost;
    this.stats = this.lc.stats.route(d.vhost, d.route);
    const cluster = plane.clusters.get(d.cluster);
    if (cluster === undefined) {
      throw new ProxyError(
        'CLUSTER_NOT_FOUND',
        `route ${d.route.name} names cluster "${d.cluster}", which this sidecar has not received`,
      );
    }
    this.cluster = cluster;
    const h1 = cluster.config.protocol !== 'http2';
    if (h1 && this.grpc) {
      throw new ProxyError(
        'UPSTREAM_PROTOCOL',
        `cluster "${cluster.config.name}" speaks HTTP/1.1, and gRPC needs HTTP/2 to its server (declare the Service port's protocol as grpc)`,
      );
    }
    const flat = this.flat;
    applyRequestHeaderMutations(flat, d.route, d.vhost);
    let hasId = false;
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i] === 'x-request-id') {
        hasId = true;
        break;
      }
    }
    if (!hasId) flat.push('x-request-id', plane.requestId());
    // Deadline: the route's timeout and the client's grpc-timeout, whichever is sooner.
    let ms = d.timeoutMs;
    const grpcMs = this.grpc ? parseGrpcTimeout(this.grpcTimeout) : -1;
    if (grpcMs >= 0 && (ms === 0 || grpcMs < ms)) ms = grpcMs;
    if (ms > 0 || grpcMs === 0) {
      this.deadline = this.start + ms;
      this.timer = setTimeout(this.onTimeout, ms);
    }
    const action = d.route.action;
    if (action.type === 'forward' && action.retry !== undefined) {
      this.policy = action.retry;
      this.replay = replayFor(action.retry, !this.ds.endAfterHeaders, -1);
    }
    if (h1) {
      this.bridge = new H2ToH1(this, this.method, d.authority, d.path, flat);
      this.upstream = this.bridge;
    } else this.up = upstreamHeaders(this.method, d.authority, d.path, flat);
    this.attempt(false);
  }

  // ---- upstream ----

  override onH2Session(s: H2Session): void {
    if (this.done) {
      this.reportAttempt(false);
      return;
    }
    const up = this.up as OutgoingHttpHeaders;
    if (this.deadline > 0 && this.grpc) {
      // Forward the time left, never more than the client asked for.
      up['grpc-timeout'] = formatGrpcTimeout(this.deadline - this.lc.plane.clock.now());
    }
    const relay = new H2Relay(this);
    this.upstream = relay;
    relay.start(s, up);
  }

  /** The upstream response ended cleanly: end the downstream (node then asks for the trailers). */
  finishResponse(): void {
    if (!this.respStarted || this.done) return;
    this.done = true;
    this.clearTimer();
    this.reportAttempt(true);
    const ds = this.ds;
    if (!ds.destroyed && !ds.writableEnded) ds.end();
  }

  /** Asks the downstream for the request body: `r` gets it (the latest upstream side that asked). */
  readBody(r: BodyReader): void {
    this.reader = r;
    this.ds.readBody();
  }

  // ---- the downstream's calls (DownSink) ----

  onDownData(chunk: Buffer): void {
    this.reader?.onDownData(chunk);
  }

  onDownEnd(): void {
    this.reader?.onDownEnd();
  }

  onDownDrain(): void {
    this.upstream?.onDownDrain();
  }

  /** Sends the trailers (asked once the last DATA frame is queued). */
  onWantTrailers(): void {
    const t = this.trailers;
    if (t !== null && this.grpc) this.grpcStatus = String(fieldOf(t, 'grpc-status') ?? '');
    try {
      this.ds.sendTrailers(t);
    } catch {
      // the stream went away
    }
  }

  /** Ends the downstream stream with RST_STREAM(code) (a reset relayed, or a failure after headers). */
  resetDown(code: number): void {
    this.done = true;
    this.clearTimer();
    if (!this.ds.destroyed) this.ds.close(code);
  }

  // ---- downstream ending ----

  onDownAborted(): void {
    // The client reset its stream before the response ended (cancellation, or rapid reset).
    this.conn?.peerReset(this.lc.plane.clock.now());
    this.cancelUpstream();
  }

  onDownClose(): void {
    if (this.conn !== undefined) {
      this.conn.active--;
      this.conn.unwatch(this);
    }
    if (!this.done || this.ds.rstCode > NGHTTP2_NO_ERROR) {
      this.cancelUpstream();
    }
    this.done = true;
    this.clearTimer();
    this.record();
  }

  private cancelUpstream(): void {
    this.done = true;
    this.clearTimer();
    this.clearRetryTimer();
    this.upstream?.destroy();
    if (this.handle !== null) {
      this.handle.onComplete(Number.NaN, false);
      this.handle = null;
    }
  }

  private readonly onTimeout = (): void => {
    this.timer = null;
    if (this.done) return;
    const ms = this.lc.plane.clock.now() - this.start;
    const err = new ProxyError(
      'UPSTREAM_TIMEOUT',
      this.grpc
        ? `deadline (grpc-timeout / route timeout) exceeded after ${ms} ms waiting for cluster "${this.cluster?.config.name ?? '?'}"`
        : `no complete response from cluster "${this.cluster?.config.name ?? '?'}" within ${ms} ms`,
    );
    this.expire(err);
  };

  /** One stream idle tick: true once `ticks` ticks in a row saw no byte move (nor the response head). */
  idleTick(ticks: number): boolean {
    if (this.moved || this.respStarted !== this.idleSawHead) {
      this.moved = false;
      this.idleSawHead = this.respStarted;
      this.idleQuiet = 0;
      return false;
    }
    return ++this.idleQuiet >= ticks;
  }

  /**
   * No byte moved either way on this stream for the stream idle timeout: like the route timeout, a
   * 504 (gRPC: DEADLINE_EXCEEDED) before the response head, after it a reset (gRPC: trailers).
   */
  streamIdle(ms: number): void {
    const ds = this.ds;
    if (this.done) {
      // Our response ended, the stream did not (e.g. the client never ended its request).
      if (!ds.closed && !ds.destroyed) ds.close(NGHTTP2_CANCEL);
      return;
    }
    const name = this.cluster?.config.name;
    const where = name === undefined ? '' : ` with cluster "${name}"`;
    const state = !(this.reqDone || ds.endAfterHeaders)
      ? ' (the request was not complete)'
      : this.respStarted
        ? ' in the middle of the response'
        : ', waiting for the response';
    this.expire(
      new ProxyError('STREAM_IDLE_TIMEOUT', `no byte moved either way${where} for ${ms} ms${state}`),
    );
  }

  /** A timeout (route/grpc-timeout deadline, stream idle) ends the exchange. */
  private expire(err: ProxyError): void {
    this.upstream?.destroy();
    if (!this.respStarted) {
      this.fail(err);
      return;
    }
    this.reportAttempt(false);
    if (!this.grpc) {
      this.resetDown(NGHTTP2_CANCEL);
      return;
    }
    // Headers already sent: end the call with a DEADLINE_EXCEEDED status in the trailers.
    this.done = true;
    const t = rescueH2(err, this.lc.plane.nodeId, true).headers;
    delete t[':status'];
    delete t['content-type'];
    this.trailers = t;
    const ds = this.ds;
    if (!ds.destroyed && !ds.writableEnded) ds.end();
  }

  /** The one way a failure leaves the exchange: a rescue response, or a reset after headers. */
  override fail(e: unknown): void {
    if (this.done && this.respStarted) return;
    const was = this.done;
    this.done = true;
    this.clearTimer();
    this.clearRetryTimer();
    this.upstream?.destroy();
    this.reportAttempt(false);
    const ds = this.ds;
    if (ds.destroyed || ds.closed || (was && this.status !== 0)) return;
    if (this.respStarted) {
      ds.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const r = rescueH2(e, this.lc.plane.nodeId, this.grpc);
    this.status = r.status;
    if (this.grpc) this.grpcStatus = String(r.grpcStatus);
    this.respStarted = true;
    try {
      ds.respond(r.status, r.headers, r.body === null, false);
      if (r.body !== null) ds.end(r.body);
    } catch {
      // the stream went away
    }
  }

  clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private record(): void {
    const secs = (this.lc.plane.clock.now() - this.start) / 1000;
    this.stats.record(this.status === 0 ? 502 : this.status, secs);
    if (this.grpc) {
      const v = this.vhost?.name ?? '';
      const r = this.route?.name ?? '';
      this.lc.stats.grpc(v, r, this.grpcStatus === '' ? '-1' : this.grpcStatus).value++;
    }
  }
}

/** The upstream HTTP/2 request's headers (grpc-timeout is set per attempt, from the time left). */
function upstreamHeaders(
  method: string,
  authority: string,
  path: string,
  flat: readonly string[],
): OutgoingHttpHeaders {
  const up: OutgoingHttpHeaders = {
    ':method': method,
    ':scheme': 'http',
    ':authority': authority,
    ':path': path,
  };
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i] as string;
    const v = flat[i + 1] as string;
    if (n === 'grpc-timeout') continue;
    const prev = up[n];
    if (prev === undefined) up[n] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else up[n] = [prev as string, v];
  }
  return up;
}
