// The compiled security config of one listener (decoded from the HCM's jwt_authn and rbac filters
// by config/decode-authz.ts): path normalisation, JWT providers, RBAC filters in order. Frozen data.
import type { HeaderMatcher, StringMatch } from '../config/types.js';
import type { JwksKeys } from './jwt.js';
import type { NormalizeOptions } from './normalize-path.js';

/** Envoy RBAC Permission / Principal, one shape for both. */
export type AuthzMatcher =
  | { readonly t: 'any' }
  | { readonly t: 'and'; readonly of: readonly AuthzMatcher[] }
  | { readonly t: 'or'; readonly of: readonly AuthzMatcher[] }
  | { readonly t: 'not'; readonly m: AuthzMatcher }
  /** `:method`, `:authority` (also `host`), `:path` or a regular header (lower-cased name). */
  | { readonly t: 'header'; readonly h: HeaderMatcher }
  /** The normalised path without the query. */
  | { readonly t: 'path'; readonly m: StringMatch }
  /** The local (listener) port the request arrived on. */
  | { readonly t: 'port'; readonly port: number }
  /** The peer's verified identity (SPIFFE URI SAN); absent match = any authenticated peer. */
  | { readonly t: 'principal'; readonly m?: StringMatch }
  /** Dynamic metadata, e.g. filter envoy.filters.http.jwt_authn, path [jwt_payload, iss]. */
  | {
      readonly t: 'metadata';
      readonly filter: string;
      readonly path: readonly string[];
      readonly value: ValueMatch;
      readonly invert: boolean;
    };

/** Envoy ValueMatcher (the subset policies need). */
export type ValueMatch =
  | { readonly t: 'string'; readonly m: StringMatch }
  | { readonly t: 'present' }
  | { readonly t: 'bool'; readonly value: boolean }
  | { readonly t: 'number'; readonly value: number }
  /** A list value with at least one element matching. */
  | { readonly t: 'list'; readonly oneOf: ValueMatch };

export interface RbacPolicyConfig {
  /** The policy key, e.g. `default/deny-admin[0]` (namespace/name[rule]). */
  readonly name: string;
  /** Any one matches (and any one principal). */
  readonly permissions: readonly AuthzMatcher[];
  readonly principals: readonly AuthzMatcher[];
}

export interface RbacFilterConfig {
  /** ALLOW: requests no policy matches are denied; DENY: a matching policy denies; LOG: audit only. */
  readonly action: 'ALLOW' | 'DENY' | 'LOG';
  readonly policies: readonly RbacPolicyConfig[];
}

export type JwksSpec =
  | { readonly type: 'inline'; readonly keys: JwksKeys }
  | { readonly type: 'file'; readonly path: string; readonly refreshMs: number }
  | { readonly type: 'uri'; readonly uri: string; readonly refreshMs: number; readonly timeoutMs: number };

export interface JwtProviderConfig {
  readonly name: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly jwks: JwksSpec;
  /** Where the token is read: header name (lower-case) and value prefix (e.g. `Bearer `). */
  readonly fromHeaders: readonly { readonly name: string; readonly prefix: string }[];
  /** Keep the token header when forwarding (default: removed). */
  readonly forward: boolean;
  readonly clockSkewSec: number;
  /** Metadata key the verified claims are stored under (RBAC metadata matchers read it). */
  readonly payloadInMetadata: string;
}

export interface JwtAuthnConfig {
  readonly providers: readonly JwtProviderConfig[];
}

/** Everything a listener checks per request; absent on listeners without security (no cost). */
export interface ListenerSecurityConfig {
  readonly normalization: NormalizeOptions;
  readonly jwt?: JwtAuthnConfig;
  readonly rbac: readonly RbacFilterConfig[];
}

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/** Metadata the proxy adds for a verified token: `request.auth.principal` = `iss/sub` (Istio's). */
export const AUTHN_FILTER = 'trellis.authn';
export const AUTHN_PRINCIPAL_KEY = 'request.auth.principal';
