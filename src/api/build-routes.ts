// Builds defaulted HTTPRouteResource / GRPCRouteResource values from schema-valid documents:
// references get group/kind/namespace, matches their defaults, header names are lower-cased.
import { resolveBackendRef, resolveParentRef } from './refs.js';
import { buildMetadata } from './build-service.js';
import type {
  BackendObjectRefSpec,
  BackendRefSpec,
  HeaderMatchSpec,
  HeaderModifierSpec,
  ParentRefSpec,
  RequestMirrorSpec,
} from './schema-common.js';
import type {
  GRPCRetrySpec,
  GRPCRouteDoc,
  HTTPFilterSpec,
  HTTPRetrySpec,
  HTTPRouteDoc,
  PathModifierSpec,
} from './schema-routes.js';
import type {
  BackendRefConfig,
  GRPCRetryCode,
  GRPCRouteFilterConfig,
  GRPCRouteResource,
  GRPCRouteRetryConfig,
  HeaderMatchConfig,
  HeaderModifierConfig,
  HTTPRouteFilterConfig,
  HTTPRouteMatchConfig,
  HTTPRouteResource,
  HTTPRouteRetryConfig,
  ParentRefConfig,
  PathModifierConfig,
} from './types.js';
import { GATEWAY_API_VERSION } from './types.js';

const DEFAULT_HTTP_MATCH: HTTPRouteMatchConfig = {
  path: { type: 'PathPrefix', value: '/' },
  headers: [],
  queryParams: [],
};

function parentRef(p: ParentRefSpec, ns: string): ParentRefConfig {
  const r = resolveParentRef(p.group, p.kind);
  if (!r.ok) throw new Error(`unchecked parentRef: ${r.message}`); // checks-routes.ts rejects these
  return {
    group: r.group,
    kind: r.kind,
    name: p.name,
    namespace: p.namespace ?? ns,
    ...(p.port !== undefined && { port: p.port }),
    ...(p.sectionName !== undefined && { sectionName: p.sectionName }),
  };
}

function backendRef(b: BackendObjectRefSpec & { weight?: number | undefined }, ns: string): BackendRefConfig {
  const r = resolveBackendRef(b.group, b.kind);
  if (!r.ok) throw new Error(`unchecked backendRef: ${r.message}`);
  return {
    group: r.group,
    kind: r.kind,
    name: b.name,
    namespace: b.namespace ?? ns,
    ...(b.port !== undefined && { port: b.port }),
    ...(b.subset !== undefined && { subset: b.subset }),
    weight: b.weight ?? 1,
  };
}

const backendRefs = (list: readonly BackendRefSpec[] | undefined, ns: string): BackendRefConfig[] =>
  (list ?? []).map((b) => backendRef(b, ns));

function headerMatch(h: HeaderMatchSpec, lower: boolean): HeaderMatchConfig {
  return { type: h.type ?? 'Exact', name: lower ? h.name.toLowerCase() : h.name, value: h.value };
}

function headerModifier(m: HeaderModifierSpec): HeaderModifierConfig {
  const values = (l: typeof m.set) => (l ?? []).map((h) => ({ name: h.name.toLowerCase(), value: h.value }));
  return { set: values(m.set), add: values(m.add), remove: (m.remove ?? []).map((n) => n.toLowerCase()) };
}

function pathModifier(p: PathModifierSpec): PathModifierConfig {
  return p.type === 'ReplaceFullPath'
    ? { type: p.type, replaceFullPath: p.replaceFullPath ?? '/' }
    : { type: p.type, replacePrefixMatch: p.replacePrefixMatch ?? '/' };
}

function mirror(m: RequestMirrorSpec, ns: string) {
  const { fraction } = m;
  // A fraction becomes a percent with 4 decimals (a resolution of one in a million requests).
  const share = fraction ? fraction.numerator / (fraction.denominator ?? 100) : 1;
  const percent = m.percent ?? Math.round(share * 1_000_000) / 10_000;
  return { backendRef: backendRef(m.backendRef, ns), percent };
}

function httpFilter(f: HTTPFilterSpec, ns: string): HTTPRouteFilterConfig {
  const missing = () => new Error(`unchecked ${f.type} filter`); // checks-routes.ts rejects these
  switch (f.type) {
    case 'RequestHeaderModifier':
      if (!f.requestHeaderModifier) throw missing();
      return { type: f.type, requestHeaderModifier: headerModifier(f.requestHeaderModifier) };
    case 'ResponseHeaderModifier':
      if (!f.responseHeaderModifier) throw missing();
      return { type: f.type, responseHeaderModifier: headerModifier(f.responseHeaderModifier) };
    case 'URLRewrite': {
      const u = f.urlRewrite;
      if (!u) throw missing();
      return {
        type: f.type,
        urlRewrite: {
          ...(u.hostname !== undefined && { hostname: u.hostname.toLowerCase() }),
          ...(u.path !== undefined && { path: pathModifier(u.path) }),
        },
      };
    }
    case 'RequestRedirect': {
      const r = f.requestRedirect;
      if (!r) throw missing();
      return {
        type: f.type,
        requestRedirect: {
          ...(r.scheme !== undefined && { scheme: r.scheme }),
          ...(r.hostname !== undefined && { hostname: r.hostname.toLowerCase() }),
          ...(r.path !== undefined && { path: pathModifier(r.path) }),
          ...(r.port !== undefined && { port: r.port }),
          statusCode: r.statusCode ?? 302,
        },
      };
    }
    case 'RequestMirror':
      if (!f.requestMirror) throw missing();
      return { type: f.type, requestMirror: mirror(f.requestMirror, ns) };
    case 'ExtensionRef':
      throw missing();
  }
}

/** Envoy's default base interval; GEP-1731 leaves the default to the implementation. */
export const DEFAULT_RETRY_BACKOFF_MS = 25;

function httpRetry(r: HTTPRetrySpec): HTTPRouteRetryConfig {
  return {
    attempts: r.attempts ?? 1,
    codes: [...new Set(r.codes ?? [])].sort((a, b) => a - b),
    backoffMs: r.backoff ?? DEFAULT_RETRY_BACKOFF_MS,
  };
}

function grpcRetry(r: GRPCRetrySpec): GRPCRouteRetryConfig {
  return {
    attempts: r.attempts ?? 1,
    codes: [...new Set<GRPCRetryCode>(r.codes ?? [])].sort(),
    backoffMs: r.backoff ?? DEFAULT_RETRY_BACKOFF_MS,
  };
}

export function buildHTTPRoute(doc: HTTPRouteDoc): HTTPRouteResource {
  const metadata = buildMetadata(doc.metadata);
  const ns = metadata.namespace;
  const { parentRefs = [], hostnames = [], rules } = doc.spec;
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: 'HTTPRoute',
    metadata,
    spec: {
      parentRefs: parentRefs.map((p) => parentRef(p, ns)),
      hostnames: hostnames.map((h) => h.toLowerCase()),
      rules: (rules ?? [{}]).map((rule) => ({
        ...(rule.name !== undefined && { name: rule.name }),
        matches:
          rule.matches && rule.matches.length > 0
            ? rule.matches.map((m) => ({
                path: { type: m.path?.type ?? 'PathPrefix', value: m.path?.value ?? '/' },
                headers: (m.headers ?? []).map((h) => headerMatch(h, true)),
                queryParams: (m.queryParams ?? []).map((q) => headerMatch(q, false)),
                ...(m.method !== undefined && { method: m.method }),
              }))
            : [DEFAULT_HTTP_MATCH],
        filters: (rule.filters ?? []).map((f) => httpFilter(f, ns)),
        backendRefs: backendRefs(rule.backendRefs, ns),
        timeouts: {
          ...(rule.timeouts?.request !== undefined && { requestMs: rule.timeouts.request }),
          ...(rule.timeouts?.backendRequest !== undefined && {
            backendRequestMs: rule.timeouts.backendRequest,
          }),
        },
        ...(rule.retry !== undefined && { retry: httpRetry(rule.retry) }),
      })),
    },
  };
}

export function buildGRPCRoute(doc: GRPCRouteDoc): GRPCRouteResource {
  const metadata = buildMetadata(doc.metadata);
  const ns = metadata.namespace;
  const { parentRefs = [], hostnames = [], rules = [] } = doc.spec;
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: 'GRPCRoute',
    metadata,
    spec: {
      parentRefs: parentRefs.map((p) => parentRef(p, ns)),
      hostnames: hostnames.map((h) => h.toLowerCase()),
      rules: rules.map((rule) => ({
        ...(rule.name !== undefined && { name: rule.name }),
        matches:
          rule.matches && rule.matches.length > 0
            ? rule.matches.map((m) => ({
                ...(m.method !== undefined && {
                  method: {
                    type: m.method.type ?? 'Exact',
                    ...(m.method.service !== undefined && { service: m.method.service }),
                    ...(m.method.method !== undefined && { method: m.method.method }),
                  },
                }),
                headers: (m.headers ?? []).map((h) => headerMatch(h, true)),
              }))
            : [{ headers: [] }],
        filters: (rule.filters ?? []).map((f) => httpFilter(f, ns) as GRPCRouteFilterConfig),
        backendRefs: backendRefs(rule.backendRefs, ns),
        ...(rule.retry !== undefined && { retry: grpcRetry(rule.retry) }),
      })),
    },
  };
}
