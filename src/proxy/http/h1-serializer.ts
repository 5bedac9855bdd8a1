// Writes request heads upstream and response heads downstream from parsed heads, re-framing the
// body ourselves (client framing and hop-by-hop fields are never copied), plus a chunked encoder.
import { FIELD_VALUE, TOKEN } from './h1-chars.js';
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

// A head is written as latin1 pieces into one Buffer of its exact size: no intermediate strings
// (a template per field, then the whole head flattened and encoded again). Every piece is latin1:
// parsed fields were checked byte by byte, anything else goes through checkField first. The pieces
// are collected in a module-level scratch list (serialization is synchronous, nothing re-enters).
const pieces: string[] = [];
let nPieces = 0;
let nBytes = 0;

function put(s: string): void {
  pieces[nPieces++] = s;
  nBytes += s.length;
}

/** Copies the collected pieces into a new Buffer and empties the list. */
function take(): Buffer {
  const buf = Buffer.allocUnsafe(nBytes);
  let o = 0;
  for (let k = 0; k < nPieces; k++) {
    const s = pieces[k] as string;
    const n = s.length;
    // Short pieces (most names and values): a JS loop beats a native call per piece.
    if (n > 64) buf.write(s, o, n, 'latin1');
    else for (let i = 0; i < n; i++) buf[o + i] = s.charCodeAt(i);
    o += n;
    pieces[k] = '';
  }
  nPieces = 0;
  nBytes = 0;
  return buf;
}

function copyFields(headers: string[], conn: string[] | null, opts: H1SerializeOptions): void {
  const drop = opts.drop;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (
      HOP_BY_HOP.has(name) ||
      (conn !== null && conn.includes(name)) ||
      (drop !== undefined && drop.has(name))
    ) {
      continue;
    }
    put(name);
    put(': ');
    put(headers[i + 1] as string);
    put('\r\n');
  }
  const extra = opts.extraHeaders;
  if (extra !== undefined) {
    for (let i = 0; i < extra.length; i += 2) {
      const name = extra[i] as string;
      const value = extra[i + 1] ?? '';
      checkField(name, value);
      put(name);
      put(': ');
      put(value);
      put('\r\n');
    }
  }
}

function framingFields(opts: H1SerializeOptions): void {
  const b = opts.body;
  if (typeof b === 'number') {
    put('content-length: ');
    put(String(b));
    put('\r\n');
  } else if (b === 'chunked') put('transfer-encoding: chunked\r\n');
  if (opts.connection !== undefined)
    put(opts.connection === 'close' ? 'connection: close\r\n' : 'connection: keep-alive\r\n');
  else if (b === 'close') put('connection: close\r\n');
  put('\r\n');
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
  nPieces = 0; // a throw (checkField) may have left pieces behind
  nBytes = 0;
  put(head.method);
  put(' ');
  put(path);
  put(' HTTP/1.1\r\nhost: ');
  put(authority);
  put('\r\n');
  copyFields(head.headers, head.connectionTokens, opts);
  if (head.teTrailers) put('te: trailers\r\n');
  if (head.framing === 'upgrade' && head.method !== 'CONNECT' && head.upgrade !== null) {
    put('upgrade: ');
    put(head.upgrade);
    put('\r\nconnection: upgrade\r\n\r\n');
    return take();
  }
  framingFields(opts);
  return take();
}

/** Response head for downstream (HTTP/1.1 status line; never use 'chunked' towards an HTTP/1.0 client). */
export function serializeResponseHead(head: H1ResponseHead, opts: H1SerializeOptions): Buffer {
  if ((head.status < 200 || head.status === 204) && opts.body !== 'none') {
    throw new H1SerializeError(`a ${head.status} response has no body`);
  }
  nPieces = 0;
  nBytes = 0;
  put(head.status === 200 ? 'HTTP/1.1 200 ' : `HTTP/1.1 ${head.status} `);
  put(head.reason);
  put('\r\n');
  copyFields(head.headers, head.connectionTokens, opts);
  if (head.status === 101 && head.upgrade !== null) {
    put('upgrade: ');
    put(head.upgrade);
    put('\r\nconnection: upgrade\r\n\r\n');
    return take();
  }
  framingFields(opts);
  return take();
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
