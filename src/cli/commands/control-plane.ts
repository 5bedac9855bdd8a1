// `trellis control-plane`: runs the control plane until SIGINT/SIGTERM.
import { resolve } from 'node:path';
import { createLogger } from '../../common/logger.js';
import { startControlPlane } from '../../control-plane/control-plane.js';

export interface ControlPlaneFlags {
  dataDir?: string;
  watch?: string;
  apiPort?: string;
  xdsPort?: string;
  host?: string;
}

function port(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${flag} must be a port number 0-65535, got '${v}'`);
  return n;
}

export async function controlPlaneCommand(flags: ControlPlaneFlags): Promise<number> {
  const logger = createLogger({ name: 'trellis-control-plane' });
  const cp = await startControlPlane({
    dataDir: resolve(flags.dataDir ?? process.env['TRELLIS_DATA_DIR'] ?? '.trellis/data'),
    watchDir: flags.watch ? resolve(flags.watch) : undefined,
    host: flags.host ?? '127.0.0.1',
    apiPort: port(flags.apiPort, '--api-port', 15000),
    xdsPort: port(flags.xdsPort, '--xds-port', 15010),
    logger,
  });
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) process.exit(130);
      stopping = true;
      logger.info({ signal: sig }, 'shutting down');
      cp.close().then(done, (e) => {
        logger.error({ err: e }, 'error during shutdown');
        done();
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
