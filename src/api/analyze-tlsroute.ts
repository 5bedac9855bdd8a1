// Cross-resource checks for TLSRoutes (TLS passthrough on an ingress Gateway): the parent Gateway
// and listener exist, the listener is a protocol TLS (Passthrough) one that accepts the route's
// namespace, the route's hostnames intersect the listener's hostname, and every backendRef names
// an existing Service port. Also: HTTPRoutes / GRPCRoutes naming a TLS listener.
import { intersectHostnames } from './gateway-hostnames.js';
import type { IssueCode, PathSegment } from './issues.js';
import { makeIssue } from './issues.js';
import { originOf } from './origin.js';
import { didYouMean, withSuggestion } from './suggest.js';
import type {
  ConfigIssue,
  GatewayListenerConfig,
  GatewayResource,
  ParentRefConfig,
  Resource,
  ServiceResource,
  TLSRouteResource,
} from './types.js';
import { keyString, resourceKey } from './types.js';

const gwId = (g: GatewayResource): string => `${g.metadata.namespace}/${g.metadata.name}`;
const describe = (l: GatewayListenerConfig): string =>
  `${l.name} (${l.protocol}, port ${l.port}${l.hostname ? `, ${l.hostname}` : ''})`;

const selected = (g: GatewayResource, p: ParentRefConfig): GatewayListenerConfig[] =>
  g.spec.listeners.filter(
    (l) =>
      (p.sectionName === undefined || l.name === p.sectionName) &&
      (p.port === undefined || l.port === p.port),
  );

export function analyzeTlsRoutes(resources: readonly Resource[]): ConfigIssue[] {
  const gateways = new Map<string, GatewayResource>();
  const services = new Map<string, ServiceResource>();
  for (const r of resources)
    if (r.kind === 'Gateway') gateways.set(gwId(r), r);
    else if (r.kind === 'Service') services.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
  const out: ConfigIssue[] = [];
  for (const r of resources) {
    if (r.kind === 'TLSRoute') out.push(...analyzeTlsRoute(r, gateways, services));
    if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute')
      r.spec.parentRefs.forEach((p, i) => {
        if (p.kind !== 'Gateway' || p.sectionName === undefined) return;
        const l = gateways
          .get(`${p.namespace}/${p.name}`)
          ?.spec.listeners.find((x) => x.name === p.sectionName);
        if (l?.protocol === 'TLS')
          out.push(
            issue(
              r,
              'invalid_value',
              ['spec', 'parentRefs', i, 'sectionName'],
              `listener '${l.name}' is a TLS passthrough listener (protocol TLS): only TLSRoutes attach to it; attach the ${r.kind} to an HTTP or HTTPS listener`,
            ),
          );
      });
  }
  return out;
}

function issue(r: Resource, code: IssueCode, path: readonly PathSegment[], message: string): ConfigIssue {
  return makeIssue({ ...originOf(r), resource: keyString(resourceKey(r)) }, code, path, message, 'error');
}

function analyzeTlsRoute(
  route: TLSRouteResource,
  gateways: ReadonlyMap<string, GatewayResource>,
  services: ReadonlyMap<string, ServiceResource>,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const add = (code: IssueCode, path: PathSegment[], message: string) =>
    out.push(issue(route, code, path, message));
  const ns = route.metadata.namespace;
  route.spec.parentRefs.forEach((p, i) => {
    const at: PathSegment[] = ['spec', 'parentRefs', i];
    const gw = gateways.get(`${p.namespace}/${p.name}`);
    if (gw === undefined) {
      const names = [...gateways.values()]
        .filter((g) => g.metadata.namespace === p.namespace)
        .map((g) => g.metadata.name);
      add(
        'dangling_reference',
        [...at, 'name'],
        `parent Gateway ${p.namespace}/${p.name} does not exist${didYouMean(p.name, names)}; apply the Gateway first, or in the same apply`,
      );
      return;
    }
    const all = gw.spec.listeners.map(describe).join(', ');
    if (p.sectionName !== undefined && !gw.spec.listeners.some((l) => l.name === p.sectionName)) {
      add(
        'dangling_reference',
        [...at, 'sectionName'],
        withSuggestion(
          `Gateway ${gwId(gw)} has no listener named "${p.sectionName}"`,
          p.sectionName,
          gw.spec.listeners.map((l) => l.name),
          `its listeners: ${all}`,
        ),
      );
      return;
    }
    const candidates = selected(gw, p);
    const tls = candidates.filter((l) => l.protocol === 'TLS' && l.tls?.mode === 'Passthrough');
    if (tls.length === 0) {
      add(
        'invalid_value',
        [...at, p.sectionName !== undefined ? 'sectionName' : p.port !== undefined ? 'port' : 'name'],
        `a TLSRoute attaches to a listener with protocol: TLS and tls.mode: Passthrough; ${candidates.length === 0 ? 'this parentRef selects no listener' : `this parentRef selects ${candidates.map(describe).join(', ')}`} of Gateway ${gwId(gw)} (its listeners: ${all})`,
      );
      return;
    }
    const allowed = ns === gw.metadata.namespace ? tls : tls.filter((l) => l.allowedRoutesFrom === 'All');
    if (allowed.length === 0) {
      add(
        'invalid_value',
        at,
        `TLSRoute ${ns}/${route.metadata.name} is in namespace ${ns}, but the listener(s) ${tls.map((l) => l.name).join(', ')} of Gateway ${gwId(gw)} only accept routes from namespace ${gw.metadata.namespace}; set allowedRoutes: {namespaces: {from: All}} on the listener, or move the route`,
      );
      return;
    }
    if (
      route.spec.hostnames.length > 0 &&
      allowed.every((l) => intersectHostnames(route.spec.hostnames, l.hostname).length === 0)
    )
      add(
        'invalid_value',
        ['spec', 'hostnames'],
        `none of the route's hostnames (${route.spec.hostnames.join(', ')}) intersects the hostname of the listener(s) it attaches to on Gateway ${gwId(gw)}: ${allowed.map(describe).join(', ')}; use a hostname the listener covers`,
      );
  });
  route.spec.rules.forEach((rule, ri) =>
    rule.backendRefs.forEach((b, bi) => {
      const at: PathSegment[] = ['spec', 'rules', ri, 'backendRefs', bi];
      const svc = services.get(`${b.namespace}/${b.name}`);
      if (svc === undefined) {
        const names = [...services.values()]
          .filter((s) => s.metadata.namespace === b.namespace)
          .map((s) => s.metadata.name);
        add(
          'dangling_reference',
          [...at, 'name'],
          `backend Service ${b.namespace}/${b.name} does not exist${didYouMean(b.name, names)}; apply it first, or in the same apply`,
        );
        return;
      }
      if (!svc.spec.ports.some((sp) => sp.port === b.port))
        add(
          'dangling_reference',
          [...at, 'port'],
          `Service ${b.namespace}/${b.name} has no port ${b.port ?? ''}; its ports: ${svc.spec.ports.map((sp) => `${sp.port} (${sp.name})`).join(', ')}`,
        );
      if (b.subset !== undefined && !svc.spec.subsets.some((s) => s.name === b.subset))
        add(
          'dangling_reference',
          [...at, 'subset'],
          `Service ${b.namespace}/${b.name} has no subset "${b.subset}"`,
        );
    }),
  );
  return out;
}
