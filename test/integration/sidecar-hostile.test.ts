// Hostile downstream input over raw sockets: smuggling attempts get 400 and a closed connection and
// never reach the app; slowloris gets 408; oversized heads 431; limits on connections.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import {
  buildConfig,
  rawExchange,
  route,
  startApp,
  startPlane,
  vhost,
  type FakeApp,
} from './sidecar-harness.js';

describe('sidecar h1: hostile input', { timeout: 30_000 }, () => {
  let app: FakeApp;
  let dp: DataPlane;
  let port: number;
  before(async () => {
    app = await startApp('app');
    ({ dp, port } = await startPlane(
      buildConfig({
        vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
        clusters: { c: [app.port] },
      }),
      { limits: { requestHeadersTimeoutMs: 300, h1: { maxHeaderBytes: 4096, maxHeaderCount: 20 } } },
    ));
  });
  after(async () => {
    await dp.close();
    await app.close();
  });

  const smuggling: [string, string][] = [
    [
      'CL + TE',
      'POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 6\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: svc\r\n\r\n',
    ],
    [
      'duplicate CL',
      'POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 5\r\ncontent-length: 44\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nhost: svc\r\n\r\n',
    ],
    ['bare LF', 'GET / HTTP/1.1\nhost: svc\n\nGET /smuggled HTTP/1.1\r\nhost: svc\r\n\r\n'],
    [
      'obs-fold',
      'GET / HTTP/1.1\r\nhost: svc\r\nx-a: 1\r\n  folded\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: svc\r\n\r\n',
    ],
    [
      'TE not chunked-final',
      'POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: svc\r\n\r\n',
    ],
    ['space before colon', 'GET / HTTP/1.1\r\nhost: svc\r\ncontent-length : 5\r\n\r\nhello'],
    ['duplicate host', 'GET / HTTP/1.1\r\nhost: svc\r\nhost: other\r\n\r\n'],
    ['NUL in value', 'GET / HTTP/1.1\r\nhost: svc\r\nx-a: a\0b\r\n\r\n'],
  ];
  for (const [name, bytes] of smuggling) {
    it(`${name}: 400, connection closed, nothing reaches the app`, async () => {
      const before = app.requests.length;
      const { responses, closed } = await rawExchange(port, bytes, 99);
      assert.equal(responses.length, 1, JSON.stringify(responses));
      assert.equal(responses[0]!.status, 400);
      assert.match(responses[0]!.headers['x-trellis-error'] ?? '', /^BAD_REQUEST; sidecar=sidecar-test$/);
      assert.equal(responses[0]!.headers['connection'], 'close');
      assert.ok(closed);
      assert.equal(app.requests.length, before);
    });
  }

  it('a chunked body with a bad chunk after forwarding started: the connection is cut', async () => {
    const { closed } = await rawExchange(
      port,
      'POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX\r\n',
      99,
    );
    assert.ok(closed);
  });

  it('slowloris: an incomplete head gets 408 and is closed', async () => {
    const t0 = Date.now();
    const { responses, closed } = await rawExchange(port, 'GET / HTTP/1.1\r\nhost: svc\r\nx-slow: 1', 99);
    assert.equal(responses[0]?.status, 408);
    assert.match(responses[0]?.headers['x-trellis-error'] ?? '', /^REQUEST_HEADERS_TIMEOUT/);
    assert.ok(closed);
    assert.ok(Date.now() - t0 < 3000);
  });

  it('slowloris trickling bytes is still cut at the deadline', async () => {
    const s = connect(port, '127.0.0.1');
    let raw = '';
    s.on('data', (d) => (raw += d.toString('latin1')));
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('error', () => undefined);
    const iv = setInterval(() => s.write('x'), 50);
    s.write('GET / HTTP/1.1\r\nhost: svc\r\nx-slow: ');
    await closed;
    clearInterval(iv);
    assert.match(raw, /^HTTP\/1\.1 408 /);
  });

  it('oversized header section: 431', async () => {
    const { responses, closed } = await rawExchange(
      port,
      `GET / HTTP/1.1\r\nhost: svc\r\nx-big: ${'a'.repeat(5000)}\r\n\r\n`,
      99,
    );
    assert.equal(responses[0]?.status, 431);
    assert.ok(closed);
  });

  it('too many header fields: 431', async () => {
    let h = '';
    for (let i = 0; i < 30; i++) h += `x-h${i}: 1\r\n`;
    const { responses } = await rawExchange(port, `GET / HTTP/1.1\r\nhost: svc\r\n${h}\r\n`, 99);
    assert.equal(responses[0]?.status, 431);
  });

  it('after Connection: close the rest of the bytes is never parsed', async () => {
    const before = app.requests.length;
    const { responses, closed } = await rawExchange(
      port,
      'GET /first HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\nGET /second HTTP/1.1\r\nhost: svc\r\n\r\n',
      99,
    );
    assert.equal(responses.length, 1);
    assert.ok(closed);
    assert.deepEqual(
      app.requests.slice(before).map((r) => r.url),
      ['/first'],
    );
  });

  it('HTTP/1.0 client gets a close-delimited or sized response', async () => {
    const { responses, closed } = await rawExchange(port, 'GET /ten HTTP/1.0\r\nhost: svc\r\n\r\n', 99);
    assert.equal(responses[0]?.status, 200);
    assert.ok(closed);
  });
});

describe('sidecar h1: connection limit', { timeout: 30_000 }, () => {
  it('refuses connections beyond maxConnections', async () => {
    const app = await startApp('app');
    const { dp, port } = await startPlane(
      buildConfig({
        vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
        clusters: { c: [app.port] },
      }),
      { limits: { maxConnections: 2 } },
    );
    const open = (): Promise<{ closedEarly: boolean }> =>
      new Promise((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => undefined);
        s.write('GET / HTTP/1.1\r\nhost: svc\r\n\r\n');
        s.once('data', () => resolve({ closedEarly: false }));
        s.once('close', () => resolve({ closedEarly: true }));
        socks.push(s);
      });
    const socks: ReturnType<typeof connect>[] = [];
    const r1 = await open();
    const r2 = await open();
    const r3 = await open();
    assert.deepEqual([r1.closedEarly, r2.closedEarly, r3.closedEarly], [false, false, true]);
    for (const s of socks) s.destroy();
    await dp.close();
    await app.close();
  });
});
