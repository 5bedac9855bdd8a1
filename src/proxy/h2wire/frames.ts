// HTTP/2 frame layout (RFC 9113 §4, §6): types, flags, error codes, settings, and the writers of
// every frame this layer sends. Each writer returns one Buffer (header + payload) for the send queue.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum Flag {
  /** Also ACK on SETTINGS and PING. */
  END_STREAM = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

/** Error codes (RFC 9113 §7), numerically the same as node's NGHTTP2_* constants. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 0x7fffffff;
export const MIN_FRAME_SIZE = 16_384;
export const MAX_FRAME_SIZE_LIMIT = 0xffffff;

/** A connection error: GOAWAY with `code`, then close (RFC 9113 §5.4.1). */
export class H2ConnectionError extends Error {
  override readonly name = 'H2ConnectionError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export function frameHeader(b: Buffer, length: number, type: number, flags: number, stream: number): void {
  b[0] = (length >>> 16) & 0xff;
  b[1] = (length >>> 8) & 0xff;
  b[2] = length & 0xff;
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & 0x7fffffff, 5);
}

/** frameHeader at `at` in `b`. */
export function frameHeaderAt(
  b: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  stream: number,
): void {
  b[at] = (length >>> 16) & 0xff;
  b[at + 1] = (length >>> 8) & 0xff;
  b[at + 2] = length & 0xff;
  b[at + 3] = type;
  b[at + 4] = flags;
  b[at + 5] = (stream >>> 24) & 0x7f;
  b[at + 6] = (stream >>> 16) & 0xff;
  b[at + 7] = (stream >>> 8) & 0xff;
  b[at + 8] = stream & 0xff;
}

export function settingsFrame(entries: ReadonlyArray<readonly [number, number]>): Buffer {
  const b = Buffer.allocUnsafe(9 + 6 * entries.length);
  frameHeader(b, 6 * entries.length, FrameType.SETTINGS, 0, 0);
  let p = 9;
  for (const [id, v] of entries) {
    b.writeUInt16BE(id, p);
    b.writeUInt32BE(v >>> 0, p + 2);
    p += 6;
  }
  return b;
}

export const SETTINGS_ACK = ((): Buffer => {
  const b = Buffer.alloc(9);
  frameHeader(b, 0, FrameType.SETTINGS, Flag.END_STREAM /* ACK */, 0);
  return b;
})();

export function pingFrame(payload: Buffer, ack: boolean): Buffer {
  const b = Buffer.allocUnsafe(17);
  frameHeader(b, 8, FrameType.PING, ack ? Flag.END_STREAM /* ACK */ : 0, 0);
  payload.copy(b, 9, 0, 8);
  return b;
}

export function goawayFrame(lastStream: number, code: number, debug: string): Buffer {
  const d = Buffer.from(debug.slice(0, 256), 'utf8');
  const b = Buffer.allocUnsafe(17 + d.length);
  frameHeader(b, 8 + d.length, FrameType.GOAWAY, 0, 0);
  b.writeUInt32BE(lastStream & 0x7fffffff, 9);
  b.writeUInt32BE(code >>> 0, 13);
  d.copy(b, 17);
  return b;
}

export function rstFrame(stream: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(13);
  frameHeader(b, 4, FrameType.RST_STREAM, 0, stream);
  b.writeUInt32BE(code >>> 0, 9);
  return b;
}

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const b = Buffer.allocUnsafe(13);
  frameHeader(b, 4, FrameType.WINDOW_UPDATE, 0, stream);
  b.writeUInt32BE(increment & 0x7fffffff, 9);
  return b;
}

/** DATA frame header only (the payload goes after it as its own buffer: no copy). */
export function dataHeader(stream: number, length: number, endStream: boolean): Buffer {
  const b = Buffer.allocUnsafe(9);
  frameHeader(b, length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, stream);
  return b;
}

/**
 * `b` holds a header block after 9 free octets: when the block fits one frame, the HEADERS frame
 * header goes in front of it in place (no copy); else headersFrames splits it.
 */
export function headersFrameInPlace(stream: number, b: Buffer, endStream: boolean, maxFrame: number): Buffer {
  const len = b.length - 9;
  if (len > maxFrame) return headersFrames(stream, b.subarray(9), endStream, maxFrame);
  frameHeader(b, len, FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), stream);
  return b;
}

/** A header block as HEADERS (+ CONTINUATION frames when it exceeds `maxFrame`), one buffer. */
export function headersFrames(stream: number, block: Buffer, endStream: boolean, maxFrame: number): Buffer {
  const n = block.length <= maxFrame ? 1 : Math.ceil(block.length / maxFrame);
  const out = Buffer.allocUnsafe(block.length + 9 * n);
  let p = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    const len = Math.min(maxFrame, block.length - q);
    const last = i === n - 1;
    let flags = last ? Flag.END_HEADERS : 0;
    if (i === 0 && endStream) flags |= Flag.END_STREAM;
    frameHeader(out.subarray(p), len, i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, flags, stream);
    p += 9;
    block.copy(out, p, q, q + len);
    p += len;
    q += len;
  }
  return out;
}
