// Keeps this sidecar's instance registered with the control plane while it should be: registers,
// heartbeats every ttl/3 (jittered), re-registers on 404, retries with backoff, deregisters on demand.
// Over the plaintext API (loopback) the calls carry a credential as a Bearer token when there is one:
// the workload's bootstrap token (or TRELLIS_REGISTRATION_TOKEN_FILE); over TLS the client
// certificate speaks for the sidecar. The token is never logged.
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import { netFetch } from './http-fetch.js';
import type { Logger } from '../../common/logger.js';
import { createBackoff, type Backoff } from '../xds-client/backoff.js';
import { fileTokenSource, tokenSourceFrom, type TokenSource } from '../identity/token-source.js';

/**
 * The credential a sidecar (or proxyless server) registers with on the plaintext API:
 * TRELLIS_REGISTRATION_TOKEN_FILE (a file with the Service's bootstrap token or the admin token;
 * for sidecars that have no workload identity), else its bootstrap token (--token-file,
 * TRELLIS_TOKEN_FILE, TRELLIS_TOKEN). undefined = none (the control plane must then run with
 * --insecure-registration).
 */
export function registrationTokenSource(
  tokenFile: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  onLoose?: (mode: number) => void,
): TokenSource | undefined {
  const reg = env['TRELLIS_REGISTRATION_TOKEN_FILE'];
  if (reg !== undefined && reg.trim() !== '') return fileTokenSource(reg.trim(), onLoose);
  return tokenSourceFrom(tokenFile ?? nonEmpty(env['TRELLIS_TOKEN_FILE']), env, onLoose);
}

const nonEmpty = (v: string | undefined): string | undefined =>
  v !== undefined && v.trim() !== '' ? v.trim() : undefined;

/** The body of POST /api/v1/instances. */
export interface Registration {
  readonly id: string;
  readonly service: string;
  readonly namespace: string;
  readonly address: string;
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly ttlSeconds: number;
  /** A sidecar's instance; absent for a proxyless gRPC server's (`trellis grpc-agent --serve`). */
  readonly sidecar?: true;
  /** A proxyless gRPC server that serves `port` itself (gRFC A36). */
  readonly proxyless?: true;
  /** The sidecar (or proxyless server) has a workload identity: clients reach `port` with mTLS. */
  readonly mtls?: true;
}

export type FetchLike = (
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

export interface RegistrarOptions {
  /** Control plane HTTP API base URL. */
  readonly api: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
  /**
   * The transport (default netFetch). It must remove any listener it adds to `init.signal` when the
   * call settles (netFetch and node:https requests do): the registrar passes the same signal to
   * every call until one times out.
   */
  readonly fetch?: FetchLike;
  readonly requestTimeoutMs?: number;
  /**
   * Sent as "Authorization: Bearer" on plaintext (http:) API calls: the registration credential
   * (registrationTokenSource). Not sent over https: the client certificate authenticates there.
   */
  readonly token?: TokenSource | undefined;
  /** Called whenever the registered state flips. */
  readonly onChange?: (registered: boolean) => void;
}

export class Registrar {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly fetch: FetchLike;
  private readonly backoff: Backoff;
  private desired: Registration | undefined;
  private held: Registration | undefined;
  private timer: Timer | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failures = 0;
  /**
   * The calls' abort signal, the same from call to call until one times out (calls are one at a
   * time). A new AbortSignal.timeout per heartbeat was ~2 KB of garbage, and an AbortSignal with a
   * listener outlives the scavenges: the old space of an idle registered sidecar grew ~0.15 MB a
   * minute until a full GC (docs/sidecar.md "Memory").
   */
  private abort = new AbortController();

  constructor(private readonly opts: RegistrarOptions) {
    this.log = opts.logger.child({ component: 'registrar' });
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    // A raw HTTP/1.1 exchange on a net socket, neither the global fetch (its undici costs every
    // registering sidecar ~11 MB RSS) nor the node:http client (ClientRequest, parser, agent).
    this.fetch = opts.fetch ?? netFetch;
    this.backoff = createBackoff({ random: this.random, initialMs: 500, maxMs: 10_000 });
  }

  /** True while the control plane holds this instance (as far as the last answer said). */
  registered(): boolean {
    return this.held !== undefined;
  }

  /** Registers `r` (or updates it), or with undefined deregisters; works in the background. */
  want(r: Registration | undefined): void {
    if (this.stopped) return;
    if (r === undefined && this.desired === undefined) return;
    if (r !== undefined && this.desired !== undefined && JSON.stringify(r) === JSON.stringify(this.desired))
      return;
    this.desired = r;
    this.backoff.reset();
    this.schedule(0);
  }

  /** Stops for good: deregisters (one attempt, bounded by timeoutMs) if registered. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.desired = undefined;
    this.cancelTimer();
    await this.running?.catch(() => undefined);
    if (this.held !== undefined) await this.deregister(this.held, timeoutMs).catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancelTimer();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
    this.timer.unref?.();
  }

  private cancelTimer(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.step()
      .catch((e: unknown) => {
        this.log.error({ err: errorMessage(e) }, 'registration step failed');
        this.schedule(this.backoff.next());
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  private heartbeatDelay(ttlSeconds: number): number {
    return Math.round(((ttlSeconds * 1000) / 3) * (0.8 + 0.4 * this.random()));
  }

  private retry(what: string, reason: string): void {
    const delay = this.backoff.next();
    this.failures++;
    const fields = { reason, retryInMs: delay, attempt: this.failures };
    if (this.failures === 1 || this.failures % 10 === 0) this.log.warn(fields, `${what} failed; retrying`);
    else this.log.debug(fields, `${what} failed; retrying`);
    this.schedule(delay);
  }

  private ok(): void {
    this.failures = 0;
    this.backoff.reset();
  }

  private setHeld(r: Registration | undefined): void {
    const was = this.held !== undefined;
    this.held = r;
    if (was !== (r !== undefined)) this.opts.onChange?.(r !== undefined);
  }

  private async step(): Promise<void> {
    const want = this.desired;
    if (want === undefined) {
      if (this.held === undefined) return;
      try {
        await this.deregister(this.held, this.opts.requestTimeoutMs ?? 3000);
        this.ok();
      } catch (e) {
        this.retry('deregistration', errorMessage(e));
      }
      return;
    }
    const changed = this.held !== undefined && JSON.stringify(this.held) !== JSON.stringify(want);
    if (this.held === undefined || changed) {
      try {
        const res = await this.call('POST', '/api/v1/instances', want);
        if (res.status !== 200)
          return this.retry('registration', `HTTP ${res.status}: ${res.body.slice(0, 300)}`);
        this.ok();
        // Held whatever happened meanwhile: the control plane has it now. If want() or stop() came
        // while the POST was in flight, the next step (or stop) deregisters or updates it;
        // returning here without holding it would leave it registered until its TTL ran out.
        this.setHeld(want);
        this.log.info({ id: want.id, address: want.address, port: want.port }, 'instance registered');
        if (this.desired !== want) return;
        this.schedule(this.heartbeatDelay(want.ttlSeconds));
      } catch (e) {
        this.retry('registration', errorMessage(e));
      }
      return;
    }
    try {
      const res = await this.call('POST', `/api/v1/instances/${encodeURIComponent(want.id)}/heartbeat`);
      if (res.status === 404) {
        this.log.warn({ id: want.id }, 'control plane forgot this instance; registering again');
        this.setHeld(undefined);
        this.schedule(0);
        return;
      }
      if (res.status !== 200) return this.retry('heartbeat', `HTTP ${res.status}`);
      this.ok();
      this.schedule(this.heartbeatDelay(want.ttlSeconds));
    } catch (e) {
      this.retry('heartbeat', errorMessage(e));
    }
  }

  private async deregister(r: Registration, timeoutMs: number): Promise<void> {
    const res = await this.call(
      'DELETE',
      `/api/v1/instances/${encodeURIComponent(r.id)}`,
      undefined,
      timeoutMs,
    );
    if (res.status !== 200 && res.status !== 404) throw new Error(`HTTP ${res.status}`);
    this.setHeld(undefined);
    this.log.info({ id: r.id }, 'instance deregistered');
  }

  private async call(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = this.opts.requestTimeoutMs ?? 3000,
  ): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.opts.token !== undefined && this.opts.api.startsWith('http:'))
      headers['authorization'] = `Bearer ${(await this.opts.token.read()).trim()}`;
    // One signal serves call after call: the transports drop their abort listener when a call ends.
    if (this.abort.signal.aborted) this.abort = new AbortController();
    const ac = this.abort;
    // As AbortSignal.timeout: a TimeoutError DOMException, and the timer does not hold the process.
    const timer = setTimeout(
      () => ac.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
      timeoutMs,
    );
    timer.unref();
    try {
      const res = await this.fetch(`${this.opts.api}${path}`, {
        method,
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: ac.signal,
      });
      return { status: res.status, body: await res.text() };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The registrar's default transport (in ./http-fetch.ts; the identity's calls use it too). */
export { netFetch };
