// One upstream HTTP/2 stream of an exchange: request data up and response data down with
// backpressure, trailers, and resets carried as resets in both directions (never as half-closes).
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { ProxyError } from '../pipeline/rescue.js';
import { FAILURE } from '../pipeline/retry.js';
import type { H2Session } from '../upstream/h2-pool.js';
import type { BodyReader, H2Exchange } from './h2-exchange.js';
import { relayResponseHeaders } from './h2-response.js';

// node:http2's constants, spelled out so that importing this module does not load node:http2.
const NGHTTP2_CANCEL = 0x8;
const NGHTTP2_NO_ERROR = 0x0;
const NGHTTP2_REFUSED_STREAM = 0x7;
const NGHTTP2_INTERNAL_ERROR = 0x2;

export class H2Relay implements BodyReader {
  private us: ClientHttp2Stream | null = null;
  private upEnded = false;
  private reqEnded = false;

  constructor(private readonly ex: H2Exchange) {}

  /** Opens the upstream stream on `s`; false when the session refused it (the exchange retries). */
  start(s: H2Session, up: OutgoingHttpHeaders): void {
    const ex = this.ex;
    const ds = ex.ds;
    let us: ClientHttp2Stream;
    // A retry once the request ended: the kept body (if any) is sent again, then END_STREAM.
    const resend = ex.reqDone && !ds.endAfterHeaders;
    try {
      us = s.request(up, { endStream: ds.endAfterHeaders });
    } catch (e) {
      ex.onPoolError(
        new ProxyError('UPSTREAM_RESET', `could not open an upstream stream: ${(e as Error).message}`),
      );
      return;
    }
    this.us = us;
    us.on('error', noop);
    us.on('response', this.onResponse);
    us.on('trailers', this.onTrailers);
    us.on('data', this.onUpData);
    us.on('end', this.onUpEnd);
    us.on('close', this.onUpClose);
    us.on('drain', this.onUpDrain);
    if (ds.endAfterHeaders) this.reqEnded = true;
    else if (resend) {
      this.reqEnded = true;
      const r = ex.replay;
      if (ex.replaying && r !== null) for (const c of r.chunks) us.write(c);
      ex.replaying = false;
      ex.bodyStarted = true;
      us.end();
    } else ex.readBody(this);
  }

  /** We are done with it (client reset, timeout, failure): RST_STREAM(CANCEL) upstream. */
  destroy(): void {
    const us = this.us;
    this.us = null;
    if (us !== null && !us.closed && !us.destroyed) us.close(NGHTTP2_CANCEL);
  }

  // Request body: downstream → upstream, pausing the downstream while the upstream buffer is full
  // (a paused stream stops sending WINDOW_UPDATEs, so the client's flow control takes over).
  onDownData(chunk: Buffer): void {
    const us = this.us;
    if (us === null) return; // an earlier attempt's relay
    const ex = this.ex;
    ex.bodyStarted = true;
    ex.moved = true;
    if (ex.replay !== null) ex.replay.push(chunk);
    if (!us.write(chunk)) ex.ds.pause();
  }

  private readonly onUpDrain = (): void => {
    this.ex.ds.resume();
  };

  onDownEnd(): void {
    // A cancelling client's stream can show 'end' before 'aborted': half-close upstream only once
    // the events of this read have run, so a reset is carried as a reset, not as a half-close.
    this.reqEnded = true;
    this.ex.reqDone = true;
    setImmediate(this.endUpstream);
  }

  private readonly endUpstream = (): void => {
    const us = this.us;
    const ds = this.ex.ds;
    if (us !== null && !us.destroyed && !ds.aborted && !(ds.rstCode > 0)) us.end();
  };

  private readonly onResponse = (headers: IncomingHttpHeaders, flags: number): void => {
    if (this.us === null) return;
    relayResponseHeaders(this.ex, headers, flags);
  };

  private readonly onTrailers = (t: IncomingHttpHeaders): void => {
    if (this.us !== null) this.ex.trailers = t;
  };

  private readonly onUpData = (chunk: Buffer): void => {
    if (this.us === null) return;
    this.ex.moved = true;
    const ds = this.ex.ds;
    if (!ds.destroyed && !ds.write(chunk)) this.us?.pause();
  };

  onDownDrain(): void {
    this.us?.resume();
  }

  // Like a cancelling client, a resetting server's stream can show 'end' before 'aborted': finish
  // the response only once this read's events have run (a reset is relayed by onUpClose instead).
  private readonly onUpEnd = (): void => {
    this.upEnded = true;
    setImmediate(this.finish);
  };

  private readonly finish = (): void => {
    const us = this.us;
    if (us === null || us.aborted || us.rstCode > NGHTTP2_NO_ERROR) return;
    this.ex.finishResponse();
  };

  private readonly onUpClose = (): void => {
    const us = this.us;
    if (us === null) return; // we cancelled it ourselves
    const ex = this.ex;
    const code = us.rstCode ?? NGHTTP2_NO_ERROR;
    // A clean end whose deferred finish has not run yet: finish now.
    if (!ex.done && this.upEnded && code === NGHTTP2_NO_ERROR) ex.finishResponse();
    if (ex.done) {
      // The response was relayed; mirror how the upstream closed the stream on a downstream that is
      // still open (the client still sending): a reset as that reset, a clean close as RST(NO_ERROR).
      const ds = ex.ds;
      if (ex.respStarted && !ds.closed && !ds.destroyed && (code !== NGHTTP2_NO_ERROR || !this.reqEnded)) {
        ds.close(code);
      }
      return;
    }
    // The upstream ended the stream without finishing its response.
    if (!ex.respStarted) {
      this.us = null;
      if (code === NGHTTP2_REFUSED_STREAM) {
        // Refused streams were never processed: safe to retry on another session or endpoint.
        ex.upstreamFailed(
          FAILURE.refusedStream,
          new ProxyError('UPSTREAM_RESET', 'upstream refused the stream'),
        );
        return;
      }
      if (code === NGHTTP2_CANCEL) {
        ex.reportAttempt(false);
        ex.resetDown(code);
        return;
      }
      ex.upstreamFailed(
        FAILURE.reset,
        new ProxyError('UPSTREAM_RESET', `upstream reset the HTTP/2 stream (error code ${code})`),
      );
      return;
    }
    ex.reportAttempt(false);
    ex.resetDown(code === NGHTTP2_NO_ERROR ? NGHTTP2_INTERNAL_ERROR : code);
  };
}

function noop(): void {}
