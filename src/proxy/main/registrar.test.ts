// The registrar on a fake clock and a fake control plane: register, heartbeat every ttl/3,
// re-register on 404, retry with backoff while the control plane is down, deregister.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  netFetch,
  Registrar,
  registrationTokenSource,
  type FetchLike,
  type Registration,
} from './registrar.js';

const REG: Registration = {
  id: 'reviews-1',
  service: 'reviews',
  namespace: 'default',
  address: '127.0.0.1',
  port: 15006,
  labels: { version: 'v1' },
  ttlSeconds: 15,
  sidecar: true,
};

/** A scripted control plane: records calls; `mode` decides the answers. */
function fakeApi() {
  const calls: string[] = [];
  const state = { mode: 'up' as 'up' | 'down' | 'forgot', known: new Set<string>() };
  const fetch: FetchLike = async (url, init) => {
    const path = new URL(url).pathname;
    calls.push(`${init.method} ${path}`);
    if (state.mode === 'down') throw new Error('connect ECONNREFUSED');
    if (state.mode === 'forgot') {
      state.known.clear();
      state.mode = 'up';
    }
    const answer = (status: number) => ({ status, text: async () => '{}' });
    if (init.method === 'POST' && path === '/api/v1/instances') {
      const body = JSON.parse(init.body ?? '{}') as Registration;
      state.known.add(body.id);
      return answer(200);
    }
    const m = /^\/api\/v1\/instances\/([^/]+)(\/heartbeat)?$/.exec(path);
    if (m && init.method === 'POST') return answer(state.known.has(m[1]!) ? 200 : 404);
    if (m && init.method === 'DELETE') {
      state.known.delete(m[1]!);
      return answer(200);
    }
    return answer(500);
  };
  return { calls, state, fetch };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

async function advance(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await flush();
  }
}

describe('Registrar', () => {
  test('registers, heartbeats every ttl/3 with jitter, re-registers on 404, deregisters', async () => {
    const clock = new FakeClock();
    const api = fakeApi();
    const changes: boolean[] = [];
    const r = new Registrar({
      api: 'http://cp',
      logger: silentLogger(),
      clock,
      random: () => 0.5,
      fetch: api.fetch,
      onChange: (v) => changes.push(v),
    });
    r.want(REG);
    await advance(clock, 0);
    await advance(clock, 100);
    assert.deepEqual(api.calls, ['POST /api/v1/instances']);
    assert.equal(r.registered(), true);
    await advance(clock, 5000);
    assert.deepEqual(api.calls.slice(1), ['POST /api/v1/instances/reviews-1/heartbeat']);
    api.state.mode = 'forgot';
    await advance(clock, 5200);
    assert.deepEqual(api.calls.slice(2), [
      'POST /api/v1/instances/reviews-1/heartbeat',
      'POST /api/v1/instances',
    ]);
    assert.equal(r.registered(), true);
    r.want(undefined);
    await advance(clock, 100);
    assert.equal(api.calls.at(-1), 'DELETE /api/v1/instances/reviews-1');
    assert.equal(r.registered(), false);
    assert.deepEqual(changes, [true, false, true, false]);
    await advance(clock, 20_000);
    assert.equal(api.calls.at(-1), 'DELETE /api/v1/instances/reviews-1', 'nothing after deregistering');
  });

  test('keeps retrying with capped backoff while the control plane is down, never throws', async () => {
    const clock = new FakeClock();
    const api = fakeApi();
    api.state.mode = 'down';
    const r = new Registrar({
      api: 'http://cp',
      logger: silentLogger(),
      clock,
      random: () => 0,
      fetch: api.fetch,
    });
    r.want(REG);
    await advance(clock, 60_000, 250);
    const attempts = api.calls.length;
    assert.ok(attempts >= 6 && attempts <= 40, `backoff spaced the attempts (${attempts} in 60 s)`);
    assert.equal(r.registered(), false);
    api.state.mode = 'up';
    await advance(clock, 12_000, 250);
    assert.equal(r.registered(), true);
    await r.stop(1000);
    assert.equal(api.calls.at(-1), 'DELETE /api/v1/instances/reviews-1');
    assert.equal(r.registered(), false);
  });

  test('a changed registration (new port) is registered again under the same id', async () => {
    const clock = new FakeClock();
    const api = fakeApi();
    const r = new Registrar({ api: 'http://cp', logger: silentLogger(), clock, fetch: api.fetch });
    r.want(REG);
    await advance(clock, 100);
    r.want({ ...REG, port: 15007 });
    await advance(clock, 100);
    assert.deepEqual(api.calls, ['POST /api/v1/instances', 'POST /api/v1/instances']);
    await r.stop(1000);
  });
  test('stop() or want(undefined) while the registration POST is in flight still deregisters', async () => {
    for (const how of ['stop', 'want'] as const) {
      const clock = new FakeClock();
      const api = fakeApi();
      let release: (() => void) | undefined;
      const gated: FetchLike = (url, init) => {
        if (init.method === 'POST' && new URL(url).pathname === '/api/v1/instances' && release === undefined)
          return new Promise((res) => (release = () => res(api.fetch(url, init))));
        return api.fetch(url, init);
      };
      const r = new Registrar({ api: 'http://cp', logger: silentLogger(), clock, fetch: gated });
      r.want(REG);
      await advance(clock, 100);
      assert.ok(release, 'the registration POST is in flight');
      if (how === 'stop') {
        const stopping = r.stop(1000);
        release();
        await stopping;
      } else {
        r.want(undefined);
        release();
        await advance(clock, 100);
      }
      assert.deepEqual(api.calls, ['POST /api/v1/instances', 'DELETE /api/v1/instances/reviews-1'], how);
      assert.equal(api.state.known.size, 0, `${how}: the control plane no longer holds the instance`);
      assert.equal(r.registered(), false);
      await r.stop(1000);
    }
  });
  test('sends the registration token as Bearer over http: only, on every call', async () => {
    for (const api of ['http://cp', 'https://cp']) {
      const clock = new FakeClock();
      const seen: (string | undefined)[] = [];
      const fetch: FetchLike = async (_url, init) => {
        seen.push(init.headers?.['authorization']);
        return { status: 200, text: async () => '{}' };
      };
      const r = new Registrar({
        api,
        logger: silentLogger(),
        clock,
        random: () => 0.5,
        fetch,
        token: { description: 'test', read: async () => 'tbt1.secret\n' },
      });
      r.want(REG);
      await advance(clock, 6000);
      await r.stop(1000);
      assert.ok(seen.length >= 3, `register, heartbeat, deregister: ${seen.length}`);
      for (const h of seen) assert.equal(h, api === 'http://cp' ? 'Bearer tbt1.secret' : undefined);
    }
  });

  test('registrationTokenSource: TRELLIS_REGISTRATION_TOKEN_FILE first, then the bootstrap token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-reg-token-'));
    try {
      const reg = join(dir, 'reg.token');
      const boot = join(dir, 'boot.token');
      writeFileSync(reg, 'tbt1.reg\n', { mode: 0o600 });
      writeFileSync(boot, 'tbt1.boot\n', { mode: 0o600 });
      const read = async (s: ReturnType<typeof registrationTokenSource>) => (await s?.read())?.trim();
      assert.equal(
        await read(registrationTokenSource(boot, { TRELLIS_REGISTRATION_TOKEN_FILE: reg })),
        'tbt1.reg',
      );
      assert.equal(await read(registrationTokenSource(boot, {})), 'tbt1.boot');
      assert.equal(await read(registrationTokenSource(undefined, { TRELLIS_TOKEN_FILE: boot })), 'tbt1.boot');
      assert.equal(await read(registrationTokenSource(undefined, { TRELLIS_TOKEN: 'tbt1.env' })), 'tbt1.env');
      assert.equal(registrationTokenSource(undefined, {}), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("netFetch (the registrar's default transport)", () => {
  test('against a real server: method, headers, body up; status and body down (length, chunked, close)', async () => {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/slow') return;
        const echo = JSON.stringify({
          method: req.method,
          url: req.url,
          auth: req.headers['authorization'] ?? null,
          type: req.headers['content-type'] ?? null,
          length: req.headers['content-length'] ?? null,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        if (req.url === '/chunked') {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.write(echo.slice(0, 5));
          res.end(echo.slice(5));
          return;
        }
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-length': Buffer.byteLength(echo) });
        res.end(echo);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const body = JSON.stringify({ name: 'ü' });
      const r1 = await netFetch(`${base}/api/v1/instances?x=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer t0k' },
        body,
      });
      assert.equal(r1.status, 200);
      assert.deepEqual(JSON.parse(await r1.text()), {
        method: 'POST',
        url: '/api/v1/instances?x=1',
        auth: 'Bearer t0k',
        type: 'application/json',
        length: String(Buffer.byteLength(body)),
        body,
      });
      const r2 = await netFetch(`${base}/chunked`, { method: 'POST' });
      assert.equal(r2.status, 201);
      assert.equal(JSON.parse(await r2.text()).length, '0');
      const r3 = await netFetch(`${base}/missing`, { method: 'DELETE' });
      assert.equal(r3.status, 404);
      await assert.rejects(
        netFetch(`${base}/slow`, { method: 'GET', signal: AbortSignal.timeout(100) }),
        (e: unknown) => (e as Error).name === 'TimeoutError',
      );
      const ac = new AbortController();
      ac.abort(new Error('gone'));
      await assert.rejects(netFetch(`${base}/`, { method: 'GET', signal: ac.signal }), /gone/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
    await once(server, 'close');
    await assert.rejects(netFetch(`${base}/`, { method: 'GET' }), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.equal(e.message, 'fetch failed');
      assert.equal((e.cause as { code?: string }).code, 'ECONNREFUSED');
      return true;
    });
  });
});

describe('Registrar over its default transport (netFetch)', () => {
  test('a call that times out is retried, and the calls after it get their own deadline', async () => {
    const seen: string[] = [];
    let stall = 0;
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        // The first heartbeat never answers: the registrar must time it out, retry, and go on.
        if (req.url?.endsWith('/heartbeat') && stall++ === 0) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = new Registrar({ api, logger: silentLogger(), requestTimeoutMs: 200, random: () => 0 });
    try {
      // ttl 1 s: a heartbeat every ~270 ms (ttl/3 at the low end of the jitter).
      r.want({ ...REG, ttlSeconds: 1 });
      const deadline = Date.now() + 5000;
      while (seen.filter((s) => s.endsWith('/heartbeat')).length < 4 && Date.now() < deadline)
        await new Promise((res) => setTimeout(res, 20));
      assert.ok(r.registered());
      assert.equal(seen[0], 'POST /api/v1/instances');
      assert.ok(seen.filter((s) => s.endsWith('/heartbeat')).length >= 4, seen.join(', '));
      await r.stop(1000);
      assert.equal(seen.at(-1), `DELETE /api/v1/instances/${REG.id}`);
      assert.equal(r.registered(), false);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
