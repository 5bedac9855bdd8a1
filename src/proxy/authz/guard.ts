// The one call the request pipeline makes on a listener with security (HTTP/1.1 and HTTP/2 alike):
// normalise the path (400 when refused), authenticate the JWT if any (401 when invalid; a request
// without one passes), then the RBAC filters (403 naming the policy; AUDIT lines). On success the
// caller routes and forwards the normalised path. Waits only when a JWKS has not been loaded yet.
import type { Logger } from '../../common/logger.js';
import { ProxyError } from '../pipeline/rescue.js';
import { jwksSource } from './jwks-source.js';
import { peekIssuer, verifyJwt } from './jwt.js';
import { normalizePath } from './normalize-path.js';
import { type AuthzRequest, evaluateRbac } from './rbac.js';
import {
  AUTHN_FILTER,
  AUTHN_PRINCIPAL_KEY,
  JWT_AUTHN_FILTER,
  type JwtProviderConfig,
  type ListenerSecurityConfig,
} from './types.js';

export interface GuardInput {
  readonly method: string;
  readonly authority: string;
  /** The request target as received (path + query). */
  readonly target: string;
  /** Flat name/value list with lower-case names; a consumed token header is removed in place. */
  readonly headers: string[];
  readonly localPort: number;
  /** Verified peer identity; undefined until mTLS lands (identity rules then never match). */
  readonly principal: string | undefined;
}

export interface GuardContext {
  readonly logger: Logger;
  readonly listener: string;
  readonly nowMs: number;
}

/** What the exchange (H1Exchange, H2Exchange) offers the guard. */
export interface GuardedExchange {
  readonly done: boolean;
  fail(e: unknown): void;
}

type Admission =
  | { readonly kind: 'pass'; readonly path: string }
  | { readonly kind: 'reject'; readonly error: ProxyError }
  | { readonly kind: 'wait'; readonly ready: Promise<void> };

const NO_METADATA: AuthzRequest['metadata'] = Object.freeze({});

/** Policy keys are `namespace/name[rule]`: shown as `AuthorizationPolicy namespace/name rule N`. */
export function describePolicy(key: string): string {
  const m = /^(.*)\[(\d+)\]$/.exec(key);
  return m ? `AuthorizationPolicy ${m[1]} (rule ${m[2]})` : `policy ${key}`;
}

function tokenOf(
  headers: string[],
  p: JwtProviderConfig,
): { token: string; index: number } | 'many' | undefined {
  let found: { token: string; index: number } | undefined;
  for (const fh of p.fromHeaders)
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] !== fh.name) continue;
      const v = (headers[i + 1] as string).trim();
      if (fh.prefix !== '' && v.slice(0, fh.prefix.length).toLowerCase() !== fh.prefix.toLowerCase())
        continue;
      if (found !== undefined) return 'many';
      found = { token: v.slice(fh.prefix.length).trim(), index: i };
    }
  return found;
}

const unauthenticated = (detail: string): Admission => ({
  kind: 'reject',
  error: new ProxyError('UNAUTHENTICATED', detail),
});

/** Authentication: claims by metadata key, or a rejection, or a wait for keys. */
function authenticate(
  sec: ListenerSecurityConfig,
  headers: string[],
  nowMs: number,
  mayWait: boolean,
): Admission | { readonly kind: 'authenticated'; readonly metadata: AuthzRequest['metadata'] } {
  const providers = sec.jwt?.providers ?? [];
  let token: { token: string; index: number } | undefined;
  let candidates: JwtProviderConfig[] = [];
  for (const p of providers) {
    const t = tokenOf(headers, p);
    if (t === 'many') return unauthenticated('more than one token in the request');
    if (t === undefined) continue;
    if (token !== undefined && token.index !== t.index)
      return unauthenticated('more than one token in the request');
    token = t;
    candidates.push(p);
  }
  if (token === undefined) return { kind: 'authenticated', metadata: NO_METADATA }; // no token: authentication passes (policies may require one)
  const iss = peekIssuer(token.token);
  if (candidates.length > 1) candidates = candidates.filter((p) => p.issuer === iss);
  const p = candidates[0];
  if (p === undefined || (iss !== undefined && p.issuer !== iss))
    return unauthenticated('the token was not issued by an accepted issuer');
  const source = jwksSource(p.jwks);
  const keys = source.keys();
  if (keys === undefined) {
    if (mayWait) return { kind: 'wait', ready: source.refresh() };
    return unauthenticated(
      `the JWKS of provider ${p.name} is not available (${source.lastError() ?? 'not loaded'})`,
    );
  }
  const r = verifyJwt(
    token.token,
    keys,
    { issuer: p.issuer, audiences: p.audiences, clockSkewSec: p.clockSkewSec },
    Math.floor(nowMs / 1000),
  );
  if (!r.ok) {
    if (r.reason === 'unknown_kid' && mayWait && p.jwks.type !== 'inline')
      return { kind: 'wait', ready: source.refresh() };
    return unauthenticated(`JWT rejected: ${r.reason} (${r.detail})`);
  }
  if (!p.forward) headers.splice(token.index, 2);
  const tokenIss = typeof r.claims['iss'] === 'string' ? r.claims['iss'] : '';
  const sub = typeof r.claims['sub'] === 'string' ? r.claims['sub'] : '';
  return {
    kind: 'authenticated',
    metadata: {
      [JWT_AUTHN_FILTER]: { [p.payloadInMetadata]: r.claims },
      [AUTHN_FILTER]: { [AUTHN_PRINCIPAL_KEY]: `${tokenIss}/${sub}` },
    },
  };
}

function admit(
  sec: ListenerSecurityConfig,
  input: GuardInput,
  ctx: GuardContext,
  mayWait: boolean,
): Admission {
  const n =
    input.method === 'CONNECT'
      ? { ok: true as const, path: input.target }
      : normalizePath(input.target, sec.normalization);
  if (!n.ok)
    return { kind: 'reject', error: new ProxyError('BAD_PATH', `path refused (${n.reason}): ${n.detail}`) };
  let metadata = NO_METADATA;
  if (sec.jwt !== undefined) {
    const a = authenticate(sec, input.headers, ctx.nowMs, mayWait);
    if (a.kind !== 'authenticated') return a;
    metadata = a.metadata;
  }
  if (sec.rbac.length === 0) return { kind: 'pass', path: n.path };
  const q = n.path.indexOf('?');
  const req: AuthzRequest = {
    method: input.method,
    authority: canonicalAuthority(input.authority),
    path: q < 0 ? n.path : n.path.slice(0, q),
    headers: input.headers,
    localPort: input.localPort,
    principal: input.principal,
    metadata,
  };
  const d = evaluateRbac(sec.rbac, req);
  for (const policy of d.audited)
    ctx.logger.info(
      {
        audit: true,
        policy: describePolicy(policy),
        listener: ctx.listener,
        method: req.method,
        authority: req.authority,
        path: req.path,
        principal: req.principal ?? null,
        subject: subjectOf(req.metadata),
        decision: d.allowed ? 'allow' : 'deny',
      },
      'authorization audit',
    );
  if (d.allowed) return { kind: 'pass', path: n.path };
  const why =
    d.deniedBy !== undefined
      ? `denied by ${describePolicy(d.deniedBy)}`
      : `no ALLOW rule matched (${[...new Set(d.allowPolicies.map((k) => describePolicy(k).replace(/ \(rule \d+\)$/, '')))].join(', ')})`;
  return { kind: 'reject', error: new ProxyError('ACCESS_DENIED', why) };
}

/** `iss/sub` of a verified token (never the token itself), for audit lines. */
function subjectOf(metadata: AuthzRequest['metadata']): string | null {
  const p = metadata[AUTHN_FILTER]?.[AUTHN_PRINCIPAL_KEY];
  return typeof p === 'string' ? p : null;
}

/**
 * Admits a request: calls `next(normalisedTarget)` (synchronously in the common case) or fails the
 * exchange with 400/401/403. When keys must be fetched first, `hold()` is called and the request
 * continues once they arrived (or fails with 401 if they cannot be had).
 */
export function guardRequest(
  sec: ListenerSecurityConfig,
  input: GuardInput,
  ctx: GuardContext,
  ex: GuardedExchange,
  hold: () => void,
  next: (target: string) => void,
): void {
  const a = admit(sec, input, ctx, true);
  if (a.kind === 'pass') return next(a.path);
  if (a.kind === 'reject') return ex.fail(a.error);
  hold();
  a.ready.then(
    () => {
      if (ex.done) return;
      try {
        const b = admit(sec, input, { ...ctx, nowMs: Date.now() }, false);
        if (b.kind === 'pass') next(b.path);
        else ex.fail(b.kind === 'reject' ? b.error : new ProxyError('UNAUTHENTICATED', 'JWKS not available'));
      } catch (e) {
        ex.fail(e);
      }
    },
    (e: unknown) => ex.fail(e),
  );
}

/**
 * The authority policies see: lower-cased, without the trailing dot of a fully qualified name
 * (`Reviews.:9080` -> `reviews:9080`), so `reviews.` cannot slip past a rule on host `reviews`
 * (Envoy's strip_trailing_host_dot). Allocates only when something changes.
 */
export function canonicalAuthority(authority: string): string {
  let a = authority;
  if (/[A-Z]/.test(a)) a = a.toLowerCase();
  if (a.startsWith('[')) return a; // an IPv6 literal has no trailing-dot form
  const colon = a.lastIndexOf(':');
  const host = colon < 0 ? a : a.slice(0, colon);
  if (!host.endsWith('.')) return a;
  return host.slice(0, -1) + (colon < 0 ? '' : a.slice(colon));
}
