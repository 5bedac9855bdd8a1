// Resolves the ways people name a kind on the command line (service, services, svc, httproute...).
import { TrellisError } from '../common/errors.js';
import { RESOURCE_KINDS, type ResourceKind } from './types.js';

const ALIASES: Readonly<Record<string, ResourceKind>> = {
  svc: 'Service',
  route: 'HTTPRoute',
  routes: 'HTTPRoute',
  gw: 'Gateway',
  tlsroute: 'TLSRoute',
  tlsroutes: 'TLSRoute',
  cm: 'ConfigMap',
  wl: 'Workload',
  authz: 'AuthorizationPolicy',
  authorizationpolicies: 'AuthorizationPolicy',
  ap: 'AuthorizationPolicy',
  requestauthentications: 'RequestAuthentication',
  ra: 'RequestAuthentication',
  meshtls: 'MeshTLS',
  mtls: 'MeshTLS',
};

/** Returns the canonical kind, or undefined when `input` names none. */
export function normalizeKind(input: string): ResourceKind | undefined {
  const s = input.toLowerCase();
  const alias = ALIASES[s];
  if (alias) return alias;
  return RESOURCE_KINDS.find((k) => {
    const l = k.toLowerCase();
    return s === l || s === `${l}s` || s === `${l}es`;
  });
}

/** Like normalizeKind, but an unknown kind is a BAD_REQUEST error that lists the valid ones. */
export function requireKind(input: string): ResourceKind {
  const kind = normalizeKind(input);
  if (!kind)
    throw new TrellisError(
      'BAD_REQUEST',
      `unknown kind '${input}'; valid kinds: ${RESOURCE_KINDS.join(', ')}`,
    );
  return kind;
}
