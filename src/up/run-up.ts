// `trellis up`: the control plane in this process on an embedded file store, the mesh file applied,
// then every Workload replica (sidecar + app) and every Gateway supervised until Ctrl-C/SIGTERM,
// which stops them in reverse dependency order; a second signal kills everything at once.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { formatIssue } from '../api/issues.js';
import type { ConfigIssue, Resource, WorkloadResource } from '../api/types.js';
import { keyString, resourceKey } from '../api/types.js';
import { TrellisError } from '../common/errors.js';
import { startControlPlane, type RunningControlPlane } from '../control-plane/control-plane.js';
import { ADMIN_TOKEN_FILE } from '../control-plane/http-api/admin-auth.js';
import { openFileStore } from '../control-plane/store/file-store.js';
import type { Store } from '../control-plane/store/store.js';
import { DEFAULT_RESTART_POLICY } from './backoff.js';
import { keepBundleFile, type BundleFileWriter } from './bundle-file.js';
import { LOG_DIR, pointerFile, STATE_FILE, STORE_DIR, type UpState } from './data-dir.js';
import { inheritedEnv } from './launch.js';
import { TOKENS_DIR, UpTokens } from './tokens.js';
import { canBind, PortAllocator } from './ports.js';
import type { ReplicaDeps } from './replica.js';
import type { StatusModel } from './status.js';
import { Supervisor } from './supervisor.js';
import { createConsoleView, type ConsoleView } from './view.js';
import { Watchdog } from './watchdog.js';

export interface UpOptions {
  /** The mesh file or directory, as shown to the user. */
  readonly mesh: string;
  /** Validated resources (Workload workingDirs already absolute). */
  readonly resources: readonly Resource[];
  /** Relative workingDirs of Workloads applied later resolve against this. */
  readonly baseDir: string;
  readonly dataDir: string;
  readonly apiPort: number;
  /** The control plane's TLS port for the sidecars (0 = any). */
  readonly securePort: number;
  /** Plaintext xDS on 127.0.0.1 for proxyless gRPC clients; off when absent. */
  readonly plaintextXdsPort?: number;
  readonly out: NodeJS.WriteStream;
  readonly err: NodeJS.WriteStream;
  readonly tty: boolean;
  /** Sidecar drain deadline in seconds (default 5). */
  readonly drainSeconds?: number;
}

/** The trust bundle the sidecars verify the control plane with: <data-dir>/ca/bundle.pem. */
export const CA_BUNDLE_FILE = 'bundle.pem';

/** <data dir>/grpc-agent/<replica>: proxyless replicas' key, certificates and xDS bootstrap. */
export const GRPC_AGENT_DIR = 'grpc-agent';

/** bin/trellis.js of this installation (dist/src/up/run-up.js -> bin/trellis.js). */
export const TRELLIS_BIN = fileURLToPath(new URL('../../../bin/trellis.js', import.meta.url));

/** Resolves on the first SIGINT/SIGTERM/SIGHUP; calls onForce on the second. */
function signals(onForce: () => void): { requested: Promise<string>; dispose(): void; fired(): boolean } {
  let count = 0;
  let resolve!: (s: string) => void;
  const requested = new Promise<string>((r) => (resolve = r));
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) resolve(sig);
    else if (count === 2) onForce();
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, handler);
  return {
    requested,
    fired: () => count > 0,
    dispose: () => {
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, handler);
    },
  };
}

export async function runUp(o: UpOptions): Promise<number> {
  let supervisor: Supervisor | undefined;
  let forced = false;
  const sig = signals(() => {
    forced = true;
    o.err.write('[up] second signal: killing everything now\n');
    supervisor?.kill();
    setTimeout(() => process.exit(130), 1500).unref();
  });
  const plain = (s: string) => o.out.write(`[up] ${s}\n`);
  let store: Store | undefined;
  let cp: RunningControlPlane | undefined;
  let tokens: UpTokens | undefined;
  let bundleWriter: BundleFileWriter | undefined;
  try {
    for (const [port, flag] of [
      [o.apiPort, '--api-port'],
      [o.securePort, '--secure-port'],
      [o.plaintextXdsPort ?? 0, '--plaintext-xds-port'],
    ] as const)
      if (port !== 0 && !(await canBind(port)))
        throw new TrellisError(
          'CONFLICT',
          `port ${port} on 127.0.0.1 is already in use (another trellis up or control plane?); pick a free one with ${flag} N (0 = any)`,
        );
    await mkdir(o.dataDir, { recursive: true });
    const logDir = join(o.dataDir, LOG_DIR);
    store = await openFileStore(join(o.dataDir, STORE_DIR));
    await rm(logDir, { recursive: true, force: true });
    await mkdir(logDir, { recursive: true });
    // The mesh file is the truth at start: what an earlier run left in the store goes.
    const wanted = new Set(o.resources.map((r) => keyString(resourceKey(r))));
    const stale = (await store.list()).filter((s) => !wanted.has(keyString(s.key))).map((s) => s.key);
    if (stale.length > 0) await store.write({ delete: stale });

    const logger = pino(
      {
        name: 'trellis-control-plane',
        level: process.env['TRELLIS_LOG_LEVEL'] ?? 'info',
        base: { pid: process.pid },
      },
      pino.destination({ dest: join(logDir, 'control-plane.log'), sync: false, mkdir: true }),
    );
    plain(`data dir ${o.dataDir}`);
    // Proxyless gRPC Workloads reach xDS in plaintext (on loopback): on when the mesh file has one.
    const plaintextXdsPort =
      o.plaintextXdsPort ??
      (o.resources.some((r) => r.kind === 'Workload' && (r as WorkloadResource).spec.proxyless === true)
        ? 0
        : undefined);
    await rm(join(o.dataDir, GRPC_AGENT_DIR), { recursive: true, force: true });
    cp = await startControlPlane({
      dataDir: join(o.dataDir, STORE_DIR),
      store,
      host: '127.0.0.1',
      apiPort: o.apiPort,
      securePort: o.securePort,
      ...(plaintextXdsPort !== undefined ? { plaintextXds: { port: plaintextXdsPort } } : {}),
      logger,
      ca: { dir: join(o.dataDir, 'ca') },
      // The plaintext API's admin token: `trellis scale/apply/get/...` on this machine find it
      // through the api-<port>.json pointer (data-dir.ts). up itself needs none: it issues the
      // sidecars' bootstrap tokens in-process.
      adminToken: { file: join(o.dataDir, ADMIN_TOKEN_FILE) },
    });
    if (cp.ca) tokens = new UpTokens(cp.ca, join(o.dataDir, TOKENS_DIR));
    const apiUrl = cp.apiUrl;
    const xds = cp.secureAddress ?? '';
    const caBundle = join(o.dataDir, 'ca', CA_BUNDLE_FILE);
    if (cp.ca) {
      // Kept up to date across root rotations: a sidecar started after the old root left the
      // bundle still verifies the control plane.
      bundleWriter = keepBundleFile(cp.ca, caBundle, { onError: (m) => o.err.write(`[up] ${m}\n`) });
      await bundleWriter.ready;
    }
    plain(
      `control plane: API ${apiUrl}, xDS over TLS ${xds} (${cp.spiffeId ?? ''}, trust bundle ${caBundle})` +
        (cp.plaintextXdsPort !== undefined ? `, plaintext xDS 127.0.0.1:${cp.plaintextXdsPort}` : ''),
    );
    plain(
      `admin token (for the CLI, found automatically on this machine): ${join(o.dataDir, ADMIN_TOKEN_FILE)}`,
    );
    try {
      const outcome = await cp.state.apply(o.resources);
      plain(`applied ${outcome.applied.length} resource(s) from ${o.mesh}`);
    } catch (e) {
      const issues = ((e as TrellisError).details as { issues?: ConfigIssue[] } | undefined)?.issues ?? [];
      for (const i of issues) o.err.write(`${formatIssue(i)}\n`);
      throw e;
    }
    if (sig.fired()) return await finish(0);

    const watchdog = new Watchdog();
    const ports = new PortAllocator();
    let allReady = false;
    let stopping = false;
    const model = (): StatusModel => ({
      apiUrl,
      xds,
      dataDir: o.dataDir,
      replicas: supervisor?.replicaStatus() ?? [],
      gateways: supervisor?.gatewayStatus() ?? [],
      events: events,
      stopping,
    });
    let stateTimer: NodeJS.Timeout | undefined;
    const writeState = async () => {
      stateTimer = undefined;
      if (!supervisor) return;
      const files = supervisor.files();
      const status = new Map(supervisor.replicaStatus().map((r) => [r.id, r]));
      const gws = supervisor.gatewayStatus();
      const state: UpState = {
        pid: process.pid,
        apiUrl,
        xds,
        dataDir: o.dataDir,
        logDir,
        mesh: o.mesh,
        replicas: files.replicas.map((f) => {
          const s = status.get(f.id);
          return {
            ...f,
            phase: s?.phase ?? 'pending',
            restarts: s?.restarts ?? 0,
            ...(s?.detail !== undefined && { detail: s.detail }),
            ...(s?.appPid !== undefined && { appPid: s.appPid }),
            ...(s?.sidecarPid !== undefined && { sidecarPid: s.sidecarPid }),
            ...(s?.appPort !== undefined && {
              appPort: s.appPort,
              inboundPort: s.inboundPort,
              outboundPort: s.outboundPort,
              adminPort: s.adminPort,
            }),
          };
        }),
        gateways: files.gateways.map((g, i) => ({
          ...g,
          ...(gws[i]?.pid !== undefined && { pid: gws[i]!.pid }),
          urls: gws[i]?.urls ?? [],
        })),
      };
      const file = join(o.dataDir, STATE_FILE);
      await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
      await rename(`${file}.tmp`, file);
    };
    const created = createConsoleView(o.out, () => model(), { tty: o.tty });
    const events = created.events;
    const view: ConsoleView = created.view;
    const onChange = () => {
      view.changed();
      stateTimer ??= setTimeout(() => void writeState().catch(() => undefined), 200);
      if (!supervisor || stopping) return;
      const rs = supervisor.replicaStatus().filter((r) => r.phase !== 'blocked');
      const now = rs.length > 0 && rs.every((r) => r.phase === 'ready');
      if (now && !allReady) view.event(`all ${rs.length} replica(s) ready; API ${apiUrl}`);
      allReady = now;
    };
    const deps: ReplicaDeps = {
      ports,
      watchdog,
      cp: {
        xds,
        api: `https://${xds}`,
        caBundle,
        ...(cp.plaintextXdsPort !== undefined && { plaintextXds: `127.0.0.1:${cp.plaintextXdsPort}` }),
      },
      grpcAgentDir: join(o.dataDir, GRPC_AGENT_DIR),
      registered: (id: string) => cp?.registry.get(id) !== undefined,
      node: process.execPath,
      trellisBin: TRELLIS_BIN,
      logDir,
      env: inheritedEnv(process.env),
      policy: DEFAULT_RESTART_POLICY,
      drainSeconds: o.drainSeconds ?? 5,
      sidecarStartTimeoutMs: 30_000,
      onLine: (name, line) => view.line(name, line),
      onEvent: (m, d) => view.event(m, d),
      onChange,
      ...(tokens ? { tokenFile: (ns: string, sa: string) => tokens!.fileFor(ns, sa) } : {}),
    };
    supervisor = new Supervisor(deps, o.baseDir);
    await mkdir(join(pointerFile(cp.apiPort), '..'), { recursive: true });
    await writeFile(pointerFile(cp.apiPort), JSON.stringify({ dataDir: o.dataDir, pid: process.pid }) + '\n');

    let pending: NodeJS.Timeout | undefined;
    const state = cp.state;
    const unwatch = store.watch(() => {
      pending ??= setTimeout(() => {
        pending = undefined;
        supervisor?.reconcile(state.list());
      }, 50);
    });
    supervisor.reconcile(state.list());

    const why = await sig.requested;
    stopping = true;
    unwatch();
    if (pending) clearTimeout(pending);
    view.event(`${why}: shutting down (gateways, then workloads callers first; Ctrl-C again to force)`);
    await supervisor.shutdown();
    view.event('all processes stopped');
    view.close();
    if (stateTimer) clearTimeout(stateTimer);
    await writeState().catch(() => undefined);
    await rm(pointerFile(cp.apiPort), { force: true });
    watchdog.close();
    return await finish(forced ? 130 : 0);
  } catch (e) {
    await supervisor?.shutdown().catch(() => undefined);
    await finish(1);
    throw e;
  }

  async function finish(code: number): Promise<number> {
    sig.dispose();
    bundleWriter?.close();
    bundleWriter = undefined;
    tokens?.close();
    tokens = undefined;
    if (cp) await cp.close().catch(() => undefined);
    else await store?.close().catch(() => undefined);
    cp = undefined;
    store = undefined;
    return code;
  }
}
