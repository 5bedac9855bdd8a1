// One HTTP/2 connection (RFC 9113) over a socket, either side: preface, SETTINGS, frame parsing
// and checks, HPACK, flow control both ways (connection and stream windows), PING, GOAWAY,
// RST_STREAM, and the flood limits of ../h2/h2-limits.ts. Frames go out in one write per loop turn.
// Hostile input never throws out of here: a connection error is GOAWAY(code) and close, a stream
// error RST_STREAM(code). client.ts and server.ts add who opens streams.
import type { Socket } from 'node:net';
import { nextReadBuffer } from '../io/read-buffer.js';
import {
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameType,
  H2ConnectionError,
  MAX_WINDOW,
  MIN_FRAME_SIZE,
  pingFrame,
  PREFACE,
  rstFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  windowUpdateFrame,
} from './frames.js';
import { HpackDecoder, HpackError } from './hpack.js';
import type { WireStream } from './stream.js';
import { applySettings } from './settings.js';
import { WireBase, type WireLimits } from './wire-base.js';

export { DEFAULT_WIRE_LIMITS, type WireLimits } from './wire-base.js';
import { checkRequest, checkResponse, checkTrailers } from './validate.js';

/** Bytes of queued outbound data in the socket past which PING/SETTINGS ACKs count as a flood. */
const ACK_FLOOD_BYTES = 4 * 1024 * 1024;

const WIRE = Symbol('trellis.wireConnection');
type Tagged = Socket & { [WIRE]?: WireConnection };

/** The `onread` callback of wire connections' sockets (`this` is the socket; see onRead). */
export function onWireRead(this: Socket, n: number, buf: Buffer): boolean {
  const c = (this as Tagged)[WIRE];
  if (c === undefined) {
    this.destroy();
    return false;
  }
  c.onRead(n, buf);
  return true;
}

/** `onread` for sockets dialled for a wire connection (tls.connect / net.connect). */
export const WIRE_ONREAD = { buffer: nextReadBuffer, callback: onWireRead };

interface Continuing {
  readonly id: number;
  readonly endStream: boolean;
  readonly chunks: Buffer[];
  bytes: number;
  count: number;
}
export abstract class WireConnection extends WireBase {
  /** Connection receive window (what the peer may still send). */
  private recvWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  private inbuf: Buffer | null = null;
  private needPreface: boolean;
  private cont: Continuing | null = null;
  private readonly decoder = new HpackDecoder();
  /** The frame being parsed lies in the shared read buffer: what outlives the read is copied. */
  private shared = false;
  private started = false;
  private invalid = 0;
  private rejected = 0;
  private control = 0;
  private controlStart = 0;

  constructor(socket: Socket, isServer: boolean, limits: WireLimits) {
    super(socket, isServer, limits);
    this.needPreface = isServer;
  }

  /** Sends our preface (client) and SETTINGS, and starts reading. */
  start(): void {
    const s = this.socket;
    if (!this.isServer) this.queue(PREFACE);
    this.queue(
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.MAX_CONCURRENT_STREAMS, this.limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, this.streamWindowSize],
        [Setting.MAX_HEADER_LIST_SIZE, this.limits.maxHeaderListSize],
      ]),
    );
    const grow = this.limits.connectionWindowSize - DEFAULT_WINDOW;
    if (grow > 0) {
      this.queue(windowUpdateFrame(0, grow));
      this.recvWindow += grow;
    }
    this.started = true;
    if ((s as Tagged)[WIRE] !== this) s.on('data', this.onData);
    else if (this.inbuf !== null) {
      // Read before start() (onread sockets): parsed now, after our preface and SETTINGS.
      const b = this.inbuf;
      this.inbuf = null;
      this.input(b, b.length, false);
    }
    s.on('drain', this.onDrain);
    s.on('error', this.onSocketError);
    s.on('close', this.onSocketClose);
    s.on('end', this.onSocketEnd);
  }

  // ---- hooks ----

  /** A request from the peer (server side). */
  protected abstract onStream(s: WireStream, fields: string[], endStream: boolean): void;
  protected peerSettings(): void {}
  /** The peer reset open stream `s` (server: rapid-reset accounting; may throw a connection error). */
  protected peerRst(_s: WireStream): void {}
  protected goaway(_last: number, _code: number): void {}

  protected override dropInput(): void {
    this.inbuf = null;
    this.cont = null;
  }

  // ---- reading ----

  private readonly onData = (chunk: Buffer): void => this.input(chunk, chunk.length, false);

  /**
   * Reads the socket through `onread` (before start(): bytes are kept until then): frames are
   * parsed straight from the shared read buffer, and only what outlives the read is copied (DATA
   * payloads, header block fragments awaiting CONTINUATION, a partial frame at the end).
   */
  onRead(n: number, buf: Buffer): void {
    if (this.closed) return;
    if (!this.started) {
      const b = Buffer.allocUnsafe(n);
      buf.copy(b, 0, 0, n);
      this.inbuf = this.inbuf === null ? b : Buffer.concat([this.inbuf, b]);
      return;
    }
    this.input(buf, n, true);
  }

  /** Bytes read before the socket was switched to `onread` (a buffer of their own), parsed first. */
  feed(b: Buffer): void {
    if (!this.closed) this.input(b, b.length, false);
  }

  /** Tags `socket` (made with WIRE_ONREAD, or switched to it) as read by this connection. */
  readThroughOnread(): void {
    (this.socket as Tagged)[WIRE] = this;
  }

  private input(chunk: Buffer, n: number, shared: boolean): void {
    let b = chunk;
    let end = n;
    if (this.inbuf !== null) {
      // A frame straddles reads: the held bytes and this read together (a buffer of our own).
      const held = this.inbuf;
      b = Buffer.allocUnsafe(held.length + n);
      held.copy(b, 0);
      chunk.copy(b, held.length, 0, n);
      end = b.length;
      shared = false;
    }
    this.inbuf = null;
    this.shared = shared;
    try {
      let p = 0;
      if (this.needPreface) {
        const k = Math.min(end, PREFACE.length);
        if (b.compare(PREFACE, 0, k, 0, k) !== 0) {
          throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not the HTTP/2 client preface');
        }
        if (end < PREFACE.length) {
          this.inbuf = Buffer.from(b.subarray(0, end));
          return;
        }
        this.needPreface = false;
        p = PREFACE.length;
      }
      while (end - p >= 9 && !this.closed) {
        const len = ((b[p] as number) << 16) | ((b[p + 1] as number) << 8) | (b[p + 2] as number);
        if (len > MIN_FRAME_SIZE) {
          throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} octets, above 16384`);
        }
        if (end - p - 9 < len) break;
        const type = b[p + 3] as number;
        const flags = b[p + 4] as number;
        const id = b.readUInt32BE(p + 5) & 0x7fffffff;
        const payload = b.subarray(p + 9, p + 9 + len);
        p += 9 + len;
        this.frame(type, flags, id, payload);
      }
      if (p < end && !this.closed) {
        this.inbuf = p === 0 && !shared && end === b.length ? b : Buffer.from(b.subarray(p, end));
      }
    } catch (e) {
      this.fatal(e);
    }
    this.shared = false;
    this.readDone();
  }

  /** After the frames of one socket read were handled (client: write what they produced). */
  protected readDone(): void {}

  private frame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.cont !== null && type !== FrameType.CONTINUATION) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${type} inside a header block`);
    }
    if (!this.gotSettings && type !== FrameType.SETTINGS) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
    }
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, payload);
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, id, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, id, payload);
      case FrameType.PRIORITY:
        if (id === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.rstUnknown(id, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        return this.onRst(id, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, payload);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE (push is disabled)');
      case FrameType.PING:
        return this.onPing(flags, id, payload);
      case FrameType.GOAWAY:
        return this.onGoaway(id, payload);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** A stream id nobody has opened yet. */
  private isIdle(id: number): boolean {
    const peers = this.isServer ? (id & 1) === 1 : (id & 1) === 0;
    return peers ? id > this.lastPeerStream : id >= this.nextId;
  }

  private invalidFrame(what: string): void {
    if (++this.invalid > this.limits.maxSessionInvalidFrames) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `too many invalid frames (last: ${what})`);
    }
  }

  private rstUnknown(id: number, code: number): void {
    const s = this.streams.get(id);
    if (s !== undefined) this.resetStream(s, code, true);
    else this.queue(rstFrame(id, code));
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const len = payload.length;
    this.recvWindow -= len;
    if (this.recvWindow < 0) {
      throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    }
    this.connUnacked += len;
    if (this.connUnacked >= this.limits.connectionWindowSize >>> 1) {
      this.queue(windowUpdateFrame(0, this.connUnacked));
      this.recvWindow += this.connUnacked;
      this.connUnacked = 0;
    }
    let data = payload;
    if (flags & Flag.PADDED) {
      const pad = len > 0 ? (payload[0] as number) : 0;
      if (len === 0 || pad >= len) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad DATA padding');
      data = payload.subarray(1, len - pad);
    }
    const s = this.streams.get(id);
    if (s === undefined) {
      if (this.isIdle(id)) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      // A stream we reset or finished: DATA the peer sent before it knew is ignored (RFC 9113
      // §5.1), not counted as invalid — a long-lived mesh connection sees it after every early
      // answer to an upload. Its octets still counted against the connection window above.
      return;
    }
    if (s.remoteEnded) return this.resetStream(s, ErrorCode.STREAM_CLOSED, true);
    s.recvWindow -= len;
    if (s.recvWindow < 0) return this.resetStream(s, ErrorCode.FLOW_CONTROL_ERROR, true);
    if (!s.gotHeaders) return this.resetStream(s, ErrorCode.PROTOCOL_ERROR, true);
    s.unacked += len - data.length; // padding: credited with the data
    if (len === 0 && (flags & Flag.END_STREAM) === 0) this.invalidFrame('empty DATA frame');
    if (s.expectLength >= 0) {
      s.expectLength -= data.length;
      if (s.expectLength < 0) return this.resetStream(s, ErrorCode.PROTOCOL_ERROR, true);
    }
    if (data.length > 0) s.received(this.shared ? Buffer.from(data) : data);
    if (flags & Flag.END_STREAM && !s.closed) this.remoteEnd(s);
  }

  private remoteEnd(s: WireStream): void {
    if (s.expectLength > 0) return this.resetStream(s, ErrorCode.PROTOCOL_ERROR, true);
    s.remoteEnded = true;
    if (s.receivedEnd()) this.maybeClose(s);
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let p = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      if (end === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad HEADERS padding');
      end -= payload[0] as number;
      p = 1;
    }
    if (flags & Flag.PRIORITY) p += 5;
    if (end < p) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad HEADERS padding');
    const fragment = payload.subarray(p, end);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) === 0) {
      const kept = this.shared ? Buffer.from(fragment) : fragment;
      this.cont = { id, endStream, chunks: [kept], bytes: fragment.length, count: 0 };
      return;
    }
    this.headerBlock(id, fragment, endStream);
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const c = this.cont;
    if (c === null || c.id !== id) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without an open header block');
    }
    c.bytes += payload.length;
    if (
      ++c.count > this.limits.maxContinuations ||
      c.bytes > this.limits.maxHeaderListSize + MIN_FRAME_SIZE
    ) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'CONTINUATION flood');
    }
    c.chunks.push(this.shared && (flags & Flag.END_HEADERS) === 0 ? Buffer.from(payload) : payload);
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.cont = null;
    this.headerBlock(id, Buffer.concat(c.chunks), c.endStream);
  }

  private headerBlock(id: number, block: Buffer, endStream: boolean): void {
    const fields: string[] = [];
    let size: number;
    try {
      size = this.decoder.decode(block, fields);
    } catch (e) {
      if (e instanceof HpackError) throw new H2ConnectionError(ErrorCode.COMPRESSION_ERROR, e.message);
      throw e;
    }
    const tooBig = size > this.limits.maxHeaderListSize || fields.length > 2 * this.limits.maxHeaderListPairs;
    const s = this.streams.get(id);
    if (s === undefined) {
      if (!this.isIdle(id)) {
        this.invalidFrame('HEADERS on a closed stream');
        this.queue(rstFrame(id, ErrorCode.STREAM_CLOSED));
        return;
      }
      if (!this.isServer || (id & 1) === 0) {
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS opening stream ${id}`);
      }
      this.lastPeerStream = id;
      return this.newStream(id, fields, endStream, tooBig);
    }
    if (s.remoteEnded) return this.resetStream(s, ErrorCode.STREAM_CLOSED, true);
    if (tooBig) return this.resetStream(s, ErrorCode.ENHANCE_YOUR_CALM, true);
    const h = s.handler;
    if (!s.gotHeaders) {
      if (checkResponse(fields) !== null) return this.resetStream(s, ErrorCode.PROTOCOL_ERROR, true);
      if (statusOf(fields) < 200) {
        if (endStream) return this.resetStream(s, ErrorCode.PROTOCOL_ERROR, true);
        h?.onHeaders(s, fields, false);
        return;
      }
      s.gotHeaders = true;
      h?.onHeaders(s, fields, endStream);
    } else {
      if (!endStream || checkTrailers(fields) !== null) {
        return this.resetStream(s, ErrorCode.PROTOCOL_ERROR, true);
      }
      h?.onTrailers(s, fields);
    }
    if (endStream && !s.closed) this.remoteEnd(s);
  }

  /**
   * Server side: a request opening stream `id`. Refused after our GOAWAY or past
   * MAX_CONCURRENT_STREAMS, reset when its header list is over the limits or malformed (RFC 9113
   * §8.1.1, §8.3), else registered and handed to onStream.
   */
  protected newStream(id: number, fields: string[], endStream: boolean, tooBig: boolean): void {
    if (this.goawaySent) return void this.queue(rstFrame(id, ErrorCode.REFUSED_STREAM));
    if (this.streams.size >= this.limits.maxConcurrentStreams) return this.refuse(id);
    if (tooBig) return this.malformed(id, 'header list over the limit');
    const bad = checkRequest(fields);
    if (bad !== null) return this.malformed(id, bad);
    let expect = -1;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] !== 'content-length') continue;
      const cl = fields[i + 1] as string;
      if (!/^\d{1,15}$/.test(cl) || (expect >= 0 && Number(cl) !== expect)) {
        return this.malformed(id, 'invalid content-length');
      }
      expect = Number(cl);
    }
    if (endStream && expect > 0) return this.malformed(id, 'content-length without a body');
    const s = this.openStream(id);
    s.gotHeaders = true;
    s.expectLength = expect;
    if (endStream) s.remoteEnded = true;
    this.onStream(s, fields, endStream);
    if (endStream && !s.closed) this.remoteEnd(s);
  }

  /** Counts a refused stream; past the limit the peer is ignoring SETTINGS: GOAWAY. */
  private refuse(id: number): void {
    this.queue(rstFrame(id, ErrorCode.REFUSED_STREAM));
    if (++this.rejected > this.limits.maxSessionRejectedStreams) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'too many refused streams');
    }
  }

  /** A malformed request: RST_STREAM(PROTOCOL_ERROR), counted as an invalid frame. */
  private malformed(id: number, what: string): void {
    this.queue(rstFrame(id, ErrorCode.PROTOCOL_ERROR));
    this.invalidFrame(what);
  }

  private onRst(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM length');
    if (id === 0 || this.isIdle(id)) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on stream ${id} (idle or 0)`);
    }
    const s = this.streams.get(id);
    if (s === undefined) return;
    this.peerRst(s);
    this.resetStream(s, payload.readUInt32BE(0), false);
  }

  private countControl(): void {
    const now = Date.now();
    if (now - this.controlStart > this.limits.controlWindowMs) {
      this.controlStart = now;
      this.control = 0;
    }
    if (++this.control > this.limits.maxControlFrames || this.socket.writableLength > ACK_FLOOD_BYTES) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'PING/SETTINGS flood');
    }
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.END_STREAM /* ACK */) {
      if (payload.length !== 0)
        throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      if (!this.gotSettings)
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
      return;
    }
    if (payload.length % 6 !== 0) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length');
    if (payload.length / 6 > this.limits.maxSettings) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'too many SETTINGS entries');
    }
    this.countControl();
    applySettings(this, payload);
    this.queue(SETTINGS_ACK);
    const first = !this.gotSettings;
    this.gotSettings = true;
    for (const s of this.streams.values()) if (s.queued > 0 || s.endQueued) this.pump(s);
    if (first) this.peerSettings();
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
    if (payload.length !== 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING length');
    if (flags & Flag.END_STREAM /* ACK */) return;
    this.countControl();
    this.queue(pingFrame(payload, true));
  }

  private onGoaway(id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (payload.length < 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY length');
    const last = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    this.goawayReceived = true;
    // Our streams above `last` were never processed: REFUSED_STREAM (safe to retry elsewhere).
    for (const s of [...this.streams.values()]) {
      if ((s.id & 1) === (this.isServer ? 0 : 1) && s.id > last)
        this.resetStream(s, ErrorCode.REFUSED_STREAM, false);
    }
    this.goaway(last, code);
    if (this.streams.size === 0) this.finish();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE length');
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW)
        throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'window overflow');
      this.pumpBlocked();
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) {
      if (this.isIdle(id))
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    if (inc === 0) return this.resetStream(s, ErrorCode.PROTOCOL_ERROR, true);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.resetStream(s, ErrorCode.FLOW_CONTROL_ERROR, true);
    this.pump(s);
  }
}

function statusOf(fields: readonly string[]): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === ':status') return Number(fields[i + 1]);
  return 0;
}
