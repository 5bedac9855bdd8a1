// Bootstrap tokens: how a sidecar proves, once, which workload it is, to get its first certificate.
//
// A token is a compact HMAC-SHA256-signed statement "this bearer is workload <ns>/<sa> of trust
// domain <td> until <exp>": `tbt1.<payload, base64url JSON>.<mac, base64url>`. Stateless on purpose:
// the control plane needs no token table (it survives restarts with only the key, kept in the CA
// data dir), and several control-plane replicas sharing the data dir accept each other's tokens.
// The cost is that a single token cannot be revoked before it expires; rotating the key (the
// keyring keeps older keys for verification until dropped) revokes every token at once. See
// docs/security.md.
//
// Token values are secrets: BootstrapToken redacts itself in logs, JSON and util.inspect; only
// reveal() gives the value, to hand to the workload.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { err, ok, type Result } from '../common/result.js';
import { parseWorkloadId, workloadId, type WorkloadId } from './spiffe.js';

export const TOKEN_PREFIX = 'tbt1';
const MAC_CONTEXT = 'trellis-bootstrap-token/v1\n';
export const MAX_TOKEN_LENGTH = 4096;
export const DEFAULT_TOKEN_TTL_MS = 24 * 3_600_000;
export const MAX_TOKEN_TTL_MS = 366 * 24 * 3_600_000;
const KEY_BYTES = 32;

export interface TokenKey {
  /** Short public id (hex), carried in tokens so verification picks the right key. */
  readonly id: string;
  readonly secret: Buffer;
}

/** Signing keys: the first signs new tokens, all verify (older ones stay during a key rotation). */
export class TokenKeyring {
  readonly keys: readonly TokenKey[];
  constructor(secrets: readonly Buffer[]) {
    if (secrets.length === 0) throw new Error('token keyring: at least one key is required');
    this.keys = secrets.map((secret, i) => {
      if (secret.length < KEY_BYTES)
        throw new Error(
          `token keyring: key ${i} has ${secret.length} bytes; at least ${KEY_BYTES} are required`,
        );
      return Object.freeze({
        id: createHmac('sha256', secret).update('key-id').digest('hex').slice(0, 12),
        secret,
      });
    });
  }
  static generateSecret(): Buffer {
    return randomBytes(KEY_BYTES);
  }
  /** A keyring with a new signing key in front of these (the old ones keep verifying). */
  rotated(): TokenKeyring {
    return new TokenKeyring([TokenKeyring.generateSecret(), ...this.keys.map((k) => k.secret)]);
  }
  [inspect.custom](): string {
    return `TokenKeyring(${this.keys.map((k) => k.id).join(', ')})`;
  }
  toJSON(): unknown {
    return { keys: this.keys.map((k) => k.id) };
  }
}

export interface TokenClaims {
  readonly identity: WorkloadId;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  /** Random id of this token: log this, never the token. */
  readonly tokenId: string;
}

/** A token value that does not leak: String(), JSON and inspect show only whose token it is. */
export class BootstrapToken {
  readonly #value: string;
  constructor(
    value: string,
    readonly claims?: TokenClaims,
  ) {
    this.#value = value;
  }
  /** The secret value, to give to the workload (a file, an env var, a `trellis up` child). */
  reveal(): string {
    return this.#value;
  }
  private describe(): string {
    return this.claims
      ? `[bootstrap token ${this.claims.tokenId} for ${this.claims.identity.uri}, expires ${this.claims.expiresAt.toISOString()}]`
      : '[bootstrap token, redacted]';
  }
  toString(): string {
    return this.describe();
  }
  toJSON(): string {
    return this.describe();
  }
  [inspect.custom](): string {
    return this.describe();
  }
}

interface Payload {
  v: 1;
  kid: string;
  td: string;
  ns: string;
  sa: string;
  iat: number;
  exp: number;
  jti: string;
}

function mac(secret: Buffer, payloadB64: string): Buffer {
  return createHmac('sha256', secret).update(MAC_CONTEXT).update(payloadB64).digest();
}

/** Issues a token bound to exactly `identity`, valid for `ttlMs` (default 24 h). */
export function issueToken(
  keyring: TokenKeyring,
  identity: WorkloadId,
  opts: { ttlMs?: number; now?: number } = {},
): BootstrapToken {
  const now = opts.now ?? Date.now();
  const ttl = opts.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
  if (!Number.isFinite(ttl) || ttl < 1000 || ttl > MAX_TOKEN_TTL_MS)
    throw new Error(`ttlMs: must be between 1000 and ${MAX_TOKEN_TTL_MS} ms, got ${ttl}`);
  const key = keyring.keys[0] as TokenKey;
  const iat = Math.floor(now / 1000);
  const payload: Payload = {
    v: 1,
    kid: key.id,
    td: identity.trustDomain,
    ns: identity.namespace,
    sa: identity.serviceAccount,
    iat,
    exp: Math.floor((now + ttl) / 1000),
    jti: randomBytes(9).toString('base64url'),
  };
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const value = `${TOKEN_PREFIX}.${body}.${mac(key.secret, body).toString('base64url')}`;
  return new BootstrapToken(value, claimsOf(payload));
}

function claimsOf(p: Payload): TokenClaims {
  return Object.freeze({
    identity: workloadId(p.td, p.ns, p.sa),
    issuedAt: new Date(p.iat * 1000),
    expiresAt: new Date(p.exp * 1000),
    tokenId: p.jti,
  });
}

/**
 * Verifies a token: well-formed, MAC valid under a key of the ring (constant-time compare), not
 * expired, in `trustDomain`, and, when `expected` is given, bound to exactly that identity.
 * Errors never contain the token.
 */
export function verifyToken(
  keyring: TokenKeyring,
  token: string | BootstrapToken,
  opts: { now?: number; trustDomain?: string; expected?: WorkloadId | string } = {},
): Result<TokenClaims, string> {
  const value = typeof token === 'string' ? token : token.reveal();
  if (typeof value !== 'string' || value.length === 0) return err('no bootstrap token');
  if (value.length > MAX_TOKEN_LENGTH) return err('the bootstrap token is too long');
  const parts = value.split('.');
  if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX)
    return err('not a Trellis bootstrap token (tbt1.<payload>.<mac>)');
  const [, body, macB64] = parts as [string, string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(body) || !/^[A-Za-z0-9_-]{43}$/.test(macB64))
    return err('the bootstrap token is malformed');
  let payload: Payload;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
  } catch {
    return err('the bootstrap token is malformed');
  }
  const key = keyring.keys.find((k) => k.id === payload?.kid);
  // Same work whether or not the key id is known, so timing says nothing about either part.
  const expectedMac = mac((key ?? (keyring.keys[0] as TokenKey)).secret, body);
  const given = Buffer.from(macB64, 'base64url');
  const macOk = given.length === expectedMac.length && timingSafeEqual(given, expectedMac);
  if (!macOk || !key) return err('the bootstrap token is not valid (bad signature or unknown key)');
  if (
    payload.v !== 1 ||
    typeof payload.td !== 'string' ||
    typeof payload.ns !== 'string' ||
    typeof payload.sa !== 'string' ||
    !Number.isInteger(payload.iat) ||
    !Number.isInteger(payload.exp) ||
    typeof payload.jti !== 'string'
  )
    return err('the bootstrap token is malformed');
  let claims: TokenClaims;
  try {
    claims = claimsOf(payload);
  } catch (e) {
    return err(`the bootstrap token names an invalid identity: ${(e as Error).message}`);
  }
  const now = opts.now ?? Date.now();
  if (now >= payload.exp * 1000)
    return err(`the bootstrap token ${payload.jti} expired at ${claims.expiresAt.toISOString()}`);
  if (opts.trustDomain !== undefined && claims.identity.trustDomain !== opts.trustDomain)
    return err(
      `the bootstrap token is for trust domain "${claims.identity.trustDomain}", not "${opts.trustDomain}"`,
    );
  if (opts.expected !== undefined) {
    const want = typeof opts.expected === 'string' ? parseWorkloadId(opts.expected).uri : opts.expected.uri;
    if (want !== claims.identity.uri)
      return err(`the bootstrap token is bound to ${claims.identity.uri}, not ${want}`);
  }
  return ok(claims);
}
