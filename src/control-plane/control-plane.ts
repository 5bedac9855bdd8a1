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
import { sidecarApiHandler } from './http-api/sidecar-api.js';
import { ADMIN_TOKEN_FILE, AdminGuard, loadOrCreateAdminToken } from './http-api/admin-auth.js';
import { MeshState } from './mesh-state.js';
import { identityMismatch } from './peer-identity.js';
import { startSecurePort, type SecurePort } from './secure-port.js';
import { TrellisError } from '../common/errors.js';
import { Registry } from './registry/registry.js';
import { watchDirectory } from './store/dir-watcher.js';
import { openFileStore } from './store/file-store.js';
import type { Store } from './store/store.js';

export const VERSION = '0.1.0';

export interface ControlPlaneOptions {
  readonly dataDir: string;
  readonly watchDir?: string;
  /** Interface of the secure port (TLS: xDS and the sidecar API); loopback unless told otherwise. */
  readonly host?: string;
  /** Interface of the plaintext HTTP API (the CLI's); loopback unless told otherwise. */
  readonly apiHost?: string;
  readonly apiPort?: number;
  /** The secure port (default 15012; 0 = any free port; false = none). Needs the CA. */
  readonly securePort?: number | false;
  /**
   * Plaintext xDS for proxyless gRPC clients (and sidecars without a trust bundle on this machine):
   * off unless given; binds loopback only (127.0.0.1 unless `host` is another loopback address).
   */
  readonly plaintextXds?: { readonly port: number; readonly host?: string };
  /**
   * The admin token of the plaintext API: in `file` (created with a new random token, mode 0600,
   * when missing; default `<dataDir>/admin.token`), or given as `token` (`where` names its source
   * for the 401 message). false = no authentication (unit tests only).
   */
  readonly adminToken?:
    false | { readonly file: string } | { readonly token: string; readonly where: string };
  /**
   * Accept instance registration, heartbeats and deregistration on the plaintext API without a
   * credential (--insecure-registration; local plaintext experiments only). Default: they need the
   * admin token or the workload bootstrap token of the instance's Service.
   */
  readonly insecureRegistration?: boolean;
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
  /** The TLS port for sidecars (xDS and the sidecar API); undefined without a CA or when disabled. */
  readonly securePort: number | undefined;
  /** The plaintext xDS port on loopback; undefined when off (the default). */
  readonly plaintextXdsPort: number | undefined;
  /** The plaintext API, e.g. http://127.0.0.1:15000. */
  readonly apiUrl: string;
  /** Where the admin token is (a file path, or the variable it came from); undefined = no auth. */
  readonly adminTokenSource: string | undefined;
  /** The admin token (for in-process callers such as tests); undefined = no authentication. */
  readonly adminToken: string | undefined;
  /** `host:port` of the secure port, e.g. 127.0.0.1:15012 (sidecars' --control-plane). */
  readonly secureAddress: string | undefined;
  /** The control plane's SPIFFE ID (its serving certificate's URI SAN). */
  readonly spiffeId: string | undefined;
  readonly state: MeshState;
  readonly registry: Registry;
  readonly ca: CaService | undefined;
  close(): Promise<void>;
}

/** 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1'
  );
}

/** Why an xDS stream on the secure port without a client certificate is refused (UNAUTHENTICATED). */
export const NO_CLIENT_CERT_XDS =
  "xDS on the control plane's secure port needs a client certificate (a workload identity): start the sidecar with --token-file (a bootstrap token from 'trellis token create') or TRELLIS_TOKEN next to --ca-bundle; proxyless gRPC clients on this machine use the plaintext xDS port (--plaintext-xds-port)";

const hostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

export async function startControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const host = opts.host ?? '127.0.0.1';
  const apiHost = opts.apiHost ?? '127.0.0.1';
  const plaintextHost = opts.plaintextXds?.host ?? '127.0.0.1';
  if (opts.plaintextXds && !isLoopbackHost(plaintextHost))
    throw new TrellisError(
      'BAD_REQUEST',
      `plaintext xDS: ${plaintextHost} is not a loopback address; the plaintext xDS listener serves proxyless gRPC clients on this machine only (remote clients and sidecars use the TLS port)`,
    );
  const log = opts.logger;
  const clock = opts.clock ?? systemClock;
  const store =
    opts.store ?? (await openFileStore(opts.dataDir, { logger: log.child({ component: 'store' }) }));
  const registry = new Registry({ clock, logger: log.child({ component: 'registry' }) });
  // Filled once the secure port runs: who is behind a gRPC peer address.
  let secure: SecurePort | undefined;
  const ads = createAdsServer({
    logger: log,
    clock,
    // On the secure port, xDS is for workloads with a certificate only: the config of the mesh
    // (every Service, route and endpoint) is not for anyone who can reach the port. The plaintext
    // listener (loopback, proxyless gRPC) is not checked.
    authenticatePeer: (peer, via) => {
      if (via !== 'injected') return undefined;
      const p = secure?.peer(peer);
      return p?.spiffeId !== undefined ? undefined : NO_CLIENT_CERT_XDS;
    },
    authorizeNode: (peer, node, via) => {
      if (via !== 'injected') return undefined;
      const id = secure?.peer(peer)?.spiffeId;
      return id === undefined ? NO_CLIENT_CERT_XDS : identityMismatch(id, node);
    },
    describePeer: (peer, via) => {
      const p = via === 'injected' ? secure?.peer(peer) : undefined;
      return p
        ? { transport: p.tlsVersion, ...(p.spiffeId ? { peerIdentity: p.spiffeId } : {}) }
        : { transport: via === 'injected' ? 'tls' : 'plaintext' };
    },
  });
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

  let admin: { token: string; where: string } | undefined;
  try {
    const a = opts.adminToken ?? { file: join(opts.dataDir, ADMIN_TOKEN_FILE) };
    if (a === false) admin = undefined;
    else if ('token' in a) admin = { token: a.token, where: a.where };
    else {
      const got = loadOrCreateAdminToken(a.file);
      admin = { token: got.token, where: a.file };
      log.info(
        { adminTokenFile: a.file, created: got.created },
        got.created
          ? 'admin token generated (mode 0600): the CLI reads it from this file'
          : 'admin token read from its file',
      );
    }
  } catch (e) {
    ca?.close();
    if (!opts.store) await store.close();
    throw e;
  }
  const router = createApiRouter({
    ...(admin ? { admin: new AdminGuard(admin.token, admin.where) } : {}),
    state,
    registry,
    ads,
    isReady: () => ready,
    version: VERSION,
    ...(ca ? { ca: { service: ca, logger: log } } : {}),
    ...(opts.insecureRegistration === true ? { insecureRegistration: true } : {}),
  });
  if (opts.insecureRegistration === true && admin)
    log.warn(
      { insecureRegistration: true },
      '--insecure-registration: any local process may register, heartbeat or deregister any instance on the plaintext API without a credential, and clients reach instances registered without identity in plaintext; for local plaintext experiments only',
    );
  const http: Server = createServer((req, res) => void router.handle(req, res));
  http.headersTimeout = 10_000;
  http.requestTimeout = 60_000;

  state.setTrustDomain(ca?.trustDomain);
  await state.start();
  const watcher = opts.watchDir
    ? await watchDirectory(opts.watchDir, store, { logger: log.child({ component: 'dir-watcher' }) })
    : undefined;
  let plaintextXdsPort: number | undefined;
  let apiPort: number;
  try {
    if (opts.plaintextXds) {
      plaintextXdsPort = await ads.listen(plaintextHost, opts.plaintextXds.port);
      log.info(
        { host: plaintextHost, port: plaintextXdsPort },
        'plaintext xDS listener on (for proxyless gRPC clients on this machine): no TLS, no client identity',
      );
    }
    if (ca && opts.securePort !== false)
      secure = await startSecurePort({
        host,
        port: opts.securePort ?? 15012,
        ca,
        logger: log,
        clock,
        injectGrpc: (socket) => ads.injectConnection(socket),
        handleHttp: sidecarApiHandler(router),
      });
    if (!isLoopbackHost(apiHost))
      log.warn(
        { apiHost },
        admin
          ? 'the plaintext HTTP API (no TLS) listens on a non-loopback address: the admin token crosses the network in clear text'
          : 'the plaintext HTTP API (no TLS, no authentication) listens on a non-loopback address; anyone who reaches it can change the mesh',
      );
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(opts.apiPort ?? 15000, apiHost, () => resolve());
    });
    apiPort = (http.address() as AddressInfo).port;
  } catch (e) {
    await secure?.close().catch(() => undefined);
    await ads.close().catch(() => undefined);
    ca?.close();
    await watcher?.close();
    state.stop();
    registry.close?.();
    if (!opts.store) await store.close();
    throw e;
  }
  const securePort = secure?.port;
  ready = true;
  log.info(
    {
      apiPort,
      securePort,
      plaintextXdsPort,
      // Deprecated name of plaintextXdsPort (scripts reading this line).
      ...(plaintextXdsPort !== undefined ? { xdsPort: plaintextXdsPort } : {}),
      ...(secure ? { spiffeId: secure.certificate().spiffeId } : {}),
      dataDir: opts.dataDir,
      watchDir: opts.watchDir,
    },
    'control plane ready',
  );

  return {
    apiPort,
    securePort,
    plaintextXdsPort,
    apiUrl: `http://${hostPort(apiHost, apiPort)}`,
    adminTokenSource: admin?.where,
    adminToken: admin?.token,
    secureAddress:
      securePort !== undefined
        ? hostPort(host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, securePort)
        : undefined,
    spiffeId: secure?.certificate().spiffeId,
    state,
    registry,
    ca,
    async close() {
      ready = false;
      const s = secure;
      secure = undefined;
      await ads.close();
      await s?.close();
      ca?.close();
      await watcher?.close();
      state.stop();
      registry.close?.();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await store.close();
    },
  };
}
