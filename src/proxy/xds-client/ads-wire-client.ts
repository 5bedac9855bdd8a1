// The sidecar's gRPC client for its one ADS bidi stream, on our own HTTP/2 wire layer (../h2wire):
// `trellis proxy` carries neither @grpc/grpc-js (~7 MB RSS) nor node:http2 (~1.5 MB) for a single
// long-lived call. One client = one connection = one stream: XdsClient makes a new client for
// every (re)connection (with backoff) and closes the old one. Cleartext h2c by default; TLS (ALPN
// h2; the options verify the control plane, ../identity/control-plane-tls.ts) with `tls`.
// Flow control: 1 MiB stream / 2 MiB connection receive windows, credited as data is decoded.
// Keepalive: a PING after 60 s without a byte from the server; no byte 20 s later: UNAVAILABLE.
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WireClient, type WireClientEvents } from '../h2wire/client.js';
import { DEFAULT_WIRE_LIMITS, type WireLimits } from '../h2wire/connection.js';
import { ErrorCode, pingFrame } from '../h2wire/frames.js';
import type { StreamHandler, WireStream } from '../h2wire/stream.js';
import type { AdsClientLike, AdsStreamLike, AdsTls } from '../../xds/ads-client-types.js';
import type { OutgoingRequest } from '../../xds/ads-service.js';
import { ADS_METHOD_PATH } from '../../xds/ads-service-path.js';
import type { DiscoveryResponse } from '../../xds/discovery-codec.js';
import { grpcStatusError } from '../../xds/grpc-status.js';
// The light codec (no protobufjs): this client runs in every sidecar.
import { decodeDiscoveryResponseLite as decodeDiscoveryResponse } from '../../xds/lite/decode.js';
import { encodeDiscoveryRequestLite as encodeDiscoveryRequest } from '../../xds/lite/encode-request.js';

/** Largest response message accepted (grpc-js's default receive limit is 4 MiB; xDS pushes can be bigger). */
const MAX_MESSAGE = 64 * 1024 * 1024;

/**
 * The ADS connection's HTTP/2 settings: a 1 MiB stream window (a push of several MiB takes a few
 * round trips, not one per 64 KiB) under a 2 MiB connection window. Nothing is buffered past what
 * the decoder holds: the stream is never paused.
 */
const ADS_LIMITS: WireLimits = Object.freeze({
  ...DEFAULT_WIRE_LIMITS,
  streamWindowSize: 1024 * 1024,
  connectionWindowSize: 2 * 1024 * 1024,
});

/** Connection timing (overridable in tests). */
export interface AdsTiming {
  /** TCP + TLS + ALPN before the attempt fails with UNAVAILABLE. */
  connectTimeoutMs: number;
  /** Silence on the connection before we PING the server. */
  keepaliveIdleMs: number;
  /** No byte from the server this long after a PING: the connection is dead (UNAVAILABLE). */
  keepaliveTimeoutMs: number;
}

export const DEFAULT_ADS_TIMING: AdsTiming = Object.freeze({
  connectTimeoutMs: 15_000,
  keepaliveIdleMs: 60_000,
  keepaliveTimeoutMs: 20_000,
});

const H2_ERRORS = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];
const h2Error = (code: number): string => H2_ERRORS[code] ?? `0x${code.toString(16)}`;

/** The WireClient of an ADS connection: remembers the server's GOAWAY code for the error text. */
class AdsWire extends WireClient {
  goawayCode = -1;
  // WireConnection calls goaway(last, code); WireClient's override declares no parameters.
  protected override goaway(...args: number[]): void {
    this.goawayCode = args[1] ?? 0;
    super.goaway();
  }
}

/** Collects gRPC length-prefixed messages from DATA chunks without copying them twice. */
class MessageReader {
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** Length of the message being collected (-1: its 5-byte prefix is not complete yet). */
  private want = -1;

  /** Adds a chunk; returns the complete messages, or an error. */
  push(chunk: Buffer, out: Buffer[]): Error | undefined {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    for (;;) {
      if (this.want < 0) {
        if (this.bytes < 5) return undefined;
        const head = this.take(5);
        if (head[0] !== 0) return grpcStatusError(13, 'compressed message (not negotiated)');
        const len = head.readUInt32BE(1);
        if (len > MAX_MESSAGE) return grpcStatusError(8, `message of ${len} bytes is too large`);
        this.want = len;
      }
      if (this.bytes < this.want) return undefined;
      out.push(this.take(this.want));
      this.want = -1;
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      // The common case: the bytes lie in one chunk.
      const b = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.bytes -= n;
      return b;
    }
    const b = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(c.length, n - off);
      c.copy(b, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.bytes -= n;
    return b;
  }
}

class WireAdsStream extends EventEmitter implements AdsStreamLike, StreamHandler, WireClientEvents {
  private done = false;
  private status: { code: number; message: string } | undefined;
  private stream: WireStream | undefined;
  private wire: AdsWire | undefined;
  /** Frames written before the connection was up. */
  private pending: Buffer[] = [];
  private readonly reader = new MessageReader();
  private socketError: Error | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private lastRead = Date.now();
  private pingSent = 0;

  constructor(
    private readonly socket: Socket,
    private readonly authority: string,
    private readonly secure: boolean,
    private readonly explain: ((e: Error) => string) | undefined,
    private readonly timing: AdsTiming,
  ) {
    super();
    socket.setNoDelay(true);
    socket.on('error', this.onSocketError);
    socket.once(secure ? 'secureConnect' : 'connect', this.onConnect);
    // The server went away before the connection was up (after it, the wire connection reports it).
    socket.once('close', () => {
      if (!this.wire) this.fail(grpcStatusError(14, this.socketReason('the connection closed')));
    });
    this.connectTimer = setTimeout(() => {
      this.fail(grpcStatusError(14, `connecting timed out after ${timing.connectTimeoutMs} ms`));
    }, timing.connectTimeoutMs);
    this.connectTimer.unref();
  }

  private readonly onSocketError = (e: Error): void => {
    this.socketError ??= e;
    if (!this.wire) this.fail(grpcStatusError(14, this.socketReason(e.message)));
  };

  private socketReason(fallback: string): string {
    const e = this.socketError;
    if (!e) return fallback;
    return this.explain ? this.explain(e) : e.message;
  }

  private readonly onConnect = (): void => {
    clearTimeout(this.connectTimer);
    if (this.done) return;
    const s = this.socket;
    if (this.secure) {
      const proto = (s as TLSSocket).alpnProtocol;
      if (proto !== 'h2')
        return this.fail(
          grpcStatusError(
            14,
            `the control plane did not agree to HTTP/2 (ALPN ${proto === false || proto === undefined ? 'none' : proto})`,
          ),
        );
    }
    const wire = new AdsWire(s, ADS_LIMITS, this);
    this.wire = wire;
    wire.start();
    s.on('data', this.onRead);
    const stream = wire.request(
      [
        ':method',
        'POST',
        ':scheme',
        this.secure ? 'https' : 'http',
        ':path',
        ADS_METHOD_PATH,
        ':authority',
        this.authority,
        'content-type',
        'application/grpc',
        'te',
        'trailers',
        'user-agent',
        'trellis-xds/0.2',
      ],
      false,
      this,
    );
    this.stream = stream;
    const p = this.pending;
    this.pending = [];
    for (const b of p) stream.write(b);
    this.keepalive = setInterval(
      this.tick,
      Math.min(this.timing.keepaliveIdleMs, this.timing.keepaliveTimeoutMs) / 2,
    );
    this.keepalive.unref();
  };

  private readonly onRead = (): void => {
    this.lastRead = Date.now();
    this.pingSent = 0;
  };

  /** Keepalive: PING after keepaliveIdleMs of silence; nothing back within keepaliveTimeoutMs: dead. */
  private readonly tick = (): void => {
    const w = this.wire;
    if (!w || this.done) return;
    const now = Date.now();
    if (this.pingSent > 0) {
      if (now - this.pingSent >= this.timing.keepaliveTimeoutMs) {
        this.fail(
          grpcStatusError(14, `keepalive: no answer to a PING within ${this.timing.keepaliveTimeoutMs} ms`),
        );
      }
      return;
    }
    if (now - this.lastRead >= this.timing.keepaliveIdleMs) {
      this.pingSent = now;
      const payload = Buffer.alloc(8);
      payload.writeUInt32BE(now >>> 0, 4);
      w.queue(pingFrame(payload, false));
    }
  };

  // ---- AdsStreamLike ----

  write(req: OutgoingRequest): boolean {
    if (this.done) return false;
    const body = encodeDiscoveryRequest(req);
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    if (!this.stream) {
      this.pending.push(frame);
      return true;
    }
    return this.stream.write(frame);
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.release(ErrorCode.CANCEL);
  }

  // ---- StreamHandler ----

  onHeaders(_s: WireStream, fields: string[]): void {
    const st = Number(field(fields, ':status'));
    if (st < 200) return; // 1xx
    if (st !== 200) return this.fail(grpcStatusError(st === 404 ? 12 : 14, `HTTP status ${st}`));
    this.readStatus(fields);
  }

  onTrailers(_s: WireStream, fields: string[]): void {
    this.readStatus(fields);
  }

  onData(_s: WireStream, chunk: Buffer): void {
    if (this.done) return;
    const msgs: Buffer[] = [];
    const err = this.reader.push(chunk, msgs);
    for (const m of msgs) {
      if (this.done) return;
      let res: DiscoveryResponse;
      try {
        res = decodeDiscoveryResponse(m);
      } catch (e) {
        return this.fail(grpcStatusError(13, `cannot decode DiscoveryResponse: ${(e as Error).message}`));
      }
      this.emit('data', res);
    }
    if (err) this.fail(err);
  }

  /** The server's half ended (trailers, or a trailers-only response): the call is over. */
  onEnd(): void {
    this.finish();
  }

  onReset(_s: WireStream, code: number, byPeer: boolean): void {
    if (this.done) return;
    const w = this.wire;
    let why: string;
    if (code === -1) why = this.socketReason('the connection to the control plane closed');
    else if (code === ErrorCode.REFUSED_STREAM && w?.goawayReceived) {
      // Reset by the GOAWAY being read, whose code is recorded right after (AdsWire.goaway).
      queueMicrotask(() =>
        this.fail(
          grpcStatusError(
            14,
            `the control plane sent GOAWAY (${h2Error(Math.max(w.goawayCode, 0))}) before taking the stream`,
          ),
        ),
      );
      return;
    } else why = `stream reset${byPeer ? ' by the control plane' : ''} (${h2Error(code)})`;
    if (w && w.goawayCode > 0 && code === -1) why += ` after GOAWAY (${h2Error(w.goawayCode)})`;
    this.fail(grpcStatusError(byPeer && code === ErrorCode.CANCEL ? 1 : 14, why));
  }

  onDrain(): void {}

  onClose(): void {
    this.finish();
  }

  // ---- WireClientEvents ----

  onReady(): void {}
  onGoaway(): void {}
  onStreamGone(): void {}
  onClosed(): void {
    this.fail(grpcStatusError(14, this.socketReason('the connection to the control plane closed')));
  }

  // ----

  private finish(): void {
    if (this.done) return;
    const s = this.status;
    if (s && s.code === 0) {
      this.done = true;
      this.release(ErrorCode.NO_ERROR);
      this.emit('end');
    } else if (s) this.fail(grpcStatusError(s.code, s.message));
    else this.fail(grpcStatusError(14, 'stream closed without a gRPC status'));
  }

  private readStatus(fields: string[]): void {
    const code = field(fields, 'grpc-status');
    if (code === undefined) return;
    let message = field(fields, 'grpc-message') ?? '';
    try {
      message = decodeURIComponent(message);
    } catch {
      // not percent-encoded after all: kept as sent
    }
    this.status = { code: Number(code), message };
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.release(ErrorCode.CANCEL);
    this.emit('error', err);
  }

  /** Ends our side: resets the stream if still open, then closes the connection. */
  private release(code: number): void {
    clearTimeout(this.connectTimer);
    clearInterval(this.keepalive);
    this.keepalive = undefined;
    this.pending = [];
    const s = this.stream;
    if (s && !s.closed) s.reset(code);
    this.closeConnection();
  }

  closeConnection(): void {
    const w = this.wire;
    if (w) {
      if (!w.closed) {
        w.drain(); // GOAWAY(NO_ERROR); the socket ends once no stream is open
        const t = setTimeout(() => w.destroy(), 1000);
        t.unref();
      }
    } else this.socket.destroy();
  }
}

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function hostPort(target: string): { host: string; port: number } {
  const i = target.lastIndexOf(':');
  if (i <= 0) throw new Error(`xDS target '${target}' must be host:port`);
  let host = target.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(target.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new Error(`xDS target '${target}': port must be 1-65535`);
  return { host, port };
}

/**
 * A client to `target` (`host:port`) that opens one connection for one ADS stream at a time:
 * cleartext (h2c) by default, TLS with `tls` (ALPN h2; the options verify the control plane).
 */
export function createWireAdsClient(
  target: string,
  tls?: AdsTls,
  timing: AdsTiming = DEFAULT_ADS_TIMING,
): AdsClientLike {
  const { host, port } = hostPort(target);
  let current: WireAdsStream | undefined;
  return {
    StreamAggregatedResources(): AdsStreamLike {
      current?.cancel();
      const socket = tls
        ? tlsConnect({ ...tls.options(), host, port, ALPNProtocols: ['h2'] })
        : netConnect({ host, port });
      current = new WireAdsStream(socket, target, tls !== undefined, tls?.explain, timing);
      return current;
    },
    close(): void {
      current?.cancel();
      current = undefined;
    },
  };
}
