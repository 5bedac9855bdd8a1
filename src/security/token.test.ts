import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { BootstrapToken, issueToken, TokenKeyring, verifyToken } from './token.js';
import { workloadId } from './spiffe.js';

const reviews = workloadId('cluster.local', 'default', 'reviews');
const ratings = workloadId('cluster.local', 'default', 'ratings');
const ring = new TokenKeyring([TokenKeyring.generateSecret()]);

test('a token verifies and names exactly its identity', () => {
  const tok = issueToken(ring, reviews, { ttlMs: 3600_000 });
  const r = verifyToken(ring, tok.reveal(), { trustDomain: 'cluster.local', expected: reviews });
  assert.ok(r.ok);
  assert.equal(r.value.identity.uri, reviews.uri);
  assert.ok(Math.abs(+r.value.expiresAt - Date.now() - 3600_000) < 2000);
});

test('a token for one identity cannot be used for another, nor altered to name it', () => {
  const tok = issueToken(ring, reviews).reveal();
  const r = verifyToken(ring, tok, { expected: ratings });
  assert.match(
    !r.ok ? r.error : '',
    /bound to spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews, not .*ratings/,
  );
  const [p, body, mac] = tok.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
  payload.sa = 'ratings';
  const forged = `${p}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${mac}`;
  const f = verifyToken(ring, forged);
  assert.match(!f.ok ? f.error : '', /not valid \(bad signature or unknown key\)/);
  assert.doesNotMatch(!f.ok ? f.error : '', new RegExp(mac));
});

test('expired, foreign-key, malformed and wrong-trust-domain tokens fail', () => {
  const now = Date.now();
  const tok = issueToken(ring, reviews, { ttlMs: 60_000, now });
  assert.match(String(!verifyToken(ring, tok, { now: now + 61_000 }).ok), /true/);
  const e = verifyToken(ring, tok, { now: now + 61_000 });
  assert.match(!e.ok ? e.error : '', /expired at/);
  const otherRing = new TokenKeyring([TokenKeyring.generateSecret()]);
  assert.equal(verifyToken(otherRing, tok).ok, false);
  for (const bad of [
    '',
    'x',
    'tbt1.a.b',
    'tbt1..',
    `tbt1.${'a'.repeat(5000)}.b`,
    'tbt2.e30.' + 'A'.repeat(43),
  ])
    assert.equal(verifyToken(ring, bad).ok, false, bad);
  assert.match(String(verifyToken(ring, tok, { trustDomain: 'other.org' }).ok), /false/);
});

test('a rotated keyring still accepts tokens of the older key until it is dropped', () => {
  const tok = issueToken(ring, reviews);
  const rotated = ring.rotated();
  assert.equal(verifyToken(rotated, tok).ok, true);
  assert.equal(verifyToken(rotated, issueToken(rotated, reviews)).ok, true);
  const dropped = new TokenKeyring([rotated.keys[0]!.secret]);
  assert.equal(verifyToken(dropped, tok).ok, false);
});

test('token values never show in String, JSON or inspect', () => {
  const tok = issueToken(ring, reviews);
  const secret = tok.reveal();
  const mac = secret.split('.')[2] as string;
  for (const shown of [
    String(tok),
    `${tok}`,
    JSON.stringify({ tok }),
    inspect(tok),
    inspect({ nested: [tok] }),
    inspect(ring),
    JSON.stringify(ring),
  ]) {
    assert.ok(!shown.includes(mac), shown);
    assert.ok(!shown.includes(secret.split('.')[1] as string), shown);
  }
  assert.match(
    String(tok),
    /\[bootstrap token \S+ for spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews, expires/,
  );
  assert.equal(String(new BootstrapToken(secret)), '[bootstrap token, redacted]');
});
