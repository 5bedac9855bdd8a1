// One HTTP/2 stream of a wire connection: its send queue under flow control (the peer's stream
// window and the connection's), its receive window (credited back as the consumer takes data, so
// a paused consumer holds the peer to one window), and the events its consumer gets.
import type { WireBase } from './wire-base.js';

/** What the owner of a stream implements (one object per stream: no emitter, no closures). */
export interface StreamHandler {
  /** The peer's head: response headers (client; 1xx included) — requests arrive via onStream. */
  onHeaders(s: WireStream, fields: string[], endStream: boolean): void;
  onTrailers(s: WireStream, fields: string[]): void;
  onData(s: WireStream, chunk: Buffer): void;
  /** END_STREAM from the peer (after the last onData / onTrailers). */
  onEnd(s: WireStream): void;
  /**
   * The stream is gone before both sides ended cleanly: RST_STREAM from the peer (`byPeer`), our
   * own reset, a GOAWAY that did not cover it (REFUSED_STREAM: never processed), or the connection
   * closing (`code` -1).
   */
  onReset(s: WireStream, code: number, byPeer: boolean): void;
  /** The send queue drained below the high-water mark after write() returned false. */
  onDrain(s: WireStream): void;
  /** Both sides ended cleanly; the stream left the connection. */
  onClose?(s: WireStream): void;
}

/** Bytes queued (unsent) per stream before write() says "wait for onDrain". */
export const STREAM_HWM = 64 * 1024;

export class WireStream {
  handler: StreamHandler | null = null;
  sendWindow: number;
  recvWindow: number;
  /** Received bytes consumed but not yet credited back with WINDOW_UPDATE. */
  unacked = 0;
  paused = false;
  /** Data received while paused (bounded by the receive window: no credit is given meanwhile). */
  private held: Buffer[] | null = null;
  private heldEnd = false;
  /** Data waiting for window (or for the socket). */
  queue: Buffer[] = [];
  queued = 0;
  /** end() was called: END_STREAM goes with the last queued byte. */
  endQueued = false;
  /** Trailers to send once the queue is empty (HEADERS with END_STREAM). */
  trailers: string[] | null = null;
  localEnded = false;
  remoteEnded = false;
  /** Headers received from the peer (the request on a server, the final response on a client). */
  gotHeaders = false;
  /** The head we sent (server: response started). */
  sentHeaders = false;
  closed = false;
  rstCode = -1;
  needDrain = false;
  /** Once our side ended with the peer still sending: RST_STREAM(NO_ERROR) (RFC 9113 §8.1). */
  resetWhenSent = false;
  /** When the peer opened it (server side, ms: rapid-reset accounting). */
  openedAt = 0;
  /** Request content-length still expected (server side; -1: none declared). */
  expectLength = -1;
  /** The user's own data (the consumer's object). */
  user: unknown = null;

  constructor(
    readonly id: number,
    readonly conn: WireBase,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** Sends the head (request headers on a client, response headers on a server). */
  sendHeaders(fields: string[], endStream: boolean): void {
    if (this.closed || this.localEnded) return;
    this.sentHeaders = true;
    if (endStream) this.localEnded = true;
    this.conn.sendHeaders(this, fields, endStream);
    if (endStream) this.conn.maybeClose(this);
  }

  /** Queues body bytes; false once STREAM_HWM bytes wait (onDrain follows). */
  write(chunk: Buffer): boolean {
    if (this.closed || this.localEnded || this.endQueued) return true;
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.conn.pump(this);
    }
    if (this.queued >= STREAM_HWM || this.conn.socketBlocked) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  /** Ends the body (optionally with trailers: a final HEADERS frame with END_STREAM). */
  end(trailers: string[] | null = null): void {
    if (this.closed || this.localEnded || this.endQueued) return;
    this.endQueued = true;
    this.trailers = trailers !== null && trailers.length > 0 ? trailers : null;
    this.conn.pump(this);
  }

  /** RST_STREAM(code) (CANCEL for an abandoned request, ...); the handler gets onReset. */
  reset(code: number): void {
    if (this.closed) return;
    this.conn.resetStream(this, code, true);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    if (held !== null) {
      this.held = null;
      for (let i = 0; i < held.length; i++) {
        if (this.closed) return;
        this.deliver(held[i] as Buffer);
        if (this.paused) {
          // Paused again from inside onData: keep the rest.
          this.held = held.slice(i + 1);
          return;
        }
      }
    }
    if (this.heldEnd && !this.closed) {
      this.heldEnd = false;
      this.handler?.onEnd(this);
      this.conn.maybeClose(this);
    }
    if (this.unacked > 0) this.conn.creditStream(this);
  }

  /** Body bytes from the peer (the connection already checked the windows). */
  received(chunk: Buffer): void {
    if (this.paused || this.held !== null) {
      (this.held ??= []).push(chunk);
      return;
    }
    this.deliver(chunk);
  }

  private deliver(chunk: Buffer): void {
    this.unacked += chunk.length;
    this.handler?.onData(this, chunk);
    if (!this.paused && this.unacked >= this.conn.streamWindowSize >>> 1) this.conn.creditStream(this);
  }

  /** END_STREAM from the peer: delivered after the held data, if any. */
  receivedEnd(): boolean {
    if (this.paused || this.held !== null) {
      this.heldEnd = true;
      return false;
    }
    this.handler?.onEnd(this);
    return true;
  }

  /** Nothing left to hand the consumer (no held data, no held end). */
  get drained(): boolean {
    return this.held === null && !this.heldEnd;
  }

  get heldBytes(): number {
    let n = 0;
    if (this.held !== null) for (const c of this.held) n += c.length;
    return n;
  }
}
