// Smuggling and hostile HTTP/1 inputs (from ../shared/notes/proxy-hardening.md): each must fail
// with a stable code and status, the same way however the bytes are split.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { H1ParseError, H1Parser } from './h1-parser.js';
import { H1_REQUEST_STATUS, type H1ErrorCode } from './h1-errors.js';
import { everyByte, runParser, sameOutcome } from './h1-test-support.js';

const crlf = (s: string): Buffer => Buffer.from(s.replace(/\n/g, '\r\n'), 'latin1');
const req = (headers: string, body = ''): Buffer =>
  Buffer.concat([crlf(`POST / HTTP/1.1\nHost: a\n${headers}\n`), Buffer.from(body, 'latin1')]);
const raw = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Hostile {
  name: string;
  input: Buffer;
  code: H1ErrorCode;
  status: number;
  kind?: 'request' | 'response';
  limits?: Record<string, number>;
}

// prettier-ignore
const HOSTILE: Hostile[] = [
  { name: 'CL.TE', input: req('Content-Length: 4\nTransfer-Encoding: chunked\n', '0\r\n\r\n'), code: 'H1_CL_WITH_TE', status: 400 },
  { name: 'TE.CL', input: req('Transfer-Encoding: chunked\nContent-Length: 4\n', '0\r\n\r\n'), code: 'H1_CL_WITH_TE', status: 400 },
  { name: 'conflicting CL', input: req('Content-Length: 4\nContent-Length: 5\n'), code: 'H1_CONFLICTING_LENGTH', status: 400 },
  { name: 'identical duplicate CL', input: req('Content-Length: 4\nContent-Length: 4\n'), code: 'H1_DUPLICATE_CONTENT_LENGTH', status: 400 },
  { name: 'CL list', input: req('Content-Length: 4, 4\n'), code: 'H1_INVALID_CONTENT_LENGTH', status: 400 },
  { name: 'empty CL (CVE-2023-40225)', input: req('Content-Length:\n'), code: 'H1_INVALID_CONTENT_LENGTH', status: 400 },
  { name: 'signed CL', input: req('Content-Length: +4\n'), code: 'H1_INVALID_CONTENT_LENGTH', status: 400 },
  { name: 'CL overflow', input: req('Content-Length: 99999999999999999999\n'), code: 'H1_INVALID_CONTENT_LENGTH', status: 400 },
  { name: 'space before colon (CVE-2021-22959/2024-27982)', input: req('Content-Length : 4\n'), code: 'H1_WHITESPACE_BEFORE_COLON', status: 400 },
  { name: 'TE not final chunked', input: req('Transfer-Encoding: chunked, gzip\n'), code: 'H1_TE_NOT_CHUNKED_FINAL', status: 400 },
  { name: 'TE identity', input: req('Transfer-Encoding: identity\n'), code: 'H1_TE_NOT_CHUNKED_FINAL', status: 400 },
  { name: 'TE obfuscated with \\x0b (CVE-2019-18277)', input: req('Transfer-Encoding: \x0bchunked\n'), code: 'H1_INVALID_HEADER_VALUE', status: 400 },
  { name: 'TE xchunked', input: req('Transfer-Encoding: xchunked\n'), code: 'H1_TE_NOT_CHUNKED_FINAL', status: 400 },
  { name: 'TE gzip, chunked is unsupported', input: req('Transfer-Encoding: gzip, chunked\n'), code: 'H1_UNKNOWN_TRANSFER_CODING', status: 501 },
  { name: 'chunked twice', input: req('Transfer-Encoding: chunked\nTransfer-Encoding: chunked\n'), code: 'H1_INVALID_TRANSFER_ENCODING', status: 400 },
  { name: 'TE in HTTP/1.0', input: crlf('POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n'), code: 'H1_TE_IN_HTTP10', status: 400 },
  { name: 'multi-line TE via obs-fold (CVE-2022-32215)', input: req('Transfer-Encoding: chunked\n , identity\n'), code: 'H1_OBS_FOLD', status: 400 },
  { name: 'obs-fold', input: req('X-A: b\n\tc\n'), code: 'H1_OBS_FOLD', status: 400 },
  { name: 'NUL in value (CVE-2019-9900)', input: req('X-A: b\x00c\n'), code: 'H1_INVALID_HEADER_VALUE', status: 400 },
  { name: 'DEL in value', input: req('X-A: b\x7fc\n'), code: 'H1_INVALID_HEADER_VALUE', status: 400 },
  { name: 'bare CR in value (CVE-2023-30589)', input: req('X-A: b\rc\n'), code: 'H1_BARE_CR', status: 400 },
  { name: 'bare LF line end (CVE-2022-32214)', input: raw('GET / HTTP/1.1\nHost: a\n\n'), code: 'H1_BARE_LF', status: 400 },
  { name: 'bare LF inside head', input: raw('GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n'), code: 'H1_BARE_LF', status: 400 },
  { name: 'empty header name (CVE-2023-25725)', input: req(': x\n'), code: 'H1_INVALID_HEADER_NAME', status: 400 },
  { name: 'non-token header name', input: req('X(A): x\n'), code: 'H1_INVALID_HEADER_NAME', status: 400 },
  { name: 'duplicate Host', input: crlf('GET / HTTP/1.1\nHost: a\nHost: b\n\n'), code: 'H1_DUPLICATE_HOST', status: 400 },
  { name: 'duplicate Host in other case', input: crlf('GET / HTTP/1.1\nHost: a\nHOST: b\n\n'), code: 'H1_DUPLICATE_HOST', status: 400 },
  { name: 'missing Host on 1.1', input: crlf('GET / HTTP/1.1\nX: y\n\n'), code: 'H1_MISSING_HOST', status: 400 },
  { name: 'Host with userinfo', input: crlf('GET / HTTP/1.1\nHost: a@b\n\n'), code: 'H1_INVALID_HOST', status: 400 },
  { name: 'Host with path', input: crlf('GET / HTTP/1.1\nHost: a/b\n\n'), code: 'H1_INVALID_HOST', status: 400 },
  { name: 'absolute-form with mismatching Host', input: crlf('GET http://a/ HTTP/1.1\nHost: b\n\n'), code: 'H1_HOST_MISMATCH', status: 400 },
  { name: 'absolute-form with userinfo', input: crlf('GET http://u@a/ HTTP/1.1\nHost: a\n\n'), code: 'H1_INVALID_TARGET', status: 400 },
  { name: 'non-http scheme', input: crlf('GET file:///etc/passwd HTTP/1.1\nHost: a\n\n'), code: 'H1_INVALID_TARGET', status: 400 },
  { name: 'fragment in target (CVE-2023-45539)', input: crlf('GET /a#b HTTP/1.1\nHost: a\n\n'), code: 'H1_INVALID_TARGET', status: 400 },
  { name: 'method with space + path (CVE-2021-39241)', input: crlf('GET /a /b HTTP/1.1\nHost: a\n\n'), code: 'H1_INVALID_VERSION', status: 400 },
  { name: 'double space', input: crlf('GET  / HTTP/1.1\nHost: a\n\n'), code: 'H1_INVALID_TARGET', status: 400 },
  { name: 'invalid method char', input: crlf('G@T / HTTP/1.1\nHost: a\n\n'), code: 'H1_INVALID_METHOD', status: 400 },
  { name: 'HTTP/0.9 request', input: crlf('GET /\n\n'), code: 'H1_INVALID_TARGET', status: 400 },
  { name: 'HTTP/2.0 over h1', input: crlf('GET / HTTP/2.0\nHost: a\n\n'), code: 'H1_UNSUPPORTED_VERSION', status: 505 },
  { name: 'lower-case version', input: crlf('GET / http/1.1\nHost: a\n\n'), code: 'H1_INVALID_VERSION', status: 400 },
  { name: 'version with junk', input: crlf('GET / HTTP/1.10\nHost: a\n\n'), code: 'H1_INVALID_VERSION', status: 400 },
  { name: 'chunk size overflow', input: req('Transfer-Encoding: chunked\n', 'fffffffffffffffff1\r\n'), code: 'H1_CHUNK_TOO_LARGE', status: 413 },
  { name: 'chunk size with 17 zeros', input: req('Transfer-Encoding: chunked\n', '00000000000000000001\r\n'), code: 'H1_INVALID_CHUNK_SIZE', status: 400 },
  { name: 'chunk size not hex', input: req('Transfer-Encoding: chunked\n', 'g\r\n'), code: 'H1_INVALID_CHUNK_SIZE', status: 400 },
  { name: 'negative chunk size', input: req('Transfer-Encoding: chunked\n', '-1\r\n'), code: 'H1_INVALID_CHUNK_SIZE', status: 400 },
  { name: 'chunk size 0x prefix', input: req('Transfer-Encoding: chunked\n', '0x5\r\n'), code: 'H1_INVALID_CHUNK_SIZE', status: 400 },
  { name: 'chunk ext with bare LF (CVE-2021-22960)', input: req('Transfer-Encoding: chunked\n', '1;a\nx\r\n'), code: 'H1_INVALID_CHUNK', status: 400 },
  { name: 'chunk ext too long', input: req('Transfer-Encoding: chunked\n', `1;${'a'.repeat(2000)}\r\n`), code: 'H1_CHUNK_EXTENSION_TOO_LONG', status: 400 },
  { name: 'chunk data longer than size', input: req('Transfer-Encoding: chunked\n', '1\r\nab\r\n'), code: 'H1_INVALID_CHUNK', status: 400 },
  { name: 'chunk size line bare LF', input: req('Transfer-Encoding: chunked\n', '1\nx\r\n'), code: 'H1_INVALID_CHUNK_SIZE', status: 400 },
  { name: 'trailing space after chunk size', input: req('Transfer-Encoding: chunked\n', '1 \r\nx\r\n'), code: 'H1_INVALID_CHUNK_SIZE', status: 400 },
  { name: 'chunk over limit', input: req('Transfer-Encoding: chunked\n', '1001\r\n'), code: 'H1_CHUNK_TOO_LARGE', status: 413, limits: { maxChunkSize: 4096 } },
  { name: 'NUL in trailer', input: req('Transfer-Encoding: chunked\n', '0\r\nX: a\x00\r\n\r\n'), code: 'H1_INVALID_HEADER_VALUE', status: 400 },
  { name: 'websocket upgrade with body', input: req('Connection: upgrade\nUpgrade: websocket\nContent-Length: 3\n'), code: 'H1_UPGRADE_WITH_BODY', status: 400 },
  { name: 'header too large', input: req(`X: ${'a'.repeat(70000)}\n`), code: 'H1_HEADERS_TOO_LARGE', status: 431 },
  { name: 'too many headers (CVE-2026-58044)', input: req('X: a\n'.repeat(101)), code: 'H1_TOO_MANY_HEADERS', status: 431 },
  { name: 'URI too long', input: crlf(`GET /${'a'.repeat(9000)} HTTP/1.1\nHost: a\n\n`), code: 'H1_URI_TOO_LONG', status: 414 },
  { name: 'URI too long, never terminated', input: raw(`GET /${'a'.repeat(9000)}`), code: 'H1_URI_TOO_LONG', status: 414 },
  { name: 'truncated body', input: req('Content-Length: 10\n', 'abc'), code: 'H1_INCOMPLETE_MESSAGE', status: 400 },
  { name: 'response CL+TE', kind: 'response', input: crlf('HTTP/1.1 200 OK\nContent-Length: 3\nTransfer-Encoding: chunked\n\n'), code: 'H1_CL_WITH_TE', status: 502 },
  { name: 'response HTTP/0.9 garbage', kind: 'response', input: raw('<html>hello</html>\r\n\r\n'), code: 'H1_INVALID_VERSION', status: 502 },
  { name: 'response bad status', kind: 'response', input: crlf('HTTP/1.1 20 OK\n\n'), code: 'H1_INVALID_STATUS_LINE', status: 502 },
  { name: 'response truncated chunked', kind: 'response', input: crlf('HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nab'), code: 'H1_INCOMPLETE_MESSAGE', status: 502 },
  { name: 'response TE gzip (cannot re-frame)', kind: 'response', input: crlf('HTTP/1.1 200 OK\nTransfer-Encoding: gzip\n\n'), code: 'H1_TE_NOT_CHUNKED_FINAL', status: 502 },
];

describe('h1 parser: hostile input', () => {
  for (const h of HOSTILE) {
    it(`${h.name} → ${h.code} ${h.status}`, () => {
      const kind = h.kind ?? 'request';
      const whole = runParser(kind, h.input, [], { limits: h.limits });
      assert.equal(whole.error, h.code);
      const bytewise = runParser(kind, h.input, everyByte(h.input.length), { limits: h.limits });
      assert.ok(sameOutcome(whole, bytewise), `byte-at-a-time gave ${bytewise.error}`);
      const err = new H1ParseError(h.code, kind, 'x');
      assert.equal(err.status, h.status);
      assert.equal(err.closeConnection, true);
    });
  }

  it('the parser stays failed after an error', () => {
    const p = new H1Parser('request', { onHead() {}, onBody() {}, onEnd() {} });
    assert.throws(() => p.execute(raw('GET / HTTP/1.1\nHost: a\n\n')), { code: 'H1_BARE_LF' });
    assert.throws(() => p.execute(crlf('GET / HTTP/1.1\nHost: a\n\n')), { code: 'H1_BARE_LF' });
  });

  it('every code has a status', () => {
    for (const [code, status] of Object.entries(H1_REQUEST_STATUS)) {
      assert.ok([400, 413, 414, 431, 501, 502, 505].includes(status), code);
    }
  });
});
