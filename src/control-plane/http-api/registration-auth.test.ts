import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/logger.js';
import { startControlPlane, type RunningControlPlane } from '../control-plane.js';
import { workloadId } from '../../security/spiffe.js';
import { AdminGuard } from './admin-auth.js';
import { INSECURE_REGISTRATION_FLAG, RegistrationAuth } from './registration-auth.js';

const ADMIN = 'x'.repeat(40);
const instance = (id: string, service: string, namespace = 'default') => ({
  id,
  service,
  namespace,
  address: '127.0.0.1',
  port: 9000,
  ttlSeconds: 30,
});

describe('RegistrationAuth: the decision', () => {
  const admin = new AdminGuard(ADMIN, '/data/admin.token');
  const verifyToken = (t: string) =>
    t === 'tbt1.web'
      ? {
          ok: true as const,
          value: {
            identity: workloadId('cluster.local', 'default', 'web'),
            issuedAt: new Date(0),
            expiresAt: new Date(1e13),
            tokenId: 't1',
          },
        }
      : { ok: false as const, error: 'the token is not valid' };
  const auth = new RegistrationAuth({ admin, verifyToken });
  const h = (authorization?: string) => ({
    headers: authorization === undefined ? {} : { authorization },
  });

  test('no credential: 401 saying what to send; with the opt-in: anonymous', () => {
    const r = auth.authenticate(h(), 'POST /api/v1/instances');
    assert.ok('status' in r);
    assert.equal(r.status, 401);
    const msg = (r.body as { error: { message: string } }).error.message;
    assert.match(msg, /Authorization: Bearer <token>/);
    assert.match(msg, /bootstrap token/);
    assert.match(msg, /\/data\/admin\.token/);
    assert.ok(msg.includes(INSECURE_REGISTRATION_FLAG));
    const open = new RegistrationAuth({ admin, verifyToken, insecure: true });
    assert.deepEqual(open.authenticate(h(), 'x'), { kind: 'anonymous' });
    // A token given is still checked with the opt-in.
    assert.equal((open.authenticate(h('Bearer nope'), 'x') as { status: number }).status, 401);
  });

  test('admin token: any instance; a workload token: its own identity only (403 names it)', () => {
    const a = auth.authenticate(h(`Bearer ${ADMIN}`), 'x');
    assert.deepEqual(a, { kind: 'admin' });
    assert.equal(
      RegistrationAuth.authorize(a as { kind: 'admin' }, { namespace: 'ns', service: 's' }),
      undefined,
    );
    const w = auth.authenticate(h('Bearer tbt1.web'), 'x');
    assert.ok(!('status' in w) && w.kind === 'workload');
    assert.equal(RegistrationAuth.authorize(w, { namespace: 'default', service: 'web' }), undefined);
    for (const claim of [
      { namespace: 'default', service: 'api' },
      { namespace: 'shop', service: 'web' },
      { namespace: 'default', service: '' },
    ]) {
      const r = RegistrationAuth.authorize(w, claim, 'i-1');
      assert.equal(r?.status, 403, JSON.stringify(claim));
      assert.match(
        (r.body as { error: { message: string } }).error.message,
        /instance i-1: the bootstrap token is bound to spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/,
      );
    }
    const bad = auth.authenticate(h('Bearer garbage'), 'x') as { status: number; body: unknown };
    assert.equal(bad.status, 401);
    assert.doesNotMatch(JSON.stringify(bad.body), /garbage/, 'the token is not echoed');
  });

  test('without an admin guard (no authentication configured) everything is accepted', () => {
    assert.deepEqual(new RegistrationAuth({}).authenticate(h(), 'x'), { kind: 'admin' });
  });
});

describe('plaintext API registration needs a credential', { timeout: 60_000 }, () => {
  let dir: string;
  let cp: RunningControlPlane;
  let base: string;
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, text };
  };
  const workloadToken = async (serviceAccount: string, namespace = 'default'): Promise<string> => {
    const r = await call('POST', '/api/v1/tokens', cp.adminToken, { namespace, serviceAccount });
    assert.equal(r.status, 200, r.text);
    return (JSON.parse(r.text) as { token: string }).token;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-registration-auth-'));
    cp = await startControlPlane({ dataDir: dir, apiPort: 0, securePort: false, logger: silentLogger() });
    base = cp.apiUrl;
  });
  after(async () => {
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('none: 401 on register, heartbeat and delete; nothing registered', async () => {
    for (const [m, p, b] of [
      ['POST', '/api/v1/instances', instance('rogue-1', 'web')],
      ['POST', '/api/v1/instances/rogue-1/heartbeat', undefined],
      ['DELETE', '/api/v1/instances/rogue-1', undefined],
    ] as const) {
      const r = await call(m, p, undefined, b);
      assert.equal(r.status, 401, `${m} ${p}: ${r.text}`);
      assert.match(r.text, /UNAUTHENTICATED/);
      assert.match(r.text, /--insecure-registration/);
    }
    assert.deepEqual(cp.registry.list(), []);
  });

  test('admin token and the right workload token are accepted; another identity gets 403', async () => {
    const web = await workloadToken('web');
    const api = await workloadToken('api');
    assert.equal(
      (await call('POST', '/api/v1/instances', cp.adminToken, instance('api-1', 'api'))).status,
      200,
    );
    const own = await call('POST', '/api/v1/instances', web, instance('web-1', 'web'));
    assert.equal(own.status, 200, own.text);
    assert.equal((await call('POST', '/api/v1/instances/web-1/heartbeat', web)).status, 200);

    const other = await call('POST', '/api/v1/instances', web, instance('api-2', 'api'));
    assert.equal(other.status, 403, other.text);
    assert.match(other.text, /bound to spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/);
    assert.doesNotMatch(other.text, new RegExp(web.replace(/[.]/g, '\\.')), 'the token is not echoed');
    // Taking over another identity's instance id, heartbeating or deleting it: refused.
    assert.equal((await call('POST', '/api/v1/instances', web, instance('api-1', 'web'))).status, 403);
    assert.equal((await call('POST', '/api/v1/instances/api-1/heartbeat', web)).status, 403);
    assert.equal((await call('DELETE', '/api/v1/instances/api-1', web)).status, 403);
    assert.deepEqual(
      cp.registry
        .list()
        .map((i) => `${i.id}:${i.service}`)
        .sort(),
      ['api-1:api', 'web-1:web'],
    );
    // Its own: fine; the api token may delete api-1, the admin token anything.
    assert.equal((await call('DELETE', '/api/v1/instances/web-1', web)).status, 200);
    assert.equal((await call('DELETE', '/api/v1/instances/api-1', api)).status, 200);
    assert.deepEqual(cp.registry.list(), []);
    const junk = await call('POST', '/api/v1/instances', 'not-a-token', instance('web-2', 'web'));
    assert.equal(junk.status, 401, junk.text);
    assert.doesNotMatch(junk.text, /not-a-token/);
  });
});

describe('--insecure-registration: anonymous registration accepted', { timeout: 60_000 }, () => {
  test('no credential: 200', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-registration-insecure-'));
    const cp = await startControlPlane({
      dataDir: dir,
      apiPort: 0,
      securePort: false,
      insecureRegistration: true,
      logger: silentLogger(),
    });
    try {
      const res = await fetch(`${cp.apiUrl}/api/v1/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(instance('web-1', 'web')),
      });
      assert.equal(res.status, 200, await res.text());
      assert.equal(
        (await fetch(`${cp.apiUrl}/api/v1/instances/web-1/heartbeat`, { method: 'POST' })).status,
        200,
      );
      assert.equal((await fetch(`${cp.apiUrl}/api/v1/instances/web-1`, { method: 'DELETE' })).status, 200);
    } finally {
      await cp.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
