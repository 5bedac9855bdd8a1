// Keeps this sidecar's instance registered with the control plane while it should be: registers,
// heartbeats every ttl/3 (jittered), re-registers on 404, retries with backoff, deregisters on demand.
// Over the plaintext API (loopback) the calls carry a credential as a Bearer token when there is one:
// the workload's bootstrap token (or TRELLIS_REGISTRATION_TOKEN_FILE); over TLS the client
// certificate speaks for the sidecar. The token is never logged.
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import { connect } from 'node:net';
import { httpFetch } from './http-fetch.js';
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
        if (this.desired !== want) return;
        this.ok();
        this.setHeld(want);
        this.log.info({ id: want.id, address: want.address, port: want.port }, 'instance registered');
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
    const res = await this.fetch(`${this.opts.api}${path}`, {
      method,
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: await res.text() };
  }
}

/** The most netFetch reads of one answer (the control plane's answers here are a few hundred bytes). */
const MAX_RESPONSE_BYTES = 1 << 20;

/**
 * The registrar's calls over plaintext http: as one HTTP/1.1 request on its own net socket
 * (Connection: close): reads the whole answer, then takes the status line and the body (by
 * content-length, chunked, or up to the close). Rejects as fetch does: `TypeError('fetch failed')`
 * with the socket error as `cause`, or the signal's reason when aborted; answers over 1 MiB and header
 * values with CR/LF/NUL are refused. https: goes to httpFetch.
 */
export const netFetch: FetchLike = (url, init) => {
  const u = new URL(url);
  if (u.protocol !== 'http:') return httpFetch(url, init);
  const signal = init.signal;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    let head = `${init.method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\nconnection: close\r\n`;
    for (const [k, v] of Object.entries(init.headers ?? {})) {
      if (/[\r\n\0]/.test(k + v)) return reject(new TypeError(`header ${k}: CR, LF or NUL in a header`));
      head += `${k}: ${v}\r\n`;
    }
    head += `content-length: ${body?.length ?? 0}\r\n\r\n`;
    const chunks: Buffer[] = [];
    let settled = false;
    const sock = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) });
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      fn();
    };
    const fail = (cause: Error): void => settle(() => reject(new TypeError('fetch failed', { cause })));
    const onAbort = (): void => settle(() => reject(signal?.reason as Error));
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('error', fail);
    let size = 0;
    sock.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_RESPONSE_BYTES) fail(new Error(`response over ${MAX_RESPONSE_BYTES} bytes`));
      else chunks.push(c);
    });
    sock.on('end', () => {
      const res = parseResponse(Buffer.concat(chunks));
      if (res === undefined) fail(new Error('malformed HTTP response'));
      else settle(() => resolve({ status: res.status, text: () => Promise.resolve(res.body) }));
    });
    sock.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : head);
  });
};

function parseResponse(raw: Buffer): { status: number; body: string } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = raw.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (m === null) return undefined;
  let length: number | undefined;
  let chunked = false;
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    if (k === 'content-length') length = Number(v);
    else if (k === 'transfer-encoding') chunked = v.toLowerCase().includes('chunked');
  }
  let rest = raw.subarray(end + 4);
  if (chunked) {
    const parts: Buffer[] = [];
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) return undefined;
      const size = parseInt(rest.toString('latin1', 0, nl), 16);
      if (!Number.isFinite(size)) return undefined;
      if (size === 0) break;
      if (rest.length < nl + 2 + size) return undefined;
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
    rest = Buffer.concat(parts);
  } else if (length !== undefined) {
    if (!Number.isInteger(length) || length < 0 || rest.length < length) return undefined;
    rest = rest.subarray(0, length);
  }
  return { status: Number(m[1]), body: rest.toString('utf8') };
}
