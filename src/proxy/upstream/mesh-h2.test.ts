// MeshH2Pool as the h1 exchange uses it: the parsed request head handed over (sendHead) becomes the
// HEADERS of one stream (hop-by-hop fields dropped, Host → :authority, te: trailers, the framing's
// content-length, x-request-id and the attempt count added), body chunks go out unframed as DATA,
// sendEnd ends the stream; the response comes back as HTTP/1.1 parse events. A real h2c connection
// to a wire server that records what it received.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { H1ResponseHead } from '../http/h1-parser.js';
import type { H1BodyFraming } from '../http/h1-serializer.js';
import type { H1RequestHead } from '../http/h1-types.js';
import { DEFAULT_WIRE_LIMITS, WireConnection } from '../h2wire/connection.js';
import { WirePool } from '../h2wire/pool.js';
import type { WireStream } from '../h2wire/stream.js';
import { listen } from '../h2wire/test-helpers.js';
import type { ProxyError } from '../pipeline/rescue.js';
import { Gauge } from '../telemetry/metrics.js';
import { checkParsedTarget, MeshH2Pool, parsedRequestConn, takesParsedHead } from './mesh-h2.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-conn.js';

interface Seen {
  fields: string[];
  endOnHeaders: boolean;
  body: Buffer[];
}

/** Records each request; answers 200 with the body's length (content-length) and a trailer. */
class Recorder extends WireConnection {
  static seen: Seen[] = [];
  constructor(socket: Socket) {
    super(socket, true, DEFAULT_WIRE_LIMITS);
  }
  protected onStream(s: WireStream, fields: string[], endStream: boolean): void {
    const seen: Seen = { fields, endOnHeaders: endStream, body: [] };
    Recorder.seen.push(seen);
    const path = fields[fields.indexOf(':path') + 1] as string;
    const reply = (): void => {
      if (path === '/reset') return s.reset(0x2);
      const n = Buffer.concat(seen.body).length;
      const out = Buffer.from(`got ${n}`);
      s.sendHeaders([':status', '200', 'x-got', String(n)], false);
      s.write(out);
      s.end(['x-trailer', 'yes']);
    };
    s.handler = {
      onHeaders: () => undefined,
      onTrailers: () => undefined,
      onData: (_x, c) => void seen.body.push(Buffer.from(c)),
      onReset: () => undefined,
      onDrain: () => undefined,
      onEnd: reply,
    };
    if (path === '/pause') {
      s.pause(); // the client is held to one stream window until the resume
      setTimeout(() => s.resume(), 150);
    }
    if (endStream) queueMicrotask(reply);
  }
}

/** The exchange's side: borrows a stream, hands it the head, records the response events. */
class Exchange implements UpstreamOwner {
  head: H1ResponseHead | null = null;
  interim: number[] = [];
  body: Buffer[] = [];
  trailers: string[] | null = null;
  error: ProxyError | null = null;
  gotBytes = false;
  conn: UpstreamConn | null = null;
  readonly done: Promise<void>;
  private settle!: () => void;
  private pending: Buffer[] = [];
  private endAfter = false;
  constructor(
    private readonly req: H1RequestHead,
    private readonly framing: H1BodyFraming,
    private readonly extra: string[] | undefined,
    private readonly attempt: number,
  ) {
    this.done = new Promise((r) => (this.settle = r));
  }
  /** Body chunks and end, sent once the stream is lent (as the exchange does). */
  send(chunks: Buffer[], end: boolean): this {
    this.pending = chunks;
    this.endAfter = end;
    return this;
  }
  onPoolConnection(conn: UpstreamConn): void {
    this.conn = conn;
    conn.attach(this, this.req.method);
    const direct = parsedRequestConn(conn);
    assert.ok(direct !== null, 'a mesh stream takes the parsed request');
    direct.sendHead(this.req, 'svc.example', this.req.path, this.extra, this.framing, this.attempt);
    for (const c of this.pending) conn.out.push(c);
    if (this.endAfter) direct.sendEnd();
    this.flushed = conn.out.empty || conn.out.flush(conn.socket);
  }
  onPoolError(err: ProxyError): void {
    this.error = err;
    this.settle();
  }
  onResponseHead(h: H1ResponseHead): void {
    if (h.status < 200) this.interim.push(h.status);
    else this.head = h;
  }
  onResponseBody(c: Buffer): void {
    this.body.push(Buffer.from(c));
  }
  onResponseEnd(t: string[] | null): void {
    if (this.head === null) return; // the end of an interim head
    this.trailers = t;
    this.settle();
  }
  onUpstreamError(err: ProxyError, gotBytes: boolean): void {
    this.error = err;
    this.gotBytes = gotBytes;
    this.settle();
  }
  drained = 0;
  /** What out.flush said after the body was pushed. */
  flushed: boolean | null = null;
  onUpstreamDrain(): void {
    this.drained++;
  }
  flushDownstream(): void {}
}

function head(
  method: string,
  path: string,
  headers: string[],
  over: Partial<H1RequestHead> = {},
): H1RequestHead {
  return {
    kind: 'request',
    method,
    target: path,
    targetForm: 'origin',
    scheme: null,
    authority: 'client-sent.example',
    path,
    versionMinor: 1,
    headers,
    framing: 'none',
    contentLength: -1,
    keepAlive: true,
    connectionTokens: null,
    upgrade: null,
    expectContinue: false,
    teTrailers: false,
    ...over,
  };
}

describe('MeshH2Pool: the parsed request head as one HTTP/2 stream', async () => {
  const conns: Recorder[] = [];
  const { server, port } = await listen((sock) => {
    const c = new Recorder(sock);
    c.start();
    conns.push(c);
  });
  const wire = new WirePool('127.0.0.1', port, {
    connectTimeoutMs: 2000,
    idleTimeoutMs: 10_000,
    gauge: new Gauge(),
  });
  after(() => {
    wire.closeAll();
    for (const c of conns) c.destroy();
    server.close();
  });

  async function run(x: Exchange): Promise<Seen> {
    const n = Recorder.seen.length;
    new MeshH2Pool(wire).acquire(x);
    await x.done;
    return Recorder.seen[n] as Seen;
  }

  it('GET: HEADERS straight from the head, hop-by-hop fields dropped, END_STREAM on HEADERS', async () => {
    const h = head(
      'GET',
      '/a?b=1',
      [
        'host',
        'client-sent.example',
        'connection',
        'keep-alive, x-hop',
        'keep-alive',
        'timeout=5',
        'x-hop',
        'dropped',
        'proxy-connection',
        'keep-alive',
        'te',
        'trailers, deflate',
        'upgrade',
        'h2c',
        'http2-settings',
        'AAAA',
        'x-keep',
        'one',
        'cookie',
        'a=1',
        'cookie',
        'b=2',
      ],
      { connectionTokens: ['keep-alive', 'x-hop'], teTrailers: true },
    );
    const x = new Exchange(h, 'none', ['x-request-id', 'rid-1'], 0);
    const seen = await run(x);
    assert.deepEqual(seen.fields, [
      ':method',
      'GET',
      ':scheme',
      'https',
      ':authority',
      'svc.example',
      ':path',
      '/a?b=1',
      'x-keep',
      'one',
      'cookie',
      'a=1',
      'cookie',
      'b=2',
      'x-request-id',
      'rid-1',
      'te',
      'trailers',
    ]);
    assert.equal(seen.endOnHeaders, true);
    assert.equal(x.error, null);
    assert.equal(x.head?.status, 200);
    assert.equal(x.head?.framing, 'chunked'); // no content-length in the response
    assert.deepEqual(x.head?.headers, ['x-got', '0']);
    assert.equal(Buffer.concat(x.body).toString(), 'got 0');
    assert.deepEqual(x.trailers, ['x-trailer', 'yes']);
  });

  it('content-length body: the length as a field, the bytes as DATA, the attempt count', async () => {
    const h = head('POST', '/up', ['content-length', '11', 'x-request-id', 'client-id'], {
      framing: 'content-length',
      contentLength: 11,
    });
    const x = new Exchange(h, 11, undefined, 2).send([Buffer.from('hello '), Buffer.from('world')], true);
    const seen = await run(x);
    assert.deepEqual(seen.fields.slice(8), [
      'x-request-id',
      'client-id',
      'content-length',
      '11',
      'x-trellis-attempt-count',
      '2',
    ]);
    assert.equal(seen.endOnHeaders, false);
    assert.equal(Buffer.concat(seen.body).toString(), 'hello world');
    assert.deepEqual(x.head?.headers, ['x-got', '11']);
  });

  it('content-length 0 is sent as such, with END_STREAM on HEADERS', async () => {
    const h = head('POST', '/empty', ['content-length', '0'], {
      framing: 'content-length',
      contentLength: 0,
    });
    const seen = await run(new Exchange(h, 0, undefined, 0).send([], true));
    assert.deepEqual(seen.fields.slice(8), ['content-length', '0']);
    assert.equal(seen.endOnHeaders, true);
  });

  it('chunked body: no chunk framing, no content-length, ended by sendEnd', async () => {
    const h = head('POST', '/chunked', ['transfer-encoding', 'chunked', 'x-a', 'b'], { framing: 'chunked' });
    const parts = [Buffer.from('ab'), Buffer.alloc(70_000, 0x61), Buffer.from('yz')];
    const x = new Exchange(h, 'chunked', undefined, 0).send(parts, true);
    const seen = await run(x);
    assert.deepEqual(seen.fields.slice(8), ['x-a', 'b']);
    assert.deepEqual(Buffer.concat(seen.body), Buffer.concat(parts));
    assert.deepEqual(x.head?.headers, ['x-got', '70004']);
  });

  it('a body the peer does not take holds the exchange (flush false) until the stream drains', async () => {
    const h = head('POST', '/pause', ['transfer-encoding', 'chunked'], { framing: 'chunked' });
    const parts = [Buffer.alloc(100_000, 0x62), Buffer.alloc(100_000, 0x63)];
    const x = new Exchange(h, 'chunked', undefined, 0).send(parts, true);
    const seen = await run(x);
    assert.equal(x.flushed, false, 'over 64 KiB unsent: the exchange is told to wait');
    assert.ok(x.drained >= 1, 'onUpstreamDrain once the peer took it');
    assert.deepEqual(Buffer.concat(seen.body), Buffer.concat(parts));
  });

  it('Expect: 100-continue is answered at once and not sent', async () => {
    const h = head('POST', '/continue', ['expect', '100-continue', 'content-length', '2'], {
      framing: 'content-length',
      contentLength: 2,
      expectContinue: true,
    });
    const x = new Exchange(h, 2, undefined, 0).send([Buffer.from('ok')], true);
    const seen = await run(x);
    assert.deepEqual(x.interim, [100]);
    assert.deepEqual(seen.fields.slice(8), ['content-length', '2']);
    assert.equal(x.head?.status, 200);
  });

  it('a stream the peer resets before any response byte is an upstream error without bytes', async () => {
    const x = new Exchange(head('GET', '/reset', []), 'none', undefined, 0);
    await run(x);
    assert.equal(x.error?.code, 'UPSTREAM_RESET');
    assert.equal(x.gotBytes, false);
    assert.match(x.error?.message ?? '', /reset the HTTP\/2 stream \(code 2\)/);
  });

  it('a second acquire on a pool whose stream is taken gets its own stream', async () => {
    const p = new MeshH2Pool(wire);
    const a = new Exchange(head('GET', '/one', []), 'none', undefined, 0);
    const b = new Exchange(head('GET', '/two', []), 'none', undefined, 0);
    p.acquire(a);
    p.acquire(b);
    await Promise.all([a.done, b.done]);
    assert.notEqual(a.conn, b.conn);
    assert.equal(a.head?.status, 200);
    assert.equal(b.head?.status, 200);
  });

  it("checkParsedTarget: the serializer's checks of the routed authority and path", () => {
    assert.equal(takesParsedHead(new MeshH2Pool(wire)), true);
    checkParsedTarget('svc.example:8080', '/a/b?c=d%20e');
    assert.throws(() => checkParsedTarget('svc\r\nx: y', '/'), /control or non-latin1 character in host/);
    assert.throws(() => checkParsedTarget('svc', '/a b'), /invalid byte in request target/);
    assert.throws(() => checkParsedTarget('svc', '/\u0100'), /invalid byte in request target/);
  });
});
