// `trellis proxy`: runs the sidecar (bootstrap from flags/env/file) until SIGTERM/SIGINT, then
// deregisters, drains and exits 0; a second signal exits at once.
import { createJsonLogger } from '../../common/json-logger.js';
import { createDataPlane } from '../../proxy/create-data-plane.js';
import { parseBootstrap } from '../../proxy/main/bootstrap.js';
import { httpFetch } from '../../proxy/main/http-fetch.js';
import { runProxy, type RunningProxy } from '../../proxy/main/run-proxy.js';
import { startSidecarIdentity } from '../../proxy/identity/start.js';
import { XdsClient } from '../../proxy/xds-client/index.js';
import { createWireAdsClient } from '../../proxy/xds-client/ads-wire-client.js';
import type { AdsClient } from '../../xds/ads-service.js';

export async function proxyCommand(argv: readonly string[]): Promise<number> {
  const bootstrap = parseBootstrap({ argv, env: process.env });
  // pino's lines without pino (json-logger.ts): ~1.5 MB less per sidecar (docs/sidecar.md "Memory").
  const logger = createJsonLogger({ name: 'trellis-proxy' });
  const started: { proxy?: RunningProxy } = {};
  let signalled: NodeJS.Signals | undefined;
  let stopNow: (() => void) | undefined;
  const stopped = new Promise<void>((done) => (stopNow = done));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled !== undefined) {
      logger.warn({ signal: sig }, 'second signal: exiting without draining');
      process.exit(130);
    }
    signalled = sig;
    if (started.proxy === undefined) process.exit(130); // still starting: nothing registered yet
    started.proxy.shutdown(sig).then(stopNow, (e: unknown) => {
      logger.error({ err: e instanceof Error ? e.message : String(e) }, 'error during shutdown');
      stopNow?.();
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // TLS to the control plane with --ca-bundle; plaintext (loopback only, checked by the bootstrap) without.
  // Loaded only with --ca-bundle (it brings node:https): a plaintext sidecar does not carry it.
  const cpTlsModule = bootstrap.caBundle
    ? await import('../../proxy/identity/control-plane-tls.js')
    : undefined;
  const cpTls =
    bootstrap.caBundle && cpTlsModule
      ? cpTlsModule.ControlPlaneTls.fromFile(bootstrap.caBundle, logger)
      : undefined;
  if (!cpTls)
    logger.warn(
      { controlPlane: bootstrap.controlPlane, api: bootstrap.api },
      'no --ca-bundle: xDS and API calls to the control plane are plaintext (allowed on loopback only)',
    );
  // Without --ca-bundle, the identity's API calls go over a net socket too (http-fetch.ts; not the global fetch: ~11 MB).
  const identity = startSidecarIdentity(bootstrap, process.env, logger, cpTls?.fetch ?? httpFetch);
  if (cpTls && identity) cpTls.useIdentity(identity);
  started.proxy = await runProxy(bootstrap, {
    logger,
    ...(identity ? { identity } : {}),
    ...(cpTls
      ? {
          fetch: cpTls.fetch,
          createXdsClient: (opts) => {
            const xds = new XdsClient({
              ...opts,
              createClient: (target) =>
                createWireAdsClient(target, {
                  options: () => cpTls.h2Options(),
                  explain: (e) => cpTlsModule!.explainTlsError(e, cpTls.bundleFile),
                }) as unknown as AdsClient,
            });
            // The TLS port serves xDS to workloads presenting a certificate only (the bootstrap
            // made sure there is a token): connect once the first one is held.
            if (!identity) xds.start();
            else
              void identity.whenReady().then(() => {
                logger.info(
                  { controlPlane: bootstrap.controlPlane },
                  'workload certificate held; connecting to xDS',
                );
                xds.start();
              });
            return xds;
          },
        }
      : {}),
    createDataPlane: (opts) => createDataPlane({ ...opts, logger }),
  });
  await stopped;
  // Exit even if a library left a handle open (the shutdown already closed what is ours).
  setImmediate(() => process.exit(0));
  return 0;
}
