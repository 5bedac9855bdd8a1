// Routing one HTTP/2 stream: the request head read from the decoded field list in one pass, header
// list size check, strip what the app may not send (outbound), XFCC (inbound), edge headers, the
// listener's security (path normalisation, JWT, RBAC), a RequestView, matchRoute, and on-demand
// virtual hosts asked for once.
import { guardRequest } from '../authz/guard.js';
import { ProxyError, stripMeshInternalHeaders } from '../pipeline/rescue.js';
import { applyEdgeHeaders } from '../pipeline/edge-headers.js';
import { noTable, routeTableFor } from '../pipeline/route-request.js';
import { matchRoute } from '../router/match-route.js';
import type { RequestView } from '../router/types.js';
import type { H2Fields } from './down-stream.js';
import { isGrpcContentType } from './grpc.js';
import type { H2Exchange } from './h2-exchange.js';
import { applyPeerHeader, peerIdentity } from '../tls/peer.js';

/** The value of `name` in response fields (a flat list or a headers object), or undefined. */
export function fieldOf(h: H2Fields, name: string): string | undefined {
  if (!Array.isArray(h)) {
    const v = (h as Record<string, unknown>)[name];
    return v === undefined ? undefined : String(v);
  }
  const f = h as readonly string[];
  for (let i = 0; i < f.length; i += 2) if (f[i] === name) return f[i + 1] as string;
  return undefined;
}

/**
 * One pass over the decoded request field list: the pseudo-headers, content-type (gRPC or not)
 * and grpc-timeout onto the exchange, the header list size, and `ex.flat` (the regular fields
 * without `host`, in order). A repeated field reads as its values joined by ", " (as in node's
 * headers object), `host` too.
 */
export function readRequestHead(ex: H2Exchange, raw: readonly string[]): void {
  const flat: string[] = [];
  let size = 0;
  let host: string | undefined;
  let authority: string | undefined;
  let ct: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    const v = raw[i + 1] as string;
    size += n.length + v.length + 32; // RFC 9113 §6.5.2 accounting
    if (n.charCodeAt(0) === 58 /* ':' */) {
      if (n === ':method') ex.method = v;
      else if (n === ':path') ex.path = v;
      else if (n === ':authority') authority = v;
      else if (n === ':scheme') ex.scheme = v;
      continue;
    }
    if (n === 'host') {
      host = host === undefined ? v : `${host}, ${v}`;
      continue;
    }
    if (n === 'content-type') ct = ct === undefined ? v : `${ct}, ${v}`;
    else if (n === 'grpc-timeout')
      ex.grpcTimeout = ex.grpcTimeout === undefined ? v : `${ex.grpcTimeout}, ${v}`;
    flat.push(n, v);
  }
  ex.authority = authority ?? host ?? '';
  ex.headSize = size;
  ex.flat = flat;
  ex.grpc = isGrpcContentType(ct);
}

/** Routes the exchange's request (read by readRequestHead). */
export function routeH2(ex: H2Exchange, maxHeaderListSize: number): void {
  const lc = ex.lc;
  const plane = lc.plane;
  const method = ex.method;
  if (method === 'CONNECT') throw new ProxyError('BAD_REQUEST', 'CONNECT over HTTP/2 is not supported');
  const authority = ex.authority;
  const flat = ex.flat;
  // node enforces our SETTINGS_MAX_HEADER_LIST_SIZE only once the peer ACKed it: check here too.
  if (ex.headSize > maxHeaderListSize) {
    ex.done = true;
    ex.status = 431;
    ex.ds.close(0xb); // NGHTTP2_ENHANCE_YOUR_CALM (no node:http2 import: it loads on first use)
    return;
  }
  const socket = ex.ds.socket;
  // Edge of the mesh: the app may not set identity or Trellis's own signals.
  if (lc.stripInternal) stripMeshInternalHeaders(flat);
  // Inbound: the verified mTLS peer (if any) replaces whatever x-forwarded-client-cert was sent.
  else if (lc.config.direction === 'inbound') applyPeerHeader(flat, socket);
  if (lc.config.edge === true) applyEdgeHeaders(flat, socket?.remoteAddress, ex.scheme || 'http');
  // Security (normalised path, JWT, authorization): one null check when the listener has none.
  const sec = lc.config.security;
  if (sec === undefined) return matchAndAct(ex, method, authority, ex.path || '/');
  const input = {
    method,
    authority,
    target: ex.path,
    headers: flat,
    localPort: socket?.localPort ?? 0,
    principal: peerIdentity(socket),
  };
  const ctx = { logger: plane.logger, listener: lc.name, nowMs: plane.clock.now() };
  guardRequest(
    sec,
    input,
    ctx,
    ex,
    () => undefined,
    (path) => matchAndAct(ex, method, authority, path),
  );
}

/** Route on `path` (the normalised one when the listener has security): it is what is forwarded. */
function matchAndAct(ex: H2Exchange, method: string, authority: string, path: string): void {
  const lc = ex.lc;
  const plane = lc.plane;
  const flat = ex.flat;
  const cfg = plane.current();
  const table = routeTableFor(cfg, lc);
  if (table === undefined) {
    ex.act({ type: 'no_route', reason: 'no_virtual_host', detail: noTable(lc, cfg) });
    return;
  }
  const view: RequestView = {
    method,
    authority,
    path,
    headers: flat,
    scheme: ex.scheme || 'http',
  };
  const d = matchRoute(table, view, plane.random);
  if (d.type !== 'no_route' || d.reason !== 'no_virtual_host' || !table.onDemand || authority === '') {
    ex.act(d);
    return;
  }
  // On-demand virtual host discovery (VHDS): ask once, then re-match with the then-current config.
  plane.requestVirtualHost(authority.toLowerCase()).then(
    () => {
      if (ex.done) return;
      const t2 = routeTableFor(plane.current(), lc);
      try {
        ex.act(t2 === undefined ? d : matchRoute(t2, view, plane.random));
      } catch (e) {
        ex.fail(e);
      }
    },
    () => ex.act(d),
  );
}
