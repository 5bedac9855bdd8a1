// Support for the listener-level fuzz test: seed requests, mutations (byte flips, CRLF edits,
// injected CL/TE, pipelined pairs, truncation), and a raw-socket exchange that splits its writes.
import { connect } from 'node:net';
import { parseResponses, type Resp } from './sidecar-harness.js';

export const SEEDS = [
  'GET /a?q=1 HTTP/1.1\r\nHost: svc\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
  'PUT /c HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n',
  'GET http://svc/abs HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive, x-h\r\nX-H: 1\r\n\r\n',
  'GET / HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\n\r\n',
  'DELETE /d HTTP/1.1\r\nHost: svc\r\nContent-Length: 0\r\n\r\nGET /2 HTTP/1.1\r\nHost: svc\r\n\r\n',
  'POST /e HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok',
  'GET /close HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n',
].map((s) => Buffer.from(s, 'latin1'));

const INJECT = [
  'Content-Length: 3\r\n',
  'Content-Length: 0\r\n',
  'Content-Length: 40\r\n',
  'Content-Length:  5 \r\n',
  'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: chunked, identity\r\n',
  'Transfer-Encoding:\tchunked\r\n',
  'Transfer-Encoding : chunked\r\n',
  ' chunked\r\n',
  'Host: other\r\n',
  'Connection: close\r\n',
  'Upgrade: websocket\r\nConnection: upgrade\r\n',
  'X-Trellis-Internal: 1\r\n',
  '0\r\n\r\n',
  'GET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n',
  'ffffffffffffffffff\r\n',
].map((s) => Buffer.from(s, 'latin1'));
const BYTES = ['\r', '\n', '\r\n', '\0', ' ', '\t', ':', ';', '\x7f', '\xff', '0'].map((s) =>
  Buffer.from(s, 'latin1'),
);

const pick = <T>(xs: readonly T[], rnd: () => number): T => xs[Math.floor(rnd() * xs.length)] as T;

function crlfs(b: Buffer): number[] {
  const out: number[] = [];
  for (let i = b.indexOf('\r\n'); i >= 0; i = b.indexOf('\r\n', i + 2)) out.push(i);
  return out;
}

/** One to four mutations of `input`; `other` supplies the second half of pipelined pairs. */
export function mutate(input: Buffer, rnd: () => number): Buffer {
  let b = input;
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rnd() * (b.length + 1));
    const p = rnd();
    const lines = crlfs(b);
    if (p < 0.2 && b.length > 0) {
      b = Buffer.from(b);
      b[Math.min(at, b.length - 1)] = Math.floor(rnd() * 256);
    } else if (p < 0.35 && lines.length > 0) {
      const i = pick(lines, rnd);
      b =
        rnd() < 0.5
          ? Buffer.concat([b.subarray(0, i), b.subarray(i + 2)])
          : Buffer.concat([b.subarray(0, i + 2), Buffer.from('\r\n'), b.subarray(i + 2)]);
    } else if (p < 0.55 && lines.length > 0) {
      // a header injected at a line start (or anywhere)
      const i = rnd() < 0.8 ? pick(lines, rnd) + 2 : at;
      b = Buffer.concat([b.subarray(0, i), pick(INJECT, rnd), b.subarray(i)]);
    } else if (p < 0.7) {
      b = Buffer.concat([b.subarray(0, at), pick(BYTES, rnd), b.subarray(at)]);
    } else if (p < 0.8) {
      b = Buffer.concat([b, pick(SEEDS, rnd)]);
    } else if (p < 0.9) {
      b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(rnd() * 8)))]);
    } else {
      b = b.subarray(0, at);
    }
  }
  return b;
}

export function randomBytes(rnd: () => number): Buffer {
  const b = Buffer.alloc(Math.floor(rnd() * 200));
  for (let i = 0; i < b.length; i++)
    b[i] = rnd() < 0.6 ? 0x20 + Math.floor(rnd() * 95) : Math.floor(rnd() * 256);
  return b;
}

export interface Exchange {
  responses: Resp[];
  raw: string;
  /** The proxy closed (or reset) the connection before we half-closed it. */
  closedByPeer: boolean;
  /** Waited for `expect` responses longer than the bound with the connection still open. */
  stalled: boolean;
  /** Still open `boundMs` after our half-close. */
  hung: boolean;
}

/**
 * Writes `input` in pieces (cut at `cuts`, a macrotask apart), waits for `expect` responses or a
 * close (at most `boundMs`), half-closes, and waits for the close (at most `boundMs` again).
 */
export function exchange(
  port: number,
  input: Buffer,
  cuts: number[],
  expect: number,
  boundMs: number,
): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let raw = '';
    let closed = false;
    let ended = false;
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const count = (): number => parseResponses(raw, false).responses.length;
    const finish = (hung: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ responses: parseResponses(raw, true).responses, raw, closedByPeer: !ended, stalled, hung });
    };
    const halfClose = (): void => {
      if (ended || closed) return;
      ended = true;
      clearTimeout(timer);
      s.end();
      timer = setTimeout(() => finish(true), boundMs);
    };
    s.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      if (!ended && count() >= expect) halfClose();
    });
    s.on('error', () => undefined);
    // The proxy's FIN: it is done with this connection (we close ours, as a real client would).
    s.on('end', () => {
      closed = true;
      finish(false);
    });
    s.on('close', () => {
      closed = true;
      finish(false);
    });
    s.on('connect', () => {
      void (async () => {
        let prev = 0;
        for (const cut of [...cuts, input.length]) {
          if (cut <= prev || closed) continue;
          s.write(input.subarray(prev, cut));
          prev = cut;
          if (cut < input.length) await new Promise((r) => setTimeout(r, 1));
        }
        if (closed || ended) return;
        if (count() >= expect) return halfClose();
        timer = setTimeout(() => {
          stalled = true;
          halfClose();
        }, boundMs);
      })();
    });
  });
}
