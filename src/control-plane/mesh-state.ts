// The control plane's live view of the mesh: resources from the store plus registered instances,
// rebuilt into an immutable MeshSnapshot on every change and handed to the ADS server.
import { analyze } from '../api/analyze.js';
import { parseResource, resourceToDocument } from '../api/parse.js';
import { keyString, resourceKey, type ConfigIssue, type Resource, type ResourceKey } from '../api/types.js';
import { serviceKey, type MeshSnapshot } from '../api/mesh-snapshot.js';
import type {
  AuthorizationPolicyResource,
  GatewayResource,
  GRPCRouteResource,
  HTTPRouteResource,
  MeshTLSResource,
  RequestAuthenticationResource,
  SecretResource,
  TLSRouteResource,
  ConfigMapResource,
  ServiceResource,
} from '../api/types.js';
import { TrellisError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Store, StoreChange } from './store/store.js';
import type { Registry } from './registry/registry.js';
import { mtlsServedKey } from '../translate/proxyless-tls.js';

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyOutcome {
  readonly applied: readonly { kind: string; namespace: string; name: string; action: ApplyAction }[];
  /** Warnings from cross-reference analysis of the resulting mesh (nothing was rejected for them). */
  readonly warnings: readonly ConfigIssue[];
  readonly revision: number;
}

export interface SnapshotSink {
  setSnapshot(snapshot: MeshSnapshot, opts: { endpointsOnly: boolean }): void;
}

export class MeshState {
  private resources = new Map<string, Resource>();
  private configVersion = 0;
  private endpointsVersion = 0;
  private current: MeshSnapshot | undefined;
  private unwatch: (() => void) | undefined;
  private unregistry: (() => void) | undefined;
  private trustDomain: string | undefined;
  private mtlsServed = '';

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
    private readonly sink: SnapshotSink,
    private readonly logger: Logger,
  ) {}

  /** The CA's trust domain (mTLS between sidecars needs it); set before start(). */
  setTrustDomain(td: string | undefined): void {
    this.trustDomain = td;
  }

  /** Loads the store, starts following it and the registry, and publishes the first snapshot. */
  async start(): Promise<void> {
    this.unwatch = this.store.watch((changes) => this.onStoreChanges(changes));
    for (const stored of await this.store.list()) this.load(stored.doc, `store:${keyString(stored.key)}`);
    this.unregistry = this.registry.onChange(() => {
      this.endpointsVersion++;
      this.publish(true);
    });
    this.configVersion++;
    this.publish(false);
  }

  stop(): void {
    this.unwatch?.();
    this.unregistry?.();
  }

  snapshot(): MeshSnapshot {
    if (!this.current) throw new TrellisError('UNAVAILABLE', 'control plane is still starting');
    return this.current;
  }

  list(kind?: string, namespace?: string): Resource[] {
    const out: Resource[] = [];
    for (const r of this.resources.values()) {
      if (kind && r.kind !== kind) continue;
      if (namespace && r.metadata.namespace !== namespace) continue;
      out.push(r);
    }
    return out.sort((a, b) => keyString(resourceKey(a)).localeCompare(keyString(resourceKey(b))));
  }

  get(key: ResourceKey): Resource | undefined {
    return this.resources.get(keyString(key));
  }

  /**
   * Validates the resources against the whole mesh they would produce; on any error nothing is
   * stored and a TrellisError INVALID_CONFIG carries every issue. Unchanged resources are not rewritten.
   */
  async apply(batch: readonly Resource[]): Promise<ApplyOutcome> {
    const merged = new Map(this.resources);
    for (const r of batch) merged.set(keyString(resourceKey(r)), r);
    const batchKeys = new Set(batch.map((r) => keyString(resourceKey(r))));
    const issues = [
      ...analyze(batch).filter((i) => i.code === 'duplicate'),
      ...analyze([...merged.values()]),
    ];
    const relevant = issues.filter((i) => i.resource === undefined || batchKeys.has(i.resource));
    const errors = relevant.filter((i) => i.severity === 'error');
    if (errors.length > 0) {
      throw new TrellisError(
        'INVALID_CONFIG',
        `${errors.length} problem(s) in the applied config; nothing was stored`,
        {
          issues: errors,
        },
      );
    }
    const puts: Record<string, unknown>[] = [];
    const applied: { kind: string; namespace: string; name: string; action: ApplyAction }[] = [];
    for (const r of batch) {
      const key = keyString(resourceKey(r));
      const doc = resourceToDocument(r);
      const before = this.resources.get(key);
      const action: ApplyAction = !before
        ? 'created'
        : JSON.stringify(resourceToDocument(before)) === JSON.stringify(doc)
          ? 'unchanged'
          : 'configured';
      if (action !== 'unchanged') puts.push(doc);
      applied.push({ kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name, action });
    }
    const revision = puts.length > 0 ? await this.store.write({ put: puts }) : await this.store.revision();
    return { applied, warnings: relevant.filter((i) => i.severity === 'warning'), revision };
  }

  /** Deletes resources; returns which existed, and warnings about references the deletion leaves dangling. */
  async delete(
    keys: readonly ResourceKey[],
  ): Promise<{ deleted: ResourceKey[]; missing: ResourceKey[]; warnings: ConfigIssue[] }> {
    const deleted = keys.filter((k) => this.resources.has(keyString(k)));
    const missing = keys.filter((k) => !this.resources.has(keyString(k)));
    if (deleted.length > 0) await this.store.write({ delete: deleted });
    const warnings = analyze([...this.resources.values()]).filter((i) => i.code === 'dangling_reference');
    return { deleted, missing, warnings: warnings.map((w) => ({ ...w, severity: 'warning' as const })) };
  }

  private load(doc: unknown, source: string): void {
    const parsed = parseResource(doc, { source, document: 0 });
    if (!parsed.ok) {
      this.logger.error(
        { source, issues: parsed.error },
        'stored resource no longer validates; it is ignored',
      );
      return;
    }
    this.resources.set(keyString(resourceKey(parsed.value)), parsed.value);
  }

  private onStoreChanges(changes: readonly StoreChange[]): void {
    for (const c of changes) {
      if (c.type === 'put') this.load(c.resource.doc, `store:${keyString(c.resource.key)}`);
      else this.resources.delete(keyString(c.key));
    }
    this.configVersion++;
    this.publish(false);
  }

  private publish(endpointsOnly: boolean): void {
    const services = new Map<string, ServiceResource>();
    const httpRoutes: HTTPRouteResource[] = [];
    const grpcRoutes: GRPCRouteResource[] = [];
    const gateways = new Map<string, GatewayResource>();
    const authorizationPolicies: AuthorizationPolicyResource[] = [];
    const requestAuthentications: RequestAuthenticationResource[] = [];
    const meshTls: MeshTLSResource[] = [];
    const secrets = new Map<string, SecretResource>();
    const tlsRoutes: TLSRouteResource[] = [];
    const configMaps = new Map<string, ConfigMapResource>();
    if (endpointsOnly && this.current) {
      this.current = {
        ...this.current,
        endpointsVersion: this.endpointsVersion,
        instances: this.registry.byService(),
      };
    } else {
      for (const r of this.resources.values()) {
        if (r.kind === 'Service') services.set(serviceKey(r.metadata.namespace, r.metadata.name), r);
        else if (r.kind === 'HTTPRoute') httpRoutes.push(r);
        else if (r.kind === 'GRPCRoute') grpcRoutes.push(r);
        else if (r.kind === 'Gateway') gateways.set(serviceKey(r.metadata.namespace, r.metadata.name), r);
        else if (r.kind === 'AuthorizationPolicy') authorizationPolicies.push(r);
        else if (r.kind === 'RequestAuthentication') requestAuthentications.push(r);
        else if (r.kind === 'MeshTLS') meshTls.push(r);
        else if (r.kind === 'Secret') secrets.set(serviceKey(r.metadata.namespace, r.metadata.name), r);
        else if (r.kind === 'TLSRoute') tlsRoutes.push(r);
        else if (r.kind === 'ConfigMap') configMaps.set(serviceKey(r.metadata.namespace, r.metadata.name), r);
      }
      this.current = Object.freeze({
        configVersion: this.configVersion,
        endpointsVersion: this.endpointsVersion,
        services,
        httpRoutes,
        grpcRoutes,
        gateways,
        authorizationPolicies,
        requestAuthentications,
        meshTls,
        secrets,
        tlsRoutes,
        configMaps,
        ...(this.trustDomain !== undefined ? { trustDomain: this.trustDomain } : {}),
        instances: this.registry.byService(),
      });
    }
    // Proxyless clusters carry TLS once a sidecar with an identity serves the Service: not endpoints-only then.
    const served = mtlsServedKey(this.current);
    const flipped = served !== this.mtlsServed;
    this.mtlsServed = served;
    this.sink.setSnapshot(this.current, { endpointsOnly: endpointsOnly && !flipped });
  }
}
