// Turns a Resource back into a plain JSON document (defaults written out, durations as strings)
// that parses back to an equal Resource. Key order is fixed, so JSON.stringify can compare docs.
import { formatDurationMs } from './duration.js';
import { gatewayToDocument } from './schema-gateway.js';
import { secretPublicDocument, secretToStoredDocument } from './schema-secret.js';
import { workloadToDocument } from './schema-workload.js';
import { tlsRouteToDocument } from './schema-tlsroute.js';
import { configMapToDocument } from './schema-configmap.js';
import { meshTlsToDocument } from './schema-mtls.js';
import { authorizationPolicyToDocument, requestAuthenticationToDocument } from './schema-security.js';
import type {
  BackendRefConfig,
  HeaderModifierConfig,
  HTTPRouteFilterConfig,
  ObjectMeta,
  ParentRefConfig,
  Resource,
} from './types.js';

type Doc = Record<string, unknown>;

/** Drops undefined fields and empty lists/maps, so documents stay minimal and stable. */
function compact(o: Doc): Doc {
  const out: Doc = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

const metadata = (m: ObjectMeta): Doc =>
  compact({
    name: m.name,
    namespace: m.namespace,
    labels: { ...m.labels },
    annotations: { ...m.annotations },
  });

const parentRef = (p: ParentRefConfig): Doc =>
  compact({
    group: p.group,
    kind: p.kind,
    namespace: p.namespace,
    name: p.name,
    sectionName: p.sectionName,
    port: p.port,
  });

const objectRef = (b: BackendRefConfig): Doc =>
  compact({
    group: b.group,
    kind: b.kind,
    name: b.name,
    namespace: b.namespace,
    port: b.port,
    subset: b.subset,
  });

const backendRef = (b: BackendRefConfig): Doc => ({ ...objectRef(b), weight: b.weight });

const headerModifier = (m: HeaderModifierConfig): Doc =>
  compact({ set: m.set.map((h) => ({ ...h })), add: m.add.map((h) => ({ ...h })), remove: [...m.remove] });

function mirror(percent: number): Doc {
  if (Number.isInteger(percent)) return { percent };
  return { fraction: { numerator: Math.round(percent * 10_000), denominator: 1_000_000 } };
}

function filter(f: HTTPRouteFilterConfig): Doc {
  switch (f.type) {
    case 'RequestHeaderModifier':
      return { type: f.type, requestHeaderModifier: headerModifier(f.requestHeaderModifier) };
    case 'ResponseHeaderModifier':
      return { type: f.type, responseHeaderModifier: headerModifier(f.responseHeaderModifier) };
    case 'URLRewrite':
      return {
        type: f.type,
        urlRewrite: compact({
          hostname: f.urlRewrite.hostname,
          path: f.urlRewrite.path && { ...f.urlRewrite.path },
        }),
      };
    case 'RequestRedirect': {
      const r = f.requestRedirect;
      return {
        type: f.type,
        requestRedirect: compact({
          scheme: r.scheme,
          hostname: r.hostname,
          path: r.path && { ...r.path },
          port: r.port,
          statusCode: r.statusCode,
        }),
      };
    }
    case 'RequestMirror':
      return {
        type: f.type,
        requestMirror: {
          backendRef: objectRef(f.requestMirror.backendRef),
          ...mirror(f.requestMirror.percent),
        },
      };
  }
}

/** A rule's retry as written: attempts and backoff always (defaults made explicit), codes when any. */
const retry = (r: { attempts: number; codes: readonly (number | string)[]; backoffMs: number } | undefined) =>
  r && compact({ codes: [...r.codes], attempts: r.attempts, backoff: formatDurationMs(r.backoffMs) });

const headerMatch = (h: { type: string; name: string; value: string }): Doc => ({
  type: h.type,
  name: h.name,
  value: h.value,
});

export function resourceToDocument(r: Resource): Record<string, unknown> {
  const head = { apiVersion: r.apiVersion, kind: r.kind, metadata: metadata(r.metadata) };
  switch (r.kind) {
    case 'Gateway':
      return { ...head, spec: gatewayToDocument(r) };
    case 'Workload':
      return { ...head, spec: workloadToDocument(r) };
    case 'AuthorizationPolicy':
      return { ...head, spec: authorizationPolicyToDocument(r) };
    case 'RequestAuthentication':
      return { ...head, spec: requestAuthenticationToDocument(r) };
    case 'MeshTLS':
      return { ...head, spec: meshTlsToDocument(r) };
    case 'TLSRoute':
      return { ...head, spec: tlsRouteToDocument(r) };
    case 'ConfigMap':
      // Kubernetes shape: data at the top level, no spec.
      return { ...head, ...configMapToDocument(r) };
    case 'Secret':
      // The stored form (the key included): API reads and `trellis get` use publicDocument.
      return { ...head, ...secretToStoredDocument(r) };
    case 'Service': {
      const s = r.spec;
      return {
        ...head,
        spec: compact({
          ports: s.ports.map((p) => ({
            name: p.name,
            port: p.port,
            protocol: p.protocol,
            targetPort: p.targetPort,
          })),
          endpoints: s.endpoints.map((e) =>
            compact({
              address: e.address,
              port: e.port,
              ports: { ...e.ports },
              labels: { ...e.labels },
              weight: e.weight,
              mtls: e.mtls,
            }),
          ),
          subsets: s.subsets.map((x) => compact({ name: x.name, labels: { ...x.labels } })),
        }),
      };
    }
    case 'HTTPRoute':
      return {
        ...head,
        spec: {
          parentRefs: r.spec.parentRefs.map(parentRef),
          hostnames: [...r.spec.hostnames],
          rules: r.spec.rules.map((rule) =>
            compact({
              name: rule.name,
              matches: rule.matches.map((m) =>
                compact({
                  path: { type: m.path.type, value: m.path.value },
                  headers: m.headers.map(headerMatch),
                  queryParams: m.queryParams.map(headerMatch),
                  method: m.method,
                }),
              ),
              filters: rule.filters.map(filter),
              backendRefs: rule.backendRefs.map(backendRef),
              timeouts: compact({
                request:
                  rule.timeouts.requestMs === undefined
                    ? undefined
                    : formatDurationMs(rule.timeouts.requestMs),
                backendRequest:
                  rule.timeouts.backendRequestMs === undefined
                    ? undefined
                    : formatDurationMs(rule.timeouts.backendRequestMs),
              }),
              retry: retry(rule.retry),
            }),
          ),
        },
      };
    case 'GRPCRoute':
      return {
        ...head,
        spec: {
          parentRefs: r.spec.parentRefs.map(parentRef),
          hostnames: [...r.spec.hostnames],
          rules: r.spec.rules.map((rule) =>
            compact({
              name: rule.name,
              matches: rule.matches.map((m) =>
                compact({
                  method: m.method && compact({ ...m.method }),
                  headers: m.headers.map(headerMatch),
                }),
              ),
              filters: rule.filters.map(filter),
              backendRefs: rule.backendRefs.map(backendRef),
              retry: retry(rule.retry),
            }),
          ),
        },
      };
  }
}

/**
 * What API reads and `trellis get` show: resourceToDocument, except that a Secret shows its type and
 * certificate facts, never its key or PEM (resourceToDocument is the stored form).
 */
export function publicDocument(r: Resource): Record<string, unknown> {
  if (r.kind !== 'Secret') return resourceToDocument(r);
  const head = { apiVersion: r.apiVersion, kind: r.kind, metadata: metadata(r.metadata) };
  return { ...head, ...secretPublicDocument(r) };
}
