// The setup of the ingress gateway e2e tests: a temporary directory, a real control plane, config
// applied with `trellis apply`, fake apps behind real sidecars, and a real
// `trellis proxy --gateway NAME` with the flags `trellis up` passes (bootstrap tokens for the secure
// port included). `stop` ends all of it, the gateways first.
import assert from 'node:assert/strict';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  startControlPlaneProcess,
  trellis,
  TRELLIS_BIN,
  waitFor,
  type ControlPlaneProcess,
} from './processes.js';
import {
  spawnTrellisProxy,
  startFakeApp,
  startProxyProcess,
  type FakeApp,
  type ProxyProcess,
  type TrellisProxyProcess,
} from './sidecar.js';

export interface GatewayTestEnv {
  readonly dir: string;
  readonly cp: ControlPlaneProcess;
  /** `trellis apply -f -` of `yaml`; asserts that it succeeded. */
  apply(yaml: string): Promise<void>;
  /**
   * A fake app answering `hello from <appName>` behind a sidecar of `service` (its bootstrap token
   * is the service account `service`'s); `args` are more sidecar flags. Not waited for: see `ready`.
   */
  startBackend(
    service: string,
    appName: string,
    args?: readonly string[],
  ): Promise<{ app: FakeApp; sidecar: ProxyProcess }>;
  /** `trellis proxy --gateway NAME`, resolved once its admin is up (see `ready`). */
  startGateway(name: string): Promise<TrellisProxyProcess>;
  stop(): Promise<void>;
}

/** Waits (20 s) for a proxy's /ready to say 200. */
export async function ready(p: TrellisProxyProcess, what: string): Promise<void> {
  await waitFor(`${what} to be ready`, async () => (await p.admin('/ready')).status === 200, 20_000);
}

/** A temporary directory (`trellis-<name>-`) with a running control plane in it. */
export async function startGatewayTestEnv(name: string): Promise<GatewayTestEnv> {
  const dir = await mkdtemp(join(tmpdir(), `trellis-${name}-`));
  let cp: ControlPlaneProcess;
  try {
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data') });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const apps: FakeApp[] = [];
  const sidecars: ProxyProcess[] = [];
  const gateways: TrellisProxyProcess[] = [];
  return {
    dir,
    cp,
    async apply(yaml) {
      const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: yaml });
      assert.equal(applied.code, 0, applied.stderr);
    },
    async startBackend(service, appName, args = []) {
      const appPort = await freePort();
      const app = await startFakeApp(appName, appPort);
      apps.push(app);
      const sidecar = await startProxyProcess({
        service,
        xdsPort: cp.xdsPort,
        apiUrl: cp.sidecarApiUrl,
        caBundle: cp.caBundle,
        appPort,
        args: [
          ...args,
          '--app-ready-path',
          '/healthz',
          '--drain-seconds',
          '1',
          '--token-file',
          await cp.tokenFile(service),
        ],
      });
      sidecars.push(sidecar);
      return { app, sidecar };
    },
    async startGateway(gateway) {
      const gw = await spawnTrellisProxy([
        TRELLIS_BIN,
        'proxy',
        '--gateway',
        gateway,
        '--namespace',
        'default',
        '--control-plane',
        `127.0.0.1:${cp.xdsPort}`,
        '--api',
        cp.sidecarApiUrl,
        '--ca-bundle',
        cp.caBundle,
        '--token-file',
        await cp.tokenFile(`gateway-${gateway}`),
        '--admin-port',
        '0',
        '--drain-seconds',
        '1',
      ]);
      gateways.push(gw);
      return gw;
    },
    async stop() {
      for (const g of gateways) await g.stop();
      for (const s of sidecars) await s.stop('SIGKILL');
      for (const a of apps) await a.close();
      await cp.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The certificate a TLS handshake with this SNI gets (no verification: we look at what is served). */
export function servedCert(
  port: number,
  servername: string | undefined,
  extra: object = {},
): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ...(servername !== undefined ? { servername } : {}),
      rejectUnauthorized: false,
      ...extra,
    });
    s.setTimeout(5000, () => s.destroy(new Error('handshake timed out')));
    s.once('secureConnect', () => {
      const c = s.getPeerCertificate();
      s.destroy();
      resolve(c);
    });
    s.once('error', reject);
  });
}
