// The guard with JWT providers: JWKS from a file loaded on first use (the request waits), key
// rotation (an unknown kid refetches the JWKS), token header removal, several providers by issuer.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import type { ProxyError } from '../pipeline/rescue.js';
import { canonicalAuthority, guardRequest } from './guard.js';
import { parseJwks } from './jwt.js';
import { jwksOf, makeKey, signJwt } from './jwt-testing.js';
import { STRICT_NORMALIZATION } from './normalize-path.js';
import type { JwtProviderConfig, ListenerSecurityConfig } from './types.js';

const now = () => Math.floor(Date.now() / 1000);

function provider(name: string, issuer: string, jwks: JwtProviderConfig['jwks']): JwtProviderConfig {
  return {
    name,
    issuer,
    audiences: [],
    jwks,
    fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
    forward: false,
    clockSkewSec: 60,
    payloadInMetadata: 'jwt_payload',
  };
}

/** Runs the guard to completion: the forwarded path or the error code, and whether it waited. */
function run(sec: ListenerSecurityConfig, headers: string[]): Promise<{ out: string; waited: boolean }> {
  return new Promise((resolve) => {
    let waited = false;
    guardRequest(
      sec,
      { method: 'GET', authority: 'a', target: '/x', headers, localPort: 1, principal: undefined },
      { logger: silentLogger(), listener: 'l', nowMs: Date.now() },
      { done: false, fail: (e) => resolve({ out: (e as ProxyError).code, waited }) },
      () => (waited = true),
      (path) => resolve({ out: path, waited }),
    );
  });
}

describe('guardRequest with JWT', () => {
  it('loads a JWKS file on first use, refetches it when a token names an unknown kid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-jwks-'));
    const file = join(dir, 'jwks.json');
    const k1 = makeKey('RS256', 'k1');
    const k2 = makeKey('ES256', 'k2');
    writeFileSync(file, jwksOf(k1));
    const sec: ListenerSecurityConfig = {
      normalization: STRICT_NORMALIZATION,
      // Periodic refresh every 2 s, refetch on an unknown kid at most every 0.5 s.
      jwt: { providers: [provider('p', 'https://i', { type: 'file', path: file, refreshMs: 2000 })] },
      rbac: [],
    };
    const t1 = signJwt(k1, { iss: 'https://i', sub: 's', exp: now() + 60 });
    const first = await run(sec, ['authorization', `Bearer ${t1}`]);
    assert.deepEqual(first, { out: '/x', waited: true });
    const t2 = signJwt(k2, { iss: 'https://i', sub: 's', exp: now() + 60 });
    assert.equal((await run(sec, ['authorization', `Bearer ${t2}`])).out, 'UNAUTHENTICATED');
    writeFileSync(file, jwksOf(k1, k2)); // rotation: the issuer publishes k2
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(await run(sec, ['authorization', `Bearer ${t2}`]), { out: '/x', waited: true });
    assert.deepEqual(await run(sec, ['authorization', `Bearer ${t1}`]), { out: '/x', waited: false });
  });

  it('removes the token header unless forwarded; picks the provider by issuer; refuses two tokens', async () => {
    const ka = makeKey('ES256', 'a');
    const kb = makeKey('EdDSA', 'b');
    const sec: ListenerSecurityConfig = {
      normalization: STRICT_NORMALIZATION,
      jwt: {
        providers: [
          provider('a', 'https://a', { type: 'inline', keys: parseJwks(jwksOf(ka)) }),
          { ...provider('b', 'https://b', { type: 'inline', keys: parseJwks(jwksOf(kb)) }), forward: true },
        ],
      },
      rbac: [],
    };
    const ta = signJwt(ka, { iss: 'https://a', sub: 's' });
    const tb = signJwt(kb, { iss: 'https://b', sub: 's' });
    const h1 = ['x-a', '1', 'authorization', `Bearer ${ta}`];
    assert.equal((await run(sec, h1)).out, '/x');
    assert.deepEqual(h1, ['x-a', '1']);
    const h2 = ['authorization', `bearer ${tb}`];
    assert.equal((await run(sec, h2)).out, '/x');
    assert.equal(h2.length, 2, 'forwarded');
    assert.equal(
      (await run(sec, ['authorization', `Bearer ${signJwt(kb, { iss: 'https://c' })}`])).out,
      'UNAUTHENTICATED',
    );
    assert.equal(
      (await run(sec, ['authorization', `Bearer ${ta}`, 'authorization', `Bearer ${ta}`])).out,
      'UNAUTHENTICATED',
    );
    assert.equal((await run(sec, ['authorization', 'Basic dTpw'])).out, '/x', 'not a bearer token: no token');
  });

  it('a JWKS that cannot be loaded fails closed with 401 when a token is sent', async () => {
    const sec: ListenerSecurityConfig = {
      normalization: STRICT_NORMALIZATION,
      jwt: {
        providers: [
          provider('p', 'https://i', { type: 'file', path: '/nonexistent/jwks.json', refreshMs: 50 }),
        ],
      },
      rbac: [],
    };
    const k = makeKey('ES256', 'k');
    assert.equal(
      (await run(sec, ['authorization', `Bearer ${signJwt(k, { iss: 'https://i' })}`])).out,
      'UNAUTHENTICATED',
    );
    assert.equal((await run(sec, [])).out, '/x');
  });
});

describe('authority as policies see it', () => {
  it('is lower-cased and loses the trailing dot of a fully qualified name', () => {
    assert.equal(canonicalAuthority('reviews'), 'reviews');
    assert.equal(canonicalAuthority('Reviews.'), 'reviews');
    assert.equal(canonicalAuthority('reviews.:9080'), 'reviews:9080');
    assert.equal(canonicalAuthority('REVIEWS.DEFAULT.:80'), 'reviews.default:80');
    assert.equal(canonicalAuthority('[::1]:80'), '[::1]:80');
    assert.equal(canonicalAuthority(''), '');
  });

  it('a DENY on host reviews also denies reviews. and REVIEWS.', async () => {
    const sec: ListenerSecurityConfig = {
      normalization: STRICT_NORMALIZATION,
      rbac: [
        {
          action: 'DENY',
          policies: [
            {
              name: 'default/no-reviews-host[0]',
              permissions: [
                {
                  t: 'header',
                  h: {
                    name: ':authority',
                    match: { type: 'exact', value: 'reviews', ignoreCase: true },
                    invert: false,
                  },
                },
              ],
              principals: [{ t: 'any' }],
            },
          ],
        },
      ],
    };
    const outcome = (authority: string) =>
      new Promise<string>((resolve) => {
        guardRequest(
          sec,
          { method: 'GET', authority, target: '/x', headers: [], localPort: 1, principal: undefined },
          { logger: silentLogger(), listener: 'l', nowMs: Date.now() },
          { done: false, fail: (e) => resolve((e as ProxyError).code) },
          () => undefined,
          (path) => resolve(path),
        );
      });
    assert.equal(await outcome('other'), '/x');
    for (const host of ['reviews', 'reviews.', 'REVIEWS.', 'Reviews'])
      assert.equal(await outcome(host), 'ACCESS_DENIED', host);
  });
});
