// The workload (sidecar) side of identity: an ECDSA P-256 key made in-process (it never leaves),
// a PKCS#10 CSR for the workload's SPIFFE ID, when to renew, and checking a peer's certificate
// chain and SPIFFE ID for mutual TLS. Only node:crypto and the small DER code: no ASN.1 library in
// the sidecar, and per-handshake checks reuse what was verified before (roots, intermediates).

import type { KeyObject } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { err, ok, type Result } from '../common/result.js';
import { bitString, boolTrue, octetString, oid, pemBlocks, seq, set, smallInt, tlv, toPem } from './der.js';
import { KEY_USAGE, OID, parseCertInfo, type CertInfo } from './cert-info.js';
import { parseSpiffeId, parseWorkloadId, type WorkloadId } from './spiffe.js';
// node:crypto without its ESM namespace, whose getters load webcrypto (docs/sidecar.md "Memory").
const { createPublicKey, generateKeyPairSync, sign, X509Certificate } =
  process.getBuiltinModule('node:crypto');
type X509Certificate = InstanceType<typeof X509Certificate>;

// ---- key and CSR ----

export interface WorkloadKey {
  readonly privateKey: KeyObject;
  /** PKCS#8 PEM, for tls.createSecureContext only: keep it in memory, never write or send it. */
  readonly keyPem: string;
  readonly publicSpki: Buffer;
}

export function generateWorkloadKey(): WorkloadKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return Object.freeze({
    privateKey,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicSpki: publicKey.export({ type: 'spki', format: 'der' }),
  });
}

/**
 * A PKCS#10 CSR (PEM) for `id`, signed with `key`: empty subject, the SPIFFE ID as the one URI SAN
 * in an extensionRequest. The CA ignores the names and issues the identity the token is bound to;
 * they are there so the CSR says what the workload expects.
 */
export function buildCsr(key: WorkloadKey, id: WorkloadId | string): string {
  const uri = typeof id === 'string' ? parseWorkloadId(id).uri : id.uri;
  const san = seq(tlv(0x86, Buffer.from(uri, 'latin1')));
  const extensions = seq(seq(oid(OID.subjectAltName), boolTrue(), octetString(san)));
  const attributes = tlv(0xa0, seq(oid(OID.extensionRequest), set(extensions)));
  const info = seq(smallInt(0), seq(), key.publicSpki, attributes);
  const signature = sign('sha256', info, { key: key.privateKey, dsaEncoding: 'der' });
  return toPem('CERTIFICATE REQUEST', seq(info, seq(oid(OID.ecdsaWithSha256)), bitString(signature)));
}

// ---- rotation ----

/** Fraction of the lifetime at which to renew, before jitter. */
export const RENEW_AT = 0.5;
/** Renewal is spread uniformly over RENEW_AT +/- RENEW_JITTER of the lifetime. */
export const RENEW_JITTER = 0.05;

/**
 * When to renew a certificate valid over [notBefore, notAfter]: at 45-55 % of its lifetime, from
 * `random` (in [0, 1)), so that workloads started together do not renew together. Pure.
 */
export function renewalTime(notBefore: Date | number, notAfter: Date | number, random: number): number {
  const nb = +notBefore;
  const life = +notAfter - nb;
  const r = Math.min(Math.max(random, 0), 1);
  return nb + Math.floor(life * (RENEW_AT - RENEW_JITTER + 2 * RENEW_JITTER * r));
}

/** Milliseconds from `now` until renewal is due (0 when already due). */
export function renewalDelay(
  notBefore: Date | number,
  notAfter: Date | number,
  now: number,
  random: number,
): number {
  return Math.max(0, renewalTime(notBefore, notAfter, random) - now);
}

// ---- verifying a peer ----

export type ChainInput = string | readonly (Buffer | string)[] | PeerCertificate;
export type PeerRole = 'server' | 'client';

export interface VerifiedPeer {
  readonly spiffeId: string;
  readonly notAfter: Date;
}

interface Parsed {
  x509: X509Certificate;
  info: CertInfo;
}

/** Max certificates accepted in a presented chain (leaf + intermediates). */
export const MAX_CHAIN = 4;
const CACHE_LIMIT = 128;

function toDerList(chain: ChainInput): Buffer[] {
  if (typeof chain === 'string') return pemBlocks(chain, 'CERTIFICATE');
  if (Array.isArray(chain))
    return chain.flatMap((c: Buffer | string) => (typeof c === 'string' ? pemBlocks(c, 'CERTIFICATE') : [c]));
  // A tls PeerCertificate from getPeerCertificate(true): follow issuerCertificate until it loops.
  const out: Buffer[] = [];
  const seen = new Set<unknown>();
  for (let c: PeerCertificate | undefined = chain as PeerCertificate; c && c.raw && !seen.has(c);) {
    seen.add(c);
    out.push(c.raw);
    const up: PeerCertificate | undefined = (c as PeerCertificate & { issuerCertificate?: PeerCertificate })
      .issuerCertificate;
    c = up;
  }
  return out;
}

/**
 * Verifies peers against a trust bundle. Roots are parsed once; intermediates, once verified, are
 * remembered, so a handshake costs one leaf parse and one signature check.
 */
export class PeerVerifier {
  private readonly roots: Parsed[];
  private readonly verifiedIssuers = new Map<string, { p: Parsed; root: Parsed }>();

  constructor(
    trustBundlePem: string,
    private readonly opts: { trustDomain?: string } = {},
  ) {
    const blocks = pemBlocks(trustBundlePem, 'CERTIFICATE');
    if (blocks.length === 0) throw new Error('trustBundle: no PEM CERTIFICATE blocks');
    this.roots = blocks.map((der, i) => {
      const p = { x509: new X509Certificate(der), info: parseCertInfo(der) };
      if (!p.info.basicConstraints?.ca) throw new Error(`trustBundle[${i}]: not a CA certificate`);
      return p;
    });
  }

  /**
   * Checks `chain` (leaf first) chains to a bundle root, every certificate is valid at `now`, the
   * leaf is not a CA, may sign (digitalSignature), carries the EKU for `role`, and has exactly one
   * URI SAN, equal to `expectedId` (or any valid SPIFFE ID of the trust domain when null).
   */
  verify(
    chain: ChainInput,
    expectedId: string | null,
    role: PeerRole,
    now: number = Date.now(),
  ): Result<VerifiedPeer, string> {
    let ders: Buffer[];
    try {
      ders = toDerList(chain);
    } catch (e) {
      return err(`unreadable certificate chain: ${(e as Error).message}`);
    }
    if (ders.length === 0) return err('the peer presented no certificate');
    if (ders.length > MAX_CHAIN)
      return err(`the peer's chain has ${ders.length} certificates; at most ${MAX_CHAIN}`);
    let leaf: Parsed;
    try {
      leaf = { x509: new X509Certificate(ders[0] as Buffer), info: parseCertInfo(ders[0] as Buffer) };
    } catch (e) {
      return err(`unreadable leaf certificate: ${(e as Error).message}`);
    }
    const li = leaf.info;
    if (li.uriSans.length !== 1)
      return err(
        `the peer certificate has ${li.uriSans.length} URI SANs; a SPIFFE certificate has exactly one`,
      );
    const id = li.uriSans[0] as string;
    if (expectedId !== null && id !== expectedId)
      return err(`the peer is ${JSON.stringify(id)}, expected ${JSON.stringify(expectedId)}`);
    if (expectedId === null) {
      try {
        const parsed = parseSpiffeId(id, 'peer URI SAN');
        if (this.opts.trustDomain !== undefined && parsed.trustDomain !== this.opts.trustDomain)
          return err(`the peer ${JSON.stringify(id)} is not in trust domain "${this.opts.trustDomain}"`);
      } catch (e) {
        return err((e as Error).message);
      }
    }
    if (li.basicConstraints?.ca) return err('the peer certificate is a CA certificate, not a workload one');
    if (li.keyUsage !== undefined && !(li.keyUsage & KEY_USAGE.digitalSignature))
      return err('the peer certificate may not sign (keyUsage lacks digitalSignature)');
    if (li.keyUsage !== undefined && li.keyUsage & (KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign))
      return err('the peer certificate has CA key usages (keyCertSign/cRLSign)');
    const eku = role === 'server' ? OID.serverAuth : OID.clientAuth;
    if (!li.extKeyUsage?.includes(eku))
      return err(`the peer certificate is not for ${role} use (extendedKeyUsage lacks ${role}Auth)`);
    const window = validity(li, now, 'peer certificate');
    if (window) return err(window);

    // Walk up: presented intermediates first, then the roots. An intermediate already seen to be
    // signed by a bundle root is remembered, so the common leaf + intermediate chain costs one
    // signature check per handshake.
    let current = leaf;
    let below = 0; // CA certificates between the leaf and `current`
    const path: { der: Buffer; p: Parsed }[] = [];
    for (let depth = 1; depth <= MAX_CHAIN; depth++) {
      const root = this.roots.find((r) => issuedBy(current, r));
      if (root) {
        const bad = validity(root.info, now, 'root certificate') ?? pathLen(root, below);
        if (bad) return err(bad);
        if (path.length === 1) this.remember(path[0] as { der: Buffer; p: Parsed }, root);
        return ok({ spiffeId: id, notAfter: li.notAfter });
      }
      let next: Parsed | undefined;
      for (const der of ders.slice(1)) {
        const cached = this.verifiedIssuers.get(der.toString('base64'));
        const cand = cached?.p ?? parseOrUndefined(der);
        if (!cand || !issuedBy(current, cand)) continue;
        if (!cand.info.basicConstraints?.ca) return err('an intermediate in the chain is not a CA');
        if (cand.info.keyUsage !== undefined && !(cand.info.keyUsage & KEY_USAGE.keyCertSign))
          return err('an intermediate in the chain may not sign certificates (no keyCertSign)');
        const bad = validity(cand.info, now, 'intermediate certificate') ?? pathLen(cand, below);
        if (bad) return err(bad);
        if (cached && below === 0 && this.roots.includes(cached.root)) {
          const rootBad = validity(cached.root.info, now, 'root certificate') ?? pathLen(cached.root, 1);
          return rootBad ? err(rootBad) : ok({ spiffeId: id, notAfter: li.notAfter });
        }
        path.push({ der, p: cand });
        next = cand;
        break;
      }
      if (!next) return err('the peer certificate does not chain to a root in the trust bundle');
      current = next;
      below++;
    }
    return err('the peer chain is too long');
  }

  private remember(i: { der: Buffer; p: Parsed }, root: Parsed): void {
    if (this.verifiedIssuers.size >= CACHE_LIMIT) this.verifiedIssuers.clear();
    this.verifiedIssuers.set(i.der.toString('base64'), { p: i.p, root });
  }

  /**
   * A tls `checkServerIdentity` that accepts exactly `expectedId` (the Service's SPIFFE ID), in
   * place of hostname checks. Use with `ca: trustBundle` and `rejectUnauthorized: true`.
   */
  checkServerIdentity(expectedId: string): (host: string, cert: PeerCertificate) => Error | undefined {
    return (_host, cert) => {
      const r = this.verify(cert, expectedId, 'server');
      if (r.ok) return undefined;
      const e = new Error(`mTLS: server identity rejected: ${r.error}`) as Error & { code: string };
      e.code = 'ERR_TRELLIS_PEER_IDENTITY';
      return e;
    };
  }
}

function parseOrUndefined(der: Buffer): Parsed | undefined {
  try {
    return { x509: new X509Certificate(der), info: parseCertInfo(der) };
  } catch {
    return undefined;
  }
}

const issuerKeys = new WeakMap<X509Certificate, KeyObject>();
function issuedBy(child: Parsed, issuer: Parsed): boolean {
  if (!child.x509.checkIssued(issuer.x509)) return false;
  let key = issuerKeys.get(issuer.x509);
  if (!key) issuerKeys.set(issuer.x509, (key = issuer.x509.publicKey));
  return child.x509.verify(key);
}

function validity(info: CertInfo, now: number, what: string): string | undefined {
  if (now < info.notBefore.getTime())
    return `the ${what} is not valid before ${info.notBefore.toISOString()}`;
  if (now > info.notAfter.getTime()) return `the ${what} expired at ${info.notAfter.toISOString()}`;
  return undefined;
}

function pathLen(ca: Parsed, below: number): string | undefined {
  const max = ca.info.basicConstraints?.pathLen;
  return max !== undefined && below > max
    ? `the chain is longer than a CA's pathLen (${max}) allows`
    : undefined;
}

/**
 * One-shot form of PeerVerifier.verify for a peer that must be `expectedId` (role 'server' by
 * default: the mTLS client checking the server it dialled). Build a PeerVerifier once per trust
 * bundle instead when verifying per handshake.
 */
export function verifyPeerSpiffeId(
  certChain: ChainInput,
  expectedId: string,
  trustBundlePem: string,
  opts: { role?: PeerRole; now?: number } = {},
): Result<VerifiedPeer, string> {
  return new PeerVerifier(trustBundlePem).verify(certChain, expectedId, opts.role ?? 'server', opts.now);
}

/** The SPKI of a private key's public half (for matching a certificate to the key that asked for it). */
export function publicSpkiOf(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
}
