// Request mirroring (shadowing): a fire-and-forget copy of a request to a mirror cluster. The copy
// never slows or fails the real request: it is dropped when it would need buffering or backpressure.
import type { Clock } from '../../common/clock.js';
import type { EndpointConfig } from '../config/types.js';
import type { H1RequestHead } from '../http/h1-parser.js';
import { keep } from '../io/read-buffer.js';
import { encodeLastChunk, serializeRequestHead, type H1BodyFraming } from '../http/h1-serializer.js';
import type { RouteDecision } from '../router/types.js';
import type { ClusterRuntime } from '../upstream/cluster-manager.js';
import type { H1Pool, PoolWaiter } from '../upstream/h1-pool.js';
import type { EndpointHandle } from '../upstream/lb/lb.js';
import type { UpstreamConn, UpstreamOwner } from '../upstream/upstream-conn.js';
import type { PlaneContext } from './types.js';

/** Body bytes held for a mirror while it connects; more and the copy is dropped. */
const MAX_QUEUED = 64 * 1024;
/** Bytes waiting in a mirror socket's buffer before the copy is dropped (a slow mirror). */
const MAX_BUFFERED = 1024 * 1024;
const CRLF = Buffer.from('\r\n', 'latin1');

export class H1Mirror implements UpstreamOwner, PoolWaiter {
  private conn: UpstreamConn | null = null;
  private pool: H1Pool | null = null;
  private handle: EndpointHandle<EndpointConfig> | null = null;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private ended = false;
  private trailers: string[] | null = null;
  private dead = false;
  private start = 0;
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly headBytes: Buffer;
  private readonly method: string;

  constructor(
    head: H1RequestHead,
    body: H1BodyFraming,
    authority: string,
    path: string,
    private readonly chunked: boolean,
    private readonly cluster: ClusterRuntime,
    private readonly clock: Clock,
    timeoutMs: number,
  ) {
    this.method = head.method;
    // Envoy's convention: the shadow's Host gets `-shadow`, so the mirror's app can tell copies apart.
    this.headBytes = serializeRequestHead(head, { body, authority: `${authority}-shadow`, path });
    this.timer = setTimeout(() => this.abort(), timeoutMs);
    this.timer.unref();
    const h = cluster.lb.pick();
    if (h === undefined) {
      this.finish(false);
      return;
    }
    this.handle = h;
    h.onStart();
    this.start = clock.now();
    this.pool = cluster.h1Pool(h);
    this.pool.acquire(this, false);
  }

  onPoolConnection(conn: UpstreamConn): void {
    if (this.dead) {
      this.pool?.release(conn);
      return;
    }
    this.conn = conn;
    conn.attach(this, this.method); // the response is read (for its framing) and dropped
    conn.out.push(this.headBytes);
    for (const c of this.queued) this.pushBody(c);
    this.queued = [];
    if (this.ended && this.chunked) conn.out.push(encodeLastChunk(this.trailers));
    this.flush();
  }

  onPoolError(): void {
    this.cluster.stats.connectErrors.inc();
    this.finish(false);
  }

  body(chunk: Buffer): void {
    if (this.dead) return;
    if (this.conn === null) {
      this.queuedBytes += chunk.length;
      if (this.queuedBytes > MAX_QUEUED) this.abort();
      else this.queued.push(keep(chunk)); // may be a view of the shared read buffer
      return;
    }
    this.pushBody(chunk);
    this.flush();
  }

  end(trailers: string[] | null): void {
    if (this.dead) return;
    this.ended = true;
    this.trailers = trailers;
    if (this.conn !== null && this.chunked) {
      this.conn.out.push(encodeLastChunk(trailers));
      this.flush();
    }
  }

  private pushBody(chunk: Buffer): void {
    const out = (this.conn as UpstreamConn).out;
    if (this.chunked) {
      out.push(Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'));
      out.push(chunk);
      out.push(CRLF);
    } else out.push(chunk);
  }

  private flush(): void {
    const c = this.conn as UpstreamConn;
    c.out.flush(c.socket);
    if (c.socket.writableLength > MAX_BUFFERED) this.abort();
  }

  /** The response is read for its framing only: its body is dropped, so it may be parsed in place. */
  get bodyInPlace(): boolean {
    return true;
  }
  onResponseHead(): void {}
  onResponseBody(): void {}
  onUpstreamDrain(): void {}
  flushDownstream(): void {}

  onResponseEnd(): void {
    const c = this.conn;
    this.conn = null;
    if (c !== null) {
      if (!this.ended) c.reusable = false;
      c.detach();
      this.pool?.release(c);
    }
    this.finish(true);
  }

  onUpstreamError(): void {
    this.conn = null;
    this.finish(false);
  }

  /** Drop the copy (timeout, too slow, or the client went away mid-body). */
  abort(): void {
    const c = this.conn;
    this.conn = null;
    if (c !== null) c.destroy();
    this.finish(false);
  }

  private finish(ok: boolean): void {
    if (this.dead) return;
    this.dead = true;
    this.queued = [];
    clearTimeout(this.timer);
    const h = this.handle;
    this.handle = null;
    if (h !== null) h.onComplete(ok ? this.clock.now() - this.start : Number.NaN, ok);
  }
}

/** One mirror per sampled mirror cluster the sidecar knows (unknown ones are skipped). */
export function startMirrors(
  head: H1RequestHead,
  d: Extract<RouteDecision, { type: 'forward' }>,
  body: H1BodyFraming,
  plane: PlaneContext,
): H1Mirror[] | null {
  let out: H1Mirror[] | null = null;
  for (const name of d.mirrors) {
    const c = plane.clusters.get(name);
    if (c === undefined) continue;
    const ms = d.timeoutMs > 0 ? d.timeoutMs : 15_000;
    (out ??= []).push(new H1Mirror(head, body, d.authority, d.path, body === 'chunked', c, plane.clock, ms));
  }
  return out;
}
