// A wire stream shaped like the node:http2 ServerHttp2Stream that H2Exchange, H2Relay and H2ToH1
// drive (../h2/): the members they use and nothing else — respond / write / end / sendTrailers /
// close, pause / resume, and the events 'data', 'end', 'drain', 'wantTrailers', 'aborted',
// 'close'. Request data is held (under flow control) until a 'data' listener is attached, as a
// paused node stream would hold it.
import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { ErrorCode } from './frames.js';
import type { StreamHandler, WireStream } from './stream.js';

/** Fields node refuses on HTTP/2 responses (H2ToH1 drops them already): dropped, never sent. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export function toFlat(h: OutgoingHttpHeaders, status: boolean): string[] {
  const out: string[] = [];
  const st = h[':status'];
  if (status && st !== undefined) out.push(':status', String(st));
  for (const k of Object.keys(h)) {
    if (k.charCodeAt(0) === 58 /* : */) continue;
    const n = k.toLowerCase();
    if (HOP.has(n)) continue;
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(n, String(x));
    else out.push(n, String(v));
  }
  return out;
}

export class ServerStreamShim extends EventEmitter implements StreamHandler {
  readonly session: { readonly socket: Socket };
  endAfterHeaders: boolean;
  destroyed = false;
  closed = false;
  aborted = false;
  rstCode = 0;
  writableEnded = false;
  private userPaused = false;
  private flowing = false;
  private waitTrailers = false;

  constructor(
    readonly ws: WireStream,
    socket: Socket,
    endStream: boolean,
  ) {
    super();
    this.session = { socket };
    this.endAfterHeaders = endStream;
    ws.handler = this;
    if (!endStream) ws.pause(); // until someone reads
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    super.on(event, fn);
    if (event === 'data' && !this.flowing) {
      this.flowing = true;
      if (!this.userPaused) this.ws.resume();
    }
    return this;
  }

  pause(): this {
    this.userPaused = true;
    this.ws.pause();
    return this;
  }

  resume(): this {
    this.userPaused = false;
    if (this.flowing) this.ws.resume();
    return this;
  }

  isPaused(): boolean {
    return this.userPaused;
  }

  respond(h: OutgoingHttpHeaders, opts?: { endStream?: boolean; waitForTrailers?: boolean }): void {
    const end = opts?.endStream === true;
    this.waitTrailers = opts?.waitForTrailers === true;
    if (end) this.localEnd();
    this.ws.sendHeaders(toFlat(h, true), end);
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.closed) return true;
    return this.ws.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded || this.closed) return this;
    if (chunk !== undefined) this.write(chunk);
    this.localEnd();
    if (this.waitTrailers && this.listenerCount('wantTrailers') > 0) this.emit('wantTrailers');
    else this.ws.end(null);
    return this;
  }

  sendTrailers(h: OutgoingHttpHeaders): void {
    const t = toFlat(h, false);
    this.ws.end(t.length > 0 ? t : null);
  }

  /** RST_STREAM(code); 'close' follows. */
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

  // ---- wire events ----

  onHeaders(): void {}
  onTrailers(): void {} // request trailers are not forwarded (as on the node:http2 path)

  onData(_s: WireStream, chunk: Buffer): void {
    this.emit('data', chunk);
  }

  onEnd(): void {
    this.emit('end');
  }

  onDrain(): void {
    this.emit('drain');
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
      this.emit('aborted');
    }
    this.gone(rst);
  }

  private gone(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.destroyed = true;
    if (this.rstCode === 0) this.rstCode = code;
    process.nextTick(emitClose, this);
  }
}

function emitClose(s: ServerStreamShim): void {
  s.emit('close');
}
