// The upstream's response head onto the downstream stream: a trailers-only response (HEADERS
// with END_STREAM, how gRPC fails a call) stays one HEADERS frame; otherwise trailers follow later.
// An HTTP/2 upstream's head comes as a node:http2 headers object, an HTTP/1.1 upstream's as a flat
// field list (relayed as such: the mesh wire stream encodes it without another conversion).
import type { IncomingHttpHeaders } from 'node:http2';
import { applyResponseHeaderMutations } from '../router/headers.js';
import type { H2Fields } from './down-stream.js';
import type { H2Exchange } from './h2-exchange.js';
import { fieldOf } from './h2-route.js';

const END_STREAM = 0x1; // NGHTTP2_FLAG_END_STREAM (no node:http2 import: it loads on first use)

function noMutation(m: { add: readonly unknown[]; remove: readonly unknown[] }): boolean {
  return m.add.length === 0 && m.remove.length === 0;
}

/** True when the exchange's route or virtual host changes response headers. */
function mutates(ex: H2Exchange): boolean {
  const r = ex.route;
  const v = ex.vhost;
  return r !== null && v !== null && !(noMutation(r.responseHeaders) && noMutation(v.responseHeaders));
}

/** A headers object's regular fields as a flat list (only when mutations apply). */
function flatOf(headers: IncomingHttpHeaders): string[] {
  const flat: string[] = [];
  for (const n of Object.keys(headers)) {
    if (n.charCodeAt(0) === 58) continue;
    const val = headers[n];
    if (Array.isArray(val)) for (const x of val) flat.push(n, x);
    else if (val !== undefined) flat.push(n, String(val));
  }
  return flat;
}

/** An HTTP/2 upstream's response head (node:http2 'response': headers object and frame flags). */
export function relayResponseHeaders(ex: H2Exchange, headers: IncomingHttpHeaders, flags: number): void {
  const status = Number(headers[':status']);
  if (!mutates(ex)) {
    relay(ex, 0, status, headers, (flags & END_STREAM) !== 0);
    return;
  }
  const flat = flatOf(headers);
  applyResponseHeaderMutations(flat, ex.route!, ex.vhost!);
  relay(ex, status, status, flat, (flags & END_STREAM) !== 0);
}

/**
 * An HTTP/1.1 upstream's response head: `fields` is a flat list of our own (hop-by-hop fields
 * already dropped), mutated in place when the route has response header mutations.
 */
export function relayResponseFlat(
  ex: H2Exchange,
  status: number,
  fields: string[],
  endStream: boolean,
): void {
  if (mutates(ex)) applyResponseHeaderMutations(fields, ex.route!, ex.vhost!);
  relay(ex, status, status, fields, endStream);
}

/** `given`: the status passed to respond (0: the headers object carries its own :status). */
function relay(ex: H2Exchange, given: number, status: number, h: H2Fields, endStream: boolean): void {
  const ds = ex.ds;
  if (ex.done || ds.destroyed || ds.closed) return;
  if (ex.retryResponse(status, h, endStream)) return; // a retriable status: the exchange goes again
  ex.status = status;
  ex.respStarted = true;
  try {
    if (endStream) {
      // Trailers-only: forward as a single HEADERS frame with END_STREAM.
      if (ex.grpc) ex.grpcStatus = fieldOf(h, 'grpc-status') ?? '';
      ex.done = true;
      ex.clearTimer();
      ex.reportAttempt(true);
      ds.respond(given, h, true, false);
      return;
    }
    ds.respond(given, h, false, true);
  } catch (e) {
    ex.fail(e);
  }
}
