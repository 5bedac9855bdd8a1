// The client side of a wire connection: opens streams (odd ids) for requests; the server may not
// open any (push is disabled). The pool (../upstream/mesh-h2.ts) watches capacity and lifecycle.
import type { Socket } from 'node:net';
import { ErrorCode, H2ConnectionError } from './frames.js';
import { WireConnection, type WireLimits } from './connection.js';
import type { StreamHandler, WireStream } from './stream.js';

export interface WireClientEvents {
  /** The server's first SETTINGS arrived (its MAX_CONCURRENT_STREAMS is known). */
  onReady(c: WireClient): void;
  /** GOAWAY received: no new streams here. */
  onGoaway(c: WireClient): void;
  /** A stream ended or was reset (capacity freed). */
  onStreamGone(c: WireClient): void;
  onClosed(c: WireClient): void;
}

/** A stream consumer with output to write once per socket read (see WireClient.later). */
export interface ReadFlush {
  flushRead(): void;
}

export class WireClient extends WireConnection {
  /** Streams opened so far (a stream on a used connection counts as reused). */
  opened = 0;
  /**
   * Consumers to flush after this read: `nDirty` slots in use (the slots are kept between reads,
   * `length = 0` would drop the array's storage and the next push allocate it again).
   */
  private readonly dirty: (ReadFlush | null)[] = [];
  private nDirty = 0;

  /** Calls `f.flushRead()` once the current socket read has been handled. */
  later(f: ReadFlush): void {
    this.dirty[this.nDirty++] = f;
  }

  protected override readDone(): void {
    const d = this.dirty;
    // A flushRead that queues another consumer (later()) gets it flushed in this same pass.
    for (let i = 0; i < this.nDirty; i++) {
      const f = d[i] as ReadFlush | null; // null: already flushed by a pass a throw cut short
      d[i] = null;
      if (f !== null) f.flushRead();
    }
    this.nDirty = 0;
  }

  constructor(
    socket: Socket,
    limits: WireLimits,
    private readonly events: WireClientEvents,
  ) {
    super(socket, false, limits);
  }

  /** No new streams: GOAWAY either way, or closed. */
  get gone(): boolean {
    return this.closed || this.goawayReceived || this.goawaySent || this.socket.destroyed;
  }

  /** Streams it may still open, under the server's SETTINGS_MAX_CONCURRENT_STREAMS and `cap`. */
  room(cap: number): number {
    return Math.min(this.peerMaxConcurrent, cap) - this.streams.size;
  }

  /** Opens a stream with its request head. Throws when the connection takes no new streams. */
  request(fields: string[], endStream: boolean, handler: StreamHandler): WireStream {
    if (this.gone) throw new Error('the HTTP/2 connection is closing');
    const id = this.nextId;
    if (id > 0x7fffffff) throw new Error('stream ids exhausted');
    this.nextId += 2;
    this.opened++;
    const s = this.openStream(id);
    s.handler = handler;
    s.sendHeaders(fields, endStream);
    if (this.nextId > 0x7ffffff0) this.drain(); // the next connection takes over
    return s;
  }

  protected onStream(): void {
    throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a server opened a stream');
  }

  protected override peerSettings(): void {
    this.events.onReady(this);
  }

  protected override goaway(): void {
    this.events.onGoaway(this);
  }

  protected override streamGone(_s: WireStream): void {
    this.events.onStreamGone(this);
  }

  protected override connectionClosed(): void {
    this.events.onClosed(this);
  }
}
