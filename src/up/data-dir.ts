// Where `trellis up` keeps its store, logs and state file, and how `trellis logs` finds them.
//
// Default data dir: <tmpdir>/trellis-up-<uid>/<mesh dir name>-<hash of its absolute path>, so each
// mesh gets its own and nothing is written into the source tree. While `trellis up` runs,
// <tmpdir>/trellis-up-<uid>/api-<port>.json points at the data dir of the mesh whose control plane
// API listens on that port: `trellis logs` follows it from --server (default :15000).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { basename, join } from 'node:path';

/** The state file in the data dir: pids, ports and log files of everything running. */
export const STATE_FILE = 'up.json';
export const LOG_DIR = 'logs';
export const STORE_DIR = 'store';

function uid(): string {
  try {
    return String(userInfo().uid);
  } catch {
    return 'user';
  }
}

export const upRoot = (): string => join(tmpdir(), `trellis-up-${uid()}`);

export function defaultDataDir(meshAbsPath: string): string {
  const hash = createHash('sha256').update(meshAbsPath).digest('hex').slice(0, 10);
  const name = basename(meshAbsPath).replace(/[^A-Za-z0-9._-]/g, '_') || 'mesh';
  return join(upRoot(), `${name}-${hash}`);
}

export const pointerFile = (apiPort: number): string => join(upRoot(), `api-${apiPort}.json`);

export interface Pointer {
  readonly dataDir: string;
  readonly pid: number;
}

/** The data dir of the `trellis up` whose API listens on `apiPort`, if one says so. */
export function readPointer(apiPort: number): Pointer | undefined {
  let p: Pointer;
  try {
    p = JSON.parse(readFileSync(pointerFile(apiPort), 'utf8')) as Pointer;
  } catch {
    return undefined;
  }
  try {
    process.kill(p.pid, 0); // left behind by a trellis up that was killed?
    return p;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? p : undefined;
  }
}

/** What `trellis up` writes to STATE_FILE. */
export interface UpState {
  readonly pid: number;
  readonly apiUrl: string;
  readonly xds: string;
  readonly dataDir: string;
  readonly logDir: string;
  readonly mesh: string;
  readonly replicas: readonly {
    readonly id: string;
    readonly workload: string;
    readonly namespace: string;
    readonly index: number;
    readonly phase: string;
    readonly restarts: number;
    /** Why it is not ready, or when it restarts. */
    readonly detail?: string;
    readonly appPid?: number;
    readonly sidecarPid?: number;
    readonly appPort?: number;
    readonly inboundPort?: number;
    readonly outboundPort?: number;
    readonly adminPort?: number;
    readonly app: string;
    readonly sidecar: string;
  }[];
  readonly gateways: readonly {
    readonly id: string;
    readonly log: string;
    readonly pid?: number;
    readonly urls: readonly string[];
  }[];
}
