// matchRoute: the per-request routing decision (pure). Virtual host by authority, then the first
// route whose path, method, headers and query match (Envoy semantics), then the action's decision.
import type { ForwardAction, HeaderMatcher, QueryParamMatcher, RouteTableConfig } from '../config/types.js';
import { redirectLocation, regexRewritePath, replacePrefix } from './rewrite.js';
import { percentDecode, regionEquals, regionEqualsFolded, stringMatches } from './string-match.js';
import {
  type CompiledRoute,
  type CompiledVhost,
  PATH_EXACT,
  PATH_PREFIX,
  PATH_SEPARATED,
  lookupWildcard,
  portColon,
  tableIndex,
  type TableIndex,
} from './table-index.js';
import type { RequestView, RouteDecision } from './types.js';

const NO_MIRRORS: readonly string[] = Object.freeze([]);
const MAX_DETAIL_PATH = 256;

/**
 * The virtual host for an authority: exact domain as sent (with its port), exact without the port,
 * then wildcards on each, then `*`. Allocates only for upper-case or port-less misses.
 */
function findVhost(idx: TableIndex, authority: string): CompiledVhost | undefined {
  // Only `*` (an inbound listener's table): nothing to look up.
  if (idx.exact.size === 0 && idx.suffixes.length === 0 && idx.prefixes.length === 0) return idx.star;
  const host = authority.toLowerCase(); // V8 returns the same string when already lower-case
  const e = idx.exact.get(host);
  if (e !== undefined) return e;
  const c = portColon(host);
  const bare = c >= 0 ? host.slice(0, c) : undefined;
  if (bare !== undefined) {
    const b = idx.exact.get(bare);
    if (b !== undefined) return b;
  }
  return (
    lookupWildcard(idx, host) ?? (bare !== undefined ? lookupWildcard(idx, bare) : undefined) ?? idx.star
  );
}

function pathMatches(cr: CompiledRoute, path: string, pEnd: number): boolean {
  const v = cr.pathValue;
  if (cr.pathKind === PATH_PREFIX || cr.pathKind === PATH_SEPARATED) {
    if (v.length > pEnd) return false;
    if (!(cr.caseSensitive ? regionEquals(path, 0, v) : regionEqualsFolded(path, 0, v))) return false;
    return cr.pathKind === PATH_PREFIX || v.length === pEnd || path.charCodeAt(v.length) === 47; // '/'
  }
  if (cr.pathKind === PATH_EXACT) {
    if (v.length !== pEnd) return false;
    return cr.caseSensitive ? regionEquals(path, 0, v) : regionEqualsFolded(path, 0, v);
  }
  const p = cr.route.match.path;
  return p.type === 'regex' && p.regex.test(pEnd === path.length ? path : path.slice(0, pEnd));
}

/** A header's value, several occurrences joined with ','; pseudo-headers from the view. */
function headerValue(req: RequestView, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* : */) {
    if (name === ':method') return req.method;
    if (name === ':authority') return req.authority;
    if (name === ':path') return req.path;
    if (name === ':scheme') return req.scheme ?? 'http';
    return undefined;
  }
  const h = req.headers;
  let out: string | undefined;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] !== name) continue;
    const v = h[i + 1] ?? '';
    out = out === undefined ? v : `${out},${v}`;
  }
  return out;
}

/** Envoy: an absent header matches only `present` with invert (or present_match: false). */
function headersMatch(req: RequestView, matchers: readonly HeaderMatcher[]): boolean {
  for (const m of matchers) {
    const v = headerValue(req, m.name);
    if (v === undefined) {
      if (!(m.match.type === 'present' && m.invert)) return false;
    } else if (stringMatches(m.match, v) === m.invert) return false;
  }
  return true;
}

/** The first value of query parameter `name` (percent-decoded), '' without `=`, or undefined. */
function queryValue(path: string, q: number, name: string): string | undefined {
  let s = q + 1;
  const n = path.length;
  while (s <= n) {
    let e = path.indexOf('&', s);
    if (e < 0) e = n;
    let eq = path.indexOf('=', s);
    if (eq < 0 || eq > e) eq = e;
    const keyLen = eq - s;
    let key: string | undefined;
    if (keyLen === name.length && regionEquals(path, s, name)) key = name;
    else {
      const pct = path.indexOf('%', s);
      if (pct >= 0 && pct < eq) key = percentDecode(path, s, eq);
    }
    if (key === name) return eq === e ? '' : percentDecode(path, eq + 1, e);
    s = e + 1;
  }
  return undefined;
}

function queryMatches(path: string, q: number, matchers: readonly QueryParamMatcher[]): boolean {
  if (q < 0) return false; // every matcher needs the parameter present
  for (const m of matchers) {
    const v = queryValue(path, q, m.name);
    if (v === undefined || !stringMatches(m.match, v)) return false;
  }
  return true;
}

function pickCluster(a: ForwardAction, random: () => number): string {
  const cs = a.clusters;
  if (cs.length === 1) return (cs[0] as { name: string }).name;
  let r = random() * a.totalWeight;
  for (const c of cs) {
    r -= c.weight;
    if (r < 0) return c.name;
  }
  return (cs[cs.length - 1] as { name: string }).name;
}

function sampleMirrors(a: ForwardAction, random: () => number): readonly string[] {
  if (a.mirrors.length === 0) return NO_MIRRORS;
  let out: string[] | undefined;
  for (const m of a.mirrors)
    if (m.fraction >= 1 || (m.fraction > 0 && random() < m.fraction)) (out ??= []).push(m.cluster);
  return out ?? NO_MIRRORS;
}

function decide(
  cv: CompiledVhost,
  cr: CompiledRoute,
  req: RequestView,
  q: number,
  random: () => number,
): RouteDecision {
  const route = cr.route;
  const a = route.action;
  if (a.type === 'forward') {
    let path = req.path;
    if (a.prefixRewrite !== undefined || a.regexRewrite !== undefined) {
      const p = q < 0 ? path : path.slice(0, q);
      const query = q < 0 ? '' : path.slice(q);
      path =
        (a.prefixRewrite !== undefined
          ? replacePrefix(p, cr, a.prefixRewrite)
          : regexRewritePath(p, a.regexRewrite!)) + query;
    }
    return {
      type: 'forward',
      vhost: cv.vhost,
      route,
      cluster: pickCluster(a, random),
      path,
      authority: a.hostRewrite ?? req.authority,
      timeoutMs: a.timeoutMs,
      backendTimeoutMs: route.backendRequestTimeoutMs ?? 0,
      mirrors: sampleMirrors(a, random),
    };
  }
  if (a.type === 'redirect') {
    const location = redirectLocation(a, cr, req.scheme ?? 'http', req.authority, req.path, q);
    return { type: 'redirect', vhost: cv.vhost, route, status: a.status, location };
  }
  return { type: 'direct_response', vhost: cv.vhost, route, status: a.status, body: a.body ?? '' };
}

function shownPath(path: string, q: number): string {
  const p = q < 0 ? path : path.slice(0, q);
  return p.length > MAX_DETAIL_PATH ? `${p.slice(0, MAX_DETAIL_PATH)}...` : p;
}

/**
 * Routes one request: the virtual host for its authority, the first matching route of it, and
 * that route's decision. `random` (in [0, 1)) drives the weighted cluster pick and mirror sampling.
 */
export function matchRoute(table: RouteTableConfig, req: RequestView, random: () => number): RouteDecision {
  const idx = tableIndex(table);
  const cv = findVhost(idx, req.authority);
  if (cv === undefined) {
    const why =
      req.authority === ''
        ? ' (the request has no Host or :authority)'
        : '; check the Service name and port in the Host header';
    return {
      type: 'no_route',
      reason: 'no_virtual_host',
      detail: `no virtual host for ${JSON.stringify(req.authority.slice(0, MAX_DETAIL_PATH))} in route table ${table.name}${why}`,
    };
  }
  const path = req.path;
  const q = path.indexOf('?');
  const pEnd = q < 0 ? path.length : q;
  for (const cr of cv.routes) {
    if (cr.method !== undefined && cr.method !== req.method) continue;
    if (!pathMatches(cr, path, pEnd)) continue;
    if (cr.hasHeaders && !headersMatch(req, cr.route.match.headers)) continue;
    if (cr.hasQuery && !queryMatches(path, q, cr.route.match.queryParams)) continue;
    return decide(cv, cr, req, q, random);
  }
  return {
    type: 'no_route',
    reason: 'no_route_match',
    detail: `no route on ${cv.vhost.name} matched ${req.method} ${shownPath(path, q)}`,
  };
}
