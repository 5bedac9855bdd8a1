// The config edge: parses Kubernetes-style multi-document YAML, or one decoded JSON object, into
// validated, defaulted, frozen Resources, reporting every problem at once with path and line.
import { LineCounter, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { deepFreeze } from '../common/deep-freeze.js';
import type { Result } from '../common/result.js';
import { err, ok } from '../common/result.js';
import { buildGRPCRoute, buildHTTPRoute } from './build-routes.js';
import { buildService } from './build-service.js';
import { checkRoute } from './checks-routes.js';
import { checkService } from './checks-service.js';
import type { IssueCode, IssueContext, PathSegment } from './issues.js';
import { makeIssue, show } from './issues.js';
import { recordOrigin } from './origin.js';
import { dropNulls, isRecord } from './raw.js';
import { grpcRouteSchema, httpRouteSchema } from './schema-routes.js';
import { buildGateway, gatewaySchema } from './schema-gateway.js';
import { serviceSchema } from './schema-service.js';
import { buildWorkload, workloadSchema } from './schema-workload.js';
import {
  authorizationPolicySchema,
  buildAuthorizationPolicy,
  buildRequestAuthentication,
  requestAuthenticationSchema,
} from './schema-security.js';
import { buildMeshTls, meshTlsSchema } from './schema-mtls.js';
import { buildSecret, SECRET_API_VERSION, secretSchema } from './schema-secret.js';
import { buildTLSRoute, TLSROUTE_API_VERSIONS, tlsRouteSchema } from './schema-tlsroute.js';
import { buildConfigMap, CONFIGMAP_API_VERSION, configMapSchema } from './schema-configmap.js';
import { withSuggestion } from './suggest.js';
import type { ConfigIssue, Resource, ResourceKind } from './types.js';
import { GATEWAY_API_VERSION, RESOURCE_KINDS, TRELLIS_API_VERSION } from './types.js';
import type { LineOf } from './yaml-locate.js';
import { createLineOf } from './yaml-locate.js';
import { fromZodIssues } from './zod-issues.js';

/** Kinds of the Gateway API (and Kubernetes) that people may try, with a clearer message. */
const UNSUPPORTED_KINDS = ['GatewayClass', 'ReferenceGrant', 'TCPRoute', 'UDPRoute', 'Ingress'];

export interface ParseContext {
  /** File name, `<stdin>` or `<request>`. */
  readonly source: string;
  /** 0-based index of the document in its source. */
  readonly document: number;
}

export const API_VERSIONS: Readonly<Record<ResourceKind, string>> = {
  Service: TRELLIS_API_VERSION,
  HTTPRoute: GATEWAY_API_VERSION,
  GRPCRoute: GATEWAY_API_VERSION,
  Gateway: GATEWAY_API_VERSION,
  Workload: TRELLIS_API_VERSION,
  AuthorizationPolicy: TRELLIS_API_VERSION,
  RequestAuthentication: TRELLIS_API_VERSION,
  MeshTLS: TRELLIS_API_VERSION,
  Secret: SECRET_API_VERSION,
  TLSRoute: 'gateway.networking.k8s.io/v1alpha2',
  ConfigMap: CONFIGMAP_API_VERSION,
};

/** Kinds that accept several apiVersions (the first is API_VERSIONS's). */
const OTHER_API_VERSIONS: Partial<Record<ResourceKind, readonly string[]>> = {
  TLSRoute: TLSROUTE_API_VERSIONS,
};

/** Validates one already-decoded object (e.g. a JSON request body). */
export function parseResource(obj: unknown, ctx: ParseContext): Result<Resource, ConfigIssue[]> {
  return validate(obj, ctx, undefined);
}

/** Parses every document of a YAML stream; empty documents are skipped, all issues reported. */
export function parseDocuments(text: string, source: string): Result<Resource[], ConfigIssue[]> {
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs)) return ok([]);
  const resources: Resource[] = [];
  const issues: ConfigIssue[] = [];
  docs.forEach((doc, document) => {
    const where = { source, document };
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0].line ?? counter.linePos(e.pos[0]).line;
        const code: IssueCode = e.code === 'DUPLICATE_KEY' ? 'duplicate' : 'yaml_syntax';
        const first = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        const message =
          code === 'duplicate'
            ? `${first}: a field appears twice in the same mapping; keep one`
            : `invalid YAML: ${first}`;
        issues.push({ code, severity: 'error', source, document, line, path: '', message });
      }
      return;
    }
    if (doc.contents === null) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      issues.push({
        code: 'yaml_syntax',
        severity: 'error',
        ...where,
        path: '',
        message: `invalid YAML: ${message}`,
      });
      return;
    }
    if (value === null || value === undefined) return;
    const lineOf = createLineOf(doc, counter);
    const result = validate(value, where, lineOf);
    if (result.ok) {
      recordOrigin(result.value, { ...where, lineOf });
      resources.push(result.value);
    } else issues.push(...result.error);
  });
  return issues.length > 0 ? err(issues) : ok(resources);
}

function validate(
  obj: unknown,
  where: ParseContext,
  lineOf: LineOf | undefined,
): Result<Resource, ConfigIssue[]> {
  const base: IssueContext = { ...where, ...(lineOf && { lineOf }) };
  const fail = (code: IssueCode, path: PathSegment[], message: string) =>
    err([makeIssue(base, code, path, message)]);
  if (!isRecord(obj))
    return fail(
      'not_an_object',
      [],
      `a resource must be a mapping with apiVersion, kind, metadata and spec; got ${show(obj)}`,
    );
  const raw = dropNulls(obj) as Record<string, unknown>;
  const kinds = RESOURCE_KINDS.join(', ');
  if (raw.kind === undefined)
    return fail('missing_field', ['kind'], `missing field "kind"; valid kinds: ${kinds}`);
  if (typeof raw.kind !== 'string' || !(RESOURCE_KINDS as readonly unknown[]).includes(raw.kind)) {
    const k = String(raw.kind);
    const head = UNSUPPORTED_KINDS.includes(k)
      ? `kind ${show(k)} is not supported by Trellis`
      : `unknown kind ${show(raw.kind)}`;
    return fail('unknown_kind', ['kind'], withSuggestion(head, k, RESOURCE_KINDS, `valid kinds: ${kinds}`));
  }
  const kind = raw.kind as ResourceKind;
  const meta = isRecord(raw.metadata) ? raw.metadata : {};
  const ns = typeof meta.namespace === 'string' ? meta.namespace : 'default';
  const ictx: IssueContext = {
    ...base,
    ...(typeof meta.name === 'string' && { resource: `${kind}/${ns}/${meta.name}` }),
  };
  const issues: ConfigIssue[] = [];
  const emit = (code: IssueCode, path: readonly PathSegment[], message: string) =>
    issues.push(makeIssue(ictx, code, path, message));

  const apiVersion = API_VERSIONS[kind];
  const accepted = OTHER_API_VERSIONS[kind] ?? [apiVersion];
  if (raw.apiVersion !== apiVersion && !accepted.includes(raw.apiVersion as string))
    emit(
      'unknown_api_version',
      ['apiVersion'],
      raw.apiVersion === undefined
        ? `missing apiVersion; ${kind} uses apiVersion: ${apiVersion}`
        : `unknown apiVersion ${show(raw.apiVersion)} for kind ${kind}; use apiVersion: ${accepted.join(' or ')}${
            kind === 'Service' && raw.apiVersion === 'v1'
              ? ' (a Trellis Service, not the Kubernetes core v1 Service)'
              : ''
          }`,
    );

  const schema = SCHEMAS[kind];
  const parsed = schema.safeParse(raw);
  if (!parsed.success) issues.push(...fromZodIssues(parsed.error.issues, raw, ictx));
  if (kind === 'Service') checkService(raw.spec, emit);
  else if (kind === 'HTTPRoute' || kind === 'GRPCRoute') checkRoute(kind, raw.spec, emit);

  if (issues.length > 0 || !parsed.success) return err(sortByLine(issues));
  if (kind === 'TLSRoute')
    return ok(deepFreeze(buildTLSRoute(parsed.data as TLSRouteDoc, raw.apiVersion as string)));
  return ok(deepFreeze(build(parsed.data as Doc)));
}

const SCHEMAS = {
  Service: serviceSchema,
  HTTPRoute: httpRouteSchema,
  GRPCRoute: grpcRouteSchema,
  Gateway: gatewaySchema,
  Workload: workloadSchema,
  AuthorizationPolicy: authorizationPolicySchema,
  RequestAuthentication: requestAuthenticationSchema,
  MeshTLS: meshTlsSchema,
  Secret: secretSchema,
  TLSRoute: tlsRouteSchema,
  ConfigMap: configMapSchema,
} as const;

type TLSRouteDoc = z.output<typeof tlsRouteSchema>;
type Doc = { [K in Exclude<ResourceKind, 'TLSRoute'>]: z.output<(typeof SCHEMAS)[K]> }[Exclude<
  ResourceKind,
  'TLSRoute'
>];

function build(data: Doc): Resource {
  switch (data.kind) {
    case 'Service':
      return buildService(data);
    case 'HTTPRoute':
      return buildHTTPRoute(data);
    case 'GRPCRoute':
      return buildGRPCRoute(data);
    case 'Gateway':
      return buildGateway(data);
    case 'Workload':
      return buildWorkload(data);
    case 'AuthorizationPolicy':
      return buildAuthorizationPolicy(data);
    case 'RequestAuthentication':
      return buildRequestAuthentication(data);
    case 'MeshTLS':
      return buildMeshTls(data);
    case 'Secret':
      return buildSecret(data);
    case 'ConfigMap':
      return buildConfigMap(data);
  }
}

/** Issues in document order when lines are known (stable otherwise). */
function sortByLine(issues: ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || a.i - b.i)
    .map((x) => x.issue);
}

export { formatIssue } from './issues.js';
export { resourceToDocument } from './to-document.js';
