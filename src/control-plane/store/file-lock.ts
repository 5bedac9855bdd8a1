// A pid lock file that gives one process at a time a data directory. A lock left by a dead
// process is taken over; one held by a live process is a clear error naming its pid.
import { link, open, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TrellisError, errorMessage } from '../../common/errors.js';

export const LOCK_FILE = 'trellis.lock';
let attemptSeq = 0;

export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

/** True if a process with this pid exists (EPERM means it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return /^[1-9][0-9]*$/.test(text) ? Number(text) : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

const ignoreMissing = (e: unknown): void => {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
};

/**
 * Takes the lock of `dir`. The pid is written to a private file first and then hard-linked into
 * place, so the lock file appears atomically with its content (never empty or half-written).
 */
export async function acquireLock(dir: string): Promise<FileLock> {
  const path = join(dir, LOCK_FILE);
  const mine = `${path}.${process.pid}-${++attemptSeq}`;
  const fh = await open(mine, 'w', 0o644);
  try {
    await fh.writeFile(`${process.pid}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(mine, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new TrellisError('STORE_FAILURE', `cannot create lock file ${path}: ${errorMessage(e)}`);
        }
      }
      const holder = await readHolder(path);
      if (holder !== undefined && isProcessAlive(holder)) {
        throw new TrellisError(
          'CONFLICT',
          `data dir ${dir} is in use by pid ${holder} (lock file ${path}; remove it only if that process is not a Trellis control plane)`,
        );
      }
      if (attempt >= 3) throw new TrellisError('STORE_FAILURE', `cannot take over stale lock file ${path}`);
      await unlink(path).catch(ignoreMissing); // stale: its process is gone
    }
  } finally {
    await unlink(mine).catch(ignoreMissing);
  }
  await cleanAbandonedLockTemps(dir);
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      if ((await readHolder(path)) === process.pid) await unlink(path).catch(ignoreMissing);
    },
  };
}

/** Removes `trellis.lock.<pid>-<n>` files left by processes that died while taking the lock. */
async function cleanAbandonedLockTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const m = /^trellis\.lock\.([0-9]+)-[0-9]+$/.exec(name);
    if (m && !isProcessAlive(Number(m[1]))) await unlink(join(dir, name)).catch(ignoreMissing);
  }
}
