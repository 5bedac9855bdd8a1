// Parses a complete HTTP/1 head (start line + field lines, already known to end in CRLFCRLF with
// every LF preceded by CR) into strings, validating every byte against RFC 9112 strictly.
import { CR, FIELD_VALUE, HTAB, LF, SP, TARGET, TOKEN, latin1 } from './h1-chars.js';
import { H1ParseError, type H1Side } from './h1-errors.js';
import { internedName } from './h1-names.js';

export interface RequestLine {
  method: string;
  target: string;
  versionMinor: 0 | 1;
}

export interface StatusLine {
  status: number;
  reason: string;
  versionMinor: 0 | 1;
}

function methodString(b: Buffer, str: string, off: number, s: number, e: number): string {
  const n = e - s;
  const c = b[s];
  if (n === 3 && c === 0x47 && b[s + 1] === 0x45 && b[s + 2] === 0x54) return 'GET';
  if (n === 4 && c === 0x50 && b[s + 1] === 0x4f && b[s + 2] === 0x53 && b[s + 3] === 0x54) return 'POST';
  return str.slice(s - off, e - off);
}

/** The head as one latin1 string (one native call); field strings are slices of it. */
export function headString(b: Buffer, start: number, end: number): string {
  return latin1(b, start, end);
}

/** Reads "HTTP/1.x" at i; returns the minor version. Other well-formed versions → 505. */
function readVersion(b: Buffer, i: number, side: H1Side): 0 | 1 {
  const ok =
    b[i] === 0x48 && b[i + 1] === 0x54 && b[i + 2] === 0x54 && b[i + 3] === 0x50 && b[i + 4] === 0x2f;
  const major = (b[i + 5] ?? 0) - 0x30;
  const dot = b[i + 6];
  const minor = (b[i + 7] ?? 0) - 0x30;
  if (!ok || major < 0 || major > 9 || dot !== 0x2e || minor < 0 || minor > 9) {
    throw new H1ParseError('H1_INVALID_VERSION', side, 'malformed HTTP-version');
  }
  if (major !== 1 || minor > 1) {
    throw new H1ParseError('H1_UNSUPPORTED_VERSION', side, `HTTP/${major}.${minor} is not supported`);
  }
  return minor as 0 | 1;
}

/** Parses the request line starting at `start`; returns the index after its CRLF. */
export function parseRequestLine(b: Buffer, str: string, off: number, out: RequestLine): number {
  let i = off;
  while (b[i] === CR) i += 2; // leading empty lines (RFC 9112 §2.2); the scanner checked the LFs
  const ms = i;
  while (TOKEN[b[i] as number]) i++;
  if (i === ms || b[i] !== SP)
    throw new H1ParseError('H1_INVALID_METHOD', 'request', 'method is not a token');
  out.method = methodString(b, str, off, ms, i);
  const ts = ++i;
  while (TARGET[b[i] as number]) i++;
  if (i === ts || b[i] !== SP) {
    throw new H1ParseError('H1_INVALID_TARGET', 'request', 'request-target missing or has invalid bytes');
  }
  out.target = str.slice(ts - off, i - off);
  out.versionMinor = readVersion(b, i + 1, 'request');
  i += 9;
  if (b[i] !== CR || b[i + 1] !== LF) {
    throw new H1ParseError('H1_INVALID_VERSION', 'request', 'junk after HTTP-version');
  }
  return i + 2;
}

/** Parses the status line at `start`; returns the index after its CRLF. */
export function parseStatusLine(b: Buffer, str: string, off: number, out: StatusLine): number {
  out.versionMinor = readVersion(b, off, 'response');
  let i = off + 8;
  const d0 = (b[i + 1] ?? 0) - 0x30;
  const d1 = (b[i + 2] ?? 0) - 0x30;
  const d2 = (b[i + 3] ?? 0) - 0x30;
  if (b[i] !== SP || d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
    throw new H1ParseError('H1_INVALID_STATUS_LINE', 'response', 'status code must be 3 digits 100-599');
  }
  out.status = d0 * 100 + d1 * 10 + d2;
  i += 4;
  if (b[i] === SP) {
    const rs = ++i;
    while (FIELD_VALUE[b[i] as number]) i++;
    out.reason = str.slice(rs - off, i - off);
  } else {
    out.reason = ''; // "HTTP/1.1 200\r\n": tolerated, the reason phrase carries no semantics
  }
  if (b[i] !== CR || b[i + 1] !== LF) {
    throw new H1ParseError('H1_INVALID_STATUS_LINE', 'response', 'invalid byte in status line');
  }
  return i + 2;
}

/**
 * Parses field lines from `i` up to and including the empty line; pushes [name, value] pairs onto
 * `out` with names lower-cased. Rejects obs-fold, whitespace before ':', empty or non-token names,
 * and CTLs (NUL, bare CR, DEL, ...) in values.
 */
export function parseFields(
  b: Buffer,
  str: string,
  off: number,
  i: number,
  out: string[],
  side: H1Side,
): number {
  for (;;) {
    let c = b[i] as number;
    if (c === CR) {
      if (b[i + 1] !== LF) throw new H1ParseError('H1_BARE_CR', side, 'CR not followed by LF');
      return i + 2;
    }
    if (c === SP || c === HTAB) throw new H1ParseError('H1_OBS_FOLD', side, 'obsolete line folding');
    const ns = i;
    let upper = 0;
    let h = 0;
    let t: number;
    while ((t = TOKEN[(c = b[i] as number)] as number) !== 0) {
      upper |= t;
      h = (Math.imul(h, 31) + (t === 2 ? c | 0x20 : c)) | 0;
      i++;
    }
    c = b[i] as number;
    if (c !== 0x3a || i === ns) {
      if (i !== ns && (c === SP || c === HTAB)) {
        throw new H1ParseError('H1_WHITESPACE_BEFORE_COLON', side, 'whitespace between field name and colon');
      }
      throw new H1ParseError('H1_INVALID_HEADER_NAME', side, 'field name is empty or not a token');
    }
    const name =
      internedName(b, ns, i, h) ??
      (upper & 2 ? str.slice(ns - off, i - off).toLowerCase() : str.slice(ns - off, i - off));
    i++;
    while ((c = b[i] as number) === SP || c === HTAB) i++;
    const vs = i;
    while (FIELD_VALUE[b[i] as number] !== 0) i++;
    let ve = i;
    while (ve > vs && ((c = b[ve - 1] as number) === SP || c === HTAB)) ve--;
    if (b[i] !== CR)
      throw new H1ParseError('H1_INVALID_HEADER_VALUE', side, `control byte in value of ${name}`);
    if (b[i + 1] !== LF) throw new H1ParseError('H1_BARE_CR', side, 'CR not followed by LF');
    out.push(name, ve > vs ? str.slice(vs - off, ve - off) : '');
    i += 2;
  }
}
