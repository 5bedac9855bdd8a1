// Test helpers: the real `openssl` command line, used as an independent checker of what the CA
// issues. Missing openssl fails the test under CI=true, and is reported as a visible skip elsewhere.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

let found: boolean | undefined;

/** True when openssl can run; else fails the test under CI, or skips it with the reason. */
export function needOpenssl(t: TestContext): boolean {
  if (found === undefined) found = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
  if (found) return true;
  const msg = 'the openssl command is not installed (needed to check certificates independently)';
  if (process.env.CI) throw new Error(`${msg}; CI=true, so this is a failure: install openssl`);
  t.skip(msg);
  return false;
}

/** Runs openssl with `args`; returns { status, out } (stdout+stderr). Never throws on exit status. */
export function openssl(args: string[], input?: string): { status: number; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input, timeout: 20_000 });
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A temp dir with `files` written, removed by the returned cleanup. */
export function tempFiles(files: Record<string, string>): {
  dir: string;
  path: (n: string) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-sec-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, path: (n) => join(dir, n), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** openssl output or a thrown error carrying it. */
export function opensslOk(args: string[], input?: string): string {
  try {
    return execFileSync('openssl', args, {
      encoding: 'utf8',
      input,
      timeout: 20_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${x.stderr ?? ''}${x.stdout ?? ''}`);
  }
}
