// An in-memory Store: the reference implementation of the Store contract, used in tests and
// anywhere durability is not wanted. Batches apply synchronously and in call order.
import { keyString, type ResourceKey } from '../../api/types.js';
import { TrellisError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import type { Store, StoreWatcher, StoredResource } from './store.js';
import {
  WatcherSet,
  applyBatch,
  isNoop,
  prepareBatch,
  sortedResources,
  type StoreBatch,
} from './store-batch.js';

export interface MemoryStoreOptions {
  readonly logger?: Logger;
}

export class MemoryStore implements Store {
  private readonly state = new Map<string, StoredResource>();
  private rev = 0;
  private closed = false;
  private readonly watchers: WatcherSet;

  constructor(opts: MemoryStoreOptions = {}) {
    this.watchers = new WatcherSet(opts.logger ?? silentLogger());
  }

  async revision(): Promise<number> {
    return this.rev;
  }

  async list(): Promise<readonly StoredResource[]> {
    return sortedResources(this.state);
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    return this.state.get(keyString(key));
  }

  async write(batch: StoreBatch): Promise<number> {
    if (this.closed) throw new TrellisError('UNAVAILABLE', 'store is closed');
    const prepared = prepareBatch(batch);
    if (isNoop(prepared, this.state)) return this.rev;
    const revision = this.rev + 1;
    const changes = applyBatch(prepared, this.state, revision);
    this.rev = revision;
    this.watchers.notify(changes, revision);
    return revision;
  }

  watch(watcher: StoreWatcher): () => void {
    return this.watchers.add(watcher);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
  }
}

export const createMemoryStore = (opts: MemoryStoreOptions = {}): MemoryStore => new MemoryStore(opts);
