// HTTP/2 and gRPC through the sidecar over real sockets: a @grpc/grpc-js client (h2c prior knowledge)
// → the data plane's listener → a @grpc/grpc-js server; streaming shapes, trailers, metadata,
// deadlines, cancellation, the sidecar's own gRPC-shaped errors, plain h2, and hostile h2 input.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import { DEFAULT_H2_LIMITS } from '../../src/proxy/h2/h2-limits.js';
import {
  asHttp2,
  echoClient,
  frame,
  headerBlock,
  RawH2,
  startGrpc,
  until,
  type Echo,
} from './h2-grpc-support.js';
import {
  buildConfig,
  route,
  startApp,
  startPlane,
  startRaw,
  vhost,
  type FakeApp,
} from './sidecar-harness.js';

type Cb = (e: grpc.ServiceError | null, r?: Buffer) => void;

const BIN = Buffer.from([0, 255, 1, 128, 10, 13]);
const MESSAGE = 'nicht gefunden: ü 100% \t 日本 \r\n end';

function unary(
  c: Echo,
  req: Buffer,
  md = new grpc.Metadata(),
  opts: grpc.CallOptions = {},
): Promise<{
  err: grpc.ServiceError | null;
  res?: Buffer;
  headers?: grpc.Metadata;
  trailers?: grpc.Metadata;
}> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let out: { err: grpc.ServiceError | null; res?: Buffer } | undefined;
    const call = (
      c.unary as (r: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: Cb) => grpc.ClientUnaryCall
    )(req, md, opts, (err, res) => {
      out = { err, ...(res !== undefined ? { res } : {}) };
    });
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    call.on('status', (s: grpc.StatusObject) =>
      setImmediate(() => resolve({ ...(out ?? { err: null }), headers, trailers: s.metadata })),
    );
  });
}

function h2request(
  port: number,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<{
  headers: http2.IncomingHttpHeaders;
  flags: number;
  body: Buffer;
  trailers?: http2.IncomingHttpHeaders;
}> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', reject);
    const req = s.request(headers, { endStream: body === undefined });
    let rh: http2.IncomingHttpHeaders = {};
    let flags = 0;
    let trailers: http2.IncomingHttpHeaders | undefined;
    const parts: Buffer[] = [];
    req.on('response', (h, f) => {
      rh = h;
      flags = f;
    });
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('error', reject);
    req.on('close', () => {
      s.close();
      resolve({ headers: rh, flags, body: Buffer.concat(parts), ...(trailers ? { trailers } : {}) });
    });
    if (body !== undefined) req.end(body);
  });
}

/** One gRPC frame (uncompressed). */
function grpcFrame(msg: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

describe('sidecar h2/gRPC', { timeout: 60_000 }, () => {
  let app: { server: grpc.Server; port: number };
  let plain: http2.Http2Server;
  let plainPort: number;
  let h1app: FakeApp;
  let dp: DataPlane;
  let port: number;
  let deadPort: number;
  const seen = { cancelled: 0, deadlineLeftMs: -1, bidiConcurrent: 0, gate: 0, te: '' };
  let release: (() => void)[] = [];

  before(async () => {
    app = await startGrpc({
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const req = call.request;
        const cmd = req.subarray(0, 8).toString('latin1');
        if (cmd === 'fail....') {
          cb({ code: grpc.status.NOT_FOUND, details: MESSAGE });
          return;
        }
        if (cmd === 'hang....') {
          const d = call.getDeadline();
          seen.deadlineLeftMs =
            d instanceof Date ? d.getTime() - Date.now() : typeof d === 'number' ? d - Date.now() : -1;
          call.on('cancelled', () => seen.cancelled++);
          return;
        }
        if (cmd === 'gate....') {
          seen.gate++;
          release.push(() => cb(null, req));
          if (seen.gate >= 50) for (const r of release.splice(0)) r();
          return;
        }
        const md = new grpc.Metadata();
        md.set('resp-bin', BIN);
        md.set('x-echo-ascii', String(call.metadata.get('x-ascii')[0] ?? ''));
        const inBin = call.metadata.get('req-bin')[0];
        if (Buffer.isBuffer(inBin)) md.set('got-req-bin', inBin);
        call.sendMetadata(md);
        const trailers = new grpc.Metadata();
        trailers.set('trail-bin', BIN);
        cb(null, req, trailers);
      },
      serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const n = call.request.readUInt32BE(0);
        const size = call.request.readUInt32BE(4);
        if (n === 0) {
          // write one, then wait for the client to cancel
          call.write(Buffer.from('first'));
          call.on('cancelled', () => seen.cancelled++);
          return;
        }
        for (let i = 0; i < n; i++) call.write(Buffer.alloc(size, i));
        call.end();
      },
      clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const parts: Buffer[] = [];
        call.on('data', (d: Buffer) => parts.push(d));
        call.on('end', () => cb(null, Buffer.concat(parts)));
      },
      bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (d: Buffer) => call.write(Buffer.concat([Buffer.from('pong:'), d])));
        call.on('end', () => call.end());
      },
    });
    // A raw HTTP/2 app: plain h2 echo, and streams it resets on purpose.
    plain = http2.createServer();
    plain.on('stream', (s, h) => {
      s.on('error', () => undefined);
      const path = h[':path'] ?? '';
      if (path === '/test.Echo/ResetAfterHeaders') {
        s.respond({ ':status': 200, 'content-type': 'application/grpc' });
        s.write(grpcFrame(Buffer.from('one')));
        setTimeout(() => s.close(http2.constants.NGHTTP2_CANCEL), 20);
        return;
      }
      if (path === '/test.Echo/ResetNow') {
        s.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      if (path === '/hang') return;
      seen.te = String(h['te'] ?? '');
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => {
        s.respond({ ':status': 200, 'x-app': 'plain', 'content-type': 'application/json' });
        s.end(
          JSON.stringify({
            path,
            method: h[':method'],
            authority: h[':authority'],
            body: Buffer.concat(parts).toString(),
          }),
        );
      });
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    plainPort = (plain.address() as { port: number }).port;
    h1app = await startApp('h1');
    const dead = await startRaw(() => undefined);
    deadPort = dead.port;
    await dead.close();
    const cfg = buildConfig({
      vhosts: [
        vhost(
          'inventory',
          ['inventory', 'inventory:50051'],
          [route('inv', '/', [{ name: 'inv', weight: 1 }])],
        ),
        vhost('plain', ['plain', 'plain:80'], [route('plain', '/', [{ name: 'plain', weight: 1 }])]),
        vhost('dead', ['dead:50051'], [route('dead', '/', [{ name: 'dead', weight: 1 }])]),
        vhost('empty', ['empty:50051'], [route('empty', '/', [{ name: 'empty', weight: 1 }])]),
        vhost('h1', ['h1'], [route('h1', '/', [{ name: 'h1', weight: 1 }])]),
      ],
      clusters: { inv: [app.port], plain: [plainPort], dead: [deadPort], empty: [], h1: [h1app.port] },
    });
    ({ dp, port } = await startPlane(asHttp2(cfg, ['h1'])));
  });

  after(async () => {
    await dp.close();
    app.server.forceShutdown();
    await new Promise<void>((r) => plain.close(() => r()));
    await h1app.close();
  });

  it('unary: -bin metadata in headers and trailers, ascii metadata both ways', async () => {
    const c = echoClient(port, 'inventory:50051');
    const md = new grpc.Metadata();
    md.set('x-ascii', 'hello');
    md.set('req-bin', BIN);
    const r = await unary(c, Buffer.from('ping'), md);
    assert.equal(r.err, null);
    assert.equal(r.res?.toString(), 'ping');
    assert.deepEqual(r.headers?.get('resp-bin')[0], BIN);
    assert.deepEqual(r.headers?.get('got-req-bin')[0], BIN);
    assert.equal(r.headers?.get('x-echo-ascii')[0], 'hello');
    assert.deepEqual(r.trailers?.get('trail-bin')[0], BIN);
    c.close();
  });

  it('server streaming, client streaming, and bidi ping-pong (deadlocks if buffered)', async () => {
    const c = echoClient(port, 'inventory:50051');
    const req = Buffer.alloc(8);
    req.writeUInt32BE(5, 0);
    req.writeUInt32BE(10, 4);
    const got: Buffer[] = await new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const call = (c.serverStream as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(req);
      call.on('data', (d: Buffer) => out.push(d));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });
    assert.equal(got.length, 5);
    assert.deepEqual(got[3], Buffer.alloc(10, 3));

    const joined: Buffer = await new Promise((resolve, reject) => {
      const call = (c.clientStream as (cb: Cb) => grpc.ClientWritableStream<Buffer>)((e, r) =>
        e ? reject(e) : resolve(r as Buffer),
      );
      for (const p of ['a', 'b', 'c', 'd']) call.write(Buffer.from(p));
      call.end();
    });
    assert.equal(joined.toString(), 'abcd');

    const call = (c.bidi as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
    const replies: string[] = [];
    for (let i = 0; i < 10; i++) {
      const reply = new Promise<string>((resolve) => call.once('data', (d: Buffer) => resolve(d.toString())));
      call.write(Buffer.from(String(i)));
      replies.push(await reply);
    }
    const ended = new Promise<void>((resolve) => call.on('status', () => resolve()));
    call.end();
    await ended;
    assert.deepEqual(
      replies,
      Array.from({ length: 10 }, (_, i) => `pong:${i}`),
    );
    c.close();
  });

  it('trailers-only error: one HEADERS frame with END_STREAM, grpc-message byte for byte', async () => {
    const c = echoClient(port, 'inventory:50051');
    const r = await unary(c, Buffer.from('fail....'));
    assert.equal(r.err?.code, grpc.status.NOT_FOUND);
    assert.equal(r.err?.details, MESSAGE);
    c.close();
    const h = {
      ':method': 'POST',
      ':path': '/test.Echo/Unary',
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    const body = grpcFrame(Buffer.from('fail....'));
    const direct = await h2request(app.port, { ...h, ':authority': 'inventory:50051' }, body);
    const proxied = await h2request(port, { ...h, ':authority': 'inventory:50051' }, body);
    assert.ok(direct.flags & http2.constants.NGHTTP2_FLAG_END_STREAM, 'the app answers trailers-only');
    assert.ok(
      proxied.flags & http2.constants.NGHTTP2_FLAG_END_STREAM,
      'still trailers-only through the proxy',
    );
    assert.equal(proxied.trailers, undefined);
    assert.equal(proxied.headers['grpc-status'], '5');
    assert.equal(proxied.headers['grpc-message'], direct.headers['grpc-message']);
    assert.match(String(proxied.headers['grpc-message']), /%/);
  });

  it('large messages (1 MiB) both ways, and 4 x 1 MiB streamed', async () => {
    const c = echoClient(port, 'inventory:50051');
    const big = Buffer.alloc(1 << 20, 7);
    big.write('large...');
    const r = await unary(c, big);
    assert.equal(r.err, null);
    assert.equal(r.res?.length, 1 << 20);
    assert.ok(r.res?.equals(big));
    const req = Buffer.alloc(8);
    req.writeUInt32BE(4, 0);
    req.writeUInt32BE(1 << 20, 4);
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      const call = (c.serverStream as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(req);
      call.on('data', (d: Buffer) => (total += d.length));
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    assert.equal(total, 4 << 20);
    c.close();
  });

  it('enforces grpc-timeout with DEADLINE_EXCEEDED and forwards the remaining time', async () => {
    const before = seen.cancelled;
    const r = await h2request(
      port,
      {
        ':method': 'POST',
        ':path': '/test.Echo/Unary',
        ':authority': 'inventory:50051',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '300m',
      },
      grpcFrame(Buffer.from('hang....')),
    );
    assert.equal(r.headers['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED));
    assert.match(String(r.headers['x-trellis-error']), /^UPSTREAM_TIMEOUT; sidecar=sidecar-test$/);
    assert.ok(
      seen.deadlineLeftMs > 0 && seen.deadlineLeftMs <= 300,
      `app saw ${seen.deadlineLeftMs} ms left`,
    );
    await until(() => seen.cancelled > before, 'the app to see the call cancelled');
  });

  it('client cancellation reaches the server as a cancel', async () => {
    const c = echoClient(port, 'inventory:50051');
    const before = seen.cancelled;
    const call = (c.serverStream as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.alloc(8));
    call.on('error', () => undefined);
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.cancel();
    await until(() => seen.cancelled > before, 'the server to see cancelled');
    c.close();
  });

  it('a server reset reaches the client (before and after response headers)', async () => {
    const c = echoClient(port, 'plain:80');
    const after = await new Promise<grpc.ServiceError>((resolve) => {
      const call = c.makeBidiStreamRequest(
        '/test.Echo/ResetAfterHeaders',
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      call.write(Buffer.alloc(8));
      call.on('data', () => undefined);
      call.on('error', resolve);
    });
    assert.equal(after.code, grpc.status.CANCELLED);
    c.close();
    const r = await new Promise<number>((resolve) => {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      const req = s.request({
        ':method': 'POST',
        ':path': '/test.Echo/ResetNow',
        ':authority': 'plain',
        'content-type': 'application/grpc',
      });
      req.on('error', () => undefined);
      req.on('close', () => {
        s.close();
        resolve(req.rstCode ?? -1);
      });
      req.end();
    });
    assert.equal(r, http2.constants.NGHTTP2_CANCEL);
  });

  it('no route, no endpoint, connect failure: gRPC-shaped errors with x-trellis-error', async () => {
    const cases: [string, grpc.status, string][] = [
      ['nowhere:50051', grpc.status.UNIMPLEMENTED, 'NO_ROUTE'],
      ['empty:50051', grpc.status.UNAVAILABLE, 'NO_HEALTHY_UPSTREAM'],
      ['dead:50051', grpc.status.UNAVAILABLE, 'UPSTREAM_CONNECT_FAILED'],
    ];
    for (const [authority, code, trellis] of cases) {
      const c = echoClient(port, authority);
      const r = await unary(c, Buffer.from('x'));
      assert.equal(r.err?.code, code, authority);
      assert.match(r.err?.details ?? '', /sidecar sidecar-test/);
      assert.equal(r.trailers?.get('x-trellis-error')[0], `${trellis}; sidecar=sidecar-test`);
      c.close();
    }
  });

  it('50 concurrent streams on one connection, each independent', async () => {
    const c = echoClient(port, 'inventory:50051');
    seen.gate = 0;
    release = [];
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(c, Buffer.from(`gate....${i}`))));
    assert.deepEqual(
      rs.map((r) => r.res?.toString()),
      Array.from({ length: 50 }, (_, i) => `gate....${i}`),
    );
    c.close();
  });

  it('plain HTTP/2: GET and POST forwarded, te: trailers kept; to an HTTP/1.1 cluster as HTTP/1.1', async () => {
    const g = await h2request(port, {
      ':method': 'GET',
      ':path': '/hello?x=1',
      ':authority': 'plain',
      te: 'trailers',
    });
    assert.equal(g.headers[':status'], 200);
    assert.equal(g.headers['x-app'], 'plain');
    assert.deepEqual(JSON.parse(g.body.toString()), {
      path: '/hello?x=1',
      method: 'GET',
      authority: 'plain',
      body: '',
    });
    assert.equal(seen.te, 'trailers');
    const p = await h2request(
      port,
      { ':method': 'POST', ':path': '/p', ':authority': 'plain' },
      Buffer.from('hello h2'),
    );
    assert.equal(JSON.parse(p.body.toString()).body, 'hello h2');
    const nf = await h2request(port, { ':method': 'GET', ':path': '/', ':authority': 'nowhere' });
    assert.equal(nf.headers[':status'], 404);
    assert.equal(nf.headers['x-trellis-error'], 'NO_ROUTE; sidecar=sidecar-test');
    const h1 = await h2request(port, { ':method': 'GET', ':path': '/via-h1?q=1', ':authority': 'h1' });
    assert.equal(h1.headers[':status'], 200);
    assert.equal(h1.headers['x-app'], 'h1');
    const j1 = JSON.parse(h1.body.toString());
    assert.equal(j1.url, '/via-h1?q=1');
    assert.equal(j1.headers.host, 'h1');
    const h1p = await h2request(
      port,
      { ':method': 'POST', ':path': '/p', ':authority': 'h1' },
      Buffer.alloc(200_000, 'x'),
    );
    assert.equal(JSON.parse(h1p.body.toString()).body.length, 200_000);
    assert.equal(JSON.parse(h1p.body.toString()).headers['transfer-encoding'], 'chunked');
  });

  it('gRPC to an HTTP/1.1 cluster: UNIMPLEMENTED with UPSTREAM_PROTOCOL', async () => {
    const c = echoClient(port, 'h1');
    const r = await unary(c, Buffer.from('x'));
    assert.equal(r.err?.code, grpc.status.UNIMPLEMENTED);
    assert.equal(r.trailers?.get('x-trellis-error')[0], 'UPSTREAM_PROTOCOL; sidecar=sidecar-test');
    c.close();
  });

  it('counts gRPC responses by grpc-status in the data-plane metrics', () => {
    const m = dp.renderMetrics();
    assert.match(
      m,
      /trellis_grpc_responses_total\{direction="outbound",vhost="inventory",route="inv",grpc_status="0"\} [1-9]/,
    );
    assert.match(
      m,
      /trellis_grpc_responses_total\{direction="outbound",vhost="inventory",route="inv",grpc_status="5"\} [1-9]/,
    );
    assert.match(
      m,
      /trellis_grpc_responses_total\{direction="outbound",vhost="",route="",grpc_status="12"\} [1-9]/,
    );
  });
});

describe('sidecar h2: hostile input', { timeout: 60_000 }, () => {
  let plain: http2.Http2Server;
  let dp: DataPlane;
  let port: number;
  before(async () => {
    plain = http2.createServer();
    plain.on('stream', (s, h) => {
      s.on('error', () => undefined);
      if (h[':path'] === '/hang') return;
      s.respond({ ':status': 200 });
      s.end('ok');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    const pp = (plain.address() as { port: number }).port;
    const cfg = buildConfig({
      vhosts: [vhost('plain', ['plain'], [route('plain', '/', [{ name: 'plain', weight: 1 }])])],
      clusters: { plain: [pp] },
    });
    ({ dp, port } = await startPlane(asHttp2(cfg), {
      limits: {
        h2: {
          ...DEFAULT_H2_LIMITS,
          maxConcurrentStreams: 5,
          rapidResetLimit: 20,
          maxHeaderListSize: 16 * 1024,
        },
      },
    }));
  });
  after(async () => {
    await dp.close();
    await new Promise<void>((r) => plain.close(() => r()));
  });

  const works = async (): Promise<void> => {
    const r = await h2request(port, { ':method': 'GET', ':path': '/', ':authority': 'plain' });
    assert.equal(r.headers[':status'], 200);
  };

  it('rapid reset: GOAWAY ENHANCE_YOUR_CALM, and the proxy stays up', async () => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', () => undefined);
    let goaway = -1;
    s.on('goaway', (code) => (goaway = code));
    await new Promise<void>((r) => s.once('connect', () => r()));
    for (let i = 0; i < 100 && !s.destroyed && !s.closed && goaway < 0; i++) {
      try {
        const req = s.request({ ':method': 'GET', ':path': '/hang', ':authority': 'plain' });
        req.on('error', () => undefined);
        req.close(http2.constants.NGHTTP2_CANCEL);
      } catch {
        break;
      }
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    await until(() => goaway >= 0 || s.destroyed, 'GOAWAY');
    assert.equal(goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    s.destroy();
    await works();
  });

  it('refuses streams past maxConcurrentStreams', async () => {
    const c = new RawH2(port);
    let block = Buffer.alloc(0);
    for (let i = 0; i < 8; i++) {
      block = Buffer.concat([block, frame(1, 0x5, 1 + 2 * i, headerBlock('plain', '/hang'))]);
    }
    c.send(block);
    await until(() => c.resets().length > 0 || c.goaway() !== undefined, 'a refused stream');
    const refused = c
      .resets()
      .filter((f) => f.payload.readUInt32BE(0) === http2.constants.NGHTTP2_REFUSED_STREAM);
    assert.ok(refused.length > 0 || c.goaway() !== undefined, JSON.stringify(c.frames.map((f) => f.type)));
    c.close();
    await works();
  });

  it('refuses a huge header list (HEADERS + CONTINUATION flood) without falling over', async () => {
    const c = new RawH2(port);
    const big = headerBlock('plain', '/', [['x-big', 'a'.repeat(64 * 1024)]]);
    const parts: Buffer[] = [frame(1, 0x1, 1, big.subarray(0, 8000))];
    for (let off = 8000; off < big.length; off += 8000) {
      const last = off + 8000 >= big.length;
      parts.push(frame(9, last ? 0x4 : 0, 1, big.subarray(off, off + 8000)));
    }
    c.send(Buffer.concat(parts));
    await until(
      () =>
        c.resets().length > 0 || c.goaway() !== undefined || c.closed || c.frames.some((f) => f.type === 1),
      'the header list to be refused',
    );
    const answered = c.frames.find((f) => f.type === 1 && f.stream === 1);
    assert.ok(answered === undefined || c.resets().length > 0, 'a 64 KiB header list must not be forwarded');
    c.close();
    await works();
  });
});

describe('sidecar h2/gRPC: drain', { timeout: 30_000 }, () => {
  it('a stream in flight finishes during drain (GOAWAY), then drain resolves', async () => {
    const app = await startGrpc({
      bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (d: Buffer) => call.write(Buffer.concat([Buffer.from('pong:'), d])));
        call.on('end', () => call.end());
      },
    });
    const cfg = buildConfig({
      vhosts: [vhost('inventory', ['inventory:50051'], [route('inv', '/', [{ name: 'inv', weight: 1 }])])],
      clusters: { inv: [app.port] },
    });
    const { dp, port } = await startPlane(asHttp2(cfg));
    const c = echoClient(port, 'inventory:50051');
    const call = (c.bidi as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
    const ping = async (s: string): Promise<string> => {
      const reply = new Promise<string>((resolve) => call.once('data', (d: Buffer) => resolve(d.toString())));
      call.write(Buffer.from(s));
      return reply;
    };
    assert.equal(await ping('a'), 'pong:a');
    const started = Date.now();
    const drained = dp.drain(20_000);
    assert.equal(await ping('b'), 'pong:b');
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.end();
    assert.equal((await status).code, grpc.status.OK);
    await drained;
    assert.ok(Date.now() - started < 15_000, 'drain waited for the stream, not the deadline');
    c.close();
    app.server.forceShutdown();
    await dp.close();
  });
});
