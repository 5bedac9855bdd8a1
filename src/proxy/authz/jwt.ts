// JWT verification with node:crypto only: JWKS parsing (RSA, EC, OKP public keys), signature check
// for RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA, then exp/nbf/iat (with skew), iss, aud.
// `alg: none` and every HMAC alg are refused (a JWKS holds public keys: HS* would be the classic
// key-confusion attack). Pure apart from crypto; time is passed in.
import type { KeyObject } from 'node:crypto';
// node:crypto without its ESM namespace, whose getters load webcrypto (docs/sidecar.md "Memory").
const { createPublicKey, verify: cryptoVerify, constants } = process.getBuiltinModule('node:crypto');

export type JwtAlg =
  'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

interface AlgSpec {
  readonly kty: 'RSA' | 'EC' | 'OKP';
  readonly hash: string | null;
  readonly crv?: string;
  readonly pss?: boolean;
}

const ALGS: Readonly<Record<JwtAlg, AlgSpec>> = {
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', hash: 'sha256', crv: 'P-256' },
  ES384: { kty: 'EC', hash: 'sha384', crv: 'P-384' },
  ES512: { kty: 'EC', hash: 'sha512', crv: 'P-521' },
  EdDSA: { kty: 'OKP', hash: null },
};

/** One usable public key of a JWKS. */
export interface VerifyKey {
  readonly kid?: string;
  readonly alg?: string;
  readonly kty: 'RSA' | 'EC' | 'OKP';
  readonly crv?: string;
  readonly key: KeyObject;
}

export interface JwksKeys {
  readonly keys: readonly VerifyKey[];
}

/** Largest token accepted (bytes of the compact form). */
export const MAX_TOKEN_BYTES = 16 * 1024;

const PUBLIC_FIELDS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

/**
 * Parses a JWKS document (`{"keys": [...]}`). Keys that cannot verify signatures (`oct` secrets,
 * `use: enc`, unknown kty) are skipped; a document with no usable key is an error.
 */
export function parseJwks(text: string): JwksKeys {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`JWKS is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error('JWKS must be an object with a "keys" array');
  const keys: VerifyKey[] = [];
  list.forEach((raw: unknown, i) => {
    if (raw === null || typeof raw !== 'object') throw new Error(`JWKS keys[${i}] is not an object`);
    const jwk = raw as Record<string, unknown>;
    const kty = jwk['kty'];
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return;
    if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return;
    const pub: Record<string, unknown> = {};
    for (const f of PUBLIC_FIELDS[kty] ?? []) pub[f] = jwk[f];
    let key: KeyObject;
    try {
      key = createPublicKey({ key: pub as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch (e) {
      throw new Error(
        `JWKS keys[${i}] (${kty}) is not a valid public key: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    keys.push({
      kty,
      key,
      ...(typeof jwk['kid'] === 'string' && { kid: jwk['kid'] }),
      ...(typeof jwk['alg'] === 'string' && { alg: jwk['alg'] }),
      ...(typeof jwk['crv'] === 'string' && { crv: jwk['crv'] }),
    });
  });
  if (keys.length === 0) throw new Error('JWKS has no usable public signing key (RSA, EC or OKP)');
  return { keys };
}

export interface JwtCheck {
  /** Required `iss`. */
  readonly issuer: string;
  /** When non-empty, `aud` must name one of these. */
  readonly audiences: readonly string[];
  readonly clockSkewSec: number;
}

export type JwtFailure =
  | 'malformed'
  | 'too_large'
  | 'unsupported_alg'
  | 'unknown_kid'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'wrong_issuer'
  | 'wrong_audience';

export type JwtResult =
  | { readonly ok: true; readonly claims: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly reason: JwtFailure; readonly detail: string };

const fail = (reason: JwtFailure, detail: string): JwtResult => ({ ok: false, reason, detail });

const B64URL = /^[A-Za-z0-9_-]*$/;

function decodeJson(part: string): Record<string, unknown> | undefined {
  if (!B64URL.test(part)) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Just the payload of a compact JWT, unverified (for picking a provider by `iss`). */
export function peekIssuer(token: string): string | undefined {
  const a = token.indexOf('.');
  const b = token.indexOf('.', a + 1);
  if (a < 0 || b < 0) return undefined;
  const iss = decodeJson(token.slice(a + 1, b))?.['iss'];
  return typeof iss === 'string' ? iss : undefined;
}

function keyFits(k: VerifyKey, alg: JwtAlg, spec: AlgSpec): boolean {
  if (k.kty !== spec.kty) return false;
  if (k.alg !== undefined && k.alg !== alg) return false;
  if (spec.crv !== undefined && k.crv !== spec.crv) return false;
  return true;
}

function signatureOk(k: VerifyKey, spec: AlgSpec, signed: Buffer, sig: Buffer): boolean {
  try {
    if (spec.kty === 'OKP') return cryptoVerify(null, signed, k.key, sig);
    if (spec.kty === 'EC')
      return cryptoVerify(spec.hash, signed, { key: k.key, dsaEncoding: 'ieee-p1363' }, sig);
    if (spec.pss)
      return cryptoVerify(
        spec.hash,
        signed,
        {
          key: k.key,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        },
        sig,
      );
    return cryptoVerify(spec.hash, signed, k.key, sig);
  } catch {
    return false;
  }
}

const numClaim = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

/** Verifies a compact JWS against the keys and the checks, at `nowSec` (seconds since the epoch). */
export function verifyJwt(token: string, jwks: JwksKeys, check: JwtCheck, nowSec: number): JwtResult {
  if (token.length > MAX_TOKEN_BYTES) return fail('too_large', `token longer than ${MAX_TOKEN_BYTES} bytes`);
  const parts = token.split('.');
  if (parts.length !== 3)
    return fail('malformed', 'a JWT has three dot-separated parts (JWE is not accepted)');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJson(h);
  const claims = decodeJson(p);
  if (header === undefined || claims === undefined || !B64URL.test(s))
    return fail('malformed', 'header or payload is not base64url JSON');
  const alg = header['alg'];
  if (typeof alg !== 'string' || !Object.hasOwn(ALGS, alg))
    return fail(
      'unsupported_alg',
      `alg ${JSON.stringify(alg)} is not accepted (asymmetric algorithms only; never none or HS*)`,
    );
  if (header['crit'] !== undefined) return fail('malformed', 'crit header parameters are not supported');
  const spec = ALGS[alg as JwtAlg];
  const kid = header['kid'];
  const candidates = jwks.keys.filter(
    (k) => keyFits(k, alg as JwtAlg, spec) && (typeof kid !== 'string' || k.kid === kid),
  );
  if (candidates.length === 0)
    return fail(
      'unknown_kid',
      typeof kid === 'string' ? `no ${alg} key with kid ${JSON.stringify(kid)}` : `no ${alg} key`,
    );
  const signed = Buffer.from(`${h}.${p}`, 'latin1');
  const sig = Buffer.from(s, 'base64url');
  if (!candidates.some((k) => signatureOk(k, spec, signed, sig)))
    return fail('bad_signature', 'signature does not verify');

  const skew = check.clockSkewSec;
  const exp = numClaim(claims['exp']);
  const nbf = numClaim(claims['nbf']);
  const iat = numClaim(claims['iat']);
  if (claims['exp'] !== undefined && exp === undefined) return fail('malformed', 'exp is not a number');
  if (exp !== undefined && nowSec >= exp + skew) return fail('expired', 'the token has expired');
  if (nbf !== undefined && nowSec + skew < nbf)
    return fail('not_yet_valid', 'the token is not valid yet (nbf)');
  if (iat !== undefined && nowSec + skew < iat) return fail('issued_in_future', 'iat is in the future');
  if (claims['iss'] !== check.issuer) return fail('wrong_issuer', 'iss is not the expected issuer');
  if (check.audiences.length > 0) {
    const aud = claims['aud'];
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!auds.some((a) => typeof a === 'string' && check.audiences.includes(a)))
      return fail('wrong_audience', 'aud names none of the accepted audiences');
  }
  return { ok: true, claims };
}
