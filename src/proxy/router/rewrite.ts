// Path rewrites (prefix with Gateway API ReplacePrefixMatch semantics, regex) and redirect Location
// construction. Called only for routes that rewrite or redirect; the plain forward path never is.
import type { RedirectAction, RegexRewrite } from '../config/types.js';
import { PATH_EXACT, PATH_REGEX, type CompiledRoute, portColon } from './table-index.js';

function stripTrailingSlash(s: string): string {
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

/**
 * Replaces the prefix `cr` matched in `path` (no query) with `rep`. Segment-aware like Gateway API's
 * ReplacePrefixMatch: `/foo` -> `/bar` maps `/foo/x` to `/bar/x`, `/foo` -> `/` maps `/foo/x` to `/x`
 * and `/foo` to `/`, never producing `//`. A prefix that ended mid-segment (`/foo` on `/foobar`) is
 * replaced literally, as Envoy does. Exact and regex path matches have the whole path replaced.
 */
export function replacePrefix(path: string, cr: CompiledRoute, rep: string): string {
  if (cr.pathKind === PATH_EXACT || cr.pathKind === PATH_REGEX) return rep === '' ? '/' : rep;
  const v = cr.pathValue;
  const mLen = v.endsWith('/') ? v.length - 1 : v.length;
  const rest = path.slice(mLen);
  if (rest === '' || (mLen === 0 && rest === '/')) return rep === '' ? '/' : rep;
  if (rest.charCodeAt(0) === 47 /* / */) return stripTrailingSlash(rep) + rest;
  return rep + rest;
}

/** Envoy regex_rewrite: applied to the path only; the caller keeps the query. */
export function regexRewritePath(path: string, rr: RegexRewrite): string {
  return rr.regex.replaceAll(path, rr.substitution);
}

/** Splits `path?query` at the `?` index `q` (-1: none) into the path part. */
export function pathPart(path: string, q: number): string {
  return q < 0 ? path : path.slice(0, q);
}

function defaultPort(scheme: string): number {
  return scheme === 'https' ? 443 : scheme === 'http' ? 80 : -1;
}

/**
 * The Location of a redirect (Gateway API RequestRedirect rules): scheme, host and port default to
 * the request's, except that a new scheme without a port uses that scheme's well-known port; the
 * port is left out when it is the scheme's default.
 */
export function redirectLocation(
  a: RedirectAction,
  cr: CompiledRoute,
  scheme: string,
  authority: string,
  path: string,
  q: number,
): string {
  const s = a.scheme ?? scheme;
  const colon = portColon(authority);
  let host = a.host ?? (colon < 0 ? authority : authority.slice(0, colon));
  let port = -1;
  if (a.port !== undefined) port = a.port;
  else if (a.host !== undefined && portColon(a.host) >= 0) {
    const hc = portColon(a.host);
    port = Number(a.host.slice(hc + 1));
    host = a.host.slice(0, hc);
  } else if (a.scheme === undefined && colon >= 0) port = Number(authority.slice(colon + 1));
  const hostPort = port < 0 || port === defaultPort(s) ? host : `${host}:${port}`;
  const p = pathPart(path, q);
  const query = a.stripQuery || q < 0 ? '' : path.slice(q);
  let out: string;
  if (a.path !== undefined) out = a.path.includes('?') ? a.path : a.path + query;
  else if (a.prefixRewrite !== undefined) out = replacePrefix(p, cr, a.prefixRewrite) + query;
  else if (a.regexRewrite !== undefined) out = regexRewritePath(p, a.regexRewrite) + query;
  else out = p + query;
  return `${s}://${hostPort}${out}`;
}
