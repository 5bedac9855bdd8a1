// Valid HTTP/1 messages: parsed results, pipelining, keep-alive, and split-invariance (every byte
// boundary and random splits must give exactly the same events as one buffer).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { H1Parser } from './h1-parser.js';
import { everyByte, prng, randomCuts, runParser, sameOutcome } from './h1-test-support.js';
import type { H1RequestHead, H1ResponseHead } from './h1-types.js';

const crlf = (s: string): Buffer => Buffer.from(s.replace(/\n/g, '\r\n'), 'latin1');

interface Valid {
  name: string;
  kind: 'request' | 'response';
  input: Buffer;
  methods?: string[];
  check: (o: ReturnType<typeof runParser>) => void;
}

type AnyHead = Omit<H1RequestHead, 'kind'> & Omit<H1ResponseHead, 'kind'>;
const heads = (o: ReturnType<typeof runParser>): AnyHead[] =>
  o.events.flatMap((e) => ('head' in e ? [e.head as unknown as AnyHead] : []));
const bodies = (o: ReturnType<typeof runParser>): string[] =>
  o.events.flatMap((e) => ('body' in e ? [e.body] : []));

const VALID: Valid[] = [
  {
    name: 'simple GET',
    kind: 'request',
    input: crlf('GET /a?b=1 HTTP/1.1\nHost: Example.com\nUser-Agent: t\nX-Empty:\nX-Sp:  v  \n\n'),
    check: (o) => {
      const h = heads(o)[0];
      assert.equal(h?.method, 'GET');
      assert.equal(h?.path, '/a?b=1');
      assert.equal(h?.authority, 'Example.com');
      assert.deepEqual(h?.headers, ['host', 'Example.com', 'user-agent', 't', 'x-empty', '', 'x-sp', 'v']);
      assert.equal(h?.framing, 'none');
      assert.equal(h?.keepAlive, true);
    },
  },
  {
    name: 'pipelined GET, POST with Content-Length, chunked POST with trailers',
    kind: 'request',
    input: crlf(
      'GET / HTTP/1.1\nHost: a\n\nPOST /p HTTP/1.1\nHost: a\nContent-Length: 5\n\nhelloPOST /c HTTP/1.1\nHost: a\n' +
        'Transfer-Encoding: chunked\nTE: trailers\n\n5;ext="q v";x\nhello\n10\n0123456789abcdef\n0\nX-Sum: 9\n\n',
    ),
    check: (o) => {
      assert.equal(o.error, null);
      assert.deepEqual(
        heads(o).map((h) => [h.method, h.framing, h.contentLength]),
        [
          ['GET', 'none', -1],
          ['POST', 'content-length', 5],
          ['POST', 'chunked', -1],
        ],
      );
      assert.deepEqual(bodies(o), ['hello', 'hello0123456789abcdef']);
      assert.deepEqual(o.events[o.events.length - 1], { end: ['x-sum', '9'] });
      assert.equal(heads(o)[2]?.teTrailers, true);
    },
  },
  {
    name: 'HTTP/1.0 without Host closes by default; bytes after are not consumed',
    kind: 'request',
    input: crlf('GET / HTTP/1.0\n\nGET / HTTP/1.0\n\n'),
    check: (o) => {
      assert.equal(heads(o).length, 1);
      assert.equal(heads(o)[0]?.keepAlive, false);
      assert.equal(o.consumed, 18);
    },
  },
  {
    name: 'HTTP/1.0 keep-alive, 1.1 Connection: close',
    kind: 'request',
    input: crlf(
      'GET / HTTP/1.0\nConnection: Keep-Alive\n\nGET / HTTP/1.1\nHost: a\nConnection: foo, close\n\n',
    ),
    check: (o) => {
      assert.deepEqual(
        heads(o).map((h) => h.keepAlive),
        [true, false],
      );
      assert.deepEqual(heads(o)[1]?.connectionTokens, ['foo', 'close']);
    },
  },
  {
    name: 'plain Connection: keep-alive / close (shared token lists), then more Connection fields',
    kind: 'request',
    input: crlf(
      'GET / HTTP/1.1\nHost: a\nConnection: keep-alive\nConnection: x-hop\n\n' +
        'GET / HTTP/1.1\nHost: a\nConnection: keep-alive\n\n' +
        'GET / HTTP/1.1\nHost: a\nConnection: close\nConnection: upgrade\n\n',
    ),
    check: (o) => {
      assert.deepEqual(
        heads(o).map((h) => h.connectionTokens),
        [['keep-alive', 'x-hop'], ['keep-alive'], ['close', 'upgrade']],
      );
      assert.deepEqual(
        heads(o).map((h) => h.keepAlive),
        [true, true, false],
      );
    },
  },
  {
    name: 'absolute-form target (HTTP_PROXY clients) and leading empty line',
    kind: 'request',
    input: crlf('\nGET http://Svc.local:80?q HTTP/1.1\nHost: svc.local\n\n'),
    check: (o) => {
      const h = heads(o)[0];
      assert.equal(h?.targetForm, 'absolute');
      assert.equal(h?.scheme, 'http');
      assert.equal(h?.authority, 'Svc.local:80');
      assert.equal(h?.path, '/?q');
    },
  },
  {
    name: 'websocket upgrade pauses; CONNECT is a tunnel',
    kind: 'request',
    input: crlf('GET /ws HTTP/1.1\nHost: a\nConnection: Upgrade\nUpgrade: websocket\n\n\x00raw'),
    check: (o) => {
      assert.equal(heads(o)[0]?.framing, 'upgrade');
      assert.equal(heads(o)[0]?.upgrade, 'websocket');
      assert.equal(o.consumed, 70); // "\0raw" is left for the tunnel
    },
  },
  {
    name: 'OPTIONS * and CONNECT authority-form',
    kind: 'request',
    input: crlf('OPTIONS * HTTP/1.1\nHost: a\n\nCONNECT db:5432 HTTP/1.1\nHost: db:5432\n\n'),
    check: (o) =>
      assert.deepEqual(
        heads(o).map((h) => [h.targetForm, h.path, h.framing]),
        [
          ['asterisk', '*', 'none'],
          ['authority', 'db:5432', 'upgrade'],
        ],
      ),
  },
  {
    name: 'responses: 100 continue, content-length, chunked with trailers, 204, 304, HEAD',
    kind: 'response',
    methods: ['POST', 'GET', 'GET', 'GET', 'HEAD'],
    input: crlf(
      'HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 2\n\nokHTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n' +
        '2\nab\n0\ngrpc-status: 0\n\nHTTP/1.1 204 No Content\n\nHTTP/1.1 304 Not Modified\nContent-Length: 99\n\n' +
        'HTTP/1.1 200\nContent-Length: 1000\n\n',
    ),
    check: (o) => {
      assert.equal(o.error, null);
      assert.deepEqual(
        heads(o).map((h) => [h.status, h.framing]),
        [
          [100, 'none'],
          [200, 'content-length'],
          [200, 'chunked'],
          [204, 'none'],
          [304, 'none'],
          [200, 'none'],
        ],
      );
      assert.deepEqual(bodies(o), ['ok', 'ab']);
      assert.ok(o.events.some((e) => 'end' in e && e.end?.[1] === '0'));
    },
  },
  {
    name: 'response read until close',
    kind: 'response',
    input: crlf('HTTP/1.0 200 OK\nServer: x\n\nall of it\nuntil close'),
    check: (o) => {
      assert.equal(heads(o)[0]?.framing, 'until-close');
      assert.equal(heads(o)[0]?.keepAlive, false);
      assert.deepEqual(bodies(o), ['all of it\r\nuntil close']);
      assert.deepEqual(o.events[o.events.length - 1], { end: null });
    },
  },
  {
    name: '101 switching protocols pauses',
    kind: 'response',
    input: crlf('HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: upgrade\n\n\x81\x00'),
    check: (o) => {
      assert.equal(heads(o)[0]?.framing, 'upgrade');
      assert.equal(o.consumed, o.events.length === 2 ? 77 : -1);
    },
  },
  {
    name: 'obs-text in values survives as latin1',
    kind: 'request',
    input: Buffer.concat([crlf('GET / HTTP/1.1\nHost: a\nX-L: caf'), Buffer.from([0xe9]), crlf('\n\n')]),
    check: (o) => assert.equal(heads(o)[0]?.headers[3], 'caf\u00e9'),
  },
];

describe('h1 parser: valid messages', () => {
  for (const v of VALID) {
    it(v.name, () => {
      const whole = runParser(v.kind, v.input, [], { methods: v.methods });
      v.check(whole);
      const bytewise = runParser(v.kind, v.input, everyByte(v.input.length), { methods: v.methods });
      assert.ok(sameOutcome(whole, bytewise), 'byte-at-a-time differs from one buffer');
      assert.equal(bytewise.consumed, whole.consumed);
      const rnd = prng(v.input.length);
      for (let k = 0; k < 50; k++) {
        const split = runParser(v.kind, v.input, randomCuts(v.input.length, rnd), { methods: v.methods });
        assert.ok(sameOutcome(whole, split), 'random split differs from one buffer');
      }
    });
  }

  it('a partial head at EOF is H1_INCOMPLETE_MESSAGE, an idle connection is not', () => {
    assert.equal(runParser('request', crlf('GET / HTTP/1.1\nHost: a\n')).error, 'H1_INCOMPLETE_MESSAGE');
    assert.equal(
      runParser('response', crlf('HTTP/1.1 200 OK\nContent-Length: 3\n\nab')).error,
      'H1_INCOMPLETE_MESSAGE',
    );
    assert.equal(runParser('request', crlf('GET / HTTP/1.1\nHost: a\n\n')).error, null);
    assert.equal(runParser('request', crlf('GET / HTTP/1.1\nHost: a\n\n\n\n')).error, null); // stray CRLFs, then EOF
  });

  it('body chunks are zero-copy views of the input', () => {
    const input = crlf('POST / HTTP/1.1\nHost: a\nContent-Length: 4\n\nbody');
    const o = runParser('request', input);
    assert.deepEqual(bodies(o), ['body']);
  });

  it('limits are configurable: a long status line, a low header count', () => {
    const long = crlf(`HTTP/1.1 200 ${'x'.repeat(100)}\n\n`);
    assert.equal(
      runParser('response', long, [], { limits: { maxRequestLineBytes: 50 } }).error,
      'H1_INVALID_STATUS_LINE',
    );
    const two = crlf('GET / HTTP/1.1\nHost: a\nA: 1\nB: 2\n\n');
    assert.equal(
      runParser('request', two, [], { limits: { maxHeaderCount: 2 } }).error,
      'H1_TOO_MANY_HEADERS',
    );
    assert.equal(runParser('request', two, [], { limits: { maxHeaderCount: 3 } }).error, null);
  });

  it('pause() from a handler stops after the message; resume() continues with the rest', () => {
    const input = crlf(
      'GET /1 HTTP/1.1\nHost: a\n\nGET /2 HTTP/1.1\nHost: a\n\nGET /3 HTTP/1.1\nHost: a\n\n',
    );
    const paths: string[] = [];
    const p = new H1Parser('request', {
      onHead: (h) => paths.push(h.kind === 'request' ? h.path : ''),
      onBody: () => {},
      onEnd: () => p.pause(),
    });
    let off = 0;
    let calls = 0;
    while (off < input.length) {
      off += p.execute(input.subarray(off));
      assert.ok(p.paused);
      p.resume();
      calls++;
    }
    assert.deepEqual(paths, ['/1', '/2', '/3']);
    assert.equal(calls, 3);
  });

  it('Upgrade on HTTP/1.0 is ignored', () => {
    const o = runParser('request', crlf('GET / HTTP/1.0\nConnection: upgrade\nUpgrade: websocket\n\n'));
    assert.equal(heads(o)[0]?.framing, 'none');
  });

  it('limits are exact, whatever the split', () => {
    const line = (n: number): Buffer => crlf(`GET /${'a'.repeat(n - 14)} HTTP/1.1\nHost: a\n\n`);
    const limits = { maxRequestLineBytes: 40, maxHeaderBytes: 60 };
    for (const [input, code] of [
      [line(40), null],
      [line(41), 'H1_URI_TOO_LONG'],
      [crlf(`GET / HTTP/1.1\nHost: a\nX: ${'b'.repeat(28)}\n\n`), null],
      [crlf(`GET / HTTP/1.1\nHost: a\nX: ${'b'.repeat(29)}\n\n`), 'H1_HEADERS_TOO_LARGE'],
    ] as const) {
      assert.equal(runParser('request', input, [], { limits }).error, code, input.toString());
      assert.equal(runParser('request', input, everyByte(input.length), { limits }).error, code);
    }
  });
});
