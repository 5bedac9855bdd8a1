// `trellis up [FILE|DIR]`: validates the mesh file(s) like `trellis validate` (exit 2 on an error,
// nothing started), then runs the whole mesh on this machine (see src/up/ and docs/up.md).
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { analyze } from '../../api/analyze.js';
import { originOf } from '../../api/origin.js';
import type { Resource } from '../../api/types.js';
import { TrellisError } from '../../common/errors.js';
import { defaultDataDir } from '../../up/data-dir.js';
import { readResources } from '../files.js';
import { printIssues } from '../output.js';
import { parseFlags } from '../flags.js';

export const UP_HELP = `Usage: trellis up [FILE|DIR] [--data-dir DIR] [--api-port N] [--secure-port N]
                [--plaintext-xds-port N]

Runs a whole mesh on this machine: the control plane (API on 127.0.0.1:15000, TLS port for the
sidecars on 127.0.0.1:15012), then every Workload replica with its sidecar and one gateway per
Gateway, until Ctrl-C. Sidecars verify the control plane with <data-dir>/ca/bundle.pem.
FILE|DIR (default .) holds the same documents as 'trellis apply' plus Workloads.
  --data-dir DIR   store, logs and state (default <tmpdir>/trellis-up-<uid>/<name>-<hash of the path>)
  --api-port N     control plane HTTP API port, for the CLI (default 15000; 0 = any free port)
  --secure-port N  control plane TLS port: xDS and the sidecars' API calls (default 15012; 0 = any)
  --plaintext-xds-port N
                   also serve plaintext xDS on 127.0.0.1:N, for proxyless gRPC clients (default off)
See docs/up.md.
`;

function port(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535)
    throw new TrellisError('BAD_REQUEST', `${flag} must be a port number 0-65535, got '${v}'`);
  return n;
}

/** A Workload's relative (or absent) workingDir, made absolute against the file it came from. */
function anchorWorkingDir(r: Resource): Resource {
  if (r.kind !== 'Workload') return r;
  const wd = r.spec.workingDir;
  if (wd !== undefined && isAbsolute(wd)) return r;
  const source = originOf(r)?.source;
  if (source === undefined || source === '<stdin>') return r;
  const dir = dirname(resolve(source));
  return { ...r, spec: { ...r.spec, workingDir: wd === undefined ? dir : resolve(dir, wd) } };
}

export async function upCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      'data-dir': { type: 'string' },
      'api-port': { type: 'string' },
      'xds-port': { type: 'string' },
      'secure-port': { type: 'string' },
      'plaintext-xds-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    UP_HELP,
    true,
  );
  if (parsed.values.help) {
    process.stdout.write(UP_HELP);
    return 0;
  }
  if (parsed.positionals.length > 1)
    throw new TrellisError(
      'BAD_REQUEST',
      `trellis up takes one FILE or DIR, got ${parsed.positionals.join(' ')}`,
    );
  const apiPort = port(parsed.values['api-port'], '--api-port', 15000);
  if (parsed.values['xds-port'] !== undefined && parsed.values['plaintext-xds-port'] !== undefined)
    throw new TrellisError(
      'BAD_REQUEST',
      '--xds-port is the old name of --plaintext-xds-port: give one of them',
    );
  if (parsed.values['xds-port'] !== undefined)
    process.stderr.write(
      'WARN: --xds-port is deprecated: it is --plaintext-xds-port (plaintext xDS on 127.0.0.1 for proxyless gRPC clients); the sidecars use the TLS port (--secure-port)\n',
    );
  const securePort = port(parsed.values['secure-port'], '--secure-port', 15012);
  const plainFlag = parsed.values['xds-port'] !== undefined ? '--xds-port' : '--plaintext-xds-port';
  const plainRaw = parsed.values['plaintext-xds-port'] ?? parsed.values['xds-port'];
  const plaintextXdsPort = plainRaw === undefined ? undefined : port(plainRaw, plainFlag, 0);
  const mesh = parsed.positionals[0] ?? '.';
  const meshAbs = await realpath(resolve(mesh)).catch(() => {
    throw new TrellisError('BAD_REQUEST', `no such file or directory: ${mesh}`);
  });

  const { resources, issues } = await readResources([mesh]);
  const all = [...issues, ...(issues.length === 0 ? analyze(resources) : [])];
  const errors = all.filter((i) => i.severity === 'error');
  printIssues(all);
  if (errors.length > 0) {
    process.stderr.write(`${errors.length} error(s) in ${mesh}; nothing was started\n`);
    return 2;
  }
  const baseDir = (await stat(meshAbs)).isDirectory() ? meshAbs : dirname(meshAbs);
  const dataDir = resolve(parsed.values['data-dir'] ?? defaultDataDir(meshAbs));
  const { runUp } = await import('../../up/run-up.js');
  const code = await runUp({
    mesh,
    resources: resources.map(anchorWorkingDir),
    baseDir,
    dataDir,
    apiPort,
    securePort,
    ...(plaintextXdsPort !== undefined ? { plaintextXdsPort } : {}),
    out: process.stdout,
    err: process.stderr,
    tty: process.stdout.isTTY === true,
  });
  // Exit even if a library left a handle open (everything of ours is closed by now).
  setTimeout(() => process.exit(code), 50).unref();
  return code;
}
