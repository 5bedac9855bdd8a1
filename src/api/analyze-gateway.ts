// Cross-resource checks for ingress Gateways: routes naming a missing Gateway, listener or port,
// routes from namespaces a listener does not accept, hostnames no listener serves, Gateways or
// listeners that would bind the same address and port, HTTPS listeners naming a missing Secret or
// sharing a port with HTTP ones, and Secrets whose certificate is expired (or not yet valid).
import { analyzeTlsRoutes } from './analyze-tlsroute.js';
import { intersectHostnames } from './gateway-hostnames.js';
import type { IssueCode, IssueContext, PathSegment } from './issues.js';
import { makeIssue } from './issues.js';
import { originOf } from './origin.js';
import { didYouMean, withSuggestion } from './suggest.js';
import type {
  ConfigIssue,
  ConfigMapResource,
  GatewayListenerConfig,
  GatewayResource,
  GRPCRouteResource,
  HTTPRouteResource,
  ParentRefConfig,
  Resource,
  SecretResource,
} from './types.js';
import { keyString, resourceKey } from './types.js';

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

const gwId = (g: GatewayResource): string => `${g.metadata.namespace}/${g.metadata.name}`;
const listenerList = (g: GatewayResource): string =>
  g.spec.listeners.map((l) => `${l.name} (port ${l.port}${l.hostname ? `, ${l.hostname}` : ''})`).join(', ');
const isAny = (address: string): boolean => address === '0.0.0.0' || address === '::';

/**
 * Severities: `error` where the Gateway could not work as written (a missing parent, listener or
 * port; a route its listener refuses; two sockets on one address and port; two listeners claiming
 * the same port and hostname); `warning` where a route attaches but serves nothing (no hostname in
 * common with the listeners). `resources` must hold each resource once (duplicates are analyze's).
 */
export function analyzeGateways(resources: readonly Resource[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const gateways = new Map<string, GatewayResource>();
  for (const r of resources) if (r.kind === 'Gateway') gateways.set(gwId(r), r);
  out.push(...bindConflicts([...gateways.values()]));
  const services = new Set<string>();
  for (const r of resources)
    if (r.kind === 'Service') services.add(`${r.metadata.namespace}/${r.metadata.name}`);
  for (const r of resources)
    if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute')
      out.push(...analyzeRouteParents(r, gateways, services));
  const secrets = new Map<string, SecretResource>();
  for (const r of resources)
    if (r.kind === 'Secret') {
      secrets.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
      out.push(...checkSecret(r, Date.now()));
    }
  for (const g of gateways.values()) out.push(...checkTls(g, secrets));
  const configMaps = new Map<string, ConfigMapResource>();
  for (const r of resources)
    if (r.kind === 'ConfigMap') configMaps.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
  for (const g of gateways.values()) out.push(...checkFrontendTls(g, configMaps));
  out.push(...analyzeTlsRoutes(resources));
  return out;
}

/** A Secret's certificate must be valid now (checked when applied; a stored one still loads). */
export function checkSecret(s: SecretResource, nowMs: number): ConfigIssue[] {
  const c = s.spec.certificate;
  const path = ['data', 'tls.crt'];
  if (Date.parse(c.notAfter) <= nowMs)
    return [
      issueFor(
        s,
        'invalid_value',
        path,
        `the certificate (${c.subject}) expired on ${c.notAfter}; issue a new one`,
      ),
    ];
  if (Date.parse(c.notBefore) > nowMs)
    return [
      issueFor(
        s,
        'invalid_value',
        path,
        `the certificate (${c.subject}) is not valid before ${c.notBefore}; clients would refuse it`,
      ),
    ];
  return [];
}

/**
 * HTTPS listeners: their certificateRefs name Secrets of the Gateway's namespace; HTTP and HTTPS
 * listeners never share a port (one socket is plaintext or TLS).
 */
function checkTls(g: GatewayResource, secrets: ReadonlyMap<string, SecretResource>): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const ns = g.metadata.namespace;
  g.spec.listeners.forEach((l, li) => {
    const at = ['spec', 'listeners', li];
    // Reported on the later listener of each pair: a port serves one protocol.
    const other = g.spec.listeners.slice(0, li).find((o) => o.port === l.port && o.protocol !== l.protocol);
    if (other !== undefined)
      out.push(
        issueFor(
          g,
          'conflict',
          [...at, 'protocol'],
          `listener '${l.name}' (${l.protocol}) and '${other.name}' (${other.protocol}) share port ${l.port}; a port serves one protocol (HTTP, HTTPS or TLS passthrough): give one of them another port`,
        ),
      );
    (l.tls?.certificateRefs ?? []).forEach((name, ci) => {
      if (secrets.has(`${ns}/${name}`)) return;
      const inNs = [...secrets.values()]
        .filter((x) => x.metadata.namespace === ns)
        .map((x) => x.metadata.name);
      out.push(
        issueFor(
          g,
          'dangling_reference',
          [...at, 'tls', 'certificateRefs', ci, 'name'],
          `Secret ${ns}/${name} does not exist${didYouMean(name, inNs)}; apply a kubernetes.io/tls Secret with that name in namespace ${ns} (in the same apply, or before)`,
        ),
      );
    });
  });
  return out;
}

/**
 * Client certificate validation (spec.tls.frontend): each caCertificateRef names a ConfigMap of
 * the Gateway's namespace holding `ca.crt`; a perPort entry's port is an HTTPS listener's.
 */
function checkFrontendTls(
  g: GatewayResource,
  configMaps: ReadonlyMap<string, ConfigMapResource>,
): ConfigIssue[] {
  const f = g.spec.frontendTls;
  if (f === undefined) return [];
  const out: ConfigIssue[] = [];
  const ns = g.metadata.namespace;
  const base = ['spec', 'tls', 'frontend'];
  const checkRefs = (names: readonly string[], at: PathSegment[]) =>
    names.forEach((name, i) => {
      const cm = configMaps.get(`${ns}/${name}`);
      const path = [...at, 'caCertificateRefs', i, 'name'];
      if (cm === undefined) {
        const inNs = [...configMaps.values()]
          .filter((x) => x.metadata.namespace === ns)
          .map((x) => x.metadata.name);
        out.push(
          issueFor(
            g,
            'dangling_reference',
            path,
            `ConfigMap ${ns}/${name} does not exist${didYouMean(name, inNs)}; apply a ConfigMap with the CA certificates under data["ca.crt"] in namespace ${ns} (in the same apply, or before)`,
          ),
        );
      } else if (cm.spec.data['ca.crt'] === undefined)
        out.push(
          issueFor(
            g,
            'invalid_value',
            path,
            `ConfigMap ${ns}/${name} has no "ca.crt" key; put the PEM CA certificates clients are verified against under data["ca.crt"]`,
          ),
        );
    });
  if (f.defaultCaRefs !== undefined) checkRefs(f.defaultCaRefs, [...base, 'default', 'validation']);
  f.perPort.forEach((p, j) => {
    const at: PathSegment[] = [...base, 'perPort', j];
    if (!g.spec.listeners.some((l) => l.port === p.port && l.protocol === 'HTTPS'))
      out.push(
        issueFor(
          g,
          'invalid_value',
          [...at, 'port'],
          `no HTTPS listener of Gateway ${gwId(g)} is on port ${p.port}; client certificates are validated on HTTPS ports: ${[...new Set(g.spec.listeners.filter((l) => l.protocol === 'HTTPS').map((l) => l.port))].join(', ') || 'none'}`,
        ),
      );
    checkRefs(p.caRefs, [...at, 'tls', 'validation']);
  });
  return out;
}

/** Two Gateways on one address+port; two listeners of one Gateway on one port and hostname. */
function bindConflicts(gateways: readonly GatewayResource[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  gateways.forEach((g, gi) => {
    g.spec.listeners.forEach((l, li) => {
      const at = ['spec', 'listeners', li];
      // Same Gateway: listeners share a socket per port, told apart by hostname.
      const twin = g.spec.listeners
        .slice(0, li)
        .find((o) => o.port === l.port && (o.hostname ?? '*') === (l.hostname ?? '*'));
      if (twin !== undefined)
        out.push(
          issueFor(
            g,
            'conflict',
            [...at, 'hostname'],
            `listeners '${twin.name}' and '${l.name}' both serve port ${l.port} for ${l.hostname ? `hostname ${l.hostname}` : 'any hostname'}; listeners sharing a port need distinct hostnames`,
          ),
        );
      // Other Gateways (each Gateway runs its own proxy): the same address and port cannot be bound twice.
      gateways.forEach((o, oi) => {
        if (oi === gi) return;
        const ol = o.spec.listeners.find((x) => x.port === l.port);
        if (ol === undefined) return;
        const shared = g.spec.addresses.find((a) =>
          o.spec.addresses.some((b) => a === b || isAny(a) || isAny(b)),
        );
        if (shared === undefined) return;
        out.push(
          issueFor(
            g,
            'conflict',
            [...at, 'port'],
            `listener '${l.name}' binds ${shared.includes(':') ? `[${shared}]` : shared}:${l.port}, which Gateway ${gwId(o)} (listener '${ol.name}') binds too; two Gateways cannot share an address and port: change the port or spec.addresses of one of them`,
          ),
        );
      });
    });
  });
  return out;
}

/** The listeners a parentRef selects (by sectionName and port). */
const selected = (g: GatewayResource, p: ParentRefConfig): GatewayListenerConfig[] =>
  g.spec.listeners.filter(
    (l) =>
      (p.sectionName === undefined || l.name === p.sectionName) &&
      (p.port === undefined || l.port === p.port),
  );

function analyzeRouteParents(
  route: HTTPRouteResource | GRPCRouteResource,
  gateways: ReadonlyMap<string, GatewayResource>,
  services: ReadonlySet<string>,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const add = (code: IssueCode, path: PathSegment[], message: string, severity?: 'error' | 'warning') =>
    out.push(issueFor(route, code, path, message, severity));
  const routeNs = route.metadata.namespace;
  route.spec.parentRefs.forEach((p, i) => {
    if (p.kind !== 'Gateway') return;
    const at: PathSegment[] = ['spec', 'parentRefs', i];
    const gw = gateways.get(`${p.namespace}/${p.name}`);
    if (gw === undefined) {
      const names = [...gateways.values()]
        .filter((g) => g.metadata.namespace === p.namespace)
        .map((g) => g.metadata.name);
      // parentRefs default to kind Gateway: a mesh route that meant its Service says so.
      const hint = services.has(`${p.namespace}/${p.name}`)
        ? `; a Service ${p.namespace}/${p.name} exists: to attach the route to it (mesh routing), set group: "" and kind: Service`
        : `; apply the Gateway first, or in the same apply${p.namespace === routeNs ? ' (a Gateway in another namespace needs parentRefs[].namespace)' : ''}`;
      add(
        'dangling_reference',
        [...at, 'name'],
        `parent Gateway ${p.namespace}/${p.name} does not exist${didYouMean(p.name, names)}${hint}`,
      );
      return;
    }
    const names = gw.spec.listeners.map((l) => l.name);
    if (p.sectionName !== undefined && !names.includes(p.sectionName)) {
      add(
        'dangling_reference',
        [...at, 'sectionName'],
        withSuggestion(
          `Gateway ${gwId(gw)} has no listener named "${p.sectionName}" (sectionName names a listener)`,
          p.sectionName,
          names,
          `its listeners: ${listenerList(gw)}`,
        ),
      );
      return;
    }
    if (p.port !== undefined && !gw.spec.listeners.some((l) => l.port === p.port)) {
      add(
        'dangling_reference',
        [...at, 'port'],
        `Gateway ${gwId(gw)} has no listener on port ${p.port}; its listeners: ${listenerList(gw)}`,
      );
      return;
    }
    const candidates = selected(gw, p);
    if (candidates.length === 0) {
      add(
        'dangling_reference',
        [...at],
        `listener "${p.sectionName ?? ''}" of Gateway ${gwId(gw)} is not on port ${p.port ?? ''}; its listeners: ${listenerList(gw)}`,
      );
      return;
    }
    const allowed =
      routeNs === gw.metadata.namespace
        ? candidates
        : candidates.filter((l) => l.allowedRoutesFrom === 'All');
    if (allowed.length === 0) {
      const which =
        candidates.length === 1
          ? `listener '${candidates[0]?.name ?? ''}' of Gateway ${gwId(gw)} only accepts`
          : `no listener of Gateway ${gwId(gw)} this parentRef selects accepts routes from other namespaces: they only accept`;
      add(
        'invalid_value',
        [...at],
        `${route.kind} ${routeNs}/${route.metadata.name} is in namespace ${routeNs}, but ${which} routes from its own namespace ${gw.metadata.namespace} (allowedRoutes.namespaces.from: Same, the default); set allowedRoutes: {namespaces: {from: All}} on the listener, or move the route to namespace ${gw.metadata.namespace}`,
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
        `none of the route's hostnames (${route.spec.hostnames.join(', ')}) matches a hostname of the listener(s) it attaches to on Gateway ${gwId(gw)}: ${allowed.map((l) => `${l.name} (${l.hostname ?? 'any hostname'})`).join(', ')}; the route serves no requests there`,
        'warning',
      );
  });
  return out;
}
