// Wire connections reading through `onread` (the shared read buffer, ../io/read-buffer.ts): frames
// are parsed in place and only what outlives a read is copied. Both sides on onread here (client:
// net.connect({ onread: WIRE_ONREAD }); server: the accepted socket moved onto onread), with bodies
// far past every read size (frames straddle reads), many streams at once, and trailers.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { moveToOnread } from '../listener/onread-socket.js';
import { WireClient } from './client.js';
import { DEFAULT_WIRE_LIMITS, onWireRead, WIRE_ONREAD } from './connection.js';
import { Collect, EchoServer, listen } from './test-helpers.js';

const POST = (path: string): string[] => [
  ':method',
  'POST',
  ':scheme',
  'http',
  ':authority',
  'test',
  ':path',
  path,
  'x-echo-n',
  path,
];

describe('wire connections on onread (both sides)', async () => {
  const servers: EchoServer[] = [];
  const { server, port } = await listen((sock) => {
    const moved = moveToOnread(sock, onWireRead);
    assert.ok(moved !== null, 'the accepted socket moves onto onread');
    const c = new EchoServer(moved.socket);
    c.readThroughOnread();
    c.start();
    if (moved.head !== null) c.feed(moved.head);
    servers.push(c);
  });
  after(() => {
    for (const c of servers) c.destroy();
    server.close();
  });

  async function client(): Promise<WireClient> {
    const sock = connect({ port, host: '127.0.0.1', onread: WIRE_ONREAD });
    let ready!: () => void;
    const p = new Promise<void>((r) => (ready = r));
    const c = new WireClient(sock, DEFAULT_WIRE_LIMITS, {
      onReady: () => ready(),
      onGoaway: () => undefined,
      onStreamGone: () => undefined,
      onClosed: () => undefined,
    });
    c.readThroughOnread();
    await once(sock, 'connect');
    c.start();
    sock.resume();
    await p;
    return c;
  }

  it('2 MiB echoes on 20 concurrent streams come back byte for byte, with trailers', async () => {
    const c = await client();
    const bodies = Array.from({ length: 20 }, (_, i) => randomBytes(100_000 * (i + 1) + i));
    const rs = bodies.map((body, i) => {
      const r = new Collect();
      const s = c.request(POST(`/e${i}`), false, r);
      for (let p = 0; p < body.length; p += 70_000) s.write(body.subarray(p, p + 70_000));
      s.end();
      return r;
    });
    await Promise.all(rs.map((r) => r.done));
    rs.forEach((r, i) => {
      assert.equal(r.reset, null, `stream ${i}`);
      assert.deepEqual(r.head?.slice(0, 4), [':status', '200', 'x-echo-n', `/e${i}`]);
      assert.ok(r.body.equals(bodies[i] as Buffer), `body ${i}`);
      assert.deepEqual(r.trailers, ['x-trailer', 'yes']);
    });
    c.destroy();
  });

  it('1,000 small requests in a row on one connection', async () => {
    const c = await client();
    for (let i = 0; i < 1000; i += 50) {
      const rs = Array.from({ length: 50 }, (_, k) => {
        const r = new Collect();
        const s = c.request(POST(`/s${i + k}`), false, r);
        s.write(Buffer.from(`body ${i + k}`));
        s.end();
        return r;
      });
      await Promise.all(rs.map((r) => r.done));
      rs.forEach((r, k) => assert.equal(r.body.toString(), `body ${i + k}`));
    }
    c.destroy();
  });
});
