// Decodes xDS Route / VirtualHost / RouteConfiguration JSON into RouteConfig, VirtualHostConfig and
// RouteTableConfig: actions (forward, redirect, direct response), rewrites, mirrors, header mutations.
import { decodeRouteMatch } from './decode-match.js';
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
  regexMatcher,
  rejectUnsupported,
  reqObj,
  reqStr,
} from './read.js';
import type {
  ForwardAction,
  HeaderAppendAction,
  HeaderMutation,
  MirrorPolicy,
  RedirectAction,
  RegexRewrite,
  RetryPolicy,
  RouteActionConfig,
  RouteConfig,
  RouteTableConfig,
  VirtualHostConfig,
} from './types.js';
import { RETRY_ON } from './types.js';

const APPEND_ACTIONS = {
  APPEND_IF_EXISTS_OR_ADD: 'append',
  ADD_IF_ABSENT: 'add_if_absent',
  OVERWRITE_IF_EXISTS_OR_ADD: 'overwrite_if_exists_or_add',
  OVERWRITE_IF_EXISTS: 'overwrite_if_exists',
} as const satisfies Record<string, HeaderAppendAction>;

const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const BAD_VALUE = /[\0\r\n]/;

/** `<dir>_headers_to_add` / `<dir>_headers_to_remove` on a Route or VirtualHost. */
function headerMutation(o: Json, dir: 'request' | 'response', path: string): HeaderMutation {
  const add = objList(o, `${dir}_headers_to_add`, path).map(([h, p]) => {
    const header = reqObj(h, 'header', p);
    const hp = join(p, 'header');
    const name = reqStr(header, 'key', hp).toLowerCase();
    if (!HEADER_NAME.test(name) || name.startsWith(':')) fail(join(hp, 'key'), `invalid header name ${name}`);
    const value = optStr(header, 'value', hp) ?? '';
    if (BAD_VALUE.test(value)) fail(join(hp, 'value'), 'must not contain CR, LF or NUL');
    let action: HeaderAppendAction;
    if (h['append_action'] !== undefined) {
      const a = optEnum(
        h,
        'append_action',
        p,
        Object.keys(APPEND_ACTIONS) as (keyof typeof APPEND_ACTIONS)[],
        'APPEND_IF_EXISTS_OR_ADD',
      );
      action = APPEND_ACTIONS[a];
    } else {
      action = optBool(h, 'append', p) === false ? 'overwrite_if_exists_or_add' : 'append';
    }
    return { name, value, action };
  });
  const remove = arr(o, `${dir}_headers_to_remove`, path).map((v, i) =>
    typeof v === 'string' && v !== ''
      ? v.toLowerCase()
      : fail(join(join(path, `${dir}_headers_to_remove`), i), 'expected a header name'),
  );
  return { add, remove };
}

function regexRewrite(o: Json, key: string, path: string): RegexRewrite | undefined {
  const rr = optObj(o, key, path);
  if (rr === undefined) return undefined;
  const p = join(path, key);
  return { regex: regexMatcher(rr, 'pattern', p), substitution: optStr(rr, 'substitution', p) ?? '' };
}

const DENOMINATORS: Readonly<Record<string, number>> = {
  HUNDRED: 100,
  TEN_THOUSAND: 10_000,
  MILLION: 1_000_000,
};

function mirror(m: Json, path: string): MirrorPolicy {
  const cluster = reqStr(m, 'cluster', path);
  const rf = optObj(m, 'runtime_fraction', path);
  const dv = rf && optObj(rf, 'default_value', join(path, 'runtime_fraction'));
  if (dv === undefined) return { cluster, fraction: 1 };
  const dp = join(join(path, 'runtime_fraction'), 'default_value');
  const num = optInt(dv, 'numerator', dp) ?? 0;
  const den =
    DENOMINATORS[optEnum(dv, 'denominator', dp, ['HUNDRED', 'TEN_THOUSAND', 'MILLION'], 'HUNDRED')] ?? 100;
  return { cluster, fraction: Math.min(1, num / den) };
}

const RETRY_ON_NAMES: Readonly<Record<string, number>> = {
  'connect-failure': RETRY_ON.connectFailure,
  'refused-stream': RETRY_ON.refusedStream,
  reset: RETRY_ON.reset | RETRY_ON.perTryTimeout,
  'reset-before-request': RETRY_ON.reset,
  'retriable-status-codes': RETRY_ON.retriableStatusCodes,
  '5xx':
    RETRY_ON.status5xx |
    RETRY_ON.connectFailure |
    RETRY_ON.refusedStream |
    RETRY_ON.reset |
    RETRY_ON.perTryTimeout,
  'gateway-error': RETRY_ON.gatewayError | RETRY_ON.perTryTimeout,
};
/** gRPC retry_on names -> gRPC status numbers. */
const GRPC_RETRY_ON: Readonly<Record<string, number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};
const MAX_RETRIES = 10;

/** RouteAction.retry_policy: the subset Trellis implements; anything else is NACKed with its path. */
function retryPolicy(r: Json, path: string): RetryPolicy | undefined {
  const rp = optObj(r, 'retry_policy', path);
  if (rp === undefined) return undefined;
  const p = join(path, 'retry_policy');
  rejectUnsupported(
    rp,
    [
      'retry_priority',
      'retriable_headers',
      'retriable_request_headers',
      'rate_limited_retry_back_off',
      'per_try_idle_timeout',
      'retry_options_predicates',
    ],
    p,
  );
  let on = 0;
  const grpc: number[] = [];
  const text = optStr(rp, 'retry_on', p) ?? '';
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const bit = RETRY_ON_NAMES[name];
    const g = GRPC_RETRY_ON[name];
    if (bit !== undefined) on |= bit;
    else if (g !== undefined) grpc.push(g);
    else
      fail(
        join(p, 'retry_on'),
        `unsupported condition ${JSON.stringify(name)} (supported: ${[...Object.keys(RETRY_ON_NAMES), ...Object.keys(GRPC_RETRY_ON)].join(', ')})`,
      );
  }
  const codes = arr(rp, 'retriable_status_codes', p).map((v, i) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 100 && v <= 599
      ? v
      : fail(join(join(p, 'retriable_status_codes'), i), 'expected an HTTP status (100-599)'),
  );
  const bo = optObj(rp, 'retry_back_off', p);
  const bp = join(p, 'retry_back_off');
  const base = (bo && optDurationMs(bo, 'base_interval', bp)) ?? 25;
  if (base <= 0) fail(join(bp, 'base_interval'), 'must be > 0');
  const max = (bo && optDurationMs(bo, 'max_interval', bp)) ?? base * 10;
  if (max < base) fail(join(bp, 'max_interval'), `must be at least base_interval (${base} ms)`);
  for (const [pr, pp] of objList(rp, 'retry_host_predicate', p)) {
    const n = optStr(pr, 'name', pp);
    const t = optObj(pr, 'typed_config', pp)?.['@type'];
    if (n !== 'envoy.retry_host_predicates.previous_hosts' && !String(t).endsWith('.PreviousHostsPredicate'))
      fail(
        pp,
        'only the previous_hosts predicate is supported (Trellis retries prefer untried endpoints anyway)',
      );
  }
  return {
    numRetries: optInt(rp, 'num_retries', p, 0, MAX_RETRIES) ?? 1,
    on,
    statusCodes: codes,
    grpcStatuses: grpc,
    baseIntervalMs: base,
    maxIntervalMs: max,
    perTryTimeoutMs: optDurationMs(rp, 'per_try_timeout', p) ?? 0,
  };
}

function forward(r: Json, path: string): ForwardAction {
  rejectUnsupported(
    r,
    [
      'cluster_header',
      'cluster_specifier_plugin',
      'inline_cluster_specifier_plugin',
      'hash_policy',
      'host_rewrite_header',
      'host_rewrite_path_regex',
      'auto_host_rewrite',
      'path_rewrite_policy',
    ],
    path,
  );
  let clusters: { name: string; weight: number }[];
  const single = optStr(r, 'cluster', path);
  const wc = optObj(r, 'weighted_clusters', path);
  if (single !== undefined && single !== '') clusters = [{ name: single, weight: 1 }];
  else if (wc !== undefined) {
    const wp = join(path, 'weighted_clusters');
    clusters = objList(wc, 'clusters', wp).map(([c, p]) => ({
      name: reqStr(c, 'name', p),
      weight: optInt(c, 'weight', p) ?? 0,
    }));
    clusters = clusters.filter((c) => c.weight > 0);
    if (clusters.length === 0) fail(join(wp, 'clusters'), 'at least one cluster with weight > 0 is required');
  } else return fail(path, 'cluster or weighted_clusters is required');
  const prefixRewrite = optStr(r, 'prefix_rewrite', path);
  const rx = regexRewrite(r, 'regex_rewrite', path);
  if (prefixRewrite !== undefined && rx !== undefined)
    fail(path, 'prefix_rewrite and regex_rewrite are exclusive');
  const hostRewrite = optStr(r, 'host_rewrite_literal', path);
  const retry = retryPolicy(r, path);
  return {
    type: 'forward',
    clusters,
    totalWeight: clusters.reduce((s, c) => s + c.weight, 0),
    // Envoy's default route timeout is 15 s; translate always sets it (0 = none for streams).
    timeoutMs: optDurationMs(r, 'timeout', path) ?? 15_000,
    ...(prefixRewrite !== undefined ? { prefixRewrite } : {}),
    ...(rx !== undefined ? { regexRewrite: rx } : {}),
    ...(hostRewrite !== undefined && hostRewrite !== '' ? { hostRewrite } : {}),
    mirrors: objList(r, 'request_mirror_policies', path).map(([m, p]) => mirror(m, p)),
    ...(retry !== undefined ? { retry } : {}),
  };
}

const REDIRECT_CODES: Readonly<Record<string, number>> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

function redirect(r: Json, path: string): RedirectAction {
  const code = optEnum(r, 'response_code', path, Object.keys(REDIRECT_CODES), 'MOVED_PERMANENTLY');
  const scheme =
    optStr(r, 'scheme_redirect', path) ?? (optBool(r, 'https_redirect', path) ? 'https' : undefined);
  const host = optStr(r, 'host_redirect', path);
  const port = optInt(r, 'port_redirect', path, 0, 65535);
  const p = optStr(r, 'path_redirect', path);
  const prefixRewrite = optStr(r, 'prefix_rewrite', path);
  const rx = regexRewrite(r, 'regex_rewrite', path);
  if ([p, prefixRewrite, rx].filter((x) => x !== undefined).length > 1)
    fail(path, 'only one of path_redirect, prefix_rewrite, regex_rewrite may be set');
  return {
    type: 'redirect',
    ...(scheme ? { scheme } : {}),
    ...(host ? { host } : {}),
    ...(port ? { port } : {}),
    ...(p !== undefined ? { path: p } : {}),
    ...(prefixRewrite !== undefined ? { prefixRewrite } : {}),
    ...(rx !== undefined ? { regexRewrite: rx } : {}),
    stripQuery: optBool(r, 'strip_query', path) ?? false,
    status: REDIRECT_CODES[code] ?? 301,
  };
}

function action(route: Json, path: string): RouteActionConfig {
  const r = optObj(route, 'route', path);
  if (r !== undefined) return forward(r, join(path, 'route'));
  const rd = optObj(route, 'redirect', path);
  if (rd !== undefined) return redirect(rd, join(path, 'redirect'));
  const dr = optObj(route, 'direct_response', path);
  if (dr !== undefined) {
    const dp = join(path, 'direct_response');
    const status = optInt(dr, 'status', dp, 200, 599) ?? fail(join(dp, 'status'), 'required (200-599)');
    const body = optObj(dr, 'body', dp);
    const text =
      body &&
      (optStr(body, 'inline_string', join(dp, 'body')) ??
        fail(join(dp, 'body'), 'only inline_string is supported'));
    return { type: 'direct_response', status, ...(text !== undefined ? { body: text } : {}) };
  }
  return fail(path, 'one of route, redirect, direct_response is required');
}

/** Trellis route metadata: `filter_metadata.trellis.backend_request_timeout_ms`. */
function backendTimeout(route: Json, path: string): number | undefined {
  const md = optObj(route, 'metadata', path);
  const fm = md && optObj(md, 'filter_metadata', join(path, 'metadata'));
  const t = fm?.['trellis'];
  if (!isObj(t)) return undefined;
  return optInt(t, 'backend_request_timeout_ms', join(path, 'metadata.filter_metadata.trellis'), 0, 2 ** 31);
}

export function decodeRoute(route: Json, path: string, index: number): RouteConfig {
  const match = decodeRouteMatch(reqObj(route, 'match', path), join(path, 'match'));
  const act = action(route, path);
  // The per-attempt timeout: retry_policy.per_try_timeout, else Trellis metadata.
  const perTry = act.type === 'forward' ? (act.retry?.perTryTimeoutMs ?? 0) : 0;
  const t = perTry > 0 ? perTry : backendTimeout(route, path);
  return {
    name: optStr(route, 'name', path) || `#${index}`,
    match,
    action: act,
    requestHeaders: headerMutation(route, 'request', path),
    responseHeaders: headerMutation(route, 'response', path),
    ...(t !== undefined ? { backendRequestTimeoutMs: t } : {}),
  };
}

const DOMAIN = /^(\*|\*[^*]+|[^*]+\*|[^*]+)$/;

export function decodeVirtualHost(vh: Json, path = ''): VirtualHostConfig {
  const name = reqStr(vh, 'name', path);
  const domains = arr(vh, 'domains', path).map((d, i) => {
    const p = join(join(path, 'domains'), i);
    if (typeof d !== 'string' || !DOMAIN.test(d))
      fail(p, 'expected a domain (exact, *.suffix, prefix* or *)');
    return d.toLowerCase();
  });
  if (domains.length === 0) fail(join(path, 'domains'), 'at least one domain is required');
  const routes = objList(vh, 'routes', path).map(([r, p], i) => decodeRoute(r, p, i));
  return {
    name,
    domains,
    routes,
    requestHeaders: headerMutation(vh, 'request', path),
    responseHeaders: headerMutation(vh, 'response', path),
  };
}

/** Builds a route table from its virtual hosts (inline, then on-demand ones), indexing exact domains. */
export function buildRouteTable(
  name: string,
  onDemand: boolean,
  virtualHosts: readonly VirtualHostConfig[],
): RouteTableConfig {
  const exactDomains = new Map<string, VirtualHostConfig>();
  for (const vh of virtualHosts)
    for (const d of vh.domains) if (!d.includes('*') && !exactDomains.has(d)) exactDomains.set(d, vh);
  return { name, virtualHosts, exactDomains, onDemand };
}

/** RouteConfiguration -> its name, inline virtual hosts and whether VHDS adds more. */
export function decodeRouteConfiguration(
  rc: Json,
  path = '',
): { name: string; virtualHosts: VirtualHostConfig[]; onDemand: boolean } {
  const name = reqStr(rc, 'name', path);
  const seen = new Set<string>();
  const virtualHosts = objList(rc, 'virtual_hosts', path).map(([vh, p]) => {
    const v = decodeVirtualHost(vh, p);
    for (const [i, d] of v.domains.entries()) {
      if (seen.has(d)) fail(join(join(p, 'domains'), i), `domain ${d} appears in more than one virtual host`);
      seen.add(d);
    }
    return v;
  });
  return { name, virtualHosts, onDemand: optObj(rc, 'vhds', path) !== undefined };
}
