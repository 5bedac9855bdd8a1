import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILES, openCa, openTokenKeyring, saveCa } from './ca-store.js';
import { issueToken, verifyToken } from './token.js';
import { workloadId } from './spiffe.js';

const TD = 'cluster.local';

test('the CA is generated once, saved with private files 0600, and loaded back the same', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'trellis-ca-')), 'ca');
  try {
    const first = await openCa(dir, { trustDomain: TD });
    assert.equal(first.source, 'generated');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const f of [FILES.rootKey, FILES.intermediateKey])
      assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    assert.ok(!readdirSync(dir).some((f) => f.includes('.tmp-')), 'no temp files left');
    const again = await openCa(dir, { trustDomain: TD });
    assert.equal(again.source, 'loaded');
    assert.equal(again.ca.root.fingerprint256, first.ca.root.fingerprint256);
    assert.equal(again.ca.intermediate.fingerprint256, first.ca.intermediate.fingerprint256);
    // An overlap bundle survives a restart.
    const next = await openCa(join(dir, '..', 'next'), { trustDomain: TD });
    await saveCa(dir, await again.ca.withExtraRoots(next.ca.root.pem));
    assert.equal((await openCa(dir, { trustDomain: TD })).ca.roots.length, 2);
    // Wrong trust domain, loose permissions: clear errors.
    await assert.rejects(
      openCa(dir, { trustDomain: 'other.org' }),
      /made for trust domain "cluster.local", but "other.org"/,
    );
    chmodSync(join(dir, FILES.intermediateKey), 0o644);
    await assert.rejects(
      openCa(dir, { trustDomain: TD }),
      /readable by group or others \(mode 644\); run: chmod 600/,
    );
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});

test('token keys are created once (0600) and verify tokens across restarts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-tok-'));
  try {
    const ring = await openTokenKeyring(dir);
    assert.equal(statSync(join(dir, FILES.tokenKeys)).mode & 0o777, 0o600);
    const tok = issueToken(ring, workloadId(TD, 'default', 'reviews'));
    assert.equal(verifyToken(await openTokenKeyring(dir), tok).ok, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
