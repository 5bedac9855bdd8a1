// `trellis proxy`: runs the sidecar (bootstrap from flags/env/file) until SIGTERM/SIGINT, then
// deregisters, drains and exits 0; a second signal exits at once.
import { createLogger } from '../../common/logger.js';
import { parseBootstrap } from '../../proxy/main/bootstrap.js';
import { runProxy } from '../../proxy/main/run-proxy.js';
import { loadCreateDataPlane } from '../../proxy/main/load-data-plane.js';

export async function proxyCommand(argv: readonly string[]): Promise<number> {
  const bootstrap = parseBootstrap({ argv, env: process.env });
  const logger = createLogger({ name: 'trellis-proxy' });
  const createDataPlane = await loadCreateDataPlane();
  const proxy = await runProxy(bootstrap, {
    logger,
    createDataPlane: (opts) => createDataPlane({ ...opts, logger }),
  });
  await new Promise<void>((done) => {
    let signals = 0;
    const stop = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal: sig }, 'second signal: exiting without draining');
        process.exit(130);
      }
      proxy.shutdown(sig).then(done, (e: unknown) => {
        logger.error({ err: e instanceof Error ? e.message : String(e) }, 'error during shutdown');
        done();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // Flush logs, then exit even if a library left a handle open.
  logger.flush?.();
  setImmediate(() => process.exit(0));
  return 0;
}
