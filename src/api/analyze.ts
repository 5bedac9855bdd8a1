// Cross-resource checks over a whole set of validated resources, reported like `istioctl analyze`:
// duplicates, references to missing Services/subsets/ports, zero-weight rules, conflicting routes.
import { analyzeWorkloads } from './analyze-workload.js';
import { analyzeSecurity } from './analyze-security.js';
import type { IssueCode, IssueContext, PathSegment } from './issues.js';
import { analyzeGateways } from './analyze-gateway.js';
import { makeIssue } from './issues.js';
import { originOf } from './origin.js';
import { didYouMean, withSuggestion } from './suggest.js';
import type {
  BackendRefConfig,
  ConfigIssue,
  GRPCRouteResource,
  HTTPRouteResource,
  ParentRefConfig,
  Resource,
  ServiceResource,
} from './types.js';
import { keyString, resourceKey } from './types.js';

/**
 * Severities: `error` where the config is definitely wrong as written (a duplicate resource, a
 * reference to a Service, port or subset that does not exist, a rule whose weights sum to zero);
 * `warning` where it may be a matter of intent (a rule without backends, two routes with the same match).
 * Gateway parents (ingress) are checked by analyze-gateway.ts.
 */
export function analyze(resources: readonly Resource[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const services = new Map<string, ServiceResource>();
  const firstSeen = new Map<string, Resource>();
  for (const r of resources) {
    const id = keyString(resourceKey(r));
    const first = firstSeen.get(id);
    if (first !== undefined) {
      const o = originOf(first);
      const where = o ? ` (first in ${o.source} doc ${o.document + 1})` : '';
      issues.push(
        issueFor(
          r,
          'duplicate',
          ['metadata', 'name'],
          `${id} is defined more than once${where}; each kind/namespace/name must be unique`,
        ),
      );
      continue;
    }
    firstSeen.set(id, r);
    if (r.kind === 'Service') services.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
  }
  const conflicts = new Map<string, string>();
  for (const r of firstSeen.values())
    if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute')
      issues.push(...analyzeRoute(r, services, conflicts));
  issues.push(...analyzeWorkloads(firstSeen.values(), services));
  issues.push(...analyzeGateways([...firstSeen.values()]));
  issues.push(...analyzeSecurity(firstSeen.values(), services));
  return issues;
}

function issueFor(
  r: Resource,
  code: IssueCode,
  path: readonly PathSegment[],
  message: string,
  severity: 'error' | 'warning' = 'error',
): ConfigIssue {
  const o = originOf(r);
  const ctx: IssueContext = { ...o, resource: keyString(resourceKey(r)) };
  return makeIssue(ctx, code, path, message, severity);
}

const portList = (s: ServiceResource): string => s.spec.ports.map((p) => `${p.port} (${p.name})`).join(', ');

function analyzeRoute(
  route: HTTPRouteResource | GRPCRouteResource,
  services: ReadonlyMap<string, ServiceResource>,
  conflicts: Map<string, string>,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const add = (
    code: IssueCode,
    path: PathSegment[],
    message: string,
    severity: 'error' | 'warning' = 'error',
  ) => out.push(issueFor(route, code, path, message, severity));
  const namesIn = (ns: string) =>
    [...services.values()].filter((s) => s.metadata.namespace === ns).map((s) => s.metadata.name);
  const id = keyString(resourceKey(route));

  route.spec.parentRefs.forEach((p, i) => {
    const at: PathSegment[] = ['spec', 'parentRefs', i];
    const svc = services.get(`${p.namespace}/${p.name}`);
    if (p.kind === 'Gateway') return; // ingress parents: analyze-gateway.ts
    if (!svc) {
      add(
        'dangling_reference',
        [...at, 'name'],
        `parent Service ${p.namespace}/${p.name} does not exist${didYouMean(p.name, namesIn(p.namespace))}; apply the Service first, or in the same apply`,
      );
      return;
    }
    const ports = parentPorts(svc, p);
    if (p.port !== undefined && !svc.spec.ports.some((sp) => sp.port === p.port))
      add(
        'dangling_reference',
        [...at, 'port'],
        `Service ${p.namespace}/${p.name} has no port ${p.port}; its ports: ${portList(svc)}`,
      );
    if (p.sectionName !== undefined && !svc.spec.ports.some((sp) => sp.name === p.sectionName))
      add(
        'dangling_reference',
        [...at, 'sectionName'],
        `Service ${p.namespace}/${p.name} has no port named "${p.sectionName}" (sectionName names a Service port); its ports: ${portList(svc)}`,
      );
    const fits = route.kind === 'GRPCRoute' ? ['grpc', 'http2'] : ['http', 'http2', 'grpc'];
    if (ports.length > 0 && !ports.some((sp) => fits.includes(sp.protocol)))
      add(
        'protocol_mismatch',
        [...at],
        `${route.kind} attached to port(s) ${ports.map((sp) => `${sp.port} (${sp.protocol})`).join(', ')} of Service ${p.namespace}/${p.name}; ${route.kind} needs protocol ${fits.join(' or ')}`,
        'warning',
      );
  });

  const checkBackend = (b: BackendRefConfig, at: PathSegment[], what: string) => {
    const svc = services.get(`${b.namespace}/${b.name}`);
    if (!svc) {
      add(
        'dangling_reference',
        [...at, 'name'],
        `${what} Service ${b.namespace}/${b.name} does not exist${didYouMean(b.name, namesIn(b.namespace))}; apply the Service first, or in the same apply`,
      );
      return;
    }
    if (b.port !== undefined && !svc.spec.ports.some((sp) => sp.port === b.port))
      add(
        'dangling_reference',
        [...at, 'port'],
        `Service ${b.namespace}/${b.name} has no port ${b.port}; its ports: ${portList(svc)}`,
      );
    if (b.subset !== undefined && !svc.spec.subsets.some((s) => s.name === b.subset)) {
      const names = svc.spec.subsets.map((s) => s.name);
      add(
        'dangling_reference',
        [...at, 'subset'],
        withSuggestion(
          `Service ${b.namespace}/${b.name} has no subset "${b.subset}"`,
          b.subset,
          names,
          `its subsets: ${names.join(', ') || '(none; define them in spec.subsets)'}`,
        ),
      );
    }
  };

  route.spec.rules.forEach((rule, r) => {
    const at: PathSegment[] = ['spec', 'rules', r];
    rule.backendRefs.forEach((b, k) => checkBackend(b, [...at, 'backendRefs', k], 'backend'));
    rule.filters.forEach((f, k) => {
      if (f.type === 'RequestMirror')
        checkBackend(
          f.requestMirror.backendRef,
          [...at, 'filters', k, 'requestMirror', 'backendRef'],
          'mirror',
        );
    });
    const total = rule.backendRefs.reduce((sum, b) => sum + b.weight, 0);
    if (rule.backendRefs.length > 0 && total === 0)
      add(
        'invalid_value',
        [...at, 'backendRefs'],
        'the weights of all backendRefs sum to 0, so every request fails (HTTP 500); give at least one backend a weight above 0',
      );
    const redirects = rule.filters.some((f) => f.type === 'RequestRedirect');
    if (rule.backendRefs.length === 0 && !redirects)
      add(
        'no_backends',
        [...at],
        `rule has no backendRefs${route.kind === 'HTTPRoute' ? ' and no RequestRedirect filter' : ''}, so matching requests fail (HTTP 500); add a backendRef`,
        'warning',
      );

    rule.matches.forEach((m, j) => {
      for (const p of route.spec.parentRefs) {
        if (p.kind !== 'Service') continue;
        const key = `${route.kind}|${p.namespace}/${p.name}|${p.port ?? ''}|${p.sectionName ?? ''}|${JSON.stringify(m)}`;
        const first = conflicts.get(key);
        const here = `${id} rules[${r}].matches[${j}]`;
        if (first === undefined) conflicts.set(key, here);
        else if (!first.startsWith(`${id} rules[${r}]`))
          add(
            'conflict',
            [...at, 'matches', j],
            `same match as ${first} on parent Service ${p.namespace}/${p.name}; only one of them can win (Gateway API precedence: the older route, then alphabetical order), so the other never matches`,
            'warning',
          );
      }
    });
  });
  return out;
}

function parentPorts(svc: ServiceResource, p: ParentRefConfig) {
  return svc.spec.ports.filter(
    (sp) =>
      (p.port === undefined || sp.port === p.port) &&
      (p.sectionName === undefined || sp.name === p.sectionName),
  );
}
