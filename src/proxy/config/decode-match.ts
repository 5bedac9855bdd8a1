// Decodes an xDS RouteMatch (path, headers, query parameters, `:method`) into RouteMatchConfig.
import {
  type Json,
  fail,
  join,
  objList,
  optBool,
  optObj,
  optStr,
  regexMatcher,
  rejectUnsupported,
  reqStr,
} from './read.js';
import type { HeaderMatcher, PathMatch, QueryParamMatcher, RouteMatchConfig, StringMatch } from './types.js';

/** A StringMatcher (exact | prefix | suffix | contains | safe_regex, ignore_case). */
export function stringMatch(m: Json, path: string): StringMatch {
  const ignoreCase = optBool(m, 'ignore_case', path) ?? false;
  for (const type of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    const v = optStr(m, type, path);
    if (v !== undefined) return { type, value: ignoreCase ? v.toLowerCase() : v, ignoreCase };
  }
  if (m['safe_regex'] !== undefined) {
    if (ignoreCase) fail(join(path, 'ignore_case'), 'not supported with safe_regex');
    return { type: 'regex', regex: regexMatcher(m, 'safe_regex', path) };
  }
  return fail(path, 'one of exact, prefix, suffix, contains, safe_regex is required');
}

export function headerMatcher(h: Json, path: string): HeaderMatcher {
  const name = reqStr(h, 'name', path).toLowerCase();
  rejectUnsupported(
    h,
    ['exact_match', 'safe_regex_match', 'range_match', 'prefix_match', 'suffix_match', 'contains_match'],
    path,
  );
  const invert = optBool(h, 'invert_match', path) ?? false;
  const sm = optObj(h, 'string_match', path);
  if (sm !== undefined) return { name, match: stringMatch(sm, join(path, 'string_match')), invert };
  const present = optBool(h, 'present_match', path);
  if (present !== undefined) return { name, match: { type: 'present' }, invert: present ? invert : !invert };
  return fail(path, 'string_match or present_match is required');
}

function queryMatcher(q: Json, path: string): QueryParamMatcher {
  const name = reqStr(q, 'name', path);
  const sm = optObj(q, 'string_match', path);
  if (sm !== undefined) return { name, match: stringMatch(sm, join(path, 'string_match')) };
  if (optBool(q, 'present_match', path) === true) return { name, match: { type: 'present' } };
  return fail(path, 'string_match or present_match: true is required');
}

function pathMatch(m: Json, path: string): PathMatch {
  const exact = optStr(m, 'path', path);
  if (exact !== undefined) return { type: 'exact', value: exact };
  const prefix = optStr(m, 'prefix', path);
  if (prefix !== undefined) return { type: 'prefix', value: prefix };
  const sep = optStr(m, 'path_separated_prefix', path);
  if (sep !== undefined) {
    const p = join(path, 'path_separated_prefix');
    if (!sep.startsWith('/')) fail(p, 'must start with /');
    if (sep.length > 1 && sep.endsWith('/')) fail(p, 'must not end with /');
    if (/[?#]/.test(sep)) fail(p, 'must not contain ? or #');
    return { type: 'path_separated_prefix', value: sep === '/' ? '' : sep };
  }
  if (m['safe_regex'] !== undefined) return { type: 'regex', regex: regexMatcher(m, 'safe_regex', path) };
  return fail(path, 'one of path, prefix, path_separated_prefix, safe_regex is required');
}

export function decodeRouteMatch(m: Json, path: string): RouteMatchConfig {
  rejectUnsupported(
    m,
    ['connect_matcher', 'path_match_policy', 'grpc', 'tls_context', 'dynamic_metadata'],
    path,
  );
  const frac = optObj(m, 'runtime_fraction', path);
  if (frac !== undefined) fail(join(path, 'runtime_fraction'), 'not supported by the Trellis proxy');
  const headers = objList(m, 'headers', path).map(([h, p]) => headerMatcher(h, p));
  const queryParams = objList(m, 'query_parameters', path).map(([q, p]) => queryMatcher(q, p));
  const caseSensitive = optBool(m, 'case_sensitive', path) ?? true;
  // An exact, case-sensitive, non-inverted `:method` match is lifted out (the common case).
  const mi = headers.findIndex(
    (h) => h.name === ':method' && h.match.type === 'exact' && !h.match.ignoreCase && !h.invert,
  );
  const methodHeader = mi >= 0 ? headers[mi] : undefined;
  const method = methodHeader?.match.type === 'exact' ? methodHeader.match.value : undefined;
  if (mi >= 0) headers.splice(mi, 1);
  let p = pathMatch(m, path);
  if (!caseSensitive && p.type !== 'regex') p = { ...p, value: p.value.toLowerCase() };
  return { path: p, caseSensitive, ...(method !== undefined ? { method } : {}), headers, queryParams };
}
