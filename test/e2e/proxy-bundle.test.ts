// `trellis proxy` runs from the sidecar's bundle (dist/proxy/, tools/bundle-proxy.js) when it is at
// least as new as tsc's output, and from dist/src otherwise; every other command runs from dist/src.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, TRELLIS_BIN } from './helpers/processes.js';

const run = promisify(execFile);

/** A copy of bin/trellis.js beside two stand-in CLIs that print which one ran. */
async function layout(): Promise<{ dir: string; bin: string; src: string; bundle: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-bundle-'));
  const bin = join(dir, 'bin/trellis.js');
  const src = join(dir, 'dist/src/cli/main.js');
  const bundle = join(dir, 'dist/proxy/cli/main.js');
  await mkdir(join(dir, 'bin'));
  await mkdir(join(dir, 'dist/src/cli'), { recursive: true });
  await mkdir(join(dir, 'dist/proxy/cli'), { recursive: true });
  await copyFile(TRELLIS_BIN, bin);
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  await writeFile(src, "process.stdout.write('src');\n");
  await writeFile(bundle, "process.stdout.write('bundle');\n");
  return { dir, bin, src, bundle };
}

const which = async (bin: string, ...args: string[]): Promise<string> =>
  (await run(process.execPath, [bin, ...args], { timeout: 20_000 })).stdout;

test('bin/trellis.js picks the bundle for proxy only, and only when it is not older than dist/src', async () => {
  const l = await layout();
  try {
    const t = Date.now() / 1000;
    await utimes(l.src, t - 10, t - 10);
    await utimes(l.bundle, t, t);
    assert.equal(await which(l.bin, 'proxy', '--service', 'x'), 'bundle');
    assert.equal(await which(l.bin, 'control-plane'), 'src', 'other commands run from dist/src');
    assert.equal(await which(l.bin, 'version'), 'src');

    await utimes(l.src, t + 5, t + 5); // tsc ran after the bundle: the bundle is stale
    assert.equal(await which(l.bin, 'proxy', '--service', 'x'), 'src');

    await rm(l.bundle); // never bundled
    assert.equal(await which(l.bin, 'proxy', '--service', 'x'), 'src');
  } finally {
    await rm(l.dir, { recursive: true, force: true });
  }
});

test('after npm run build, trellis proxy loads the bundle (not the ~150 modules of dist/src)', async (t) => {
  const mtime = (p: string) => statSync(join(ROOT, p), { throwIfNoEntry: false })?.mtimeMs;
  const bundle = mtime('dist/proxy/cli/main.js');
  const compiled = mtime('dist/src/cli/main.js');
  if (bundle === undefined || compiled === undefined || bundle < compiled) {
    const why =
      'dist/proxy is missing or older than dist/src: run `npm run build` (tsc + tools/bundle-proxy.js)';
    if (process.env.CI === 'true') assert.fail(why);
    t.skip(why);
    return;
  }
  // NODE_DEBUG=esm makes Node's ESM loader name every module it loads on stderr.
  const { stderr } = await run(process.execPath, [TRELLIS_BIN, 'proxy', '--help'], {
    env: { ...process.env, NODE_DEBUG: 'esm' },
    timeout: 20_000,
  });
  const loaded = new Set(stderr.match(/file:\/\/\S+?\.js/g) ?? []);
  const ours = [...loaded].filter((u) => u.includes('/dist/'));
  assert.ok(
    ours.some((u) => u.includes('/dist/proxy/cli/')),
    `the bundle was not loaded: ${ours.slice(0, 5).join(' ')}`,
  );
  assert.deepEqual(
    ours.filter((u) => u.includes('/dist/src/')),
    [],
    'no module of dist/src is loaded by the bundled sidecar',
  );
});
