import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findAdminToken, setAdminTokenFile } from './admin-token.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-cli-admin-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text, { mode: 0o600 });
  return f;
};
// Port 1: no `trellis up` pointer for it.
const LOCAL = 'http://127.0.0.1:1';
const REMOTE = 'http://cp.example.com:15000';

test('order: --admin-token-file, TRELLIS_ADMIN_TOKEN, TRELLIS_ADMIN_TOKEN_FILE, the data dir', () => {
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const inDataDir = file('data/admin.token', 'from-data-dir\n');
  const envFile = file('env.token', 'from-env-file\n');
  const flag = file('flag.token', '  from-flag \n');
  const env = {
    TRELLIS_DATA_DIR: dataDir,
    TRELLIS_ADMIN_TOKEN_FILE: envFile,
    TRELLIS_ADMIN_TOKEN: 'from-env',
  };
  setAdminTokenFile(flag);
  assert.equal(findAdminToken(LOCAL, env).token, 'from-flag');
  setAdminTokenFile(undefined);
  assert.equal(findAdminToken(LOCAL, env).token, 'from-env');
  assert.equal(findAdminToken(LOCAL, { ...env, TRELLIS_ADMIN_TOKEN: '' }).token, 'from-env-file');
  const found = findAdminToken(LOCAL, { TRELLIS_DATA_DIR: dataDir });
  assert.equal(found.token, 'from-data-dir');
  assert.equal(found.source, inDataDir);
});

test('a token discovered on disk is never sent to a remote control plane; a named one is', () => {
  const dataDir = join(dir, 'data');
  const none = findAdminToken(REMOTE, { TRELLIS_DATA_DIR: dataDir });
  assert.equal(none.token, undefined);
  assert.deepEqual(none.looked, ['--admin-token-file', 'TRELLIS_ADMIN_TOKEN', 'TRELLIS_ADMIN_TOKEN_FILE']);
  assert.equal(findAdminToken(REMOTE, { TRELLIS_ADMIN_TOKEN: 'named' }).token, 'named');
});

test('nothing found: every place looked at is listed; a named file that cannot be read is an error', () => {
  const none = findAdminToken('http://localhost:1', { TRELLIS_DATA_DIR: join(dir, 'nowhere') });
  assert.equal(none.token, undefined);
  assert.ok(none.looked.includes(join(dir, 'nowhere', 'admin.token')), none.looked.join(', '));
  setAdminTokenFile(join(dir, 'missing.token'));
  try {
    assert.throws(() => findAdminToken(LOCAL, {}), /--admin-token-file: cannot read the admin token file/);
  } finally {
    setAdminTokenFile(undefined);
  }
  assert.throws(
    () => findAdminToken(LOCAL, { TRELLIS_ADMIN_TOKEN_FILE: file('empty.token', '\n') }),
    /TRELLIS_ADMIN_TOKEN_FILE: the admin token file .* is empty/,
  );
});
