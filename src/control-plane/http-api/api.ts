// The control plane's HTTP API (used by the CLI and the dashboard): resources, instances, proxies.
import { parseDocuments, parseResource } from '../../api/parse.js';
import { requireKind } from '../../api/kinds.js';
import { publicDocument } from '../../api/to-document.js';
import type { ConfigIssue, Resource } from '../../api/types.js';
import { TrellisError } from '../../common/errors.js';
import type { MeshState } from '../mesh-state.js';
import type { Registry } from '../registry/registry.js';
import type { Logger } from '../../common/logger.js';
import type { CaService } from '../ca/ca-service.js';
import { registerCaRoutes } from './ca-routes.js';
import { identityMismatch } from '../peer-identity.js';
import { errorReply, Router, type Reply, type Request } from './router.js';
import type { AdminGuard } from './admin-auth.js';
import { RegistrationAuth, type RegistrationCaller } from './registration-auth.js';

const forbidden = (message: string): Reply => ({
  status: 403,
  body: { error: { code: 'FORBIDDEN', message } },
});

export interface ProxyStatusSource {
  listProxies(): unknown[];
  configDump(nodeId: string): unknown;
}

export interface ApiDeps {
  readonly state: MeshState;
  readonly registry: Registry;
  readonly ads: ProxyStatusSource;
  readonly isReady: () => boolean;
  readonly version: string;
  /** The mesh CA (certificates, trust bundle, tokens); absent = those endpoints are not served. */
  readonly ca?: { readonly service: CaService; readonly logger: Logger };
  /** The admin token check (every route but OPEN_ROUTES); absent = no authentication (tests). */
  readonly admin?: AdminGuard;
  /**
   * Accept instance registration, heartbeats and deregistration on the plaintext API without a
   * credential (--insecure-registration). Otherwise they need the admin token or the workload
   * bootstrap token of the instance's identity (registration-auth.ts).
   */
  readonly insecureRegistration?: boolean;
}

/** Parses an apply/validate body: YAML documents, or JSON (one document, an array, or {documents}). */
async function parseBody(req: Request): Promise<Resource[]> {
  const text = await req.body();
  const source = req.query.get('source') ?? '<request>';
  const type = String(req.headers['content-type'] ?? '');
  if (type.includes('json')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new TrellisError('BAD_REQUEST', `request body is not valid JSON: ${(e as Error).message}`);
    }
    const docs = Array.isArray(data)
      ? data
      : data && typeof data === 'object' && Array.isArray((data as { documents?: unknown }).documents)
        ? (data as { documents: unknown[] }).documents
        : [data];
    const out: Resource[] = [];
    const issues: ConfigIssue[] = [];
    docs.forEach((d, i) => {
      const r = parseResource(d, { source, document: i });
      if (r.ok) out.push(r.value);
      else issues.push(...r.error);
    });
    if (issues.length > 0) throw invalid(issues);
    return out;
  }
  const parsed = parseDocuments(text, source);
  if (!parsed.ok) throw invalid(parsed.error);
  return parsed.value;
}

function invalid(issues: readonly ConfigIssue[]): TrellisError {
  return new TrellisError(
    'INVALID_CONFIG',
    `${issues.length} problem(s) in the applied config; nothing was stored`,
    {
      issues,
    },
  );
}

function kindParam(req: Request): Resource['kind'] {
  return requireKind(req.params['kind'] ?? req.query.get('kind') ?? '');
}

export function createApiRouter(deps: ApiDeps): Router {
  const { state, registry, ads } = deps;
  const r = new Router();
  const admin = deps.admin;
  if (admin) r.guard = (req, pattern) => admin.check(req, pattern);
  r.on('GET', '/healthz', () => ({ status: 200, body: { status: 'ok', version: deps.version } }));
  r.on('GET', '/readyz', () =>
    deps.isReady()
      ? { status: 200, body: { status: 'ready' } }
      : errorReply('UNAVAILABLE', 'control plane is starting'),
  );

  r.on('POST', '/api/v1/apply', async (req) => {
    const resources = await parseBody(req);
    if (req.query.get('dryRun') === 'true')
      return { status: 200, body: { valid: true, resources: resources.length } };
    return { status: 200, body: await state.apply(resources) };
  });
  r.on('POST', '/api/v1/validate', async (req) => {
    const resources = await parseBody(req);
    return { status: 200, body: { valid: true, resources: resources.length } };
  });
  r.on('GET', '/api/v1/resources', (req) => {
    const kindRaw = req.query.get('kind');
    const kind = kindRaw ? kindParam(req) : undefined;
    const items = state.list(kind, req.query.get('namespace') ?? undefined).map(publicDocument);
    return { status: 200, body: { items } };
  });
  r.on('GET', '/api/v1/resources/:kind/:namespace/:name', (req) => {
    const kind = kindParam(req);
    const found = state.get({ kind, namespace: req.params['namespace']!, name: req.params['name']! });
    if (!found)
      return errorReply('NOT_FOUND', `${kind} ${req.params['namespace']}/${req.params['name']} not found`);
    return { status: 200, body: publicDocument(found) };
  });
  r.on('DELETE', '/api/v1/resources/:kind/:namespace/:name', async (req) => {
    const kind = kindParam(req);
    const key = { kind, namespace: req.params['namespace']!, name: req.params['name']! };
    const out = await state.delete([key]);
    if (out.deleted.length === 0)
      return errorReply('NOT_FOUND', `${kind} ${key.namespace}/${key.name} not found`);
    return { status: 200, body: { deleted: out.deleted, warnings: out.warnings } };
  });

  r.on('GET', '/api/v1/instances', () => ({ status: 200, body: { items: registry.list() } }));
  r.on('GET', '/api/v1/endpoints', (req) => ({
    status: 200,
    body: {
      items: listEndpoints(
        state,
        req.query.get('namespace') ?? undefined,
        req.query.get('service') ?? undefined,
      ),
    },
  }));
  const regAuth = new RegistrationAuth({
    ...(admin ? { admin } : {}),
    ...(deps.ca ? { verifyToken: (t: string) => deps.ca!.service.verifyToken(t) } : {}),
    insecure: deps.insecureRegistration === true,
  });
  const claimOf = (i: {
    namespace?: unknown;
    service?: unknown;
  }): { namespace: string; service: string } => ({
    namespace: typeof i.namespace === 'string' ? i.namespace : 'default',
    service: typeof i.service === 'string' ? i.service : '',
  });
  /** Plaintext API (no client certificate): the caller's credential, or the 401 to send. */
  const plaintextCaller = (req: Request, what: string): RegistrationCaller | Reply | undefined =>
    req.peerIdentity !== undefined ? undefined : regAuth.authenticate(req, what);
  const isReply = (x: RegistrationCaller | Reply): x is Reply => 'status' in x;
  r.on('POST', '/api/v1/instances', async (req) => {
    const caller = plaintextCaller(req, 'POST /api/v1/instances');
    if (caller !== undefined && isReply(caller)) return caller;
    let input: unknown;
    try {
      input = JSON.parse(await req.body());
    } catch {
      throw new TrellisError('BAD_REQUEST', 'instance registration must be a JSON object');
    }
    if (req.peerIdentity !== undefined && input && typeof input === 'object') {
      const i = input as { namespace?: unknown; service?: unknown };
      const why = identityMismatch(req.peerIdentity, {
        namespace: typeof i.namespace === 'string' ? i.namespace : 'default',
        service: typeof i.service === 'string' ? i.service : '',
      });
      if (why !== undefined) return forbidden(why);
      const known =
        typeof (input as { id?: unknown }).id === 'string'
          ? registry.get((input as { id: string }).id)
          : undefined;
      const other = known && identityMismatch(req.peerIdentity, known);
      if (other !== undefined) return forbidden(`instance ${known?.id ?? ''}: ${other}`);
    }
    if (caller !== undefined && caller.kind === 'workload' && input && typeof input === 'object') {
      const refused = RegistrationAuth.authorize(caller, claimOf(input as Record<string, unknown>));
      if (refused) return refused;
      const id = (input as { id?: unknown }).id;
      const known = typeof id === 'string' ? registry.get(id) : undefined;
      const other = known && RegistrationAuth.authorize(caller, known, known.id);
      if (other) return other;
    }
    return { status: 200, body: registry.register(input as Parameters<Registry['register']>[0]) };
  });
  // With a client certificate (or a workload bootstrap token on the plaintext API), a sidecar may
  // only touch instances of its own identity.
  const ownInstance = (req: Request, what: string): Reply | undefined => {
    if (req.peerIdentity === undefined) {
      const caller = regAuth.authenticate(req, what);
      if (isReply(caller)) return caller;
      const known = registry.get(req.params['id']!);
      return known && RegistrationAuth.authorize(caller, known, known.id);
    }
    const known = registry.get(req.params['id']!);
    const why = known && identityMismatch(req.peerIdentity, known);
    return why === undefined ? undefined : forbidden(`instance ${req.params['id']}: ${why}`);
  };
  r.on(
    'POST',
    '/api/v1/instances/:id/heartbeat',
    (req) =>
      ownInstance(req, 'POST /api/v1/instances/:id/heartbeat') ??
      (registry.heartbeat(req.params['id']!)
        ? { status: 200, body: { ok: true } }
        : errorReply('NOT_FOUND', `instance ${req.params['id']} is not registered; register it again`)),
  );
  r.on('DELETE', '/api/v1/instances/:id', (req) => {
    const refused = ownInstance(req, 'DELETE /api/v1/instances/:id');
    if (refused) return refused;
    registry.deregister(req.params['id']!);
    return { status: 200, body: { ok: true } };
  });

  r.on('GET', '/api/v1/proxies', () => ({ status: 200, body: { items: ads.listProxies() } }));
  r.on('GET', '/api/v1/proxies/:id/config', (req) => {
    const dump = ads.configDump(req.params['id']!);
    if (dump === undefined) return errorReply('NOT_FOUND', `no proxy with node id ${req.params['id']}`);
    return { status: 200, body: dump };
  });
  if (deps.ca) registerCaRoutes(r, deps.ca.service, deps.ca.logger);
  return r;
}

/** Every instance of every Service: static endpoints from config and instances registered at run time. */
function listEndpoints(state: MeshState, namespace?: string, service?: string): unknown[] {
  const snap = state.snapshot();
  const out: unknown[] = [];
  for (const svc of snap.services.values()) {
    const { name, namespace: ns } = svc.metadata;
    if ((namespace && ns !== namespace) || (service && name !== service)) continue;
    for (const e of svc.spec.endpoints)
      out.push({
        service: name,
        namespace: ns,
        source: 'static',
        address: e.address,
        port: e.port ?? null,
        ports: e.ports,
        labels: e.labels,
        weight: e.weight,
      });
    for (const i of snap.instances.get(`${ns}/${name}`) ?? [])
      out.push({
        service: name,
        namespace: ns,
        source: i.sidecar ? 'sidecar' : i.proxyless === true ? 'proxyless' : 'registered',
        id: i.id,
        address: i.address,
        port: i.port,
        ports: i.ports,
        labels: i.labels,
        weight: i.weight,
      });
  }
  return out;
}
