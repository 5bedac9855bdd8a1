// The data plane's accepted HTTP/1.1 sockets read through `onread` (listener/onread-socket.ts):
// end to end with real sockets, what differs from 'data' events: a large WebSocket-style tunnel
// both ways (reads pushed into the socket's Readable side for the tunnel's pipe, with
// backpressure), the client's half-close through the tunnel, and a large upload to a slow
// upstream (reading stops while the upstream is behind).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { buildConfig, route, startApp, startPlane, startRaw, vhost, within } from './sidecar-harness.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function payload(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  return b;
}

function config(port: number): ReturnType<typeof buildConfig> {
  return buildConfig({
    vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
    clusters: { c: [port] },
  });
}

/** Upgrades (101) on the first bytes, then echoes; ends its side when the client's FIN arrives. */
function upgradingEcho(): ReturnType<typeof startRaw> {
  return startRaw((s) => {
    let head = true;
    s.on('data', (d: Buffer) => {
      if (!head) return void s.write(d);
      head = false;
      s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n');
      const i = d.indexOf('\r\n\r\n');
      if (i + 4 < d.length) s.write(d.subarray(i + 4));
    });
    s.on('end', () => s.end());
  });
}

/** Connects and collects everything; `ended`: the proxy's FIN (or a close). */
function exchange(port: number): {
  s: Socket;
  all: () => Buffer;
  closed: Promise<void>;
  ended: Promise<void>;
} {
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  const ended = Promise.race([closed, new Promise<void>((r) => s.once('end', () => r()))]);
  return { s, all: () => Buffer.concat(parts), closed, ended };
}

describe('sidecar h1 on onread sockets', { timeout: 60_000 }, () => {
  it('carries 8 MiB each way through an upgraded tunnel, then the client half-close', async () => {
    const ws = await upgradingEcho();
    const { dp, port } = await startPlane(config(ws.port));
    const data = payload(8 * 1024 * 1024);
    const c = exchange(port);
    const head = 'GET /ws HTTP/1.1\r\nhost: svc\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n';
    // The first tunnel bytes travel with the upgrade head (they arrive in the same read).
    c.s.write(Buffer.concat([Buffer.from(head), data.subarray(0, 1000)]));
    c.s.end(data.subarray(1000));
    await within(c.closed, 40_000, 'the tunnel to end after the client half-close');
    const got = c.all();
    const i = got.indexOf('\r\n\r\n');
    assert.match(got.subarray(0, i).toString('latin1'), /^HTTP\/1\.1 101 /);
    const echoed = got.subarray(i + 4);
    assert.equal(echoed.length, data.length);
    assert.equal(sha(echoed), sha(data));
    await dp.close();
    await ws.close();
  });

  it('uploads 16 MiB intact to an upstream that reads slowly', async () => {
    let received = 0;
    const app = await startApp('slow', (_req, res, body) => {
      received = body.length;
      res.end(sha(Buffer.from(body)));
    });
    // Slow the app's reads: pause its socket for a moment on every chunk.
    app.server.on('connection', (s: Socket) =>
      s.on('data', () => {
        s.pause();
        setTimeout(() => s.resume(), 2);
      }),
    );
    const { dp, port } = await startPlane(config(app.port));
    // Printable bytes: the app reads the body as a string.
    const data = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = 0x20 + (((i * 2654435761) >>> 0) % 95);
    const c = exchange(port);
    c.s.write(
      `POST /up HTTP/1.1\r\nhost: svc\r\ncontent-length: ${data.length}\r\nconnection: close\r\n\r\n`,
    );
    c.s.write(data);
    await within(c.ended, 40_000, 'the response');
    const text = c.all().toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.equal(received, data.length);
    assert.ok(text.endsWith(sha(data)), 'the app saw the same bytes');
    c.s.destroy();
    await dp.close();
    await app.close();
  });
});
