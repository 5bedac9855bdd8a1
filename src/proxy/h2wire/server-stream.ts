// A wire stream as the exchange's downstream (../h2/down-stream.ts): one object per request
// stream that is both the wire stream's handler and the DownStream H2Exchange, H2Relay and H2ToH1
// drive. Wire events are calls on the exchange (its DownSink), made at once: no emitter, no
// listener registrations, no deferred 'close'. Request data is held (under flow control) until
// the exchange asks for the body (readBody), as a paused node stream would hold it.
import type { Socket } from 'node:net';
import type { DownSink, DownStream, H2Fields } from '../h2/down-stream.js';
import { ErrorCode } from './frames.js';
import type { StreamHandler, WireStream } from './stream.js';

/** Fields node refuses on HTTP/2 responses (H2ToH1 drops them already): dropped, never sent. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Response fields as the flat list the HPACK encoder takes: `:status` first (when `status` is not
 * 0), pseudo-headers of a headers object dropped, names lower-cased, hop-by-hop fields dropped.
 */
export function toFlat(status: number, h: H2Fields): string[] {
  const out: string[] = [];
  if (status !== 0) out.push(':status', String(status));
  if (Array.isArray(h)) {
    const f = h as readonly string[];
    for (let i = 0; i < f.length; i += 2) {
      const n = f[i] as string;
      if (!HOP.has(n)) out.push(n, f[i + 1] as string);
    }
    return out;
  }
  const o = h as Record<string, string | number | readonly string[] | undefined>;
  for (const k of Object.keys(o)) {
    if (k.charCodeAt(0) === 58 /* : */) continue;
    const n = k.toLowerCase();
    if (HOP.has(n)) continue;
    const v = o[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(n, String(x));
    else out.push(n, String(v));
  }
  return out;
}

export class WireDownStream implements StreamHandler, DownStream {
  readonly endAfterHeaders: boolean;
  destroyed = false;
  closed = false;
  aborted = false;
  rstCode = 0;
  writableEnded = false;
  /** The exchange (set once by bind). */
  sink: DownSink | null = null;
  private userPaused = false;
  /** The wire stream is resumed (readBody, or a local answer draining the body away). */
  private flowing = false;
  /** readBody was called: body bytes go to the sink (else they are dropped). */
  private reading = false;
  private waitTrailers = false;

  constructor(
    readonly ws: WireStream,
    readonly socket: Socket,
    endStream: boolean,
  ) {
    this.endAfterHeaders = endStream;
    ws.handler = this;
    if (!endStream) ws.pause(); // until the exchange reads the body
  }

  bind(sink: DownSink): void {
    this.sink = sink;
  }

  readBody(): void {
    this.reading = true;
    if (this.flowing) return;
    this.flowing = true;
    if (!this.userPaused) this.ws.resume();
  }

  pause(): void {
    this.userPaused = true;
    this.ws.pause();
  }

  resume(): void {
    this.userPaused = false;
    if (this.flowing) this.ws.resume();
  }

  isPaused(): boolean {
    return this.userPaused;
  }

  respond(status: number, fields: H2Fields, endStream: boolean, waitForTrailers: boolean): void {
    this.waitTrailers = waitForTrailers && !endStream;
    if (endStream) this.localEnd();
    // A node:http2 headers object (an HTTP/2 upstream's response) carries its own :status.
    const st =
      status !== 0 || Array.isArray(fields) ? status : Number((fields as { ':status'?: unknown })[':status']);
    this.ws.sendHeaders(toFlat(st, fields), endStream);
  }

  write(chunk: Buffer): boolean {
    if (this.writableEnded || this.closed) return true;
    return this.ws.write(chunk);
  }

  end(chunk?: Buffer | string): void {
    if (this.writableEnded || this.closed) return;
    if (chunk !== undefined) this.ws.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    this.localEnd();
    if (this.waitTrailers && this.sink !== null) this.sink.onWantTrailers();
    else this.ws.end(null);
  }

  sendTrailers(fields: H2Fields | null): void {
    const t = fields === null ? null : toFlat(0, fields);
    this.ws.end(t !== null && t.length > 0 ? t : null);
  }

  /** RST_STREAM(code); onDownClose follows (at once). */
  close(code: number = ErrorCode.NO_ERROR): void {
    if (this.closed) return;
    this.ws.reset(code);
  }

  private localEnd(): void {
    this.writableEnded = true;
    this.ws.resetWhenSent = true;
    if (!this.flowing) {
      // Nobody will read the request body (a local reply): let it drain away.
      this.flowing = true;
      this.userPaused = false;
      this.ws.resume();
    }
  }

  // ---- wire events (StreamHandler) ----

  onHeaders(): void {}
  onTrailers(): void {} // request trailers are not forwarded (as on the node:http2 path)

  onData(_s: WireStream, chunk: Buffer): void {
    if (this.reading) this.sink?.onDownData(chunk);
  }

  onEnd(): void {
    this.sink?.onDownEnd();
  }

  onDrain(): void {
    this.sink?.onDownDrain();
  }

  onClose(): void {
    this.gone(0);
  }

  onReset(_s: WireStream, code: number, byPeer: boolean): void {
    // Our own RST_STREAM(NO_ERROR) after a complete response is a clean close.
    const rst = code < 0 ? ErrorCode.CANCEL : code;
    if ((byPeer || code < 0) && !this.writableEnded) {
      this.aborted = true;
      this.rstCode = rst;
      this.sink?.onDownAborted();
    }
    this.gone(rst);
  }

  private gone(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.destroyed = true;
    if (this.rstCode === 0) this.rstCode = code;
    this.sink?.onDownClose();
  }
}
