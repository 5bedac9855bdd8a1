// The store interface: durable resources keyed by kind/namespace/name, with a change feed.
// Every implementation passes the shared conformance suite in store-conformance.ts.
import type { ResourceKey } from '../../api/types.js';

/** A stored document: the user's resource as applied (validated before it gets here). */
export interface StoredResource {
  readonly key: ResourceKey;
  /** The document as a plain JSON object (apiVersion, kind, metadata, spec). */
  readonly doc: Readonly<Record<string, unknown>>;
  /** Store-wide revision at which this resource was last written. */
  readonly revision: number;
}

export type StoreChange =
  | { readonly type: 'put'; readonly resource: StoredResource }
  | { readonly type: 'delete'; readonly key: ResourceKey; readonly revision: number };

export interface StoreWatcher {
  (changes: readonly StoreChange[], revision: number): void;
}

export interface Store {
  /** Current revision: increases with every successful write batch. */
  revision(): Promise<number>;
  list(): Promise<readonly StoredResource[]>;
  get(key: ResourceKey): Promise<StoredResource | undefined>;
  /**
   * Writes a batch atomically: all puts and deletes become visible and durable together, or none
   * does. Returns the new revision. Deleting a missing key is not an error (it is a no-op).
   */
  write(batch: {
    readonly put?: readonly StoredResource['doc'][];
    readonly delete?: readonly ResourceKey[];
  }): Promise<number>;
  /** Calls `watcher` after every batch (including ones made by other writers, e.g. another replica). */
  watch(watcher: StoreWatcher): () => void;
  close(): Promise<void>;
}
