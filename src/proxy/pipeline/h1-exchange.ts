// One HTTP/1.1 request through the sidecar: route it, pick an endpoint, borrow a pooled connection,
// stream the re-framed request up and the response down with backpressure, retry what is safe.
import type { Timer } from '../../common/clock.js';
import type { EndpointConfig, RetryPolicy, RouteConfig, VirtualHostConfig } from '../config/types.js';
import type { H1RequestHead, H1ResponseHead } from '../http/h1-parser.js';
import { encodeLastChunk, serializeResponseHead } from '../http/h1-serializer.js';
import { keep } from '../io/read-buffer.js';
import { applyResponseHeaderMutations } from '../router/headers.js';
import type { RouteDecision } from '../router/types.js';
import type { StatusStats } from '../telemetry/data-plane-metrics.js';
import type { ClusterRuntime } from '../upstream/cluster-manager.js';
import type { ConnPool, PoolWaiter } from '../upstream/h1-pool.js';
import type { EndpointHandle } from '../upstream/lb/lb.js';
import {
  checkParsedTarget,
  parsedRequestConn,
  takesParsedHead,
  type ParsedRequestConn,
} from '../upstream/mesh-h2.js';
import type { UpstreamConn, UpstreamOwner } from '../upstream/upstream-conn.js';
import { startMirrors, type H1Mirror } from './h1-mirror.js';
import { localResponse } from './local-response.js';
import { downstreamFraming, spliceTunnel } from './response-framing.js';
import { requestFraming, upstreamExtraFields, upstreamRequestHead } from './upstream-head.js';
import { ProxyError, rescue } from './rescue.js';
import {
  ATTEMPT_HEADER,
  DEFAULT_RETRY,
  FAILURE,
  pickEndpoint,
  replayFor,
  retryDelay,
  staleConnectionRetry,
  type Failure,
  type ReplayBuffer,
} from './retry.js';
import { routeRequest } from './route-request.js';
import type { Downstream } from './types.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

type Forward = Extract<RouteDecision, { type: 'forward' }>;

export class H1Exchange implements UpstreamOwner, PoolWaiter {
  reqEnded = false;
  done = false;
  private reqTrailers: string[] | null = null;
  private queued: Buffer[] | null = null;
  private route: RouteConfig | null = null;
  private vhost: VirtualHostConfig | null = null;
  private stats: StatusStats;
  private cluster: ClusterRuntime | null = null;
  private handle: EndpointHandle<EndpointConfig> | null = null;
  /** The endpoint of the latest attempt (kept after its outcome was reported). */
  private picked: EndpointHandle<EndpointConfig> | null = null;
  /** Endpoints earlier attempts failed on (allocated on the first retry only). */
  private tried: EndpointHandle<EndpointConfig>[] | null = null;
  private policy: RetryPolicy = DEFAULT_RETRY;
  /** The request body kept for a retry (routes with a retry policy only). */
  private replay: ReplayBuffer | null = null;
  private retryTimer: Timer | null = null;
  private baseHead: Buffer | null = null;
  private pool: ConnPool | null = null;
  private conn: UpstreamConn | null = null;
  private reused = false;
  private headBytes: Buffer | null = null;
  /** Fields added upstream (x-request-id), and the forward decision: for a ParsedRequestConn. */
  private extra: string[] | undefined = undefined;
  private fwd: Forward | null = null;
  /** The connection, when it takes the parsed request (a mesh HTTP/2 stream): no HTTP/1.1 bytes. */
  private direct: ParsedRequestConn | null = null;
  private chunkedReq = false;
  private attempts = 0;
  private resetRetried = false;
  private bodySent = false;
  private respStarted = false;
  private respChunked = false;
  private interim = false;
  private mirrors: H1Mirror[] | null = null;
  private upKeepAlive = false;
  private keepAlive = true;
  private status = 0;
  private timerArmed = false;
  private deadline = 0;
  private backendMs = 0;
  private readonly start: number;
  private attemptStart = 0;

  /** Response body chunks go to dc.out and are flushed in flushDownstream(): parsed in place. */
  get bodyInPlace(): boolean {
    return true;
  }

  constructor(
    readonly dc: Downstream,
    readonly head: H1RequestHead,
  ) {
    this.start = dc.listener.plane.clock.now();
    this.stats = dc.listener.stats.noRoute;
  }

  /** Called once the head arrived: routes with the config current now, then acts on the decision. */
  begin(): void {
    try {
      routeRequest(this);
    } catch (e) {
      this.fail(e);
    }
  }

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
        this.stats = this.dc.listener.stats.route(d.vhost, d.route);
        this.local(d.status, '', d.location);
        return;
      case 'direct_response':
        this.stats = this.dc.listener.stats.route(d.vhost, d.route);
        this.local(d.status, d.body, null);
        return;
      case 'forward':
        this.forward(d);
    }
  }

  private local(status: number, body: string, location: string | null): void {
    this.done = true;
    this.status = status;
    const keep = this.head.keepAlive && !this.dc.draining && this.head.framing !== 'upgrade';
    this.dc.socket.write(localResponse(status, body, location, !keep));
    this.record();
    this.dc.exchangeDone(keep);
  }

  private forward(d: Forward): void {
    const plane = this.dc.listener.plane;
    this.route = d.route;
    this.vhost = d.vhost;
    this.stats = this.dc.listener.stats.route(d.vhost, d.route);
    const cluster = plane.clusters.get(d.cluster);
    if (cluster === undefined) {
      throw new ProxyError(
        'CLUSTER_NOT_FOUND',
        `route ${d.route.name} names cluster "${d.cluster}", which this sidecar has not received`,
      );
    }
    this.cluster = cluster;
    const head = this.head;
    const body = requestFraming(head);
    this.chunkedReq = body === 'chunked';
    this.fwd = d;
    this.extra = upstreamExtraFields(head, d, plane);
    const action = d.route.action;
    if (action.type === 'forward' && action.retry !== undefined) {
      this.policy = action.retry;
      this.replay = replayFor(action.retry, head.framing !== 'none', head.contentLength);
    }
    if (d.mirrors.length > 0 && head.framing !== 'upgrade') {
      this.mirrors = startMirrors(head, d, body, plane);
    }
    if (d.timeoutMs > 0) this.deadline = this.start + d.timeoutMs;
    this.backendMs = d.backendTimeoutMs;
    this.attempt(false);
  }

  private attempt(fresh: boolean): void {
    const cluster = this.cluster as ClusterRuntime;
    const h = pickEndpoint(cluster, this.tried);
    const pool = cluster.pool(h, this.head);
    this.attempts++;
    this.headFor(pool); // may throw (a bad rewritten target): before the attempt starts
    this.handle = h;
    this.picked = h;
    h.onStart();
    const plane = this.dc.listener.plane;
    this.attemptStart = plane.clock.now();
    this.armTimer();
    this.pool = pool;
    pool.acquire(this, fresh);
  }

  /**
   * The request head for `pool`: HTTP/1.1 bytes (serialized on first use, the attempt count added
   * on retries under a policy); a mesh HTTP/2 stream takes the parsed head: only its checks.
   */
  private headFor(pool: ConnPool): void {
    const d = this.fwd as Forward;
    if (takesParsedHead(pool)) return checkParsedTarget(d.authority, d.path);
    let base = this.baseHead;
    if (base === null) {
      const plane = this.dc.listener.plane;
      base = this.baseHead = upstreamRequestHead(this.head, d, requestFraming(this.head), plane, this.extra);
    }
    this.headBytes =
      this.attempts > 1 && this.policy !== DEFAULT_RETRY ? withAttempt(base, this.attempts) : base;
  }

  private armTimer(): void {
    let ms = this.backendMs;
    if (this.deadline > 0) {
      const left = Math.max(1, this.deadline - this.attemptStart);
      if (ms === 0 || left < ms) ms = left;
    }
    if (ms === 0) return;
    this.timerArmed = true;
    this.dc.armRequestTimer(ms, this);
  }

  /** The request timer fired (Downstream.armRequestTimer; a method: no closure per exchange). */
  onRequestTimeout(): void {
    this.timerArmed = false;
    const name = this.cluster?.config.name ?? '?';
    const conn = this.conn;
    const now = this.dc.listener.plane.clock.now();
    if (conn !== null && !this.respStarted && (this.deadline === 0 || now < this.deadline - 1)) {
      // The attempt's own (backend request) timeout, not the request's: maybe try again.
      this.conn = null;
      conn.destroy();
      this.reportAttempt(false);
      if (this.retry(FAILURE.perTryTimeout, 0)) return;
    }
    this.fail(
      new ProxyError(
        'UPSTREAM_TIMEOUT',
        `no complete response from cluster "${name}" within ${this.dc.listener.plane.clock.now() - this.start} ms`,
      ),
    );
  }

  /**
   * No byte moved either way for the stream idle timeout (H1Connection's tick): a 504 before any
   * response byte went out (the connection is closed when the request was not complete: its body
   * was not read), else the connection is cut.
   */
  streamIdle(ms: number): void {
    if (this.done) return;
    const name = this.cluster?.config.name;
    const where = name === undefined ? '' : ` with cluster "${name}"`;
    const state = !this.reqEnded
      ? ' (the request was not complete)'
      : this.respStarted
        ? ' in the middle of the response'
        : ', waiting for the response';
    this.fail(
      new ProxyError('STREAM_IDLE_TIMEOUT', `no byte moved either way${where} for ${ms} ms${state}`),
      !this.reqEnded,
    );
  }

  // ---- upstream connection ----

  onPoolConnection(conn: UpstreamConn, reused: boolean): void {
    if (this.done) {
      this.pool?.release(conn);
      return;
    }
    this.conn = conn;
    this.reused = reused;
    conn.attach(this, this.head.method);
    const direct = (this.direct = parsedRequestConn(conn));
    if (direct === null) conn.out.push(this.headBytes as Buffer);
    else {
      const d = this.fwd as Forward;
      const attempt = this.attempts > 1 && this.policy !== DEFAULT_RETRY ? this.attempts : 0;
      direct.sendHead(this.head, d.authority, d.path, this.extra, requestFraming(this.head), attempt);
    }
    const q = this.queued;
    if (q !== null) {
      this.queued = null;
      for (const c of q) this.writeBody(c);
    }
    if (this.reqEnded) this.endBody(conn);
    if (conn.out.flush(conn.socket)) this.dc.releaseRequest();
    else this.dc.holdRequest();
  }

  onPoolError(err: ProxyError): void {
    const c = this.cluster;
    if (c !== null) {
      c.stats.connectErrors.inc();
      if (this.picked !== null) c.connectFailed(this.picked);
    }
    this.reportAttempt(false);
    if (this.done) return;
    if (!this.retry(FAILURE.connectFailure, 0, err)) this.fail(err);
  }

  /** The whole request can go again: no body, none sent yet, or all of it kept. */
  private replayable(): boolean {
    if (this.head.framing === 'none' || !this.bodySent) return true;
    const r = this.replay;
    return r !== null && this.reqEnded && !r.overflowed;
  }

  /**
   * Another attempt after a failed one, when the route's policy (or the safe default) allows it:
   * on an endpoint not tried yet when there is one, after the policy's back-off. False: final.
   */
  private retry(kind: Failure, status: number, final?: ProxyError): boolean {
    if (this.done) return true;
    const delay = this.retryDelay(kind, status);
    if (delay < 0) return false;
    this.startRetry(delay, final);
    return true;
  }

  private retryDelay(kind: Failure, status: number): number {
    const plane = this.dc.listener.plane;
    return retryDelay(
      this.policy,
      kind,
      status,
      false,
      {
        attempts: this.attempts,
        respStarted: this.respStarted,
        replayable: this.replayable(),
        deadline: this.deadline,
        now: plane.clock.now(),
      },
      plane.random,
    );
  }

  private startRetry(delay: number, final: ProxyError | undefined): void {
    const plane = this.dc.listener.plane;
    if (this.picked !== null) (this.tried ??= []).push(this.picked);
    const r = this.replay;
    if (this.bodySent && r !== null) {
      this.queued = r.chunks.slice();
      this.bodySent = false;
    }
    this.status = 0;
    this.stats.retries.value++;
    (this.cluster as ClusterRuntime).stats.retries.value++;
    this.clearTimer();
    this.retryError = final ?? null;
    if (delay === 0) this.retryNow();
    else this.retryTimer = plane.clock.setTimeout(() => this.retryNow(), delay);
  }

  private retryError: ProxyError | null = null;

  private retryNow(): void {
    this.retryTimer = null;
    if (this.done) return;
    try {
      this.attempt(false);
    } catch (e) {
      // No endpoint left to try: the failure that caused the retry says more than "no endpoint".
      this.fail(this.retryError ?? e);
    }
  }

  /** Queues a body chunk for upstream (flushed after the downstream read: flushUpstream). */
  private writeBody(chunk: Buffer): void {
    const out = (this.conn as UpstreamConn).out;
    this.bodySent = true;
    if (this.chunkedReq && this.direct === null) {
      out.push(Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'));
      out.push(chunk);
      out.push(CRLF);
    } else out.push(this.direct === null ? chunk : keep(chunk)); // a mesh stream may queue it
  }

  /** Called by the downstream connection after each read was parsed. */
  flushUpstream(): void {
    const c = this.conn;
    if (c !== null && !c.out.empty && !c.out.flush(c.socket)) this.dc.holdRequest();
  }

  // ---- request body from downstream ----

  /**
   * A request body chunk. It may be a view of the shared read buffer (../io/read-buffer.ts), valid
   * until the downstream read returns: what is kept (a replay, the queue, a mesh stream) is a copy.
   */
  onRequestBody(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const ms = this.mirrors;
    if (ms !== null) for (const m of ms) m.body(chunk);
    if (this.done) return;
    if (this.replay !== null) this.replay.push((chunk = keep(chunk)));
    if (this.conn === null) {
      (this.queued ??= []).push(keep(chunk));
      this.dc.holdRequest();
      return;
    }
    this.writeBody(chunk);
  }

  onRequestEnd(trailers: string[] | null): void {
    this.reqEnded = true;
    const ms = this.mirrors;
    if (ms !== null) for (const m of ms) m.end(trailers);
    if (this.done) return;
    this.reqTrailers = trailers; // kept for a replay too
    if (this.conn !== null) {
      this.endBody(this.conn);
      this.flushUpstream();
    }
  }

  /** The end of the request body upstream: the last chunk (chunked), END_STREAM (direct). */
  private endBody(conn: UpstreamConn): void {
    if (this.direct !== null) this.direct.sendEnd();
    else if (this.chunkedReq) conn.out.push(encodeLastChunk(this.reqTrailers));
  }

  onUpstreamDrain(): void {
    this.dc.releaseRequest();
  }

  onDownstreamDrain(): void {
    if (this.conn !== null) this.conn.socket.resume();
  }

  // ---- response from upstream ----

  onResponseHead(rh: H1ResponseHead): void {
    const head = this.head;
    if (rh.status < 200 && rh.status !== 101) {
      this.interim = true;
      if (rh.status === 100 && head.expectContinue && !this.respStarted) this.dc.out.push(CONTINUE);
      return;
    }
    if (
      this.policy !== DEFAULT_RETRY &&
      !this.respStarted &&
      this.reqEnded &&
      rh.status >= 400 &&
      this.retryStatus(rh.status)
    )
      return;
    this.status = rh.status;
    if (rh.framing === 'upgrade') {
      // 101 to an Upgrade, or 2xx to CONNECT: from here on the connection is a tunnel.
      if (head.framing === 'upgrade') this.splice(rh);
      else this.fail(new ProxyError('UPSTREAM_BAD_RESPONSE', `${rh.status} switching protocols unasked`));
      return;
    }
    this.upKeepAlive = rh.keepAlive;
    const body = downstreamFraming(rh, head.versionMinor === 0);
    this.respChunked = body === 'chunked';
    this.keepAlive =
      head.keepAlive && !this.dc.draining && body !== 'close' && this.reqEnded && head.framing !== 'upgrade';
    applyResponseHeaderMutations(rh.headers, this.route as RouteConfig, this.vhost as VirtualHostConfig);
    const bytes = serializeResponseHead(rh, {
      body,
      connection: this.keepAlive ? (head.versionMinor === 0 ? 'keep-alive' : undefined) : 'close',
    });
    this.respStarted = true;
    this.dc.out.push(bytes);
  }

  /** A retriable status (before anything went to the client): drop this response and go again. */
  private retryStatus(status: number): boolean {
    const delay = this.retryDelay(FAILURE.status, status);
    if (delay < 0) return false;
    const conn = this.conn;
    this.status = status;
    this.conn = null;
    if (conn !== null) conn.destroy(); // the response body is not read: the connection cannot be reused
    this.reportAttempt(false);
    this.startRetry(
      delay,
      new ProxyError('UPSTREAM_RESET', `status ${status}, and no endpoint left to retry on`),
    );
    return true;
  }

  onResponseBody(chunk: Buffer): void {
    const out = this.dc.out;
    if (this.respChunked) {
      out.push(Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'));
      out.push(chunk);
      out.push(CRLF);
    } else out.push(chunk);
  }

  flushDownstream(): void {
    if (!this.dc.out.flush(this.dc.socket) && this.conn !== null) this.conn.socket.pause();
  }

  onResponseEnd(trailers: string[] | null): void {
    if (this.interim) {
      this.interim = false; // the end of a 1xx head; the final response follows
      return;
    }
    if (this.respChunked) this.dc.out.push(encodeLastChunk(trailers));
    this.dc.out.flush(this.dc.socket);
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) {
      // After a refused upgrade the server's state is not ours to trust (node:http's parser stays
      // paused on the upgrade and silently drops the next request): never reuse that connection.
      if (!this.upKeepAlive || !this.reqEnded || this.head.framing === 'upgrade') conn.reusable = false;
      conn.detach();
      (this.pool as ConnPool).release(conn);
    }
    this.reportAttempt(this.status < 500);
    this.done = true;
    this.clearTimer();
    this.record();
    this.dc.exchangeDone(this.keepAlive);
  }

  onUpstreamError(err: ProxyError, gotBytes: boolean): void {
    this.conn = null;
    if (this.done) return;
    this.reportAttempt(false);
    const head = this.head;
    if (
      !this.respStarted &&
      !gotBytes &&
      staleConnectionRetry(
        this.reused,
        this.resetRetried,
        IDEMPOTENT.has(head.method) && head.framing === 'none',
        this.bodySent,
      )
    ) {
      // A keep-alive connection the server had closed while idle: retry once on a new one.
      this.resetRetried = true;
      this.stats.retries.value++;
      (this.cluster as ClusterRuntime).stats.retries.value++;
      try {
        this.attempt(true);
      } catch (e) {
        this.fail(e);
      }
      return;
    }
    if (!this.respStarted && !this.reused && !gotBytes && this.picked !== null)
      this.cluster?.connectFailed(this.picked); // a fresh connection dropped unanswered: the server died
    if (!this.respStarted && this.retry(FAILURE.reset, 0, err)) return;
    this.fail(err);
  }

  /** 101 Switching Protocols (or 2xx to CONNECT): from now on the two sockets are spliced. */
  private splice(rh: H1ResponseHead): void {
    const up = this.conn as UpstreamConn;
    this.conn = null;
    this.reportAttempt(true);
    this.done = true;
    this.respStarted = true;
    this.clearTimer();
    this.dc.out.push(serializeResponseHead(rh, { body: 'none' }));
    this.dc.out.flush(this.dc.socket);
    spliceTunnel(this.dc.socket, up, this.dc.detachForTunnel());
    this.record();
  }

  // ---- endings ----

  /** The one way a failure leaves an exchange: a rescue response, or a cut connection after headers. */
  fail(e: unknown, forceClose = false): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    this.clearRetryTimer();
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) conn.destroy();
    this.reportAttempt(false);
    if (this.respStarted) {
      this.record();
      this.dc.out.flush(this.dc.socket);
      this.dc.socket.destroy();
      return;
    }
    this.dc.out.clear();
    const keep = !forceClose && this.head.keepAlive && !this.dc.draining && this.head.framing !== 'upgrade';
    const r = rescue(e, this.dc.listener.plane.nodeId, !keep);
    this.status = r.status;
    this.dc.socket.write(r.bytes);
    this.record();
    this.dc.exchangeDone(keep);
  }

  /** The downstream connection closed under us. */
  abort(): void {
    const ms = this.mirrors;
    if (ms !== null && !this.reqEnded) for (const m of ms) m.abort();
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    this.clearRetryTimer();
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) conn.destroy();
    if (this.handle !== null) {
      this.handle.onComplete(Number.NaN, false);
      this.handle = null;
    }
  }

  private reportAttempt(ok: boolean): void {
    const h = this.handle;
    if (h === null) return;
    this.handle = null;
    const now = this.dc.listener.plane.clock.now();
    h.onComplete(now - this.attemptStart, ok);
    const c = this.cluster;
    if (c !== null && this.status !== 0) c.stats.record(this.status, (now - this.attemptStart) / 1000);
  }

  private clearRetryTimer(): void {
    if (this.retryTimer !== null) {
      this.dc.listener.plane.clock.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private clearTimer(): void {
    if (this.timerArmed) {
      this.timerArmed = false;
      this.dc.disarmRequestTimer();
    }
  }

  private record(): void {
    this.stats.record(this.status, (this.dc.listener.plane.clock.now() - this.start) / 1000);
  }
}

/** The request head with `x-trellis-attempt-count: n` added (retries of routes with a policy). */
function withAttempt(head: Buffer, n: number): Buffer {
  return Buffer.concat([
    head.subarray(0, head.length - 2),
    Buffer.from(`${ATTEMPT_HEADER}: ${n}\r\n\r\n`, 'latin1'),
  ]);
}
