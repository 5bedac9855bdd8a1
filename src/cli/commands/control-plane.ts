// `trellis control-plane`: runs the control plane until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADMIN_TOKEN_FILE, adminTokenFromEnv } from '../../control-plane/http-api/admin-auth.js';
import { DURATION_HINT, parseDurationMs } from '../../api/duration.js';
import { TrellisError } from '../../common/errors.js';
import { checkWorkloadTtl, DEFAULT_TRUST_DOMAIN, type UserCa } from '../../control-plane/ca/ca-service.js';
import { trustDomainError } from '../../security/spiffe.js';
import { createLogger } from '../../common/logger.js';
import { isLoopbackHost, startControlPlane } from '../../control-plane/control-plane.js';

export interface ControlPlaneFlags {
  dataDir?: string;
  watch?: string;
  apiPort?: string;
  /** Replaced by securePort and plaintextXdsPort: refused with a message saying so. */
  xdsPort?: string;
  securePort?: string;
  plaintextXdsPort?: string;
  apiHost?: string;
  host?: string;
  trustDomain?: string;
  caCert?: string;
  caKey?: string;
  intermediateCert?: string;
  intermediateKey?: string;
  workloadCertTtl?: string;
  /** The admin token file (created when missing); default $TRELLIS_ADMIN_TOKEN_FILE or <data-dir>/admin.token. */
  adminTokenFile?: string;
  /** Accept instance registration on the plaintext API without a credential (local experiments). */
  insecureRegistration?: boolean;
}

/** Where the control plane takes its admin token from: flag > TRELLIS_ADMIN_TOKEN_FILE > TRELLIS_ADMIN_TOKEN > <dataDir>/admin.token. */
export function adminTokenSetting(
  flags: Pick<ControlPlaneFlags, 'adminTokenFile'>,
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): { file: string } | { token: string; where: string } {
  const file = flags.adminTokenFile ?? env['TRELLIS_ADMIN_TOKEN_FILE'];
  if (file !== undefined && file !== '') return { file: resolve(file) };
  const token = env['TRELLIS_ADMIN_TOKEN'];
  if (token !== undefined && token !== '')
    return {
      token: adminTokenFromEnv(token, 'TRELLIS_ADMIN_TOKEN'),
      where: "the control plane's TRELLIS_ADMIN_TOKEN environment variable",
    };
  return { file: join(dataDir, ADMIN_TOKEN_FILE) };
}

const bad = (msg: string): TrellisError => new TrellisError('BAD_REQUEST', msg);

function readPem(path: string | undefined, flag: string): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw bad(`${flag}: cannot read '${path}': ${(e as Error).message}`);
  }
}

/** The CA settings of the control-plane flags (trust domain, user CA files, workload cert TTL). */
export function caSettings(flags: ControlPlaneFlags): {
  trustDomain: string;
  userCa?: UserCa;
  workloadTtlMs?: number;
} {
  const trustDomain = flags.trustDomain ?? process.env['TRELLIS_TRUST_DOMAIN'] ?? DEFAULT_TRUST_DOMAIN;
  const tdErr = trustDomainError(trustDomain);
  if (tdErr) throw bad(`--trust-domain: ${tdErr}`);
  if (
    flags.caCert === undefined &&
    (flags.caKey ?? flags.intermediateCert ?? flags.intermediateKey) !== undefined
  )
    throw bad('--ca-key, --intermediate-cert and --intermediate-key need --ca-cert (the root certificate)');
  if (flags.caCert !== undefined && flags.caKey === undefined && flags.intermediateCert === undefined)
    throw bad(
      '--ca-cert needs --ca-key (Trellis signs its own intermediate) or --intermediate-cert and --intermediate-key (your root key stays offline)',
    );
  let workloadTtlMs: number | undefined;
  if (flags.workloadCertTtl !== undefined) {
    const ms = parseDurationMs(flags.workloadCertTtl);
    if (ms === undefined)
      throw bad(`--workload-cert-ttl: must be ${DURATION_HINT}; got '${flags.workloadCertTtl}'`);
    try {
      workloadTtlMs = checkWorkloadTtl(ms, '--workload-cert-ttl');
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  const rootCertPem = readPem(flags.caCert, '--ca-cert');
  const userCa: UserCa | undefined =
    rootCertPem === undefined
      ? undefined
      : {
          rootCertPem,
          ...(flags.caKey !== undefined ? { rootKeyPem: readPem(flags.caKey, '--ca-key') } : {}),
          ...(flags.intermediateCert !== undefined
            ? { intermediateCertPem: readPem(flags.intermediateCert, '--intermediate-cert') }
            : {}),
          ...(flags.intermediateKey !== undefined
            ? { intermediateKeyPem: readPem(flags.intermediateKey, '--intermediate-key') }
            : {}),
        };
  return {
    trustDomain,
    ...(userCa ? { userCa } : {}),
    ...(workloadTtlMs !== undefined ? { workloadTtlMs } : {}),
  };
}

function port(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw bad(`${flag} must be a port number 0-65535, got '${v}'`);
  return n;
}

/** `--plaintext-xds-port [HOST:]N`: HOST must be loopback (default 127.0.0.1). */
export function plaintextXdsSetting(
  v: string | undefined,
  flag = '--plaintext-xds-port',
): { host: string; port: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d+)$/.exec(v.trim());
  if (!m)
    throw bad(
      `${flag}: must be N or HOST:N with a loopback HOST (e.g. 15010 or 127.0.0.1:15010), got '${v}'`,
    );
  const host = (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, '');
  const p = port(m[2], flag, 0);
  if (!isLoopbackHost(host))
    throw bad(
      `${flag}: ${host} is not a loopback address; plaintext xDS (for proxyless gRPC clients, whose xDS client cannot do TLS) listens on this machine only: use 127.0.0.1:${p} (remote clients and sidecars use the TLS port, --secure-port)`,
    );
  return { host, port: p };
}

export async function controlPlaneCommand(flags: ControlPlaneFlags): Promise<number> {
  if (flags.xdsPort !== undefined && flags.plaintextXdsPort !== undefined)
    throw bad('--xds-port is the old name of --plaintext-xds-port: give one of them');
  const ca = caSettings(flags);
  const plaintextXds = plaintextXdsSetting(
    flags.plaintextXdsPort ?? flags.xdsPort,
    flags.xdsPort !== undefined ? '--xds-port' : undefined,
  );
  const dataDir = resolve(flags.dataDir ?? process.env['TRELLIS_DATA_DIR'] ?? '.trellis/data');
  const adminToken = adminTokenSetting(flags, dataDir);
  const logger = createLogger({ name: 'trellis-control-plane' });
  if (flags.xdsPort !== undefined)
    logger.warn(
      { xdsPort: flags.xdsPort },
      '--xds-port is deprecated: it is --plaintext-xds-port (plaintext xDS on loopback, for proxyless gRPC clients); sidecars use the TLS port (--secure-port) with --ca-bundle',
    );
  const cp = await startControlPlane({
    ca,
    dataDir,
    adminToken,
    watchDir: flags.watch ? resolve(flags.watch) : undefined,
    host: flags.host ?? '127.0.0.1',
    apiHost: flags.apiHost ?? '127.0.0.1',
    apiPort: port(flags.apiPort, '--api-port', 15000),
    securePort: port(flags.securePort, '--secure-port', 15012),
    ...(plaintextXds ? { plaintextXds } : {}),
    ...(flags.insecureRegistration === true ? { insecureRegistration: true } : {}),
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
