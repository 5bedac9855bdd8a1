// The trust-bundle file `trellis up` hands to sidecars follows a real CA's root rotation (new root
// added, issuing switched, old root dropped): written atomically with mode 0644 at each change, so a
// sidecar started after the old root left verifies the control plane with the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../common/clock.js';
import { silentLogger } from '../common/logger.js';
import { CaService } from '../control-plane/ca/ca-service.js';
import { pemBlocks } from '../security/der.js';
import { verifyPeerSpiffeId } from '../security/workload-identity.js';
import { keepBundleFile } from './bundle-file.js';

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the bundle file follows a root rotation to the end, atomically, mode 0644', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bundle-file-'));
  const clock = new FakeClock(Date.now());
  const ca = await CaService.open({
    dir: join(dir, 'ca'),
    logger: silentLogger(),
    clock,
    workloadTtlMs: 60_000,
  });
  const file = join(dir, 'ca', 'bundle.pem');
  const errors: string[] = [];
  const old = process.umask(0o077); // the mode must not depend on the umask
  const w = keepBundleFile(ca, file, { onError: (m) => errors.push(m), clock });
  try {
    await w.ready;
    const read = (): string => readFileSync(file, 'utf8');
    const oldBundle = ca.bundle().trustBundlePem;
    assert.equal(read(), oldBundle);
    assert.equal(statSync(file).mode & 0o777, 0o644);
    const oldRoot = pemBlocks(oldBundle, 'CERTIFICATE')[0]!.toString('base64');

    await ca.rotateRoot({ overlapMs: 120_000, distributeMs: 5000 });
    await waitFor('both roots in the file', () => pemBlocks(read(), 'CERTIFICATE').length === 2);
    assert.equal(read(), ca.bundle().trustBundlePem);

    clock.advance(5000); // issuing moves to the new root
    await waitFor('the overlap phase', () => ca.rotationState()?.phase === 'overlap');
    clock.advance(120_000); // the old root leaves the bundle
    await waitFor('the rotation to end', () => ca.rotationState() === undefined);
    const final = await waitFor('the one-root bundle in the file', () => {
      const t = read();
      return t === ca.bundle().trustBundlePem ? t : undefined;
    });
    const roots = pemBlocks(final, 'CERTIFICATE').map((d) => d.toString('base64'));
    assert.equal(roots.length, 1);
    assert.notEqual(roots[0], oldRoot, 'the old root is gone from the file');
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.deepEqual(
      readdirSync(join(dir, 'ca')).filter((n) => n.startsWith('bundle.pem')),
      ['bundle.pem'],
      'no temp file left behind',
    );
    assert.ok(w.writes() >= 3, `written ${w.writes()} times`);

    // What a sidecar started now does with the file: verify the control plane's serving certificate.
    const serving = ca.issueServingCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const v = verifyPeerSpiffeId(serving.chainPem, serving.spiffeId, final, { now: clock.now() });
    assert.ok(v.ok, v.ok ? '' : v.error);
    const stale = verifyPeerSpiffeId(serving.chainPem, serving.spiffeId, oldBundle, { now: clock.now() });
    assert.ok(!stale.ok, 'the file from before the rotation would not verify it');
    assert.deepEqual(errors, []);

    // Closed: the file no longer moves.
    w.close();
    const before = read();
    await ca.rotateRoot({ overlapMs: 120_000, distributeMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(read(), before);
  } finally {
    process.umask(old);
    w.close();
    ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bundle file that cannot be written is reported, not thrown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bundle-file-'));
  const ca = await CaService.open({ dir: join(dir, 'ca'), logger: silentLogger() });
  const errors: string[] = [];
  const w = keepBundleFile(ca, join(dir, 'missing', 'bundle.pem'), {
    onError: (m) => errors.push(m),
    retryMs: 50,
  });
  try {
    await w.ready;
    assert.equal(w.writes(), 0);
    assert.match(errors[0] ?? '', /cannot write the trust bundle to .*missing\/bundle\.pem: .*ENOENT/);
    await waitFor('a retry', () => errors.length >= 2);
  } finally {
    w.close();
    ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
