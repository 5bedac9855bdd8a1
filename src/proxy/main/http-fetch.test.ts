// httpFetch against a real server on 127.0.0.1: method, headers and body up; status and text
// down; fetch's error shapes for a refused connection and a timeout. The request head and status-line
// helpers it shares with the app readiness probe.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { httpFetch, requestHead, statusOf } from './http-fetch.js';

describe('httpFetch', () => {
  let server: Server;
  let base = '';
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/slow') return; // never answers
        if (req.url === '/interim') {
          res.writeContinue();
          res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        }
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            type: req.headers['content-type'] ?? null,
            length: req.headers['content-length'] ?? null,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('skips interim 1xx answers (100 Continue, 103 Early Hints) and returns the final one', async () => {
    const r = await httpFetch(`${base}/interim`, { method: 'POST', body: 'x' });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(await r.text()) as { body: string }).body, 'x');
  });

  it('sends method, headers and a UTF-8 body; returns status and text', async () => {
    const body = JSON.stringify({ name: 'ü' });
    const res = await httpFetch(`${base}/api/v1/instances?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(await res.text()), {
      method: 'POST',
      url: '/api/v1/instances?x=1',
      type: 'application/json',
      length: String(Buffer.byteLength(body)),
      body,
    });
    const missing = await httpFetch(`${base}/missing`, { method: 'DELETE' });
    assert.equal(missing.status, 404);
  });

  it('calls in a row and at once (sockets are reused after a clean answer) get their own answers', async () => {
    const get = async (path: string, signal?: AbortSignal) => {
      const r = await httpFetch(`${base}${path}`, {
        method: 'PUT',
        body: path,
        ...(signal ? { signal } : {}),
      });
      return `${r.status} ${(JSON.parse(await r.text()) as { body: string }).body}`;
    };
    for (let i = 0; i < 4; i++) {
      assert.equal(await get(`/a${i}`), `200 /a${i}`);
      assert.equal(await get('/missing'), '404 /missing');
      await assert.rejects(
        get('/slow', AbortSignal.timeout(50)),
        (e: unknown) => (e as Error).name === 'TimeoutError',
      );
    }
    assert.deepEqual(await Promise.all(['/x', '/missing', '/y'].map((p) => get(p))), [
      '200 /x',
      '404 /missing',
      '200 /y',
    ]);
  });

  it('rejects like fetch: TypeError with the socket error as cause, or the abort reason', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    await assert.rejects(httpFetch(`http://127.0.0.1:${port}/`, { method: 'GET' }), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.equal(e.message, 'fetch failed');
      assert.equal((e.cause as { code?: string }).code, 'ECONNREFUSED');
      return true;
    });
    await assert.rejects(
      httpFetch(`${base}/slow`, { method: 'GET', signal: AbortSignal.timeout(100) }),
      (e: unknown) => (e as Error).name === 'TimeoutError',
    );
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await assert.rejects(httpFetch(`${base}/`, { method: 'GET', signal: ac.signal }), /gone/);
  });
});

describe('requestHead and statusOf', () => {
  it('writes one request head ending in an empty line, extra headers after Host and Connection', () => {
    assert.equal(
      requestHead('GET', '/healthz?x=1', '[::1]:8081'),
      'GET /healthz?x=1 HTTP/1.1\r\nHost: [::1]:8081\r\nConnection: close\r\n\r\n',
    );
    assert.equal(
      requestHead('POST', '/a', 'h', 'content-length: 2\r\n'),
      'POST /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\ncontent-length: 2\r\n\r\n',
    );
  });
  it('reads the code of an HTTP/1.0 or 1.1 status line only', () => {
    assert.equal(statusOf('HTTP/1.1 204 No Content'), 204);
    assert.equal(statusOf('HTTP/1.0 503'), 503);
    assert.equal(statusOf('HTTP/1.1 2000 OK'), undefined);
    assert.equal(statusOf('HTTP/2 200'), undefined);
    assert.equal(statusOf('SSH-2.0-OpenSSH'), undefined);
  });
});
