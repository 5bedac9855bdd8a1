// Routing one request: strip what the app may not send (outbound), pick the listener's route table
// from the config current when the head arrived, matchRoute, and ask for unknown virtual hosts once.
import { guardRequest } from '../authz/guard.js';
import type { ProxyConfig, RouteTableConfig } from '../config/types.js';
import { matchRoute } from '../router/match-route.js';
import type { RequestView } from '../router/types.js';
import type { H1Exchange } from './h1-exchange.js';
import { applyEdgeHeaders } from './edge-headers.js';
import { stripMeshInternalHeaders } from './rescue.js';
import type { ListenerContext } from './types.js';
import { applyPeerHeader, peerIdentity } from '../tls/peer.js';

export function routeTableFor(cfg: ProxyConfig, lc: ListenerContext): RouteTableConfig | undefined {
  const l = cfg.listeners.get(lc.name) ?? lc.config;
  const src = l.routeSource;
  return src.type === 'inline' ? src.routeTable : cfg.routeTables.get(src.routeConfigName);
}

export function noTable(lc: ListenerContext, cfg: ProxyConfig): string {
  const l = cfg.listeners.get(lc.name) ?? lc.config;
  const src = l.routeSource;
  return src.type === 'rds'
    ? `listener ${lc.name} has not received route table ${src.routeConfigName} yet`
    : `listener ${lc.name} has no route table`;
}

/** The scheme of an origin-form request: https on an edge TLS connection (a gateway's HTTPS port). */
const schemeOf = (lc: { config: { edge?: boolean } }, socket: object): string =>
  lc.config.edge === true && (socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';

export function routeRequest(ex: H1Exchange): void {
  const lc = ex.dc.listener;
  const plane = lc.plane;
  const head = ex.head;
  // Edge of the mesh: on the outbound listener the request comes from the app, which must not be
  // able to set identity (x-forwarded-client-cert) or Trellis's own x-trellis-* signals.
  if (lc.stripInternal) stripMeshInternalHeaders(head.headers);
  // Inbound: the verified mTLS peer (if any) replaces whatever x-forwarded-client-cert was sent.
  else if (lc.config.direction === 'inbound') applyPeerHeader(head.headers, ex.dc.socket);
  if (lc.config.edge === true)
    applyEdgeHeaders(head.headers, ex.dc.socket.remoteAddress, head.scheme ?? schemeOf(lc, ex.dc.socket));
  // Security (normalised path, JWT, authorization): one null check when the listener has none.
  const sec = lc.config.security;
  if (sec === undefined) return matchAndAct(ex, head.path);
  const input = {
    method: head.method,
    authority: head.authority,
    target: head.path,
    headers: head.headers,
    localPort: ex.dc.socket.localPort ?? 0,
    principal: peerIdentity(ex.dc.socket),
  };
  const ctx = { logger: plane.logger, listener: lc.name, nowMs: plane.clock.now() };
  guardRequest(
    sec,
    input,
    ctx,
    ex,
    () => ex.dc.holdRequest(),
    (path) => matchAndAct(ex, path),
  );
}

/** Route on `path` (the normalised one when the listener has security): it is what is forwarded. */
function matchAndAct(ex: H1Exchange, path: string): void {
  const lc = ex.dc.listener;
  const plane = lc.plane;
  const head = ex.head;
  const cfg = plane.current();
  const table = routeTableFor(cfg, lc);
  if (table === undefined) {
    ex.act({ type: 'no_route', reason: 'no_virtual_host', detail: noTable(lc, cfg) });
    return;
  }
  const view: RequestView = {
    method: head.method,
    authority: head.authority,
    path,
    headers: head.headers,
    scheme: head.scheme ?? schemeOf(lc, ex.dc.socket),
  };
  const d = matchRoute(table, view, plane.random);
  if (d.type !== 'no_route' || d.reason !== 'no_virtual_host' || !table.onDemand || head.authority === '') {
    ex.act(d);
    return;
  }
  // On-demand virtual host discovery (VHDS): ask once, then re-match with the then-current config.
  ex.dc.holdRequest();
  plane.requestVirtualHost(head.authority.toLowerCase()).then(
    () => {
      if (ex.done) return;
      const cfg2 = plane.current();
      const t2 = routeTableFor(cfg2, lc);
      try {
        ex.act(t2 === undefined ? d : matchRoute(t2, view, plane.random));
      } catch (e) {
        ex.fail(e);
      }
    },
    () => ex.act(d),
  );
}
