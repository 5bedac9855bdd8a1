// probeApp against real sockets on 127.0.0.1: TCP connect, and the HTTP GET readiness check
// (2xx/3xx ready; 1xx skipped; 4xx/5xx, garbage, refused and silence not ready, within the timeout).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { probeApp } from './app-probe.js';

/** A raw TCP app that answers each connection with `reply(request)` (undefined = stays silent). */
async function rawApp(reply: (req: string) => string | undefined) {
  const seen: string[] = [];
  const socks = new Set<Socket>();
  const server = createServer((s) => {
    socks.add(s);
    s.on('close', () => socks.delete(s));
    let req = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => {
      req += c;
      if (!req.includes('\r\n\r\n')) return;
      seen.push(req);
      const r = reply(req);
      if (r !== undefined) s.end(r);
    });
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    seen,
    close: async () => {
      for (const s of socks) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('probeApp', () => {
  test('TCP: a listening port is ready, a closed one is not', async () => {
    const app = await rawApp(() => undefined);
    assert.deepEqual(await probeApp({ address: '127.0.0.1', port: app.port }, 1000), { ok: true });
    await app.close();
    const r = await probeApp({ address: '127.0.0.1', port: app.port }, 1000);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, new RegExp(`^app at 127\\.0\\.0\\.1:${app.port}: .*ECONNREFUSED`));
  });

  test('TCP: checks in a row and at once (their sockets are reused) each get their own answer', async () => {
    const up = await rawApp(() => undefined);
    const down = await rawApp(() => undefined);
    await down.close();
    const tUp = { address: '127.0.0.1', port: up.port };
    const tDown = { address: '127.0.0.1', port: down.port };
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await probeApp(tUp, 1000), { ok: true });
      const r = await probeApp(tDown, 1000);
      assert.match(r.ok ? '' : r.reason, new RegExp(`^app at 127\\.0\\.0\\.1:${down.port}: .*ECONNREFUSED`));
    }
    const all = await Promise.all([tUp, tDown, tUp, tDown, tUp].map((t) => probeApp(t, 1000)));
    assert.deepEqual(
      all.map((r) => r.ok),
      [true, false, true, false, true],
    );
    await up.close();
  });

  test('HTTP: GET path with Host; 2xx/3xx ready, 1xx skipped, 4xx/5xx and garbage not', async () => {
    let answer = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    const app = await rawApp(() => answer);
    const t = { address: '127.0.0.1', port: app.port, path: '/healthz?x=1' };
    assert.deepEqual(await probeApp(t, 1000), { ok: true });
    assert.match(app.seen[0] ?? '', /^GET \/healthz\?x=1 HTTP\/1\.1\r\n/);
    assert.match(app.seen[0] ?? '', new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${app.port}\r\n`, 'i'));
    answer = 'HTTP/1.1 302 Found\r\nlocation: /x\r\n\r\n';
    assert.deepEqual(await probeApp(t, 1000), { ok: true });
    answer = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n';
    assert.deepEqual(await probeApp(t, 1000), { ok: true });
    answer = 'HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n';
    assert.deepEqual(await probeApp(t, 1000), {
      ok: false,
      reason: `app readiness check GET /healthz?x=1 on 127.0.0.1:${app.port} answered 503`,
    });
    answer = 'SSH-2.0-OpenSSH\r\n';
    const g = await probeApp(t, 1000);
    assert.equal(g.ok, false);
    assert.match(g.ok ? '' : g.reason, /^app readiness check GET \/healthz\?x=1 on .*: Parse Error/);
    answer = '';
    const h = await probeApp(t, 1000);
    assert.match(h.ok ? '' : h.reason, /socket hang up$/);
    await app.close();
  });

  test('HTTP: an app that never answers is not ready after the timeout', async () => {
    const app = await rawApp(() => undefined);
    const started = Date.now();
    const r = await probeApp({ address: '127.0.0.1', port: app.port, path: '/' }, 200);
    assert.deepEqual(r, {
      ok: false,
      reason: `app at 127.0.0.1:${app.port} did not answer within 200 ms`,
    });
    assert.ok(Date.now() - started < 2000);
    await app.close();
  });
});
