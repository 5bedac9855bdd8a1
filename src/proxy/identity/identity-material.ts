// The sidecar identity's data: the material in force (key, chain, bundle; TLS context and peer
// verifier made once, on first use), the shapes of the control plane's answers and of /certs, and
// the check of a certificate answer. The renewal and trust-bundle watch are in sidecar-identity.ts,
// which re-exports the public names.
import { createSecureContext, type SecureContext } from 'node:tls';
import { pemBlocks } from '../../security/der.js';
import { PeerVerifier } from '../../security/workload-identity.js';
// node:crypto without its ESM namespace, whose getters load webcrypto (docs/sidecar.md "Memory").
const { X509Certificate } = process.getBuiltinModule('node:crypto');

/** The identity in force: key, chain and trust bundle (PEM, in memory only) and what they say. */
export interface IdentityMaterial {
  readonly spiffeId: string;
  /** PKCS#8 PEM of the private key: for TLS contexts only; never log, send or write it. */
  readonly keyPem: string;
  /** Leaf then intermediate. */
  readonly certChainPem: string;
  /** Every trusted root. */
  readonly trustBundlePem: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 fingerprint of the intermediate that issued the leaf. */
  readonly issuerFingerprint256: string;
  /** A TLS context with key, chain and bundle (made once per material, on first use). */
  secureContext(): SecureContext;
  /** A verifier for peers' chains against this trust bundle (made once per material). */
  verifier(): PeerVerifier;
}

export type IdentityChange = 'issued' | 'renewed' | 'trust-bundle';

/** What the mTLS listener and upstream code consume. */
export interface IdentityProvider {
  /** The identity in force, or undefined before the first certificate arrived. */
  current(): IdentityMaterial | undefined;
  /** Resolves with the first identity (at once when there is one). */
  whenReady(): Promise<IdentityMaterial>;
  /** Called after every change (new certificate, or new trust bundle); returns an unsubscribe. */
  onChange(cb: (m: IdentityMaterial, why: IdentityChange) => void): () => void;
}

export type IdentityFetch = (
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

/** `GET /certs` on the admin endpoint: no key material. */
export interface IdentityStatus {
  readonly enabled: boolean;
  readonly state: 'starting' | 'ok' | 'expired' | 'disabled';
  readonly spiffeId?: string;
  readonly serialNumber?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly issuerFingerprint256?: string;
  readonly nextRenewalAt?: string;
  readonly lastRenewalAt?: string;
  readonly renewals?: number;
  readonly failures?: number;
  readonly lastError?: string;
  readonly trustBundle?: { readonly etag: string; readonly roots: number };
  readonly token?: { readonly source: string; readonly tokenId?: string; readonly expiresAt?: string };
  readonly reason?: string;
}

export interface CertAnswer {
  spiffeId: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  chainPem: string;
  trustBundlePem: string;
  etag: string;
  issuer: { fingerprint256: string };
}
export interface BundleAnswer {
  trustBundlePem: string;
  etag: string;
  issuer: { fingerprint256: string };
}

export class Material implements IdentityMaterial {
  private ctx: SecureContext | undefined;
  private ver: PeerVerifier | undefined;
  constructor(
    readonly spiffeId: string,
    readonly keyPem: string,
    readonly certChainPem: string,
    readonly trustBundlePem: string,
    readonly serialNumber: string,
    readonly notBefore: Date,
    readonly notAfter: Date,
    readonly issuerFingerprint256: string,
  ) {}
  secureContext(): SecureContext {
    return (this.ctx ??= createSecureContext({
      key: this.keyPem,
      cert: this.certChainPem,
      ca: this.trustBundlePem,
      minVersion: 'TLSv1.3',
    }));
  }
  verifier(): PeerVerifier {
    return (this.ver ??= new PeerVerifier(this.trustBundlePem));
  }
  withBundle(bundle: string): Material {
    return new Material(
      this.spiffeId,
      this.keyPem,
      this.certChainPem,
      bundle,
      this.serialNumber,
      this.notBefore,
      this.notAfter,
      this.issuerFingerprint256,
    );
  }
  /** Keeps the key out of logs, JSON and inspect. */
  toJSON(): unknown {
    return { spiffeId: this.spiffeId, serialNumber: this.serialNumber, notAfter: this.notAfter };
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `IdentityMaterial(${this.spiffeId}, serial ${this.serialNumber}, until ${this.notAfter.toISOString()})`;
  }
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Checks a certificate answer: the leaf is for our key, and the chain verifies against the bundle. */
export function checkCertAnswer(a: CertAnswer, keyPem: string, spki: Buffer, now: number): Material {
  const ders = pemBlocks(a.chainPem, 'CERTIFICATE');
  if (ders.length < 2) throw new Error('the control plane sent no intermediate with the certificate');
  const leaf = new X509Certificate(ders[0] as Buffer);
  const inter = new X509Certificate(ders[1] as Buffer);
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(spki))
    throw new Error("the certificate from the control plane is not for this sidecar's key");
  const v = new PeerVerifier(a.trustBundlePem).verify(a.chainPem, a.spiffeId, 'server', now);
  if (!v.ok) throw new Error(`the certificate from the control plane does not verify: ${v.error}`);
  return new Material(
    a.spiffeId,
    keyPem,
    a.chainPem,
    a.trustBundlePem,
    a.serialNumber,
    new Date(a.notBefore),
    new Date(a.notAfter),
    inter.fingerprint256,
  );
}

/** The /certs answer of a sidecar running without a token (plaintext). */
export function disabledIdentityStatus(): IdentityStatus {
  return {
    enabled: false,
    state: 'disabled',
    reason:
      'no bootstrap token (--token-file, TRELLIS_TOKEN_FILE or TRELLIS_TOKEN): no workload certificate, traffic is plaintext',
  };
}
