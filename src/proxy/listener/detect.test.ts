// Protocol detection: classify() on each protocol and on every split of the first bytes, and
// detectProtocol() on real sockets (decides, waits for split bytes, times out, sees half-close).
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { classify, detectProtocol, H2_PREFACE, type Detection } from './detect.js';

const b = (s: string | number[]): Buffer =>
  typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s);

describe('classify', () => {
  const cases: [string, Buffer, string][] = [
    ['h2 preface', H2_PREFACE, 'h2'],
    ['h2 preface + frames', Buffer.concat([H2_PREFACE, b([0, 0, 0, 4, 0])]), 'h2'],
    ['TLS ClientHello', b([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'tls'],
    ['GET', b('GET / HTTP/1.1\r\n'), 'h1'],
    ['extension method', b('PURGE /x HTTP/1.1\r\n'), 'h1'],
    ['absolute-form', b('GET http://a/ HTTP/1.1\r\n'), 'h1'],
    ['CONNECT authority-form', b('CONNECT a:443 HTTP/1.1\r\n'), 'h1'],
    ['PRI but HTTP/1', b('PRI / HTTP/1.1\r\n'), 'h1'],
    ['binary', b([0, 1, 2]), 'opaque'],
    ['0x16 not TLS', b([0x16, 0x01]), 'opaque'],
    ['leading space', b(' GET /'), 'opaque'],
    ['redis inline', b('PING\r\n'), 'opaque'],
    ['token then bad target', b('HELLO \x01'), 'opaque'],
    ['overlong token', b('A'.repeat(40)), 'opaque'],
  ];
  for (const [name, buf, want] of cases) {
    it(`${name} -> ${want}`, () => assert.equal(classify(buf), want));
    it(`${name}: every strict prefix is 'more' or the same answer`, () => {
      for (let i = 1; i < buf.length; i++) {
        const got = classify(buf.subarray(0, i));
        assert.ok(got === 'more' || got === want, `prefix ${i}: ${got}`);
      }
    });
  }
  it('empty and undecided prefixes are more', () => {
    assert.equal(classify(b('')), 'more');
    assert.equal(classify(b([0x16])), 'more');
    assert.equal(classify(b('PRI * HTTP/2')), 'more');
    assert.equal(classify(b('GE')), 'more');
    assert.equal(classify(b('GET ')), 'more');
  });
});

describe('detectProtocol', () => {
  let server: Server;
  let port = 0;
  let next: ((s: Socket) => void)[] = [];
  before(async () => {
    server = createServer({ allowHalfOpen: true }, (s) => next.shift()?.(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  /** Connects, runs detection on the accepted side, lets `drive` write; resolves with the result. */
  function run(timeoutMs: number, drive: (c: Socket) => void): Promise<Detection> {
    return new Promise((resolve) => {
      next.push((s) => {
        detectProtocol(s, { timeoutMs }, (d) => {
          s.destroy();
          c.destroy();
          resolve(d);
        });
      });
      const c = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => drive(c));
      c.on('error', () => undefined);
    });
  }

  it('decides h1 from bytes split across writes, keeping every byte', async () => {
    const d = await run(5000, (c) => {
      c.write('G');
      setTimeout(() => c.write('ET /a HTTP/1.1\r\n'), 20);
    });
    assert.equal(d.protocol, 'h1');
    assert.ok(d.head !== null && d.head.toString().startsWith('GET /a'));
  });

  it('decides h2 once the whole preface arrived', async () => {
    const d = await run(5000, (c) => {
      c.write(H2_PREFACE.subarray(0, 5));
      setTimeout(() => c.write(H2_PREFACE.subarray(5)), 20);
    });
    assert.equal(d.protocol, 'h2');
  });

  it('TLS and opaque bytes decide at once', async () => {
    assert.equal((await run(5000, (c) => c.write(b([0x16, 0x03, 0x03])))).protocol, 'tls');
    assert.equal((await run(5000, (c) => c.write(b([0xff, 0x00])))).protocol, 'opaque');
  });

  it('silence is a timeout (server-first), bounded by the configured time', async () => {
    const start = performance.now();
    const d = await run(50, () => undefined);
    assert.equal(d.protocol, 'timeout');
    assert.equal(d.head, null);
    assert.ok(performance.now() - start >= 45);
  });

  it('an undecided prefix followed by a half-close ends detection with ended=true', async () => {
    const d = await run(5000, (c) => c.end('GE'));
    assert.equal(d.protocol, 'timeout');
    assert.equal(d.ended, true);
    assert.equal(d.head?.toString(), 'GE');
  });

  it('a peer reset during detection destroys the socket without calling back', async () => {
    let called = false;
    const closed = new Promise<void>((resolve) => {
      next.push((s) => {
        detectProtocol(s, { timeoutMs: 5000 }, () => (called = true));
        s.once('close', () => resolve());
      });
    });
    const c = connect({ port, host: '127.0.0.1' }, () => c.resetAndDestroy());
    c.on('error', () => undefined);
    await closed;
    assert.equal(called, false);
    next = [];
  });
});
