import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { type JwtAlg, parseJwks, peekIssuer, verifyJwt } from './jwt.js';
import { jwksOf, makeKey, signJwt } from './jwt-testing.js';

const NOW = 1_800_000_000;
const CHECK = { issuer: 'https://issuer.test', audiences: ['shop'], clockSkewSec: 60 };
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: 'https://issuer.test',
  sub: 'alice',
  aud: 'shop',
  iat: NOW - 10,
  exp: NOW + 600,
  ...extra,
});

describe('verifyJwt', () => {
  const algs: JwtAlg[] = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
  for (const alg of algs)
    it(`accepts a valid ${alg} token and returns its claims`, () => {
      const k = makeKey(alg, `k-${alg}`);
      const r = verifyJwt(signJwt(k, claims()), parseJwks(jwksOf(k)), CHECK, NOW);
      assert.equal(r.ok, true, JSON.stringify(r));
      if (r.ok) assert.equal(r.claims['sub'], 'alice');
    });

  const key = makeKey('ES256', 'one');
  const jwks = parseJwks(jwksOf(key));
  const reason = (token: string, check = CHECK, keys = jwks, now = NOW) => {
    const r = verifyJwt(token, keys, check, now);
    return r.ok ? 'ok' : r.reason;
  };

  it('expiry, not-before and issued-at honour the clock skew', () => {
    assert.equal(reason(signJwt(key, claims({ exp: NOW - 61 }))), 'expired');
    assert.equal(reason(signJwt(key, claims({ exp: NOW - 30 }))), 'ok');
    assert.equal(reason(signJwt(key, claims({ nbf: NOW + 120 }))), 'not_yet_valid');
    assert.equal(reason(signJwt(key, claims({ nbf: NOW + 30 }))), 'ok');
    assert.equal(reason(signJwt(key, claims({ iat: NOW + 600 }))), 'issued_in_future');
    assert.equal(reason(signJwt(key, claims({ exp: 'never' }))), 'malformed');
  });

  it('checks iss and aud (string or list)', () => {
    assert.equal(reason(signJwt(key, claims({ iss: 'https://evil.test' }))), 'wrong_issuer');
    assert.equal(reason(signJwt(key, claims({ aud: 'other' }))), 'wrong_audience');
    assert.equal(reason(signJwt(key, claims({ aud: ['other', 'shop'] }))), 'ok');
    assert.equal(reason(signJwt(key, claims({ aud: undefined }))), 'wrong_audience');
    assert.equal(reason(signJwt(key, claims({ aud: undefined })), { ...CHECK, audiences: [] }), 'ok');
  });

  it('refuses a bad signature and a token signed by another key with the same kid', () => {
    const t = signJwt(key, claims());
    const tampered = t.slice(0, t.lastIndexOf('.') + 1) + signJwt(key, claims({ sub: 'bob' })).split('.')[2];
    assert.equal(reason(tampered), 'bad_signature');
    const other = makeKey('ES256', 'one');
    assert.equal(reason(signJwt(other, claims())), 'bad_signature');
    const [h, , s] = t.split('.') as [string, string, string];
    const p = Buffer.from(JSON.stringify(claims({ sub: 'root' }))).toString('base64url');
    assert.equal(reason(`${h}.${p}.${s}`), 'bad_signature');
  });

  it('refuses alg none and HMAC algs (key confusion with the public key as secret)', () => {
    const h = Buffer.from(JSON.stringify({ alg: 'none', kid: 'one' })).toString('base64url');
    const p = Buffer.from(JSON.stringify(claims())).toString('base64url');
    assert.equal(reason(`${h}.${p}.`), 'unsupported_alg');
    const rsa = makeKey('RS256', 'rsa');
    const pem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' });
    const hh = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'rsa' })).toString('base64url');
    const mac = createHmac('sha256', pem).update(`${hh}.${p}`).digest('base64url');
    assert.equal(reason(`${hh}.${p}.${mac}`, CHECK, parseJwks(jwksOf(rsa))), 'unsupported_alg');
  });

  it('refuses an ES256-signed token whose header claims another alg, and a key whose alg differs', () => {
    const t = signJwt(key, claims(), { alg: 'ES384' });
    assert.equal(reason(t), 'unknown_kid');
    const rsaKey = makeKey('RS256', 'r');
    const asPs = signJwt({ ...rsaKey, alg: 'PS256' }, claims());
    assert.equal(reason(asPs, CHECK, parseJwks(jwksOf(rsaKey))), 'unknown_kid');
  });

  it('selects the key by kid; an unknown kid is reported as such (so the JWKS can be refreshed)', () => {
    const k2 = makeKey('ES256', 'two');
    const both = parseJwks(jwksOf(key, k2));
    assert.equal(reason(signJwt(k2, claims()), CHECK, both), 'ok');
    assert.equal(reason(signJwt(k2, claims())), 'unknown_kid');
    const noKid = signJwt(k2, claims(), { kid: undefined });
    assert.equal(reason(noKid, CHECK, both), 'ok');
  });

  it('refuses malformed tokens', () => {
    for (const t of ['', 'a.b', 'a.b.c.d.e', '!!.!!.!!', 'e30.e30.', `${'a'.repeat(17000)}.b.c`])
      assert.notEqual(reason(t), 'ok', t);
  });

  it('peekIssuer reads iss without verifying', () => {
    assert.equal(peekIssuer(signJwt(key, claims())), 'https://issuer.test');
    assert.equal(peekIssuer('garbage'), undefined);
  });
});

describe('parseJwks', () => {
  it('skips secrets and encryption keys; refuses a set with no usable key', () => {
    const k = makeKey('RS256', 'a');
    const keys = parseJwks(
      JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }, { ...k.jwk, use: 'enc' }, k.jwk] }),
    );
    assert.equal(keys.keys.length, 1);
    assert.throws(() => parseJwks(JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })), /no usable/);
    assert.throws(() => parseJwks('nope'), /not JSON/);
    assert.throws(() => parseJwks('{}'), /"keys" array/);
  });

  it('never keeps private key material', () => {
    const k = makeKey('ES256', 'p');
    const priv = k.privateKey.export({ format: 'jwk' });
    const keys = parseJwks(JSON.stringify({ keys: [{ ...priv, kid: 'p' }] }));
    assert.equal(keys.keys[0]?.key.type, 'public');
  });
});
