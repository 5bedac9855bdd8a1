// What a matched route does: backends (cluster / weighted_clusters), timeouts, filters, redirects.
// Sidecars get the full Envoy vocabulary; proxyless gRPC only what it accepts (notes §3).
import type {
  BackendRefConfig,
  GRPCRouteRetryConfig,
  HeaderModifierConfig,
  HTTPRouteFilterConfig,
  HTTPRouteRetryConfig,
  HTTPRouteTimeoutsConfig,
  PathMatchConfig,
  PathModifierConfig,
  ServiceResource,
} from '../api/types.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { defaultPort } from './hosts.js';
import type { NodeKind } from './node.js';
import { outboundClusterName } from './names.js';
import { duration, escapeRegex } from './proto.js';
import { trimPrefix } from './route-match.js';

type Obj = Record<string, unknown>;

export interface RuleInput {
  readonly filters: readonly HTTPRouteFilterConfig[];
  readonly backendRefs: readonly BackendRefConfig[];
  readonly timeouts?: HTTPRouteTimeoutsConfig;
  /** HTTP status codes (HTTPRoute) or gRPC status names (GRPCRoute, a Trellis extension). */
  readonly retry?: HTTPRouteRetryConfig | GRPCRouteRetryConfig;
}

export interface ActionContext {
  readonly services: ReadonlyMap<string, ServiceResource>;
  readonly kind: NodeKind;
  /** The parent Service port the route serves (backends without a port default to it). */
  readonly parentPort: number;
}

/** The cluster a backendRef names, or undefined when it points at nothing valid. */
export function backendCluster(ctx: ActionContext, ref: BackendRefConfig): string | undefined {
  const svc = ctx.services.get(serviceKey(ref.namespace, ref.name));
  if (svc === undefined) return undefined;
  const ports = svc.spec.ports;
  const port =
    ref.port !== undefined
      ? ports.find((p) => p.port === ref.port)
      : (ports.find((p) => p.port === ctx.parentPort) ??
        (ports.length === 1 ? ports[0] : defaultPort(svc, ctx.kind)));
  if (port === undefined) return undefined;
  if (ref.subset !== undefined && !svc.spec.subsets.some((s) => s.name === ref.subset)) return undefined;
  return outboundClusterName(svc.metadata.name, svc.metadata.namespace, port.port, ref.subset ?? '');
}

/** `cluster` for one backend, `weighted_clusters` for several; weight-0 and invalid ones dropped. */
function clusterSpecifier(ctx: ActionContext, refs: readonly BackendRefConfig[]): Obj | undefined {
  const weights = new Map<string, number>();
  for (const ref of refs) {
    if (ref.weight <= 0) continue;
    // Invalid backends are dropped: Gateway API wants their share answered with 500, which
    // neither weighted_clusters nor gRPC can express. The control plane reports them.
    const name = backendCluster(ctx, ref);
    if (name !== undefined) weights.set(name, (weights.get(name) ?? 0) + ref.weight);
  }
  if (weights.size === 0) return undefined;
  if (weights.size === 1) return { cluster: [...weights.keys()][0] };
  return {
    weighted_clusters: {
      clusters: [...weights].map(([name, weight]) => ({ name, weight: weight })),
    },
  };
}

function headersToAdd(mod: HeaderModifierConfig): Obj[] {
  return [
    ...mod.set.map((h) => ({
      header: { key: h.name, value: h.value },
      append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
    })),
    ...mod.add.map((h) => ({
      header: { key: h.name, value: h.value },
      append_action: 'APPEND_IF_EXISTS_OR_ADD',
    })),
  ];
}

/** Header modifier filters as Route fields (sidecars only: gRPC does not modify headers). */
function headerModifiers(filters: readonly HTTPRouteFilterConfig[]): Obj {
  const out: Obj = {};
  for (const f of filters) {
    const [mod, dir] =
      f.type === 'RequestHeaderModifier'
        ? [f.requestHeaderModifier, 'request']
        : f.type === 'ResponseHeaderModifier'
          ? [f.responseHeaderModifier, 'response']
          : [undefined, ''];
    if (mod === undefined) continue;
    const add = headersToAdd(mod);
    if (add.length > 0) out[`${dir}_headers_to_add`] = add;
    if (mod.remove.length > 0) out[`${dir}_headers_to_remove`] = [...mod.remove];
  }
  return out;
}

/**
 * A path modifier as Envoy rewrite fields. ReplacePrefixMatch needs the rule's PathPrefix match;
 * replacing with `/` uses a regex so `/foo/bar` becomes `/bar`, not `//bar`.
 */
function pathRewrite(mod: PathModifierConfig, matchPath: PathMatchConfig | undefined): Obj {
  if (mod.type === 'ReplaceFullPath')
    return { regex_rewrite: { pattern: { regex: '^/.*$' }, substitution: mod.replaceFullPath } };
  if (matchPath?.type !== 'PathPrefix') return {};
  const prefix = trimPrefix(matchPath.value);
  const replacement = trimPrefix(mod.replacePrefixMatch);
  if (replacement === '')
    return { regex_rewrite: { pattern: { regex: `^${escapeRegex(prefix)}/*` }, substitution: '/' } };
  return { prefix_rewrite: prefix === '' ? `${replacement}/` : replacement };
}

const REDIRECT_CODES: Readonly<Record<number, string>> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

function redirectAction(
  r: Extract<HTTPRouteFilterConfig, { type: 'RequestRedirect' }>['requestRedirect'],
  matchPath: PathMatchConfig | undefined,
): Obj {
  const out: Obj = {};
  if (r.scheme !== undefined) out.scheme_redirect = r.scheme;
  if (r.hostname !== undefined) out.host_redirect = r.hostname;
  if (r.port !== undefined) out.port_redirect = r.port;
  if (r.path?.type === 'ReplaceFullPath') out.path_redirect = r.path.replaceFullPath;
  else if (r.path !== undefined) Object.assign(out, pathRewrite(r.path, matchPath));
  out.response_code = REDIRECT_CODES[r.statusCode] ?? 'FOUND';
  return out;
}

const PREVIOUS_HOSTS = {
  name: 'envoy.retry_host_predicates.previous_hosts',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
  },
};

/** `UNAVAILABLE` -> `unavailable`, `RESOURCE_EXHAUSTED` -> `resource-exhausted` (Envoy / gRPC retry_on). */
const grpcRetryOn = (code: string): string => code.toLowerCase().replace(/_/g, '-');

const backOff = (baseMs: number): Obj => ({
  base_interval: duration(baseMs),
  max_interval: duration(baseMs * 10),
});

/**
 * RouteAction.retry_policy for a rule's `retry`. Sidecars: connection failures, refused streams and
 * resets before a response (the proxy replays only bodies it kept, ≤ 64 KiB), the rule's status
 * codes, another endpoint per retry (previous_hosts), per_try_timeout from backendRequest. Proxyless
 * gRPC retries only on gRPC status names and NACKs num_retries 0: anything else is left out.
 */
function retryPolicy(
  retry: HTTPRouteRetryConfig | GRPCRouteRetryConfig,
  sidecar: boolean,
  backendMs: number | undefined,
): Obj | undefined {
  const grpcCodes: string[] = [];
  const httpCodes: number[] = [];
  for (const c of retry.codes as readonly (string | number)[]) {
    if (typeof c === 'string') grpcCodes.push(grpcRetryOn(c));
    else httpCodes.push(c);
  }
  if (!sidecar) {
    if (grpcCodes.length === 0 || retry.attempts === 0) return undefined;
    return {
      retry_on: grpcCodes.join(','),
      num_retries: retry.attempts,
      retry_back_off: backOff(retry.backoffMs),
    };
  }
  const on = ['connect-failure', 'refused-stream', 'reset'];
  if (httpCodes.length > 0) on.push('retriable-status-codes');
  on.push(...grpcCodes);
  const policy: Obj = { retry_on: on.join(','), num_retries: retry.attempts };
  if (httpCodes.length > 0) policy.retriable_status_codes = httpCodes;
  policy.retry_back_off = backOff(retry.backoffMs);
  policy.retry_host_predicate = [PREVIOUS_HOSTS];
  policy.host_selection_retry_max_attempts = '3';
  if (backendMs !== undefined && backendMs > 0) policy.per_try_timeout = duration(backendMs);
  return policy;
}

/**
 * The action part of an xDS Route (everything but `name` and `match`) for one rule, or undefined
 * when this node cannot take it. For proxyless nodes, left out: rules that redirect, and rules
 * with no usable backend (gRPC NACKs `redirect` and `direct_response`); header modifiers,
 * rewrites and mirrors are dropped from the route, since gRPC has no such features.
 */
export function routeAction(
  ctx: ActionContext,
  rule: RuleInput,
  matchPath: PathMatchConfig | undefined,
): Obj | undefined {
  const sidecar = ctx.kind === 'sidecar';
  const redirect = rule.filters.find((f) => f.type === 'RequestRedirect');
  if (redirect !== undefined) {
    if (!sidecar) return undefined;
    return {
      redirect: redirectAction(redirect.requestRedirect, matchPath),
      ...headerModifiers(rule.filters),
    };
  }
  const spec = clusterSpecifier(ctx, rule.backendRefs);
  if (spec === undefined) {
    // Gateway API: a rule with no (valid, weighted) backend answers 500.
    return sidecar ? { direct_response: { status: 500 }, ...headerModifiers(rule.filters) } : undefined;
  }
  const requestMs = rule.timeouts?.requestMs;
  const backendMs = rule.timeouts?.backendRequestMs;
  const retry = rule.retry && retryPolicy(rule.retry, sidecar, backendMs);
  if (!sidecar) {
    const action: Obj = { ...spec };
    if (requestMs !== undefined && requestMs > 0)
      action.max_stream_duration = { max_stream_duration: duration(requestMs) };
    if (retry !== undefined) action.retry_policy = retry;
    return { route: action };
  }
  // Sidecar: no timeout unless configured (Envoy's 15 s default would cut long streams).
  const action: Obj = { ...spec, timeout: duration(requestMs ?? 0) };
  const mirrors: Obj[] = [];
  for (const f of rule.filters) {
    if (f.type === 'URLRewrite') {
      if (f.urlRewrite.hostname !== undefined) action.host_rewrite_literal = f.urlRewrite.hostname;
      if (f.urlRewrite.path !== undefined) Object.assign(action, pathRewrite(f.urlRewrite.path, matchPath));
    } else if (f.type === 'RequestMirror') {
      const cluster = backendCluster(ctx, f.requestMirror.backendRef);
      if (cluster === undefined) continue;
      const pct = f.requestMirror.percent;
      const fraction = Number.isInteger(pct)
        ? { numerator: pct, denominator: 'HUNDRED' }
        : { numerator: Math.round(pct * 10_000), denominator: 'MILLION' };
      mirrors.push({ cluster, runtime_fraction: { default_value: fraction } });
    }
  }
  if (mirrors.length > 0) action.request_mirror_policies = mirrors;
  if (retry !== undefined) action.retry_policy = retry;
  const out: Obj = { route: action, ...headerModifiers(rule.filters) };
  // Envoy's per-attempt timeout lives in retry_policy (per_try_timeout); without a retry policy it
  // is carried as Trellis metadata, which the proxy reads either way.
  if (backendMs !== undefined)
    out.metadata = { filter_metadata: { trellis: { backend_request_timeout_ms: backendMs } } };
  return out;
}
