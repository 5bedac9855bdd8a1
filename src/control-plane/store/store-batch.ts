// Shared store mechanics: derive keys from documents, validate and freeze a batch, apply it to a
// map of resources, and fan changes out to watchers. Used by the memory and file stores.
import { RESOURCE_KINDS, keyString, type ResourceKey, type ResourceKind } from '../../api/types.js';
import { deepFreeze } from '../../common/deep-freeze.js';
import { TrellisError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { StoreChange, StoreWatcher, StoredResource } from './store.js';

export type StoreBatch = Parameters<import('./store.js').Store['write']>[0];
type Doc = StoredResource['doc'];

/** A batch after validation: cloned, frozen documents with their keys; deletes deduplicated. */
export interface PreparedBatch {
  readonly puts: readonly { readonly key: ResourceKey; readonly id: string; readonly doc: Doc }[];
  readonly deletes: readonly { readonly key: ResourceKey; readonly id: string }[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The key of a document: kind, metadata.namespace (default `default`), metadata.name. */
export function keyOfDoc(doc: unknown, where = 'document'): ResourceKey {
  if (!isRecord(doc)) throw new TrellisError('BAD_REQUEST', `${where}: must be an object`);
  const kind = doc['kind'];
  if (typeof kind !== 'string' || !RESOURCE_KINDS.includes(kind as ResourceKind)) {
    throw new TrellisError(
      'BAD_REQUEST',
      `${where}.kind: must be one of ${RESOURCE_KINDS.join(', ')} (got ${JSON.stringify(kind)})`,
    );
  }
  const meta = doc['metadata'];
  if (!isRecord(meta)) throw new TrellisError('BAD_REQUEST', `${where}.metadata: must be an object`);
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') {
    throw new TrellisError('BAD_REQUEST', `${where}.metadata.name: must be a non-empty string`);
  }
  const ns = meta['namespace'] ?? 'default';
  if (typeof ns !== 'string' || ns === '') {
    throw new TrellisError('BAD_REQUEST', `${where}.metadata.namespace: must be a non-empty string`);
  }
  return { kind: kind as ResourceKind, namespace: ns, name };
}

export function validateKey(k: unknown, where: string): ResourceKey {
  if (
    !isRecord(k) ||
    !RESOURCE_KINDS.includes(k['kind'] as ResourceKind) ||
    typeof k['namespace'] !== 'string' ||
    typeof k['name'] !== 'string'
  ) {
    throw new TrellisError('BAD_REQUEST', `${where}: must be a key { kind, namespace, name }`);
  }
  return { kind: k['kind'] as ResourceKind, namespace: k['namespace'], name: k['name'] };
}

/**
 * Validates a batch and copies its documents (so later changes by the caller cannot reach the
 * store). Throws BAD_REQUEST for a malformed document or a key both put and deleted.
 */
export function prepareBatch(batch: StoreBatch): PreparedBatch {
  const puts = new Map<string, { key: ResourceKey; id: string; doc: Doc }>();
  (batch.put ?? []).forEach((d, i) => {
    const key = keyOfDoc(d, `put[${i}]`);
    let doc: Doc;
    try {
      doc = deepFreeze(JSON.parse(JSON.stringify(d)) as Doc);
    } catch (e) {
      throw new TrellisError('BAD_REQUEST', `put[${i}]: not JSON-serializable: ${errorMessage(e)}`);
    }
    const id = keyString(key);
    puts.delete(id); // the last put of a key wins and keeps its position
    puts.set(id, { key, id, doc });
  });
  const deletes = new Map<string, { key: ResourceKey; id: string }>();
  (batch.delete ?? []).forEach((k, i) => {
    const key = validateKey(k, `delete[${i}]`);
    const id = keyString(key);
    if (puts.has(id)) {
      throw new TrellisError('BAD_REQUEST', `delete[${i}]: ${id} is also put in the same batch`);
    }
    deletes.set(id, { key, id });
  });
  return { puts: [...puts.values()], deletes: [...deletes.values()] };
}

/** True when applying the batch to `state` would change nothing (only deletes of missing keys). */
export function isNoop(batch: PreparedBatch, state: ReadonlyMap<string, StoredResource>): boolean {
  return batch.puts.length === 0 && batch.deletes.every((d) => !state.has(d.id));
}

/** Applies a prepared batch at `revision` to `state` in place and returns the changes made. */
export function applyBatch(
  batch: PreparedBatch,
  state: Map<string, StoredResource>,
  revision: number,
): StoreChange[] {
  const changes: StoreChange[] = [];
  for (const p of batch.puts) {
    const resource: StoredResource = Object.freeze({ key: Object.freeze(p.key), doc: p.doc, revision });
    state.set(p.id, resource);
    changes.push(Object.freeze({ type: 'put', resource }));
  }
  for (const d of batch.deletes) {
    if (state.delete(d.id))
      changes.push(Object.freeze({ type: 'delete', key: Object.freeze(d.key), revision }));
  }
  return changes;
}

/** Lists resources in a stable order (kind, namespace, name). */
export function sortedResources(state: ReadonlyMap<string, StoredResource>): StoredResource[] {
  return [...state.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
}

/** The set of watchers of one store; a watcher that throws is logged and does not stop the others. */
export class WatcherSet {
  private readonly watchers = new Set<StoreWatcher>();
  constructor(private readonly logger: Logger) {}

  add(w: StoreWatcher): () => void {
    // Wrap so the same function can subscribe twice and unsubscribe each separately.
    const entry: StoreWatcher = (c, r) => w(c, r);
    this.watchers.add(entry);
    return () => {
      this.watchers.delete(entry);
    };
  }

  notify(changes: readonly StoreChange[], revision: number): void {
    const frozen = Object.freeze(changes.slice());
    for (const w of [...this.watchers]) {
      if (!this.watchers.has(w)) continue; // unsubscribed by an earlier watcher in this round
      try {
        w(frozen, revision);
      } catch (e) {
        this.logger.error({ err: errorMessage(e), revision }, 'store watcher threw');
      }
    }
  }

  clear(): void {
    this.watchers.clear();
  }
}
