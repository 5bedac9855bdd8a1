// The mesh HTTP/2 server (src/proxy/h2wire/server.ts: WireServer, WireDownStream into H2Exchange)
// behind a real listener, reached with node:http2 and gRPC clients. Mesh connections come through
// inbound mTLS with ALPN h2 (test/e2e/mesh-h2, mtls); here the listener detects h2c and hands it to
// acceptWireH2 instead of node:http2, so the stream paths are tested without certificates: bodies
// both ways, the app's trailers, a reset carried to the app, local answers while the body is
// pending, the stream idle timeout ticked over the connection's stream map, gRPC and its deadline.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { protocolHandlers, type ConnectionHandler } from '../../src/proxy/listener/protocol-handlers.js';
import { acceptWireH2 } from '../../src/proxy/h2wire/server.js';
import type { ProxyConfig } from '../../src/proxy/config/types.js';
import { HpackEncoder } from '../../src/proxy/h2wire/hpack.js';
import { asHttp2, echoClient, frame, RawH2, startGrpc, until } from './h2-grpc-support.js';
import { buildConfig, route, startApp, startPlane, vhost } from './sidecar-harness.js';

const IDLE = 600;
const LATEST = IDLE * 2 + 1500;

function detecting(cfg: ProxyConfig): ProxyConfig {
  const l = cfg.listeners.get('l');
  assert.ok(l !== undefined);
  return { ...cfg, listeners: new Map([['l', { ...l, mode: 'detect' as const }]]) };
}

function config(port: number): ProxyConfig {
  return detecting(
    buildConfig({
      vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
      clusters: { c: [port] },
    }),
  );
}

interface Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: string;
  ms: number;
}

function call(
  session: http2.ClientHttp2Session,
  path: string,
  method = 'GET',
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = session.request(
      { ':path': path, ':authority': 'svc', ':method': method },
      { endStream: body === undefined },
    );
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let got = '';
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (d: Buffer) => (got += d.toString()));
    req.on('end', () =>
      resolve({ status: Number(headers[':status']), headers, trailers, body: got, ms: Date.now() - t0 }),
    );
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

let saved: ConnectionHandler | undefined;
before(() => {
  saved = protocolHandlers.h2;
  protocolHandlers.h2 = (socket, host) => void acceptWireH2(socket, host);
});
after(() => {
  protocolHandlers.h2 = saved;
});

describe('mesh h2 server (wire) in front of an HTTP/1.1 app', { timeout: 30_000 }, () => {
  it('GET and POST bodies, the app trailers, x-request-id, no host; many streams on one connection', async () => {
    const app = await startApp('a', (req, res, body) => {
      if (req.url === '/trailers') {
        res.setHeader('trailer', 'x-sum');
        res.write('part');
        res.addTrailers({ 'x-sum': String(body.length) });
        return res.end();
      }
      res.setHeader('x-app', 'a');
      res.end(`${req.method} ${req.url} ${body}`);
    });
    const { dp, port } = await startPlane(config(app.port));
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const g = await call(session, '/x?y=1');
    assert.equal(g.status, 200);
    assert.equal(g.headers['x-app'], 'a');
    assert.equal(g.body, 'GET /x?y=1 ');
    const p = await call(session, '/up', 'POST', 'hello body');
    assert.equal(p.body, 'POST /up hello body');
    const t = await call(session, '/trailers', 'POST', '12345');
    assert.equal(t.body, 'part');
    assert.equal(t.trailers['x-sum'], '5');
    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => call(session, `/m${i}`)));
    assert.deepEqual(
      many.map((r) => r.body),
      many.map((_, i) => `GET /m${i} `),
    );
    const seen = app.requests[0]!;
    assert.equal(seen.headers['host'], 'svc');
    assert.match(String(seen.headers['x-request-id']), /./);
    session.close();
    await dp.close();
    await app.close();
  });

  it('no route while the body is still coming: 404 at once, the connection carries on', async () => {
    const app = await startApp('a');
    const { dp, port } = await startPlane(config(app.port));
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const req = session.request({ ':path': '/', ':authority': 'nowhere', ':method': 'POST' });
    req.write('some of the body');
    const status = await new Promise<number>((r) => req.on('response', (h) => r(Number(h[':status']))));
    assert.equal(status, 404);
    req.on('error', () => undefined);
    req.resume();
    req.close();
    const ok = await call(session, '/after');
    assert.equal(ok.status, 200);
    assert.equal(app.requests.length, 1);
    session.close();
    await dp.close();
    await app.close();
  });

  it("the client's reset during the upload closes the app connection: the app never gets a complete request", async () => {
    let closed = 0;
    const complete: boolean[] = [];
    const app = await startApp('a', (req, res) => {
      complete.push(req.complete);
      res.end('ok');
    });
    app.server.on('connection', (s) => s.on('close', () => closed++));
    // What of the upload reached the app, decoded (startApp reads the body too).
    let uploaded = '';
    app.server.on('request', (req: IncomingMessage) =>
      req.on('data', (d: Buffer) => (uploaded += d.toString())),
    );
    const { dp, port } = await startPlane(config(app.port));
    // Raw frames: node's client sends END_STREAM before its RST_STREAM on close(); a mesh peer
    // (our wire client) resets without ending, which is what this checks.
    const raw = new RawH2(port);
    try {
      const block = new HpackEncoder().encode([
        ':method',
        'POST',
        ':scheme',
        'http',
        ':authority',
        'svc',
        ':path',
        '/up',
      ]);
      raw.send(frame(1, 0x4, 1, block)); // HEADERS, END_HEADERS, no END_STREAM
      raw.send(frame(0, 0, 1, Buffer.from('first part')));
      // The reset must come *during the upload*: once the app has the head and the first part.
      // (The app accepting the TCP connection is not enough: a reset the proxy reads before its
      // own connect callback ran cancels a request that never went up, and the fresh connection
      // rightly goes to the pool idle, so the app connection stays open.)
      await until(() => uploaded === 'first part', 'the first part of the upload at the app');
      raw.send(frame(3, 0, 1, Buffer.from([0, 0, 0, 8]))); // RST_STREAM(CANCEL)
      await until(() => closed === 1, 'the upstream connection closed');
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(!complete.includes(true), 'the app never saw a complete request');
      assert.equal(app.connections, 1);
      raw.send(frame(1, 0x5, 3, block)); // the connection carries on: POST with an empty body
      await until(() => raw.frames.some((f) => f.type === 1 && f.stream === 3), 'the next response');
    } finally {
      raw.close();
      await dp.close();
      await app.close();
    }
  });

  it('stream idle timeout: a stalled stream gets 504 while another one carries on', async () => {
    const app = await startApp('a', (req, res) => {
      if (req.url === '/hang') return;
      let n = 0;
      const t = setInterval(() => {
        res.write(`c${n};`);
        if (++n === 8) {
          clearInterval(t);
          res.end();
        }
      }, 200);
    });
    const { dp, port } = await startPlane(config(app.port), { limits: { streamIdleTimeoutMs: IDLE } });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const [hung, steady] = await Promise.all([call(session, '/hang'), call(session, '/steady')]);
    assert.equal(hung.status, 504);
    assert.equal(hung.headers['x-trellis-error'], 'STREAM_IDLE_TIMEOUT; sidecar=sidecar-test');
    assert.ok(hung.ms >= IDLE - 20 && hung.ms < LATEST, `504 after ${hung.ms} ms`);
    assert.equal(steady.status, 200);
    assert.equal(steady.body, Array.from({ length: 8 }, (_, i) => `c${i};`).join(''));
    assert.ok(!session.closed && !session.destroyed, 'the connection stays open');
    session.close();
    await dp.close();
    await app.close();
  });
});

describe('mesh h2 server (wire) in front of a gRPC app', { timeout: 30_000 }, () => {
  it('unary and server-streaming calls; a hung call ends DEADLINE_EXCEEDED (stream idle)', async () => {
    const { server, port: gport } = await startGrpc({
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        if (call.request.toString() === 'hang') return;
        cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));
      },
      serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 0; i < 3; i++) call.write(Buffer.from(`m${i}`));
        call.end();
      },
    });
    const { dp, port } = await startPlane(asHttp2(config(gport)), { limits: { streamIdleTimeoutMs: IDLE } });
    const c = echoClient(port, 'svc');
    const unary = (msg: string) =>
      new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((resolve) =>
        (c.unary as (r: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void)(
          Buffer.from(msg),
          (err, res) => resolve({ err, res }),
        ),
      );
    const ok = await unary('hi');
    assert.equal(ok.err, null);
    assert.equal(ok.res?.toString(), 'echo:hi');
    const msgs = await new Promise<string[]>((resolve, reject) => {
      const out: string[] = [];
      const s = (c.serverStream as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from('x'));
      s.on('data', (m: Buffer) => out.push(m.toString()));
      s.on('error', reject);
      s.on('end', () => resolve(out));
    });
    assert.deepEqual(msgs, ['m0', 'm1', 'm2']);
    const hung = await unary('hang');
    assert.equal(hung.err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(hung.err?.details ?? '', /^STREAM_IDLE_TIMEOUT: no byte moved either way with cluster "c"/);
    c.close();
    await dp.close();
    server.forceShutdown();
  });
});
