// The attempts half of an H2Exchange (./h2-exchange.ts extends it): picking an endpoint, one
// attempt after another on the cluster's HTTP/1 or HTTP/2 pool, the route's retry policy (connect
// failures, resets, refused streams, retriable statuses, a stale keep-alive once more), the kept
// request body for a replay, and each attempt's outcome fed to the load balancer and the stats.
import type { OutgoingHttpHeaders } from 'node:http2';
import type { Timer } from '../../common/clock.js';
import type { EndpointConfig, RetryPolicy } from '../config/types.js';
import { ProxyError } from '../pipeline/rescue.js';
import {
  ATTEMPT_HEADER,
  DEFAULT_RETRY,
  FAILURE,
  pickEndpoint,
  retryDelay,
  type Failure,
  type ReplayBuffer,
} from '../pipeline/retry.js';
import type { ListenerContext } from '../pipeline/types.js';
import type { StatusStats } from '../telemetry/data-plane-metrics.js';
import type { ClusterRuntime } from '../upstream/cluster-manager.js';
import type { H2Session, H2Waiter } from '../upstream/h2-pool.js';
import type { EndpointHandle } from '../upstream/lb/lb.js';
import type { H2Fields } from './down-stream.js';
import type { H2Relay } from './h2-relay.js';
import { fieldOf } from './h2-route.js';
import type { H2ToH1 } from './h2-to-h1.js';

export abstract class H2Attempts implements H2Waiter {
  /** The downstream stream is finished with (response ended, failed or reset). */
  done = false;
  respStarted = false;
  /** A gRPC request (content-type application/grpc*). */
  grpc = false;
  status = 0;
  protected stats: StatusStats;
  protected cluster: ClusterRuntime | null = null;
  /** The endpoint of the attempt in progress (null once its outcome was reported). */
  protected handle: EndpointHandle<EndpointConfig> | null = null;
  /** The endpoint of the latest attempt (kept after its outcome was reported). */
  private picked: EndpointHandle<EndpointConfig> | null = null;
  /** Endpoints earlier attempts failed on (allocated on the first retry only). */
  private tried: EndpointHandle<EndpointConfig>[] | null = null;
  protected policy: RetryPolicy = DEFAULT_RETRY;
  /** The request body kept for a retry (routes with a retry policy only). */
  replay: ReplayBuffer | null = null;
  /** The next attempt must resend the kept body (set by a retry after body bytes went up). */
  replaying = false;
  /** The downstream request ended (its END_STREAM was seen). */
  reqDone = false;
  private retryTimer: Timer | null = null;
  private retryError: ProxyError | null = null;
  /** The upstream HTTP/2 request's headers (HTTP/2 clusters only). */
  protected up: OutgoingHttpHeaders | null = null;
  attempts = 0;
  /** Request body bytes went upstream (a retry would have to resend them). */
  bodyStarted = false;
  /** The upstream side: an HTTP/2 stream relay, or the HTTP/1.1 bridge. */
  protected upstream: H2Relay | H2ToH1 | null = null;
  protected bridge: H2ToH1 | null = null;
  /** When the route timeout / grpc-timeout expires (clock ms; 0: none). */
  protected deadline = 0;
  private attemptStart = 0;

  constructor(readonly lc: ListenerContext) {
    this.stats = lc.stats.noRoute;
  }

  /** The one way a failure leaves the exchange (a rescue response, or a reset after headers). */
  abstract fail(e: unknown): void;
  /** An HTTP/2 pool lent a session: the attempt's upstream stream opens on it. */
  abstract onH2Session(s: H2Session): void;

  protected attempt(fresh: boolean): void {
    const cluster = this.cluster as ClusterRuntime;
    const h = pickEndpoint(cluster, this.tried);
    this.handle = h;
    this.picked = h;
    this.attempts++;
    if (this.attempts > 1 && this.policy !== DEFAULT_RETRY && this.up !== null)
      this.up[ATTEMPT_HEADER] = String(this.attempts);
    h.onStart();
    this.attemptStart = this.lc.plane.clock.now();
    if (this.bridge !== null) this.bridge.acquire(cluster.h1Pool(h), fresh);
    else cluster.h2Pool(h).acquire(this);
  }

  /** Once more on a fresh connection: a stale keep-alive connection died before anything was sent. */
  retryStale(err: ProxyError): void {
    this.reportAttempt(false);
    if (this.attempts >= 2) {
      this.fail(err);
      return;
    }
    this.countRetry();
    try {
      this.attempt(true);
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * The upstream failed before any response byte (refused stream, reset, closed): another attempt
   * when the route's policy (or the safe default, for refused streams) allows it, else the failure.
   */
  upstreamFailed(kind: Failure, err: ProxyError): void {
    if (this.done) return;
    this.reportAttempt(false);
    if (!this.retry(kind, 0, false, err)) this.fail(err);
  }

  /** The whole request can go again: no body sent yet, or all of it kept. */
  private replayable(): boolean {
    if (!this.bodyStarted) return true;
    const r = this.replay;
    return r !== null && this.reqDone && !r.overflowed;
  }

  private retryDelay(kind: Failure, status: number, grpc: boolean): number {
    const plane = this.lc.plane;
    return retryDelay(
      this.policy,
      kind,
      status,
      grpc,
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

  private retry(kind: Failure, status: number, grpc: boolean, err: ProxyError): boolean {
    const delay = this.retryDelay(kind, status, grpc);
    if (delay < 0) return false;
    this.startRetry(delay, err);
    return true;
  }

  private startRetry(delay: number, err: ProxyError): void {
    if (this.picked !== null) (this.tried ??= []).push(this.picked);
    if (this.bodyStarted) {
      this.replaying = true;
      this.bodyStarted = false;
    }
    this.status = 0;
    this.retryError = err;
    this.countRetry();
    if (delay === 0) this.retryNow();
    else this.retryTimer = this.lc.plane.clock.setTimeout(this.retryNow, delay);
  }

  protected countRetry(): void {
    this.stats.retries.value++;
    if (this.cluster !== null) this.cluster.stats.retries.value++;
  }

  private readonly retryNow = (): void => {
    this.retryTimer = null;
    if (this.done) return;
    try {
      this.attempt(false);
    } catch (e) {
      this.fail(this.retryError ?? e);
    }
  };

  /**
   * Response headers arrived: when their status is one the route retries (an HTTP status, or a
   * gRPC status in a trailers-only response) and another attempt is allowed, this one is dropped
   * and true returned. Nothing has gone to the client yet.
   */
  retryResponse(status: number, headers: H2Fields, endStream: boolean): boolean {
    if (this.policy === DEFAULT_RETRY || this.respStarted) return false;
    let delay: number;
    if (this.grpc && status === 200) {
      if (!endStream) return false;
      const g = Number(fieldOf(headers, 'grpc-status') ?? -1);
      delay = this.retryDelay(FAILURE.status, g, true);
    } else delay = this.retryDelay(FAILURE.status, status, false);
    if (delay < 0) return false;
    this.status = status;
    this.upstream?.destroy();
    this.reportAttempt(false);
    this.startRetry(
      delay,
      new ProxyError('UPSTREAM_RESET', `status ${status}, and no endpoint left to retry on`),
    );
    return true;
  }

  onPoolError(err: ProxyError): void {
    const c = this.cluster;
    if (c !== null) {
      c.stats.connectErrors.inc();
      if (this.picked !== null && err.code === 'UPSTREAM_CONNECT_FAILED') c.connectFailed(this.picked);
    }
    this.reportAttempt(false);
    if (this.done) return;
    if (!this.retry(FAILURE.connectFailure, 0, false, err)) this.fail(err);
  }

  /** Feeds the load balancer and the cluster's stats with the attempt's outcome. */
  reportAttempt(ok: boolean): void {
    const h = this.handle;
    if (h === null) return;
    this.handle = null;
    const now = this.lc.plane.clock.now();
    h.onComplete(now - this.attemptStart, ok);
    const c = this.cluster;
    if (c !== null && this.status !== 0) c.stats.record(this.status, (now - this.attemptStart) / 1000);
  }

  protected clearRetryTimer(): void {
    if (this.retryTimer !== null) {
      this.lc.plane.clock.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }
}
