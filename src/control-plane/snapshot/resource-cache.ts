// Translated + encoded xDS resources for ONE MeshSnapshot, built lazily and shared by every node in
// the same cache scope, so 2,000 proxies asking for one cluster cost one translate and one encode.
import { createHash } from 'node:crypto';
import type { MeshSnapshot } from '../../api/mesh-snapshot.js';
import type { Logger } from '../../common/logger.js';
import { errorMessage } from '../../common/errors.js';
import type { NodeInfo } from '../../translate/node.js';
import { type EncodedAny, encodeResource } from '../../xds/any.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE } from '../../xds/type-urls.js';

export type TranslateFn = (
  snapshot: MeshSnapshot,
  node: NodeInfo,
  typeUrl: string,
  names: readonly string[] | '*',
) => Map<string, Readonly<Record<string, unknown>>>;

/**
 * Which nodes share a translated resource: nodes with equal scope strings for (type, name) must
 * get identical content from translate. `name` is '*' for a wildcard subscription.
 */
export type CacheScopeFn = (node: NodeInfo, typeUrl: string, name: string) => string;

/** One encoded resource; shared (never copied) by every stream that is sent it. */
export interface CacheEntry {
  readonly name: string;
  readonly any: EncodedAny;
  /** 64-bit content digest of (type, name, encoded bytes). */
  readonly digest: bigint;
}

interface ScopeCache {
  /** name -> entry, or null when translate says the name resolves to nothing. */
  readonly entries: Map<string, CacheEntry | null>;
  /** Names of a wildcard query, once asked. */
  all?: readonly string[];
}

const scopeMemo = new WeakMap<NodeInfo, { own: string; shared: string }>();

function scopesOf(node: NodeInfo): { own: string; shared: string } {
  let s = scopeMemo.get(node);
  if (!s) {
    const labels = Object.keys(node.labels)
      .sort()
      .map((k) => [k, node.labels[k]]);
    const { id: _id, ...rest } = node;
    s = {
      own: JSON.stringify({ ...rest, labels }),
      shared:
        node.kind === 'sidecar'
          ? `sidecar|${node.namespace}`
          : node.kind === 'gateway'
            ? `gateway|${node.namespace}|${node.gateway ?? ''}`
            : `proxyless|${node.namespace}|${node.service ?? ''}|${JSON.stringify(labels)}|${node.certProvider ?? ''}`,
    };
    scopeMemo.set(node, s);
  }
  return s;
}

/**
 * Default scopes. Proxyless nodes: everything about the node but its id. Gateways: their Gateway
 * (namespace + name), for every type: all gateway replicas of one Gateway share. Sidecars: listeners,
 * `inbound|*` clusters/endpoints and wildcard queries depend on the whole node (ports, service);
 * every other resource only on (kind, namespace), matching translate's own memo keys.
 */
export const defaultCacheScope: CacheScopeFn = (node, typeUrl, name) => {
  const s = scopesOf(node);
  if (node.kind !== 'sidecar') return s.shared;
  if (typeUrl === LISTENER_TYPE || name === '*') return s.own;
  if ((typeUrl === CLUSTER_TYPE || typeUrl === ENDPOINT_TYPE) && name.startsWith('inbound|')) return s.own;
  return s.shared;
};

export function digestOf(typeUrl: string, name: string, value: Uint8Array): bigint {
  const h = createHash('sha256')
    .update(typeUrl)
    .update('\0')
    .update(name)
    .update('\0')
    .update(value)
    .digest();
  return h.readBigUInt64BE(0);
}

export interface ResourceCacheOptions {
  readonly snapshot: MeshSnapshot;
  readonly translate: TranslateFn;
  readonly scope: CacheScopeFn;
  readonly logger: Logger;
  /** The cache of the snapshot before: last-good fallback on errors, and the base of diffs. */
  readonly previous?: ResourceCache;
  /** Types whose content cannot differ from `previous` (endpoint-only change): shared as is. */
  readonly reuseTypes?: readonly string[];
}

export class ResourceCache {
  readonly snapshot: MeshSnapshot;
  private readonly types = new Map<string, Map<string, ScopeCache>>();
  private readonly encoded = new WeakMap<object, CacheEntry>();
  /** Encoded entries by canonical JSON, so an unchanged resource of a new snapshot is not re-encoded. */
  private readonly byJson = new Map<string, CacheEntry>();
  private readonly diffs = new Map<string, Set<string> | null>();
  private previous: ResourceCache | undefined;
  private readonly reused: ReadonlySet<string>;
  translateCalls = 0;
  encodes = 0;

  constructor(private readonly opts: ResourceCacheOptions) {
    this.snapshot = opts.snapshot;
    this.previous = opts.previous;
    this.reused = new Set(opts.reuseTypes ?? []);
    if (opts.previous) {
      for (const t of this.reused) {
        const m = opts.previous.types.get(t);
        if (m) this.types.set(t, m);
      }
    }
  }

  scopeOf(node: NodeInfo, typeUrl: string, name: string): string {
    return this.opts.scope(node, typeUrl, name);
  }

  /** Forgets the previous cache (after pushes are done), so old snapshots can be collected. */
  dropPrevious(): void {
    this.previous = undefined;
  }

  private scopeCache(typeUrl: string, scope: string): ScopeCache {
    let byScope = this.types.get(typeUrl);
    if (!byScope) this.types.set(typeUrl, (byScope = new Map()));
    let sc = byScope.get(scope);
    if (!sc) byScope.set(scope, (sc = { entries: new Map() }));
    return sc;
  }

  private peekScope(typeUrl: string, scope: string): ScopeCache | undefined {
    return this.types.get(typeUrl)?.get(scope);
  }

  /**
   * The existing resources among `names` (or all, for '*') for this node, translating and
   * encoding what is not cached yet. `scopesUsed`, if given, collects the scope keys touched.
   */
  resolve(
    typeUrl: string,
    node: NodeInfo,
    names: Iterable<string> | '*',
    scopesUsed?: Set<string>,
  ): Map<string, CacheEntry> {
    const out = new Map<string, CacheEntry>();
    if (names === '*') {
      const scope = this.scopeOf(node, typeUrl, '*');
      scopesUsed?.add(scope);
      const sc = this.scopeCache(typeUrl, scope);
      if (!sc.all) sc.all = this.fill(typeUrl, scope, sc, node, '*');
      for (const n of sc.all) {
        const e = sc.entries.get(n);
        if (e) out.set(n, e);
      }
      return out;
    }
    let missing: Map<string, string[]> | undefined;
    for (const n of names) {
      const scope = this.scopeOf(node, typeUrl, n);
      scopesUsed?.add(scope);
      const e = this.scopeCache(typeUrl, scope).entries.get(n);
      if (e) out.set(n, e);
      else if (e === undefined) {
        missing ??= new Map();
        const list = missing.get(scope);
        if (list) list.push(n);
        else missing.set(scope, [n]);
      }
    }
    if (missing) {
      for (const [scope, list] of missing) {
        const sc = this.scopeCache(typeUrl, scope);
        this.fill(typeUrl, scope, sc, node, list);
        for (const n of list) {
          const e = sc.entries.get(n);
          if (e) out.set(n, e);
        }
      }
    }
    return out;
  }

  /** Translates + encodes into `sc`; returns the names translate produced. */
  private fill(
    typeUrl: string,
    scope: string,
    sc: ScopeCache,
    node: NodeInfo,
    names: readonly string[] | '*',
  ): string[] {
    let produced: Map<string, Readonly<Record<string, unknown>>>;
    this.translateCalls++;
    try {
      produced = this.opts.translate(this.snapshot, node, typeUrl, names);
    } catch (e) {
      this.opts.logger.error(
        { err: errorMessage(e), typeUrl, node: node.id },
        'translate failed; keeping last good resources',
      );
      return this.fallback(typeUrl, scope, sc, names);
    }
    const got: string[] = [];
    for (const [name, json] of produced) {
      const entry = this.encode(typeUrl, scope, name, json);
      sc.entries.set(name, entry);
      if (entry) got.push(name);
    }
    if (names !== '*') for (const n of names) if (!sc.entries.has(n)) sc.entries.set(n, null);
    return got;
  }

  private fallback(typeUrl: string, scope: string, sc: ScopeCache, names: readonly string[] | '*'): string[] {
    const prev = this.previous?.peekScope(typeUrl, scope);
    const list = names === '*' ? (prev?.all ?? []) : names;
    const got: string[] = [];
    for (const n of list) {
      const e = prev?.entries.get(n) ?? null;
      sc.entries.set(n, e);
      if (e) got.push(n);
    }
    return got;
  }

  private encode(
    typeUrl: string,
    scope: string,
    name: string,
    json: Readonly<Record<string, unknown>>,
  ): CacheEntry | null {
    const memo = this.encoded.get(json);
    if (memo && memo.name === name) return memo;
    const key = `${typeUrl}\n${name}\n${JSON.stringify(json)}`;
    const known = this.byJson.get(key) ?? this.previous?.byJson.get(key);
    if (known) {
      this.byJson.set(key, known);
      this.encoded.set(json, known);
      return known;
    }
    try {
      const any = encodeResource(json['@type'] === undefined ? { '@type': typeUrl, ...json } : json);
      if (any.type_url !== typeUrl)
        throw new Error(`resource has @type ${any.type_url}, expected ${typeUrl}`);
      this.encodes++;
      const entry: CacheEntry = { name, any, digest: digestOf(typeUrl, name, any.value) };
      this.encoded.set(json, entry);
      this.byJson.set(key, entry);
      return entry;
    } catch (e) {
      this.opts.logger.error(
        { err: errorMessage(e), typeUrl, name },
        'cannot encode resource; keeping last good copy',
      );
      return this.previous?.peekScope(typeUrl, scope)?.entries.get(name) ?? null;
    }
  }

  /**
   * Names in (type, scope) whose content may differ from the previous cache: changed, added or
   * gone. undefined when there is no previous knowledge of that scope (compare everything).
   */
  changedSince(typeUrl: string, scope: string, node: NodeInfo): ReadonlySet<string> | undefined {
    if (this.reused.has(typeUrl)) return EMPTY;
    const key = `${typeUrl}\n${scope}`;
    const memo = this.diffs.get(key);
    if (memo !== undefined) return memo ?? undefined;
    const before = this.previous?.peekScope(typeUrl, scope);
    if (!before) {
      this.diffs.set(key, null);
      return undefined;
    }
    const changed = new Set<string>();
    const names = [...before.entries.keys()];
    const now = this.resolveInScope(typeUrl, scope, node, names);
    for (const n of names) {
      const a = before.entries.get(n) ?? null;
      const b = now.get(n) ?? null;
      if (a?.digest !== b?.digest) changed.add(n);
    }
    if (before.all) {
      const sc = this.scopeCache(typeUrl, scope);
      if (!sc.all) sc.all = this.fill(typeUrl, scope, sc, node, '*');
      const old = new Set(before.all);
      for (const n of sc.all)
        if (!old.has(n) || sc.entries.get(n)?.digest !== before.entries.get(n)?.digest) changed.add(n);
      const cur = new Set(sc.all);
      for (const n of before.all) if (!cur.has(n)) changed.add(n);
    }
    this.diffs.set(key, changed);
    return changed;
  }

  private resolveInScope(
    typeUrl: string,
    scope: string,
    node: NodeInfo,
    names: readonly string[],
  ): Map<string, CacheEntry> {
    const sc = this.scopeCache(typeUrl, scope);
    const missing = names.filter((n) => !sc.entries.has(n));
    if (missing.length > 0) this.fill(typeUrl, scope, sc, node, missing);
    const out = new Map<string, CacheEntry>();
    for (const n of names) {
      const e = sc.entries.get(n);
      if (e) out.set(n, e);
    }
    return out;
  }

  /** Counts for stats: scopes and encoded entries held. */
  size(): { scopes: number; entries: number } {
    let scopes = 0;
    let entries = 0;
    for (const byScope of this.types.values()) {
      scopes += byScope.size;
      for (const sc of byScope.values()) entries += sc.entries.size;
    }
    return { scopes, entries };
  }
}

const EMPTY: ReadonlySet<string> = new Set();
