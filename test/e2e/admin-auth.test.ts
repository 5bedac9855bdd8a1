// The admin token of the control plane's plaintext API, end to end with a real `trellis
// control-plane`: privileged calls without it get 401 (saying where the token is), with it they
// work; the token file is 0600; the CLI finds it (flag, env, the default data dir of the cwd); the
// token never shows in the logs; the sidecar bootstrap paths stay open.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminHeaders,
  startControlPlaneProcess,
  trellis,
  type ControlPlaneProcess,
} from './helpers/processes.js';

const SERVICE = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 80 }] }
`;

describe('admin API access (the admin token)', { timeout: 60_000 }, () => {
  let dir: string;
  let dataDir: string;
  let cp: ControlPlaneProcess;
  let token: string;
  /** A cwd without a .trellis/data/admin.token. */
  let empty: string;
  const stderr = (): string => cp.logs.join('\n');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-admin-'));
    // The default data dir of `trellis control-plane` run in `dir`: the CLI finds the token there.
    dataDir = join(dir, '.trellis', 'data');
    empty = join(dir, 'empty');
    mkdirSync(empty);
    cp = await startControlPlaneProcess({ dataDir });
    token = readFileSync(cp.adminTokenFile, 'utf8').trim();
  });
  after(async () => {
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the token file is generated with mode 0600 and at least 128 bits', () => {
    assert.equal(statSync(cp.adminTokenFile).mode & 0o777, 0o600);
    assert.ok(token.length >= 32, 'long enough');
    assert.match(token, /^[A-Za-z0-9_-]+$/);
  });

  const privileged: [string, string, string?][] = [
    ['POST', '/api/v1/tokens', JSON.stringify({ serviceAccount: 'web' })],
    ['POST', '/api/v1/apply', SERVICE],
    ['POST', '/api/v1/ca/rotate', '{}'],
    ['DELETE', '/api/v1/resources/Service/default/web'],
    ['GET', '/api/v1/resources'],
    ['GET', '/api/v1/certificates'],
    ['GET', '/api/v1/proxies'],
    ['GET', '/api/v1/instances'],
  ];

  test('without the token (or with a wrong one): 401 saying what is needed and where the file is', async () => {
    for (const [method, path, body] of privileged)
      for (const auth of [undefined, 'Bearer nope', `Bearer ${token}x`, `Basic ${token}`]) {
        const res = await fetch(`${cp.apiUrl}${path}`, {
          method,
          headers: auth === undefined ? {} : { authorization: auth },
          ...(body !== undefined ? { body } : {}),
        });
        const text = await res.text();
        assert.equal(res.status, 401, `${method} ${path} with ${auth ?? 'nothing'}: ${text}`);
        const err = (JSON.parse(text) as { error: { code: string; message: string } }).error;
        assert.equal(err.code, 'UNAUTHENTICATED');
        assert.ok(err.message.includes(cp.adminTokenFile), err.message);
        assert.match(err.message, /Authorization: Bearer <token>/);
        assert.ok(!text.includes(token), 'never the token');
      }
    // Nothing was applied or deleted.
    const res = await fetch(`${cp.apiUrl}/api/v1/resources`, { headers: adminHeaders(cp.apiUrl) });
    assert.deepEqual(((await res.json()) as { items: unknown[] }).items, []);
  });

  test('with the token: minting, applying, rotating work', async () => {
    const minted = await fetch(`${cp.apiUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: adminHeaders(cp.apiUrl, { 'content-type': 'application/json' }),
      body: JSON.stringify({ serviceAccount: 'web', ttl: '1h' }),
    });
    assert.equal(minted.status, 200, await minted.clone().text());
    assert.match(((await minted.json()) as { spiffeId: string }).spiffeId, /\/ns\/default\/sa\/web$/);
    const applied = await fetch(`${cp.apiUrl}/api/v1/apply`, {
      method: 'POST',
      headers: adminHeaders(cp.apiUrl),
      body: SERVICE,
    });
    assert.equal(applied.status, 200, await applied.text());
    const rotated = await fetch(`${cp.apiUrl}/api/v1/ca/rotate`, {
      method: 'POST',
      headers: adminHeaders(cp.apiUrl),
      body: '{}',
    });
    assert.equal(rotated.status, 200, await rotated.text());
  });

  test('open without the admin token: health, trust bundle, CSR with a workload token; registration with a workload token', async () => {
    assert.equal((await fetch(`${cp.apiUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${cp.apiUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${cp.apiUrl}/api/v1/trust-bundle`)).status, 200);
    // The CSR route answers on its own terms (the workload token), not the admin token's.
    const csr = await fetch(`${cp.apiUrl}/api/v1/certificates`, { method: 'POST', body: 'x' });
    assert.equal(csr.status, 401);
    assert.match(await csr.text(), /bootstrap token/);
    // Registration is not anonymous: 401 without a credential, 200 with web's bootstrap token.
    const body = JSON.stringify({ id: 'web-1', service: 'web', address: '127.0.0.1', port: 9 });
    const anon = await fetch(`${cp.apiUrl}/api/v1/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(anon.status, 401);
    assert.match(await anon.text(), /Authorization: Bearer.*bootstrap token.*--insecure-registration/);
    const web = { authorization: `Bearer ${readFileSync(await cp.tokenFile('web'), 'utf8').trim()}` };
    const reg = await fetch(`${cp.apiUrl}/api/v1/instances`, {
      method: 'POST',
      headers: { ...web, 'content-type': 'application/json' },
      body,
    });
    assert.equal(reg.status, 200, await reg.text());
    const hb = await fetch(`${cp.apiUrl}/api/v1/instances/web-1/heartbeat`, { method: 'POST', headers: web });
    assert.equal(hb.status, 200);
    const del = await fetch(`${cp.apiUrl}/api/v1/instances/web-1`, { method: 'DELETE', headers: web });
    assert.equal(del.status, 200);
  });

  test('the CLI finds the token in the default data dir of its cwd; none found: a clear error', async () => {
    const found = await trellis(['get', 'services'], { server: cp.apiUrl, adminToken: false, cwd: dir });
    assert.equal(found.code, 0, found.stderr);
    assert.match(found.stdout, /web/);
    const none = await trellis(['token', 'create', '--service', 'web'], {
      server: cp.apiUrl,
      adminToken: false,
      cwd: empty,
    });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /needs the control plane's admin token and none was found/);
    assert.match(none.stderr, /--admin-token-file FILE/);
    assert.match(none.stderr, /TRELLIS_ADMIN_TOKEN/);
    assert.equal(none.stdout, '');
  });

  test('the CLI: --admin-token-file, TRELLIS_ADMIN_TOKEN; a wrong token is refused', async () => {
    const byFlag = await trellis(
      ['token', 'create', '--service', 'web', '--admin-token-file', cp.adminTokenFile],
      { server: cp.apiUrl, adminToken: false, cwd: empty },
    );
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.match(byFlag.stdout, /^tbt1\./);
    const byEnv = await trellis(['ca', 'rotate'], {
      server: cp.apiUrl,
      adminToken: false,
      cwd: empty,
      env: { TRELLIS_ADMIN_TOKEN: token },
    });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const wrongFile = join(dir, 'wrong.token');
    writeFileSync(wrongFile, 'x'.repeat(40) + '\n', { mode: 0o600 });
    const wrong = await trellis(['apply', '-f', '-', '--admin-token-file', wrongFile], {
      server: cp.apiUrl,
      adminToken: false,
      input: SERVICE,
    });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /refused the admin token from .*wrong\.token/);
    assert.ok(!wrong.stderr.includes('x'.repeat(40)), 'the token is not echoed');
  });

  test('the token never appears in the control plane logs', () => {
    assert.ok(stderr().includes(cp.adminTokenFile), 'the file is logged');
    assert.ok(!stderr().includes(token), 'the token is not');
  });

  test('a token file others can read is refused at start; --admin-token-file supplies one', async () => {
    const loose = join(dir, 'loose.token');
    writeFileSync(loose, 'y'.repeat(40) + '\n');
    chmodSync(loose, 0o644);
    await assert.rejects(
      startControlPlaneProcess({ dataDir: join(dir, 'd2'), args: ['--admin-token-file', loose] }),
      /mode 644 lets other users read it/,
    );
    const mine = join(dir, 'mine.token');
    writeFileSync(mine, 'z'.repeat(40) + '\n', { mode: 0o600 });
    const cp2 = await startControlPlaneProcess({
      dataDir: join(dir, 'd3'),
      args: ['--admin-token-file', mine],
    });
    try {
      const ok = await fetch(`${cp2.apiUrl}/api/v1/resources`, {
        headers: { authorization: `Bearer ${'z'.repeat(40)}` },
      });
      assert.equal(ok.status, 200);
      const generated = await fetch(`${cp2.apiUrl}/api/v1/resources`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(generated.status, 401, "another control plane's token is not this one's");
    } finally {
      await cp2.stop();
    }
  });
});
