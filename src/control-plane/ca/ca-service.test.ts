import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { pemBlocks } from '../../security/der.js';
import { buildCsr, generateWorkloadKey, verifyPeerSpiffeId } from '../../security/workload-identity.js';
import { CaService, checkWorkloadTtl } from './ca-service.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'trellis-ca-svc-'));

async function open(
  dir: string,
  clock: FakeClock,
  extra: { workloadTtlMs?: number; trustDomain?: string } = {},
) {
  return CaService.open({ dir, logger: silentLogger(), clock, ...extra });
}

function csrFor(uri: string): string {
  return buildCsr(generateWorkloadKey(), uri);
}

test("tokens bind the identity: a CSR asking for another identity gets the token's", async () => {
  const dir = tmp();
  const clock = new FakeClock(Date.now());
  const ca = await open(dir, clock);
  try {
    assert.equal(ca.trustDomain, 'cluster.local');
    const tok = ca.issueToken({ namespace: 'shop', serviceAccount: 'reviews', ttlMs: 3_600_000 });
    assert.doesNotMatch(JSON.stringify({ tok }), /tbt1\./, 'a token does not serialize its value');
    const claims = ca.verifyToken(tok.reveal());
    assert.ok(claims.ok);
    const issued = await ca.sign(
      csrFor('spiffe://cluster.local/ns/shop/sa/admin'),
      claims.value,
      'reviews-1',
    );
    assert.equal(issued.spiffeId, 'spiffe://cluster.local/ns/shop/sa/reviews');
    assert.equal(pemBlocks(issued.chainPem, 'CERTIFICATE').length, 2);
    const v = verifyPeerSpiffeId(issued.chainPem, issued.spiffeId, issued.trustBundlePem, {
      now: clock.now(),
    });
    assert.ok(v.ok, v.ok ? '' : v.error);
    // Lifetime: 24 h by default (from now; notBefore is back-dated for clock skew).
    assert.ok(Math.abs(Date.parse(issued.notAfter) - clock.now() - 86_400_000) < 2000);

    const bad = ca.verifyToken(tok.reveal().slice(0, -2) + 'AA');
    assert.ok(!bad.ok);
    assert.doesNotMatch(bad.error, /tbt1/);
    clock.advance(3_600_001);
    const expired = ca.verifyToken(tok.reveal());
    assert.ok(!expired.ok && /expired/.test(expired.error));

    // The report lists it, by instance, with its chain.
    const r = ca.report() as {
      items: { spiffeId: string; instance: string; state: string; chainPem: string }[];
    };
    assert.equal(r.items.length, 1);
    assert.equal(r.items[0]!.instance, 'reviews-1');
    assert.equal(r.items[0]!.state, 'valid');
    assert.match(r.items[0]!.chainPem, /BEGIN CERTIFICATE/);
    // Past 75 % of its life without renewal: overdue; past the end: expired.
    clock.advance(20 * 3_600_000);
    assert.equal((ca.report() as typeof r).items[0]!.state, 'overdue');
    clock.advance(4 * 3_600_000);
    assert.equal((ca.report() as typeof r).items[0]!.state, 'expired');
  } finally {
    ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad settings are refused with the field and what is valid', async () => {
  const dir = tmp();
  try {
    await assert.rejects(
      open(dir, new FakeClock(), { trustDomain: 'Cluster.Local' }),
      /trustDomain: .*lower case/,
    );
    assert.throws(() => checkWorkloadTtl(5000), /workloadCertTtl: must be between 10s and 2160h/);
    const ca = await open(dir, new FakeClock(Date.now()));
    assert.throws(() => ca.issueToken({ namespace: 'Bad_NS', serviceAccount: 'x' }), /namespace/);
    assert.throws(
      () => ca.issueToken({ namespace: 'a', serviceAccount: 'x', ttlMs: 10 }),
      /ttl: must be between/,
    );
    ca.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('intermediate rotation: new issuer, same root, watchers woken, saved', async () => {
  const dir = tmp();
  const clock = new FakeClock(Date.now());
  const ca = await open(dir, clock);
  try {
    const before = ca.bundle();
    const waiting = ca.watchBundle(before.etag, 20_000);
    const out = await ca.rotateIntermediate();
    const after = await waiting;
    assert.notEqual(after.etag, before.etag);
    assert.notEqual(after.issuer.fingerprint256, before.issuer.fingerprint256);
    assert.equal(after.trustBundlePem, before.trustBundlePem, 'same root: the bundle does not change');
    assert.equal(out.intermediate, after.issuer.subject);
    const again = await open(dir, clock);
    assert.equal(again.bundle().issuer.fingerprint256, after.issuer.fingerprint256, 'persisted');
    again.close();
    // A watch on the current etag waits; its timeout answers with the same bundle.
    const idle = ca.watchBundle(after.etag, 1000);
    clock.advance(1000);
    assert.equal((await idle).etag, after.etag);
  } finally {
    ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('root rotation: both roots trusted during the overlap, issuing moves, old root dropped, survives a restart', async () => {
  const dir = tmp();
  const clock = new FakeClock(Date.now());
  let ca = await open(dir, clock, { workloadTtlMs: 60_000 });
  try {
    const tok = ca.issueToken({ namespace: 'default', serviceAccount: 'web' });
    const claims = ca.verifyToken(tok.reveal());
    assert.ok(claims.ok);
    const oldLeaf = await ca.sign(csrFor('spiffe://cluster.local/ns/default/sa/web'), claims.value, 'web-1');
    const oldRoot = ca.bundle().trustBundlePem;
    await assert.rejects(
      ca.rotateRoot({ overlapMs: 30_000 }),
      /overlap: must be at least the workload certificate lifetime \(60s\)/,
    );
    const r = await ca.rotateRoot({ overlapMs: 120_000, distributeMs: 5000 });
    assert.equal(r.phase, 'distributing');
    await assert.rejects(ca.rotateRoot({ overlapMs: 120_000 }), /already in progress/);
    assert.equal(pemBlocks(ca.bundle().trustBundlePem, 'CERTIFICATE').length, 2);
    // Still issuing under the old root while the new one is distributed.
    const during = await ca.sign(csrFor(claims.value.identity.uri), claims.value, 'web-1');
    assert.ok(verifyPeerSpiffeId(during.chainPem, during.spiffeId, oldRoot, { now: clock.now() }).ok);

    // A restart in the middle resumes the rotation.
    ca.close();
    ca = await open(dir, clock, { workloadTtlMs: 60_000 });
    assert.equal(ca.rotationState()?.phase, 'distributing');
    const woke = ca.watchBundle(ca.bundle().etag, 20_000);
    clock.advance(5000);
    await woke;
    await waitFor(() => ca.rotationState()?.phase === 'overlap');
    assert.ok(!existsSync(join(dir, 'next')), 'the pending CA dir is gone once issuing switched');
    const bundle = ca.bundle().trustBundlePem;
    assert.equal(pemBlocks(bundle, 'CERTIFICATE').length, 2);
    const newLeaf = await ca.sign(csrFor(claims.value.identity.uri), claims.value, 'web-1');
    assert.ok(
      !verifyPeerSpiffeId(newLeaf.chainPem, newLeaf.spiffeId, oldRoot, { now: clock.now() }).ok,
      'new root',
    );
    // During the overlap, old and new leaves both verify against the pushed bundle.
    assert.ok(verifyPeerSpiffeId(newLeaf.chainPem, newLeaf.spiffeId, bundle, { now: clock.now() }).ok);
    assert.ok(verifyPeerSpiffeId(oldLeaf.chainPem, oldLeaf.spiffeId, bundle, { now: clock.now() }).ok);
    const rep = ca.report() as { ca: { roots: { role: string }[] } };
    assert.deepEqual(
      rep.ca.roots.map((x) => x.role.split(' ')[0]),
      ['issuing', 'retiring'],
    );

    clock.advance(120_000);
    await waitFor(() => ca.rotationState() === undefined);
    const final = ca.bundle().trustBundlePem;
    assert.equal(pemBlocks(final, 'CERTIFICATE').length, 1);
    assert.ok(!verifyPeerSpiffeId(oldLeaf.chainPem, oldLeaf.spiffeId, final, { now: clock.now() }).ok);
    assert.ok(!existsSync(join(dir, 'rotation.json')));
    assert.equal(readFileSync(join(dir, 'trust-bundle.pem'), 'utf8'), final);
  } finally {
    ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
