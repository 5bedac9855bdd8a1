// Decodes an HTTP connection manager's security into ListenerSecurityConfig: path normalisation
// (normalize_path, merge_slashes, path_with_escaped_slashes_action), the jwt_authn filter
// (JwtAuthentication) and rbac filters (RBAC: rules ALLOW/DENY/LOG, shadow_rules as LOG).
// Anything not implemented is a NACK with its field path, never silently ignored.
import { jwksUriError } from '../authz/jwks-source.js';
import { parseJwks } from '../authz/jwt.js';
import { STRICT_NORMALIZATION, type NormalizeOptions } from '../authz/normalize-path.js';
import type {
  AuthzMatcher,
  JwksSpec,
  JwtAuthnConfig,
  JwtProviderConfig,
  ListenerSecurityConfig,
  RbacFilterConfig,
  RbacPolicyConfig,
  ValueMatch,
} from '../authz/types.js';
import { headerMatcher, stringMatch } from './decode-match.js';
import {
  type Json,
  arr,
  fail,
  isObj,
  join,
  objList,
  optBool,
  optDurationMs,
  optEnum,
  optInt,
  optObj,
  optStr,
  reqObj,
  reqStr,
} from './read.js';

export const RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const JWT_AUTHN_TYPE =
  'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';

/** Fails on any set field not in `allowed` (unset: absent, null, [], false, '', 0). */
function onlyKeys(o: Json, allowed: readonly string[], path: string): void {
  for (const [k, v] of Object.entries(o)) {
    if (k === '@type' || allowed.includes(k)) continue;
    if (v === undefined || v === null || v === false || v === '' || v === 0) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    fail(join(path, k), `not supported by the Trellis proxy (supported: ${allowed.join(', ')})`);
  }
}

/** Exactly one of the given keys is set; returns it. */
function oneKey(o: Json, keys: readonly string[], path: string): string {
  const set = keys.filter((k) => o[k] !== undefined && o[k] !== null);
  if (set.length !== 1) fail(path, `exactly one of ${keys.join(', ')} is required`);
  return set[0] as string;
}

// ---------------------------------------------------------------- RBAC

const PERMISSION_KEYS = [
  'and_rules',
  'or_rules',
  'any',
  'header',
  'url_path',
  'destination_port',
  'not_rule',
  'metadata',
];
const PRINCIPAL_KEYS = [
  'and_ids',
  'or_ids',
  'any',
  'authenticated',
  'header',
  'url_path',
  'not_id',
  'metadata',
];

function valueMatch(v: Json, path: string): ValueMatch {
  onlyKeys(v, ['string_match', 'present_match', 'bool_match', 'double_match', 'list_match'], path);
  const k = oneKey(v, ['string_match', 'present_match', 'bool_match', 'double_match', 'list_match'], path);
  const p = join(path, k);
  switch (k) {
    case 'string_match':
      return { t: 'string', m: stringMatch(reqObj(v, k, path), p) };
    case 'present_match':
      if (optBool(v, k, path) !== true) fail(p, 'must be true');
      return { t: 'present' };
    case 'bool_match':
      return { t: 'bool', value: optBool(v, k, path) ?? false };
    case 'double_match': {
      const d = reqObj(v, k, path);
      onlyKeys(d, ['exact'], p);
      const e = d['exact'];
      if (typeof e !== 'number') fail(join(p, 'exact'), 'only exact double matches are supported');
      return { t: 'number', value: e };
    }
    default: {
      const l = reqObj(v, k, path);
      onlyKeys(l, ['one_of'], p);
      return { t: 'list', oneOf: valueMatch(reqObj(l, 'one_of', p), join(p, 'one_of')) };
    }
  }
}

function metadataMatcher(m: Json, path: string): AuthzMatcher {
  onlyKeys(m, ['filter', 'path', 'value', 'invert'], path);
  const keys = objList(m, 'path', path).map(([s, sp]) => {
    onlyKeys(s, ['key'], sp);
    return reqStr(s, 'key', sp);
  });
  if (keys.length === 0) fail(join(path, 'path'), 'at least one path segment is required');
  return {
    t: 'metadata',
    filter: reqStr(m, 'filter', path),
    path: keys,
    value: valueMatch(reqObj(m, 'value', path), join(path, 'value')),
    invert: optBool(m, 'invert', path) ?? false,
  };
}

function urlPath(m: Json, path: string): AuthzMatcher {
  onlyKeys(m, ['path'], path);
  return { t: 'path', m: stringMatch(reqObj(m, 'path', path), join(path, 'path')) };
}

function permission(p: Json, path: string): AuthzMatcher {
  onlyKeys(p, PERMISSION_KEYS, path);
  const k = oneKey(p, PERMISSION_KEYS, path);
  const kp = join(path, k);
  switch (k) {
    case 'and_rules':
    case 'or_rules': {
      const set = reqObj(p, k, path);
      onlyKeys(set, ['rules'], kp);
      const of = objList(set, 'rules', kp).map(([r, rp]) => permission(r, rp));
      return { t: k === 'and_rules' ? 'and' : 'or', of };
    }
    case 'any':
      if (optBool(p, 'any', path) !== true) fail(kp, 'must be true');
      return { t: 'any' };
    case 'header':
      return { t: 'header', h: headerMatcher(reqObj(p, k, path), kp) };
    case 'url_path':
      return urlPath(reqObj(p, k, path), kp);
    case 'destination_port':
      return { t: 'port', port: optInt(p, k, path, 0, 65535) ?? 0 };
    case 'not_rule':
      return { t: 'not', m: permission(reqObj(p, k, path), kp) };
    default:
      return metadataMatcher(reqObj(p, k, path), kp);
  }
}

function principal(p: Json, path: string): AuthzMatcher {
  onlyKeys(p, PRINCIPAL_KEYS, path);
  const k = oneKey(p, PRINCIPAL_KEYS, path);
  const kp = join(path, k);
  switch (k) {
    case 'and_ids':
    case 'or_ids': {
      const set = reqObj(p, k, path);
      onlyKeys(set, ['ids'], kp);
      const of = objList(set, 'ids', kp).map(([r, rp]) => principal(r, rp));
      return { t: k === 'and_ids' ? 'and' : 'or', of };
    }
    case 'any':
      if (optBool(p, 'any', path) !== true) fail(kp, 'must be true');
      return { t: 'any' };
    case 'authenticated': {
      const a = reqObj(p, k, path);
      onlyKeys(a, ['principal_name'], kp);
      const pn = optObj(a, 'principal_name', kp);
      return pn === undefined
        ? { t: 'principal' }
        : { t: 'principal', m: stringMatch(pn, join(kp, 'principal_name')) };
    }
    case 'header':
      return { t: 'header', h: headerMatcher(reqObj(p, k, path), kp) };
    case 'url_path':
      return urlPath(reqObj(p, k, path), kp);
    case 'not_id':
      return { t: 'not', m: principal(reqObj(p, k, path), kp) };
    default:
      return metadataMatcher(reqObj(p, k, path), kp);
  }
}

function rbacRules(r: Json, path: string, forceLog: boolean): RbacFilterConfig {
  onlyKeys(r, ['action', 'policies'], path);
  const action = optEnum(r, 'action', path, ['ALLOW', 'DENY', 'LOG'], 'ALLOW');
  const raw = optObj(r, 'policies', path) ?? {};
  const policies: RbacPolicyConfig[] = Object.keys(raw)
    .sort()
    .map((name) => {
      const pp = join(join(path, 'policies'), name);
      const pol = raw[name];
      if (!isObj(pol)) return fail(pp, 'expected an object');
      onlyKeys(pol, ['permissions', 'principals'], pp);
      const permissions = objList(pol, 'permissions', pp).map(([x, xp]) => permission(x, xp));
      const principals = objList(pol, 'principals', pp).map(([x, xp]) => principal(x, xp));
      if (permissions.length === 0) fail(join(pp, 'permissions'), 'at least one permission is required');
      if (principals.length === 0) fail(join(pp, 'principals'), 'at least one principal is required');
      return { name, permissions, principals };
    });
  return { action: forceLog ? 'LOG' : action, policies };
}

/** One rbac filter: `rules` enforce (absent: the filter does nothing), `shadow_rules` only audit. */
export function decodeRbac(tc: Json, path: string): RbacFilterConfig[] {
  onlyKeys(tc, ['rules', 'shadow_rules', 'shadow_rules_stat_prefix', 'track_per_rule_stats'], path);
  const out: RbacFilterConfig[] = [];
  const rules = optObj(tc, 'rules', path);
  if (rules !== undefined) out.push(rbacRules(rules, join(path, 'rules'), false));
  const shadow = optObj(tc, 'shadow_rules', path);
  if (shadow !== undefined) out.push(rbacRules(shadow, join(path, 'shadow_rules'), true));
  return out;
}

// ---------------------------------------------------------------- jwt_authn

const DEFAULT_JWKS_REFRESH_MS = 5 * 60_000;
const DEFAULT_JWKS_TIMEOUT_MS = 1000;

function jwks(p: Json, path: string): JwksSpec {
  const k = oneKey(p, ['local_jwks', 'remote_jwks'], path);
  const kp = join(path, k);
  const src = reqObj(p, k, path);
  if (k === 'local_jwks') {
    onlyKeys(src, ['inline_string', 'filename'], kp);
    const which = oneKey(src, ['inline_string', 'filename'], kp);
    const v = reqStr(src, which, kp);
    if (which === 'filename') {
      if (!v.startsWith('/')) fail(join(kp, 'filename'), 'must be an absolute path');
      return { type: 'file', path: v, refreshMs: DEFAULT_JWKS_REFRESH_MS };
    }
    try {
      return { type: 'inline', keys: parseJwks(v) };
    } catch (e) {
      return fail(join(kp, 'inline_string'), e instanceof Error ? e.message : String(e));
    }
  }
  onlyKeys(src, ['http_uri', 'cache_duration'], kp);
  const hu = reqObj(src, 'http_uri', kp);
  const hp = join(kp, 'http_uri');
  onlyKeys(hu, ['uri', 'cluster', 'timeout'], hp);
  const uri = reqStr(hu, 'uri', hp);
  const bad = jwksUriError(uri);
  if (bad !== undefined) fail(join(hp, 'uri'), bad);
  return {
    type: 'uri',
    uri,
    refreshMs: optDurationMs(src, 'cache_duration', kp) || DEFAULT_JWKS_REFRESH_MS,
    timeoutMs: optDurationMs(hu, 'timeout', hp) || DEFAULT_JWKS_TIMEOUT_MS,
  };
}

function provider(name: string, p: Json, path: string): JwtProviderConfig {
  onlyKeys(
    p,
    [
      'issuer',
      'audiences',
      'local_jwks',
      'remote_jwks',
      'forward',
      'from_headers',
      'payload_in_metadata',
      'clock_skew_seconds',
    ],
    path,
  );
  const issuer = reqStr(p, 'issuer', path);
  const audiences = arr(p, 'audiences', path).map((a, i) =>
    typeof a === 'string' ? a : fail(join(join(path, 'audiences'), i), 'expected a string'),
  );
  const fromHeaders = objList(p, 'from_headers', path).map(([h, hp]) => {
    onlyKeys(h, ['name', 'value_prefix'], hp);
    return { name: reqStr(h, 'name', hp).toLowerCase(), prefix: optStr(h, 'value_prefix', hp) ?? '' };
  });
  return {
    name,
    issuer,
    audiences,
    jwks: jwks(p, path),
    fromHeaders: fromHeaders.length > 0 ? fromHeaders : [{ name: 'authorization', prefix: 'Bearer ' }],
    forward: optBool(p, 'forward', path) ?? false,
    clockSkewSec: optInt(p, 'clock_skew_seconds', path, 0, 3600) ?? 60,
    payloadInMetadata: optStr(p, 'payload_in_metadata', path) ?? name,
  };
}

/**
 * JwtAuthentication: providers, and one rule for every path whose requirement is `requires_any`
 * of provider names plus `allow_missing` (a request without a token passes; an invalid one is
 * refused: Istio's RequestAuthentication). Other requirement shapes are not implemented.
 */
export function decodeJwtAuthn(tc: Json, path: string): JwtAuthnConfig {
  onlyKeys(tc, ['providers', 'rules'], path);
  const raw = optObj(tc, 'providers', path) ?? {};
  const providers = Object.keys(raw)
    .sort()
    .map((name) => {
      const pp = join(join(path, 'providers'), name);
      const v = raw[name];
      return isObj(v) ? provider(name, v, pp) : fail(pp, 'expected an object');
    });
  if (providers.length === 0) fail(join(path, 'providers'), 'at least one provider is required');
  const rules = objList(tc, 'rules', path);
  if (rules.length !== 1) fail(join(path, 'rules'), 'exactly one rule (match prefix "/") is supported');
  const [rule, rp] = rules[0] as [Json, string];
  onlyKeys(rule, ['match', 'requires'], rp);
  const match = reqObj(rule, 'match', rp);
  if (optStr(match, 'prefix', join(rp, 'match')) !== '/' || Object.keys(match).length !== 1)
    fail(join(rp, 'match'), 'only {prefix: "/"} is supported');
  const req = reqObj(rule, 'requires', rp);
  const qp = join(rp, 'requires');
  onlyKeys(req, ['requires_any'], qp);
  const reqs = objList(reqObj(req, 'requires_any', qp), 'requirements', join(qp, 'requires_any'));
  let allowMissing = false;
  for (const [r, p] of reqs) {
    onlyKeys(r, ['provider_name', 'allow_missing'], p);
    if (r['allow_missing'] !== undefined) {
      allowMissing = true;
      continue;
    }
    const n = reqStr(r, 'provider_name', p);
    if (!providers.some((x) => x.name === n))
      fail(join(p, 'provider_name'), `no provider named ${JSON.stringify(n)}`);
  }
  if (!allowMissing)
    fail(
      join(qp, 'requires_any.requirements'),
      'must include {allow_missing: {}} (policies require tokens, not authentication)',
    );
  return { providers };
}

// ---------------------------------------------------------------- the HCM

export function normalization(hcm: Json, path: string): NormalizeOptions | undefined {
  if (optBool(hcm, 'normalize_path', path) !== true) return undefined;
  const action = optEnum(
    hcm,
    'path_with_escaped_slashes_action',
    path,
    ['IMPLEMENTATION_SPECIFIC_DEFAULT', 'KEEP_UNCHANGED', 'REJECT_REQUEST'],
    'IMPLEMENTATION_SPECIFIC_DEFAULT',
  );
  return {
    ...STRICT_NORMALIZATION,
    mergeSlashes: optBool(hcm, 'merge_slashes', path) ?? false,
    escapedSlashes: action === 'KEEP_UNCHANGED' ? 'keep' : 'reject',
  };
}

/**
 * The security of an HCM from its normalisation fields and its http_filters (in order: jwt_authn
 * before rbac). Undefined when it has none. Authorization without normalize_path is refused: the
 * policy and the app would not see the same path.
 */
export function decodeSecurity(
  hcm: Json,
  path: string,
  filters: readonly [Json, string][],
): ListenerSecurityConfig | undefined {
  const norm = normalization(hcm, path);
  let jwt: JwtAuthnConfig | undefined;
  const rbac: RbacFilterConfig[] = [];
  for (const [f, fp] of filters) {
    const tc = optObj(f, 'typed_config', fp);
    const t = tc?.['@type'];
    const tp = join(fp, 'typed_config');
    if (t === JWT_AUTHN_TYPE && tc !== undefined) {
      if (jwt !== undefined) fail(fp, 'only one jwt_authn filter is supported');
      if (rbac.length > 0) fail(fp, 'jwt_authn must come before rbac filters');
      jwt = decodeJwtAuthn(tc, tp);
    } else if (t === RBAC_TYPE && tc !== undefined) rbac.push(...decodeRbac(tc, tp));
  }
  if (norm === undefined) {
    if (jwt !== undefined || rbac.length > 0)
      fail(join(path, 'normalize_path'), 'must be true when jwt_authn or rbac filters are present');
    return undefined;
  }
  return { normalization: norm, ...(jwt !== undefined && { jwt }), rbac };
}
