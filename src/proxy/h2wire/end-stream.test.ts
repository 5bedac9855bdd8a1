// END_STREAM on the response's last DATA frame: a body written and ended in the same loop turn
// leaves as one DATA frame carrying END_STREAM (its flags set in place before the flush); ended
// after the flush, or with another frame queued after the body, it is an empty DATA frame.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { DEFAULT_WIRE_LIMITS, WireConnection } from './connection.js';
import { PREFACE } from './frames.js';
import { HpackEncoder } from './hpack.js';
import type { WireStream } from './stream.js';
import { frame, listen } from './test-helpers.js';

const ignore = {
  onHeaders: () => undefined,
  onTrailers: () => undefined,
  onData: () => undefined,
  onEnd: () => undefined,
  onReset: () => undefined,
  onDrain: () => undefined,
};

/** Answers `/same` (body and end in one turn), `/later` (end on the next turn), `/mixed` (stream 3 writes in between). */
class Replier extends WireConnection {
  private readonly open = new Map<string, WireStream>();
  constructor(socket: Socket) {
    super(socket, true, DEFAULT_WIRE_LIMITS);
  }
  protected onStream(s: WireStream, fields: string[]): void {
    s.handler = ignore;
    const path = fields[fields.indexOf(':path') + 1] as string;
    s.sendHeaders([':status', '200'], false);
    if (path === '/stages') {
      // 40 chunks of 1000 octets (two stages and more in one turn), then 6000 (not copied), end.
      for (let i = 0; i < 40; i++) s.write(Buffer.alloc(1000, 0x61 + (i % 26)));
      s.write(Buffer.alloc(6000, 0x7a));
      s.end(null);
      return;
    }
    s.write(Buffer.from(`body of ${path}`));
    if (path === '/same') s.end(null);
    else if (path === '/later') setTimeout(() => s.end(null), 20);
    else if (path === '/mixed-a') this.open.set('a', s);
    else if (path === '/mixed-b') {
      // b's DATA frame is queued after a's: b's end rides on it, a's is a frame of its own.
      s.end(null);
      this.open.get('a')?.end(null);
    }
  }
}

interface F {
  type: number;
  flags: number;
  id: number;
  len: number;
}

async function run(port: number, paths: string[], payloads?: Buffer[]): Promise<F[]> {
  const enc = new HpackEncoder();
  const s = connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  const reqs = paths.map((p, i) =>
    frame(
      1,
      0x5,
      2 * i + 1,
      enc.encode([':method', 'GET', ':scheme', 'http', ':authority', 'a', ':path', p]),
    ),
  );
  s.write(Buffer.concat([PREFACE, frame(4, 0, 0), ...reqs]));
  await new Promise((r) => setTimeout(r, 150));
  s.destroy();
  const all = Buffer.concat(got);
  const out: F[] = [];
  for (let p = 0; p + 9 <= all.length;) {
    const len = all.readUIntBE(p, 3);
    out.push({ type: all[p + 3] as number, flags: all[p + 4] as number, id: all.readUInt32BE(p + 5), len });
    if (payloads !== undefined && all[p + 3] === 0) payloads.push(all.subarray(p + 9, p + 9 + len));
    p += 9 + len;
  }
  return out.filter((f) => f.id !== 0);
}

describe('wire: END_STREAM on the last DATA frame', async () => {
  const { server, port } = await listen((sock) => new Replier(sock).start());
  after(() => (server as Server).close());

  it('body and end in one turn: one DATA frame with END_STREAM, no empty frame', async () => {
    const f = await run(port, ['/same']);
    assert.deepEqual(
      f.map((x) => [x.type, x.flags & 1, x.len > 0]),
      [
        [1, 0, true],
        [0, 1, true],
      ],
    );
  });

  it('end after the body was flushed: an empty DATA frame with END_STREAM', async () => {
    const f = await run(port, ['/later']);
    assert.deepEqual(
      f.map((x) => [x.type, x.flags & 1, x.len]),
      [
        [1, 0, f[0]!.len],
        [0, 0, 'body of /later'.length],
        [0, 1, 0],
      ],
    );
  });

  it('another frame queued after the body: the end is a frame of its own', async () => {
    const f = await run(port, ['/mixed-a', '/mixed-b']);
    const a = f.filter((x) => x.id === 1 && x.type === 0);
    const b = f.filter((x) => x.id === 3 && x.type === 0);
    assert.deepEqual(
      a.map((x) => [x.flags & 1, x.len]),
      [
        [0, 'body of /mixed-a'.length],
        [1, 0],
      ],
    );
    assert.deepEqual(
      b.map((x) => [x.flags & 1, x.len]),
      [[1, 'body of /mixed-b'.length]],
    );
  });

  it('frames written across stages in one turn, a large payload as is: every octet in order', async () => {
    const payloads: Buffer[] = [];
    const f = await run(port, ['/stages'], payloads);
    const data = f.filter((x) => x.type === 0);
    assert.deepEqual(
      data.map((x) => x.flags & 1),
      [...Array<number>(40).fill(0), 1],
    );
    const body = Buffer.concat(payloads);
    assert.equal(body.length, 46_000);
    for (let i = 0; i < 40; i++) assert.equal(body[i * 1000 + 999], 0x61 + (i % 26));
    assert.ok(body.subarray(40_000).every((c) => c === 0x7a));
  });
});
