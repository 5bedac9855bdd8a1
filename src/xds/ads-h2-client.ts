// A minimal gRPC client for the one ADS bidi stream, straight on node:http2: no @grpc/grpc-js (~7 MB
// RSS) for a single long-lived call. `trellis proxy` uses ../proxy/xds-client/ads-wire-client.ts
// instead (the same stream on the sidecar's own HTTP/2 layer: no node:http2 at all when idle); this
// one stays for tools and tests that hold node:http2 anyway.
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { OutgoingRequest } from './ads-service.js';
import { ADS_METHOD_PATH } from './ads-service-path.js';
import type { DiscoveryResponse } from './discovery-codec.js';
// The light codec (no protobufjs): this client runs in every sidecar.
import { decodeDiscoveryResponseLite as decodeDiscoveryResponse } from './lite/decode.js';
import { encodeDiscoveryRequestLite as encodeDiscoveryRequest } from './lite/encode-request.js';
import { grpcStatusError } from './grpc-status.js';

export { grpcStatusError } from './grpc-status.js';

/** The part of a grpc-js ClientDuplexStream the xDS client uses. */
export interface AdsStreamLike {
  on(event: 'data', cb: (res: DiscoveryResponse) => void): this;
  on(event: 'error', cb: (e: Error) => void): this;
  on(event: 'end', cb: () => void): this;
  write(req: OutgoingRequest): boolean;
  cancel(): void;
  removeAllListeners(event?: string): this;
}

/** The part of a grpc-js AdsClient the xDS client uses. */
export interface AdsClientLike {
  StreamAggregatedResources(): AdsStreamLike;
  close(): void;
}

/** Largest response message accepted (grpc-js's default receive limit is 4 MiB; xDS pushes can be bigger). */
const MAX_MESSAGE = 64 * 1024 * 1024;

class H2AdsStream extends EventEmitter implements AdsStreamLike {
  private done = false;
  private buf: Buffer = Buffer.alloc(0);
  private status: { code: number; message: string } | undefined;

  constructor(
    session: http2.ClientHttp2Session,
    private readonly stream: http2.ClientHttp2Stream,
    private readonly explain: ((e: Error) => string) | undefined,
  ) {
    super();
    stream.on('response', (headers) => {
      const st = Number(headers[':status']);
      if (st !== 200) return this.fail(grpcStatusError(st === 404 ? 12 : 14, `HTTP status ${st}`));
      this.readStatus(headers);
    });
    stream.on('trailers', (trailers) => this.readStatus(trailers));
    stream.on('data', (chunk: Buffer) => this.onChunk(chunk));
    stream.on('error', (e: Error) => this.fail(grpcStatusError(14, this.reason(e))));
    // The server's half ended (trailers, or a trailers-only response): the call is over although our
    // half is still open, so it finishes here ('close' only comes once both halves are closed).
    stream.on('end', () => this.finish());
    stream.on('close', () => {
      session.off('error', this.onSessionError);
      this.finish();
    });
    session.on('error', this.onSessionError);
  }

  private readonly onSessionError = (e: Error): void => this.fail(grpcStatusError(14, this.reason(e)));

  private reason(e: Error): string {
    return this.explain ? this.explain(e) : e.message;
  }

  private finish(): void {
    if (this.done) return;
    const s = this.status;
    if (s && s.code === 0) {
      this.done = true;
      if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_NO_ERROR);
      this.emit('end');
    } else if (s) this.fail(grpcStatusError(s.code, s.message));
    else
      this.fail(
        grpcStatusError(14, `stream closed without a gRPC status (rst ${this.stream.rstCode ?? '-'})`),
      );
  }

  write(req: OutgoingRequest): boolean {
    if (this.done || this.stream.destroyed) return false;
    const body = encodeDiscoveryRequest(req);
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    return this.stream.write(frame);
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private readStatus(h: http2.IncomingHttpHeaders): void {
    const code = h['grpc-status'];
    if (code === undefined) return;
    const raw = h['grpc-message'];
    let message = typeof raw === 'string' ? raw : '';
    try {
      message = decodeURIComponent(message);
    } catch {
      // not percent-encoded after all: kept as sent
    }
    this.status = { code: Number(code), message };
  }

  private onChunk(chunk: Buffer): void {
    if (this.done) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf[0] !== 0) return this.fail(grpcStatusError(13, 'compressed message (not negotiated)'));
      if (len > MAX_MESSAGE) return this.fail(grpcStatusError(8, `message of ${len} bytes is too large`));
      if (this.buf.length < 5 + len) return;
      const msg = this.buf.subarray(5, 5 + len);
      this.buf = this.buf.subarray(5 + len);
      let res: DiscoveryResponse;
      try {
        res = decodeDiscoveryResponse(msg);
      } catch (e) {
        return this.fail(grpcStatusError(13, `cannot decode DiscoveryResponse: ${(e as Error).message}`));
      }
      this.emit('data', res);
    }
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.emit('error', err);
  }
}

export interface H2AdsTls {
  /** TLS options for each new connection (read again at every reconnect: the client certificate may change). */
  options(): http2.SecureClientSessionOptions;
  /** Turns a connection error into a readable reason (e.g. "is the bundle this CA's?"). */
  explain?(e: Error): string;
}

/**
 * Opens an HTTP/2 connection to `target` (`host:port`) for one ADS stream at a time: cleartext
 * (h2c) by default, TLS with `tls` (ALPN h2; the options verify the control plane).
 */
export function createH2AdsClient(target: string, tls?: H2AdsTls): AdsClientLike {
  let session: http2.ClientHttp2Session | undefined;
  return {
    StreamAggregatedResources(): AdsStreamLike {
      // A session that failed or got a GOAWAY cannot carry a new stream (request() would throw).
      if (!session || session.closed || session.destroyed) {
        session = tls ? http2.connect(`https://${target}`, tls.options()) : http2.connect(`http://${target}`);
        session.on('error', () => undefined); // reported through the stream
      }
      const stream = session.request({
        ':method': 'POST',
        ':path': ADS_METHOD_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': 'trellis-xds/0.1',
      });
      return new H2AdsStream(session, stream, tls?.explain);
    },
    close(): void {
      session?.close();
      session?.unref();
      session = undefined;
    },
  };
}
