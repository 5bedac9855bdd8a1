// Raw frames against the wire server: every error path answers as RFC 9113 says (GOAWAY with the
// code and close for connection errors, RST_STREAM for stream errors), and a fuzzer never crashes it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Server } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { ErrorCode, PREFACE } from './frames.js';
import { HpackEncoder } from './hpack.js';
import { EchoServer, frame, listen, u32 } from './test-helpers.js';
import { DEFAULT_WIRE_LIMITS } from './connection.js';

const SETTINGS = frame(4, 0, 0);
const enc = new HpackEncoder();
const REQ = enc.encode([':method', 'GET', ':scheme', 'http', ':authority', 'a', ':path', '/']);
const headers = (id: number, flags = 0x5, block: Buffer = REQ): Buffer => frame(1, flags, id, block);

interface Seen {
  goaway: number | null;
  rst: Map<number, number>;
  closed: boolean;
  statuses: number;
}

/** Sends preface + SETTINGS + `bytes`, reads until close or `ms`, returns what came back. */
async function exchange(port: number, bytes: Buffer[], ms = 400): Promise<Seen> {
  const s = connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  s.on('error', () => undefined);
  s.write(Buffer.concat([PREFACE, SETTINGS]));
  for (const b of bytes) s.write(b);
  let closed = false;
  await Promise.race([once(s, 'close').then(() => (closed = true)), new Promise((r) => setTimeout(r, ms))]);
  s.destroy();
  const all = Buffer.concat(got);
  const seen: Seen = { goaway: null, rst: new Map(), closed, statuses: 0 };
  for (let p = 0; p + 9 <= all.length;) {
    const len = all.readUIntBE(p, 3);
    const type = all[p + 3] as number;
    const id = all.readUInt32BE(p + 5) & 0x7fffffff;
    const pl = all.subarray(p + 9, p + 9 + len);
    if (type === 7) seen.goaway = pl.readUInt32BE(4);
    if (type === 3 && !seen.rst.has(id)) seen.rst.set(id, pl.readUInt32BE(0));
    if (type === 1) seen.statuses++;
    p += 9 + len;
  }
  return seen;
}

describe('wire server: error paths with raw frames', async () => {
  const { server, port } = await listen((sock) =>
    new EchoServer(sock, {
      ...DEFAULT_WIRE_LIMITS,
      maxConcurrentStreams: 4,
      maxSessionRejectedStreams: 3,
    }).start(),
  );
  after(() => (server as Server).close());

  const conn: Array<[string, Buffer[], number]> = [
    ['bad preface', [], -1],
    [
      'frame larger than SETTINGS_MAX_FRAME_SIZE',
      [frame(0, 0, 1, Buffer.alloc(16385))],
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    ['DATA on stream 0', [frame(0, 0, 0, [1])], ErrorCode.PROTOCOL_ERROR],
    ['DATA on an idle stream', [frame(0, 0, 5, [1])], ErrorCode.PROTOCOL_ERROR],
    ['HEADERS on stream 0', [headers(0)], ErrorCode.PROTOCOL_ERROR],
    ['HEADERS on an even stream', [headers(2)], ErrorCode.PROTOCOL_ERROR],
    ['bad HPACK (index 0)', [headers(1, 0x5, Buffer.from([0x80]))], ErrorCode.COMPRESSION_ERROR],
    [
      'bad Huffman in a header',
      [headers(1, 0x5, Buffer.from([0x00, 0x81, 0x00, 0x00]))],
      ErrorCode.COMPRESSION_ERROR,
    ],
    [
      'padding longer than the frame',
      [headers(1, 0x5 | 0x8, Buffer.from([200, 1, 2]))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    ['CONTINUATION without HEADERS', [frame(9, 4, 1, REQ)], ErrorCode.PROTOCOL_ERROR],
    [
      'another frame inside a header block',
      [headers(1, 0x1, REQ), frame(6, 0, 0, Buffer.alloc(8))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'CONTINUATION flood',
      [
        headers(1, 0x1, REQ.subarray(0, 1)),
        ...Array.from({ length: 12 }, () => frame(9, 0, 1, Buffer.alloc(100))),
      ],
      ErrorCode.ENHANCE_YOUR_CALM,
    ],
    ['PUSH_PROMISE from a client', [frame(5, 4, 1, u32(2))], ErrorCode.PROTOCOL_ERROR],
    ['SETTINGS on a stream', [frame(4, 0, 1)], ErrorCode.PROTOCOL_ERROR],
    ['SETTINGS length not a multiple of 6', [frame(4, 0, 0, [0, 1, 0])], ErrorCode.FRAME_SIZE_ERROR],
    ['SETTINGS ACK with a payload', [frame(4, 1, 0, Buffer.alloc(6))], ErrorCode.FRAME_SIZE_ERROR],
    [
      'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1',
      [frame(4, 0, 0, Buffer.from([0, 4, 0x80, 0, 0, 0]))],
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    [
      'SETTINGS_MAX_FRAME_SIZE too small',
      [frame(4, 0, 0, Buffer.from([0, 5, 0, 0, 0x10, 0]))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    ['SETTINGS_ENABLE_PUSH 2', [frame(4, 0, 0, Buffer.from([0, 2, 0, 0, 0, 2]))], ErrorCode.PROTOCOL_ERROR],
    ['too many SETTINGS entries', [frame(4, 0, 0, Buffer.alloc(6 * 40))], ErrorCode.ENHANCE_YOUR_CALM],
    ['PING of 7 octets', [frame(6, 0, 0, Buffer.alloc(7))], ErrorCode.FRAME_SIZE_ERROR],
    ['PING on a stream', [frame(6, 0, 1, Buffer.alloc(8))], ErrorCode.PROTOCOL_ERROR],
    [
      'PING flood',
      [Buffer.concat(Array.from({ length: 1100 }, () => frame(6, 0, 0, Buffer.alloc(8))))],
      ErrorCode.ENHANCE_YOUR_CALM,
    ],
    ['RST_STREAM on stream 0', [frame(3, 0, 0, u32(0))], ErrorCode.PROTOCOL_ERROR],
    ['RST_STREAM on an idle stream', [frame(3, 0, 9, u32(0))], ErrorCode.PROTOCOL_ERROR],
    ['RST_STREAM of 3 octets', [frame(3, 0, 1, [0, 0, 0])], ErrorCode.FRAME_SIZE_ERROR],
    ['WINDOW_UPDATE of 0 on the connection', [frame(8, 0, 0, u32(0))], ErrorCode.PROTOCOL_ERROR],
    ['connection window overflow', [frame(8, 0, 0, u32(0x7fffffff))], ErrorCode.FLOW_CONTROL_ERROR],
    ['WINDOW_UPDATE length', [frame(8, 0, 0, [0, 0, 1])], ErrorCode.FRAME_SIZE_ERROR],
    ['GOAWAY on a stream', [frame(7, 0, 1, Buffer.alloc(8))], ErrorCode.PROTOCOL_ERROR],
    ['PRIORITY on stream 0', [frame(2, 0, 0, Buffer.alloc(5))], ErrorCode.PROTOCOL_ERROR],
    [
      'streams past MAX_CONCURRENT_STREAMS, again and again',
      Array.from({ length: 9 }, (_, i) => headers(2 * i + 1, 0x4)),
      ErrorCode.ENHANCE_YOUR_CALM,
    ],
    [
      'empty DATA flood',
      [headers(1, 0x4), Buffer.concat(Array.from({ length: 120 }, () => frame(0, 0, 1)))],
      ErrorCode.ENHANCE_YOUR_CALM,
    ],
  ];
  for (const [name, bytes, code] of conn) {
    it(`connection error: ${name}`, async () => {
      if (code === -1) {
        const s = connect({ port, host: '127.0.0.1' });
        s.on('error', () => undefined);
        s.resume();
        s.write('GET / HTTP/1.1\r\n\r\n');
        await once(s, 'close');
        return;
      }
      const seen = await exchange(port, bytes);
      assert.equal(seen.goaway, code, `GOAWAY code for ${name}`);
      assert.equal(seen.closed, true, 'closed');
    });
  }

  const stream: Array<[string, Buffer[], number, number]> = [
    [
      'DATA beyond the stream window',
      [
        headers(1, 0x4, enc.encode([':method', 'POST', ':scheme', 'http', ':path', '/pause'])),
        ...Array.from({ length: 5 }, () => frame(0, 0, 1, Buffer.alloc(16384))),
      ],
      1,
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    [
      'uppercase header name',
      [headers(1, 0x5, enc.encode([':method', 'GET', ':scheme', 'http', ':path', '/', 'X-A', 'b']))],
      1,
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'connection-specific header',
      [
        headers(
          1,
          0x5,
          enc.encode([':method', 'GET', ':scheme', 'http', ':path', '/', 'connection', 'close']),
        ),
      ],
      1,
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'missing :path',
      [headers(1, 0x5, enc.encode([':method', 'GET', ':scheme', 'http']))],
      1,
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'pseudo-header after a field',
      [headers(1, 0x5, enc.encode([':method', 'GET', 'a', 'b', ':scheme', 'http', ':path', '/']))],
      1,
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'trailers without END_STREAM',
      [headers(1, 0x4), headers(1, 0x4, enc.encode(['x', 'y']))],
      1,
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'WINDOW_UPDATE of 0 on a stream',
      [headers(1, 0x4), frame(8, 0, 1, u32(0))],
      1,
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'content-length larger than the body',
      [
        headers(
          1,
          0x4,
          enc.encode([':method', 'POST', ':scheme', 'http', ':path', '/', 'content-length', '5']),
        ),
        frame(0, 1, 1, [1, 2]),
      ],
      1,
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'DATA after END_STREAM',
      [
        headers(1, 0x5, enc.encode([':method', 'GET', ':scheme', 'http', ':path', '/?delay=200'])),
        frame(0, 0, 1, [1]),
      ],
      1,
      ErrorCode.STREAM_CLOSED,
    ],
    ['PRIORITY of 4 octets', [frame(2, 0, 3, u32(1))], 3, ErrorCode.FRAME_SIZE_ERROR],
    [
      'header list over the limit',
      [
        headers(
          1,
          0x5,
          enc
            .encode([':method', 'GET', ':scheme', 'http', ':path', '/', 'big', 'x'.repeat(70_000)])
            .subarray(0, 16000),
        ),
      ],
      1,
      -2,
    ],
  ];
  for (const [name, bytes, id, code] of stream) {
    it(`stream error: ${name}`, async () => {
      const seen = await exchange(port, bytes, 250);
      if (code === -2) {
        // a truncated block: the connection cannot decode it (COMPRESSION_ERROR) — never a crash
        assert.notEqual(seen.goaway, null);
        return;
      }
      assert.equal(seen.rst.get(id), code, `RST_STREAM code on ${id} for ${name}`);
      assert.equal(seen.goaway, null, 'no GOAWAY');
    });
  }

  it('DATA still in flight on a stream that was reset is ignored, not counted as invalid', async () => {
    const late = Array.from({ length: 150 }, () => frame(0, 0, 1, Buffer.alloc(10)));
    const seen = await exchange(
      port,
      [headers(1, 0x4), frame(3, 0, 1, u32(8)), ...late, headers(3, 0x5)],
      300,
    );
    assert.equal(seen.goaway, null);
    assert.ok(seen.statuses >= 1, 'stream 3 answered');
  });

  it('a header list over SETTINGS_MAX_HEADER_LIST_SIZE resets the stream only', async () => {
    const block = enc.encode([':method', 'GET', ':scheme', 'http', ':path', '/', 'big', 'x'.repeat(70_000)]);
    const parts = [frame(1, 0x1, 1, block.subarray(0, 16384))];
    for (let p = 16384; p < block.length; p += 16384) {
      parts.push(frame(9, p + 16384 >= block.length ? 4 : 0, 1, block.subarray(p, p + 16384)));
    }
    const seen = await exchange(port, parts, 250);
    assert.equal(seen.rst.get(1), ErrorCode.PROTOCOL_ERROR);
    assert.equal(seen.goaway, null);
  });

  it('fuzz: random and mutated frames never crash the process', async () => {
    const valid = [
      SETTINGS,
      headers(1, 0x4),
      frame(0, 0, 1, Buffer.from('hello')),
      frame(8, 0, 0, u32(1000)),
      frame(6, 0, 0, Buffer.alloc(8)),
      headers(3, 0x5),
      frame(3, 0, 3, u32(8)),
      frame(0, 1, 1, Buffer.from('!')),
    ];
    let seed = 1234567;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 60; round++) {
      const parts = valid.map((b) => {
        const c = Buffer.from(b);
        const flips = rnd(4);
        for (let i = 0; i < flips; i++) c[rnd(c.length)] = rnd(256);
        return c;
      });
      if (round % 5 === 0) parts.push(randomBytes(rnd(200)));
      await exchange(port, parts, 40);
    }
    // still serving
    const seen = await exchange(port, [headers(1, 0x5)], 200);
    assert.ok(seen.statuses >= 1);
  });
});
