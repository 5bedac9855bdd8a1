// Routing one HTTP/2 stream: header list size check, strip what the app may not send (outbound),
// a RequestView from :method/:authority/:path, matchRoute, and on-demand virtual hosts asked for once.
import type { IncomingHttpHeaders } from 'node:http2';
import { guardRequest } from '../authz/guard.js';
import { ProxyError, stripMeshInternalHeaders } from '../pipeline/rescue.js';
import { applyEdgeHeaders } from '../pipeline/edge-headers.js';
import { noTable, routeTableFor } from '../pipeline/route-request.js';
import { matchRoute } from '../router/match-route.js';
import type { RequestView } from '../router/types.js';
import type { H2Exchange } from './h2-exchange.js';
import { applyPeerHeader, peerIdentity } from '../tls/peer.js';

export function routeH2(
  ex: H2Exchange,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  maxHeaderListSize: number,
): void {
  const h = headers;
  const lc = ex.lc;
  const plane = lc.plane;
  const method = h[':method'] ?? '';
  if (method === 'CONNECT') throw new ProxyError('BAD_REQUEST', 'CONNECT over HTTP/2 is not supported');
  const authority = h[':authority'] ?? h['host'] ?? '';
  const raw = rawHeaders;
  const flat: string[] = [];
  let size = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    const v = raw[i + 1] as string;
    size += n.length + v.length + 32; // RFC 9113 §6.5.2 accounting
    if (n.charCodeAt(0) !== 58 /* ':' */ && n !== 'host') flat.push(n, v);
  }
  // node enforces our SETTINGS_MAX_HEADER_LIST_SIZE only once the peer ACKed it: check here too.
  if (size > maxHeaderListSize) {
    ex.done = true;
    ex.status = 431;
    ex.ds.close(0xb); // NGHTTP2_ENHANCE_YOUR_CALM (no node:http2 import: it loads on first use)
    return;
  }
  // Edge of the mesh: the app may not set identity or Trellis's own signals.
  if (lc.stripInternal) stripMeshInternalHeaders(flat);
  // Inbound: the verified mTLS peer (if any) replaces whatever x-forwarded-client-cert was sent.
  else if (lc.config.direction === 'inbound') applyPeerHeader(flat, ex.ds.session?.socket);
  if (lc.config.edge === true)
    applyEdgeHeaders(flat, ex.ds.session?.socket?.remoteAddress, h[':scheme'] ?? 'http');
  ex.flat = flat;
  // Security (normalised path, JWT, authorization): one null check when the listener has none.
  const sec = lc.config.security;
  if (sec === undefined) return matchAndAct(ex, h, method, authority, h[':path'] ?? '/');
  const input = {
    method,
    authority,
    target: h[':path'] ?? '',
    headers: flat,
    localPort: ex.ds.session?.socket?.localPort ?? 0,
    principal: peerIdentity(ex.ds.session?.socket),
  };
  const ctx = { logger: plane.logger, listener: lc.name, nowMs: plane.clock.now() };
  guardRequest(
    sec,
    input,
    ctx,
    ex,
    () => undefined,
    (path) => matchAndAct(ex, h, method, authority, path),
  );
}

/** Route on `path` (the normalised one when the listener has security): it is what is forwarded. */
function matchAndAct(
  ex: H2Exchange,
  h: IncomingHttpHeaders,
  method: string,
  authority: string,
  path: string,
): void {
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
    scheme: h[':scheme'] ?? 'http',
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
