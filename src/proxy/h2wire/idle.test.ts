// watchIdle: the connection idle timeout as a periodic check on the activity count (reads and
// flushes), not a socket timer refreshed per read and write.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:net';
import { Collect, EchoServer, listen, wireClient } from './test-helpers.js';

const req = (path: string): string[] => [
  ':method',
  'POST',
  ':scheme',
  'http',
  ':authority',
  'a',
  ':path',
  path,
];

describe('wire: connection idle watch', async () => {
  const { server, port } = await listen((sock) => new EchoServer(sock).start());
  after(() => (server as Server).close());

  it('fires once nothing moved for the timeout, not while streams keep it busy', async () => {
    const c = await wireClient(port);
    let fired = 0;
    c.watchIdle(200, () => fired++);
    // Busy for ~400 ms: a request every 40 ms (reads and flushes count as activity).
    for (let i = 0; i < 10; i++) {
      const h = new Collect();
      const s = c.request(req('/echo'), false, h);
      s.end(null);
      await new Promise((r) => setTimeout(r, 40));
    }
    assert.equal(fired, 0, 'not idle while requests go both ways');
    await new Promise((r) => setTimeout(r, 450));
    assert.ok(fired >= 1, `idle after 200 ms without activity (fired ${fired})`);
    c.destroy();
    const before = fired;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(fired, before, 'the check stops with the connection');
  });
});
