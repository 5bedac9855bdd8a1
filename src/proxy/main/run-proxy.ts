// Wires one sidecar: xDS client -> data plane (apply on every update, VHDS on demand) -> admin
// server; readiness (listeners bound + app answering) drives registration; shutdown deregisters,
// drains and closes within the drain deadline. In gateway mode (`--gateway`) there is no app and
// no registration: ready once the Gateway's listeners are bound and their route tables arrived.
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { ProxyConfig, VirtualHostConfig } from '../config/types.js';
import { INBOUND_LISTENER } from '../config/decode-listener.js';
import type { DataPlane, DataPlaneOptions } from '../data-plane.js';
import { createAdminServer, type AdminServer, type Readiness } from '../admin/admin-server.js';
import { renderProcessMetrics } from '../admin/process-metrics.js';
import { createXdsClient, type XdsClientOptions, type XdsClientStatus } from '../xds-client/index.js';
import { createWireAdsClient } from '../xds-client/ads-wire-client.js';
import type { AdsClient } from '../../xds/ads-service.js';
import { probeApp, type AppProbeTarget, type ProbeResult } from './app-probe.js';
import type { ProxyBootstrap } from './bootstrap.js';
import type { ProxyLimits } from './bootstrap-limits.js';
import { Registrar, registrationTokenSource, type FetchLike, type Registration } from './registrar.js';
import { disabledIdentityStatus, type SidecarIdentity } from '../identity/sidecar-identity.js';

/** The part of the xDS client the sidecar uses (a fake in tests). */
export interface XdsLike {
  current(): ProxyConfig;
  onUpdate(cb: (c: ProxyConfig) => void): () => void;
  requestVirtualHost(host: string): Promise<VirtualHostConfig | undefined>;
  status(): XdsClientStatus;
  configDump(): unknown;
  close(): void;
}

export interface RunProxyDeps {
  readonly logger: Logger;
  readonly createDataPlane: (opts: DataPlaneOptions & { readonly limits: ProxyLimits }) => DataPlane;
  readonly createXdsClient?: (opts: XdsClientOptions) => XdsLike;
  readonly fetch?: FetchLike;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly probeApp?: (t: AppProbeTarget, timeoutMs: number) => Promise<ProbeResult>;
  /** App probe period before the app is first ready, and after (default 250 / 1000 ms). */
  readonly probeIntervalMs?: { readonly starting?: number; readonly ready?: number };
  /** Consecutive failed probes before the app counts as gone (default 3). */
  readonly failureThreshold?: number;
  readonly version?: string;
  /** The workload identity (started by the caller); absent = no token, plaintext. */
  readonly identity?: SidecarIdentity;
}

export interface RunningProxy {
  readonly adminPort: number;
  readiness(): Readiness;
  /** Deregisters, stops being ready, drains up to drainSeconds, closes. Idempotent. */
  shutdown(reason: string): Promise<void>;
}

export async function runProxy(b: ProxyBootstrap, deps: RunProxyDeps): Promise<RunningProxy> {
  const log = deps.logger.child({ component: 'proxy', nodeId: b.nodeId });
  const clock = deps.clock ?? systemClock;
  const probe = deps.probeApp ?? probeApp;
  const threshold = deps.failureThreshold ?? 3;
  const startedAtMs = clock.now();
  const hasApp = b.appPort !== 0;
  const gateway = b.gateway;

  let listenersReady = false;
  let listenersReason = `waiting for listener and cluster config from the control plane at ${b.controlPlane}`;
  let appReady = !hasApp;
  let appReason = `waiting for the app at ${b.appAddress}:${b.appPort} to answer`;
  let appFailures = 0;
  let appLost = false;
  let draining = false;
  let probeTimer: Timer | undefined;

  const xds = (deps.createXdsClient ?? createXdsClient)({
    target: b.controlPlane,
    node: {
      id: b.nodeId,
      service: b.service,
      ...(b.gateway !== undefined ? { gateway: b.gateway } : {}),
      namespace: b.namespace,
      labels: b.labels,
      instanceIp: b.instanceIp,
      inboundPort: b.inboundPort,
      outboundPort: b.outboundPort,
      appPort: b.appPort,
      upstreams: b.upstreams,
      ...(deps.identity ? { mtls: true } : {}),
    },
    logger: deps.logger,
    // The light ADS client on ../h2wire: the sidecar loads neither @grpc/grpc-js (~7 MB RSS) nor node:http2.
    createClient: (target) => createWireAdsClient(target) as unknown as AdsClient,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.version ? { version: deps.version } : {}),
  });
  const dataPlane = deps.createDataPlane({
    nodeId: b.nodeId,
    requestVirtualHost: (host) => xds.requestVirtualHost(host),
    limits: b.limits,
    ...(deps.identity ? { identity: deps.identity } : {}),
  });
  const registrar = new Registrar({
    api: b.api,
    // Over the plaintext API: the bootstrap token (or TRELLIS_REGISTRATION_TOKEN_FILE) as credential.
    token: registrationTokenSource(b.tokenFile, process.env),
    logger: deps.logger,
    clock,
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    onChange: (registered) =>
      log.info({ registered, ...readiness() }, registered ? 'proxy ready' : 'proxy not ready'),
  });

  const inboundPort = (): number | undefined => dataPlane.boundPorts().get(INBOUND_LISTENER);

  function readiness(): Readiness {
    if (draining) return { ready: false, reason: 'draining: the proxy is shutting down' };
    if (!listenersReady) {
      // xDS waits for the workload certificate: say so, with why it has none yet.
      const id = deps.identity;
      if (id !== undefined && id.current() === undefined) {
        const why = id.status().lastError;
        return {
          ready: false,
          reason: `waiting for the workload certificate from ${b.api}${why !== undefined ? `: ${why}` : ''}`,
        };
      }
      return { ready: false, reason: listenersReason };
    }
    if (!appReady) return { ready: false, reason: appReason };
    if (gateway !== undefined)
      return { ready: true, reason: `serving Gateway ${b.namespace}/${gateway}: listeners bound` };
    if (!hasApp) return { ready: true, reason: 'listeners bound; no app (--app-port 0), so not registered' };
    if (!registrar.registered())
      return {
        ready: false,
        reason: `listeners bound and app ready; registering with the control plane at ${b.api}`,
      };
    return {
      ready: true,
      reason: `serving; registered as ${b.nodeId} at ${b.instanceIp}:${inboundPort() ?? b.inboundPort}`,
    };
  }

  function updateRegistration(): void {
    if (draining) return;
    const port = inboundPort();
    if (!hasApp || !listenersReady || !appReady || port === undefined) return registrar.want(undefined);
    const reg: Registration = {
      id: b.nodeId,
      service: b.service,
      ...(b.gateway !== undefined ? { gateway: b.gateway } : {}),
      namespace: b.namespace,
      address: b.instanceIp,
      port,
      labels: b.labels,
      ttlSeconds: b.ttlSeconds,
      sidecar: true,
      ...(deps.identity ? { mtls: true as const } : {}),
    };
    registrar.want(reg);
  }

  // Config: apply every update in order, coalescing ones that arrive while an apply runs.
  let pending: ProxyConfig | undefined;
  let applying = false;
  const afterApply = (c: ProxyConfig): void => {
    if (listenersReady || !c.versions['LDS'] || !c.versions['CDS']) return;
    const bound = dataPlane.boundPorts();
    const missing = [...c.listeners.keys()].filter((n) => !bound.has(n));
    if (missing.length > 0) {
      listenersReason = `listeners not bound yet: ${missing.join(', ')}`;
      return;
    }
    if (gateway !== undefined && !gatewayServing(c)) return;
    listenersReady = true;
    log.info({ ports: Object.fromEntries(bound), versions: c.versions }, 'listeners bound');
  };
  // A gateway has nothing to serve until its Gateway exists, and every listener's route table came.
  const gatewayServing = (c: ProxyConfig): boolean => {
    if (c.listeners.size === 0) {
      listenersReason = `the control plane sent no listeners for Gateway ${b.namespace}/${gateway ?? ''}: does it exist (trellis get gateways -n ${b.namespace})?`;
      return false;
    }
    const waiting = [...c.listeners.values()].flatMap((l) =>
      l.routeSource.type === 'rds' && !c.routeTables.has(l.routeSource.routeConfigName)
        ? [l.routeSource.routeConfigName]
        : [],
    );
    if (waiting.length > 0) {
      listenersReason = `listeners bound; waiting for route tables ${[...new Set(waiting)].join(', ')}`;
      return false;
    }
    // HTTPS ports: their certificates (SDS) must have come too.
    const certs = [...c.listeners.values()].flatMap((l) =>
      l.tls?.mode === 'terminate'
        ? l.tls.chains.map((x) => x.certSecret).filter((n) => !c.secrets?.has(n))
        : [],
    );
    if (certs.length > 0) {
      listenersReason = `listeners bound; waiting for certificates ${[...new Set(certs)].join(', ')}`;
      return false;
    }
    return true;
  };
  const applyPending = async (): Promise<void> => {
    applying = true;
    while (pending !== undefined && !draining) {
      const c = pending;
      pending = undefined;
      try {
        await dataPlane.apply(c);
        afterApply(c);
      } catch (e) {
        listenersReason = `applying config ${JSON.stringify(c.versions)} failed: ${errorMessage(e)}`;
        log.error(
          { err: errorMessage(e), versions: c.versions },
          'data plane rejected config; keeping the previous one',
        );
      }
      updateRegistration();
    }
    applying = false;
  };
  const onConfig = (c: ProxyConfig): void => {
    pending = c;
    if (!applying) void applyPending();
  };
  xds.onUpdate(onConfig);
  if (xds.current().versions['LDS']) onConfig(xds.current());

  // The app: probed until ready, then watched; N failures in a row deregister until it is back.
  const probeLoop = async (): Promise<void> => {
    probeTimer = undefined;
    if (draining) return;
    const r = await probe(
      { address: b.appAddress, port: b.appPort, ...(b.appReadyPath ? { path: b.appReadyPath } : {}) },
      b.appProbeTimeoutMs,
    );
    if (draining) return;
    if (r.ok) {
      appFailures = 0;
      appLost = false;
      if (!appReady) {
        appReady = true;
        log.info({ app: `${b.appAddress}:${b.appPort}` }, 'app is ready');
        updateRegistration();
      }
    } else {
      appFailures++;
      // Once the app was lost, keep saying so (with the latest cause) until it answers again.
      appReason = appLost ? `app stopped answering (${appFailures} checks in a row): ${r.reason}` : r.reason;
      if (appReady && appFailures >= threshold) {
        appLost = true;
        appReady = false;
        appReason = `app stopped answering (${appFailures} checks in a row): ${r.reason}`;
        log.warn({ reason: r.reason }, 'app is gone; deregistering until it answers again');
        updateRegistration();
      }
    }
    const next = appReady
      ? (deps.probeIntervalMs?.ready ?? b.appProbePeriodMs)
      : (deps.probeIntervalMs?.starting ?? Math.min(250, b.appProbePeriodMs));
    probeTimer = clock.setTimeout(() => void probeLoop(), next);
    probeTimer.unref?.();
  };
  if (hasApp) void probeLoop();

  let admin: AdminServer;
  try {
    admin = await createAdminServer({
      host: b.adminAddress,
      port: b.adminPort,
      logger: deps.logger,
      sources: {
        readiness,
        configDump: () => ({
          bootstrap: b,
          boundPorts: Object.fromEntries(dataPlane.boundPorts()),
          readiness: readiness(),
          xds: xds.configDump(),
        }),
        clusters: () => dataPlane.clustersStatus(),
        certs: () => deps.identity?.status() ?? disabledIdentityStatus(),
        metrics: () =>
          dataPlane.renderMetrics() +
          (deps.identity?.renderMetrics() ?? '') +
          renderProcessMetrics({
            xds: xds.status(),
            ready: readiness().ready,
            registered: registrar.registered(),
            startedAtMs,
          }),
      },
    });
  } catch (e) {
    draining = true;
    xds.close();
    await dataPlane.close().catch(() => undefined);
    throw e;
  }
  log.info(
    {
      adminPort: admin.port,
      ...(gateway !== undefined ? { gateway } : { service: b.service }),
      namespace: b.namespace,
      controlPlane: b.controlPlane,
    },
    'proxy started',
  );

  const sleep = (ms: number): Promise<void> =>
    ms <= 0 ? Promise.resolve() : new Promise((r) => void clock.setTimeout(r, ms).unref?.());

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      const deadline = clock.now() + b.drainSeconds * 1000;
      const left = (): number => Math.max(0, deadline - clock.now());
      draining = true;
      if (probeTimer) clock.clearTimeout(probeTimer);
      log.info({ reason, drainSeconds: b.drainSeconds }, 'shutting down: deregistering, then draining');
      await registrar.stop(Math.min(2000, Math.max(250, left())));
      // Peers learn of the removal over EDS; keep accepting for a moment so none hit a closed port.
      if (hasApp) await sleep(Math.min(1000, left() / 4));
      const drainMs = left();
      try {
        await Promise.race([dataPlane.drain(drainMs), sleep(drainMs + 250)]);
      } catch (e) {
        log.warn({ err: errorMessage(e) }, 'drain failed');
      }
      xds.close();
      deps.identity?.close();
      await dataPlane.close().catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'close failed'));
      await admin.close();
      log.info({ tookMs: clock.now() - (deadline - b.drainSeconds * 1000) }, 'proxy stopped');
    })();
    return stopping;
  };

  return { adminPort: admin.port, readiness, shutdown };
}
