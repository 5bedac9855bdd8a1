// The stream idle timeout (limits.streamIdleTimeoutMs, Envoy's stream_idle_timeout) over real
// sockets: a hung upstream gets a 504 naming the cause, a stall after the response head cuts the
// connection, slow but steady streams and active tunnels are never cut, idle tunnels are closed;
// HTTP/2: a stalled stream gets its 504 while another stream on the connection carries on.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { asHttp2, echoClient, startGrpc } from './h2-grpc-support.js';
import { buildConfig, rawExchange, route, startApp, startPlane, startRaw, vhost } from './sidecar-harness.js';

const IDLE = 600;
/** The cut comes between IDLE and IDLE * 9/8 after the last byte; the rest is slack for a busy machine. */
const LATEST = IDLE * 2 + 1500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function config(port: number) {
  return buildConfig({
    vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
    clusters: { c: [port] },
  });
}

/** Connects, sends `data`, collects until the proxy closes; resolves with what came and when. */
function untilClosed(port: number, data: string, timeoutMs: number): Promise<{ raw: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1');
    let raw = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`not closed within ${timeoutMs} ms; got ${JSON.stringify(raw.slice(0, 300))}`));
    }, timeoutMs);
    s.on('data', (d) => (raw += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ raw, ms: Date.now() - t0 });
    });
    s.on('connect', () => s.write(data, 'latin1'));
  });
}

describe('sidecar h1: stream idle timeout', { timeout: 30_000 }, () => {
  it('504 STREAM_IDLE_TIMEOUT when the upstream accepts the request and never answers', async () => {
    const hung = await startRaw((s) => s.on('data', () => undefined));
    const { dp, port } = await startPlane(config(hung.port), { limits: { streamIdleTimeoutMs: IDLE } });
    const t0 = Date.now();
    const { responses } = await rawExchange(port, 'GET /x HTTP/1.1\r\nhost: svc\r\n\r\n', 1, LATEST + 2000);
    const ms = Date.now() - t0;
    const r = responses[0];
    assert.equal(r?.status, 504);
    assert.equal(r.headers['x-trellis-error'], 'STREAM_IDLE_TIMEOUT; sidecar=sidecar-test');
    assert.match(r.body, /no byte moved either way with cluster "c" for 600 ms, waiting for the response/);
    assert.match(r.body, /--stream-idle-timeout-ms/);
    assert.ok(ms >= IDLE - 20 && ms < LATEST, `answered after ${ms} ms`);
    await dp.close();
    await hung.close();
  });

  it('a request body that stops half way: 504 and the connection is closed', async () => {
    const hung = await startRaw((s) => s.on('data', () => undefined));
    const { dp, port } = await startPlane(config(hung.port), { limits: { streamIdleTimeoutMs: IDLE } });
    const { raw, ms } = await untilClosed(
      port,
      'POST /x HTTP/1.1\r\nhost: svc\r\ncontent-length: 100\r\n\r\nonly-part',
      LATEST + 2000,
    );
    assert.match(raw, /^HTTP\/1\.1 504 /);
    assert.match(raw, /connection: close/);
    assert.match(raw, /\(the request was not complete\)/);
    assert.ok(ms >= IDLE - 20 && ms < LATEST, `closed after ${ms} ms`);
    await dp.close();
    await hung.close();
  });

  it('an upstream that sends its head then stalls: the client connection is cut', async () => {
    const stall = await startRaw((s) =>
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n')),
    );
    const { dp, port } = await startPlane(config(stall.port), { limits: { streamIdleTimeoutMs: IDLE } });
    const { raw, ms } = await untilClosed(port, 'GET /x HTTP/1.1\r\nhost: svc\r\n\r\n', LATEST + 2000);
    assert.match(raw, /^HTTP\/1\.1 200 /);
    assert.match(raw, /hello/);
    assert.doesNotMatch(raw, /\r\n0\r\n\r\n$/, 'the response must not look complete');
    assert.ok(ms >= IDLE - 20 && ms < LATEST, `closed after ${ms} ms`);
    await dp.close();
    await stall.close();
  });

  it('a slow but steady response (a chunk every 200 ms for 2 s, 1 s idle timeout) is not cut', async () => {
    const app = await startApp('slow', (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      let n = 0;
      const t = setInterval(() => {
        res.write(`chunk${n};`);
        if (++n === 10) {
          clearInterval(t);
          res.end();
        }
      }, 200);
    });
    const { dp, port } = await startPlane(config(app.port), { limits: { streamIdleTimeoutMs: 1000 } });
    const { responses } = await rawExchange(port, 'GET /slow HTTP/1.1\r\nhost: svc\r\n\r\n', 1, 10_000);
    assert.equal(responses[0]?.status, 200);
    assert.equal(responses[0].body, Array.from({ length: 10 }, (_, i) => `chunk${i};`).join(''));
    await dp.close();
    await app.close();
  });

  it('a slow but steady upload (a chunk every 200 ms for 2 s, 1 s idle timeout) is not cut', async () => {
    const app = await startApp('sink', (_req, res, body) => res.end(`got ${body.length}`));
    const { dp, port } = await startPlane(config(app.port), { limits: { streamIdleTimeoutMs: 1000 } });
    const s = connect(port, '127.0.0.1');
    let raw = '';
    s.on('data', (d) => (raw += d.toString('latin1')));
    await new Promise((r) => s.once('connect', r));
    s.write('POST /up HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n');
    for (let i = 0; i < 10; i++) {
      await sleep(200);
      s.write('5\r\nabcde\r\n');
    }
    s.write('0\r\n\r\n');
    const deadline = Date.now() + 5000;
    while (!raw.includes('got 50') && Date.now() < deadline) await sleep(20);
    assert.match(raw, /^HTTP\/1\.1 200 /);
    assert.match(raw, /got 50/);
    s.destroy();
    await dp.close();
    await app.close();
  });

  it('keep-alive requests after a long one start with a fresh idle allowance', async () => {
    let calls = 0;
    const app = await startApp('ka', (_req, res) => {
      calls++;
      // the first answers at once; the second waits 60% of the timeout (never idle for the whole of it)
      setTimeout(() => res.end(`r${calls}`), calls === 1 ? 0 : IDLE * 0.6);
    });
    const { dp, port } = await startPlane(config(app.port), { limits: { streamIdleTimeoutMs: IDLE } });
    const s = connect(port, '127.0.0.1');
    let raw = '';
    s.on('data', (d) => (raw += d.toString('latin1')));
    await new Promise((r) => s.once('connect', r));
    s.write('GET /1 HTTP/1.1\r\nhost: svc\r\n\r\n');
    await sleep(IDLE * 0.8); // the connection sits idle (keep-alive) for most of the timeout
    s.write('GET /2 HTTP/1.1\r\nhost: svc\r\n\r\n');
    const deadline = Date.now() + 5000;
    while ((raw.match(/HTTP\/1\.1 200/g) ?? []).length < 2 && Date.now() < deadline) await sleep(20);
    assert.equal((raw.match(/HTTP\/1\.1 200/g) ?? []).length, 2, raw);
    assert.doesNotMatch(raw, /504/);
    s.destroy();
    await dp.close();
    await app.close();
  });

  it('0 turns it off: a hung upstream is not answered by the idle timeout', async () => {
    const hung = await startRaw((s) => s.on('data', () => undefined));
    const { dp, port } = await startPlane(config(hung.port), { limits: { streamIdleTimeoutMs: 0 } });
    await assert.rejects(rawExchange(port, 'GET /x HTTP/1.1\r\nhost: svc\r\n\r\n', 1, 1200), /timed out/);
    await dp.close();
    await hung.close();
  });
});

/** An upstream that upgrades (101) and echoes what it receives, upper-cased. */
function upgradingEcho(): ReturnType<typeof startRaw> {
  return startRaw((s) => {
    let head = true;
    s.on('data', (d) => {
      if (head) {
        head = false;
        s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n');
        return;
      }
      s.write(d.toString('latin1').toUpperCase());
    });
  });
}

async function openTunnel(port: number): Promise<{ s: Socket; got: () => string; closedAt: () => number }> {
  const s = connect(port, '127.0.0.1');
  let raw = '';
  let closedAt = 0;
  s.on('data', (d) => (raw += d.toString('latin1')));
  s.on('error', () => undefined);
  s.on('close', () => (closedAt = Date.now()));
  await new Promise((r) => s.once('connect', r));
  s.write('GET /ws HTTP/1.1\r\nhost: svc\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n');
  const deadline = Date.now() + 5000;
  while (!raw.includes('\r\n\r\n') && Date.now() < deadline) await sleep(10);
  assert.match(raw, /^HTTP\/1\.1 101 /);
  return { s, got: () => raw, closedAt: () => closedAt };
}

describe('sidecar h1: stream idle timeout on tunnels', { timeout: 30_000 }, () => {
  it('closes an idle WebSocket-style tunnel, keeps an active one', async () => {
    const ws = await upgradingEcho();
    const { dp, port } = await startPlane(config(ws.port), { limits: { streamIdleTimeoutMs: IDLE } });
    const idle = await openTunnel(port);
    const t0 = Date.now();
    const active = await openTunnel(port);
    // The active one sends a message every 150 ms (and gets its echo) for 4 idle timeouts.
    for (let i = 0; i < Math.ceil((IDLE * 4) / 150); i++) {
      active.s.write(`m${i};`);
      await sleep(150);
    }
    assert.ok(idle.closedAt() > 0, 'the idle tunnel is closed');
    const ms = idle.closedAt() - t0;
    assert.ok(ms >= IDLE - 50 && ms < LATEST, `idle tunnel closed after ${ms} ms`);
    assert.equal(active.closedAt(), 0, 'the active tunnel is still open');
    assert.match(active.got(), /M0;/);
    assert.match(active.got(), new RegExp(`M${Math.ceil((IDLE * 4) / 150) - 1};`));
    // Once it goes quiet, it is closed too.
    const deadline = Date.now() + LATEST + 1000;
    while (active.closedAt() === 0 && Date.now() < deadline) await sleep(20);
    assert.ok(active.closedAt() > 0, 'the tunnel is closed once it went idle');
    await dp.close();
    await ws.close();
  });
});

describe('sidecar h2: stream idle timeout', { timeout: 30_000 }, () => {
  it('a stalled stream gets 504 while another stream on the same connection carries on', async () => {
    const app = await startApp('h2', (req, res) => {
      if (req.url === '/hang') return; // never answers
      let n = 0;
      const t = setInterval(() => {
        res.write(`c${n};`);
        if (++n === 8) {
          clearInterval(t);
          res.end();
        }
      }, 200);
    });
    const cfg = asHttp2(config(app.port), ['c']);
    const { dp, port } = await startPlane(cfg, { limits: { streamIdleTimeoutMs: IDLE } });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const call = (path: string) =>
      new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string; ms: number }>(
        (resolve, reject) => {
          const t0 = Date.now();
          const req = session.request({ ':path': path, ':authority': 'svc' });
          let headers: http2.IncomingHttpHeaders = {};
          let body = '';
          req.on('response', (h) => (headers = h));
          req.on('data', (d: Buffer) => (body += d.toString()));
          req.on('end', () =>
            resolve({ status: Number(headers[':status']), headers, body, ms: Date.now() - t0 }),
          );
          req.on('error', reject);
        },
      );
    const [hung, steady] = await Promise.all([call('/hang'), call('/steady')]);
    assert.equal(hung.status, 504);
    assert.equal(hung.headers['x-trellis-error'], 'STREAM_IDLE_TIMEOUT; sidecar=sidecar-test');
    assert.match(hung.body, /no byte moved either way with cluster "c" for 600 ms/);
    assert.ok(hung.ms >= IDLE - 20 && hung.ms < LATEST, `504 after ${hung.ms} ms`);
    assert.equal(steady.status, 200);
    assert.equal(steady.body, Array.from({ length: 8 }, (_, i) => `c${i};`).join(''));
    assert.ok(!session.closed && !session.destroyed, 'the connection stays open');
    session.close();
    await dp.close();
    await app.close();
  });
});

describe('sidecar gRPC: stream idle timeout', { timeout: 30_000 }, () => {
  it('a hung call ends DEADLINE_EXCEEDED (trailers-only before headers, trailers after), a steady stream is not cut', async () => {
    const { server, port: gport } = await startGrpc({
      unary: () => undefined, // never answers
      serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const mode = call.request.toString();
        call.sendMetadata(new grpc.Metadata());
        if (mode === 'stall') return; // headers, then nothing
        let n = 0;
        const t = setInterval(() => {
          call.write(Buffer.from(`m${n}`));
          if (++n === 8) {
            clearInterval(t);
            call.end();
          }
        }, 200);
      },
    });
    const cfg = asHttp2(config(gport));
    const { dp, port } = await startPlane(cfg, { limits: { streamIdleTimeoutMs: IDLE } });
    const c = echoClient(port, 'svc');
    const t0 = Date.now();
    const unaryStatus = new Promise<{ err: grpc.ServiceError | null; trailers?: grpc.Metadata; ms: number }>(
      (resolve) => {
        const call = (
          c.unary as (r: Buffer, cb: (e: grpc.ServiceError | null) => void) => grpc.ClientUnaryCall
        )(Buffer.from('x'), (err) => resolve({ err, ms: Date.now() - t0 }));
        void call;
      },
    );
    const stream = (mode: string) =>
      new Promise<{ msgs: string[]; status: grpc.StatusObject; ms: number }>((resolve) => {
        const msgs: string[] = [];
        const call = (c.serverStream as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from(mode));
        call.on('data', (m: Buffer) => msgs.push(m.toString()));
        call.on('error', () => undefined);
        call.on('status', (status: grpc.StatusObject) => resolve({ msgs, status, ms: Date.now() - t0 }));
      });
    const [u, stalled, steady] = await Promise.all([unaryStatus, stream('stall'), stream('steady')]);
    assert.equal(u.err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(u.err?.details ?? '', /^STREAM_IDLE_TIMEOUT: no byte moved either way with cluster "c"/);
    assert.ok(u.ms >= IDLE - 20 && u.ms < LATEST, `unary ended after ${u.ms} ms`);
    assert.equal(stalled.status.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(stalled.status.details, /in the middle of the response/);
    assert.deepEqual(stalled.status.metadata.get('x-trellis-error'), [
      'STREAM_IDLE_TIMEOUT; sidecar=sidecar-test',
    ]);
    assert.equal(steady.status.code, grpc.status.OK);
    assert.deepEqual(steady.msgs, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    c.close();
    await dp.close();
    server.forceShutdown();
  });
});
