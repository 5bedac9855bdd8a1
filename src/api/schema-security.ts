// zod schemas of the security kinds (trellis.dev/v1alpha1) and their defaulted resources:
// AuthorizationPolicy (ALLOW / DENY / AUDIT rules on source, operation and conditions, Istio's
// semantics in Trellis spelling) and RequestAuthentication (JWT rules). Both attach by targetRefs
// to a Service (optionally one port by sectionName), an ingress Gateway (optionally one listener by
// sectionName) or to their own Namespace (its Services and Gateways).
import { z } from 'zod';
import { buildMetadata } from './build-service.js';
import { formatDurationMs } from './duration.js';
import { headerNameError, hostnameError } from './formats.js';
import {
  dnsLabel,
  dnsSubdomain,
  duration,
  fail,
  list,
  metadataSchema,
  nonEmpty,
  oneOf,
  port,
  sectionName,
  str,
  strict,
} from './schema-common.js';
import type {
  AuthorizationPolicyResource,
  AuthzConditionConfig,
  AuthzOperationConfig,
  AuthzRuleConfig,
  AuthzSourceConfig,
  JwtRuleConfig,
  RequestAuthenticationResource,
  SecurityTargetRefConfig,
} from './types.js';
import { TRELLIS_API_VERSION } from './types.js';

// ---------------------------------------------------------------- value formats

/** `*`, exact, `prefix*` or `*suffix`: one `*` at most, only at an end (never a regex). */
function wildcardError(v: string): string | undefined {
  if (v === '') return 'must not be empty';
  const stars = v.split('*').length - 1;
  if (stars === 0 || v === '*') return undefined;
  if (stars === 1 && (v.startsWith('*') || v.endsWith('*'))) return undefined;
  return 'may hold one * only, at the start or the end (exact, prefix*, *suffix or *)';
}

const identityError = (v: string): string | undefined =>
  wildcardError(v) ??
  (v === '*' || v.startsWith('spiffe://') || v.startsWith('*')
    ? undefined
    : 'must be a SPIFFE ID such as spiffe://trellis.local/ns/shop/sa/web (or a prefix*/*suffix of one, or *)');

const SERVICE_REF = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/;
const serviceRefError = (v: string): string | undefined =>
  SERVICE_REF.test(v) ? undefined : 'must be a Service name, `name` or `name.namespace`';

const METHOD = /^[A-Za-z]+$/;
const methodError = (v: string): string | undefined =>
  METHOD.test(v) && v.length <= 32 ? undefined : 'must be an HTTP method such as GET or POST';

/**
 * Policy paths are matched against the normalised path, so they must be in normal form themselves:
 * absolute (or `*...`), no `//`, dot segments, `%`, `;`, `\`, `?` or `#`.
 */
export function policyPathError(v: string): string | undefined {
  if (!v.startsWith('/') && !v.startsWith('*'))
    return 'must start with / (exact /a, prefix /a/*, glob /a/*/b) or * (suffix *.json, or * for any)';
  if (/[%;\\?#\s]/.test(v))
    return 'must be a normalised path: no %-escapes, ;, \\, ?, # or spaces (requests are normalised before matching)';
  if (v.includes('//') || /(^|\/)\.\.?(\/|$)/.test(v))
    return 'must be a normalised path: no // and no . or .. segments';
  if (v.includes('***')) return 'use * (one segment) or ** (any number of segments)';
  return undefined;
}

const hostError = (v: string): string | undefined => {
  if (v === '*') return undefined;
  const host = v.replace(/:\d{1,5}$/, '');
  return hostnameError(host) === undefined
    ? undefined
    : 'must be a hostname (optionally *.suffix and :port) or *';
};

const CONDITION_KEYS =
  'request.headers[NAME], request.auth.claims[NAME] (nested: [a][b]), request.auth.principal, request.auth.audiences, request.auth.presenter, source.principal, source.namespace, destination.port';

/** A `when` key; undefined when valid. */
export function conditionKeyError(k: string): string | undefined {
  const header = /^request\.headers\[([^\]]+)\]$/.exec(k);
  if (header) return headerNameError(header[1] as string);
  if (/^request\.auth\.claims(\[[^\][]+\])+$/.test(k)) return undefined;
  if (
    [
      'request.auth.principal',
      'request.auth.audiences',
      'request.auth.presenter',
      'source.principal',
      'source.namespace',
      'destination.port',
    ].includes(k)
  )
    return undefined;
  return `unsupported condition key; supported: ${CONDITION_KEYS}`;
}

const strings = (check: (v: string) => string | undefined, max = 64) => list(str(check), max).optional();

// ---------------------------------------------------------------- schemas

const targetRef = strict({
  group: z.string().optional(),
  kind: oneOf(['Service', 'Gateway', 'Namespace'] as const, 'targetRef kind'),
  // Service and namespace names are DNS labels, Gateway names DNS subdomains.
  name: dnsSubdomain(),
  sectionName: sectionName().optional(),
  namespace: z
    .unknown()
    .superRefine((_v, ctx) =>
      fail(
        ctx,
        'unsupported',
        'policies attach only within their own namespace; drop targetRefs[].namespace',
      ),
    )
    .optional(),
}).superRefine((t, ctx) => {
  if (t.kind !== 'Gateway' && !dnsLabel().safeParse(t.name).success)
    fail(
      ctx,
      'invalid_value',
      `a ${t.kind} name must be a DNS label (lower-case letters, digits and -, at most 63); got ${JSON.stringify(t.name)}`,
      ['name'],
    );
});

const targetRefs = list(targetRef, 16).superRefine((a, ctx) => {
  if (a.length === 0)
    fail(ctx, 'invalid_value', 'at least one targetRef is required, e.g. [{kind: Service, name: reviews}]');
});

const source = strict({
  identities: strings(identityError),
  notIdentities: strings(identityError),
  services: strings(serviceRefError),
  notServices: strings(serviceRefError),
  namespaces: strings((v) => (dnsLabel().safeParse(v).success ? undefined : 'must be a namespace name')),
  notNamespaces: strings((v) => (dnsLabel().safeParse(v).success ? undefined : 'must be a namespace name')),
  requestPrincipals: strings(wildcardError),
  notRequestPrincipals: strings(wildcardError),
});

const operation = strict({
  ports: list(port(), 64).optional(),
  notPorts: list(port(), 64).optional(),
  methods: strings(methodError),
  notMethods: strings(methodError),
  paths: strings(policyPathError),
  notPaths: strings(policyPathError),
  hosts: strings(hostError),
  notHosts: strings(hostError),
});

const condition = strict({
  key: str(conditionKeyError),
  values: list(nonEmpty(1024), 64).optional(),
  notValues: list(nonEmpty(1024), 64).optional(),
}).superRefine((c, ctx) => {
  if ((c.values?.length ?? 0) === 0 && (c.notValues?.length ?? 0) === 0)
    fail(ctx, 'missing_field', 'a condition needs values or notValues');
  if (c.key === 'destination.port')
    for (const [i, v] of [...(c.values ?? []), ...(c.notValues ?? [])].entries())
      if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535)
        fail(ctx, 'invalid_value', `destination.port values must be port numbers; got ${JSON.stringify(v)}`, [
          i < (c.values?.length ?? 0) ? 'values' : 'notValues',
        ]);
});

const rule = strict({
  from: list(strict({ source }), 16).optional(),
  to: list(strict({ operation }), 16).optional(),
  when: list(condition, 16).optional(),
});

const ownNamespace = (
  s: {
    metadata: { namespace?: string | undefined };
    spec: { targetRefs: readonly { kind: string; name: string }[] };
  },
  ctx: z.RefinementCtx,
) => {
  const ns = s.metadata.namespace ?? 'default';
  s.spec.targetRefs.forEach((t, i) => {
    if (t.kind === 'Namespace' && t.name !== ns)
      fail(
        ctx,
        'invalid_value',
        `a policy in namespace ${ns} can only target its own namespace (name: ${ns}); put the policy in namespace ${t.name}`,
        ['spec', 'targetRefs', i, 'name'],
      );
  });
};

export const authorizationPolicySchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('AuthorizationPolicy'),
  metadata: metadataSchema(dnsLabel),
  spec: strict({
    targetRefs,
    action: oneOf(['ALLOW', 'DENY', 'AUDIT'] as const, 'action').optional(),
    rules: list(rule, 64).optional(),
  }),
}).superRefine(ownNamespace);

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

function jwksUriError(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'must be an absolute http:// URL on loopback, e.g. http://127.0.0.1:8081/jwks.json';
  }
  if (
    u.protocol !== 'http:' ||
    !LOOPBACK_HOSTS.includes(u.hostname) ||
    u.username !== '' ||
    u.password !== ''
  )
    return 'must be an http:// URL on loopback (127.0.0.1, [::1] or localhost): the sidecar fetches it itself';
  return undefined;
}

function inlineJwksError(v: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(v);
  } catch {
    return 'must be a JWKS JSON document, {"keys": [...]}';
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    return 'must be a JWKS JSON document with a non-empty "keys" array';
  if (!keys.some((k) => ['RSA', 'EC', 'OKP'].includes((k as { kty?: string } | null)?.kty ?? '')))
    return 'needs at least one public key (kty RSA, EC or OKP); symmetric (oct) keys are never used';
  return undefined;
}

const jwtRule = strict({
  issuer: nonEmpty(1024),
  audiences: list(nonEmpty(1024), 32).optional(),
  jwks: str(inlineJwksError).optional(),
  jwksFile: str((v) => (v.startsWith('/') ? undefined : 'must be an absolute path')).optional(),
  jwksUri: str(jwksUriError).optional(),
  fromHeaders: list(strict({ name: str(headerNameError), prefix: z.string().optional() }), 8).optional(),
  forwardOriginalToken: z.boolean().optional(),
  clockSkew: duration().optional(),
}).superRefine((r, ctx) => {
  const n = [r.jwks, r.jwksFile, r.jwksUri].filter((x) => x !== undefined).length;
  if (n !== 1)
    fail(
      ctx,
      n === 0 ? 'missing_field' : 'invalid_value',
      'exactly one of jwks (inline JSON), jwksFile or jwksUri is required',
    );
  if (r.clockSkew !== undefined && r.clockSkew > 3_600_000)
    fail(ctx, 'invalid_value', 'clockSkew must be at most 1h', ['clockSkew']);
});

export const requestAuthenticationSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('RequestAuthentication'),
  metadata: metadataSchema(dnsLabel),
  spec: strict({
    targetRefs,
    jwtRules: list(jwtRule, 8).superRefine((a, ctx) => {
      if (a.length === 0) fail(ctx, 'invalid_value', 'at least one jwtRule is required');
      const seen = new Set<string>();
      a.forEach((r, i) => {
        if (seen.has(r.issuer))
          fail(ctx, 'duplicate', `issuer ${JSON.stringify(r.issuer)} appears twice; one rule per issuer`, [
            i,
            'issuer',
          ]);
        seen.add(r.issuer);
      });
    }),
  }),
}).superRefine(ownNamespace);

// ---------------------------------------------------------------- build / to document

type APDoc = z.output<typeof authorizationPolicySchema>;
type RADoc = z.output<typeof requestAuthenticationSchema>;
type TargetDoc = z.output<typeof targetRef>;

const buildTarget = (t: TargetDoc): SecurityTargetRefConfig => ({
  group: t.group ?? '',
  kind: t.kind,
  name: t.name,
  ...(t.sectionName !== undefined && { sectionName: t.sectionName }),
});

const arr = <T>(a: readonly T[] | undefined): T[] => [...(a ?? [])];

export function buildAuthorizationPolicy(doc: APDoc): AuthorizationPolicyResource {
  const s = doc.spec;
  return {
    apiVersion: TRELLIS_API_VERSION,
    kind: 'AuthorizationPolicy',
    metadata: buildMetadata(doc.metadata),
    spec: {
      targetRefs: s.targetRefs.map(buildTarget),
      action: s.action ?? 'ALLOW',
      rules: arr(s.rules).map((r): AuthzRuleConfig => ({
        from: arr(r.from).map(({ source: x }): AuthzSourceConfig => ({
          identities: arr(x.identities),
          notIdentities: arr(x.notIdentities),
          services: arr(x.services),
          notServices: arr(x.notServices),
          namespaces: arr(x.namespaces),
          notNamespaces: arr(x.notNamespaces),
          requestPrincipals: arr(x.requestPrincipals),
          notRequestPrincipals: arr(x.notRequestPrincipals),
        })),
        to: arr(r.to).map(({ operation: o }): AuthzOperationConfig => ({
          ports: arr(o.ports),
          notPorts: arr(o.notPorts),
          methods: arr(o.methods).map((m) => m.toUpperCase()),
          notMethods: arr(o.notMethods).map((m) => m.toUpperCase()),
          paths: arr(o.paths),
          notPaths: arr(o.notPaths),
          hosts: arr(o.hosts).map((h) => h.toLowerCase()),
          notHosts: arr(o.notHosts).map((h) => h.toLowerCase()),
        })),
        when: arr(r.when).map((c): AuthzConditionConfig => ({
          key: c.key,
          values: arr(c.values),
          notValues: arr(c.notValues),
        })),
      })),
    },
  };
}

export function buildRequestAuthentication(doc: RADoc): RequestAuthenticationResource {
  return {
    apiVersion: TRELLIS_API_VERSION,
    kind: 'RequestAuthentication',
    metadata: buildMetadata(doc.metadata),
    spec: {
      targetRefs: doc.spec.targetRefs.map(buildTarget),
      jwtRules: doc.spec.jwtRules.map((r): JwtRuleConfig => ({
        issuer: r.issuer,
        audiences: arr(r.audiences),
        jwks:
          r.jwks !== undefined
            ? { type: 'inline', jwks: r.jwks }
            : r.jwksFile !== undefined
              ? { type: 'file', path: r.jwksFile }
              : { type: 'uri', uri: r.jwksUri ?? '' },
        fromHeaders: arr(r.fromHeaders).map((h) => ({ name: h.name.toLowerCase(), prefix: h.prefix ?? '' })),
        forwardOriginalToken: r.forwardOriginalToken ?? false,
        clockSkewSec: Math.floor((r.clockSkew ?? 60_000) / 1000),
      })),
    },
  };
}

/** Drops empty lists so documents stay minimal. */
function pruned(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o))
    if (!(Array.isArray(v) && v.length === 0) && v !== undefined) out[k] = v;
  return out;
}

const targetDoc = (t: SecurityTargetRefConfig) =>
  pruned({
    group: t.group === '' ? undefined : t.group,
    kind: t.kind,
    name: t.name,
    sectionName: t.sectionName,
  });

export function authorizationPolicyToDocument(r: AuthorizationPolicyResource): Record<string, unknown> {
  return pruned({
    targetRefs: r.spec.targetRefs.map(targetDoc),
    action: r.spec.action,
    rules: r.spec.rules.map((rule) =>
      pruned({
        from: rule.from.map((s) => ({ source: pruned({ ...s }) })),
        to: rule.to.map((o) => ({ operation: pruned({ ...o }) })),
        when: rule.when.map((c) => pruned({ ...c })),
      }),
    ),
  });
}

export function requestAuthenticationToDocument(r: RequestAuthenticationResource): Record<string, unknown> {
  return {
    targetRefs: r.spec.targetRefs.map(targetDoc),
    jwtRules: r.spec.jwtRules.map((j) =>
      pruned({
        issuer: j.issuer,
        audiences: j.audiences,
        ...(j.jwks.type === 'inline' && { jwks: j.jwks.jwks }),
        ...(j.jwks.type === 'file' && { jwksFile: j.jwks.path }),
        ...(j.jwks.type === 'uri' && { jwksUri: j.jwks.uri }),
        fromHeaders: j.fromHeaders.map((h) => ({ ...h })),
        forwardOriginalToken: j.forwardOriginalToken,
        clockSkew: formatDurationMs(j.clockSkewSec * 1000),
      }),
    ),
  };
}
