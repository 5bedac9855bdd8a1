// Protocol detection on an accepted socket: peek the first bytes (bounded by a timeout) and say
// whether they are an HTTP/2 preface, a TLS ClientHello, an HTTP/1 request line, or opaque bytes.
import type { Socket } from 'node:net';

export type DetectedProtocol = 'h2' | 'tls' | 'h1' | 'opaque';

/** What detection concluded, with the bytes it read (to be fed to the chosen handler first). */
export interface Detection {
  /** 'timeout': nothing decisive arrived in time (a server-first protocol, or a slow client). */
  readonly protocol: DetectedProtocol | 'timeout';
  /** Bytes read so far (null when none). */
  readonly head: Buffer | null;
  /** True when the peer half-closed before detection decided (the head is all it sent). */
  readonly ended: boolean;
}

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Longest HTTP/1 method token accepted (extension methods included). */
const MAX_METHOD = 24;

/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/**
 * Classifies the first bytes of a connection; 'more' when they are a prefix of something
 * recognizable and more bytes could decide. Pure, allocation-free.
 * - h2: the 24-byte client preface (`PRI * HTTP/2.0...`);
 * - tls: a handshake record of TLS 1.x (0x16 0x03);
 * - h1: a method token followed by SP and the start of a request target (`/`, `*`, or a letter
 *   or digit: absolute-form and authority-form);
 * - opaque: anything else.
 */
export function classify(buf: Buffer): DetectedProtocol | 'more' {
  const n = buf.length;
  if (n === 0) return 'more';
  if (buf[0] === 0x16) return n < 2 ? 'more' : buf[1] === 0x03 ? 'tls' : 'opaque';
  // The preface starts with "PRI " which is also an (extension) method: compare it first.
  const pre = Math.min(n, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, pre, 0, pre) === 0) return n >= H2_PREFACE.length ? 'h2' : 'more';
  for (let i = 0; i < n && i <= MAX_METHOD; i++) {
    const c = buf[i] as number;
    if (c === 0x20) {
      if (i === 0) return 'opaque';
      if (i + 1 >= n) return 'more';
      const t = buf[i + 1] as number;
      const target =
        t === 0x2f ||
        t === 0x2a ||
        (t >= 0x30 && t <= 0x39) ||
        (t >= 0x41 && t <= 0x5a) ||
        (t >= 0x61 && t <= 0x7a);
      return target ? 'h1' : 'opaque';
    }
    if (c >= 128 || TCHAR[c] !== 1) return 'opaque';
  }
  return n > MAX_METHOD ? 'opaque' : 'more';
}

export interface DetectOptions {
  /** How long to wait for decisive bytes. */
  readonly timeoutMs: number;
}

/**
 * Reads from `socket` until classify() decides, the timeout fires, or the peer half-closes, then
 * calls `done` once with the socket paused and its 'data' listener removed. The caller feeds
 * `head` to the chosen handler (socket.unshift when !ended). If the socket errors or closes first,
 * it is destroyed and `done` is never called. Returns a cancel function (listener shutdown).
 */
export function detectProtocol(
  socket: Socket,
  opts: DetectOptions,
  done: (d: Detection) => void,
): () => void {
  let head: Buffer | null = null;
  let finished = false;
  const finish = (protocol: Detection['protocol'], ended: boolean): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.pause();
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
    done({ protocol, head, ended });
  };
  const decide = (ended: boolean): void => {
    if (head === null) return;
    const p = classify(head);
    if (p !== 'more') finish(p, ended);
    else if (ended) finish('timeout', true);
  };
  const onData = (chunk: Buffer): void => {
    head = head === null ? chunk : Buffer.concat([head, chunk]);
    decide(false);
  };
  const onEnd = (): void => {
    if (head === null) finish('timeout', true);
    else decide(true);
  };
  const abort = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.destroy();
  };
  const onError = (): void => abort();
  const onClose = (): void => abort();
  const timer = setTimeout(() => finish('timeout', false), opts.timeoutMs);
  timer.unref();
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  return abort;
}
