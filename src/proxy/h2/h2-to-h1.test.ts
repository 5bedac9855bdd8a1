// H2ToH1 across a stale keep-alive retry: the request body that arrives while the fresh connection
// is being made is kept and goes up, in order, before the last chunk. The exchange, pool and
// connections are stand-ins (the class takes them as interfaces); the bytes checked are the real
// HTTP/1.1 framing it writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError } from '../pipeline/rescue.js';
import type { H1Pool } from '../upstream/h1-pool.js';
import type { UpstreamConn } from '../upstream/upstream-conn.js';
import type { BodyReader, H2Exchange } from './h2-exchange.js';
import { H2ToH1 } from './h2-to-h1.js';

class FakeStream {
  endAfterHeaders = false;
  reading = false;
  destroyed = false;
  writableEnded = false;
  paused = false;
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  isPaused(): boolean {
    return this.paused;
  }
  readBody(): void {
    this.reading = true;
  }
}

function fakeConn(): { conn: UpstreamConn; bytes: () => string } {
  const bufs: Buffer[] = [];
  const conn = {
    reusable: true,
    attach() {},
    detach() {},
    destroy() {},
    socket: { pause() {}, resume() {} },
    out: {
      push: (b: Buffer) => bufs.push(b),
      flush: () => true,
    },
  };
  return { conn: conn as unknown as UpstreamConn, bytes: () => Buffer.concat(bufs).toString('latin1') };
}

function setup(replay: boolean) {
  const ds = new FakeStream();
  const acquired: boolean[] = [];
  const pool = { acquire: (_w: unknown, fresh?: boolean) => acquired.push(fresh === true) };
  const chunks: Buffer[] = [];
  let reader: BodyReader | null = null;
  const ex = {
    ds,
    readBody: (r: BodyReader) => {
      reader = r;
      ds.readBody();
    },
    replay: replay
      ? {
          chunks,
          overflowed: false,
          push: (c: Buffer) => chunks.push(c),
        }
      : null,
    replaying: false,
    bodyStarted: false,
    moved: false,
    reqDone: false,
    done: false,
    retryStale: () => bridge.acquire(pool as unknown as H1Pool, true),
    fail: (e: unknown) => assert.fail(`unexpected failure: ${String(e)}`),
  };
  const bridge: H2ToH1 = new H2ToH1(ex as unknown as H2Exchange, 'POST', 'svc', '/upload', [
    'content-type',
    'text/plain',
  ]);
  const body = (): BodyReader => {
    assert.ok(reader !== null && ds.reading, 'the bridge asked for the request body');
    return reader;
  };
  return { ds, ex, pool, acquired, bridge: () => bridge, body };
}

for (const replay of [false, true])
  test(`a stale keep-alive retry keeps the body that arrived in between (${replay ? 'with' : 'without'} a retry buffer)`, () => {
    const { ds, ex, pool, acquired, bridge, body: down } = setup(replay);
    const first = fakeConn();
    bridge().acquire(pool as unknown as H1Pool, false);
    bridge().onPoolConnection(first.conn, true);
    assert.match(first.bytes(), /^POST \/upload HTTP\/1\.1\r\n/);
    // The reused connection turns out dead before anything came back: once more, fresh.
    bridge().onUpstreamError(new ProxyError('UPSTREAM_RESET', 'reset'), false);
    assert.deepEqual(acquired, [false, true]);
    // The body arrives while the fresh connection is being made.
    down().onDownData(Buffer.from('hello '));
    down().onDownData(Buffer.from('world'));
    assert.equal(ds.isPaused(), true, 'reading stops until a connection takes the body');
    down().onDownEnd();
    const second = fakeConn();
    bridge().onPoolConnection(second.conn, false);
    const sent = second.bytes();
    const body = sent.slice(sent.indexOf('\r\n\r\n') + 4);
    assert.equal(body, '6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n');
    assert.equal(ex.bodyStarted, true);
    assert.equal(ds.isPaused(), false, 'reading resumes');
  });
