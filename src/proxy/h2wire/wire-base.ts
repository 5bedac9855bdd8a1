// The sending half of a wire connection (./connection.ts adds the reading half): the send queue
// (one socket write per event-loop turn), HEADERS, DATA under the connection and stream windows, receive
// window credit, stream closing, GOAWAY and the end of the connection.
import type { Socket } from 'node:net';
import {
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  frameHeaderAt,
  FrameType,
  goawayFrame,
  H2ConnectionError,
  headersFrameInPlace,
  MAX_WINDOW,
  MIN_FRAME_SIZE,
  rstFrame,
  windowUpdateFrame,
} from './frames.js';
import { HpackEncoder } from './hpack.js';
import { STREAM_HWM, WireStream } from './stream.js';

const EMPTY: Buffer = Buffer.alloc(0);

/** Size of a stage (the buffer frames are written into; a new one when it is full). */
const STAGE_SIZE = 16 * 1024;
/** Frames and DATA payloads up to this size are copied into the stage; larger ones go as they are. */
const COPY_MAX = 4 * 1024;
/** Header blocks up to this bound are encoded straight into the stage. */
const STAGE_HEADERS_MAX = 8 * 1024;

export interface WireLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise and enforce (REFUSED_STREAM past it). */
  readonly maxConcurrentStreams: number;
  readonly maxHeaderListSize: number;
  readonly maxHeaderListPairs: number;
  /** Frames on closed streams, malformed requests, empty DATA frames... before GOAWAY. */
  readonly maxSessionInvalidFrames: number;
  /** Streams refused over the concurrency limit before GOAWAY(ENHANCE_YOUR_CALM). */
  readonly maxSessionRejectedStreams: number;
  /** SETTINGS entries per frame. */
  readonly maxSettings: number;
  readonly connectionWindowSize: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise (≥ 65535). */
  readonly streamWindowSize: number;
  /** CONTINUATION frames per header block (nghttp2 allows 8 since CVE-2024-27983). */
  readonly maxContinuations: number;
  /** PING + SETTINGS frames from the peer per controlWindowMs (ping/settings floods). */
  readonly maxControlFrames: number;
  readonly controlWindowMs: number;
}

export const DEFAULT_WIRE_LIMITS: WireLimits = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderListSize: 64 * 1024,
  maxHeaderListPairs: 128,
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
  maxSettings: 32,
  connectionWindowSize: 1024 * 1024,
  streamWindowSize: DEFAULT_WINDOW,
  maxContinuations: 8,
  maxControlFrames: 1000,
  controlWindowMs: 10_000,
});

export abstract class WireBase {
  readonly streams = new Map<number, WireStream>();
  peerMaxConcurrent = 100;
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrame = MIN_FRAME_SIZE;
  /** Connection send window (what we may still send). */
  sendWindow = DEFAULT_WINDOW;
  readonly streamWindowSize: number;
  gotSettings = false;
  goawaySent = false;
  goawayReceived = false;
  closed = false;
  socketBlocked = false;
  /** Highest stream id the peer opened (GOAWAY's last stream id). */
  lastPeerStream = 0;
  /** Next stream id we open (client: odd). */
  nextId = 1;
  /**
   * Output of this loop turn: frames are written into the stage (HEADERS encoded in place, DATA
   * headers, small payloads and control frames copied), which is handed to the socket as a view
   * (`out`, with any large payloads between) and never written over: the next frames go after it,
   * and a full stage is replaced by a fresh one. No buffer per frame, no concatenation.
   */
  private stage: Buffer | null = null;
  /** Next free octet of the stage. */
  private pos = 0;
  /** Start of the stage's octets not yet in `out`. */
  private segStart = 0;
  private out: Buffer[] = [];
  /** Octets queued since the last flush (a mark: any frame queued changes it). */
  private outBytes = 0;
  private flushing = false;
  private readonly encoder = new HpackEncoder();
  /**
   * The last DATA frame queued and still unsent, when nothing was queued after it: END_STREAM can
   * go on it (its flags octet, lastDataBuf[lastDataFlags], set in place) instead of in an empty
   * DATA frame of its own. Nothing was queued after it while outBytes is still lastDataMark.
   */
  private lastDataBuf: Buffer | null = null;
  private lastDataFlags = 0;
  private lastDataStream: WireStream | null = null;
  private lastDataMark = -1;
  private readonly blocked = new Set<WireStream>();

  constructor(
    readonly socket: Socket,
    readonly isServer: boolean,
    readonly limits: WireLimits,
  ) {
    this.streamWindowSize = Math.max(DEFAULT_WINDOW, Math.min(limits.streamWindowSize, MAX_WINDOW));
  }

  /** A stream left the connection (closed or reset). */
  protected streamGone(_s: WireStream): void {}
  protected connectionClosed(): void {}
  /** The reading half drops what it holds (the connection is closed). */
  protected dropInput(): void {}

  protected openStream(id: number): WireStream {
    const s = new WireStream(id, this, this.peerInitialWindow, this.streamWindowSize);
    this.streams.set(id, s);
    return s;
  }

  // ---- sending ----

  /**
   * Frames go out once per event-loop turn (setImmediate, not a microtask): what every read of
   * that turn produced — the responses of several app connections read in one poll, HEADERS and
   * DATA of each — leaves in one TLS record and one write (bench/README.md, 2026-11-29: −25 %
   * CPU per request on the mTLS pair against a flush per microtask).
   */
  queue(b: Buffer): void {
    const n = b.length;
    if (n <= COPY_MAX) {
      const st = this.stageRoom(n);
      st.set(b, this.pos);
      this.pos += n;
    } else {
      this.closeSegment();
      this.out.push(b);
    }
    this.queued(n);
  }

  private queued(n: number): void {
    this.outBytes += n;
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(this.flush);
    }
  }

  /** The stage, with `n` free octets at `pos` (a fresh stage when this one is short). */
  private stageRoom(n: number): Buffer {
    const st = this.stage;
    if (st !== null && this.pos + n <= st.length) return st;
    this.closeSegment();
    const fresh = Buffer.allocUnsafeSlow(n > STAGE_SIZE ? n : STAGE_SIZE);
    this.stage = fresh;
    this.pos = 0;
    this.segStart = 0;
    return fresh;
  }

  /** What the stage holds since the last segment goes to `out` (before a large buffer, a flush). */
  private closeSegment(): void {
    if (this.pos > this.segStart) {
      this.out.push((this.stage as Buffer).subarray(this.segStart, this.pos));
      this.segStart = this.pos;
    }
  }

  readonly flush = (): void => {
    this.flushing = false;
    this.closeSegment();
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    this.lastDataBuf = null;
    this.lastDataStream = null;
    const bytes = this.outBytes;
    this.outBytes = 0;
    const s = this.socket;
    if (s.destroyed) return;
    let ok: boolean;
    if (out.length === 1) ok = s.write(out[0] as Buffer);
    else if (bytes <= 16 * 1024) ok = s.write(Buffer.concat(out, bytes));
    else {
      s.cork();
      for (const b of out) s.write(b);
      s.uncork();
      ok = !s.writableNeedDrain;
    }
    if (!ok) this.socketBlocked = true;
  };

  sendHeaders(s: WireStream, fields: string[], endStream: boolean): void {
    const bound = HpackEncoder.bound(fields);
    if (bound > STAGE_HEADERS_MAX || bound > this.peerMaxFrame) {
      this.queue(headersFrameInPlace(s.id, this.encoder.encodeAt(fields, 9), endStream, this.peerMaxFrame));
      return;
    }
    const st = this.stageRoom(9 + bound);
    const at = this.pos;
    const end = this.encoder.encodeInto(fields, st, at + 9);
    const flags = Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0);
    frameHeaderAt(st, at, end - at - 9, FrameType.HEADERS, flags, s.id);
    this.pos = end;
    this.queued(end - at);
  }

  /** A DATA frame header (and the payload: copied when small) into the stage. */
  private dataFrame(s: WireStream, part: Buffer, last: boolean): void {
    const n = part.length;
    const copy = n <= COPY_MAX;
    const st = this.stageRoom(copy ? 9 + n : 9);
    const at = this.pos;
    frameHeaderAt(st, at, n, FrameType.DATA, last ? Flag.END_STREAM : 0, s.id);
    this.pos = at + 9;
    if (copy) {
      if (n > 0) st.set(part, at + 9);
      this.pos += n;
    } else {
      this.closeSegment();
      this.out.push(part);
    }
    this.queued(9 + n);
    if (!last) {
      this.lastDataBuf = st;
      this.lastDataFlags = at + 4;
      this.lastDataStream = s;
      this.lastDataMark = this.outBytes;
    }
  }

  /** Sends what the windows allow of `s`'s queue; END_STREAM / trailers once it is empty. */
  pump(s: WireStream): void {
    if (s.closed) return;
    while (s.queued > 0) {
      if (s.sendWindow <= 0) return; // a stream WINDOW_UPDATE pumps it again
      if (this.sendWindow <= 0 || this.socketBlocked) {
        this.blocked.add(s);
        return;
      }
      const chunk = s.queue[0] as Buffer;
      const n = Math.min(chunk.length, this.sendWindow, s.sendWindow, this.peerMaxFrame);
      let part = chunk;
      if (n === chunk.length) s.queue.shift();
      else {
        part = chunk.subarray(0, n);
        s.queue[0] = chunk.subarray(n);
      }
      s.queued -= n;
      this.sendWindow -= n;
      s.sendWindow -= n;
      const last = s.queued === 0 && s.endQueued && s.trailers === null;
      this.dataFrame(s, part, last);
      if (last) s.localEnded = true;
    }
    if (s.endQueued && !s.localEnded) {
      s.localEnded = true;
      if (s.trailers !== null) this.sendHeaders(s, s.trailers, true);
      else if (this.lastDataStream === s && this.lastDataMark === this.outBytes) {
        // The body's last DATA frame is still unsent and last in the queue: it ends the stream.
        const h = this.lastDataBuf as Buffer;
        h[this.lastDataFlags] = (h[this.lastDataFlags] as number) | Flag.END_STREAM;
        this.lastDataStream = null;
      } else this.dataFrame(s, EMPTY, true);
    }
    if (s.needDrain && s.queued < STREAM_HWM && !this.socketBlocked) {
      s.needDrain = false;
      s.handler?.onDrain(s);
    }
    if (s.localEnded) {
      if (!s.remoteEnded && s.resetWhenSent) this.resetStream(s, ErrorCode.NO_ERROR, true);
      else this.maybeClose(s);
    }
  }

  protected pumpBlocked(): void {
    if (this.blocked.size === 0) return;
    const list = [...this.blocked];
    this.blocked.clear();
    for (const s of list) this.pump(s);
  }

  protected readonly onDrain = (): void => {
    this.socketBlocked = false;
    this.pumpBlocked();
    for (const s of this.streams.values()) if (s.needDrain && !this.socketBlocked) this.pump(s);
  };

  /** WINDOW_UPDATE for what the consumer of `s` took. */
  creditStream(s: WireStream): void {
    if (s.unacked === 0 || s.remoteEnded || s.closed) return;
    this.queue(windowUpdateFrame(s.id, s.unacked));
    s.recvWindow += s.unacked;
    s.unacked = 0;
  }

  /** Both sides ended and everything was handed over: the stream leaves the connection. */
  maybeClose(s: WireStream): void {
    if (s.closed || !s.localEnded || !s.remoteEnded || !s.drained) return;
    this.closeStream(s);
    s.handler?.onClose?.(s);
  }

  resetStream(s: WireStream, code: number, local: boolean): void {
    if (s.closed) return;
    if (local) this.queue(rstFrame(s.id, code));
    s.rstCode = code;
    this.closeStream(s);
    s.handler?.onReset(s, code, !local);
  }

  private closeStream(s: WireStream): void {
    s.closed = true;
    if (s.queue.length > 0) s.queue = [];
    s.queued = 0;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.streamGone(s);
    if ((this.goawaySent || this.goawayReceived) && this.streams.size === 0) this.finish();
  }

  // ---- ending ----

  /** GOAWAY(NO_ERROR): no new streams; the connection closes once the open ones are done. */
  drain(): void {
    if (this.closed) return;
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.queue(goawayFrame(this.lastPeerStream, ErrorCode.NO_ERROR, ''));
    }
    if (this.streams.size === 0) this.finish();
  }

  /** Flush and close the socket (after GOAWAY both ways, or nothing left to do). */
  protected finish(): void {
    if (this.closed) return;
    this.flush();
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), 2000);
    t.unref();
  }

  /** A connection error: GOAWAY(code) with what went wrong, then close. */
  fatal(e: unknown): void {
    if (this.closed) return;
    const code = e instanceof H2ConnectionError ? e.code : ErrorCode.INTERNAL_ERROR;
    const msg = e instanceof Error ? e.message : String(e);
    this.goawaySent = true;
    this.queue(goawayFrame(this.lastPeerStream, code, msg));
    this.flush();
    this.closeAll();
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), 1000);
    t.unref();
  }

  destroy(): void {
    this.closeAll();
    this.socket.destroy();
  }

  private closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropInput();
    for (const s of [...this.streams.values()]) {
      s.rstCode = -1;
      this.closeStream(s);
      s.handler?.onReset(s, -1, false);
    }
    this.connectionClosed();
  }

  protected readonly onSocketError = (): void => {
    this.closeAll();
  };

  protected readonly onSocketEnd = (): void => {
    if (!this.closed) this.socket.end();
  };

  protected readonly onSocketClose = (): void => {
    this.closeAll();
  };
}
