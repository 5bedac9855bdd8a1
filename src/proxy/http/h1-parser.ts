// Incremental, strict HTTP/1.1 parser for the sidecar's hot path: fed socket Buffers, it emits a
// head, zero-copy body chunks and an end per message, resuming after each (pipelining/keep-alive).
import { CR, FIELD_VALUE, HEX, HTAB, LF, SP } from './h1-chars.js';
import { H1ParseError, type H1ErrorCode, type H1Side } from './h1-errors.js';
import {
  headString,
  parseFields,
  parseRequestLine,
  parseStatusLine,
  type RequestLine,
  type StatusLine,
} from './h1-head.js';
import { buildRequestHead, buildResponseHead } from './h1-semantics.js';
import { DEFAULT_H1_LIMITS, type H1Handler, type H1Head, type H1Limits } from './h1-types.js';

export { H1ParseError } from './h1-errors.js';
export type * from './h1-types.js';

const enum S {
  Head,
  BodyLength,
  ChunkSize,
  ChunkData,
  ChunkDataCR,
  ChunkDataLF,
  Trailers,
  UntilClose,
  Paused,
  Closed,
  Failed,
}

const enum C {
  Start,
  Digits,
  Ws,
  Ext,
  Lf,
}

/**
 * One parser per connection and direction. `execute()` returns how many bytes it consumed: all of
 * them, unless the connection paused after an upgrade head or ended with `Connection: close` (the
 * rest belongs to the tunnel / must be discarded). Any H1ParseError is final: answer
 * `err.status` (requests) or 502 (responses), then close the connection.
 */
export class H1Parser {
  private state = S.Head;
  private error: H1ParseError | null = null;
  private readonly side: H1Side;
  private readonly limits: H1Limits;
  // head / trailer scanning across chunks
  private pend: Buffer | null = null;
  private pendLen = 0;
  private prevCR = false;
  private lineStart = 0;
  private firstLine = false;
  private lines = 0;
  // body
  private remaining = 0;
  private chunkState = C.Start;
  private digits = 0;
  private extLen = 0;
  private keepAlive = true;
  private upgrade = false;
  private interim = false;
  private held = false;
  private readonly methods: string[] = [];
  private readonly reqLine: RequestLine = { method: '', target: '', versionMinor: 1 };
  private readonly statusLine: StatusLine = { status: 0, reason: '', versionMinor: 1 };

  constructor(
    readonly kind: 'request' | 'response',
    private readonly handler: H1Handler,
    limits: Partial<H1Limits> = {},
  ) {
    this.side = kind;
    this.limits = { ...DEFAULT_H1_LIMITS, ...limits };
  }

  /** Response mode: the method of each request sent on this connection, in order (HEAD/CONNECT matter). */
  expectResponse(method: string): void {
    this.methods.push(method);
  }

  /** True after an upgrade head or a final message with keep-alive off. */
  get paused(): boolean {
    return this.held || this.state === S.Paused || this.state === S.Closed;
  }

  /**
   * Backpressure: called from a handler callback (or between execute calls), stops parsing after
   * the current event; execute() returns the bytes consumed so far. Call resume() and feed the rest.
   */
  pause(): void {
    this.held = true;
  }

  /** Undo pause(); after an upgrade the peer refused (no 101/2xx), carry on parsing HTTP. */
  resume(): void {
    this.held = false;
    if (this.state === S.Paused) this.state = S.Head;
  }

  execute(data: Buffer): number {
    if (this.state === S.Failed) throw this.error as H1ParseError;
    try {
      return this.run(data);
    } catch (e) {
      if (e instanceof H1ParseError) {
        this.state = S.Failed;
        this.error = e;
      }
      throw e;
    }
  }

  /** The peer closed its side: ends an until-close body, or throws H1_INCOMPLETE_MESSAGE mid-message. */
  finish(): void {
    if (this.state === S.Failed) throw this.error as H1ParseError;
    if (this.state === S.UntilClose) {
      this.state = S.Closed;
      this.handler.onEnd(null);
    } else if (
      this.state !== S.Paused &&
      this.state !== S.Closed &&
      (this.state !== S.Head || !this.idle())
    ) {
      this.state = S.Failed;
      this.error = new H1ParseError('H1_INCOMPLETE_MESSAGE', this.side, 'connection closed mid-message');
      throw this.error;
    }
  }

  /** Between messages with nothing pending but tolerated empty lines (a connection fit for reuse). */
  atRest(): boolean {
    return this.state === S.Head && (this.pendLen === 0 || this.idle());
  }

  /** Nothing but the empty lines tolerated before a request line is pending. */
  private idle(): boolean {
    for (let i = 0; i < this.pendLen; i++) {
      const c = (this.pend as Buffer)[i];
      if (c !== CR && c !== LF) return false;
    }
    return true;
  }

  private lineTooLong(): never {
    if (this.side === 'request') this.fail('H1_URI_TOO_LONG', 'request line too long');
    this.fail('H1_INVALID_STATUS_LINE', 'status line too long');
  }

  private fail(code: H1ErrorCode, detail: string): never {
    throw new H1ParseError(code, this.side, detail);
  }

  private run(data: Buffer): number {
    const len = data.length;
    let i = 0;
    while (i < len && !this.held) {
      switch (this.state) {
        case S.Head:
        case S.Trailers:
          i = this.scanHead(data, i);
          break;
        case S.BodyLength: {
          const n = Math.min(this.remaining, len - i);
          this.handler.onBody(data.subarray(i, i + n));
          i += n;
          if ((this.remaining -= n) === 0) this.endMessage(null);
          break;
        }
        case S.ChunkSize:
          i = this.chunkSize(data, i);
          break;
        case S.ChunkData: {
          const n = Math.min(this.remaining, len - i);
          this.handler.onBody(data.subarray(i, i + n));
          i += n;
          if ((this.remaining -= n) === 0) this.state = S.ChunkDataCR;
          break;
        }
        case S.ChunkDataCR:
          if (data[i++] !== CR) this.fail('H1_INVALID_CHUNK', 'chunk data not followed by CRLF');
          this.state = S.ChunkDataLF;
          break;
        case S.ChunkDataLF:
          if (data[i++] !== LF) this.fail('H1_INVALID_CHUNK', 'chunk data not followed by CRLF');
          this.state = S.ChunkSize;
          this.chunkState = C.Start;
          break;
        case S.UntilClose:
          this.handler.onBody(i === 0 ? data : data.subarray(i));
          i = len;
          break;
        default:
          return i;
      }
    }
    return i;
  }

  /** Finds the end of a head / trailer section, checking every LF has its CR and enforcing limits. */
  private scanHead(b: Buffer, from: number): number {
    const lim = this.limits;
    const base = this.pendLen - from; // head offset = base + buffer index
    let p = b.indexOf(LF, from);
    while (p !== -1) {
      this.checkSize(base + p + 1);
      if (p > from ? b[p - 1] !== CR : !this.prevCR) this.fail('H1_BARE_LF', 'line ended by LF without CR');
      const lineLen = base + p - this.lineStart; // bytes of the line including its CR
      if (lineLen === 1 && (this.firstLine || this.state === S.Trailers)) {
        this.completeHead(b, from, p + 1);
        return p + 1;
      }
      if (lineLen === 1 && this.side === 'response') this.fail('H1_INVALID_STATUS_LINE', 'empty status line');
      if (lineLen > 1) {
        if (!this.firstLine && this.state === S.Head) this.firstLine = true;
        else if (++this.lines > lim.maxHeaderCount) {
          this.fail('H1_TOO_MANY_HEADERS', `more than ${lim.maxHeaderCount} header fields`);
        }
      }
      this.lineStart = base + p + 1;
      p = b.indexOf(LF, p + 1);
    }
    this.checkSize(base + b.length);
    this.append(b, from, b.length);
    this.prevCR = b[b.length - 1] === CR;
    return b.length;
  }

  /**
   * Size limits given `n` head bytes seen. Each limit is checked at the byte position where it
   * becomes certain, earliest first, so the error is the same however the input is split.
   */
  private checkSize(n: number): void {
    const lim = this.limits;
    const lineCap =
      !this.firstLine && this.state === S.Head ? this.lineStart + lim.maxRequestLineBytes + 3 : Infinity;
    const headCap = lim.maxHeaderBytes + 1;
    if (n >= lineCap && lineCap <= headCap) this.lineTooLong();
    if (n >= headCap) this.fail('H1_HEADERS_TOO_LARGE', 'header section too large');
  }

  private append(b: Buffer, from: number, to: number): void {
    const need = this.pendLen + to - from;
    if (this.pend === null || this.pend.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * (this.pend?.length ?? 512)));
      if (this.pend !== null) this.pend.copy(grown, 0, 0, this.pendLen);
      this.pend = grown;
    }
    b.copy(this.pend, this.pendLen, from, to);
    this.pendLen = need;
  }

  private completeHead(b: Buffer, from: number, end: number): void {
    let buf = b;
    let start = from;
    let stop = end;
    if (this.pendLen > 0) {
      this.append(b, from, end);
      buf = this.pend as Buffer;
      start = 0;
      stop = this.pendLen;
    }
    this.pendLen = 0;
    this.prevCR = false;
    this.lineStart = 0;
    this.firstLine = false;
    this.lines = 0;
    if (this.pend !== null && this.pend.length > 16 * 1024) this.pend = null;
    const str = headString(buf, start, stop);
    if (this.state === S.Trailers) {
      const trailers: string[] = [];
      parseFields(buf, str, start, start, trailers, this.side);
      this.endMessage(trailers.length > 0 ? trailers : null);
      return;
    }
    const headers: string[] = [];
    let head: H1Head;
    if (this.kind === 'request') {
      const i = parseRequestLine(buf, str, start, this.reqLine);
      parseFields(buf, str, start, i, headers, 'request');
      head = buildRequestHead(this.reqLine, headers);
    } else {
      const i = parseStatusLine(buf, str, start, this.statusLine);
      parseFields(buf, str, start, i, headers, 'response');
      const status = this.statusLine.status;
      const final = status >= 200 || status === 101;
      const method = (final ? this.methods.shift() : this.methods[0]) ?? 'GET';
      head = buildResponseHead(this.statusLine, headers, method);
    }
    this.interim = head.kind === 'response' && head.status < 200 && head.status !== 101;
    this.keepAlive = head.keepAlive;
    this.upgrade = head.framing === 'upgrade';
    this.handler.onHead(head);
    switch (head.framing) {
      case 'content-length':
        this.remaining = head.contentLength;
        if (this.remaining === 0) this.endMessage(null);
        else this.state = S.BodyLength;
        break;
      case 'chunked':
        this.state = S.ChunkSize;
        this.chunkState = C.Start;
        break;
      case 'until-close':
        this.state = S.UntilClose;
        break;
      default:
        this.endMessage(null);
    }
  }

  private endMessage(trailers: string[] | null): void {
    this.handler.onEnd(trailers);
    if (this.interim) this.state = S.Head;
    else if (this.upgrade) this.state = S.Paused;
    else this.state = this.keepAlive ? S.Head : S.Closed;
  }

  /** chunk-size [ BWS ";" ext ] CRLF, byte by byte (these lines are short). */
  private chunkSize(b: Buffer, i: number): number {
    const len = b.length;
    const lim = this.limits;
    while (i < len) {
      const c = b[i++] as number;
      switch (this.chunkState) {
        case C.Start:
        case C.Digits: {
          const h = HEX[c] as number;
          if (h !== 0) {
            if (this.chunkState === C.Start) {
              this.chunkState = C.Digits;
              this.remaining = 0;
              this.digits = 0;
              this.extLen = 0;
            }
            if (++this.digits > 16) this.fail('H1_INVALID_CHUNK_SIZE', 'chunk-size has too many digits');
            this.remaining = this.remaining * 16 + h - 1;
            if (this.remaining > lim.maxChunkSize)
              this.fail('H1_CHUNK_TOO_LARGE', 'chunk larger than the limit');
          } else if (this.chunkState === C.Start) {
            this.fail('H1_INVALID_CHUNK_SIZE', 'chunk-size is not hex');
          } else if (c === CR) this.chunkState = C.Lf;
          else if (c === 0x3b) this.chunkState = C.Ext;
          else if (c === SP || c === HTAB) this.chunkState = C.Ws;
          else this.fail('H1_INVALID_CHUNK_SIZE', 'invalid byte after chunk-size');
          break;
        }
        case C.Ws:
          if (c === 0x3b) this.chunkState = C.Ext;
          else if (c !== SP && c !== HTAB) this.fail('H1_INVALID_CHUNK_SIZE', 'whitespace after chunk-size');
          break;
        case C.Ext:
          if (c === CR) this.chunkState = C.Lf;
          else if (!FIELD_VALUE[c]) this.fail('H1_INVALID_CHUNK', 'control byte in chunk extension');
          else if (++this.extLen > lim.maxChunkExtensionBytes) {
            this.fail('H1_CHUNK_EXTENSION_TOO_LONG', 'chunk extensions too long');
          }
          break;
        case C.Lf:
          if (c !== LF) this.fail('H1_BARE_CR', 'chunk-size line: CR not followed by LF');
          this.chunkState = C.Start;
          this.state = this.remaining === 0 ? S.Trailers : S.ChunkData;
          return i;
      }
    }
    return i;
  }
}
