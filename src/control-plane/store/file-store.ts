// The embedded default Store: every resource in one JSON state file in a data directory, replaced
// atomically per write (temp file, fsync, rename, fsync dir), with a pid lock and a write queue.
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { keyString, type ResourceKey } from '../../api/types.js';
import { deepFreeze } from '../../common/deep-freeze.js';
import { TrellisError, errorMessage } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { acquireLock, type FileLock } from './file-lock.js';
import type { Store, StoreChange, StoreWatcher, StoredResource } from './store.js';
import {
  WatcherSet,
  applyBatch,
  isNoop,
  keyOfDoc,
  prepareBatch,
  sortedResources,
  type PreparedBatch,
  type StoreBatch,
} from './store-batch.js';

export const STATE_FILE = 'state.json';
export const STATE_FORMAT = 'trellis-store/v1';
const TEMP_PREFIX = `${STATE_FILE}.tmp`;

export interface FileStoreOptions {
  readonly logger?: Logger;
  /** Test hook: runs after the temp file is written and synced, before it replaces the state file. */
  readonly beforeRename?: (tempPath: string) => void | Promise<void>;
}

interface Pending {
  readonly batch: PreparedBatch;
  resolve(revision: number): void;
  reject(e: unknown): void;
}

/** Opens (creating if needed) the store in `dataDir`, taking its lock and loading its state. */
export async function openFileStore(dataDir: string, opts: FileStoreOptions = {}): Promise<FileStore> {
  const dir = resolve(dataDir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new TrellisError('STORE_FAILURE', `cannot create data dir ${dir}: ${errorMessage(e)}`);
  }
  const lock = await acquireLock(dir);
  try {
    await removeTempFiles(dir);
    const { revision, state } = await loadState(join(dir, STATE_FILE));
    return new FileStore(dir, lock, revision, state, opts);
  } catch (e) {
    await lock.release();
    throw e;
  }
}

export class FileStore implements Store {
  private readonly logger: Logger;
  private readonly watchers: WatcherSet;
  private readonly statePath: string;
  /** Each resource's serialized entry, so a write re-serializes only what changed. */
  private entries = new Map<string, string>();
  private readonly queue: Pending[] = [];
  private running = false;
  private draining: Promise<void> = Promise.resolve();
  private closed = false;
  private broken: Error | undefined;
  private tempSeq = 0;

  constructor(
    readonly dataDir: string,
    private readonly lock: FileLock,
    private rev: number,
    private state: Map<string, StoredResource>,
    private readonly opts: FileStoreOptions,
  ) {
    this.logger = (opts.logger ?? silentLogger()).child({ component: 'file-store' });
    this.watchers = new WatcherSet(this.logger);
    this.statePath = join(dataDir, STATE_FILE);
    for (const [id, r] of state) this.entries.set(id, serializeEntry(r));
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

  write(batch: StoreBatch): Promise<number> {
    if (this.closed) return Promise.reject(new TrellisError('UNAVAILABLE', 'store is closed'));
    let prepared: PreparedBatch;
    try {
      prepared = prepareBatch(batch);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ batch: prepared, resolve, reject });
      if (!this.running) {
        this.running = true; // set synchronously, so no write can slip in as the drain loop ends
        this.draining = this.drain();
      }
    });
  }

  watch(watcher: StoreWatcher): () => void {
    return this.watchers.add(watcher);
  }

  /** Waits for queued writes, then releases the data dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.running) await this.draining;
    this.watchers.clear();
    await this.lock.release();
  }

  /**
   * Commits queued batches. Batches queued while a file write is in flight are committed together
   * by the next file write (group commit), each still with its own revision and watch call.
   */
  private async drain(): Promise<void> {
    try {
      // The queue check and `running = false` run in one synchronous step (no await between).
      while (this.queue.length > 0) await this.commitGroup(this.queue.splice(0));
    } finally {
      this.running = false;
    }
  }

  private async commitGroup(group: Pending[]): Promise<void> {
    if (this.broken) {
      for (const p of group) p.reject(this.failure(this.broken));
      return;
    }
    const state = new Map(this.state);
    const entries = new Map(this.entries);
    let rev = this.rev;
    const done: { p: Pending; rev: number; changes: StoreChange[] }[] = [];
    for (const p of group) {
      if (isNoop(p.batch, state)) {
        done.push({ p, rev, changes: [] });
        continue;
      }
      rev += 1;
      const changes = applyBatch(p.batch, state, rev);
      for (const c of changes) {
        if (c.type === 'put') entries.set(keyString(c.resource.key), serializeEntry(c.resource));
        else entries.delete(keyString(c.key));
      }
      done.push({ p, rev, changes });
    }
    if (rev !== this.rev) {
      try {
        await this.persist(entries, rev);
      } catch (e) {
        this.logger.error({ err: errorMessage(e) }, 'store write failed');
        for (const d of done) d.p.reject(this.failure(e));
        return;
      }
    }
    this.state = state;
    this.entries = entries;
    this.rev = rev;
    for (const d of done) {
      if (d.changes.length > 0) this.watchers.notify(d.changes, d.rev);
      d.p.resolve(d.rev);
    }
  }

  private failure(e: unknown): TrellisError {
    return e instanceof TrellisError
      ? e
      : new TrellisError('STORE_FAILURE', `write to ${this.statePath} failed: ${errorMessage(e)}`);
  }

  private async persist(entries: ReadonlyMap<string, string>, revision: number): Promise<void> {
    const text =
      `{"format":${JSON.stringify(STATE_FORMAT)},"revision":${revision},"resources":[\n` +
      [...entries.values()].join(',\n') +
      '\n]}\n';
    const temp = join(this.dataDir, `${TEMP_PREFIX}-${process.pid}-${++this.tempSeq}`);
    let renamed = false;
    try {
      const fh = await open(temp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.opts.beforeRename?.(temp);
      await rename(temp, this.statePath);
      renamed = true;
      await syncDir(this.dataDir);
    } catch (e) {
      if (renamed) {
        // The new state may or may not survive a crash: memory and disk can no longer be trusted
        // to agree, so refuse further writes until the store is reopened.
        this.broken = new TrellisError(
          'STORE_FAILURE',
          `fsync of data dir ${this.dataDir} failed (${errorMessage(e)}); reopen the store`,
        );
        throw this.broken;
      }
      await unlink(temp).catch(() => undefined);
      throw e;
    }
  }
}

function serializeEntry(r: StoredResource): string {
  return JSON.stringify({ revision: r.revision, doc: r.doc });
}

async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Temp files are never the state: they are leftovers of a write a crash interrupted. */
async function removeTempFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.startsWith(TEMP_PREFIX)) await unlink(join(dir, name)).catch(() => undefined);
  }
}

async function loadState(path: string): Promise<{ revision: number; state: Map<string, StoredResource> }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { revision: 0, state: new Map() };
    throw new TrellisError('STORE_FAILURE', `cannot read state file ${path}: ${errorMessage(e)}`);
  }
  const corrupt = (why: string): TrellisError =>
    new TrellisError(
      'STORE_FAILURE',
      `state file ${path} is corrupt: ${why}; restore it from a backup, or move it aside to start with an empty store`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw corrupt(`not valid JSON (${errorMessage(e)})`);
  }
  if (typeof raw !== 'object' || raw === null) throw corrupt('not a JSON object');
  const { format, revision, resources } = raw as Record<string, unknown>;
  if (format !== STATE_FORMAT)
    throw corrupt(`format is ${JSON.stringify(format)}, expected "${STATE_FORMAT}"`);
  if (!Number.isSafeInteger(revision) || (revision as number) < 0) throw corrupt('revision is not a count');
  if (!Array.isArray(resources)) throw corrupt('resources is not a list');
  const state = new Map<string, StoredResource>();
  resources.forEach((entry: unknown, i) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const r = e['revision'];
    if (!Number.isSafeInteger(r) || (r as number) < 1 || (r as number) > (revision as number)) {
      throw corrupt(`resources[${i}].revision is invalid`);
    }
    let key: ResourceKey;
    try {
      key = keyOfDoc(e['doc'], `resources[${i}].doc`);
    } catch (err) {
      throw corrupt(errorMessage(err));
    }
    const id = keyString(key);
    if (state.has(id)) throw corrupt(`${id} appears twice`);
    const doc = deepFreeze(e['doc'] as StoredResource['doc']);
    state.set(id, Object.freeze({ key: Object.freeze(key), doc, revision: r as number }));
  });
  return { revision: revision as number, state };
}
