// The control plane's CA service: opens (or creates) the mesh CA in its data dir, issues bootstrap
// tokens, signs workload CSRs for exactly the identity a token is bound to, remembers what it issued
// (for `trellis certs`), publishes the trust bundle (long-poll watchers), and rotates the
// intermediate or the root with an overlap period. Token values and keys are never logged.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { TrellisError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Result } from '../../common/result.js';
import {
  CertificateAuthority,
  DEFAULT_WORKLOAD_TTL_MS,
  MAX_WORKLOAD_TTL_MS,
  MIN_WORKLOAD_TTL_MS,
  type LoadOptions,
} from '../../security/ca.js';
import { openCa, openTokenKeyring, saveCa, writeFileAtomic } from '../../security/ca-store.js';
import { validateTrustDomain, workloadId } from '../../security/spiffe.js';
import {
  DEFAULT_TOKEN_TTL_MS,
  MAX_TOKEN_TTL_MS,
  issueToken,
  verifyToken,
  type BootstrapToken,
  type TokenClaims,
  type TokenKeyring,
} from '../../security/token.js';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
/** The control plane's own identity: spiffe://<td>/ns/trellis-system/sa/control-plane (reserved). */
export const CONTROL_PLANE_NAMESPACE = 'trellis-system';
export const CONTROL_PLANE_SERVICE_ACCOUNT = 'control-plane';
/** `trellis certs` and the control plane warn when the intermediate has less than this left. */
export const WARN_INTERMEDIATE_MS = 30 * 86_400_000;
/** ... and when a root has less than this left. */
export const WARN_ROOT_MS = 90 * 86_400_000;
/** The intermediate is rotated automatically when this little is left (and the root key is here). */
export const AUTO_ROTATE_INTERMEDIATE_MS = 30 * 86_400_000;
/** Longest a trust-bundle watch is held open. */
export const MAX_WATCH_MS = 30_000;
/** Entries of certificates that expired this long ago are forgotten. */
const FORGET_EXPIRED_MS = 24 * 3_600_000;
const ROTATION_FILE = 'rotation.json';
const NEXT_DIR = 'next';

/** User-supplied CA material (PEM text, already read from the files the flags name). */
export type UserCa = Omit<LoadOptions, 'trustDomain' | 'now'>;

export interface CaServiceOptions {
  /** The CA data dir (`<data-dir>/ca`). */
  readonly dir: string;
  readonly trustDomain?: string;
  readonly userCa?: UserCa;
  /** Lifetime of workload certificates (default 24 h). */
  readonly workloadTtlMs?: number;
  readonly logger: Logger;
  readonly clock?: Clock;
}

/** What one issued workload certificate looks like in `GET /api/v1/certificates`. */
export interface IssuedEntry {
  readonly spiffeId: string;
  /** The sidecar's node id (x-trellis-node-id), when it said. */
  readonly instance?: string;
  readonly serialNumber: string;
  readonly issuer: string;
  readonly issuerFingerprint256: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly firstIssuedAt: string;
  readonly lastRenewalAt: string;
  readonly renewals: number;
  readonly truncated: boolean;
  readonly chainPem: string;
}

export type WorkloadCertState = 'valid' | 'renewal-due' | 'overdue' | 'expired' | 'old-issuer';

export interface RotationState {
  readonly kind: 'root';
  /** 'distributing': the new root is in the bundle, issuing still on the old one; 'overlap': issuing on the new root, the old one still trusted. */
  readonly phase: 'distributing' | 'overlap';
  readonly startedAt: string;
  readonly switchAt: string;
  readonly dropAt: string;
  readonly oldRootFingerprint256: string;
  readonly newRootFingerprint256: string;
}

export interface TrustBundleView {
  readonly trustDomain: string;
  readonly trustBundlePem: string;
  /** Changes whenever the bundle or the issuing intermediate changes. */
  readonly etag: string;
  /** The intermediate new certificates are issued by: a workload holding another renews soon. */
  readonly issuer: { readonly subject: string; readonly fingerprint256: string };
}

export interface IssueResult {
  readonly spiffeId: string;
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly chainPem: string;
  readonly trustBundlePem: string;
  readonly etag: string;
  readonly issuer: { readonly subject: string; readonly fingerprint256: string };
  readonly truncated: boolean;
}

interface Entry {
  spiffeId: string;
  instance: string | undefined;
  serialNumber: string;
  issuer: string;
  issuerFingerprint256: string;
  notBefore: number;
  notAfter: number;
  issuedAt: number;
  firstIssuedAt: number;
  renewals: number;
  truncated: boolean;
  chainPem: string;
}

interface StoredRotation {
  v: 1;
  phase: 'distributing' | 'overlap';
  startedAt: number;
  switchAt: number;
  dropAt: number;
  oldRootFingerprint256: string;
  newRootFingerprint256: string;
}

/** Validates a workload certificate lifetime (ms). */
export function checkWorkloadTtl(ms: number, field = 'workloadCertTtl'): number {
  if (!Number.isFinite(ms) || ms < MIN_WORKLOAD_TTL_MS || ms > MAX_WORKLOAD_TTL_MS)
    throw new TrellisError(
      'BAD_REQUEST',
      `${field}: must be between ${MIN_WORKLOAD_TTL_MS / 1000}s and ${MAX_WORKLOAD_TTL_MS / 3_600_000}h, got ${ms} ms`,
    );
  return ms;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class CaService {
  private ca!: CertificateAuthority;
  private keyring!: TokenKeyring;
  private next: CertificateAuthority | undefined;
  private rotation: StoredRotation | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly watchers = new Set<() => void>();
  private readonly timers = new Set<Timer>();
  private readonly log: Logger;
  private readonly clock: Clock;
  readonly trustDomain: string;
  readonly workloadTtlMs: number;
  private etagCache: string | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly opts: CaServiceOptions) {
    this.log = opts.logger.child({ component: 'ca' });
    this.clock = opts.clock ?? systemClock;
    this.trustDomain = validateTrustDomain(opts.trustDomain ?? DEFAULT_TRUST_DOMAIN, 'trustDomain');
    this.workloadTtlMs = checkWorkloadTtl(opts.workloadTtlMs ?? DEFAULT_WORKLOAD_TTL_MS);
  }

  static async open(opts: CaServiceOptions): Promise<CaService> {
    const s = new CaService(opts);
    await s.load();
    return s;
  }

  private async load(): Promise<void> {
    const dir = this.opts.dir;
    const now = this.clock.now();
    const opened = await openCa(dir, {
      trustDomain: this.trustDomain,
      ...(this.opts.userCa ? { userCa: this.opts.userCa } : {}),
      now,
    });
    this.ca = opened.ca;
    this.keyring = await openTokenKeyring(dir);
    const d = this.ca.describe();
    this.log.info(
      {
        source: opened.source,
        dir,
        trustDomain: this.trustDomain,
        root: d.roots[0]?.subject,
        rootNotAfter: d.roots[0]?.notAfter,
        intermediate: d.intermediate.subject,
        intermediateNotAfter: d.intermediate.notAfter,
        trustedRoots: d.roots.length,
        workloadCertTtlMs: this.workloadTtlMs,
      },
      opened.source === 'generated'
        ? 'CA generated'
        : opened.source === 'imported'
          ? 'CA imported'
          : 'CA loaded',
    );
    await this.resumeRotation();
    this.checkExpiry();
  }

  // ---- tokens ----

  /** A bootstrap token for namespace/serviceAccount (default TTL 24 h). */
  issueToken(p: { namespace: string; serviceAccount: string; ttlMs?: number }): BootstrapToken {
    const id = workloadId(this.trustDomain, p.namespace, p.serviceAccount);
    if (id.namespace === CONTROL_PLANE_NAMESPACE && id.serviceAccount === CONTROL_PLANE_SERVICE_ACCOUNT)
      throw new TrellisError(
        'BAD_REQUEST',
        `serviceAccount: ${id.uri} is the control plane's own identity; no token is issued for it`,
      );
    const ttl = p.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    if (!Number.isFinite(ttl) || ttl < 1000 || ttl > MAX_TOKEN_TTL_MS)
      throw new TrellisError(
        'BAD_REQUEST',
        `ttl: must be between 1s and ${MAX_TOKEN_TTL_MS / 3_600_000}h, got ${ttl} ms`,
      );
    const token = issueToken(this.keyring, id, { ttlMs: ttl, now: this.clock.now() });
    this.log.info(
      { tokenId: token.claims?.tokenId, spiffeId: id.uri, expiresAt: token.claims?.expiresAt },
      'bootstrap token issued',
    );
    return token;
  }

  /** Checks a bearer token (never logged); the error says why, without the token. */
  verifyToken(value: string): Result<TokenClaims, string> {
    return verifyToken(this.keyring, value, { now: this.clock.now(), trustDomain: this.trustDomain });
  }

  // ---- signing ----

  /** Signs `csrPem` for the token's identity (whatever the CSR asks for) and remembers it. */
  async sign(csrPem: string, claims: TokenClaims, instance: string | undefined): Promise<IssueResult> {
    const now = this.clock.now();
    if (
      claims.identity.namespace === CONTROL_PLANE_NAMESPACE &&
      claims.identity.serviceAccount === CONTROL_PLANE_SERVICE_ACCOUNT
    )
      throw new TrellisError(
        'BAD_REQUEST',
        `token: ${claims.identity.uri} is the control plane's own identity; no workload gets it`,
      );
    const issued = await this.ca.signWorkloadCsr(csrPem, claims.identity, {
      ttlMs: this.workloadTtlMs,
      now,
    });
    const asked = issued.ignoredRequest.uriSans;
    const mismatch = asked.length > 0 && (asked.length !== 1 || asked[0] !== issued.spiffeId);
    const fields = {
      spiffeId: issued.spiffeId,
      serialNumber: issued.serialNumber,
      notAfter: issued.notAfter.toISOString(),
      tokenId: claims.tokenId,
      ...(instance !== undefined ? { instance } : {}),
    };
    if (mismatch)
      this.log.warn(
        { ...fields, requested: asked, requestedSubject: issued.ignoredRequest.subject },
        "CSR asked for another identity; issued the token's identity instead",
      );
    else this.log.info(fields, 'workload certificate issued');
    if (issued.truncated)
      this.log.warn(
        { ...fields, intermediateNotAfter: this.ca.intermediate.info.notAfter.toISOString() },
        'workload certificate cut short: the intermediate expires first; rotate it (trellis ca rotate)',
      );
    const key = instance ?? issued.spiffeId;
    const prev = this.entries.get(key);
    this.entries.set(key, {
      spiffeId: issued.spiffeId,
      instance,
      serialNumber: issued.serialNumber,
      issuer: this.ca.intermediate.subject,
      issuerFingerprint256: this.ca.intermediate.fingerprint256,
      notBefore: issued.notBefore.getTime(),
      notAfter: issued.notAfter.getTime(),
      issuedAt: now,
      firstIssuedAt: prev && prev.spiffeId === issued.spiffeId ? prev.firstIssuedAt : now,
      renewals: prev && prev.spiffeId === issued.spiffeId ? prev.renewals + 1 : 0,
      truncated: issued.truncated,
      chainPem: issued.chainPem,
    });
    this.forgetOld(now);
    const b = this.bundle();
    return {
      spiffeId: issued.spiffeId,
      serialNumber: issued.serialNumber,
      notBefore: issued.notBefore.toISOString(),
      notAfter: issued.notAfter.toISOString(),
      chainPem: issued.chainPem,
      trustBundlePem: b.trustBundlePem,
      etag: b.etag,
      issuer: b.issuer,
      truncated: issued.truncated,
    };
  }

  /** The control plane's SPIFFE ID in this trust domain. */
  controlPlaneId(): string {
    return workloadId(this.trustDomain, CONTROL_PLANE_NAMESPACE, CONTROL_PLANE_SERVICE_ACCOUNT).uri;
  }

  /**
   * A serving certificate for the control plane itself (key made in-process, never stored): the
   * control plane's SPIFFE ID plus the DNS and IP SANs given, serverAuth, the workload lifetime.
   */
  issueServingCertificate(p: { dnsNames: readonly string[]; ipAddresses: readonly string[] }): {
    keyPem: string;
    chainPem: string;
    trustBundlePem: string;
    spiffeId: string;
    serialNumber: string;
    notBefore: Date;
    notAfter: Date;
  } {
    const issued = this.ca.issueServingCertificate({
      identity: workloadId(this.trustDomain, CONTROL_PLANE_NAMESPACE, CONTROL_PLANE_SERVICE_ACCOUNT),
      dnsNames: p.dnsNames,
      ipAddresses: p.ipAddresses,
      ttlMs: this.workloadTtlMs,
      now: this.clock.now(),
    });
    return {
      keyPem: issued.keyPem,
      chainPem: issued.chainPem,
      trustBundlePem: this.ca.trustBundlePem(),
      spiffeId: issued.spiffeId,
      serialNumber: issued.serialNumber,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
    };
  }

  private forgetOld(now: number): void {
    for (const [k, e] of this.entries) if (e.notAfter + FORGET_EXPIRED_MS < now) this.entries.delete(k);
  }

  // ---- trust bundle ----

  bundle(): TrustBundleView {
    const pem = this.ca.trustBundlePem();
    const inter = this.ca.intermediate;
    this.etagCache ??= createHash('sha256')
      .update(pem)
      .update('\n')
      .update(inter.fingerprint256)
      .digest('hex')
      .slice(0, 20);
    return {
      trustDomain: this.trustDomain,
      trustBundlePem: pem,
      etag: this.etagCache,
      issuer: { subject: inter.subject, fingerprint256: inter.fingerprint256 },
    };
  }

  /** Resolves with the bundle once its etag differs from `etag`, or after `timeoutMs` anyway. */
  watchBundle(etag: string, timeoutMs: number): Promise<TrustBundleView> {
    const now = this.bundle();
    if (now.etag !== etag || this.closed || timeoutMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = (): void => {
        this.watchers.delete(done);
        this.clock.clearTimeout(t);
        resolve(this.bundle());
      };
      const t = this.clock.setTimeout(done, Math.min(timeoutMs, MAX_WATCH_MS));
      t.unref?.();
      this.watchers.add(done);
    });
  }

  private changed(): void {
    this.etagCache = undefined;
    for (const w of [...this.watchers]) w();
  }

  // ---- rotation ----

  /** Serializes changes to the CA (rotations, timers). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn, fn);
    this.busy = run.catch(() => undefined);
    return run;
  }

  /** A new intermediate under the same root: nothing changes for verifiers; workloads move on renewal. */
  rotateIntermediate(reason = 'requested'): Promise<{ intermediate: string; notAfter: string }> {
    return this.exclusive(async () => {
      if (this.rotation?.phase === 'distributing')
        throw new TrellisError(
          'CONFLICT',
          `a root rotation is distributing its new root until ${iso(this.rotation.switchAt)}; rotate the intermediate after that`,
        );
      if (this.ca.exportKeys().rootKeyPem === undefined)
        throw new TrellisError(
          'BAD_REQUEST',
          'the root key is kept offline (a user-supplied CA without --ca-key), so Trellis cannot sign a new intermediate; sign one with your root and restart with --intermediate-cert/--intermediate-key on an empty CA dir',
        );
      const old = this.ca.intermediate.subject;
      const ca = await this.ca.rotateIntermediate({ now: this.clock.now() });
      await saveCa(this.opts.dir, ca);
      this.ca = ca;
      this.changed();
      this.log.info(
        { reason, old, intermediate: ca.intermediate.subject, notAfter: ca.intermediate.info.notAfter },
        'intermediate rotated; workloads move to it as they renew (they are told to renew soon)',
      );
      return { intermediate: ca.intermediate.subject, notAfter: ca.intermediate.info.notAfter.toISOString() };
    });
  }

  /**
   * Starts a root rotation: a new root (and intermediate) joins the trust bundle now; issuing moves
   * to it after `distributeMs` (once sidecars fetched the two-root bundle); the old root leaves the
   * bundle `overlapMs` after that (every workload certificate renewed in between).
   */
  rotateRoot(p: { overlapMs: number; distributeMs?: number }): Promise<RotationState> {
    return this.exclusive(async () => {
      if (this.rotation)
        throw new TrellisError(
          'CONFLICT',
          `a root rotation is already in progress (phase ${this.rotation.phase}, old root dropped at ${iso(this.rotation.dropAt)})`,
        );
      if (this.ca.exportKeys().rootKeyPem === undefined)
        throw new TrellisError(
          'BAD_REQUEST',
          'the root key is kept offline (a user-supplied CA); Trellis will not replace your root with one of its own',
        );
      if (!Number.isFinite(p.overlapMs) || p.overlapMs < this.workloadTtlMs)
        throw new TrellisError(
          'BAD_REQUEST',
          `overlap: must be at least the workload certificate lifetime (${this.workloadTtlMs / 1000}s), so every workload renews under the new root before the old one is dropped; got ${p.overlapMs / 1000}s`,
        );
      const now = this.clock.now();
      const distributeMs = p.distributeMs ?? Math.min(60_000, Math.max(2000, Math.floor(p.overlapMs / 10)));
      const next = await CertificateAuthority.generate({ trustDomain: this.trustDomain, now });
      await saveCa(join(this.opts.dir, NEXT_DIR), next);
      const ca = await this.ca.withExtraRoots(next.root.pem);
      await saveCa(this.opts.dir, ca);
      const r: StoredRotation = {
        v: 1,
        phase: 'distributing',
        startedAt: now,
        switchAt: now + distributeMs,
        dropAt: now + distributeMs + p.overlapMs,
        oldRootFingerprint256: this.ca.root.fingerprint256,
        newRootFingerprint256: next.root.fingerprint256,
      };
      await this.saveRotation(r);
      this.ca = ca;
      this.next = next;
      this.rotation = r;
      this.changed();
      this.log.info(
        { newRoot: next.root.subject, switchAt: iso(r.switchAt), dropAt: iso(r.dropAt) },
        'root rotation started: the new root is in the trust bundle',
      );
      this.scheduleRotation();
      return this.rotationState()!;
    });
  }

  private async saveRotation(r: StoredRotation | undefined): Promise<void> {
    const path = join(this.opts.dir, ROTATION_FILE);
    if (r === undefined) await fs.rm(path, { force: true });
    else await writeFileAtomic(path, JSON.stringify(r, null, 2) + '\n', 0o644);
  }

  private async resumeRotation(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(join(this.opts.dir, ROTATION_FILE), 'utf8');
    } catch {
      return;
    }
    const r = JSON.parse(text) as StoredRotation;
    if (r.phase === 'distributing') {
      const nextDir = join(this.opts.dir, NEXT_DIR);
      this.next = (await openCa(nextDir, { trustDomain: this.trustDomain, now: this.clock.now() })).ca;
    }
    this.rotation = r;
    this.log.info(
      { phase: r.phase, switchAt: iso(r.switchAt), dropAt: iso(r.dropAt) },
      'root rotation resumed',
    );
    this.scheduleRotation();
  }

  private scheduleRotation(): void {
    const r = this.rotation;
    if (!r || this.closed) return;
    const at = r.phase === 'distributing' ? r.switchAt : r.dropAt;
    const t = this.clock.setTimeout(
      () => {
        this.timers.delete(t);
        void this.exclusive(() => this.advanceRotation()).catch((e: unknown) => {
          this.log.error({ err: errorMessage(e) }, 'root rotation step failed; retrying in 10 s');
          const retry = this.clock.setTimeout(() => {
            this.timers.delete(retry);
            this.scheduleRotation();
          }, 10_000);
          retry.unref?.();
          this.timers.add(retry);
        });
      },
      Math.max(0, at - this.clock.now()),
    );
    t.unref?.();
    this.timers.add(t);
  }

  private async advanceRotation(): Promise<void> {
    const r = this.rotation;
    if (!r || this.closed) return;
    if (r.phase === 'distributing') {
      const next = this.next;
      if (!next) throw new Error('the new root of the rotation is missing');
      const old = this.ca.roots.filter((x) => x.fingerprint256 !== next.root.fingerprint256);
      const ca = await next.withExtraRoots(old.map((x) => x.pem).join(''));
      await saveCa(this.opts.dir, ca);
      const nr: StoredRotation = { ...r, phase: 'overlap' };
      await this.saveRotation(nr);
      await fs.rm(join(this.opts.dir, NEXT_DIR), { recursive: true, force: true });
      this.ca = ca;
      this.next = undefined;
      this.rotation = nr;
      this.changed();
      this.log.info(
        { root: ca.root.subject, dropAt: iso(r.dropAt) },
        'root rotation: issuing under the new root; the old root stays trusted until the overlap ends',
      );
      this.scheduleRotation();
      return;
    }
    const ca = await this.ca.withoutRoot(r.oldRootFingerprint256);
    await saveCa(this.opts.dir, ca);
    await this.saveRotation(undefined);
    this.ca = ca;
    this.rotation = undefined;
    this.changed();
    this.log.info({ root: ca.root.subject }, 'root rotation complete: the old root left the trust bundle');
  }

  rotationState(): RotationState | undefined {
    const r = this.rotation;
    return r
      ? {
          kind: 'root',
          phase: r.phase,
          startedAt: iso(r.startedAt),
          switchAt: iso(r.switchAt),
          dropAt: iso(r.dropAt),
          oldRootFingerprint256: r.oldRootFingerprint256,
          newRootFingerprint256: r.newRootFingerprint256,
        }
      : undefined;
  }

  // ---- expiry ----

  /** Warns about CA certificates near expiry; rotates the intermediate itself when it can. */
  private checkExpiry(): void {
    if (this.closed) return;
    const now = this.clock.now();
    const interLeft = this.ca.intermediate.info.notAfter.getTime() - now;
    const canRotate =
      this.ca.exportKeys().rootKeyPem !== undefined && this.rotation?.phase !== 'distributing';
    if (interLeft < AUTO_ROTATE_INTERMEDIATE_MS && canRotate)
      void this.rotateIntermediate('the intermediate expires within 30 days').catch((e: unknown) =>
        this.log.error({ err: errorMessage(e) }, 'automatic intermediate rotation failed'),
      );
    else if (interLeft < WARN_INTERMEDIATE_MS)
      this.log.warn(
        { intermediateNotAfter: this.ca.intermediate.info.notAfter },
        'the intermediate CA expires soon and cannot be rotated here (root key offline); supply a new one',
      );
    for (const r of this.ca.roots)
      if (
        r.info.notAfter.getTime() - now < WARN_ROOT_MS &&
        r.fingerprint256 !== this.rotation?.oldRootFingerprint256
      )
        this.log.warn(
          { root: r.subject, notAfter: r.info.notAfter },
          'a trusted root expires within 90 days: rotate it (trellis ca rotate --root)',
        );
    const t = this.clock.setTimeout(() => {
      this.timers.delete(t);
      this.checkExpiry();
    }, 3_600_000);
    t.unref?.();
    this.timers.add(t);
  }

  // ---- reporting ----

  private entryState(e: Entry, now: number): WorkloadCertState {
    if (now >= e.notAfter) return 'expired';
    const life = e.notAfter - e.issuedAt;
    const age = now - e.issuedAt;
    if (age > life * 0.75) return 'overdue';
    if (e.issuerFingerprint256 !== this.ca.intermediate.fingerprint256) return 'old-issuer';
    if (age > life * 0.6) return 'renewal-due';
    return 'valid';
  }

  /** Everything `trellis certs` shows. */
  report(): unknown {
    const now = this.clock.now();
    this.forgetOld(now);
    const d = this.ca.describe();
    const r = this.rotation;
    const rootRole = (fp: string): string =>
      fp === d.roots[0]?.fingerprint256
        ? 'issuing'
        : r && fp === r.newRootFingerprint256
          ? 'next (rotation: distributing)'
          : r && fp === r.oldRootFingerprint256
            ? `retiring (dropped ${iso(r.dropAt)})`
            : 'trusted';
    return {
      trustDomain: this.trustDomain,
      now: iso(now),
      workloadCertTtlSeconds: this.workloadTtlMs / 1000,
      ca: {
        roots: d.roots.map((x) => ({ ...x, role: rootRole(x.fingerprint256) })),
        intermediate: d.intermediate,
      },
      rotation: this.rotationState() ?? null,
      warnThresholds: { intermediateSeconds: WARN_INTERMEDIATE_MS / 1000, rootSeconds: WARN_ROOT_MS / 1000 },
      trustBundlePem: this.ca.trustBundlePem(),
      items: [...this.entries.values()]
        .sort(
          (a, b) =>
            a.spiffeId.localeCompare(b.spiffeId) || (a.instance ?? '').localeCompare(b.instance ?? ''),
        )
        .map((e): IssuedEntry & { state: WorkloadCertState } => ({
          spiffeId: e.spiffeId,
          ...(e.instance !== undefined ? { instance: e.instance } : {}),
          serialNumber: e.serialNumber,
          issuer: e.issuer,
          issuerFingerprint256: e.issuerFingerprint256,
          notBefore: iso(e.notBefore),
          notAfter: iso(e.notAfter),
          firstIssuedAt: iso(e.firstIssuedAt),
          lastRenewalAt: iso(e.issuedAt),
          renewals: e.renewals,
          truncated: e.truncated,
          state: this.entryState(e, now),
          chainPem: e.chainPem,
        })),
    };
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    for (const w of [...this.watchers]) w();
  }
}
