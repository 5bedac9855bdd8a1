// Opaque TCP through the data plane with real sockets: a per-upstream local port (tcp_proxy) to an
// echo server (both ways, half-close, backpressure, refusal, concurrency), server-first protocols
// through a `tcp` inbound and through detection's silence fallback, and HTTP/1 beside them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/common/logger.js';
import { buildRouteTable } from '../../src/proxy/config/decode-route.js';
import type {
  ClusterConfig,
  EndpointConfig,
  ListenerConfig,
  ProxyConfig,
} from '../../src/proxy/config/types.js';
import { createDataPlane } from '../../src/proxy/create-data-plane.js';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import {
  endpoint,
  get,
  route,
  startApp,
  vhost,
  type FakeApp,
  listen,
  closedPort,
  within,
} from './sidecar-harness.js';

const GREETING = '220 greeter ready\r\n';

function cluster(name: string): ClusterConfig {
  return {
    name,
    discovery: 'eds',
    edsServiceName: name,
    lbPolicy: 'ROUND_ROBIN',
    protocol: 'http1',
    connectTimeoutMs: 2000,
  };
}

function tcpListener(name: string, clusterName: string, mode: 'tcp' | 'detect' = 'tcp'): ListenerConfig {
  const table = buildRouteTable(name, false, [
    vhost('app', ['*'], [route('r', '/', [{ name: 'http', weight: 1 }])]),
  ]);
  return {
    name,
    direction: name.startsWith('up') ? 'outbound' : 'inbound',
    address: '127.0.0.1',
    port: 0,
    statPrefix: name,
    codec: 'auto',
    routeSource: { type: 'inline', routeTable: table },
    mode,
    tcpProxy: { statPrefix: name, cluster: clusterName, idleTimeoutMs: 3_600_000 },
    ...(mode === 'detect' ? { detectTimeoutMs: 100 } : {}),
  };
}

interface Conn {
  readonly socket: Socket;
  data(): Buffer;
  /** Resolves when `n` bytes arrived (or rejects on close before). */
  waitBytes(n: number): Promise<Buffer>;
  readonly ended: Promise<void>;
  readonly closed: Promise<void>;
  /** The proxy closed its side (FIN, or a reset). */
  readonly gone: Promise<void>;
}

function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let waiters: { n: number; res: (b: Buffer) => void; rej: (e: Error) => void }[] = [];
    const all = (): Buffer => Buffer.concat(chunks, size);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      waiters = waiters.filter((w) => (size >= w.n ? (w.res(all()), false) : true));
    });
    socket.on('error', () => undefined);
    const ended = new Promise<void>((r) => socket.once('end', () => r()));
    const closed = new Promise<void>((r) =>
      socket.once('close', () => {
        for (const w of waiters) w.rej(new Error(`closed after ${size} of ${w.n} bytes`));
        waiters = [];
        r();
      }),
    );
    socket.once('connect', () =>
      resolve({
        socket,
        data: all,
        waitBytes: (n) =>
          size >= n ? Promise.resolve(all()) : new Promise((res, rej) => waiters.push({ n, res, rej })),
        ended,
        closed,
        gone: Promise.race([ended, closed]),
      }),
    );
    socket.once('error', reject);
  });
}

describe('sidecar data plane: opaque TCP', () => {
  let dp: DataPlane;
  let echo: { server: Server; port: number };
  let greeter: { server: Server; port: number };
  let app: FakeApp;
  let ports: ReadonlyMap<string, number>;

  before(async () => {
    echo = await listen((s) => s.pipe(s));
    greeter = await listen((s) => {
      s.write(GREETING);
      s.pipe(s);
    });
    app = await startApp('http');
    const eps = (n: string, p: number[]): [string, { clusterName: string; endpoints: EndpointConfig[] }] => [
      n,
      { clusterName: n, endpoints: p.map((x) => endpoint(x)) },
    ];
    const upHttp: ListenerConfig = { ...tcpListener('up-http', 'unused'), mode: 'http' };
    delete (upHttp as { tcpProxy?: unknown }).tcpProxy;
    const cfg: ProxyConfig = {
      versions: {},
      listeners: new Map([
        ['up-echo', tcpListener('up-echo', 'echo')],
        ['up-refused', tcpListener('up-refused', 'refused')],
        ['up-nocluster', tcpListener('up-nocluster', 'nope')],
        ['in-tcp', tcpListener('in-tcp', 'greeter')],
        ['in-detect', tcpListener('in-detect', 'greeter', 'detect')],
        ['up-http', upHttp],
        [
          'up-idle',
          {
            ...tcpListener('up-idle', 'echo'),
            tcpProxy: { statPrefix: 'up-idle', cluster: 'echo', idleTimeoutMs: 150 },
          },
        ],
      ]),
      routeTables: new Map(),
      clusters: new Map(['echo', 'refused', 'greeter', 'http'].map((n) => [n, cluster(n)])),
      endpoints: new Map([
        eps('echo', [echo.port]),
        eps('refused', [await closedPort()]),
        eps('greeter', [greeter.port]),
        eps('http', [app.port]),
      ]),
    };
    dp = createDataPlane({
      nodeId: 'tcp-test',
      requestVirtualHost: async () => undefined,
      logger: silentLogger(),
    });
    await dp.apply(cfg);
    ports = dp.boundPorts();
  });

  after(async () => {
    await dp.close();
    echo.server.close();
    greeter.server.close();
    await app.close();
  });

  const port = (name: string): number => ports.get(name) as number;

  it('carries bytes both ways through a per-upstream local port', async () => {
    const c = await open(port('up-echo'));
    c.socket.write('hello ');
    assert.equal((await within(c.waitBytes(6), 5000, 'first echo')).toString(), 'hello ');
    c.socket.write('world');
    assert.equal((await within(c.waitBytes(11), 5000, 'second echo')).toString(), 'hello world');
    c.socket.destroy();
  });

  it('carries a half-close: the client ends, still reads the reply, then sees the end', async () => {
    const c = await open(port('up-echo'));
    c.socket.end('last words');
    await within(c.ended, 5000, 'end from upstream');
    assert.equal(c.data().toString(), 'last words');
    await within(c.closed, 5000, 'close');
  });

  it('moves a large transfer intact (pipe backpressure both ways)', async () => {
    const c = await open(port('up-echo'));
    const payload = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
    c.socket.end(payload);
    await within(c.ended, 60_000, '16 MiB echoed');
    const got = c.data();
    assert.equal(got.length, payload.length);
    assert.equal(
      createHash('sha256').update(got).digest('hex'),
      createHash('sha256').update(payload).digest('hex'),
    );
  });

  it('closes the client when the upstream refuses, and counts it', async () => {
    const c = await open(port('up-refused'));
    c.socket.write('anyone?');
    await within(c.gone, 5000, 'client closed after refusal');
    assert.match(
      dp.renderMetrics(),
      /trellis_tcp_errors_total\{stat_prefix="up-refused",cluster="refused",reason="connect_failed"\} [1-9]/,
    );
  });

  it('closes the client when the cluster is unknown', async () => {
    const c = await open(port('up-nocluster'));
    await within(c.gone, 5000, 'client closed');
    assert.match(dp.renderMetrics(), /reason="no_cluster"\} [1-9]/);
  });

  it('closes both sides after the idle timeout, and counts it', async () => {
    const c = await open(port('up-idle'));
    c.socket.write('ping');
    await within(c.waitBytes(4), 5000, 'echo');
    await within(c.gone, 5000, 'idle close');
    assert.match(dp.renderMetrics(), /stat_prefix="up-idle",cluster="echo",reason="idle_timeout"\} 1/);
  });

  it('serves many concurrent connections', async () => {
    const n = 64;
    const results = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const c = await open(port('up-echo'));
        const msg = `connection-${i}-`.repeat(50);
        c.socket.end(msg);
        await within(c.ended, 20_000, `connection ${i}`);
        return c.data().toString() === msg;
      }),
    );
    assert.equal(results.filter(Boolean).length, n);
  });

  it('a server-first protocol works through a tcp inbound (never sniffed)', async () => {
    const c = await open(port('in-tcp'));
    // The greeting arrives without the client sending anything (no detection delay to wait out).
    assert.equal((await within(c.waitBytes(GREETING.length), 5000, 'greeting')).toString(), GREETING);
    c.socket.write('QUIT\r\n');
    await within(c.waitBytes(GREETING.length + 6), 5000, 'echo');
    c.socket.destroy();
  });

  it('detection: silence past the timeout means server-first opaque TCP', async () => {
    const c = await open(port('in-detect'));
    assert.equal((await within(c.waitBytes(GREETING.length), 5000, 'greeting')).toString(), GREETING);
    c.socket.destroy();
  });

  it('detection: non-HTTP bytes, and a TLS ClientHello (until mTLS), go to the app as opaque TCP', async () => {
    for (const first of [Buffer.from([0, 1, 2, 3]), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05])]) {
      const c = await open(port('in-detect'));
      c.socket.write(first);
      const got = await within(c.waitBytes(GREETING.length + first.length), 5000, 'greeting + echo');
      assert.deepEqual(got.subarray(GREETING.length), first);
      c.socket.destroy();
    }
  });

  it('detection: HTTP/1 still works on the inbound, bytes split across writes', async () => {
    const c = await open(port('in-detect'));
    c.socket.write('GE');
    await new Promise((r) => setTimeout(r, 20)); // a split inside the method token
    c.socket.write('T /split HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    await within(c.gone, 5000, 'response');
    const text = c.data().toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.equal(app.requests.at(-1)?.url, '/split');
    const r = await get(port('in-detect'), '/plain', 'anything');
    assert.equal(r.status, 200);
  });

  it('detection: an HTTP/2 preface goes to the registered h2 handler (server SETTINGS first)', async () => {
    const c = await open(port('in-detect'));
    c.socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const got = await within(c.waitBytes(9), 5000, 'the server SETTINGS frame');
    assert.equal(got[3], 0x4);
    c.socket.destroy();
  });

  it('an HTTP request through a per-upstream local port needs no special Host', async () => {
    const r = await get(port('up-http'), '/via-local-port', `127.0.0.1:${port('up-http')}`);
    assert.equal(r.status, 200);
    assert.equal(app.requests.at(-1)?.url, '/via-local-port');
  });
});
