// Wires one control plane: store (+ optional GitOps directory), registry, mesh state, ADS server
// and HTTP API. `trellis control-plane` and tests call startControlPlane.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { createAdsServer } from './ads/server.js';
import { join } from 'node:path';
import { CaService, type UserCa } from './ca/ca-service.js';
import { createApiRouter } from './http-api/api.js';
import { MeshState } from './mesh-state.js';
import { Registry } from './registry/registry.js';
import { watchDirectory } from './store/dir-watcher.js';
import { openFileStore } from './store/file-store.js';
import type { Store } from './store/store.js';

export const VERSION = '0.1.0';

export interface ControlPlaneOptions {
  readonly dataDir: string;
  readonly watchDir?: string;
  /** Interface for the HTTP API and xDS; loopback unless told otherwise. */
  readonly host?: string;
  readonly apiPort?: number;
  readonly xdsPort?: number;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** For tests: a store to use instead of the file store in dataDir. */
  readonly store?: Store;
  /** The mesh CA (in `<dataDir>/ca` unless `dir` says); false = no CA endpoints. */
  readonly ca?:
    | false
    | {
        readonly dir?: string;
        readonly trustDomain?: string;
        readonly userCa?: UserCa;
        readonly workloadTtlMs?: number;
      };
}

export interface RunningControlPlane {
  readonly apiPort: number;
  readonly xdsPort: number;
  readonly apiUrl: string;
  readonly state: MeshState;
  readonly registry: Registry;
  readonly ca: CaService | undefined;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.logger;
  const clock = opts.clock ?? systemClock;
  const store =
    opts.store ?? (await openFileStore(opts.dataDir, { logger: log.child({ component: 'store' }) }));
  const registry = new Registry({ clock, logger: log.child({ component: 'registry' }) });
  const ads = createAdsServer({ logger: log, clock });
  const state = new MeshState(store, registry, ads, log.child({ component: 'mesh-state' }));
  let ready = false;
  const ca =
    opts.ca === false
      ? undefined
      : await CaService.open({
          dir: opts.ca?.dir ?? join(opts.dataDir, 'ca'),
          logger: log,
          clock,
          ...(opts.ca?.trustDomain !== undefined ? { trustDomain: opts.ca.trustDomain } : {}),
          ...(opts.ca?.userCa ? { userCa: opts.ca.userCa } : {}),
          ...(opts.ca?.workloadTtlMs !== undefined ? { workloadTtlMs: opts.ca.workloadTtlMs } : {}),
        }).catch(async (e: unknown) => {
          if (!opts.store) await store.close();
          throw e;
        });

  const router = createApiRouter({
    state,
    registry,
    ads,
    isReady: () => ready,
    version: VERSION,
    ...(ca ? { ca: { service: ca, logger: log } } : {}),
  });
  const http: Server = createServer((req, res) => void router.handle(req, res));
  http.headersTimeout = 10_000;
  http.requestTimeout = 60_000;

  state.setTrustDomain(ca?.trustDomain);
  await state.start();
  const watcher = opts.watchDir
    ? await watchDirectory(opts.watchDir, store, { logger: log.child({ component: 'dir-watcher' }) })
    : undefined;
  const xdsPort = await ads.listen(host, opts.xdsPort ?? 15010);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.apiPort ?? 15000, host, () => resolve());
  });
  const apiPort = (http.address() as AddressInfo).port;
  ready = true;
  log.info({ apiPort, xdsPort, dataDir: opts.dataDir, watchDir: opts.watchDir }, 'control plane ready');

  return {
    apiPort,
    xdsPort,
    apiUrl: `http://${host.includes(':') ? `[${host}]` : host}:${apiPort}`,
    state,
    registry,
    ca,
    async close() {
      ready = false;
      ca?.close();
      await watcher?.close();
      state.stop();
      registry.close?.();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await ads.close();
      await store.close();
    },
  };
}
