// End to end: HTTP/1.1 clients through two mTLS sidecars, with the client sidecar sending HTTP/1.1
// as streams of one multiplexed HTTP/2 connection per peer (TRELLIS_MESH_H2=on). The server
// sidecar counts verified mTLS handshakes: many concurrent requests take one; keep-alive and
// chunked bodies work both ways; a WebSocket-style Upgrade still goes through (on its own
// HTTP/1.1 connection); with the switch off, the same load takes one connection per request in flight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlaneProcess, trellis, waitFor, type ControlPlaneProcess } from './helpers/processes.js';
import { startProxyProcess, type ProxyProcess, untilReady } from './helpers/sidecar.js';

function metric(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && (line[name.length] === '{' || line[name.length] === ' '))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(
  port: number,
  opts: { path: string; method?: string; body?: string[]; agent?: Agent; headers?: Record<string, string> },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path,
        method: opts.method ?? 'GET',
        headers: { host: 'server:9080', ...opts.headers },
        agent: opts.agent ?? false,
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    if (opts.body) for (const c of opts.body) req.write(c); // no length given: chunked
    req.end();
  });
}

describe(
  'HTTP/1.1 over one multiplexed HTTP/2 connection between mTLS sidecars',
  { timeout: 180_000 },
  () => {
    let dir: string;
    let cp: ControlPlaneProcess | undefined;
    let api = '';
    let xdsPort = 0;
    let app: Server;
    let appPort = 0;
    const sidecars: ProxyProcess[] = [];
    let server: ProxyProcess;
    let clientH2: ProxyProcess;
    let clientH1: ProxyProcess;

    async function tokenFile(service: string): Promise<string> {
      const r = await trellis(['token', 'create', '--service', service, '--ttl', '1h'], { server: api });
      assert.equal(r.code, 0, r.stderr);
      const file = join(dir, `${service}.token`);
      writeFileSync(file, r.stdout, { mode: 0o600 });
      return file;
    }

    async function sidecar(
      service: string,
      port: number,
      env: Record<string, string>,
    ): Promise<ProxyProcess> {
      const s = await startProxyProcess({
        service,
        xdsPort,
        apiUrl: api,
        appPort: port,
        args: ['--token-file', await tokenFile(service)],
        env,
      });
      sidecars.push(s);
      await untilReady(s, `the ${service} sidecar`);
      return s;
    }

    const handshakes = async (): Promise<number> =>
      metric((await server.admin('/stats')).body, 'trellis_mtls_inbound_connections_total');

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-mesh-h2-'));
      app = createServer((req, res) => {
        const u = new URL(req.url ?? '/', 'http://x');
        if (u.pathname === '/slow') {
          setTimeout(() => res.end(`slow ${u.searchParams.get('i')}`), 300);
          return;
        }
        if (u.pathname === '/echo') {
          const parts: Buffer[] = [];
          req.on('data', (d: Buffer) => parts.push(d));
          req.on('end', () => {
            res.setHeader('x-request-te', String(req.headers['transfer-encoding'] ?? ''));
            res.setHeader('x-request-length', String(req.headers['content-length'] ?? ''));
            // No content-length: chunked towards the server sidecar.
            res.write('echo:');
            res.write(Buffer.concat(parts));
            res.end();
          });
          return;
        }
        res.setHeader('content-length', '5');
        res.end('hello');
      });
      app.on('upgrade', (req, socket) => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
        socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('ws:'), d])));
      });
      await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
      appPort = (app.address() as AddressInfo).port;
      cp = await startControlPlaneProcess({ dataDir: join(dir, 'data'), plaintextXdsPort: 0 });
      api = cp.apiUrl;
      xdsPort = cp.plaintextXdsPort!;
      const mesh = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: server }
spec:
  ports: [{ port: 9080, targetPort: ${appPort}, protocol: http }]
`;
      const file = join(dir, 'mesh.yaml');
      writeFileSync(file, mesh);
      const r = await trellis(['apply', '-f', file], { server: api });
      assert.equal(r.code, 0, r.stderr);
      server = await sidecar('server', appPort, {});
      clientH2 = await sidecar('client', 0, { TRELLIS_MESH_H2: 'on' });
      clientH1 = await sidecar('client', 0, { TRELLIS_MESH_H2: 'off' });
      await waitFor(
        'the server endpoint at the clients',
        async () =>
          (await call(clientH2.outboundPort, { path: '/' }).catch(() => ({ status: 0 }))).status === 200 &&
          (await call(clientH1.outboundPort, { path: '/' }).catch(() => ({ status: 0 }))).status === 200,
        30_000,
      );
    });

    after(async () => {
      await Promise.all(sidecars.map((s) => s.stop()));
      await cp?.stop();
      app?.close();
      app?.closeAllConnections();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('40 concurrent HTTP/1.1 requests share one TLS connection (switch on); one each with it off', async () => {
      // Connections left from the warm-up are idle now; count new handshakes only.
      let before = await handshakes();
      const agent = new Agent({ keepAlive: true, maxSockets: 40 });
      const replies = await Promise.all(
        Array.from({ length: 40 }, (_, i) => call(clientH2.outboundPort, { path: `/slow?i=${i}`, agent })),
      );
      agent.destroy();
      replies.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.body, `slow ${i}`);
      });
      const h2New = (await handshakes()) - before;
      assert.ok(h2New <= 1, `mesh h2 on: ${h2New} new mTLS connections for 40 concurrent requests`);
      const status = JSON.parse((await clientH2.admin('/clusters')).body) as unknown;
      assert.match(JSON.stringify(status), /"h2Pool":\{"sessions":1/, JSON.stringify(status));

      before = await handshakes();
      const agent1 = new Agent({ keepAlive: true, maxSockets: 40 });
      const replies1 = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          call(clientH1.outboundPort, { path: `/slow?i=${i}`, agent: agent1 }),
        ),
      );
      agent1.destroy();
      for (const r of replies1) assert.equal(r.status, 200);
      const h1New = (await handshakes()) - before;
      assert.ok(h1New >= 20, `mesh h2 off: only ${h1New} new connections for 40 concurrent requests`);
    });

    test('2,400 keep-alive requests on 16 connections: every response framed exactly', async () => {
      // Regression: node:http2 may emit a stream's DATA before its 'response' event (both in one
      // read); the body must still follow its own head, never precede it.
      let ok = 0;
      const conn = (): Promise<void> =>
        new Promise((resolve, reject) => {
          const s = netConnect(clientH2.outboundPort, '127.0.0.1');
          let buf = '';
          let n = 0;
          const send = () => s.write('GET / HTTP/1.1\r\nhost: server:9080\r\n\r\n');
          s.setEncoding('latin1');
          s.on('connect', send);
          s.on('error', reject);
          s.on('data', (d: string) => {
            buf += d;
            for (;;) {
              const e = buf.indexOf('\r\n\r\n');
              if (e < 0) return;
              const head = buf.slice(0, e);
              if (!head.startsWith('HTTP/1.1 200 ') || !/\r\ncontent-length: 5\r?$/im.test(head)) {
                s.destroy();
                reject(new Error(`response ${n + 1} out of frame: ${JSON.stringify(buf.slice(0, 300))}`));
                return;
              }
              if (buf.length < e + 4 + 5) return;
              assert.equal(buf.slice(e + 4, e + 9), 'hello');
              buf = buf.slice(e + 9);
              n++;
              ok++;
              if (n === 150) {
                s.end();
                resolve();
                return;
              }
              send();
            }
          });
        });
      await Promise.all(Array.from({ length: 16 }, conn));
      assert.equal(ok, 2400);
    });

    test('keep-alive, and chunked bodies both ways, content-length kept', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 5; i++) {
        const r = await call(clientH2.outboundPort, {
          path: '/echo',
          method: 'POST',
          body: ['part-one,', 'part-two,', `n=${i}`],
          agent,
        });
        assert.equal(r.status, 200);
        assert.equal(r.body, `echo:part-one,part-two,n=${i}`);
        assert.equal(r.headers['transfer-encoding'], 'chunked'); // the app sent no length
        const plain = await call(clientH2.outboundPort, { path: '/', agent });
        assert.equal(plain.body, 'hello');
        assert.equal(plain.headers['content-length'], '5');
      }
      agent.destroy();
      const sized = await call(clientH2.outboundPort, {
        path: '/echo',
        method: 'POST',
        body: ['0123456789'],
        headers: { 'content-length': '10' },
      });
      assert.equal(sized.body, 'echo:0123456789');
    });

    test('requests whose streams the peer reset (its sidecar killed mid-request) are retried on the other one', async () => {
      const second = await sidecar('server', appPort, {});
      await waitFor(
        'two server endpoints at the h2 client',
        async () => {
          const all = JSON.parse((await clientH2.admin('/clusters')).body) as {
            name: string;
            endpoints: unknown[];
          }[];
          return all.some((c) => c.name.includes('server') && c.endpoints.length >= 2);
        },
        30_000,
      );
      // Warm both sessions, so that requests are in flight on each when one peer dies.
      await Promise.all(Array.from({ length: 8 }, () => call(clientH2.outboundPort, { path: '/' })));
      const agent = new Agent({ keepAlive: true, maxSockets: 20 });
      const inflight = Array.from({ length: 20 }, (_, i) =>
        call(clientH2.outboundPort, { path: `/slow?i=${i}`, agent }),
      );
      await new Promise((r) => setTimeout(r, 120));
      await second.stop('SIGKILL');
      const replies = await Promise.all(inflight);
      agent.destroy();
      replies.forEach((r, i) => assert.equal(`${r.status} ${r.body}`, `200 slow ${i}`));
      const stats = (await clientH2.admin('/stats')).body;
      assert.ok(metric(stats, 'trellis_retries_total') >= 1, 'the reset streams were retried');
    });

    test('an Upgrade (WebSocket handshake) still goes through the pair and carries bytes', async () => {
      const sock = netConnect(clientH2.outboundPort, '127.0.0.1');
      await new Promise<void>((r) => sock.once('connect', r));
      sock.write(
        'GET /ws HTTP/1.1\r\nhost: server:9080\r\nupgrade: websocket\r\nconnection: upgrade\r\n' +
          'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n',
      );
      let got = '';
      sock.setEncoding('latin1');
      sock.on('data', (d: string) => (got += d));
      await waitFor('the 101', async () => got.includes('\r\n\r\n'), 10_000);
      assert.match(got, /^HTTP\/1\.1 101/);
      got = '';
      sock.write('ping');
      await waitFor('the echo through the tunnel', async () => got === 'ws:ping', 10_000);
      sock.destroy();
    });
  },
);
