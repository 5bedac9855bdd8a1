// Evaluates the RBAC filters of a listener on one request (Envoy RBAC semantics): a DENY filter
// denies when any policy matches, an ALLOW filter denies when none does, a LOG filter only records
// which policies matched (AUDIT). Pure; the request view is built once by guard.ts.
import type { StringMatch } from '../config/types.js';
import { stringMatches } from '../router/string-match.js';
import type { AuthzMatcher, RbacFilterConfig, RbacPolicyConfig, ValueMatch } from './types.js';

export interface AuthzRequest {
  readonly method: string;
  readonly authority: string;
  /** Normalised path, without the query. */
  readonly path: string;
  /** Flat name/value list, lower-case names. */
  readonly headers: readonly string[];
  readonly localPort: number;
  /** Verified peer identity (SPIFFE ID); undefined for plaintext peers (no mTLS yet). */
  readonly principal: string | undefined;
  /** Dynamic metadata by filter name (jwt_authn stores verified claims here). */
  readonly metadata: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export type AuthzDecision =
  | { readonly allowed: true; readonly audited: readonly string[] }
  | {
      readonly allowed: false;
      readonly audited: readonly string[];
      /** The DENY policy that matched, or undefined when no ALLOW policy matched. */
      readonly deniedBy: string | undefined;
      /** For an ALLOW miss: the ALLOW policies that were checked. */
      readonly allowPolicies: readonly string[];
    };

function headerValues(req: AuthzRequest, name: string): string[] {
  if (name === ':method') return [req.method];
  if (name === ':authority' || name === 'host') return req.authority === '' ? [] : [req.authority];
  if (name === ':path') return [req.path];
  const out: string[] = [];
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) out.push(h[i + 1] as string);
  return out;
}

/**
 * A header matches when any one of its values does, or all of them joined by `,` (Envoy's view);
 * so a duplicated header can never hide a value from a DENY rule (CVE-2020-25017).
 */
function headerMatches(req: AuthzRequest, name: string, m: StringMatch): boolean {
  const values = headerValues(req, name);
  if (values.length === 0) return false;
  if (m.type === 'present') return true;
  for (const v of values) if (stringMatches(m, v)) return true;
  return values.length > 1 && stringMatches(m, values.join(','));
}

function lookup(req: AuthzRequest, filter: string, path: readonly string[]): unknown {
  let v: unknown = req.metadata[filter];
  for (const k of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

export function valueMatches(m: ValueMatch, v: unknown): boolean {
  switch (m.t) {
    case 'present':
      return v !== undefined && v !== null;
    case 'string':
      return typeof v === 'string' && stringMatches(m.m, v);
    case 'bool':
      return v === m.value;
    case 'number':
      return v === m.value;
    case 'list':
      return Array.isArray(v) && v.some((x) => valueMatches(m.oneOf, x));
  }
}

export function matches(m: AuthzMatcher, req: AuthzRequest): boolean {
  switch (m.t) {
    case 'any':
      return true;
    case 'and':
      return m.of.every((x) => matches(x, req));
    case 'or':
      return m.of.some((x) => matches(x, req));
    case 'not':
      return !matches(m.m, req);
    case 'header': {
      const r = headerMatches(req, m.h.name, m.h.match);
      return m.h.invert ? !r : r;
    }
    case 'path':
      return stringMatches(m.m, req.path);
    case 'port':
      return req.localPort === m.port;
    case 'principal':
      return req.principal !== undefined && (m.m === undefined || stringMatches(m.m, req.principal));
    case 'metadata': {
      const r = valueMatches(m.value, lookup(req, m.filter, m.path));
      return m.invert ? !r : r;
    }
  }
}

const policyMatches = (p: RbacPolicyConfig, req: AuthzRequest): boolean =>
  p.permissions.some((x) => matches(x, req)) && p.principals.some((x) => matches(x, req));

/** Runs the filters in order; DENY wins over ALLOW whatever the order, LOG never decides. */
export function evaluateRbac(filters: readonly RbacFilterConfig[], req: AuthzRequest): AuthzDecision {
  let audited: string[] | undefined;
  let deniedBy: string | undefined;
  let allowMiss: string[] | undefined;
  for (const f of filters) {
    if (f.action === 'LOG') {
      for (const p of f.policies) if (policyMatches(p, req)) (audited ??= []).push(p.name);
      continue;
    }
    if (f.action === 'DENY') {
      if (deniedBy === undefined) deniedBy = f.policies.find((p) => policyMatches(p, req))?.name;
      continue;
    }
    if (!f.policies.some((p) => policyMatches(p, req)))
      (allowMiss ??= []).push(...f.policies.map((p) => p.name));
  }
  const a = audited ?? [];
  if (deniedBy !== undefined) return { allowed: false, audited: a, deniedBy, allowPolicies: [] };
  if (allowMiss !== undefined)
    return { allowed: false, audited: a, deniedBy: undefined, allowPolicies: allowMiss };
  return { allowed: true, audited: a };
}
