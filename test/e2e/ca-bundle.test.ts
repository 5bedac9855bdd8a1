// End to end: `trellis ca bundle [-o FILE]` against a real control plane. It prints the trust bundle
// the API serves, or writes it atomically (mode 0644); after `trellis ca rotate --root` has run its
// course (10 s workload certificates, 10 s overlap here) the refreshed file holds the new root only,
// and a sidecar started with it gets its certificate and config over the secure port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pemBlocks } from '../../src/security/der.js';
import {
  freePort,
  startControlPlaneProcess,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';
import { startProxyProcess, type ProxyProcess } from './helpers/sidecar.js';

let dir: string;
let cp: ControlPlaneProcess;
const sidecars: ProxyProcess[] = [];

const apiBundle = async (): Promise<string> =>
  (await fetch(`${cp.apiUrl}/api/v1/trust-bundle?format=pem`)).text();
const roots = (pem: string): string[] => pemBlocks(pem, 'CERTIFICATE').map((d) => d.toString('base64'));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-ca-bundle-'));
  cp = await startControlPlaneProcess({ dataDir: join(dir, 'data'), args: ['--workload-cert-ttl', '10s'] });
});

after(async () => {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('trellis ca bundle prints the trust bundle, -o writes it atomically with mode 0644', async () => {
  const printed = await trellis(['ca', 'bundle'], { server: cp.apiUrl });
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(printed.stdout, await apiBundle());
  assert.equal(printed.stderr, '', 'no warning: the API is on this machine');
  assert.equal(roots(printed.stdout).length, 1);

  const file = join(dir, 'out', 'bundle.pem');
  const missingDir = await trellis(['ca', 'bundle', '-o', file], { server: cp.apiUrl });
  assert.notEqual(missingDir.code, 0);
  assert.match(missingDir.stderr, /-o .*out\/bundle\.pem: cannot write the trust bundle: .*ENOENT/);

  const target = join(dir, 'bundle.pem');
  writeFileSync(target, 'stale\n', { mode: 0o600 });
  const written = await trellis(['ca', 'bundle', '-o', target], { server: cp.apiUrl });
  assert.equal(written.code, 0, written.stderr);
  assert.match(
    written.stdout,
    /wrote the trust bundle \(1 root, trust domain cluster\.local, etag \w+\) to /,
  );
  assert.equal(readFileSync(target, 'utf8'), printed.stdout);
  assert.equal(statSync(target).mode & 0o777, 0o644, 'replaced by a 0644 file');
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('bundle.pem')),
    ['bundle.pem'],
    'no temp file left',
  );

  const wrong = await trellis(['ca', 'bundle', '--root'], { server: cp.apiUrl });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /ca bundle: --root applies to 'ca rotate' only/);
  const down = await trellis(['ca', 'bundle', '--server', `http://127.0.0.1:${await freePort()}`]);
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /cannot reach the control plane/);
});

test('after a root rotation, the refreshed file lets a new sidecar in', { timeout: 90_000 }, async () => {
  const before = await apiBundle();
  const oldRoot = roots(before)[0];
  const rotated = await trellis(['ca', 'rotate', '--root', '--overlap', '10s', '--distribute', '1s'], {
    server: cp.apiUrl,
  });
  assert.equal(rotated.code, 0, rotated.stderr);
  const file = join(dir, 'rotated-bundle.pem');
  const during = await trellis(['ca', 'bundle', '-o', file], { server: cp.apiUrl });
  assert.equal(during.code, 0, during.stderr);
  assert.match(during.stdout, /2 roots/);
  assert.equal(roots(readFileSync(file, 'utf8')).length, 2);

  // The old root leaves the bundle once the overlap is over.
  await waitFor(
    'the old root to leave the bundle',
    async () => !roots(await apiBundle()).includes(oldRoot!),
    30_000,
  );
  const after = await trellis(['ca', 'bundle', '-o', file], { server: cp.apiUrl });
  assert.equal(after.code, 0, after.stderr);
  const now = roots(readFileSync(file, 'utf8'));
  assert.equal(now.length, 1);
  assert.notEqual(now[0], oldRoot);

  const s = await startProxyProcess({
    service: 'late',
    xdsPort: cp.xdsPort,
    apiUrl: cp.sidecarApiUrl,
    caBundle: file,
    appPort: 0,
    args: ['--token-file', await cp.tokenFile('late')],
  });
  sidecars.push(s);
  await waitFor(
    'the late sidecar to hold its certificate and be ready',
    async () =>
      (JSON.parse((await s.admin('/certs')).body) as { state: string }).state === 'ok' &&
      (await s.admin('/ready')).status === 200,
    20_000,
  );
});
