// AuthorizationPolicy / RequestAuthentication -> the inbound HCM of the targeted Service's sidecars
// (and the listener HCMs of a targeted ingress Gateway):
// strict path normalisation (normalize_path, merge_slashes, escaped slashes rejected), Envoy's
// jwt_authn filter (requires_any of the providers + allow_missing) and rbac filters (LOG for AUDIT,
// DENY, ALLOW), all before the router. Istio's rule semantics; "fail closed" matching: positive
// matches of DENY/AUDIT rules are wide (path case-insensitive, exact also with a trailing slash),
// those of ALLOW rules narrow (exact, case-sensitive), and the reverse for not* fields.
import type {
  AuthorizationPolicyResource,
  AuthzConditionConfig,
  GatewayResource,
  AuthzOperationConfig,
  AuthzSourceConfig,
  RequestAuthenticationResource,
  ServicePortConfig,
} from '../api/types.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import type { NodeInfo } from './node.js';
import { escapeRegex } from './proto.js';
import type { ConfigIndex } from './snapshot-index.js';

type Obj = Record<string, unknown>;

export const RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const JWT_AUTHN_TYPE =
  'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
/** Where verified claims live (RBAC metadata matchers read filter jwt_authn, key jwt_payload). */
export const JWT_FILTER = 'envoy.filters.http.jwt_authn';
export const JWT_PAYLOAD_KEY = 'jwt_payload';
/** The verified token's `iss/sub`, set by the Trellis proxy (Istio's request.auth.principal). */
export const AUTHN_FILTER = 'trellis.authn';
export const AUTHN_PRINCIPAL_KEY = 'request.auth.principal';

/** Applicable policies for one sidecar (inbound), sorted by namespace/name. */
export interface SidecarPolicies {
  readonly authz: readonly AuthorizationPolicyResource[];
  readonly authn: readonly RequestAuthenticationResource[];
  /** The Service port this sidecar serves (a gateway: its listener port), when known. */
  readonly port: Pick<ServicePortConfig, 'port' | 'targetPort'> | undefined;
}

const byName = (a: { metadata: { name: string } }, b: { metadata: { name: string } }): number =>
  a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;

export function sidecarPolicies(
  index: ConfigIndex,
  node: NodeInfo,
  appPort: number,
): SidecarPolicies | undefined {
  if (node.service === undefined) return undefined;
  const svc = index.services.get(serviceKey(node.namespace, node.service));
  if (svc === undefined) return undefined;
  const ports = svc.spec.ports;
  const port = ports.find((p) => p.targetPort === appPort) ?? (ports.length === 1 ? ports[0] : undefined);
  const applies = (p: AuthorizationPolicyResource | RequestAuthenticationResource): boolean =>
    p.metadata.namespace === node.namespace &&
    p.spec.targetRefs.some(
      (t) =>
        t.kind === 'Namespace' ||
        (t.kind === 'Service' &&
          t.name === node.service &&
          (t.sectionName === undefined || t.sectionName === port?.name)),
    );
  const authz = index.authorizationPolicies.filter(applies).sort(byName);
  const authn = index.requestAuthentications.filter(applies).sort(byName);
  if (authz.length === 0 && authn.length === 0) return undefined;
  return { authz, authn, port };
}

/**
 * Applicable policies for one port of an ingress Gateway: those targeting the Gateway (all of its
 * listeners, or by sectionName one listener, which then covers every listener sharing its port:
 * a port has one HCM; analyze refuses a sectionName whose listener shares its port) and those
 * targeting the Gateway's namespace, as for the sidecars there.
 */
export function gatewayPolicies(
  index: ConfigIndex,
  gw: GatewayResource,
  listenerPort: number,
): SidecarPolicies | undefined {
  const ns = gw.metadata.namespace;
  const names = new Set(gw.spec.listeners.filter((l) => l.port === listenerPort).map((l) => l.name));
  const applies = (p: AuthorizationPolicyResource | RequestAuthenticationResource): boolean =>
    p.metadata.namespace === ns &&
    p.spec.targetRefs.some(
      (t) =>
        t.kind === 'Namespace' ||
        (t.kind === 'Gateway' &&
          t.name === gw.metadata.name &&
          (t.sectionName === undefined || names.has(t.sectionName))),
    );
  const authz = index.authorizationPolicies.filter(applies).sort(byName);
  const authn = index.requestAuthentications.filter(applies).sort(byName);
  if (authz.length === 0 && authn.length === 0) return undefined;
  return { authz, authn, port: { port: listenerPort, targetPort: listenerPort } };
}

// ---------------------------------------------------------------- matchers

const ANY = { any: true };
const NEVER_P = { not_rule: ANY };
const NEVER_ID = { not_id: ANY };

/** `a` -> `[aA]`: case-insensitive without inline flags (runs on JS RegExp and RE2 alike). */
const foldRegex = (literal: string): string =>
  [...literal]
    .map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : escapeRegex(c)))
    .join('');

/** `*` / `prefix*` / `*suffix` / exact, as an Envoy StringMatcher (undefined for `*`). */
function valueMatcher(v: string, ignoreCase = false): Obj | undefined {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v === '*') return undefined;
  if (v.endsWith('*')) return { prefix: v.slice(0, -1), ...ic };
  if (v.startsWith('*')) return { suffix: v.slice(1), ...ic };
  return { exact: v, ...ic };
}

function globRegex(glob: string, ignoreCase: boolean): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
      continue;
    }
    let j = i;
    while (j < glob.length && glob[j] !== '*') j++;
    const lit = glob.slice(i, j);
    re += ignoreCase ? foldRegex(lit) : escapeRegex(lit);
    i = j - 1;
  }
  return `^${re}$`;
}

/** One policy path as url_path permissions (an or when wide matching needs two). */
function pathPermission(p: string, wide: boolean): Obj {
  const ic = wide ? { ignore_case: true } : {};
  const url = (m: Obj): Obj => ({ url_path: { path: m } });
  if (p === '*') return ANY;
  const stars = p.split('*').length - 1;
  if (stars === 1 && p.endsWith('/*')) return url({ prefix: p.slice(0, -1), ...ic });
  if (stars === 1 && p.startsWith('*')) return url({ suffix: p.slice(1), ...ic });
  if (stars > 0) return url({ safe_regex: { regex: globRegex(p, wide) } });
  if (!wide || p.endsWith('/')) return url({ exact: p, ...ic });
  return { or_rules: { rules: [url({ exact: p, ...ic }), url({ exact: `${p}/`, ...ic })] } };
}

const header = (name: string, m: Obj | undefined): Obj =>
  m === undefined ? { name, present_match: true } : { name, string_match: m };

function hostPermission(h: string): Obj {
  if (h === '*') return ANY;
  if (/:\d+$/.test(h)) return { header: header(':authority', { exact: h, ignore_case: true }) };
  if (h.startsWith('*.'))
    return {
      header: header(':authority', { safe_regex: { regex: `^[^:]+${foldRegex(h.slice(1))}(:[0-9]+)?$` } }),
    };
  return {
    or_rules: {
      rules: [
        { header: header(':authority', { exact: h, ignore_case: true }) },
        { header: header(':authority', { prefix: `${h}:`, ignore_case: true }) },
      ],
    },
  };
}

const orP = (rules: Obj[]): Obj => (rules.length === 1 ? (rules[0] as Obj) : { or_rules: { rules } });
const andP = (rules: Obj[]): Obj =>
  rules.length === 0 ? ANY : rules.length === 1 ? (rules[0] as Obj) : { and_rules: { rules } };
const orId = (ids: Obj[]): Obj => (ids.length === 1 ? (ids[0] as Obj) : { or_ids: { ids } });
const andId = (ids: Obj[]): Obj =>
  ids.length === 0 ? ANY : ids.length === 1 ? (ids[0] as Obj) : { and_ids: { ids } };

function portMatches(
  ports: readonly number[],
  port: Pick<ServicePortConfig, 'port' | 'targetPort'> | undefined,
  appPort: number,
  wide: boolean,
): boolean {
  if (port === undefined) return ports.includes(appPort) || wide;
  return ports.some((p) => p === port.port || p === port.targetPort || p === appPort);
}

interface Ctx {
  readonly namespace: string;
  readonly port: Pick<ServicePortConfig, 'port' | 'targetPort'> | undefined;
  readonly appPort: number;
}

/** Positive and negated matches of one field: `pos` ORed, then AND NOT (any of `neg`). */
function field<T>(
  out: Obj[],
  pos: readonly T[],
  neg: readonly T[],
  wide: boolean,
  build: (v: T, wide: boolean) => Obj,
  notKey: 'not_rule' | 'not_id',
  or: (x: Obj[]) => Obj,
): void {
  if (pos.length > 0) out.push(or(pos.map((v) => build(v, wide))));
  if (neg.length > 0) out.push({ [notKey]: or(neg.map((v) => build(v, !wide))) });
}

function operation(o: AuthzOperationConfig, wide: boolean, ctx: Ctx): Obj {
  const out: Obj[] = [];
  if (o.ports.length > 0 && !portMatches(o.ports, ctx.port, ctx.appPort, wide)) return NEVER_P;
  if (o.notPorts.length > 0 && portMatches(o.notPorts, ctx.port, ctx.appPort, !wide)) return NEVER_P;
  const method = (m: string): Obj => ({ header: header(':method', { exact: m, ignore_case: true }) });
  field(out, o.methods, o.notMethods, wide, method, 'not_rule', orP);
  field(out, o.paths, o.notPaths, wide, pathPermission, 'not_rule', orP);
  field(out, o.hosts, o.notHosts, wide, hostPermission, 'not_rule', orP);
  return andP(out);
}

const principalName = (m: Obj | undefined): Obj => ({
  authenticated: m === undefined ? {} : { principal_name: m },
});

function serviceIdentity(ref: string, dfltNs: string): Obj {
  const dot = ref.indexOf('.');
  const [name, ns] = dot < 0 ? [ref, dfltNs] : [ref.slice(0, dot), ref.slice(dot + 1)];
  return principalName({
    safe_regex: { regex: `^spiffe://[^/]+/ns/${escapeRegex(ns)}/sa/${escapeRegex(name)}$` },
  });
}

const namespaceIdentity = (ns: string): Obj =>
  principalName({ safe_regex: { regex: `^spiffe://[^/]+/ns/${escapeRegex(ns)}/sa/[^/]+$` } });

const metadata = (filter: string, path: readonly string[], value: Obj): Obj => ({
  metadata: { filter, path: path.map((key) => ({ key })), value },
});

const requestPrincipal = (v: string): Obj => {
  const m = valueMatcher(v);
  return metadata(
    AUTHN_FILTER,
    [AUTHN_PRINCIPAL_KEY],
    m === undefined ? { present_match: true } : { string_match: m },
  );
};

/** A claim matches as a string or as a list holding a matching string (Istio). */
function claim(path: readonly string[], v: string): Obj {
  const m = valueMatcher(v);
  if (m === undefined) return metadata(JWT_FILTER, [JWT_PAYLOAD_KEY, ...path], { present_match: true });
  return {
    or_ids: {
      ids: [
        metadata(JWT_FILTER, [JWT_PAYLOAD_KEY, ...path], { string_match: m }),
        metadata(JWT_FILTER, [JWT_PAYLOAD_KEY, ...path], { list_match: { one_of: { string_match: m } } }),
      ],
    },
  };
}

function source(s: AuthzSourceConfig, wide: boolean, ctx: Ctx): Obj {
  const out: Obj[] = [];
  const identity = (v: string): Obj => principalName(valueMatcher(v));
  field(out, s.identities, s.notIdentities, wide, identity, 'not_id', orId);
  field(out, s.services, s.notServices, wide, (v) => serviceIdentity(v, ctx.namespace), 'not_id', orId);
  field(out, s.namespaces, s.notNamespaces, wide, namespaceIdentity, 'not_id', orId);
  field(out, s.requestPrincipals, s.notRequestPrincipals, wide, requestPrincipal, 'not_id', orId);
  return andId(out);
}

/** A `when` condition as a principal (every key can be one: headers and metadata are principals too). */
function condition(c: AuthzConditionConfig, ctx: Ctx): Obj {
  const k = c.key;
  let one: (v: string) => Obj;
  const hdr = /^request\.headers\[(.+)\]$/.exec(k);
  const claims = /^request\.auth\.claims((?:\[[^\][]+\])+)$/.exec(k);
  if (hdr) one = (v) => ({ header: header((hdr[1] as string).toLowerCase(), valueMatcher(v)) });
  else if (claims) {
    const path = [...(claims[1] as string).matchAll(/\[([^\][]+)\]/g)].map((m) => m[1] as string);
    one = (v) => claim(path, v);
  } else if (k === 'request.auth.principal') one = requestPrincipal;
  else if (k === 'request.auth.audiences') one = (v) => claim(['aud'], v);
  else if (k === 'request.auth.presenter') one = (v) => claim(['azp'], v);
  else if (k === 'source.principal') one = (v) => principalName(valueMatcher(v));
  else if (k === 'source.namespace') one = namespaceIdentity;
  else {
    // destination.port: known statically for this sidecar.
    const has = (vs: readonly string[]) => portMatches(vs.map(Number), ctx.port, ctx.appPort, false);
    if (c.values.length > 0 && !has(c.values)) return NEVER_ID;
    if (c.notValues.length > 0 && has(c.notValues)) return NEVER_ID;
    return ANY;
  }
  const out: Obj[] = [];
  if (c.values.length > 0) out.push(orId(c.values.map(one)));
  if (c.notValues.length > 0) out.push({ not_id: orId(c.notValues.map(one)) });
  return andId(out);
}

interface Policy {
  readonly name: string;
  readonly policy: Obj;
}

function policiesOf(ap: AuthorizationPolicyResource, ctx: Ctx): Policy[] {
  const wide = ap.spec.action !== 'ALLOW';
  const id = `${ap.metadata.namespace}/${ap.metadata.name}`;
  if (ap.spec.rules.length === 0) {
    // ALLOW with no rules allows nothing; DENY/AUDIT with no rules match nothing.
    return ap.spec.action === 'ALLOW'
      ? [{ name: id, policy: { permissions: [NEVER_P], principals: [ANY] } }]
      : [];
  }
  return ap.spec.rules.map((r, i) => {
    const to = r.to.length === 0 ? ANY : orP(r.to.map((o) => operation(o, wide, ctx)));
    const from = r.from.length === 0 ? ANY : orId(r.from.map((s) => source(s, wide, ctx)));
    const principals = andId([from, ...r.when.map((c) => condition(c, ctx))].filter((x) => x !== ANY));
    return { name: `${id}[${i}]`, policy: { permissions: [to], principals: [principals] } };
  });
}

function rbacFilter(action: 'ALLOW' | 'DENY' | 'LOG', policies: readonly Policy[]): Obj {
  const map: Obj = {};
  for (const p of policies) map[p.name] = p.policy;
  return {
    name: 'envoy.filters.http.rbac',
    typed_config: { '@type': RBAC_TYPE, rules: { action, policies: map } },
  };
}

function jwksOf(r: RequestAuthenticationResource['spec']['jwtRules'][number]): Obj {
  const j = r.jwks;
  if (j.type === 'inline') return { local_jwks: { inline_string: j.jwks } };
  if (j.type === 'file') return { local_jwks: { filename: j.path } };
  const host = new URL(j.uri).host;
  return {
    remote_jwks: {
      http_uri: { uri: j.uri, cluster: `jwks|${host}`, timeout: { seconds: '1', nanos: 0 } },
      cache_duration: { seconds: '300', nanos: 0 },
    },
  };
}

function jwtFilter(ras: readonly RequestAuthenticationResource[]): Obj {
  const providers: Obj = {};
  for (const ra of ras)
    ra.spec.jwtRules.forEach((r, i) => {
      providers[`${ra.metadata.namespace}/${ra.metadata.name}[${i}]`] = {
        issuer: r.issuer,
        ...(r.audiences.length > 0 && { audiences: [...r.audiences] }),
        ...jwksOf(r),
        ...(r.fromHeaders.length > 0 && {
          from_headers: r.fromHeaders.map((h) => ({ name: h.name, value_prefix: h.prefix })),
        }),
        ...(r.forwardOriginalToken && { forward: true }),
        payload_in_metadata: JWT_PAYLOAD_KEY,
        clock_skew_seconds: r.clockSkewSec,
      };
    });
  return {
    name: JWT_FILTER,
    typed_config: {
      '@type': JWT_AUTHN_TYPE,
      providers,
      rules: [
        {
          match: { prefix: '/' },
          requires: {
            requires_any: {
              requirements: [
                ...Object.keys(providers).map((provider_name) => ({ provider_name })),
                { allow_missing: {} },
              ],
            },
          },
        },
      ],
    },
  };
}

/** HCM fields and http_filters (before the router) for a sidecar's inbound listener. */
export interface InboundSecurity {
  readonly hcm: Obj;
  readonly httpFilters: readonly Obj[];
}

export function inboundSecurity(p: SidecarPolicies, namespace: string, appPort: number): InboundSecurity {
  const ctx: Ctx = { namespace, port: p.port, appPort };
  const filters: Obj[] = [];
  if (p.authn.length > 0) filters.push(jwtFilter(p.authn));
  const of = (action: string) =>
    p.authz.filter((a) => a.spec.action === action).flatMap((a) => policiesOf(a, ctx));
  const audit = p.authz.filter((a) => a.spec.action === 'AUDIT');
  const deny = p.authz.filter((a) => a.spec.action === 'DENY');
  const allow = p.authz.filter((a) => a.spec.action === 'ALLOW');
  if (audit.length > 0) filters.push(rbacFilter('LOG', of('AUDIT')));
  if (deny.length > 0) filters.push(rbacFilter('DENY', of('DENY')));
  if (allow.length > 0) filters.push(rbacFilter('ALLOW', of('ALLOW')));
  return {
    hcm: { normalize_path: true, merge_slashes: true, path_with_escaped_slashes_action: 'REJECT_REQUEST' },
    httpFilters: filters,
  };
}
