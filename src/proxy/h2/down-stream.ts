// The downstream HTTP/2 stream as H2Exchange, H2Relay and H2ToH1 drive it: a small interface with
// two implementations, so the exchange does not depend on node:http2's stream object. Mesh streams
// (../h2wire/server-stream.ts, WireDownStream) implement it directly on the wire stream, with no
// emitter, no listener and no deferred 'close'; node:http2 streams (h2c, gRPC from the app) through
// NodeDownStream below, which turns the stream's events into the same calls.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * Response headers or trailers: a flat (lower-case name, value) list without pseudo-headers, or a
 * node:http2 headers object (its pseudo-headers are ignored when :status is given separately).
 */
export type H2Fields = readonly string[] | IncomingHttpHeaders | OutgoingHttpHeaders;

/** What the downstream stream calls on its exchange (set once; one object, no closures). */
export interface DownSink {
  /** Request body bytes (only after readBody(), and not while paused). */
  onDownData(chunk: Buffer): void;
  /** The request ended (END_STREAM), after the last onDownData. */
  onDownEnd(): void;
  /** The response can take more after write() returned false. */
  onDownDrain(): void;
  /** The client reset the stream before our response ended. */
  onDownAborted(): void;
  /** The stream is gone (ended both ways, reset, or its connection closed); rstCode is final. */
  onDownClose(): void;
  /** After end() of a response started with waitForTrailers: call sendTrailers now. */
  onWantTrailers(): void;
}

export interface DownStream {
  /** The request's HEADERS carried END_STREAM (no body). */
  readonly endAfterHeaders: boolean;
  /** The stream is gone (closed or reset). */
  readonly destroyed: boolean;
  readonly closed: boolean;
  /** end() was called (or the response was a single HEADERS with END_STREAM). */
  readonly writableEnded: boolean;
  /** The client reset the stream before the response ended. */
  readonly aborted: boolean;
  /** The RST_STREAM code the stream closed with (0 for a clean close). */
  readonly rstCode: number;
  /** The downstream connection's socket (peer identity, addresses). */
  readonly socket: Socket | undefined;
  /** Sets who gets the stream's events (once, before anything happens on it). */
  bind(sink: DownSink): void;
  /** Starts delivering request body to onDownData (held under flow control until then). */
  readBody(): void;
  pause(): void;
  resume(): void;
  isPaused(): boolean;
  /** Sends the response head; with `waitForTrailers`, onWantTrailers follows end(). */
  respond(status: number, fields: H2Fields, endStream: boolean, waitForTrailers: boolean): void;
  write(chunk: Buffer): boolean;
  /** Ends the response (a string is sent as UTF-8). */
  end(chunk?: Buffer | string): void;
  sendTrailers(fields: H2Fields | null): void;
  /** RST_STREAM(code); onDownClose follows. */
  close(code: number): void;
}

/** A flat field list as a node:http2 headers object (repeated names as arrays). */
export function toHeaderObject(status: number, fields: H2Fields): OutgoingHttpHeaders {
  if (!Array.isArray(fields)) {
    if (status === 0) return fields as OutgoingHttpHeaders;
    return { ...(fields as OutgoingHttpHeaders), ':status': status };
  }
  const flat = fields as readonly string[];
  const out: OutgoingHttpHeaders = {};
  if (status !== 0) out[':status'] = status;
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i] as string;
    const v = flat[i + 1] as string;
    const prev = out[n];
    if (prev === undefined) out[n] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[n] = [String(prev), v];
  }
  return out;
}

/** A node:http2 server stream as a DownStream: its events become the sink's calls. */
export class NodeDownStream implements DownStream {
  private sink: DownSink | null = null;
  private reading = false;

  constructor(private readonly s: ServerHttp2Stream) {}

  get endAfterHeaders(): boolean {
    return this.s.endAfterHeaders;
  }
  get destroyed(): boolean {
    return this.s.destroyed;
  }
  get closed(): boolean {
    return this.s.closed;
  }
  get writableEnded(): boolean {
    return this.s.writableEnded;
  }
  get aborted(): boolean {
    return this.s.aborted;
  }
  get rstCode(): number {
    return this.s.rstCode ?? 0;
  }
  get socket(): Socket | undefined {
    return this.s.session?.socket as Socket | undefined;
  }

  bind(sink: DownSink): void {
    this.sink = sink;
    const s = this.s;
    s.on('error', noop);
    s.on('aborted', this.onAborted);
    s.on('close', this.onClose);
    s.on('drain', this.onDrain);
  }

  readBody(): void {
    if (this.reading) return;
    this.reading = true;
    this.s.on('data', this.onData);
    this.s.on('end', this.onEnd);
  }

  pause(): void {
    this.s.pause();
  }
  resume(): void {
    this.s.resume();
  }
  isPaused(): boolean {
    return this.s.isPaused();
  }

  respond(status: number, fields: H2Fields, endStream: boolean, waitForTrailers: boolean): void {
    const s = this.s;
    if (waitForTrailers && !endStream) {
      s.respond(toHeaderObject(status, fields), { waitForTrailers: true });
      s.on('wantTrailers', this.onWantTrailers);
    } else s.respond(toHeaderObject(status, fields), { endStream });
  }

  write(chunk: Buffer): boolean {
    return this.s.write(chunk);
  }

  end(chunk?: Buffer | string): void {
    if (chunk === undefined) this.s.end();
    else this.s.end(chunk);
  }

  sendTrailers(fields: H2Fields | null): void {
    this.s.sendTrailers(fields === null ? {} : toHeaderObject(0, fields));
  }

  close(code: number): void {
    this.s.close(code);
  }

  private readonly onData = (chunk: Buffer): void => this.sink?.onDownData(chunk);
  private readonly onEnd = (): void => this.sink?.onDownEnd();
  private readonly onDrain = (): void => this.sink?.onDownDrain();
  private readonly onAborted = (): void => this.sink?.onDownAborted();
  private readonly onClose = (): void => this.sink?.onDownClose();
  private readonly onWantTrailers = (): void => this.sink?.onWantTrailers();
}

function noop(): void {}
