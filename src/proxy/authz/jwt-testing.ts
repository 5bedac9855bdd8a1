// Test support: key pairs as JWKS and a signer for compact JWTs (node:crypto), shared by the unit
// and integration tests of authentication.
import { constants, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { JwtAlg } from './jwt.js';

export interface TestKey {
  readonly kid: string;
  readonly alg: JwtAlg;
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
}

export function makeKey(alg: JwtAlg, kid: string): TestKey {
  const pair =
    alg.startsWith('RS') || alg.startsWith('PS')
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', {
            namedCurve: alg === 'ES256' ? 'P-256' : alg === 'ES384' ? 'P-384' : 'P-521',
          });
  const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return { kid, alg, privateKey: pair.privateKey, jwk };
}

export const jwksOf = (...keys: TestKey[]): string => JSON.stringify({ keys: keys.map((k) => k.jwk) });

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/** A compact JWS signed with `key` (header overrides allow forging `alg`/`kid`). */
export function signJwt(
  key: TestKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  const h = b64({ alg: key.alg, typ: 'JWT', kid: key.kid, ...header });
  const p = b64(claims);
  const data = Buffer.from(`${h}.${p}`);
  const hash = key.alg === 'EdDSA' ? null : `sha${key.alg.slice(2)}`;
  const sig =
    key.alg === 'EdDSA'
      ? sign(null, data, key.privateKey)
      : key.alg.startsWith('ES')
        ? sign(hash, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
        : key.alg.startsWith('PS')
          ? sign(hash, data, {
              key: key.privateKey,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
            })
          : sign(hash, data, key.privateKey);
  return `${h}.${p}.${sig.toString('base64url')}`;
}
