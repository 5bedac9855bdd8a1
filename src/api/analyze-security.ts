// Cross-resource checks for AuthorizationPolicy and RequestAuthentication: targetRefs that name no
// Service (or port), Services whose port is tcp (HTTP policies cannot be enforced there, so they are
// refused rather than silently open), and rules that can never match (identities on a Service
// whose mTLS mode is DISABLE, JWT principals/claims on a target no RequestAuthentication covers).
import type { IssueCode, PathSegment } from './issues.js';
import { makeIssue } from './issues.js';
import { originOf } from './origin.js';
import { mtlsModeFor } from './schema-mtls.js';
import { didYouMean } from './suggest.js';
import type {
  AuthorizationPolicyResource,
  ConfigIssue,
  MeshTLSResource,
  RequestAuthenticationResource,
  Resource,
  SecurityTargetRefConfig,
  ServiceResource,
} from './types.js';
import { keyString, resourceKey } from './types.js';

type Policy = AuthorizationPolicyResource | RequestAuthenticationResource;

function issueFor(
  r: Resource,
  code: IssueCode,
  path: readonly PathSegment[],
  message: string,
  severity: 'error' | 'warning' = 'error',
): ConfigIssue {
  return makeIssue({ ...originOf(r), resource: keyString(resourceKey(r)) }, code, path, message, severity);
}

/** True when `t` (in namespace `ns`) covers Service `svc`. */
export function targetCovers(t: SecurityTargetRefConfig, ns: string, svc: ServiceResource): boolean {
  if (svc.metadata.namespace !== ns) return false;
  return t.kind === 'Namespace' || t.name === svc.metadata.name;
}

function checkTargets(p: Policy, services: ReadonlyMap<string, ServiceResource>, out: ConfigIssue[]): void {
  const ns = p.metadata.namespace;
  const inNs = [...services.values()].filter((s) => s.metadata.namespace === ns);
  p.spec.targetRefs.forEach((t, i) => {
    const path = ['spec', 'targetRefs', i];
    if (t.group !== '')
      out.push(
        issueFor(
          p,
          'invalid_value',
          [...path, 'group'],
          `group must be empty (core) for ${t.kind}; got "${t.group}"`,
        ),
      );
    if (t.kind === 'Namespace') {
      if (t.sectionName !== undefined)
        out.push(
          issueFor(
            p,
            'invalid_value',
            [...path, 'sectionName'],
            'sectionName applies to Service targets only',
          ),
        );
      if (inNs.length === 0)
        out.push(
          issueFor(
            p,
            'dangling_reference',
            [...path, 'name'],
            `namespace ${ns} has no Service, so this ${p.kind} applies to nothing`,
            'warning',
          ),
        );
      const tcp = inNs.filter((s) => s.spec.ports.some((x) => x.protocol === 'tcp'));
      if (tcp.length > 0)
        out.push(
          issueFor(
            p,
            'unsupported',
            [...path, 'name'],
            `not enforced on tcp ports (HTTP, HTTP/2 and gRPC only): ${tcp.map((s) => s.metadata.name).join(', ')} in namespace ${ns} serve tcp`,
            'warning',
          ),
        );
      return;
    }
    const svc = services.get(`${ns}/${t.name}`);
    if (svc === undefined) {
      out.push(
        issueFor(
          p,
          'dangling_reference',
          [...path, 'name'],
          `Service ${ns}/${t.name} does not exist${didYouMean(
            t.name,
            inNs.map((s) => s.metadata.name),
          )}; a policy targets a Service in its own namespace`,
        ),
      );
      return;
    }
    const ports =
      t.sectionName === undefined ? svc.spec.ports : svc.spec.ports.filter((x) => x.name === t.sectionName);
    if (t.sectionName !== undefined && ports.length === 0)
      out.push(
        issueFor(
          p,
          'dangling_reference',
          [...path, 'sectionName'],
          `Service ${ns}/${t.name} has no port named ${t.sectionName}; its ports: ${svc.spec.ports.map((x) => x.name).join(', ')}`,
        ),
      );
    for (const port of ports)
      if (port.protocol === 'tcp')
        out.push(
          issueFor(
            p,
            'unsupported',
            [...path, 'name'],
            `port ${port.port} (${port.name}) of Service ${ns}/${t.name} is tcp: ${p.kind} applies to HTTP, HTTP/2 and gRPC ports only; use sectionName to target another port`,
          ),
        );
  });
}

const IDENTITY_KEYS = ['source.principal', 'source.namespace'];
const JWT_KEY = /^request\.auth\./;

function checkRules(
  p: AuthorizationPolicyResource,
  authns: readonly RequestAuthenticationResource[],
  meshTls: readonly MeshTLSResource[],
  services: ReadonlyMap<string, ServiceResource>,
  out: ConfigIssue[],
): void {
  const ns = p.metadata.namespace;
  const targets = [...services.values()].filter((s) => p.spec.targetRefs.some((t) => targetCovers(t, ns, s)));
  const plaintext = targets.filter((s) => mtlsModeFor(meshTls, ns, s.metadata.name) === 'DISABLE');
  const noIdentity = (what: string) =>
    `${what} match the verified peer of a mutual-TLS connection, and mTLS is DISABLE for ${plaintext.map((x) => x.metadata.name).join(', ')}: there this never matches`;
  const uncovered = targets.filter(
    (s) => !authns.some((a) => a.spec.targetRefs.some((t) => targetCovers(t, a.metadata.namespace, s))),
  );
  p.spec.rules.forEach((rule, i) => {
    const path = ['spec', 'rules', i];
    rule.from.forEach((f, j) => {
      const s = f;
      const fp = [...path, 'from', j, 'source'];
      if ([s.identities, s.services, s.namespaces].some((a) => a.length > 0) && plaintext.length > 0)
        out.push(
          issueFor(p, 'unsupported', fp, noIdentity('identities, services and namespaces'), 'warning'),
        );
      if ((s.requestPrincipals.length > 0 || s.notRequestPrincipals.length > 0) && uncovered.length > 0)
        out.push(
          issueFor(
            p,
            'dangling_reference',
            fp,
            `requestPrincipals need a verified JWT, but no RequestAuthentication covers ${uncovered.map((x) => x.metadata.name).join(', ')}`,
            'warning',
          ),
        );
    });
    rule.when.forEach((c, j) => {
      if (IDENTITY_KEYS.includes(c.key) && plaintext.length > 0)
        out.push(issueFor(p, 'unsupported', [...path, 'when', j, 'key'], noIdentity(c.key), 'warning'));
      if (JWT_KEY.test(c.key) && uncovered.length > 0)
        out.push(
          issueFor(
            p,
            'dangling_reference',
            [...path, 'when', j, 'key'],
            `${c.key} needs a verified JWT, but no RequestAuthentication covers ${uncovered.map((x) => x.metadata.name).join(', ')}`,
            'warning',
          ),
        );
    });
  });
}

/** Issues for every AuthorizationPolicy and RequestAuthentication in `resources`. */
export function analyzeSecurity(
  resources: Iterable<Resource>,
  services: ReadonlyMap<string, ServiceResource>,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const all = [...resources];
  const authns = all.filter((r): r is RequestAuthenticationResource => r.kind === 'RequestAuthentication');
  const meshTls = all.filter((r): r is MeshTLSResource => r.kind === 'MeshTLS');
  for (const r of all) {
    if (r.kind !== 'AuthorizationPolicy' && r.kind !== 'RequestAuthentication') continue;
    checkTargets(r, services, out);
    if (r.kind === 'AuthorizationPolicy') checkRules(r, authns, meshTls, services, out);
  }
  return out;
}
