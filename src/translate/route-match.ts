// Route matches: Gateway API HTTPRoute/GRPCRoute matches -> xDS RouteMatch, per node kind.
// Proxyless gRPC takes only `prefix`/`path`/`safe_regex` paths and ignores query parameters.
import type {
  GRPCMethodMatchConfig,
  GRPCRouteMatchConfig,
  HeaderMatchConfig,
  HTTPRouteMatchConfig,
  PathMatchConfig,
} from '../api/types.js';
import type { NodeKind } from './node.js';
import { escapeRegex } from './proto.js';

type Obj = Record<string, unknown>;

/** A Gateway API PathPrefix without its trailing slashes (`/foo/` means `/foo`); '' for `/`. */
export const trimPrefix = (value: string): string => value.replace(/\/+$/, '');

/**
 * Gateway API prefixes match whole path elements: `/foo` matches `/foo` and `/foo/bar`, not
 * `/foobar`. Sidecars say so with `path_separated_prefix`; gRPC NACKs that field, so proxyless
 * nodes get the same meaning as a whole-string RE2 regex.
 */
function pathMatch(path: PathMatchConfig, kind: NodeKind): Obj {
  switch (path.type) {
    case 'Exact':
      return { path: path.value };
    case 'RegularExpression':
      return { safe_regex: { regex: path.value } };
    case 'PathPrefix': {
      const p = trimPrefix(path.value);
      if (p === '') return { prefix: '/' };
      return kind === 'sidecar'
        ? { path_separated_prefix: p }
        : { safe_regex: { regex: `${escapeRegex(p)}(/.*)?` } };
    }
  }
}

/** A header (or query parameter) matcher. */
export const stringMatcher = (m: HeaderMatchConfig): Obj => ({
  name: m.name,
  string_match: m.type === 'Exact' ? { exact: m.value } : { safe_regex: { regex: m.value } },
});

/**
 * An HTTPRoute match as an xDS RouteMatch, or undefined when this node cannot take it:
 * for proxyless nodes a match on query parameters is left out (gRPC would ignore the condition
 * and match too much), and so is a method match other than POST (gRPC requests are all POST;
 * a POST match is dropped as always true, since gRPC does not expose `:method` to matchers).
 */
export function httpRouteMatch(m: HTTPRouteMatchConfig, kind: NodeKind): Obj | undefined {
  const headers = m.headers.map(stringMatcher);
  if (kind === 'proxyless') {
    if (m.queryParams.length > 0) return undefined;
    if (m.method !== undefined && m.method !== 'POST') return undefined;
  } else if (m.method !== undefined) {
    headers.unshift({ name: ':method', string_match: { exact: m.method } });
  }
  const out: Obj = pathMatch(m.path, kind);
  if (headers.length > 0) out.headers = headers;
  if (kind === 'sidecar' && m.queryParams.length > 0) out.query_parameters = m.queryParams.map(stringMatcher);
  return out;
}

/** The path part of a GRPCRoute method match (`/<service>/<method>`); the same for every node kind. */
function grpcPathMatch(method: GRPCMethodMatchConfig | undefined): Obj {
  if (method === undefined || (method.service === undefined && method.method === undefined))
    return { prefix: '/' };
  const { service: s, method: m } = method;
  if (method.type === 'Exact') {
    if (s !== undefined && m !== undefined) return { path: `/${s}/${m}` };
    if (s !== undefined) return { prefix: `/${s}/` };
    return { safe_regex: { regex: `/[^/]+/${escapeRegex(m ?? '')}` } };
  }
  return { safe_regex: { regex: `/${s ?? '[^/]+'}/${m ?? '[^/]+'}` } };
}

export function grpcRouteMatch(m: GRPCRouteMatchConfig): Obj {
  const out = grpcPathMatch(m.method);
  if (m.headers.length > 0) out.headers = m.headers.map(stringMatcher);
  return out;
}
