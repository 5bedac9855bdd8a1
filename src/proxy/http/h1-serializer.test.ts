// Serializer: client framing and hop-by-hop fields are never copied, our own framing is added,
// and what we write parses back (strictly) to the same message.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeChunk,
  encodeLastChunk,
  H1SerializeError,
  serializeRequestHead,
  serializeResponseHead,
} from './h1-serializer.js';
import { runParser } from './h1-test-support.js';
import type { H1RequestHead, H1ResponseHead } from './h1-types.js';

const crlf = (s: string): Buffer => Buffer.from(s.replace(/\n/g, '\r\n'), 'latin1');

function parseOne<T>(kind: 'request' | 'response', s: string | Buffer): T {
  const o = runParser(kind, typeof s === 'string' ? crlf(s) : s);
  assert.ok(o.error === null || o.error === 'H1_INCOMPLETE_MESSAGE', String(o.error)); // head without its body
  const e = o.events[0];
  assert.ok(e !== undefined && 'head' in e);
  return e.head as T;
}

describe('h1 serializer', () => {
  it('re-frames a chunked request: drops CL/TE/Connection and the fields Connection lists', () => {
    const head = parseOne<H1RequestHead>(
      'request',
      'POST http://Api.local/v1?x HTTP/1.1\nHost: api.local\nTransfer-Encoding: chunked\nConnection: keep-alive, X-Hop\n' +
        'Keep-Alive: timeout=5\nX-Hop: secret\nTE: trailers, deflate\nProxy-Connection: keep-alive\nX-Keep: 1\n\n',
    );
    const out = serializeRequestHead(head, { body: 'chunked', extraHeaders: ['x-mesh-id', 'a1'] }).toString(
      'latin1',
    );
    assert.equal(
      out,
      'POST /v1?x HTTP/1.1\r\nhost: Api.local\r\nx-keep: 1\r\nx-mesh-id: a1\r\nte: trailers\r\n' +
        'transfer-encoding: chunked\r\n\r\n',
    );
  });

  it('writes our own Content-Length and connection: close, and drops listed extras', () => {
    const head = parseOne<H1RequestHead>(
      'request',
      'PUT /a HTTP/1.1\nHost: a\nContent-Length: 3\nX-Forwarded-Client-Cert: forged\n\n',
    );
    const out = serializeRequestHead(head, {
      body: 3,
      connection: 'close',
      drop: new Set(['x-forwarded-client-cert']),
    }).toString('latin1');
    assert.equal(out, 'PUT /a HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\nconnection: close\r\n\r\n');
  });

  it('keeps a websocket upgrade', () => {
    const head = parseOne<H1RequestHead>(
      'request',
      'GET /ws HTTP/1.1\nHost: a\nConnection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Key: k\n\n',
    );
    const out = serializeRequestHead(head, { body: 'none' }).toString('latin1');
    assert.equal(
      out,
      'GET /ws HTTP/1.1\r\nhost: a\r\nsec-websocket-key: k\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n',
    );
  });

  it('refuses injected CR/LF in fields it did not parse', () => {
    const head = parseOne<H1RequestHead>('request', 'GET / HTTP/1.1\nHost: a\n\n');
    assert.throws(
      () => serializeRequestHead(head, { body: 'none', extraHeaders: ['x', 'a\r\nb: c'] }),
      H1SerializeError,
    );
    assert.throws(
      () => serializeRequestHead(head, { body: 'none', extraHeaders: ['X Y', 'a'] }),
      H1SerializeError,
    );
    assert.throws(
      () => serializeRequestHead(head, { body: 'none', authority: 'a\r\nx: y' }),
      H1SerializeError,
    );
    assert.throws(() => serializeRequestHead(head, { body: 'none', path: '/a b' }), H1SerializeError);
  });

  it('re-frames a response and round-trips through the parser', () => {
    const res = parseOne<H1ResponseHead>(
      'response',
      'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nConnection: close\nTrailer: grpc-status\nContent-Type: a/b\n\n',
    );
    const head = serializeResponseHead(res, { body: 'chunked' });
    const body = Buffer.concat([
      head,
      ...encodeChunk(Buffer.from('hello')),
      ...encodeChunk(Buffer.alloc(0)),
      encodeLastChunk(['grpc-status', '0', 'content-length', '9']),
    ]);
    assert.equal(
      body.toString('latin1'),
      'HTTP/1.1 200 OK\r\ntrailer: grpc-status\r\ncontent-type: a/b\r\ntransfer-encoding: chunked\r\n\r\n' +
        '5\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n',
    );
    const o = runParser('response', body);
    assert.equal(o.error, null);
    assert.deepEqual(o.events.slice(1), [{ body: 'hello' }, { end: ['grpc-status', '0'] }]);
  });

  it('101 keeps the upgrade; 204 refuses a body', () => {
    const sw = parseOne<H1ResponseHead>(
      'response',
      'HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: upgrade\n\n',
    );
    assert.equal(
      serializeResponseHead(sw, { body: 'none' }).toString('latin1'),
      'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n',
    );
    const nc = parseOne<H1ResponseHead>('response', 'HTTP/1.1 204 No Content\n\n');
    assert.throws(() => serializeResponseHead(nc, { body: 0 }), H1SerializeError);
  });

  it('obs-text values are written back byte for byte', () => {
    const input = Buffer.concat([
      crlf('GET / HTTP/1.1\nHost: a\nX-L: caf'),
      Buffer.from([0xe9, 0xff]),
      crlf('\n\n'),
    ]);
    const head = parseOne<H1RequestHead>('request', input);
    const out = serializeRequestHead(head, { body: 'none' });
    assert.ok(out.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff, 0x0d, 0x0a])));
  });

  it('writes long and short fields, te: trailers, extras and keep-alive at their exact length', () => {
    const long = `v${'x'.repeat(70)}`;
    const input = Buffer.concat([
      crlf(`POST /p HTTP/1.1\nHost: a\nTE: trailers\nX-Long: ${long}\nX-Obs: `),
      Buffer.from(`${'y'.repeat(30)}\xe9`, 'latin1'),
      crlf('\nContent-Length: 3\n\n'),
    ]);
    const head = parseOne<H1RequestHead>('request', input);
    const out = serializeRequestHead(head, {
      body: 3,
      authority: 'svc:8080',
      extraHeaders: ['x-request-id', 'abc-1', 'x-long-extra', 'z'.repeat(40)],
    });
    assert.equal(
      out.toString('latin1'),
      `POST /p HTTP/1.1\r\nhost: svc:8080\r\nx-long: ${long}\r\nx-obs: ${'y'.repeat(30)}\xe9\r\n` +
        `x-request-id: abc-1\r\nx-long-extra: ${'z'.repeat(40)}\r\nte: trailers\r\ncontent-length: 3\r\n\r\n`,
    );
    const resp = parseOne<H1ResponseHead>(
      'response',
      `HTTP/1.1 503 Service Unavailable\nRetry-After: 1\nX-Long: ${long}\nContent-Length: 0\n\n`,
    );
    assert.equal(
      serializeResponseHead(resp, { body: 0, connection: 'keep-alive' }).toString('latin1'),
      `HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nx-long: ${long}\r\n` +
        'content-length: 0\r\nconnection: keep-alive\r\n\r\n',
    );
  });
});
