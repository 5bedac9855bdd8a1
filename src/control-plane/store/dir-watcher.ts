// GitOps mode: makes the store match the *.yaml/*.yml files under a directory (recursively),
// re-syncing on file changes. Resources it stored carry a `trellis.dev/source` annotation naming
// their file; resources applied through the API are never touched. A file with an invalid
// document keeps its last good resources in the store until it is fixed.
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { formatIssue } from '../../api/issues.js';
import { analyze } from '../../api/analyze.js';
import { parseDocuments, parseResource, resourceToDocument } from '../../api/parse.js';
import {
  keyString,
  resourceKey,
  type ConfigIssue,
  type Resource,
  type ResourceKey,
} from '../../api/types.js';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { TrellisError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Store, StoredResource } from './store.js';

export const SOURCE_ANNOTATION = 'trellis.dev/source';

export interface DirWatcherOptions {
  readonly logger: Logger;
  /** Called after every sync with every problem found (an empty list once all files are good). */
  readonly onIssues?: (issues: readonly ConfigIssue[]) => void;
  /** Quiet time after a file event before re-scanning; default 100 ms. */
  readonly debounceMs?: number;
  /** Longest a re-scan waits while events keep coming; default 1000 ms. */
  readonly maxDelayMs?: number;
  readonly clock?: Clock;
}

export interface SyncReport {
  /** The store revision written, or undefined when the store already matched. */
  readonly revision: number | undefined;
  /** `Kind/namespace/name` of resources written and deleted. */
  readonly put: readonly string[];
  readonly deleted: readonly string[];
  /** Files (relative to the directory) whose documents had errors; their last good resources stay. */
  readonly failedFiles: readonly string[];
  readonly issues: readonly ConfigIssue[];
}

export interface DirectoryWatcher {
  /** Re-scans now (after any scan in progress) and resolves with what changed. */
  sync(): Promise<SyncReport>;
  close(): Promise<void>;
}

type Doc = StoredResource['doc'];

/** Scans `dir` once and makes the store match it. */
export async function syncDirectory(
  dir: string,
  store: Store,
  opts: Pick<DirWatcherOptions, 'logger' | 'onIssues'>,
): Promise<SyncReport> {
  const files = await listConfigFiles(dir);
  const issues: ConfigIssue[] = [];
  const failed = new Set<string>();
  const desired = new Map<string, { source: string; key: ResourceKey; doc: Doc; resource: Resource }>();

  for (const file of files) {
    const source = relative(dir, file).split(sep).join('/');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      failed.add(source);
      issues.push(fileIssue('unreadable_file', source, `cannot read the file: ${errorMessage(e)}`));
      continue;
    }
    const parsed = parseDocuments(text, source);
    if (!parsed.ok) {
      failed.add(source);
      issues.push(...parsed.error);
      continue;
    }
    for (const resource of parsed.value) {
      const key = resourceKey(resource);
      const id = keyString(key);
      const first = desired.get(id);
      if (first) {
        issues.push({
          ...fileIssue(
            'duplicate_resource',
            source,
            `${id} is also defined in ${first.source}; that one is used`,
          ),
          resource: id,
        });
        continue;
      }
      desired.set(id, {
        source,
        key,
        doc: withSource(resourceToDocument(resource) as Doc, source),
        resource,
      });
    }
  }

  const put: Doc[] = [];
  const del: ResourceKey[] = [];
  const current = await store.list();
  const byId = new Map(current.map((r) => [keyString(r.key), r]));
  for (const [id, want] of desired) {
    const have = byId.get(id);
    if (!have || canonicalJson(have.doc) !== canonicalJson(want.doc)) put.push(want.doc);
  }
  for (const r of current) {
    const owner = sourceOf(r.doc);
    if (owner !== undefined && !failed.has(owner) && !desired.has(keyString(r.key))) del.push(r.key);
  }

  // Cross-reference check over the mesh this sync would produce (as `trellis apply` does): an
  // error in a changed resource rejects the whole sync, and the last good config keeps serving.
  const crossRef = crossReferenceErrors(current, desired, del, new Set(put.map((d) => keyString(keyOf(d)))));
  if (crossRef.length > 0) {
    issues.push(...crossRef);
    put.length = 0;
    del.length = 0;
    for (const i of crossRef) if (i.source) failed.add(i.source);
  }
  const revision = put.length > 0 || del.length > 0 ? await store.write({ put, delete: del }) : undefined;
  const report: SyncReport = {
    revision,
    put: put.map((d) => keyString(keyOf(d))),
    deleted: del.map(keyString),
    failedFiles: [...failed].sort(),
    issues,
  };
  for (const f of report.failedFiles) {
    const mine = issues.filter((i) => i.source === f);
    opts.logger.warn(
      { file: f, issues: mine.map((i) => formatIssue(i)) },
      'config file has errors; its last good resources keep serving',
    );
  }
  if (revision !== undefined) {
    opts.logger.info({ revision, put: report.put, deleted: report.deleted }, 'applied config directory');
  }
  opts.onIssues?.(issues);
  return report;
}

function crossReferenceErrors(
  current: readonly StoredResource[],
  desired: ReadonlyMap<string, { resource: Resource }>,
  deleted: readonly ResourceKey[],
  changed: ReadonlySet<string>,
): ConfigIssue[] {
  if (changed.size === 0) return [];
  const gone = new Set(deleted.map(keyString));
  const all: Resource[] = [...[...desired.values()].map((d) => d.resource)];
  for (const r of current) {
    const id = keyString(r.key);
    if (desired.has(id) || gone.has(id)) continue;
    const parsed = parseResource(r.doc, { source: `store:${id}`, document: 0 });
    if (parsed.ok) all.push(parsed.value);
  }
  return analyze(all).filter(
    (i) => i.severity === 'error' && i.resource !== undefined && changed.has(i.resource),
  );
}

/** Syncs `dir` into the store now, then again whenever a file under it changes. */
export async function watchDirectory(
  dir: string,
  store: Store,
  opts: DirWatcherOptions,
): Promise<DirectoryWatcher> {
  const clock = opts.clock ?? systemClock;
  const debounceMs = opts.debounceMs ?? 100;
  const maxDelayMs = opts.maxDelayMs ?? 1000;
  let closed = false;
  let running: Promise<SyncReport> | undefined;
  let again: Promise<SyncReport> | undefined;
  let timer: Timer | undefined;
  let firstEventAt: number | undefined;

  /** Runs one sync at a time; requests made during a sync share the one that follows it. */
  const sync = (): Promise<SyncReport> => {
    if (!running) {
      running = syncDirectory(dir, store, opts).finally(() => (running = undefined));
      return running;
    }
    again ??= running
      .catch(() => undefined)
      .then(() => {
        again = undefined;
        return sync();
      });
    return again;
  };

  const fire = (): void => {
    timer = undefined;
    firstEventAt = undefined;
    if (closed) return;
    sync().catch((e) => opts.logger.error({ dir, err: errorMessage(e) }, 'config directory sync failed'));
  };

  const onEvent = (): void => {
    if (closed) return;
    const now = clock.now();
    firstEventAt ??= now;
    if (timer) clock.clearTimeout(timer);
    timer = clock.setTimeout(fire, Math.max(0, Math.min(debounceMs, firstEventAt + maxDelayMs - now)));
    timer.unref?.();
  };

  await sync();
  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { recursive: true, persistent: false }, onEvent);
  } catch (e) {
    throw new TrellisError('UNAVAILABLE', `cannot watch config directory ${dir}: ${errorMessage(e)}`);
  }
  watcher.on('error', (e) =>
    opts.logger.error({ dir, err: errorMessage(e) }, 'config directory watch failed'),
  );
  opts.logger.info({ dir }, 'watching config directory');

  return {
    sync,
    async close() {
      if (closed) return;
      closed = true;
      watcher.close();
      if (timer) clock.clearTimeout(timer);
      await Promise.allSettled([running, again]);
    },
  };
}

/** Every *.yaml / *.yml file under `dir`, sorted; dot-files and dot-directories are skipped. */
async function listConfigFiles(dir: string): Promise<string[]> {
  let rootStat;
  try {
    rootStat = await stat(dir);
  } catch (e) {
    throw new TrellisError('NOT_FOUND', `config directory ${dir} cannot be read: ${errorMessage(e)}`);
  }
  if (!rootStat.isDirectory())
    throw new TrellisError('BAD_REQUEST', `config directory ${dir} is not a directory`);
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = async (d: string): Promise<void> => {
    const real = await realpath(d);
    if (seen.has(real)) return; // a symlink loop
    seen.add(real);
    for (const entry of await readdir(d, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(d, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const s = await stat(path).catch(() => undefined); // dangling links are skipped
        isDir = s?.isDirectory() ?? false;
        isFile = s?.isFile() ?? false;
      }
      if (isDir) await walk(path);
      else if (isFile && /\.ya?ml$/i.test(entry.name)) out.push(path);
    }
  };
  await walk(dir);
  return out.sort();
}

function fileIssue(code: string, source: string, message: string): ConfigIssue {
  return { code, severity: 'error', source, path: '', message };
}

function withSource(doc: Doc, source: string): Doc {
  const meta = (doc['metadata'] ?? {}) as Record<string, unknown>;
  const annotations = (meta['annotations'] ?? {}) as Record<string, string>;
  return { ...doc, metadata: { ...meta, annotations: { ...annotations, [SOURCE_ANNOTATION]: source } } };
}

/** The directory file a stored document came from, or undefined if it was not applied from one. */
export function sourceOf(doc: Doc): string | undefined {
  const meta = doc['metadata'] as { annotations?: Record<string, unknown> } | undefined;
  const v = meta?.annotations?.[SOURCE_ANNOTATION];
  return typeof v === 'string' ? v : undefined;
}

function keyOf(doc: Doc): ResourceKey {
  const meta = doc['metadata'] as { name: string; namespace?: string };
  return {
    kind: doc['kind'] as ResourceKey['kind'],
    namespace: meta.namespace ?? 'default',
    name: meta.name,
  };
}

/** JSON with sorted keys and undefined fields dropped, to compare documents by content. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(
          Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : val,
  );
}
