// The request head we send upstream: route/vhost header mutations, `x-request-id` when the client
// sent none, our own body framing (never the client's), the route's authority and path.
import type { H1RequestHead } from '../http/h1-parser.js';
import { serializeRequestHead, type H1BodyFraming } from '../http/h1-serializer.js';
import { applyRequestHeaderMutations } from '../router/headers.js';
import type { RouteDecision } from '../router/types.js';
import type { PlaneContext } from './types.js';

/** The framing we re-frame the request body with: its length, chunked, or none. */
export function requestFraming(head: H1RequestHead): H1BodyFraming {
  if (head.framing === 'content-length') return head.contentLength;
  return head.framing === 'chunked' ? 'chunked' : 'none';
}

export function upstreamRequestHead(
  head: H1RequestHead,
  d: Extract<RouteDecision, { type: 'forward' }>,
  body: H1BodyFraming,
  plane: PlaneContext,
  extra: readonly string[] | undefined = upstreamExtraFields(head, d, plane),
): Buffer {
  return serializeRequestHead(head, { body, authority: d.authority, path: d.path, extraHeaders: extra });
}

/**
 * Applies the route's request header mutations to `head` (once per request) and returns the
 * fields to add upstream: `x-request-id` when the request has none, else undefined.
 */
export function upstreamExtraFields(
  head: H1RequestHead,
  d: Extract<RouteDecision, { type: 'forward' }>,
  plane: PlaneContext,
): string[] | undefined {
  const headers = head.headers;
  applyRequestHeaderMutations(headers, d.route, d.vhost);
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'x-request-id') return undefined;
  return ['x-request-id', plane.requestId()];
}
