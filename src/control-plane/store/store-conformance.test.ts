// Runs the shared Store conformance suite against every implementation in this folder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/logger.js';
import { openFileStore } from './file-store.js';
import { MemoryStore } from './memory-store.js';
import type { Store } from './store.js';
import { runStoreConformance } from './store-conformance.js';

runStoreConformance('memory', async () => {
  const store = new MemoryStore({ logger: silentLogger() });
  return { store, cleanup: () => store.close() };
});

runStoreConformance('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-store-'));
  let current: Store = await openFileStore(dir, { logger: silentLogger() });
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = await openFileStore(dir, { logger: silentLogger() });
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
