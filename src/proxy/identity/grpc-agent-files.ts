// What `trellis grpc-agent` writes for a proxyless gRPC application (gRFC A29): the workload
// identity of a SidecarIdentity as PEM files a `file_watcher` certificate provider reads
// (cert-chain-and-key.pem 0600: the chain and its key in one file, named as both certificate_file
// and private_key_file, so one rename swaps the pair; root-cert.pem; and, for other readers,
// key.pem 0600 and cert-chain.pem), each replaced atomically (temp file + rename), and
// a gRPC xDS bootstrap (bootstrap.json) naming the control plane's plaintext xDS listener, the node
// (metadata NAMESPACE, SERVICE and CERT_PROVIDER, so the control plane sends mTLS clusters) and the
// `trellis` certificate provider over those files, and the server Listener name template an
// xDS-enabled gRPC server (gRFC A36, XdsServer) asks the control plane with.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { IdentityChange, IdentityMaterial, IdentityProvider } from './sidecar-identity.js';

/**
 * The bootstrap's `server_listener_resource_name_template`: an XdsServer bound to IP:PORT asks for
 * the Listener `grpc/server?xds.resource.listening_address=IP:PORT`. Must equal translate's
 * SERVER_LISTENER_TEMPLATE (src/translate/server-listeners.ts; a test there checks).
 */
export const GRPC_SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

/** The certificate provider instance name in the bootstrap (and node metadata CERT_PROVIDER). */
export const GRPC_CERT_PROVIDER = 'trellis';

export const AGENT_FILES = {
  /** Leaf, intermediate, then the private key: what the bootstrap's provider reads (0600). */
  keyAndChain: 'cert-chain-and-key.pem',
  /** The same key and chain as two files (documented since the first release; not in the bootstrap). */
  key: 'key.pem',
  chain: 'cert-chain.pem',
  roots: 'root-cert.pem',
  bootstrap: 'bootstrap.json',
} as const;

export interface GrpcBootstrapOptions {
  /** Output directory (made absolute in the bootstrap). */
  readonly dir: string;
  /** The control plane's plaintext xDS listener, host:port (loopback). */
  readonly xds: string;
  readonly nodeId: string;
  readonly namespace: string;
  readonly service: string;
  /** How often grpc-js re-reads the files (ms). */
  readonly refreshMs: number;
}

/** A grpc-js duration ("10s", "0.5s"): seconds only, which is all grpc-js parses. */
const grpcDuration = (ms: number): string => `${Math.max(1, Math.round(ms)) / 1000}s`;

/** The gRPC xDS bootstrap JSON for a proxyless client with the `trellis` certificate provider. */
export function grpcBootstrap(o: GrpcBootstrapOptions): Record<string, unknown> {
  const dir = resolve(o.dir);
  return {
    xds_servers: [
      {
        server_uri: o.xds,
        // grpc-js can only reach a control plane in plaintext: the listener binds loopback.
        channel_creds: [{ type: 'insecure' }],
        server_features: ['xds_v3'],
      },
    ],
    node: {
      id: o.nodeId,
      // grpc-js refuses a bootstrap without a locality.
      locality: {},
      metadata: { NAMESPACE: o.namespace, SERVICE: o.service, CERT_PROVIDER: GRPC_CERT_PROVIDER },
    },
    server_listener_resource_name_template: GRPC_SERVER_LISTENER_TEMPLATE,
    certificate_providers: {
      [GRPC_CERT_PROVIDER]: {
        plugin_name: 'file_watcher',
        config: {
          // One file for both: grpc-js reads certificate_file and private_key_file with two
          // independent opens, and a key and a chain in two files need two renames to change.
          certificate_file: join(dir, AGENT_FILES.keyAndChain),
          private_key_file: join(dir, AGENT_FILES.keyAndChain),
          ca_certificate_file: join(dir, AGENT_FILES.roots),
          refresh_interval: grpcDuration(o.refreshMs),
        },
      },
    },
  };
}

/**
 * Writes `data` to a temp file beside `path` (created with exactly `mode`, flushed); `commit()`
 * renames it over `path`, so a reader sees the old file or the new one, never a part.
 */
async function stageFile(
  path: string,
  data: string,
  mode: number,
): Promise<{ commit(): Promise<void>; abort(): Promise<void> }> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const abort = (): Promise<void> => rm(tmp, { force: true }).catch(() => undefined);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.chmod(mode); // exactly `mode`, whatever the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    await abort();
    throw e;
  }
  return {
    commit: async () => {
      try {
        await rename(tmp, path);
      } catch (e) {
        await abort();
        throw e;
      }
    },
    abort,
  };
}

/** Writes `data` to `path` atomically (temp file + rename). */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  await (await stageFile(path, data, mode)).commit();
}

/** Makes `dir` (0700 when it is new; an existing directory's mode is left as it is). */
export async function prepareDir(dir: string): Promise<void> {
  try {
    const made = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (made !== undefined) await chmod(dir, 0o700);
  } catch (e) {
    throw new Error(`cannot create the output directory ${dir}: ${errorMessage(e)}`);
  }
}

/**
 * The content of cert-chain-and-key.pem: the chain (leaf first, as `cert` wants it) then the key.
 * Node's `tls.createSecureContext` takes the same bytes as `cert` (the certificates, the key block
 * skipped) and as `key` (the first private key, the certificate blocks skipped).
 */
export function keyAndChainPem(m: Pick<IdentityMaterial, 'keyPem' | 'certChainPem'>): string {
  const chain = m.certChainPem.endsWith('\n') ? m.certChainPem : `${m.certChainPem}\n`;
  return `${chain}${m.keyPem}`;
}

/**
 * Writes the PEM files of `m` into `dir`: cert-chain-and-key.pem (one rename: a reader of that
 * file gets an old or a new pair, never a mix), then key.pem and cert-chain.pem, then the trust
 * bundle.
 */
export async function writeIdentityFiles(
  dir: string,
  m: IdentityMaterial,
  why: IdentityChange = 'issued',
): Promise<void> {
  if (why !== 'trust-bundle') {
    await writeFileAtomic(join(dir, AGENT_FILES.keyAndChain), keyAndChainPem(m), 0o600);
    // The separate pair, for readers pointed at it by hand: it changes with two renames, so a
    // reader that opens one file, then the other, across a renewal can get a new key with the old
    // chain (it must check the pair and read again). Both are staged (written and flushed) first,
    // then renamed back to back, to keep that window short.
    const key = await stageFile(join(dir, AGENT_FILES.key), m.keyPem, 0o600);
    let chain;
    try {
      chain = await stageFile(join(dir, AGENT_FILES.chain), m.certChainPem, 0o644);
    } catch (e) {
      await key.abort();
      throw e;
    }
    await key.commit();
    await chain.commit();
  }
  await writeFileAtomic(join(dir, AGENT_FILES.roots), m.trustBundlePem, 0o644);
}

/**
 * Keeps `dir` in step with `identity`: files at every change (renewal, new trust bundle), the
 * bootstrap once after the first certificate (so an app waiting for bootstrap.json finds the
 * certificate files already there). Resolves when the first set is written.
 */
export async function syncIdentityFiles(
  identity: IdentityProvider,
  bootstrap: GrpcBootstrapOptions,
  logger: Logger,
): Promise<{ stop(): void }> {
  const dir = resolve(bootstrap.dir);
  await prepareDir(dir);
  let chain = Promise.resolve();
  const write = (m: IdentityMaterial, why: IdentityChange): Promise<void> =>
    (chain = chain.then(async () => {
      try {
        await writeIdentityFiles(dir, m, why);
        logger.info(
          {
            dir,
            why,
            spiffeId: m.spiffeId,
            serialNumber: m.serialNumber,
            notAfter: m.notAfter.toISOString(),
          },
          why === 'trust-bundle' ? 'trust bundle written' : 'workload certificate written',
        );
      } catch (e) {
        logger.error({ dir, err: errorMessage(e) }, 'cannot write the certificate files');
      }
    }));
  const ready = await identity.whenReady();
  const stop = identity.onChange((m, why) => void write(m, why));
  const first = identity.current() ?? ready;
  try {
    await writeIdentityFiles(dir, first); // a failure here is the caller's (e.g. a directory it cannot write)
  } catch (e) {
    stop();
    throw new Error(`cannot write the certificate files into ${dir}: ${errorMessage(e)}`);
  }
  logger.info(
    {
      dir,
      spiffeId: first.spiffeId,
      serialNumber: first.serialNumber,
      notAfter: first.notAfter.toISOString(),
    },
    'workload certificate written',
  );
  await writeFileAtomic(
    join(dir, AGENT_FILES.bootstrap),
    `${JSON.stringify(grpcBootstrap(bootstrap), null, 2)}\n`,
    0o644,
  );
  logger.info(
    { bootstrap: join(dir, AGENT_FILES.bootstrap), xds: bootstrap.xds },
    'gRPC xDS bootstrap written',
  );
  return { stop };
}
