// The wire layer against node:http2 (nghttp2) both ways: our client to a node server, a node
// client to our server; big bodies past every window, trailers, resets, many streams, GOAWAY.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  connect as h2connect,
  createServer as h2server,
  constants,
  type ServerHttp2Stream,
} from 'node:http2';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collect, EchoServer, listen, wireClient } from './test-helpers.js';

const GET = (path: string, extra: string[] = []): string[] => [
  ':method',
  'GET',
  ':scheme',
  'http',
  ':authority',
  'test',
  ':path',
  path,
  ...extra,
];
const POST = (path: string, extra: string[] = []): string[] => [
  ':method',
  'POST',
  ':scheme',
  'http',
  ':authority',
  'test',
  ':path',
  path,
  ...extra,
];

function nodeEcho(stream: ServerHttp2Stream, headers: Record<string, unknown>): void {
  const path = String(headers[':path']);
  stream.on('error', () => undefined);
  if (path === '/reset') {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    const body = Buffer.concat(chunks);
    const reply = (): void => {
      if (stream.destroyed) return;
      stream.respond(
        { ':status': 200, 'x-len': String(body.length), 'x-huff': 'www.example.com/Ünïcode?' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-t': 'tail' }));
      stream.end(body);
    };
    const d = /delay=(\d+)/.exec(path);
    if (d !== null) setTimeout(reply, Number(d[1]));
    else reply();
  });
}

describe('wire client → node:http2 server', async () => {
  const server = h2server();
  server.on('stream', (s, h) => nodeEcho(s, h as Record<string, unknown>));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  after(() => server.close());

  it('GET, headers (Huffman from nghttp2), trailers', async () => {
    const c = await wireClient(port);
    const r = new Collect();
    c.request(GET('/a', ['x-a', '1']), true, r);
    await r.done;
    assert.equal(r.reset, null);
    assert.equal(r.head?.[1], '200');
    assert.equal(r.head?.[r.head.indexOf('x-huff') + 1], 'www.example.com/Ünïcode?');
    assert.deepEqual(r.trailers, ['grpc-status', '0', 'x-t', 'tail']);
    c.destroy();
  });

  it('3 MiB echo: flow control beyond every window, both ways', async () => {
    const c = await wireClient(port);
    const body = randomBytes(3 * 1024 * 1024 + 7);
    const r = new Collect();
    const s = c.request(POST('/echo'), false, r);
    for (let i = 0; i < body.length; i += 100_000) s.write(body.subarray(i, i + 100_000));
    s.end();
    await r.done;
    assert.equal(r.reset, null);
    assert.ok(r.body.equals(body));
    c.destroy();
  });

  it('a server reset reaches the stream; 60 concurrent streams', async () => {
    const c = await wireClient(port);
    const rr = new Collect();
    c.request(GET('/reset'), true, rr);
    await rr.done;
    assert.equal(rr.reset, constants.NGHTTP2_INTERNAL_ERROR);
    assert.equal(rr.resetByPeer, true);
    const all = Array.from({ length: 60 }, (_, i) => {
      const r = new Collect();
      const s = c.request(POST(`/x${i}?delay=${i % 5}`), false, r);
      s.write(Buffer.from(`body-${i}`));
      s.end();
      return r;
    });
    await Promise.all(all.map((r) => r.done));
    all.forEach((r, i) => assert.equal(r.body.toString(), `body-${i}`));
    c.destroy();
  });

  it('GOAWAY while streams are in flight: they finish, new ones are refused', async () => {
    const sessions: import('node:http2').ServerHttp2Session[] = [];
    server.once('session', (s) => sessions.push(s));
    const c = await wireClient(port);
    const r = new Collect();
    c.request(GET('/slow?delay=100'), true, r);
    await new Promise((res) => setTimeout(res, 30));
    sessions[0]?.close(); // GOAWAY(NO_ERROR, last = 1)
    await r.done;
    assert.equal(r.reset, null);
    assert.equal(r.head?.[1], '200');
    assert.ok(c.gone);
    assert.throws(() => c.request(GET('/late'), true, new Collect()));
  });
});

describe('node:http2 client → wire server', async () => {
  const conns: EchoServer[] = [];
  const { server, port } = await listen((sock) => {
    const c = new EchoServer(sock);
    conns.push(c);
    c.start();
  });
  after(() => (server as Server).close());

  async function call(
    session: import('node:http2').ClientHttp2Session,
    path: string,
    body: Buffer | null,
    extra: Record<string, string> = {},
  ): Promise<{
    status: number;
    body: Buffer;
    trailers: Record<string, unknown>;
    rst: number;
    headers: Record<string, unknown>;
  }> {
    const req = session.request(
      { ':method': body === null ? 'GET' : 'POST', ':path': path, ...extra },
      { endStream: body === null, waitForTrailers: body !== null },
    );
    if (body !== null) {
      req.on('wantTrailers', () => req.sendTrailers({ 'x-req-trailer': 'rt' }));
      req.end(body);
    }
    const chunks: Buffer[] = [];
    let headers: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    req.on('response', (h) => (headers = h as Record<string, unknown>));
    req.on('trailers', (t) => (trailers = t as Record<string, unknown>));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    await once(req, 'close');
    return {
      status: Number(headers[':status'] ?? 0),
      body: Buffer.concat(chunks),
      trailers,
      rst: req.rstCode ?? 0,
      headers,
    };
  }

  it('GET with Huffman + dynamic table headers, 2 MiB echo with request trailers', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    const a = await call(session, '/a', null, { 'x-echo-a': 'www.example.com', 'x-echo-b': 'custom-value' });
    assert.equal(a.status, 200);
    assert.equal(a.headers['x-echo-a'], 'www.example.com');
    const again = await call(session, '/a', null, {
      'x-echo-a': 'www.example.com',
      'x-echo-b': 'custom-value',
    });
    assert.equal(again.headers['x-echo-b'], 'custom-value'); // the second block uses nghttp2's dynamic table
    const body = randomBytes(2 * 1024 * 1024 + 3);
    const r = await call(session, '/echo', body);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(body));
    assert.equal(r.trailers['x-trailer'], 'yes');
    assert.equal(r.headers['x-got-trailers'], 'x-req-trailer=rt');
    session.close();
  });

  it('100 concurrent streams; past MAX_CONCURRENT_STREAMS they are refused', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.maxConcurrentStreams, 100);
    const rs = await Promise.all(
      Array.from({ length: 100 }, (_, i) => call(session, `/s${i}?delay=20`, Buffer.from(`b${i}`))),
    );
    rs.forEach((r, i) => assert.equal(r.body.toString(), `b${i}`));
    session.close();
  });

  it('stream resets both ways, GOAWAY drain with streams in flight', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    const r = await call(session, '/reset', null);
    assert.equal(r.rst, constants.NGHTTP2_CANCEL);
    // client cancels: the server side sees a reset, the connection lives on
    const req = session.request({ ':path': '/slow?delay=50', ':method': 'POST' });
    req.on('error', () => undefined);
    req.write('x');
    req.close(constants.NGHTTP2_CANCEL);
    await once(req, 'close');
    const ok = await call(session, '/after', null);
    assert.equal(ok.status, 200);
    session.close();
  });

  it('our GOAWAY (drain) lets in-flight streams finish, then closes', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    let goaway = -1;
    session.on('goaway', (code) => (goaway = code));
    const first = call(session, '/slow?delay=80', Buffer.from('in-flight'));
    await new Promise((res) => setTimeout(res, 30));
    const c = conns[conns.length - 1] as EchoServer;
    c.drain();
    const r = await first;
    assert.equal(r.body.toString(), 'in-flight');
    assert.equal(goaway, 0);
    await once(session, 'close');
    assert.equal(c.closed || c.socket.destroyed || c.socket.writableEnded, true);
  });
});

describe('curl --http2-prior-knowledge → wire server', async () => {
  const { server, port } = await listen((sock) => new EchoServer(sock).start());
  after(() => (server as Server).close());
  const curl = (args: string[]): Promise<{ code: number; out: string }> =>
    new Promise((resolve) =>
      execFile('curl', args, { timeout: 10_000, maxBuffer: 8 << 20 }, (err, out) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out }),
      ),
    );

  it('GET and a 1 MiB POST with curl (nghttp2 inside)', async (t) => {
    if ((await curl(['--version'])).code !== 0) {
      const msg = 'curl is not installed (an independent HTTP/2 client, nghttp2 inside)';
      if (process.env['CI']) throw new Error(`${msg}; CI=true, so this is a failure: apt-get install curl`);
      t.skip(msg);
      return;
    }
    const get = await curl([
      '-s',
      '--http2-prior-knowledge',
      '-D',
      '-',
      '-H',
      'x-echo-c: curl',
      `http://127.0.0.1:${port}/c`,
    ]);
    assert.equal(get.code, 0);
    assert.match(get.out, /^HTTP\/2 200/);
    assert.match(get.out, /x-echo-c: curl/);
    const dir = mkdtempSync(join(tmpdir(), 'h2wire-curl-'));
    try {
      const body = randomBytes(1024 * 1024 + 5);
      writeFileSync(join(dir, 'in'), body);
      const big = await curl([
        '-s',
        '--http2-prior-knowledge',
        '--data-binary',
        `@${join(dir, 'in')}`,
        '-o',
        join(dir, 'out'),
        `http://127.0.0.1:${port}/big`,
      ]);
      assert.equal(big.code, 0);
      assert.ok(readFileSync(join(dir, 'out')).equals(body));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
