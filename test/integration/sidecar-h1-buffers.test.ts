// Read memory on the HTTP/1.1 path, end to end with real sockets: every onread socket reads into
// one shared buffer (src/proxy/io/read-buffer.ts) and the h1 callbacks parse in place from it. What
// must hold: no byte handed on (a queued write, a kept body chunk, pipelined bytes parsed later, a
// replayed body) changes when the next read reuses the buffer, and backpressure still works when
// writes are queued. Each case runs with
// other connections' traffic going through the same sidecar at the same time, so the shared
// buffer is overwritten between the reads that matter.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RETRY_ON, type RouteConfig } from '../../src/proxy/config/types.js';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import {
  buildConfig,
  route,
  startApp,
  startPlane,
  startRaw,
  vhost,
  within,
  type FakeApp,
} from './sidecar-harness.js';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Printable bytes that differ everywhere (node:http apps read bodies as strings). */
function text(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = 0x21 + ((((i + seed * 7919) * 2654435761) >>> 0) % 90);
  return b;
}

/** Keeps a sidecar busy with small keep-alive requests on another connection until stopped. */
function noise(port: number, bodyLen = 64): { stop(): Promise<number> } {
  const s = connect({ port, host: '127.0.0.1' });
  s.on('error', () => undefined);
  let stopped = false;
  let answered = 0;
  let got = '';
  const req = `POST /noise HTTP/1.1\r\nhost: svc\r\ncontent-length: ${bodyLen}\r\n\r\n${'N'.repeat(bodyLen)}`;
  s.on('connect', () => s.write(req));
  s.on('data', (d: Buffer) => {
    got += d.toString('latin1');
    // One response at a time: a complete one ends with the echoed JSON's closing brace.
    if (!got.endsWith('}')) return;
    got = '';
    answered++;
    if (!stopped) s.write(req);
  });
  return {
    async stop() {
      stopped = true;
      await sleep(20);
      s.destroy();
      return answered;
    },
  };
}

/** Sends `data` in pieces of random sizes with a pause between them (each its own read). */
async function dribble(s: Socket, data: Buffer, rnd: () => number, maxPiece = 700): Promise<void> {
  for (let i = 0; i < data.length;) {
    const n = 1 + Math.floor(rnd() * maxPiece);
    s.write(data.subarray(i, i + n));
    i += n;
    await sleep(rnd() < 0.5 ? 0 : 2);
  }
}

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Parses `n` responses (content-length or chunked) from raw bytes. */
function parseAll(raw: Buffer, n: number): Parsed[] {
  const out: Parsed[] = [];
  let i = 0;
  while (out.length < n) {
    const he = raw.indexOf('\r\n\r\n', i);
    assert.ok(he >= 0, `response ${out.length + 1} of ${n}: no complete head`);
    const lines = raw.subarray(i, he).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
    }
    i = he + 4;
    let body: Buffer;
    if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      body = raw.subarray(i, i + len);
      assert.equal(body.length, len, 'a whole body');
      i += len;
    } else {
      assert.equal(headers['transfer-encoding'], 'chunked');
      const parts: Buffer[] = [];
      for (;;) {
        const le = raw.indexOf('\r\n', i);
        const size = parseInt(raw.subarray(i, le).toString('latin1'), 16);
        i = le + 2;
        if (size === 0) {
          i += 2;
          break;
        }
        parts.push(raw.subarray(i, i + size));
        i += size + 2;
      }
      body = Buffer.concat(parts);
    }
    out.push({ status: Number((lines[0] ?? '').split(' ')[1]), headers, body });
  }
  return out;
}

/** Everything `s` receives until the sidecar closes it (the last request says `connection: close`). */
function collect(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve) => s.on('close', () => resolve(Buffer.concat(parts))));
}

const BIG = 6 * 1024 * 1024;

describe('sidecar h1: parsing in place from the shared read buffer', { timeout: 60_000 }, () => {
  let echo: FakeApp;
  let big: Awaited<ReturnType<typeof startRaw>>;
  let closer: Awaited<ReturnType<typeof startRaw>>;
  let dp: DataPlane;
  let port: number;
  const bigBody = text(BIG, 1);

  before(async () => {
    // Echoes the request body's hash (and length) in a small JSON document.
    echo = await startApp('echo', (req, res, body) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url, len: body.length, sha: sha(body) }));
    });
    // Answers every request with a big body, content-length or chunked (in uneven chunks).
    big = await startRaw((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        let e: number;
        while ((e = buf.indexOf('\r\n\r\n')) >= 0) {
          const head = buf.slice(0, e);
          buf = buf.slice(e + 4);
          if (head.includes('/chunked')) {
            s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
            for (let i = 0, k = 1; i < BIG; k++) {
              const n = Math.min(BIG - i, 1000 + ((k * 7919) % 90_000));
              s.write(`${n.toString(16)}\r\n`);
              s.write(bigBody.subarray(i, i + n));
              s.write('\r\n');
              i += n;
            }
            s.write('0\r\n\r\n');
          } else {
            s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${BIG}\r\n\r\n`);
            s.write(bigBody);
          }
        }
      });
    });
    // Reads the whole request (head + content-length body), then closes without answering.
    closer = await startRaw((s) => {
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        const e = got.indexOf('\r\n\r\n');
        if (e < 0) return;
        const m = /content-length: (\d+)/i.exec(got.subarray(0, e).toString('latin1'));
        if (got.length >= e + 4 + Number(m?.[1] ?? 0)) setTimeout(() => s.destroy(), 5);
      });
    });
    const retrying: RouteConfig = (() => {
      const r = route('retry', '/retry', [{ name: 'closing', weight: 1 }]);
      const action = r.action as Extract<RouteConfig['action'], { type: 'forward' }>;
      return {
        ...r,
        action: {
          ...action,
          retry: {
            numRetries: 2,
            on: RETRY_ON.reset | RETRY_ON.connectFailure,
            statusCodes: [],
            grpcStatuses: [],
            baseIntervalMs: 1,
            maxIntervalMs: 5,
            perTryTimeoutMs: 0,
          },
        },
      };
    })();
    const cfg = buildConfig({
      vhosts: [
        vhost(
          'svc',
          ['svc'],
          [
            retrying,
            route('big', '/big', [{ name: 'big', weight: 1 }]),
            route('echo', '/', [{ name: 'echo', weight: 1 }]),
          ],
        ),
      ],
      clusters: { echo: [echo.port], big: [big.port], closing: [closer.port, echo.port] },
    });
    ({ dp, port } = await startPlane(cfg));
  });

  after(async () => {
    await dp.close();
    await echo.close();
    await big.close();
    await closer.close();
  });

  it('pipelined requests with bodies split across reads: every body arrives intact, in order', async () => {
    const rnd = lcg(7);
    const n = 40;
    const reqs: Buffer[] = [];
    const bodies: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const body = text(Math.floor(rnd() * 5000), 100 + i);
      bodies.push(body);
      const close = i === n - 1 ? 'connection: close\r\n' : '';
      if (i % 3 === 2) {
        // chunked, in a few chunks
        const parts: Buffer[] = [
          Buffer.from(`POST /p/${i} HTTP/1.1\r\nhost: svc\r\n${close}transfer-encoding: chunked\r\n\r\n`),
        ];
        for (let o = 0; o < body.length;) {
          const k = Math.min(body.length - o, 1 + Math.floor(rnd() * 1500));
          parts.push(Buffer.from(`${k.toString(16)}\r\n`), body.subarray(o, o + k), Buffer.from('\r\n'));
          o += k;
        }
        parts.push(Buffer.from('0\r\n\r\n'));
        reqs.push(Buffer.concat(parts));
      } else {
        reqs.push(
          Buffer.concat([
            Buffer.from(
              `POST /p/${i} HTTP/1.1\r\nhost: svc\r\n${close}content-length: ${body.length}\r\n\r\n`,
            ),
            body,
          ]),
        );
      }
    }
    const all = Buffer.concat(reqs);
    const others = [noise(port), noise(port)];
    for (const pieces of [all.length, 700]) {
      const s = connect({ port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      const got = collect(s);
      await new Promise((r) => s.once('connect', r));
      if (pieces === all.length) s.write(all);
      else await dribble(s, all, rnd, pieces);
      const raw = await within(got, 30_000, `${n} pipelined responses`);
      const rs = parseAll(raw, n);
      rs.forEach((r, i) => {
        assert.equal(r.status, 200);
        const j = JSON.parse(r.body.toString()) as { url: string; len: number; sha: string };
        assert.equal(j.url, `/p/${i}`);
        assert.equal(j.len, bodies[i]?.length);
        assert.equal(j.sha, sha(bodies[i] as Buffer), `body ${i} intact`);
      });
      s.destroy();
    }
    for (const o of others) assert.ok((await o.stop()) > 0, 'the other connection was served meanwhile');
  });

  it('big responses to a client that stops reading: queued writes, backpressure, every byte intact', async () => {
    const others = [noise(port), noise(port, 60_000)];
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    s.pause();
    const got = collect(s);
    s.write(
      'GET /big/1 HTTP/1.1\r\nhost: svc\r\n\r\nGET /big/chunked HTTP/1.1\r\nhost: svc\r\n\r\nGET /big/3 HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n',
    );
    // Nothing read for a while: the sidecar's writes to this client queue up, it stops reading
    // the upstream, and the other connection's reads reuse the read buffer meanwhile.
    await sleep(400);
    s.resume();
    const rs = parseAll(await within(got, 30_000, 'three big responses'), 3);
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.equal(r.body.length, BIG);
      assert.equal(sha(r.body), sha(bigBody));
    }
    s.destroy();
    for (const o of others) assert.ok((await o.stop()) > 0);
  });

  it('a body replayed on another endpoint after a reset is the body the client sent', async () => {
    const rnd = lcg(11);
    const others = [noise(port), noise(port)];
    for (let k = 0; k < 4; k++) {
      const body = text(3000 + k * 4000, 500 + k);
      const s = connect({ port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      const got = collect(s);
      await new Promise((r) => s.once('connect', r));
      const req = Buffer.concat([
        Buffer.from(
          `POST /retry/${k} HTTP/1.1\r\nhost: svc\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
        ),
        body,
      ]);
      await dribble(s, req, rnd, 900);
      const [r] = parseAll(await within(got, 10_000, 'the retried response'), 1);
      assert.equal(r?.status, 200);
      const j = JSON.parse((r as Parsed).body.toString()) as { url: string; len: number; sha: string };
      assert.equal(j.url, `/retry/${k}`);
      assert.equal(j.sha, sha(body), 'the replayed body is intact');
      s.destroy();
    }
    assert.match(dp.renderMetrics(), /trellis_upstream_retries_total\{cluster="closing"\} [1-9]/);
    for (const o of others) assert.ok((await o.stop()) > 0);
  });
});
