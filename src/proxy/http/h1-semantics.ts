// Derives message semantics from parsed fields: body framing (RFC 9112 §6), keep-alive, Host and
// target form, rejecting every ambiguity a request-smuggling attack could use.
import { HOST } from './h1-chars.js';
import { H1ParseError, type H1Side } from './h1-errors.js';
import type { RequestLine, StatusLine } from './h1-head.js';
import type { H1Framing, H1RequestHead, H1ResponseHead, H1TargetForm } from './h1-types.js';

/** Facts collected from one pass over the fields. */
interface FieldFacts {
  host: string | null;
  contentLength: number;
  transferEncoding: string | null;
  connection: string[] | null;
  upgrade: string | null;
  expect: string | null;
  te: string | null;
}

function parseContentLength(v: string, side: H1Side): number {
  const n = v.length;
  if (n === 0 || n > 15)
    throw new H1ParseError('H1_INVALID_CONTENT_LENGTH', side, 'Content-Length must be 1-15 digits');
  let x = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9)
      throw new H1ParseError('H1_INVALID_CONTENT_LENGTH', side, 'Content-Length is not a number');
    x = x * 10 + d;
  }
  return x;
}

function splitTokens(v: string, into: string[]): void {
  if (!v.includes(',')) {
    const t = v.toLowerCase();
    if (t !== '') into.push(t);
    return;
  }
  for (const part of v.split(',')) {
    const t = part.trim().toLowerCase();
    if (t !== '') into.push(t);
  }
}

/** Shared `connectionTokens` of heads with one plain `Connection: keep-alive` / `close` (read only). */
const KEEP_ALIVE_TOKENS = Object.freeze(['keep-alive']) as unknown as string[];
const CLOSE_TOKENS = Object.freeze(['close']) as unknown as string[];

const FACTS: FieldFacts = {
  host: null,
  contentLength: -1,
  transferEncoding: null,
  connection: null,
  upgrade: null,
  expect: null,
  te: null,
};

function collect(headers: string[], side: H1Side): FieldFacts {
  const f = FACTS; // reused: heads are built synchronously, one at a time
  f.host = null;
  f.contentLength = -1;
  f.transferEncoding = null;
  f.connection = null;
  f.upgrade = null;
  f.expect = null;
  f.te = null;
  let hosts = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    switch (name) {
      case 'host':
        if (++hosts > 1) throw new H1ParseError('H1_DUPLICATE_HOST', side, 'more than one Host field');
        f.host = value;
        break;
      case 'content-length': {
        const n = parseContentLength(value, side);
        if (f.contentLength >= 0) {
          // Safe side: even identical duplicates are rejected (RFC 9110 §8.6 allows either).
          if (n !== f.contentLength)
            throw new H1ParseError('H1_CONFLICTING_LENGTH', side, 'differing Content-Length values');
          throw new H1ParseError('H1_DUPLICATE_CONTENT_LENGTH', side, 'repeated Content-Length');
        }
        f.contentLength = n;
        break;
      }
      case 'transfer-encoding':
        f.transferEncoding = f.transferEncoding === null ? value : `${f.transferEncoding},${value}`;
        break;
      case 'connection':
        // The usual single token (`keep-alive` on most responses): a shared list, nothing allocated.
        if (f.connection === null && (value === 'keep-alive' || value === 'close'))
          f.connection = value === 'close' ? CLOSE_TOKENS : KEEP_ALIVE_TOKENS;
        else {
          const c: string[] | null = f.connection;
          const into: string[] = c === null ? [] : c === CLOSE_TOKENS || c === KEEP_ALIVE_TOKENS ? [...c] : c;
          f.connection = into;
          splitTokens(value, into);
        }
        break;
      case 'upgrade':
        f.upgrade = f.upgrade === null ? value : `${f.upgrade}, ${value}`;
        break;
      case 'expect':
        f.expect = value;
        break;
      case 'te':
        f.te = f.te === null ? value : `${f.te},${value}`;
        break;
    }
  }
  return f;
}

/** The Upgrade protocols without `h2c` (any case), or null when none is left. */
function withoutH2c(upgrade: string): string | null {
  if (!/h2c/i.test(upgrade)) return upgrade;
  const rest = upgrade
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '' && p.toLowerCase() !== 'h2c');
  return rest.length === 0 ? null : rest.join(', ');
}

/** Only `chunked`, exactly once, last, is accepted: we never decode (or forward) other codings. */
function checkTransferEncoding(te: string, versionMinor: number, hasLength: boolean, side: H1Side): void {
  if (versionMinor === 0)
    throw new H1ParseError('H1_TE_IN_HTTP10', side, 'Transfer-Encoding in an HTTP/1.0 message');
  if (hasLength) throw new H1ParseError('H1_CL_WITH_TE', side, 'both Content-Length and Transfer-Encoding');
  const codings = te.split(',');
  const last = codings.length - 1;
  const final = (codings[last] as string).trim().toLowerCase();
  if (final !== 'chunked') {
    throw new H1ParseError(
      'H1_TE_NOT_CHUNKED_FINAL',
      side,
      `final transfer coding is "${final}", not chunked`,
    );
  }
  for (let i = 0; i < last; i++) {
    const c = (codings[i] as string).trim().toLowerCase();
    if (c === 'chunked')
      throw new H1ParseError('H1_INVALID_TRANSFER_ENCODING', side, 'chunked applied more than once');
    if (c === '' || c.includes(';') || c.includes(' ')) {
      throw new H1ParseError('H1_INVALID_TRANSFER_ENCODING', side, 'malformed Transfer-Encoding list');
    }
    throw new H1ParseError('H1_UNKNOWN_TRANSFER_CODING', side, `transfer coding "${c}" is not supported`);
  }
}

function checkHost(h: string, code: 'H1_INVALID_HOST' | 'H1_INVALID_TARGET'): void {
  for (let i = 0; i < h.length; i++) {
    if (!HOST[h.charCodeAt(i)]) throw new H1ParseError(code, 'request', 'invalid character in host');
  }
}

/** Lower-case and drop a default port so `Example.com:80` and `example.com` compare equal. */
function normalizeAuthority(a: string, scheme: string): string {
  const l = a.toLowerCase();
  const dflt = scheme === 'https' ? ':443' : ':80';
  return l.endsWith(dflt) ? l.slice(0, -dflt.length) : l;
}

interface Target {
  form: H1TargetForm;
  scheme: string | null;
  authority: string | null;
  path: string;
}

const ORIGIN: Target = { form: 'origin', scheme: null, authority: null, path: '' };

function classifyTarget(method: string, t: string): Target {
  const c = t.charCodeAt(0);
  if (c === 0x2f) return ORIGIN; // the caller uses the raw target as path
  if (method === 'CONNECT') {
    const colon = t.lastIndexOf(':');
    if (colon <= 0 || colon === t.length - 1 || t.includes('/') || t.includes('@')) {
      throw new H1ParseError('H1_INVALID_TARGET', 'request', 'CONNECT needs authority-form host:port');
    }
    checkHost(t, 'H1_INVALID_TARGET');
    return { form: 'authority', scheme: null, authority: t, path: t };
  }
  if (t === '*') {
    if (method !== 'OPTIONS') throw new H1ParseError('H1_INVALID_TARGET', 'request', "'*' only with OPTIONS");
    return { form: 'asterisk', scheme: null, authority: null, path: '*' };
  }
  const sep = t.indexOf('://');
  const scheme = sep > 0 ? t.slice(0, sep).toLowerCase() : '';
  if (scheme !== 'http' && scheme !== 'https') {
    throw new H1ParseError(
      'H1_INVALID_TARGET',
      'request',
      'target must be origin-form or an http(s) absolute URI',
    );
  }
  let end = sep + 3;
  while (end < t.length && t.charCodeAt(end) !== 0x2f && t.charCodeAt(end) !== 0x3f) end++;
  const authority = t.slice(sep + 3, end);
  if (authority === '' || authority.includes('@')) {
    throw new H1ParseError('H1_INVALID_TARGET', 'request', 'absolute-form needs a host and no userinfo');
  }
  checkHost(authority, 'H1_INVALID_TARGET');
  const rest = t.slice(end);
  return {
    form: 'absolute',
    scheme,
    authority,
    path: rest === '' || rest.charCodeAt(0) === 0x3f ? `/${rest}` : rest,
  };
}

function keepAliveOf(versionMinor: number, conn: string[] | null): boolean {
  if (conn === null) return versionMinor === 1;
  if (conn.includes('close')) return false;
  return versionMinor === 1 || conn.includes('keep-alive');
}

export function buildRequestHead(line: RequestLine, headers: string[]): H1RequestHead {
  const f = collect(headers, 'request');
  const v = line.versionMinor;
  let framing: H1Framing = 'none';
  if (f.transferEncoding !== null) {
    checkTransferEncoding(f.transferEncoding, v, f.contentLength >= 0, 'request');
    framing = 'chunked';
  } else if (f.contentLength >= 0) {
    framing = 'content-length';
  }
  if (f.host === null && v === 1)
    throw new H1ParseError('H1_MISSING_HOST', 'request', 'HTTP/1.1 request without Host');
  if (f.host !== null) checkHost(f.host, 'H1_INVALID_HOST');
  const target = classifyTarget(line.method, line.target);
  let authority = f.host ?? '';
  if (target.authority !== null) {
    if (f.host !== null && target.scheme !== null) {
      if (normalizeAuthority(f.host, target.scheme) !== normalizeAuthority(target.authority, target.scheme)) {
        throw new H1ParseError('H1_HOST_MISMATCH', 'request', 'Host differs from the absolute-form target');
      }
    }
    authority = target.authority;
  }
  const path = target === ORIGIN ? line.target : target.path;
  // h2c is never passed on: a tunnel to an app that speaks h2c would carry requests past routing
  // and authorization (h2c upgrade smuggling); the request goes on as plain HTTP/1.1 instead.
  const upgrade = f.upgrade === null ? null : withoutH2c(f.upgrade);
  const isUpgrade =
    line.method === 'CONNECT' ||
    (v === 1 && upgrade !== null && f.connection !== null && f.connection.includes('upgrade')); // 1.0: ignored
  if (isUpgrade) {
    if (framing === 'chunked' || f.contentLength > 0) {
      throw new H1ParseError('H1_UPGRADE_WITH_BODY', 'request', 'Upgrade/CONNECT request with a body');
    }
    framing = 'upgrade';
  }
  return {
    kind: 'request',
    method: line.method,
    target: line.target,
    targetForm: target.form,
    scheme: target.scheme,
    authority,
    path,
    versionMinor: v,
    headers,
    framing,
    contentLength: framing === 'content-length' ? f.contentLength : -1,
    keepAlive: keepAliveOf(v, f.connection),
    connectionTokens: f.connection,
    upgrade,
    expectContinue: f.expect !== null && f.expect.toLowerCase() === '100-continue',
    teTrailers:
      f.te !== null &&
      f.te
        .toLowerCase()
        .split(',')
        .some((x) => x.trim() === 'trailers'),
  };
}

/** `requestMethod` is the method of the request this answers (HEAD and CONNECT change framing). */
export function buildResponseHead(
  line: StatusLine,
  headers: string[],
  requestMethod: string,
): H1ResponseHead {
  const f = collect(headers, 'response');
  const v = line.versionMinor;
  const s = line.status;
  let framing: H1Framing;
  if (f.transferEncoding !== null)
    checkTransferEncoding(f.transferEncoding, v, f.contentLength >= 0, 'response');
  if (s === 101 || (requestMethod === 'CONNECT' && s >= 200 && s < 300)) framing = 'upgrade';
  else if (s < 200 || s === 204 || s === 304 || requestMethod === 'HEAD') framing = 'none';
  else if (f.transferEncoding !== null) framing = 'chunked';
  else if (f.contentLength >= 0) framing = 'content-length';
  else framing = 'until-close';
  return {
    kind: 'response',
    status: s,
    reason: line.reason,
    versionMinor: v,
    headers,
    framing,
    contentLength: framing === 'content-length' ? f.contentLength : -1,
    keepAlive: framing !== 'until-close' && keepAliveOf(v, f.connection),
    connectionTokens: f.connection,
    upgrade: f.upgrade,
  };
}
