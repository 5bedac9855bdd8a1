// End to end: the trust-bundle file the real `trellis up` hands its sidecars (<data dir>/ca/bundle.pem,
// --ca-bundle) follows the CA: it holds the bundle at start (mode 0644), and once `trellis ca rotate
// --root` adds the new root, the file holds both roots at once. (The old root leaving the bundle at
// the end of the overlap is covered against a real CA in src/up/bundle-file.test.ts: `trellis up`
// keeps 24 h certificates, so the overlap cannot end within a test.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pemBlocks } from '../../src/security/der.js';
import { TRELLIS_BIN, trellis, waitFor } from './helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-up-bundle-'));
let up: ChildProcess | undefined;

after(async () => {
  if (up && up.exitCode === null && up.signalCode === null) {
    const exited = once(up, 'exit');
    up.kill('SIGINT');
    const t = setTimeout(() => up?.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
  rmSync(dir, { recursive: true, force: true });
});

test(
  'trellis up keeps the bundle file it hands to sidecars current across a root rotation',
  { timeout: 60_000 },
  async () => {
    const mesh = join(dir, 'mesh');
    mkdirSync(mesh);
    writeFileSync(
      join(mesh, 'mesh.yaml'),
      'apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: web }\nspec:\n  ports: [{ port: 80, protocol: http }]\n',
    );
    const data = join(dir, 'data');
    up = spawn(
      process.execPath,
      [TRELLIS_BIN, 'up', mesh, '--data-dir', data, '--api-port', '0', '--secure-port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: string[] = [];
    createInterface({ input: up.stdout! }).on('line', (l) => lines.push(l));
    createInterface({ input: up.stderr! }).on('line', (l) => lines.push(`stderr: ${l}`));
    const api = await waitFor(
      'trellis up to start its control plane',
      () => {
        if (up?.exitCode !== null) throw new Error(`trellis up exited:\n${lines.join('\n')}`);
        return /control plane: API (http:\/\/\S+),/.exec(lines.join('\n'))?.[1];
      },
      20_000,
    );
    const file = join(data, 'ca', 'bundle.pem');
    const apiBundle = async (): Promise<string> =>
      (await fetch(`${api}/api/v1/trust-bundle?format=pem`)).text();

    const first = await apiBundle();
    assert.equal(readFileSync(file, 'utf8'), first);
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.equal(pemBlocks(first, 'CERTIFICATE').length, 1);

    const rotated = await trellis(['ca', 'rotate', '--root', '--overlap', '24h', '--distribute', '1s'], {
      server: api,
    });
    assert.equal(rotated.code, 0, rotated.stderr);
    const both = await waitFor(
      'the bundle file to hold both roots',
      () => {
        const t = readFileSync(file, 'utf8');
        return pemBlocks(t, 'CERTIFICATE').length === 2 ? t : undefined;
      },
      10_000,
    );
    assert.equal(both, await apiBundle());
    assert.ok(both.includes(first.trim()), 'the old root is still there during the overlap');
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.ok(!lines.some((l) => l.includes('cannot write the trust bundle')), lines.join('\n'));
  },
);
