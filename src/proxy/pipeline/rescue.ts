// The ONE place where data-plane failures become responses: a status, `x-trellis-error: <code>;
// sidecar=<node>` and a short text body saying what failed, at which sidecar, and what to check.
// HTTP/2 requests get the same as h2 headers; gRPC requests a trailers-only gRPC status instead.
import { H1ParseError } from '../http/h1-parser.js';

/** Stable codes (tests and tools match on these; people read the body). */
export type ProxyErrorCode =
  | 'NO_ROUTE'
  | 'CLUSTER_NOT_FOUND'
  | 'NO_HEALTHY_UPSTREAM'
  | 'UPSTREAM_CONNECT_FAILED'
  | 'UPSTREAM_RESET'
  | 'UPSTREAM_BAD_RESPONSE'
  | 'UPSTREAM_TIMEOUT'
  | 'STREAM_IDLE_TIMEOUT'
  | 'UPSTREAM_PROTOCOL'
  | 'REQUEST_HEADERS_TIMEOUT'
  | 'BAD_REQUEST'
  | 'BAD_PATH'
  | 'ACCESS_DENIED'
  | 'UNAUTHENTICATED'
  | 'INTERNAL';

const STATUS: Record<ProxyErrorCode, number> = {
  NO_ROUTE: 404,
  CLUSTER_NOT_FOUND: 503,
  NO_HEALTHY_UPSTREAM: 503,
  UPSTREAM_CONNECT_FAILED: 503,
  UPSTREAM_RESET: 502,
  UPSTREAM_BAD_RESPONSE: 502,
  UPSTREAM_TIMEOUT: 504,
  STREAM_IDLE_TIMEOUT: 504,
  UPSTREAM_PROTOCOL: 502,
  REQUEST_HEADERS_TIMEOUT: 408,
  BAD_REQUEST: 400,
  BAD_PATH: 400,
  ACCESS_DENIED: 403,
  UNAUTHENTICATED: 401,
  INTERNAL: 500,
};

const HINT: Record<ProxyErrorCode, string> = {
  NO_ROUTE:
    'check the Service name and port in the Host header and that its Service/HTTPRoute is applied (trellis get services)',
  CLUSTER_NOT_FOUND:
    'the route names a backend this sidecar has not received yet; check trellis proxy-status',
  NO_HEALTHY_UPSTREAM: 'check that the Service has ready, registered instances (trellis get endpoints)',
  UPSTREAM_CONNECT_FAILED: 'check that the app is listening on its registered port',
  UPSTREAM_RESET: 'the upstream app closed the connection before finishing its response; check its logs',
  UPSTREAM_BAD_RESPONSE:
    'the upstream answered something that is not valid HTTP/1.1; check its port and protocol',
  UPSTREAM_TIMEOUT: "check the upstream app's latency and the route's timeout",
  STREAM_IDLE_TIMEOUT:
    "the request was idle (no byte either way) for the sidecar's stream idle timeout: check whether the upstream app hangs or the client stopped sending; long silent streams need a larger --stream-idle-timeout-ms",
  UPSTREAM_PROTOCOL: "check the protocol declared for the Service's port (http, http2, grpc)",
  REQUEST_HEADERS_TIMEOUT: 'the client did not send a complete request head in time',
  BAD_REQUEST: 'the request was rejected by the strict HTTP/1.1 parser; fix the client',
  BAD_PATH:
    'the path is refused by the normalisation in front of authorization (encoded slash, backslash, ;, NUL, fragment, double encoding); send the plain path',
  ACCESS_DENIED:
    'an AuthorizationPolicy of the destination refuses this request (trellis get authorizationpolicies)',
  UNAUTHENTICATED:
    "the request's JWT is invalid for the destination's RequestAuthentication; send a valid token or none",
  INTERNAL: 'this is a bug in the sidecar; please report it with the sidecar logs',
};

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** A failure on the request path, thrown or passed to `rescue`. */
export class ProxyError extends Error {
  readonly status: number;
  constructor(
    readonly code: ProxyErrorCode,
    readonly detail: string,
    status?: number,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'ProxyError';
    this.status = status ?? STATUS[code];
  }
}

/** Any error to a ProxyError: parse errors keep the status they carry (400/413/414/431/501/505, 502 upstream). */
export function toProxyError(e: unknown): ProxyError {
  if (e instanceof ProxyError) return e;
  if (e instanceof H1ParseError) {
    return e.side === 'request'
      ? new ProxyError('BAD_REQUEST', `${e.code}`, e.status)
      : new ProxyError('UPSTREAM_BAD_RESPONSE', `${e.code}`);
  }
  return new ProxyError('INTERNAL', e instanceof Error ? e.message : String(e));
}

/** The body text; keep the ASCII subset so the response stays latin1-safe. */
function bodyText(err: ProxyError, nodeId: string): string {
  const detail = err.detail.replace(/[^\x20-\x7e]/g, '?');
  return `${err.code}: ${detail} at sidecar ${nodeId}; ${HINT[err.code]}\n`;
}

/** A 401 names the scheme it wants (RFC 6750): a bearer token, and that the one sent was not valid. */
const WWW_AUTHENTICATE = 'Bearer realm="trellis", error="invalid_token"';

/** The complete HTTP/1.1 response for a failure (keep-alive unless `close`). */
export function rescue(
  e: unknown,
  nodeId: string,
  close: boolean,
): { status: number; bytes: Buffer; code: string } {
  const err = toProxyError(e);
  const body = bodyText(err, nodeId);
  const head =
    `HTTP/1.1 ${err.status} ${REASON[err.status] ?? 'Error'}\r\n` +
    `x-trellis-error: ${err.code}; sidecar=${nodeId}\r\n` +
    `content-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body, 'latin1')}\r\n` +
    (err.code === 'UNAUTHENTICATED' ? `www-authenticate: ${WWW_AUTHENTICATE}\r\n` : '') +
    (close ? 'connection: close\r\n' : '') +
    '\r\n';
  return { status: err.status, bytes: Buffer.from(head + body, 'latin1'), code: err.code };
}

/**
 * gRPC status per code for the sidecar's own errors on gRPC requests (gRPC's HTTP-to-status mapping
 * where it has one): no route is UNIMPLEMENTED (the method is not served here, like an HTTP 404),
 * every upstream availability failure is UNAVAILABLE (retryable by clients), timeouts DEADLINE_EXCEEDED
 * (the stream idle timeout too: like a route timeout, it ends a call that took too long; Envoy's
 * HTTP 504 → UNAVAILABLE would invite clients to retry at once against a hung app).
 */
const GRPC_STATUS: Record<ProxyErrorCode, number> = {
  NO_ROUTE: 12,
  CLUSTER_NOT_FOUND: 14,
  NO_HEALTHY_UPSTREAM: 14,
  UPSTREAM_CONNECT_FAILED: 14,
  UPSTREAM_RESET: 14,
  UPSTREAM_BAD_RESPONSE: 13,
  UPSTREAM_TIMEOUT: 4,
  STREAM_IDLE_TIMEOUT: 4,
  UPSTREAM_PROTOCOL: 12,
  REQUEST_HEADERS_TIMEOUT: 4,
  BAD_REQUEST: 13,
  BAD_PATH: 13,
  ACCESS_DENIED: 7,
  UNAUTHENTICATED: 16,
  INTERNAL: 13,
};

/** gRPC's percent-encoding of grpc-message: bytes outside 0x20..0x7e, and `%`, become %XX. */
function grpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A failure as HTTP/2 response headers: gRPC requests get a trailers-only status (HTTP 200, no body). */
export function rescueH2(
  e: unknown,
  nodeId: string,
  grpc: boolean,
): {
  status: number;
  grpcStatus: number;
  code: string;
  headers: Record<string, string | number>;
  body: string | null;
} {
  const err = toProxyError(e);
  const text = bodyText(err, nodeId);
  const trellis = `${err.code}; sidecar=${nodeId}`;
  if (grpc) {
    const grpcStatus = GRPC_STATUS[err.code];
    const headers = {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatus),
      'grpc-message': grpcMessage(text.trimEnd()),
      'x-trellis-error': trellis,
    };
    return { status: 200, grpcStatus, code: err.code, headers, body: null };
  }
  const headers: Record<string, string | number> = {
    ':status': err.status,
    'x-trellis-error': trellis,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text, 'latin1'),
  };
  if (err.code === 'UNAUTHENTICATED') headers['www-authenticate'] = WWW_AUTHENTICATE;
  return { status: err.status, grpcStatus: -1, code: err.code, headers, body: text };
}

/** Headers an app outside the mesh edge must not be able to set (identity / our own signals). */
export function isMeshInternalHeader(name: string): boolean {
  return name === 'x-forwarded-client-cert' || name.startsWith('x-trellis-');
}

/**
 * Strips mesh-internal headers in place from a request arriving on the outbound listener: the app
 * is outside the mesh edge, so it could otherwise impersonate a peer (XFCC) or forge our signals.
 * Called by the connection manager before routing (so matches never see them) and forwarding.
 */
export function stripMeshInternalHeaders(headers: string[]): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r] as string;
    if (isMeshInternalHeader(name)) continue;
    if (w !== r) {
      headers[w] = name;
      headers[w + 1] = headers[r + 1] as string;
    }
    w += 2;
  }
  // Only when something went: setting an array's length is a runtime call even when unchanged.
  if (w !== headers.length) headers.length = w;
}
