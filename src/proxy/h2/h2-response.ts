// The upstream's response headers onto the downstream stream: a trailers-only response (HEADERS
// with END_STREAM, how gRPC fails a call) stays one HEADERS frame; otherwise trailers follow later.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { applyResponseHeaderMutations } from '../router/headers.js';
import type { H2Exchange } from './h2-exchange.js';

const END_STREAM = 0x1; // NGHTTP2_FLAG_END_STREAM (no node:http2 import: it loads on first use)

/** Applies the route's and virtual host's response header mutations (only when they have any). */
function mutate(ex: H2Exchange, headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const r = ex.route;
  const v = ex.vhost;
  if (r === null || v === null) return headers;
  const none = (m: { add: readonly unknown[]; remove: readonly unknown[] }): boolean =>
    m.add.length === 0 && m.remove.length === 0;
  if (none(r.responseHeaders) && none(v.responseHeaders)) return headers;
  const flat: string[] = [];
  for (const n of Object.keys(headers)) {
    if (n.charCodeAt(0) === 58) continue;
    const val = headers[n];
    if (Array.isArray(val)) for (const x of val) flat.push(n, x);
    else if (val !== undefined) flat.push(n, String(val));
  }
  applyResponseHeaderMutations(flat, r, v);
  const out: OutgoingHttpHeaders = { ':status': headers[':status'] };
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i] as string;
    const prev = out[n];
    const val = flat[i + 1] as string;
    if (prev === undefined) out[n] = val;
    else if (Array.isArray(prev)) prev.push(val);
    else out[n] = [String(prev), val];
  }
  return out;
}

export function relayResponseHeaders(ex: H2Exchange, headers: IncomingHttpHeaders, flags: number): void {
  const ds = ex.ds;
  if (ex.done || ds.destroyed || ds.closed) return;
  if (ex.retryResponse(headers, flags)) return; // a retriable status: the exchange goes again
  ex.status = Number(headers[':status']);
  const out = mutate(ex, headers);
  ex.respStarted = true;
  try {
    if ((flags & END_STREAM) !== 0) {
      // Trailers-only: forward as a single HEADERS frame with END_STREAM.
      if (ex.grpc) ex.grpcStatus = String(headers['grpc-status'] ?? '');
      ex.done = true;
      ex.clearTimer();
      ex.reportAttempt(true);
      ds.respond(out, { endStream: true });
      return;
    }
    ds.respond(out, { waitForTrailers: true });
    ds.on('wantTrailers', ex.onWantTrailers);
  } catch (e) {
    ex.fail(e);
  }
}
