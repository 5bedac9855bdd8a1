// File-store-only behaviour: crash safety of the state file, the data-dir lock, write speed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import { LOCK_FILE } from './file-lock.js';
import { STATE_FILE, openFileStore, type FileStore } from './file-store.js';
import { svcDoc } from './store-conformance.js';

const logger = silentLogger();
const hasCode = (code: string) => (e: { code?: string }) => e.code === code;

/** The pid of a process that has exited (so a lock naming it is stale). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('file store', () => {
  let dir: string;
  const open: FileStore[] = [];
  const openStore = async (opts = {}): Promise<FileStore> => {
    const s = await openFileStore(dir, { logger, ...opts });
    open.push(s);
    return s;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-file-store-'));
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the data dir and keeps the revision in the state file', async () => {
    dir = join(dir, 'nested', 'data');
    const s = await openStore();
    const rev = await s.write({ put: [svcDoc('a')] });
    const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { revision: number };
    assert.equal(state.revision, rev);
  });

  it('ignores and removes leftover temp files from an interrupted write', async () => {
    const s = await openStore();
    const rev = await s.write({ put: [svcDoc('a'), svcDoc('b')] });
    await s.close();
    // A crash after writing half a temp file, and one after a whole temp file but before rename.
    await writeFile(join(dir, `${STATE_FILE}.tmp-999-1`), '{"format":"trellis-store/v1","revision":7,"reso');
    await writeFile(
      join(dir, `${STATE_FILE}.tmp-999-2`),
      JSON.stringify({ format: 'trellis-store/v1', revision: 9, resources: [] }),
    );
    const again = await openStore();
    assert.equal(await again.revision(), rev);
    assert.deepEqual(
      (await again.list()).map((r) => r.key.name),
      ['a', 'b'],
    );
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.includes('.tmp')),
      [],
    );
  });

  it('keeps the previous state when a write fails before it replaces the state file', async () => {
    let fail = false;
    const s = await openStore({
      beforeRename: () => {
        if (fail) throw new Error('simulated crash');
      },
    });
    const rev = await s.write({ put: [svcDoc('a')] });
    fail = true;
    const seen: number[] = [];
    s.watch((_c, r) => seen.push(r));
    await assert.rejects(
      s.write({ put: [svcDoc('b')], delete: [{ kind: 'Service', namespace: 'default', name: 'a' }] }),
      hasCode('STORE_FAILURE'),
    );
    assert.equal(await s.revision(), rev);
    assert.deepEqual(
      (await s.list()).map((r) => r.key.name),
      ['a'],
    );
    assert.deepEqual(seen, []);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.includes('.tmp')),
      [],
    );
    fail = false;
    assert.equal(await s.write({ put: [svcDoc('c')] }), rev + 1);
    await s.close();
    const again = await openStore();
    assert.deepEqual(
      (await again.list()).map((r) => r.key.name),
      ['a', 'c'],
    );
  });

  it('refuses a corrupt state file with an error naming the file', async () => {
    const s = await openStore();
    await s.write({ put: [svcDoc('a')] });
    await s.close();
    const path = join(dir, STATE_FILE);
    const text = await readFile(path, 'utf8');
    for (const bad of [
      text.slice(0, text.length / 2),
      '',
      '[]',
      '{"format":"other","revision":1,"resources":[]}',
    ]) {
      await writeFile(path, bad);
      await assert.rejects(openFileStore(dir, { logger }), (e: { code?: string; message: string }) => {
        assert.equal(e.code, 'STORE_FAILURE');
        assert.match(
          e.message,
          new RegExp(`state file ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt`),
        );
        return true;
      });
    }
    // A failed open releases the lock: after repair the store opens.
    await writeFile(path, text);
    assert.equal((await (await openStore()).list()).length, 1);
  });

  it('lets one store at a time hold the data dir', async () => {
    const s = await openStore();
    await assert.rejects(openFileStore(dir, { logger }), (e: { code?: string; message: string }) => {
      assert.equal(e.code, 'CONFLICT');
      assert.match(e.message, new RegExp(`data dir .* is in use by pid ${process.pid}`));
      return true;
    });
    assert.equal((await readFile(join(dir, LOCK_FILE), 'utf8')).trim(), String(process.pid));
    await s.close();
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith(LOCK_FILE)),
      [],
    );
    await openStore();
  });

  it('takes over a stale lock left by a dead process', async () => {
    const pid = deadPid();
    await writeFile(join(dir, LOCK_FILE), `${pid}\n`);
    await writeFile(join(dir, `${LOCK_FILE}.${pid}-1`), `${pid}\n`);
    const s = await openStore();
    await s.write({ put: [svcDoc('a')] });
    assert.equal((await readFile(join(dir, LOCK_FILE), 'utf8')).trim(), String(process.pid));
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith(`${LOCK_FILE}.`)),
      [],
    );
  });

  it('takes over an unreadable (empty) lock file', async () => {
    await writeFile(join(dir, LOCK_FILE), '');
    await openStore();
  });

  it('reports a lock held by another live process', async () => {
    const pid = process.ppid; // alive for the duration of the test
    await writeFile(join(dir, LOCK_FILE), `${pid}\n`);
    await assert.rejects(openFileStore(dir, { logger }), new RegExp(`in use by pid ${pid}`));
    await rm(join(dir, LOCK_FILE));
  });

  it('rejects writes after close', async () => {
    const s = await openStore();
    await s.close();
    await assert.rejects(s.write({ put: [svcDoc('a')] }), hasCode('UNAVAILABLE'));
  });

  it('finishes queued writes before close returns', async () => {
    const s = await openStore();
    const writes = Array.from({ length: 10 }, (_, i) => s.write({ put: [svcDoc(`s${i}`)] }));
    await s.close();
    assert.equal((await Promise.all(writes)).length, 10);
    const again = await openStore();
    assert.equal((await again.list()).length, 10);
  });

  it('stays fast with 1,000+ resources', async () => {
    const s = await openStore();
    await s.write({ put: Array.from({ length: 1500 }, (_, i) => svcDoc(`svc-${i}`, `ns-${i % 10}`)) });
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) await s.write({ put: [svcDoc(`svc-${i}`, `ns-${i % 10}`, 9000 + i)] });
    const perWrite = (performance.now() - t0) / 20;
    assert.ok(perWrite < 250, `a write took ${perWrite.toFixed(1)} ms on average`);
    // Concurrent writes share file writes (group commit) and still all land.
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.write({ put: [svcDoc(`new-${i}`)] })));
    await s.close();
    assert.equal((await (await openStore()).list()).length, 1700);
  });
});
