// The mesh CA: a root (self-signed, 10 years by default, pathLen 1) and an intermediate (1 year,
// pathLen 0) that signs workload certificates. Everything is ECDSA P-256 with SHA-256.
//
// signWorkloadCsr() is the security boundary: it checks the CSR's self-signature and key, then
// IGNORES every name the CSR asks for and issues exactly the identity the caller passes (the one
// the bootstrap token is bound to) as the only URI SAN, with an empty subject.

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import { TrellisError } from '../common/errors.js';
import {
  bitString,
  boolTrue,
  children,
  decodeOid,
  DerError,
  expectTag,
  octetString,
  oid,
  pemBlocks,
  readTlv,
  seq,
  TAG,
  tlv,
  toPem,
  type Tlv,
} from './der.js';
import { KEY_USAGE, OID, parseCertInfo, type CertInfo } from './cert-info.js';
import { trustDomainId, validateTrustDomain, type WorkloadId } from './spiffe.js';
import { EC_P256, subtle, x509, type CryptoKey } from './x509-lib.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const DEFAULT_ROOT_TTL_MS = 3652 * DAY;
export const DEFAULT_INTERMEDIATE_TTL_MS = 365 * DAY;
export const DEFAULT_WORKLOAD_TTL_MS = DAY;
/** Leaves start this long before "now", so peers with a slow clock accept them at once. */
export const CLOCK_SKEW_BACKDATE_MS = 5 * 60_000;
export const MAX_CSR_BYTES = 16 * 1024;
/** Shortest and longest workload lifetimes accepted. */
/** 10 s is for tests of rotation; real meshes use hours. */
export const MIN_WORKLOAD_TTL_MS = 10_000;
export const MAX_WORKLOAD_TTL_MS = 90 * DAY;

/** A CA problem; `details.field` says which input. Code BAD_REQUEST for CSRs, INVALID_CONFIG for CA material. */
export class CaError extends TrellisError {
  constructor(code: 'BAD_REQUEST' | 'INVALID_CONFIG', field: string, message: string) {
    super(code, `${field}: ${message}`, { field });
    this.name = 'CaError';
  }
}

/** A parsed CA certificate with what signing and checks need, computed once. */
export interface CaCert {
  readonly pem: string;
  readonly der: Buffer;
  readonly x509: X509Certificate;
  readonly info: CertInfo;
  readonly subject: string;
  /** The subject as encoded, reused byte for byte as the issuer name of what this CA signs. */
  readonly name: x509.Name;
  /** Subject key identifier, hex. */
  readonly ski: string;
  readonly fingerprint256: string;
}

export interface IssuedCertificate {
  readonly spiffeId: string;
  /** The leaf alone. */
  readonly certPem: string;
  /** Leaf then intermediate: what a workload presents in TLS. */
  readonly chainPem: string;
  /** Every trusted root (PEM): what peers verify against. */
  readonly trustBundlePem: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** True when the lifetime was cut short to end with the intermediate (or root). */
  readonly truncated: boolean;
  /** What the CSR asked for and did not get (for audit logs); the issued identity is always spiffeId. */
  readonly ignoredRequest: { subject: string; uriSans: string[]; otherSans: number };
}

export interface CaDescription {
  trustDomain: string;
  roots: { subject: string; notBefore: string; notAfter: string; fingerprint256: string }[];
  intermediate: {
    subject: string;
    issuer: string;
    notBefore: string;
    notAfter: string;
    fingerprint256: string;
  };
}

// ---- helpers ----

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1), hex. */
export function keyIdentifier(spkiDer: Uint8Array): string {
  const spki = expectTag(readTlv(spkiDer, 0), TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const bits = expectTag(children(spkiDer, spki)[1], TAG.BIT_STRING, 'subjectPublicKey');
  return createHash('sha1')
    .update(spkiDer.subarray(bits.start + 1, bits.end))
    .digest('hex');
}

/** A positive 128-bit-entropy serial: one byte 0x01-0x7f, then 16 random bytes (17 octets, within RFC 5280's 20). */
export function randomSerialHex(): string {
  const b = randomBytes(17);
  b[0] = (b[0] as number) & 0x7f || 1;
  return b.toString('hex');
}

export function parseCaCert(pem: string, field: string): CaCert {
  let blocks: Buffer[];
  try {
    blocks = pemBlocks(pem, 'CERTIFICATE');
  } catch (e) {
    throw new CaError('INVALID_CONFIG', field, (e as Error).message);
  }
  if (blocks.length !== 1)
    throw new CaError(
      'INVALID_CONFIG',
      field,
      `expected exactly one PEM CERTIFICATE block, found ${blocks.length}`,
    );
  const der = blocks[0] as Buffer;
  let cert: X509Certificate;
  let info: CertInfo;
  try {
    cert = new X509Certificate(der);
    info = parseCertInfo(der);
  } catch (e) {
    throw new CaError('INVALID_CONFIG', field, `not a valid X.509 certificate (${(e as Error).message})`);
  }
  if (!info.basicConstraints?.ca)
    throw new CaError(
      'INVALID_CONFIG',
      field,
      'is not a CA certificate (basicConstraints CA:TRUE is missing)',
    );
  if (info.keyUsage !== undefined && !(info.keyUsage & KEY_USAGE.keyCertSign))
    throw new CaError(
      'INVALID_CONFIG',
      field,
      'its keyUsage does not include keyCertSign, so it may not sign certificates',
    );
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return Object.freeze({
    pem: toPem('CERTIFICATE', der),
    der,
    x509: cert,
    info,
    subject: cert.subject.replace(/\n/g, ', '),
    name: new x509.X509Certificate(der).subjectName,
    ski: keyIdentifier(spki),
    fingerprint256: cert.fingerprint256,
  });
}

/** Reads a private key (PKCS#8 or SEC1 PEM) and checks it is ECDSA P-256 and belongs to `cert`. */
function loadSigningKey(keyPem: string, cert: CaCert, field: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new CaError(
      'INVALID_CONFIG',
      field,
      `not a readable unencrypted PEM private key (PKCS#8 "BEGIN PRIVATE KEY" expected): ${(e as Error).message}`,
    );
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1')
    throw new CaError(
      'INVALID_CONFIG',
      field,
      `the key is ${key.asymmetricKeyType === 'ec' ? `EC on ${curve}` : key.asymmetricKeyType}; Trellis signs with ECDSA P-256 (prime256v1) keys only`,
    );
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const fromCert = cert.x509.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert))
    throw new CaError(
      'INVALID_CONFIG',
      field,
      `this private key does not match the certificate "${cert.subject}"`,
    );
  return key;
}

async function toCryptoKey(key: KeyObject): Promise<CryptoKey> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return subtle.importKey('pkcs8', der, EC_P256, false, ['sign']);
}

function newKeyPair(): { privateKey: KeyObject; publicSpki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicSpki: publicKey.export({ type: 'spki', format: 'der' }) };
}

function keyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function caExtensions(pathLen: number, ski: string, trustDomain: string, aki?: string): x509.Extension[] {
  const exts: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLen, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    new x509.SubjectKeyIdentifierExtension(ski),
    new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(trustDomain).uri }]),
  ];
  if (aki) exts.push(new x509.AuthorityKeyIdentifierExtension(aki));
  return exts;
}

function checkTtl(ttlMs: number, field: string, min: number, max: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs < min || ttlMs > max)
    throw new CaError('INVALID_CONFIG', field, `must be between ${min} and ${max} ms, got ${ttlMs}`);
}

function dedupeRoots(roots: CaCert[]): CaCert[] {
  const seen = new Set<string>();
  return roots.filter((r) => !seen.has(r.fingerprint256) && seen.add(r.fingerprint256));
}

// ---- the CA ----

export interface GenerateOptions {
  trustDomain: string;
  rootTtlMs?: number;
  intermediateTtlMs?: number;
  now?: number;
}

export interface LoadOptions {
  trustDomain: string;
  rootCertPem: string;
  /** Needed only to sign a new intermediate (when none is given, or to rotate it). */
  rootKeyPem?: string;
  intermediateCertPem?: string;
  intermediateKeyPem?: string;
  /** Further trusted roots (PEM, several blocks allowed): old or new roots during a rotation overlap. */
  extraRootsPem?: string;
  /** When the intermediate is missing and generated here. */
  intermediateTtlMs?: number;
  now?: number;
}

export class CertificateAuthority {
  private constructor(
    readonly trustDomain: string,
    readonly root: CaCert,
    private readonly rootKey: KeyObject | undefined,
    readonly intermediate: CaCert,
    private readonly intermediateKey: KeyObject,
    private readonly signer: CryptoKey,
    /** Every trusted root, the CA's own root first. */
    readonly roots: readonly CaCert[],
  ) {}

  /** A fresh root and intermediate for `trustDomain`. */
  static async generate(opts: GenerateOptions): Promise<CertificateAuthority> {
    const td = validateTrustDomain(opts.trustDomain);
    const now = opts.now ?? Date.now();
    const rootTtl = opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS;
    checkTtl(rootTtl, 'rootTtlMs', DAY, 100 * 366 * DAY);
    const r = newKeyPair();
    const rootSki = keyIdentifier(r.publicSpki);
    const rootSigner = await toCryptoKey(r.privateKey);
    const rootPub = await subtle.importKey('spki', r.publicSpki, EC_P256, true, ['verify']);
    const rootCert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: `CN=Trellis Root CA ${rootSki.slice(0, 8)}, O=Trellis`,
      issuer: `CN=Trellis Root CA ${rootSki.slice(0, 8)}, O=Trellis`,
      notBefore: new Date(now - CLOCK_SKEW_BACKDATE_MS),
      notAfter: new Date(now + rootTtl),
      signingAlgorithm: EC_P256,
      publicKey: rootPub,
      signingKey: rootSigner,
      extensions: caExtensions(1, rootSki, td),
    });
    const root = parseCaCert(rootCert.toString('pem'), 'root');
    const inter = await signIntermediate(td, root, rootSigner, opts.intermediateTtlMs, now);
    return CertificateAuthority.assemble(td, root, r.privateKey, inter.cert, inter.key, []);
  }

  /**
   * A CA from user-supplied (or stored) material. With only the root's certificate and key, an
   * intermediate is generated (persist it: see ca-store.ts). Checks that each key matches its
   * certificate, both are CAs, the intermediate is signed by the root and both are valid now.
   */
  static async load(opts: LoadOptions): Promise<CertificateAuthority> {
    const td = validateTrustDomain(opts.trustDomain);
    const now = opts.now ?? Date.now();
    const root = parseCaCert(opts.rootCertPem, 'rootCert');
    if (!root.x509.checkIssued(root.x509) || !root.x509.verify(root.x509.publicKey))
      throw new CaError('INVALID_CONFIG', 'rootCert', 'is not self-signed; give the root of the chain');
    checkValidNow(root, 'rootCert', now);
    const rootKey =
      opts.rootKeyPem !== undefined ? loadSigningKey(opts.rootKeyPem, root, 'rootKey') : undefined;
    let inter: CaCert;
    let interKey: KeyObject;
    if (opts.intermediateCertPem === undefined) {
      if (opts.intermediateKeyPem !== undefined)
        throw new CaError('INVALID_CONFIG', 'intermediateKey', 'given without intermediateCert');
      if (!rootKey)
        throw new CaError(
          'INVALID_CONFIG',
          'rootKey',
          'is required when no intermediate certificate and key are given (Trellis signs its own intermediate with it)',
        );
      const made = await signIntermediate(td, root, await toCryptoKey(rootKey), opts.intermediateTtlMs, now);
      inter = made.cert;
      interKey = made.key;
    } else {
      if (opts.intermediateKeyPem === undefined)
        throw new CaError('INVALID_CONFIG', 'intermediateKey', 'is required with intermediateCert');
      inter = parseCaCert(opts.intermediateCertPem, 'intermediateCert');
      interKey = loadSigningKey(opts.intermediateKeyPem, inter, 'intermediateKey');
      if (!inter.x509.checkIssued(root.x509) || !inter.x509.verify(root.x509.publicKey))
        throw new CaError(
          'INVALID_CONFIG',
          'intermediateCert',
          `is not signed by the root "${root.subject}" (issuer is "${inter.x509.issuer.replace(/\n/g, ', ')}")`,
        );
      const rootPathLen = root.info.basicConstraints?.pathLen;
      if (rootPathLen !== undefined && rootPathLen < 1)
        throw new CaError(
          'INVALID_CONFIG',
          'rootCert',
          'has pathLen 0, so it may not have an intermediate CA below it',
        );
      checkValidNow(inter, 'intermediateCert', now);
    }
    const extra: CaCert[] = [];
    if (opts.extraRootsPem) {
      for (const [i, der] of pemBlocks(opts.extraRootsPem, 'CERTIFICATE').entries())
        extra.push(parseCaCert(toPem('CERTIFICATE', der), `extraRoots[${i}]`));
    }
    return CertificateAuthority.assemble(td, root, rootKey, inter, interKey, extra);
  }

  private static async assemble(
    td: string,
    root: CaCert,
    rootKey: KeyObject | undefined,
    inter: CaCert,
    interKey: KeyObject,
    extraRoots: CaCert[],
  ): Promise<CertificateAuthority> {
    const signer = await toCryptoKey(interKey);
    return new CertificateAuthority(
      td,
      root,
      rootKey,
      inter,
      interKey,
      signer,
      dedupeRoots([root, ...extraRoots]),
    );
  }

  /** The trust bundle: every trusted root, PEM. */
  trustBundlePem(): string {
    return this.roots.map((r) => r.pem).join('');
  }

  /** The same CA trusting further roots too (the overlap of a root rotation). */
  withExtraRoots(rootsPem: string): Promise<CertificateAuthority> {
    const extra = pemBlocks(rootsPem, 'CERTIFICATE').map((der, i) =>
      parseCaCert(toPem('CERTIFICATE', der), `extraRoots[${i}]`),
    );
    return CertificateAuthority.assemble(
      this.trustDomain,
      this.root,
      this.rootKey,
      this.intermediate,
      this.intermediateKey,
      [...this.roots.slice(1), ...extra],
    );
  }

  /** The same CA without the extra root whose SHA-256 fingerprint is given (ending an overlap). */
  withoutRoot(fingerprint256: string): Promise<CertificateAuthority> {
    if (fingerprint256 === this.root.fingerprint256)
      throw new CaError(
        'INVALID_CONFIG',
        'fingerprint256',
        "the CA's own root cannot be dropped from its bundle",
      );
    const rest = this.roots.slice(1).filter((r) => r.fingerprint256 !== fingerprint256);
    return CertificateAuthority.assemble(
      this.trustDomain,
      this.root,
      this.rootKey,
      this.intermediate,
      this.intermediateKey,
      rest,
    );
  }

  /** A new intermediate signed by the same root (requires the root key). */
  async rotateIntermediate(
    opts: { intermediateTtlMs?: number; now?: number } = {},
  ): Promise<CertificateAuthority> {
    if (!this.rootKey)
      throw new CaError('INVALID_CONFIG', 'rootKey', 'is not loaded, so a new intermediate cannot be signed');
    const now = opts.now ?? Date.now();
    const made = await signIntermediate(
      this.trustDomain,
      this.root,
      await toCryptoKey(this.rootKey),
      opts.intermediateTtlMs,
      now,
    );
    return CertificateAuthority.assemble(this.trustDomain, this.root, this.rootKey, made.cert, made.key, [
      ...this.roots.slice(1),
    ]);
  }

  /** PEM of the keys, for ca-store.ts only. */
  exportKeys(): { rootKeyPem: string | undefined; intermediateKeyPem: string } {
    return {
      rootKeyPem: this.rootKey && keyPem(this.rootKey),
      intermediateKeyPem: keyPem(this.intermediateKey),
    };
  }

  describe(): CaDescription {
    const d = (c: CaCert) => ({
      subject: c.subject,
      notBefore: c.info.notBefore.toISOString(),
      notAfter: c.info.notAfter.toISOString(),
      fingerprint256: c.fingerprint256,
    });
    return {
      trustDomain: this.trustDomain,
      roots: this.roots.map(d),
      intermediate: { ...d(this.intermediate), issuer: this.intermediate.x509.issuer.replace(/\n/g, ', ') },
    };
  }

  /**
   * Signs a workload CSR for `identity` (the identity the caller authenticated, e.g. the bootstrap
   * token's). The CSR only contributes its public key, after its self-signature is checked.
   */
  async signWorkloadCsr(
    csr: string | Uint8Array,
    identity: WorkloadId,
    opts: { ttlMs?: number; now?: number } = {},
  ): Promise<IssuedCertificate> {
    const now = opts.now ?? Date.now();
    const ttl = opts.ttlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    checkTtl(ttl, 'ttlMs', MIN_WORKLOAD_TTL_MS, MAX_WORKLOAD_TTL_MS);
    if (identity.trustDomain !== this.trustDomain)
      throw new CaError(
        'BAD_REQUEST',
        'identity',
        `${identity.uri} is in trust domain "${identity.trustDomain}"; this CA issues for "${this.trustDomain}" only`,
      );
    const req = checkCsr(csr);
    const chainEnd = Math.min(this.intermediate.info.notAfter.getTime(), this.root.info.notAfter.getTime());
    if (chainEnd <= now)
      throw new CaError(
        'INVALID_CONFIG',
        'intermediateCert',
        `expired at ${new Date(chainEnd).toISOString()}; rotate it`,
      );
    const notBefore = Math.max(now - CLOCK_SKEW_BACKDATE_MS, this.intermediate.info.notBefore.getTime());
    const wanted = now + ttl;
    const notAfter = Math.min(wanted, chainEnd);
    const serialNumber = randomSerialHex();
    const tbs = leafTbs({
      serialHex: serialNumber,
      issuerDer: this.intermediate.info.subjectDer,
      notBefore,
      notAfter,
      spki: req.spki,
      uri: identity.uri,
      aki: this.intermediate.ski,
    });
    const sig = sign('sha256', tbs, { key: this.intermediateKey, dsaEncoding: 'der' });
    const leafDer = seq(tbs, seq(oid(OID.ecdsaWithSha256)), bitString(sig));
    const certPem = toPem('CERTIFICATE', leafDer);
    return Object.freeze({
      spiffeId: identity.uri,
      certPem,
      chainPem: certPem + this.intermediate.pem,
      trustBundlePem: this.trustBundlePem(),
      serialNumber,
      notBefore: new Date(Math.floor(notBefore / 1000) * 1000),
      notAfter: new Date(Math.floor(notAfter / 1000) * 1000),
      truncated: notAfter < wanted,
      ignoredRequest: req.requested,
    });
  }

  /**
   * A serving certificate for a server of the mesh itself (the control plane): a P-256 key made
   * here, the SPIFFE ID `identity` as URI SAN plus DNS and IP SANs (so clients may check either),
   * EKU serverAuth only. Not reachable from any request: the caller names everything.
   */
  issueServingCertificate(p: {
    identity: WorkloadId;
    dnsNames?: readonly string[];
    ipAddresses?: readonly string[];
    ttlMs?: number;
    now?: number;
  }): IssuedCertificate & { readonly keyPem: string } {
    const now = p.now ?? Date.now();
    const ttl = p.ttlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    checkTtl(ttl, 'ttlMs', MIN_WORKLOAD_TTL_MS, MAX_WORKLOAD_TTL_MS);
    if (p.identity.trustDomain !== this.trustDomain)
      throw new CaError(
        'BAD_REQUEST',
        'identity',
        `${p.identity.uri} is in trust domain "${p.identity.trustDomain}"; this CA issues for "${this.trustDomain}" only`,
      );
    const dnsNames = [...new Set(p.dnsNames ?? [])];
    for (const d of dnsNames)
      if (!DNS_NAME.test(d))
        throw new CaError('BAD_REQUEST', 'dnsNames', `"${d}" is not a DNS name (letters, digits, '-', '.')`);
    const ips = [...new Set(p.ipAddresses ?? [])].map((ip) => {
      const b = ipBytes(ip);
      if (!b) throw new CaError('BAD_REQUEST', 'ipAddresses', `"${ip}" is not an IPv4 or IPv6 address`);
      return b;
    });
    const chainEnd = Math.min(this.intermediate.info.notAfter.getTime(), this.root.info.notAfter.getTime());
    if (chainEnd <= now)
      throw new CaError(
        'INVALID_CONFIG',
        'intermediateCert',
        `expired at ${new Date(chainEnd).toISOString()}; rotate it`,
      );
    const { privateKey, publicSpki } = newKeyPair();
    const notBefore = Math.max(now - CLOCK_SKEW_BACKDATE_MS, this.intermediate.info.notBefore.getTime());
    const wanted = now + ttl;
    const notAfter = Math.min(wanted, chainEnd);
    const serialNumber = randomSerialHex();
    const tbs = leafTbs({
      serialHex: serialNumber,
      issuerDer: this.intermediate.info.subjectDer,
      notBefore,
      notAfter,
      spki: publicSpki,
      uri: p.identity.uri,
      aki: this.intermediate.ski,
      serving: { dnsNames, ips },
    });
    const sig = sign('sha256', tbs, { key: this.intermediateKey, dsaEncoding: 'der' });
    const certPem = toPem('CERTIFICATE', seq(tbs, seq(oid(OID.ecdsaWithSha256)), bitString(sig)));
    return Object.freeze({
      spiffeId: p.identity.uri,
      certPem,
      chainPem: certPem + this.intermediate.pem,
      trustBundlePem: this.trustBundlePem(),
      keyPem: keyPem(privateKey),
      serialNumber,
      notBefore: new Date(Math.floor(notBefore / 1000) * 1000),
      notAfter: new Date(Math.floor(notAfter / 1000) * 1000),
      truncated: notAfter < wanted,
      ignoredRequest: { subject: '', uriSans: [], otherSans: 0 },
    });
  }
}

function checkValidNow(c: CaCert, field: string, now: number): void {
  if (c.info.notAfter.getTime() <= now)
    throw new CaError('INVALID_CONFIG', field, `expired at ${c.info.notAfter.toISOString()}`);
  if (c.info.notBefore.getTime() > now + CLOCK_SKEW_BACKDATE_MS)
    throw new CaError('INVALID_CONFIG', field, `is not valid before ${c.info.notBefore.toISOString()}`);
}

async function signIntermediate(
  td: string,
  root: CaCert,
  rootSigner: CryptoKey,
  ttlMs: number | undefined,
  now: number,
): Promise<{ cert: CaCert; key: KeyObject }> {
  const ttl = ttlMs ?? DEFAULT_INTERMEDIATE_TTL_MS;
  checkTtl(ttl, 'intermediateTtlMs', HOUR, 100 * 366 * DAY);
  const k = newKeyPair();
  const ski = keyIdentifier(k.publicSpki);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: `CN=Trellis Intermediate CA ${ski.slice(0, 8)}, O=Trellis`,
    issuer: root.name,
    notBefore: new Date(Math.max(now - CLOCK_SKEW_BACKDATE_MS, root.info.notBefore.getTime())),
    notAfter: new Date(Math.min(now + ttl, root.info.notAfter.getTime())),
    signingAlgorithm: EC_P256,
    publicKey: await subtle.importKey('spki', k.publicSpki, EC_P256, true, ['verify']),
    signingKey: rootSigner,
    extensions: caExtensions(0, ski, td, root.ski),
  });
  return { cert: parseCaCert(cert.toString('pem'), 'intermediate'), key: k.privateKey };
}

interface CheckedCsr {
  spki: Buffer;
  requested: { subject: string; uriSans: string[]; otherSans: number };
}

/**
 * Parses a CSR (strict DER), checks its key (ECDSA P-256 only: see docs/security.md for why RSA is
 * refused), its signature algorithm (ecdsa-with-SHA256) and its self-signature.
 */
export function checkCsr(csr: string | Uint8Array): CheckedCsr {
  const size = typeof csr === 'string' ? Buffer.byteLength(csr) : csr.length;
  if (size > MAX_CSR_BYTES)
    throw new CaError('BAD_REQUEST', 'csr', `is ${size} bytes; at most ${MAX_CSR_BYTES} are accepted`);
  let der: Buffer;
  if (typeof csr === 'string') {
    let blocks: Buffer[];
    try {
      blocks = [...pemBlocks(csr, 'CERTIFICATE REQUEST'), ...pemBlocks(csr, 'NEW CERTIFICATE REQUEST')];
    } catch (e) {
      throw new CaError('BAD_REQUEST', 'csr', (e as Error).message);
    }
    if (blocks.length !== 1)
      throw new CaError(
        'BAD_REQUEST',
        'csr',
        `expected one PEM "CERTIFICATE REQUEST" block, found ${blocks.length}`,
      );
    der = blocks[0] as Buffer;
  } else der = Buffer.from(csr);
  let info: Tlv, spkiTlv: Tlv, algOid: string, sigBytes: Buffer, attrs: Tlv | undefined, subject: Tlv;
  try {
    const top = expectTag(readTlv(der, 0), TAG.SEQUENCE, 'CertificationRequest');
    if (top.next !== der.length) throw new DerError('trailing bytes after the request');
    const [i, alg, sig, ...more] = children(der, top);
    if (more.length) throw new DerError('extra fields in CertificationRequest');
    info = expectTag(i, TAG.SEQUENCE, 'certificationRequestInfo');
    const f = children(der, info);
    const version = expectTag(f[0], TAG.INTEGER, 'version');
    if (version.end - version.start !== 1 || der[version.start] !== 0)
      throw new DerError('version must be 0 (v1)');
    subject = expectTag(f[1], TAG.SEQUENCE, 'subject');
    spkiTlv = expectTag(f[2], TAG.SEQUENCE, 'subjectPKInfo');
    attrs = f[3];
    if (attrs && attrs.tag !== 0xa0) throw new DerError('attributes must be [0]');
    algOid = decodeOid(
      der,
      expectTag(children(der, expectTag(alg, TAG.SEQUENCE, 'signatureAlgorithm'))[0], TAG.OID, 'algorithm'),
    );
    const s = expectTag(sig, TAG.BIT_STRING, 'signature');
    if (der[s.start] !== 0) throw new DerError('signature has unused bits');
    sigBytes = der.subarray(s.start + 1, s.end);
  } catch (e) {
    throw new CaError('BAD_REQUEST', 'csr', `is not a PKCS#10 certificate request (${(e as Error).message})`);
  }
  const spki = Buffer.from(der.subarray(spkiTlv.at, spkiTlv.end));
  let pub: KeyObject;
  try {
    pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw new CaError('BAD_REQUEST', 'csr.publicKey', `cannot be read (${(e as Error).message})`);
  }
  const type = pub.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = pub.asymmetricKeyDetails?.modulusLength ?? 0;
    const weak = bits < 2048 ? ', which is too weak for any use,' : '';
    throw new CaError(
      'BAD_REQUEST',
      'csr.publicKey',
      `is RSA-${bits}${weak} but Trellis issues workload certificates for ECDSA P-256 (prime256v1) keys only`,
    );
  }
  if (type !== 'ec')
    throw new CaError(
      'BAD_REQUEST',
      'csr.publicKey',
      `is ${type}; Trellis issues workload certificates for ECDSA P-256 keys only`,
    );
  const curve = pub.asymmetricKeyDetails?.namedCurve;
  if (curve !== 'prime256v1')
    throw new CaError(
      'BAD_REQUEST',
      'csr.publicKey',
      `is on curve ${curve}; only P-256 (prime256v1) is accepted`,
    );
  if (algOid !== OID.ecdsaWithSha256)
    throw new CaError(
      'BAD_REQUEST',
      'csr.signatureAlgorithm',
      `must be ecdsa-with-SHA256 (${OID.ecdsaWithSha256}), got ${algOid}`,
    );
  let good = false;
  try {
    good = verify('sha256', der.subarray(info.at, info.end), pub, sigBytes);
  } catch {
    good = false;
  }
  if (!good)
    throw new CaError(
      'BAD_REQUEST',
      'csr.signature',
      'does not verify: the CSR was altered or not signed by its own key',
    );
  let requested: CheckedCsr['requested'];
  try {
    requested = { subject: describeName(der, subject), ...requestedSans(der, attrs) };
  } catch {
    requested = { subject: '(unreadable)', uriSans: [], otherSans: 0 };
  }
  return { spki, requested };
}

const NAME_OIDS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
};

/** A Name as "CN=a, O=b" (for logs only; nothing is decided on it). */
function describeName(der: Buffer, name: Tlv): string {
  const parts: string[] = [];
  for (const rdn of children(der, name))
    for (const atv of children(der, rdn)) {
      const [t, v] = children(der, atv);
      if (!t || !v) continue;
      const key = decodeOid(der, t);
      parts.push(`${NAME_OIDS[key] ?? key}=${der.subarray(v.start, v.end).toString('utf8')}`);
    }
  return parts.join(', ');
}

function requestedSans(der: Buffer, attrs: Tlv | undefined): { uriSans: string[]; otherSans: number } {
  const uriSans: string[] = [];
  let otherSans = 0;
  for (const attr of attrs ? children(der, attrs) : []) {
    const [t, values] = children(der, attr);
    if (!t || !values || decodeOid(der, t) !== OID.extensionRequest) continue;
    for (const exts of children(der, values))
      for (const ext of children(der, exts)) {
        const parts = children(der, ext);
        if (!parts[0] || decodeOid(der, parts[0]) !== OID.subjectAltName) continue;
        const val = parts[parts.length - 1] as Tlv;
        const names = readTlv(der, val.start, val.end);
        for (const n of children(der, names)) {
          if (n.tag === 0x86) uriSans.push(der.subarray(n.start, n.end).toString('latin1'));
          else otherSans++;
        }
      }
  }
  return { uriSans, otherSans };
}

function derTime(ms: number): Buffer {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const iso = d.toISOString(); // 2026-01-02T03:04:05.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050
    ? tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2) + 'Z', 'latin1'))
    : tlv(TAG.GENERALIZED_TIME, Buffer.from(digits + 'Z', 'latin1'));
}

function ext(oidStr: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(oidStr), boolTrue(), octetString(value)) : seq(oid(oidStr), octetString(value));
}

const LEAF_STATIC_EXTS = Buffer.concat([
  ext(OID.basicConstraints, true, seq()),
  ext(OID.keyUsage, true, tlv(TAG.BIT_STRING, Buffer.from([0x07, 0x80]))), // digitalSignature
  ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
]);

/** A serving leaf (the control plane's own): serverAuth only, DNS and IP SANs beside the SPIFFE ID. */
const SERVING_STATIC_EXTS = Buffer.concat([
  ext(OID.basicConstraints, true, seq()),
  ext(OID.keyUsage, true, tlv(TAG.BIT_STRING, Buffer.from([0x07, 0x80]))), // digitalSignature
  ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
]);

/** 4 or 16 bytes of an IPv4/IPv6 literal (for an iPAddress SAN); undefined if not an IP. */
export function ipBytes(ip: string): Buffer | undefined {
  const kind = isIP(ip);
  if (kind === 4) return Buffer.from(ip.split('.').map(Number));
  if (kind !== 6) return undefined;
  const [head = '', tail] = ip.split('::') as [string, string | undefined];
  const groups = (part: string): number[] => {
    const out: number[] = [];
    for (const g of part === '' ? [] : part.split(':')) {
      if (g.includes('.')) {
        const b = g.split('.').map(Number);
        out.push(((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0));
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
}

const DNS_NAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;

/** The TBSCertificate of a workload leaf (X.509 v3), DER; with `serving`, a serverAuth-only leaf with DNS/IP SANs. */
function leafTbs(p: {
  serialHex: string;
  issuerDer: Buffer;
  notBefore: number;
  notAfter: number;
  spki: Buffer;
  uri: string;
  aki: string;
  serving?: { dnsNames: readonly string[]; ips: readonly Buffer[] };
}): Buffer {
  return seq(
    tlv(0xa0, tlv(TAG.INTEGER, Buffer.from([2]))),
    tlv(TAG.INTEGER, Buffer.from(p.serialHex, 'hex')),
    seq(oid(OID.ecdsaWithSha256)),
    p.issuerDer,
    seq(derTime(p.notBefore), derTime(p.notAfter)),
    seq(), // empty subject: the identity is the SAN
    p.spki,
    tlv(
      0xa3,
      seq(
        p.serving ? SERVING_STATIC_EXTS : LEAF_STATIC_EXTS,
        ext(OID.subjectKeyIdentifier, false, octetString(Buffer.from(keyIdentifier(p.spki), 'hex'))),
        ext(OID.authorityKeyIdentifier, false, seq(tlv(0x80, Buffer.from(p.aki, 'hex')))),
        // Critical because the subject is empty (RFC 5280 4.2.1.6).
        ext(
          OID.subjectAltName,
          true,
          seq(
            tlv(0x86, Buffer.from(p.uri, 'latin1')),
            ...(p.serving?.dnsNames ?? []).map((d) => tlv(0x82, Buffer.from(d, 'latin1'))),
            ...(p.serving?.ips ?? []).map((ip) => tlv(0x87, ip)),
          ),
        ),
      ),
    ),
  );
}
