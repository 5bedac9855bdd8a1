// Cross-resource checks for AuthorizationPolicy and RequestAuthentication: targetRefs that name no
// Service (or port) or Gateway (or listener; or one sharing its port), Services whose port is tcp
// (HTTP policies cannot be enforced there, so they are refused rather than silently open), and
// rules that can never match (identities on a Service whose mTLS mode is DISABLE, or at a Gateway,
// whose clients have no mesh identity; JWT principals/claims on a target no RequestAuthentication
// covers).
import type { IssueCode, PathSegment } from './issues.js';
import { makeIssue } from './issues.js';
import { originOf } from './origin.js';
import { mtlsModeFor } from './schema-mtls.js';
import { didYouMean } from './suggest.js';
import type {
  AuthorizationPolicyResource,
  ConfigIssue,
  GatewayResource,
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

/** A target naming no `kind` in the policy's namespace, whose resources of that kind are `inNs`. */
function missingTarget(
  p: Policy,
  path: readonly PathSegment[],
  kind: 'Gateway' | 'Service',
  name: string,
  inNs: readonly Resource[],
): ConfigIssue {
  return issueFor(
    p,
    'dangling_reference',
    [...path, 'name'],
    `${kind} ${p.metadata.namespace}/${name} does not exist${didYouMean(
      name,
      inNs.map((r) => r.metadata.name),
    )}; a policy targets a ${kind} in its own namespace`,
  );
}

/** True when `t` (in namespace `ns`) covers Service `svc`. */
export function targetCovers(t: SecurityTargetRefConfig, ns: string, svc: ServiceResource): boolean {
  if (svc.metadata.namespace !== ns) return false;
  return t.kind === 'Namespace' || (t.kind === 'Service' && t.name === svc.metadata.name);
}

/** True when `t` (in namespace `ns`) covers Gateway `gw` (any of its listeners). */
export function targetCoversGateway(t: SecurityTargetRefConfig, ns: string, gw: GatewayResource): boolean {
  if (gw.metadata.namespace !== ns) return false;
  return t.kind === 'Namespace' || (t.kind === 'Gateway' && t.name === gw.metadata.name);
}

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

function checkGatewayTarget(
  p: Policy,
  t: SecurityTargetRefConfig,
  path: readonly PathSegment[],
  gateways: readonly GatewayResource[],
  out: ConfigIssue[],
): void {
  const ns = p.metadata.namespace;
  const inNs = gateways.filter((g) => g.metadata.namespace === ns);
  const gw = inNs.find((g) => g.metadata.name === t.name);
  if (gw === undefined) {
    out.push(missingTarget(p, path, 'Gateway', t.name, inNs));
    return;
  }
  if (t.sectionName === undefined) return;
  const l = gw.spec.listeners.find((x) => x.name === t.sectionName);
  if (l === undefined) {
    out.push(
      issueFor(
        p,
        'dangling_reference',
        [...path, 'sectionName'],
        `Gateway ${ns}/${t.name} has no listener named ${t.sectionName}${didYouMean(
          t.sectionName,
          gw.spec.listeners.map((x) => x.name),
        )}; its listeners: ${gw.spec.listeners.map((x) => x.name).join(', ')}`,
      ),
    );
    return;
  }
  // One port is one HTTP connection manager: a policy cannot tell its listeners apart.
  const sharing = gw.spec.listeners.filter((x) => x.port === l.port && x !== l).map((x) => x.name);
  if (sharing.length > 0)
    out.push(
      issueFor(
        p,
        'invalid_value',
        [...path, 'sectionName'],
        `listener ${l.name} shares port ${l.port} with ${sharing.join(', ')}: a policy applies to a whole port of a Gateway; drop sectionName and match hosts in the rules (to.operation.hosts), or give the listener its own port`,
      ),
    );
}

function checkTargets(
  p: Policy,
  services: ReadonlyMap<string, ServiceResource>,
  gateways: readonly GatewayResource[],
  out: ConfigIssue[],
): void {
  const ns = p.metadata.namespace;
  const inNs = [...services.values()].filter((s) => s.metadata.namespace === ns);
  p.spec.targetRefs.forEach((t, i) => {
    const path = ['spec', 'targetRefs', i];
    if (t.kind === 'Gateway') {
      if (t.group !== '' && t.group !== GATEWAY_GROUP)
        out.push(
          issueFor(
            p,
            'invalid_value',
            [...path, 'group'],
            `group must be ${GATEWAY_GROUP} (or empty) for Gateway; got "${t.group}"`,
          ),
        );
      checkGatewayTarget(p, t, path, gateways, out);
      return;
    }
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
            'sectionName applies to Service and Gateway targets only',
          ),
        );
      if (inNs.length === 0 && !gateways.some((g) => g.metadata.namespace === ns))
        out.push(
          issueFor(
            p,
            'dangling_reference',
            [...path, 'name'],
            `namespace ${ns} has no Service and no Gateway, so this ${p.kind} applies to nothing`,
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
      out.push(missingTarget(p, path, 'Service', t.name, inNs));
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
  gateways: readonly GatewayResource[],
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
  // Clients of an ingress Gateway come from outside the mesh: no verified peer identity.
  const edge = gateways.filter((g) => p.spec.targetRefs.some((t) => targetCoversGateway(t, ns, g)));
  const atEdge = (what: string) =>
    `${what} match the verified peer of a mutual-TLS connection; clients of Gateway ${edge.map((g) => g.metadata.name).join(', ')} come from outside the mesh and have none: there this never matches${p.spec.action === 'ALLOW' ? ' (so the rule allows nothing there)' : ''}`;
  const uncoveredGw = edge.filter(
    (g) =>
      !authns.some((a) => a.spec.targetRefs.some((t) => targetCoversGateway(t, a.metadata.namespace, g))),
  );
  const noJwt = [
    ...uncovered.map((x) => x.metadata.name),
    ...uncoveredGw.map((g) => `Gateway ${g.metadata.name}`),
  ];
  p.spec.rules.forEach((rule, i) => {
    const path = ['spec', 'rules', i];
    rule.from.forEach((f, j) => {
      const s = f;
      const fp = [...path, 'from', j, 'source'];
      if ([s.identities, s.services, s.namespaces].some((a) => a.length > 0) && plaintext.length > 0)
        out.push(
          issueFor(p, 'unsupported', fp, noIdentity('identities, services and namespaces'), 'warning'),
        );
      if ([s.identities, s.services, s.namespaces].some((a) => a.length > 0) && edge.length > 0)
        out.push(issueFor(p, 'unsupported', fp, atEdge('identities, services and namespaces'), 'warning'));
      if ((s.requestPrincipals.length > 0 || s.notRequestPrincipals.length > 0) && noJwt.length > 0)
        out.push(
          issueFor(
            p,
            'dangling_reference',
            fp,
            `requestPrincipals need a verified JWT, but no RequestAuthentication covers ${noJwt.join(', ')}`,
            'warning',
          ),
        );
    });
    rule.when.forEach((c, j) => {
      if (IDENTITY_KEYS.includes(c.key) && plaintext.length > 0)
        out.push(issueFor(p, 'unsupported', [...path, 'when', j, 'key'], noIdentity(c.key), 'warning'));
      if (IDENTITY_KEYS.includes(c.key) && c.values.length > 0 && edge.length > 0)
        out.push(issueFor(p, 'unsupported', [...path, 'when', j, 'key'], atEdge(c.key), 'warning'));
      if (JWT_KEY.test(c.key) && noJwt.length > 0)
        out.push(
          issueFor(
            p,
            'dangling_reference',
            [...path, 'when', j, 'key'],
            `${c.key} needs a verified JWT, but no RequestAuthentication covers ${noJwt.join(', ')}`,
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
  const gateways = all.filter((r): r is GatewayResource => r.kind === 'Gateway');
  for (const r of all) {
    if (r.kind !== 'AuthorizationPolicy' && r.kind !== 'RequestAuthentication') continue;
    checkTargets(r, services, gateways, out);
    if (r.kind === 'AuthorizationPolicy') checkRules(r, authns, meshTls, services, gateways, out);
  }
  return out;
}
