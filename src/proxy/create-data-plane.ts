// createDataPlane: the sidecar's HTTP/1.1 data path. apply() swaps the config reference (requests
// read it when their head arrives) and binds/rebinds/drains listeners; drain() and close() end it.
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { ProxyConfig } from './config/types.js';
import type { DataPlane, DataPlaneOptions } from './data-plane.js';
import { createListener, sameBinding, type BoundListener } from './listener/listener.js';
import { listenerLimits } from './listener/limits.js';
import type { PlaneContext } from './pipeline/types.js';
import { DataPlaneMetrics } from './telemetry/data-plane-metrics.js';
import { ClusterManager } from './upstream/cluster-manager.js';
import { MeshTls } from './tls/mesh-tls.js';
// node:crypto without its ESM namespace, whose getters load webcrypto (docs/sidecar.md "Memory").
const { randomBytes } = process.getBuiltinModule('node:crypto');

export interface CreateDataPlaneOptions extends DataPlaneOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Listener limits and timeouts (defaults: listener/limits.ts). */
  readonly limits?: Parameters<typeof listenerLimits>[0];
  /** Drain deadline for listeners removed or moved by LDS (default 30 s). */
  readonly listenerDrainMs?: number;
}

const EMPTY: ProxyConfig = Object.freeze({
  versions: {},
  listeners: new Map(),
  routeTables: new Map(),
  clusters: new Map(),
  endpoints: new Map(),
});

/** Process-unique prefix + counter: unique enough across the mesh, ~free per request. */
function requestIds(): () => string {
  const prefix = randomBytes(6).toString('hex');
  let n = 0;
  return () => `${prefix}-${(++n).toString(36)}`;
}

export function createDataPlane(opts: CreateDataPlaneOptions): DataPlane {
  const logger = opts.logger.child({ component: 'data-plane' });
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const metrics = new DataPlaneMetrics();
  const limits = listenerLimits(opts.limits);
  const mtls = new MeshTls(opts.identity, logger, metrics.registry);
  const clusters = new ClusterManager({ clock, random, metrics, mtls });
  let current: ProxyConfig = EMPTY;
  const plane: PlaneContext = {
    nodeId: opts.nodeId,
    clock,
    random,
    logger,
    clusters,
    current: () => current,
    requestVirtualHost: opts.requestVirtualHost,
    requestId: requestIds(),
    mtls,
  };
  const listeners = new Map<string, BoundListener>();
  const retiring = new Set<Promise<void>>();
  const retiringListeners = new Set<BoundListener>();
  let stopped = false;

  function retire(l: BoundListener): void {
    l.drain();
    retiringListeners.add(l);
    const p = l.closed(opts.listenerDrainMs ?? 30_000).finally(() => {
      retiring.delete(p);
      retiringListeners.delete(l);
    });
    retiring.add(p);
  }

  async function apply(config: ProxyConfig): Promise<void> {
    if (stopped) return;
    // Make-before-break: clusters first, so the routes of the new config find what they name.
    clusters.apply(config);
    current = config;
    metrics.primeRoutes(config); // route series at 0 before their first request (telemetry)
    const binds: Promise<unknown>[] = [];
    for (const [name, lc] of config.listeners) {
      const old = listeners.get(name);
      if (old !== undefined && sameBinding(old.context.config, lc)) {
        old.context.config = lc;
        continue;
      }
      if (old !== undefined) {
        listeners.delete(name);
        retire(old);
        logger.info(
          { listener: name, address: lc.address, port: lc.port },
          'listener address changed; rebinding',
        );
      }
      const l = createListener(lc, plane, metrics, limits);
      listeners.set(name, l);
      binds.push(
        l.listen().then(
          (port) => logger.info({ listener: name, address: lc.address, port }, 'listener bound'),
          (e: unknown) => {
            listeners.delete(name);
            logger.error({ listener: name, err: e }, 'listener could not bind');
            throw e;
          },
        ),
      );
    }
    for (const [name, l] of listeners) {
      if (!config.listeners.has(name)) {
        listeners.delete(name);
        retire(l);
        logger.info({ listener: name }, 'listener removed; draining');
      }
    }
    await Promise.all(binds);
  }

  async function drain(deadlineMs: number): Promise<void> {
    stopped = true;
    const all = [...listeners.values()];
    listeners.clear();
    for (const l of all) l.drain();
    await Promise.all([...all.map((l) => l.closed(deadlineMs)), ...retiring]);
    clusters.close();
  }

  async function close(): Promise<void> {
    stopped = true;
    for (const l of [...listeners.values(), ...retiringListeners]) l.destroy();
    listeners.clear();
    await Promise.all(retiring);
    clusters.close();
  }

  return {
    apply,
    drain,
    close,
    clustersStatus: () => clusters.status(),
    renderMetrics: () => metrics.render(),
    boundPorts: () => new Map([...listeners].map(([n, l]) => [n, l.port])),
  };
}
