// The sidecar's workload identity: a P-256 key made in-process, a CSR, the certificate chain and
// trust bundle from the control plane's CA (authenticated by the bootstrap token), all kept in
// memory only. Renewed at ~50 % of the lifetime with jitter (with a new key), retried with backoff
// while the control plane is away, and the trust bundle is watched (long poll) so a new root or
// intermediate reaches the sidecar at once. The mTLS code consumes it through IdentityProvider.
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { pemBlocks } from '../../security/der.js';
import {
  buildCsr,
  generateWorkloadKey,
  publicSpkiOf,
  renewalTime,
} from '../../security/workload-identity.js';
import { createBackoff, type Backoff } from '../xds-client/backoff.js';
import { netFetch } from '../main/http-fetch.js';
import {
  HttpError,
  Material,
  checkCertAnswer,
  type BundleAnswer,
  type CertAnswer,
  type IdentityChange,
  type IdentityFetch,
  type IdentityMaterial,
  type IdentityProvider,
  type IdentityStatus,
} from './identity-material.js';
import { peekToken, type TokenSource } from './token-source.js';

export { disabledIdentityStatus } from './identity-material.js';
export type {
  IdentityChange,
  IdentityFetch,
  IdentityMaterial,
  IdentityProvider,
  IdentityStatus,
} from './identity-material.js';

export interface SidecarIdentityOptions {
  /** Control plane HTTP API base URL. */
  readonly api: string;
  readonly nodeId: string;
  readonly token: TokenSource;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly fetch?: IdentityFetch;
  /** How long one trust-bundle watch is held by the control plane (s, default 25). */
  readonly watchSeconds?: number;
}

export class SidecarIdentity implements IdentityProvider {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly fetch: IdentityFetch;
  private readonly backoff: Backoff;
  private readonly watchBackoff: Backoff;
  private material: Material | undefined;
  private etag = '';
  private renewTimer: Timer | undefined;
  private watchTimer: Timer | undefined;
  private nextRenewalAt: number | undefined;
  private lastRenewalAt: number | undefined;
  private renewals = 0;
  private failures = 0;
  private errorsTotal = 0;
  private lastError: string | undefined;
  private lastLogged: string | undefined;
  private tokenInfo: { tokenId?: string; expiresAt?: string } = {};
  private inFlight = false;
  private watching = false;
  /** The watch's call in flight: the etag it waits on, and how to cut it short. */
  private watchCall: { readonly wait: string; abort(): void } | undefined;
  private repoll = false;
  private closed = false;
  private readonly aborts = new Set<AbortController>();
  private readonly listeners = new Set<(m: IdentityMaterial, why: IdentityChange) => void>();
  private readyWaiters: ((m: IdentityMaterial) => void)[] = [];

  constructor(private readonly opts: SidecarIdentityOptions) {
    this.log = opts.logger.child({ component: 'identity' });
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.fetch = opts.fetch ?? netFetch;
    this.backoff = createBackoff({ random: this.random, initialMs: 500, maxMs: 30_000 });
    this.watchBackoff = createBackoff({ random: this.random, initialMs: 1000, maxMs: 30_000 });
  }

  start(): void {
    this.log.info(
      { tokenSource: this.opts.token.description, api: this.opts.api },
      'requesting a workload certificate',
    );
    this.schedule(0);
  }

  current(): IdentityMaterial | undefined {
    return this.material;
  }

  whenReady(): Promise<IdentityMaterial> {
    if (this.material) return Promise.resolve(this.material);
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  onChange(cb: (m: IdentityMaterial, why: IdentityChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private emit(m: Material, why: IdentityChange): void {
    this.material = m;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w(m);
    for (const l of [...this.listeners]) {
      try {
        l(m, why);
      } catch (e) {
        this.log.error({ err: errorMessage(e) }, 'identity change listener failed');
      }
    }
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.renewTimer) this.clock.clearTimeout(this.renewTimer);
    this.nextRenewalAt = this.clock.now() + delayMs;
    this.renewTimer = this.clock.setTimeout(() => {
      this.renewTimer = undefined;
      void this.renew();
    }, delayMs);
    this.renewTimer.unref?.();
  }

  private abortable(ms: number): { signal: AbortSignal; abort(): void; done(): void } {
    const ac = new AbortController();
    this.aborts.add(ac);
    const t = setTimeout(() => ac.abort(new Error(`no answer in ${ms / 1000} s`)), ms);
    t.unref();
    return {
      signal: ac.signal,
      abort: () => ac.abort(new Error('re-polled')),
      done: () => {
        clearTimeout(t);
        this.aborts.delete(ac);
      },
    };
  }

  private async renew(): Promise<void> {
    if (this.closed || this.inFlight) return;
    this.inFlight = true;
    try {
      const m = await this.requestCertificate();
      if (this.closed) return;
      const first = this.material === undefined;
      this.failures = 0;
      this.lastError = undefined;
      this.lastLogged = undefined;
      this.backoff.reset();
      this.lastRenewalAt = this.clock.now();
      if (!first) this.renewals++;
      const at = renewalTime(this.clock.now(), m.notAfter, this.random());
      this.emit(m, first ? 'issued' : 'renewed');
      this.schedule(Math.max(1000, at - this.clock.now()));
      this.log.info(
        {
          spiffeId: m.spiffeId,
          serialNumber: m.serialNumber,
          notAfter: m.notAfter.toISOString(),
          renewAt: new Date(this.nextRenewalAt ?? at).toISOString(),
        },
        first ? 'workload certificate obtained' : 'workload certificate renewed',
      );
      if (!this.watching) void this.watchLoop();
    } catch (e) {
      if (this.closed) return;
      this.failures++;
      this.errorsTotal++;
      const msg = errorMessage(e);
      this.lastError = msg;
      const status = e instanceof HttpError ? e.status : 0;
      // A refused token or CSR will not fix itself quickly: retry slowly (the token file may be refreshed).
      let delay = this.backoff.next();
      if (status === 401 || status === 400 || status === 413) delay = Math.max(delay, 5000);
      const cur = this.material;
      const fields = {
        err: msg,
        failures: this.failures,
        retryInMs: delay,
        ...(cur ? { currentNotAfter: cur.notAfter.toISOString() } : {}),
      };
      if (msg !== this.lastLogged || this.failures % 10 === 0) {
        this.lastLogged = msg;
        if (cur && cur.notAfter.getTime() <= this.clock.now())
          this.log.error(fields, 'workload certificate EXPIRED and renewal failed; retrying');
        else if (status === 401 || status === 400)
          this.log.error(fields, 'certificate request refused; retrying');
        else this.log.warn(fields, 'certificate request failed (control plane away?); retrying');
      }
      this.schedule(delay);
    } finally {
      this.inFlight = false;
    }
  }

  private async requestCertificate(): Promise<Material> {
    const token = await this.opts.token.read();
    const peek = peekToken(token);
    if (!peek)
      throw new HttpError(
        400,
        `the bootstrap token from ${this.opts.token.description} is not a Trellis token (tbt1.<payload>.<mac>); create one with 'trellis token create'`,
      );
    this.tokenInfo = { tokenId: peek.tokenId, expiresAt: peek.expiresAt.toISOString() };
    const key = generateWorkloadKey();
    const csr = buildCsr(key, peek.identity);
    const call = this.abortable(15_000);
    let status: number;
    let text: string;
    try {
      const res = await this.fetch(`${this.opts.api}/api/v1/certificates`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/pkcs10',
          'x-trellis-node-id': this.opts.nodeId,
        },
        body: csr,
        signal: call.signal,
      });
      status = res.status;
      text = await res.text();
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new Error(`cannot reach the control plane at ${this.opts.api}: ${cause ?? errorMessage(e)}`);
    } finally {
      call.done();
    }
    if (status !== 200) {
      let why = text.slice(0, 300);
      try {
        why = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? why;
      } catch {
        /* not JSON */
      }
      throw new HttpError(
        status,
        `the control plane refused the certificate request (HTTP ${status}): ${why}`,
      );
    }
    const a = JSON.parse(text) as CertAnswer;
    const m = checkCertAnswer(a, key.keyPem, publicSpkiOf(key.privateKey), this.clock.now());
    if (m.spiffeId !== peek.identity.uri)
      this.log.warn(
        { token: peek.identity.uri, issued: m.spiffeId },
        'the CA issued another identity than the token names',
      );
    this.etag = a.etag;
    // The answer's bundle may be older than one the watch delivered while the request was in
    // flight (a root rotation in between), and the watch then waits on the newer etag: it would
    // not notice the step back until its long poll timed out. Ask again at once with this etag;
    // the control plane answers straight away if its bundle differs.
    const w = this.watchCall;
    if (w !== undefined && w.wait !== a.etag) {
      this.repoll = true;
      w.abort();
    }
    return m;
  }

  /** Long-polls the trust bundle: a new root reaches the sidecar at once; a new issuer triggers a renewal. */
  private async watchLoop(): Promise<void> {
    this.watching = true;
    const wait = this.opts.watchSeconds ?? 25;
    while (!this.closed) {
      const call = this.abortable((wait + 10) * 1000);
      this.watchCall = { wait: this.etag, abort: call.abort };
      this.repoll = false;
      try {
        const res = await this.fetch(
          `${this.opts.api}/api/v1/trust-bundle?wait=${encodeURIComponent(this.etag)}&timeout=${wait}`,
          { method: 'GET', headers: { 'x-trellis-node-id': this.opts.nodeId }, signal: call.signal },
        );
        const text = await res.text();
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        this.watchBackoff.reset();
        this.onBundle(JSON.parse(text) as BundleAnswer);
      } catch (e) {
        if (this.closed) break;
        if (this.repoll) {
          this.repoll = false;
          continue;
        }
        const delay = this.watchBackoff.next();
        this.log.debug({ err: errorMessage(e), retryInMs: delay }, 'trust bundle watch failed; retrying');
        await new Promise<void>((r) => {
          this.watchTimer = this.clock.setTimeout(r, delay);
          this.watchTimer.unref?.();
        });
      } finally {
        call.done();
        this.watchCall = undefined;
      }
    }
    this.watching = false;
  }

  private onBundle(b: BundleAnswer): void {
    const m = this.material;
    if (!m || b.etag === this.etag) return;
    this.etag = b.etag;
    if (b.trustBundlePem !== m.trustBundlePem) {
      const roots = pemBlocks(b.trustBundlePem, 'CERTIFICATE').length;
      this.log.info({ roots, etag: b.etag }, 'trust bundle changed');
      this.emit(m.withBundle(b.trustBundlePem), 'trust-bundle');
    }
    if (b.issuer.fingerprint256 !== m.issuerFingerprint256 && !this.inFlight) {
      // The CA issues under a new intermediate (or root): move to it soon, spread over a few seconds.
      const left = m.notAfter.getTime() - this.clock.now();
      const delay = Math.floor(this.random() * Math.min(5000, Math.max(0, left / 10)));
      if (this.nextRenewalAt === undefined || this.clock.now() + delay < this.nextRenewalAt) {
        this.log.info(
          { issuer: b.issuer.fingerprint256, inMs: delay },
          'the CA has a new issuer; renewing early',
        );
        this.schedule(delay);
      }
    }
  }

  status(): IdentityStatus {
    const m = this.material;
    const now = this.clock.now();
    return {
      enabled: true,
      state: !m ? 'starting' : m.notAfter.getTime() <= now ? 'expired' : 'ok',
      ...(m
        ? {
            spiffeId: m.spiffeId,
            serialNumber: m.serialNumber,
            notBefore: m.notBefore.toISOString(),
            notAfter: m.notAfter.toISOString(),
            issuerFingerprint256: m.issuerFingerprint256,
            trustBundle: { etag: this.etag, roots: pemBlocks(m.trustBundlePem, 'CERTIFICATE').length },
          }
        : {}),
      ...(this.nextRenewalAt !== undefined
        ? { nextRenewalAt: new Date(this.nextRenewalAt).toISOString() }
        : {}),
      ...(this.lastRenewalAt !== undefined
        ? { lastRenewalAt: new Date(this.lastRenewalAt).toISOString() }
        : {}),
      renewals: this.renewals,
      failures: this.failures,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      token: { source: this.opts.token.description, ...this.tokenInfo },
    };
  }

  /** Prometheus text. */
  renderMetrics(): string {
    const m = this.material;
    const now = this.clock.now();
    const id = m ? `{spiffe_id="${m.spiffeId}"}` : '';
    const lines = [
      '# HELP trellis_identity_ready 1 while the sidecar holds an unexpired workload certificate.',
      '# TYPE trellis_identity_ready gauge',
      `trellis_identity_ready ${m && m.notAfter.getTime() > now ? 1 : 0}`,
      '# HELP trellis_identity_cert_expiry_seconds Unix time the workload certificate expires.',
      '# TYPE trellis_identity_cert_expiry_seconds gauge',
      `trellis_identity_cert_expiry_seconds${id} ${m ? m.notAfter.getTime() / 1000 : 0}`,
      '# HELP trellis_identity_next_renewal_seconds Unix time of the next certificate request.',
      '# TYPE trellis_identity_next_renewal_seconds gauge',
      `trellis_identity_next_renewal_seconds ${this.nextRenewalAt !== undefined ? this.nextRenewalAt / 1000 : 0}`,
      '# HELP trellis_identity_renewals_total Certificate requests by result.',
      '# TYPE trellis_identity_renewals_total counter',
      `trellis_identity_renewals_total{result="ok"} ${m ? this.renewals + 1 : 0}`,
      `trellis_identity_renewals_total{result="error"} ${this.errorsTotal}`,
      '# HELP trellis_identity_trust_bundle_roots Roots in the trust bundle.',
      '# TYPE trellis_identity_trust_bundle_roots gauge',
      `trellis_identity_trust_bundle_roots ${m ? pemBlocks(m.trustBundlePem, 'CERTIFICATE').length : 0}`,
    ];
    return lines.join('\n') + '\n';
  }

  close(): void {
    this.closed = true;
    if (this.renewTimer) this.clock.clearTimeout(this.renewTimer);
    if (this.watchTimer) this.clock.clearTimeout(this.watchTimer);
    for (const ac of this.aborts) ac.abort(new Error('closed'));
    this.aborts.clear();
  }
}
