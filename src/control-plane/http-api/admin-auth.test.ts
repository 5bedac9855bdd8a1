import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdminGuard,
  adminTokenFromEnv,
  bearerToken,
  isOpenRoute,
  loadOrCreateAdminToken,
  OPEN_ROUTES,
} from './admin-auth.js';

const TOKEN = 'a'.repeat(20) + 'B'.repeat(20);
const guard = new AdminGuard(TOKEN, '/var/lib/trellis/admin.token');
const req = (method: string, authorization?: string) => ({
  method,
  headers: authorization === undefined ? {} : { authorization },
});

test('open routes: health, trust bundle, CSR, instance registration; nothing else', () => {
  for (const [m, p] of [
    ['GET', '/healthz'],
    ['GET', '/readyz'],
    ['GET', '/api/v1/trust-bundle'],
    ['POST', '/api/v1/certificates'],
    ['POST', '/api/v1/instances'],
    ['POST', '/api/v1/instances/:id/heartbeat'],
    ['DELETE', '/api/v1/instances/:id'],
  ] as const)
    assert.equal(isOpenRoute(m, p), true, `${m} ${p}`);
  assert.equal(OPEN_ROUTES.length, 7);
  for (const [m, p] of [
    ['POST', '/api/v1/apply'],
    ['POST', '/api/v1/validate'],
    ['DELETE', '/api/v1/resources/:kind/:namespace/:name'],
    ['GET', '/api/v1/resources'],
    ['GET', '/api/v1/resources/:kind/:namespace/:name'],
    ['POST', '/api/v1/tokens'],
    ['POST', '/api/v1/ca/rotate'],
    ['GET', '/api/v1/certificates'],
    ['GET', '/api/v1/instances'],
    ['GET', '/api/v1/endpoints'],
    ['GET', '/api/v1/proxies'],
    ['GET', '/api/v1/proxies/:id/config'],
    // Same path, other method: not open.
    ['GET', '/api/v1/instances/:id/heartbeat'],
    ['PUT', '/healthz'],
  ] as const)
    assert.equal(isOpenRoute(m, p), false, `${m} ${p}`);
});

test('guard: the right bearer token passes, open routes need none', () => {
  assert.equal(guard.check(req('POST', `Bearer ${TOKEN}`), '/api/v1/tokens'), undefined);
  assert.equal(guard.check(req('POST', `bearer   ${TOKEN}  `), '/api/v1/apply'), undefined);
  assert.equal(guard.check(req('GET'), '/healthz'), undefined);
  // A workload token on the CSR route is not the guard's business.
  assert.equal(guard.check(req('POST', 'Bearer tbt1.x'), '/api/v1/certificates'), undefined);
});

test('guard: missing, wrong, truncated, extended or non-bearer credentials get the same 401', () => {
  const replies = [
    guard.check(req('POST'), '/api/v1/tokens'),
    guard.check(req('POST', 'Bearer wrong'), '/api/v1/tokens'),
    guard.check(req('POST', `Bearer ${TOKEN.slice(0, -1)}`), '/api/v1/tokens'),
    guard.check(req('POST', `Bearer ${TOKEN}x`), '/api/v1/tokens'),
    guard.check(req('POST', `Basic ${TOKEN}`), '/api/v1/tokens'),
    guard.check(req('POST', `Bearer ${TOKEN} extra`), '/api/v1/tokens'),
    guard.check(req('POST', ''), '/api/v1/tokens'),
  ];
  for (const r of replies) {
    assert.ok(r);
    assert.equal(r.status, 401);
    assert.match(r.headers?.['www-authenticate'] ?? '', /^Bearer /);
    assert.deepEqual(r, replies[0], 'nothing in the answer says which part was wrong');
    const msg = (r.body as { error: { code: string; message: string } }).error;
    assert.equal(msg.code, 'UNAUTHENTICATED');
    assert.match(msg.message, /admin token/);
    assert.match(msg.message, /\/var\/lib\/trellis\/admin\.token/, 'says where the token is');
    assert.match(msg.message, /Authorization: Bearer/);
    assert.ok(!JSON.stringify(r).includes(TOKEN.slice(0, 12)), 'never the token');
  }
});

test('bearerToken parses the Authorization header', () => {
  assert.equal(bearerToken({ authorization: 'Bearer abc' }), 'abc');
  assert.equal(bearerToken({ authorization: 'Basic abc' }), undefined);
  assert.equal(bearerToken({}), undefined);
});

test('loadOrCreateAdminToken: generated once, 0600, ≥128 bits; reused; refused when others can read it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-admin-auth-'));
  try {
    const file = join(dir, 'sub', 'admin.token');
    const a = loadOrCreateAdminToken(file);
    assert.equal(a.created, true);
    assert.ok(a.token.length >= 43, 'base64url of 32 random bytes');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), a.token);
    const b = loadOrCreateAdminToken(file);
    assert.deepEqual(b, { token: a.token, created: false });
    assert.notEqual(loadOrCreateAdminToken(join(dir, 'other.token')).token, a.token);

    chmodSync(file, 0o644);
    assert.throws(() => loadOrCreateAdminToken(file), /mode 644 lets other users read it; run 'chmod 600/);
    const short = join(dir, 'short.token');
    writeFileSync(short, 'secret\n', { mode: 0o600 });
    assert.throws(() => loadOrCreateAdminToken(short), /at least 32 characters/);
    const mine = join(dir, 'mine.token');
    writeFileSync(mine, `${TOKEN}\n`, { mode: 0o600 });
    assert.deepEqual(loadOrCreateAdminToken(mine), { token: TOKEN, created: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('adminTokenFromEnv: too short is refused without echoing it', () => {
  assert.equal(adminTokenFromEnv(` ${TOKEN}\n`, 'TRELLIS_ADMIN_TOKEN'), TOKEN);
  assert.throws(
    () => adminTokenFromEnv('hunter2', 'TRELLIS_ADMIN_TOKEN'),
    (e: Error) => /TRELLIS_ADMIN_TOKEN: .*at least 32/.test(e.message) && !e.message.includes('hunter2'),
  );
});

test('router guard: a refused call never reaches its handler; 404s stay 404s', async () => {
  const { createServer } = await import('node:http');
  const { Router } = await import('./router.js');
  let ran = 0;
  const r = new Router();
  r.on('POST', '/api/v1/tokens', () => {
    ran++;
    return { status: 200, body: { ok: true } };
  });
  r.on('GET', '/healthz', () => ({ status: 200, body: { ok: true } }));
  r.guard = (q, pattern) => guard.check(q, pattern);
  const server = createServer((q, s) => void r.handle(q, s));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const no = await fetch(`${base}/api/v1/tokens`, { method: 'POST', body: '{}' });
    assert.equal(no.status, 401);
    assert.equal(ran, 0);
    const dbl = await fetch(`${base}/api//v1//tokens/`, { method: 'POST', body: '{}' });
    assert.equal(dbl.status, 401, 'the same route by another spelling');
    const yes = await fetch(`${base}/api/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: '{}',
    });
    assert.equal(yes.status, 200);
    assert.equal(ran, 1);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    server.closeAllConnections();
    await new Promise((res) => server.close(res));
  }
});
