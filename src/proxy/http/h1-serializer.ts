// Writes request heads upstream and response heads downstream from parsed heads, re-framing the
// body ourselves (client framing and hop-by-hop fields are never copied), plus a chunked encoder.
import { FIELD_VALUE, TOKEN, writeLatin1 } from './h1-chars.js';
import type { H1RequestHead, H1ResponseHead } from './h1-types.js';

/** How we frame the body we send: a byte length, chunked, none, or (responses) close-delimited. */
export type H1BodyFraming = number | 'chunked' | 'none' | 'close';

export interface H1SerializeOptions {
  readonly body: H1BodyFraming;
  /** Send `connection: close` (or `keep-alive`, for an HTTP/1.0 peer that asked for it). */
  readonly connection?: 'close' | 'keep-alive';
  /** Extra lower-case names to drop (e.g. x-forwarded-client-cert, our own internal headers). */
  readonly drop?: ReadonlySet<string>;
  /** Flat [name, value, ...] added after the copied fields; validated here (they did not come from the parser). */
  readonly extraHeaders?: readonly string[];
}

export interface H1RequestSerializeOptions extends H1SerializeOptions {
  /** Host to send; default head.authority (absolute-form targets become origin-form + Host). */
  readonly authority?: string;
  /** Target to send; default head.path. */
  readonly path?: string;
}

/** Never copied: framing, connection management, and what we re-add ourselves (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'content-length',
  'te',
  'upgrade',
  'host',
  'http2-settings',
]);

/** Fields that must not appear in a trailer section we forward (RFC 9110 §6.5.1). */
const TRAILER_FORBIDDEN = new Set([
  ...HOP_BY_HOP,
  'trailer',
  'authorization',
  'set-cookie',
  'cookie',
  'content-type',
  'content-encoding',
  'content-range',
  'cache-control',
  'expect',
  'max-forwards',
  'proxy-authorization',
  'proxy-authenticate',
  'www-authenticate',
]);

export class H1SerializeError extends Error {
  readonly code = 'H1_INVALID_OUTGOING_FIELD' as const;
}

function checkField(name: string, value: string): void {
  if (name.length === 0) throw new H1SerializeError('empty field name');
  for (let i = 0; i < name.length; i++) {
    if (TOKEN[name.charCodeAt(i)] !== 1)
      throw new H1SerializeError(`field name "${name}" must be a lower-case token`);
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || !FIELD_VALUE[c]) throw new H1SerializeError(`control or non-latin1 character in ${name}`);
  }
}

// A head is written straight into one Buffer of its exact size: a first pass over the fields
// decides which are copied and adds up the bytes, a second writes them (latin1: parsed fields were
// checked byte by byte, extras go through checkField). No string is built on the way: before, a
// template string per field, the cons-string tree of the whole head, its flat copy and then the
// encode, about 1 KB of garbage per proxied request.

/** Which fields the last measureFields() keeps (1) or drops (0); reused, grown on demand. */
let keep = new Uint8Array(64);

function isDropped(name: string, conn: string[] | null, drop: ReadonlySet<string> | undefined): boolean {
  return (
    HOP_BY_HOP.has(name) || (conn !== null && conn.includes(name)) || (drop !== undefined && drop.has(name))
  );
}

/** Bytes of the copied and extra field lines; validates the extras; fills `keep`. */
function measureFields(headers: string[], conn: string[] | null, opts: H1SerializeOptions): number {
  const drop = opts.drop;
  const nf = headers.length >> 1;
  if (keep.length < nf) keep = new Uint8Array(nf * 2);
  let len = 0;
  for (let i = 0, f = 0; i < headers.length; i += 2, f++) {
    const name = headers[i] as string;
    if (isDropped(name, conn, drop)) {
      keep[f] = 0;
      continue;
    }
    keep[f] = 1;
    len += name.length + (headers[i + 1] as string).length + 4;
  }
  const extra = opts.extraHeaders;
  if (extra !== undefined) {
    for (let i = 0; i < extra.length; i += 2) {
      const name = extra[i] as string;
      const value = extra[i + 1] ?? '';
      checkField(name, value);
      len += name.length + value.length + 4;
    }
  }
  return len;
}

function line(b: Buffer, o: number, name: string, value: string): number {
  o = writeLatin1(b, o, name);
  b[o++] = 0x3a; // ':'
  b[o++] = 0x20;
  o = writeLatin1(b, o, value);
  b[o++] = 0x0d;
  b[o++] = 0x0a;
  return o;
}

/** Writes the field lines measureFields() counted. */
function writeFields(b: Buffer, o: number, headers: string[], opts: H1SerializeOptions): number {
  for (let i = 0, f = 0; i < headers.length; i += 2, f++) {
    if (keep[f] === 1) o = line(b, o, headers[i] as string, headers[i + 1] as string);
  }
  const extra = opts.extraHeaders;
  if (extra !== undefined) {
    for (let i = 0; i < extra.length; i += 2) o = line(b, o, extra[i] as string, extra[i + 1] ?? '');
  }
  return o;
}

const TE_TRAILERS = 'te: trailers\r\n';
const CHUNKED = 'transfer-encoding: chunked\r\n';
const CONN_CLOSE = 'connection: close\r\n';
const CONN_KEEP_ALIVE = 'connection: keep-alive\r\n';
const CONTENT_LENGTH = 'content-length: ';
const CONN_UPGRADE = 'connection: upgrade\r\n';

/** Our framing lines and the empty line: the text, as the pieces framingBytes() counted. */
function framingLen(opts: H1SerializeOptions): number {
  const b = opts.body;
  let n = 2;
  if (typeof b === 'number') n += CONTENT_LENGTH.length + String(b).length + 2;
  else if (b === 'chunked') n += CHUNKED.length;
  if (opts.connection !== undefined)
    n += opts.connection === 'close' ? CONN_CLOSE.length : CONN_KEEP_ALIVE.length;
  else if (b === 'close') n += CONN_CLOSE.length;
  return n;
}

function writeFraming(buf: Buffer, o: number, opts: H1SerializeOptions): number {
  const b = opts.body;
  if (typeof b === 'number') {
    o = writeLatin1(buf, o, CONTENT_LENGTH);
    o = writeLatin1(buf, o, String(b));
    buf[o++] = 0x0d;
    buf[o++] = 0x0a;
  } else if (b === 'chunked') o = writeLatin1(buf, o, CHUNKED);
  if (opts.connection !== undefined)
    o = writeLatin1(buf, o, opts.connection === 'close' ? CONN_CLOSE : CONN_KEEP_ALIVE);
  else if (b === 'close') o = writeLatin1(buf, o, CONN_CLOSE);
  buf[o++] = 0x0d;
  buf[o++] = 0x0a;
  return o;
}

function lengthMismatch(wrote: number, counted: number): never {
  throw new Error(`h1 serializer: wrote ${wrote} bytes of a head counted as ${counted}`);
}

/** Request head for upstream: always HTTP/1.1, origin-form target (or CONNECT authority), our framing. */
export function serializeRequestHead(head: H1RequestHead, opts: H1RequestSerializeOptions): Buffer {
  if (opts.body === 'close') throw new H1SerializeError('a request body cannot be close-delimited');
  const authority = opts.authority ?? head.authority;
  checkField('host', authority);
  const path = opts.path ?? head.path;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw new H1SerializeError('invalid byte in request target');
  }
  // "METHOD SP path SP HTTP/1.1 CRLF host: authority CRLF"
  let len = head.method.length + path.length + authority.length + 20;
  len += measureFields(head.headers, head.connectionTokens, opts);
  if (head.teTrailers) len += TE_TRAILERS.length;
  const upgrade =
    head.framing === 'upgrade' && head.method !== 'CONNECT' && head.upgrade !== null ? head.upgrade : null;
  len += upgrade !== null ? 9 + upgrade.length + 2 + CONN_UPGRADE.length + 2 : framingLen(opts);
  const b = Buffer.allocUnsafe(len);
  let o = writeLatin1(b, 0, head.method);
  b[o++] = 0x20;
  o = writeLatin1(b, o, path);
  o = writeLatin1(b, o, ' HTTP/1.1\r\nhost: ');
  o = writeLatin1(b, o, authority);
  b[o++] = 0x0d;
  b[o++] = 0x0a;
  o = writeFields(b, o, head.headers, opts);
  if (head.teTrailers) o = writeLatin1(b, o, TE_TRAILERS);
  if (upgrade !== null) {
    o = line(b, o, 'upgrade', upgrade);
    o = writeLatin1(b, o, CONN_UPGRADE);
    b[o++] = 0x0d;
    b[o++] = 0x0a;
  } else o = writeFraming(b, o, opts);
  return o === len ? b : lengthMismatch(o, len);
}

/** Response head for downstream (HTTP/1.1 status line; never use 'chunked' towards an HTTP/1.0 client). */
export function serializeResponseHead(head: H1ResponseHead, opts: H1SerializeOptions): Buffer {
  if ((head.status < 200 || head.status === 204) && opts.body !== 'none') {
    throw new H1SerializeError(`a ${head.status} response has no body`);
  }
  const status = head.status === 200 ? '200' : String(head.status);
  // "HTTP/1.1 SP status SP reason CRLF"
  let len = 9 + status.length + 1 + head.reason.length + 2;
  len += measureFields(head.headers, head.connectionTokens, opts);
  const upgrade = head.status === 101 && head.upgrade !== null ? head.upgrade : null;
  len += upgrade !== null ? 9 + upgrade.length + 2 + CONN_UPGRADE.length + 2 : framingLen(opts);
  const b = Buffer.allocUnsafe(len);
  let o = writeLatin1(b, 0, 'HTTP/1.1 ');
  o = writeLatin1(b, o, status);
  b[o++] = 0x20;
  o = writeLatin1(b, o, head.reason);
  b[o++] = 0x0d;
  b[o++] = 0x0a;
  o = writeFields(b, o, head.headers, opts);
  if (upgrade !== null) {
    o = line(b, o, 'upgrade', upgrade);
    o = writeLatin1(b, o, CONN_UPGRADE);
    b[o++] = 0x0d;
    b[o++] = 0x0a;
  } else o = writeFraming(b, o, opts);
  return o === len ? b : lengthMismatch(o, len);
}

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/**
 * Chunked encoding for a streamed body: write the returned buffers in order (socket.cork + write
 * each, or writev). An empty input yields nothing: a zero-size chunk would end the body.
 */
export function encodeChunk(data: Buffer): Buffer[] {
  if (data.length === 0) return [];
  return [Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, CRLF];
}

/** The last chunk, with forwarded trailers (forbidden and hop-by-hop names dropped). */
export function encodeLastChunk(trailers: readonly string[] | null = null): Buffer {
  if (trailers === null || trailers.length === 0) return LAST_CHUNK;
  let s = '0\r\n';
  for (let i = 0; i < trailers.length; i += 2) {
    const name = trailers[i] as string;
    if (TRAILER_FORBIDDEN.has(name)) continue;
    const value = trailers[i + 1] ?? '';
    checkField(name, value);
    s += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${s}\r\n`, 'latin1');
}
