// Where the CLI finds the control plane's admin token, in this order:
//   1. --admin-token-file FILE (any command that talks to a control plane)
//   2. TRELLIS_ADMIN_TOKEN (the token itself), then TRELLIS_ADMIN_TOKEN_FILE
//   3. for a control plane on this machine (loopback --server) only:
//      a. the `trellis up` serving that API port: <its data dir>/admin.token
//      b. `trellis control-plane`'s default data dir: $TRELLIS_DATA_DIR or ./.trellis/data, /admin.token
// Discovered files (3) must belong to the current user. A token read from a file named by the user
// (1, 2) is sent wherever --server points; one discovered (3) only to loopback.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TrellisError } from '../common/errors.js';
import { readPointer } from '../up/data-dir.js';

const TOKEN_FILE = 'admin.token';

let flagFile: string | undefined;

/** Set from --admin-token-file by main.ts before a command runs. */
export function setAdminTokenFile(file: string | undefined): void {
  flagFile = file;
}

export interface AdminCredential {
  /** The token, when found. */
  readonly token?: string;
  /** Where it came from, or every place looked at (for the error message). */
  readonly source: string;
  readonly looked: readonly string[];
}

function readToken(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TrellisError(
      'BAD_REQUEST',
      `${what}: cannot read the admin token file '${file}': ${(e as Error).message}`,
    );
  }
  const token = text.trim();
  if (token === '') throw new TrellisError('BAD_REQUEST', `${what}: the admin token file '${file}' is empty`);
  return token;
}

function ownFile(file: string): boolean {
  try {
    const st = statSync(file);
    const uid = process.getuid?.();
    return st.isFile() && (uid === undefined || st.uid === uid);
  } catch {
    return false;
  }
}

function loopbackPort(server: string): number | undefined {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    return undefined;
  }
  const h = u.hostname.replace(/^\[|\]$/g, '');
  if (!(h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h))) return undefined;
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}

/** The admin token for `server` (see the order above); no token = `looked` lists where it looked. */
export function findAdminToken(server: string, env: NodeJS.ProcessEnv = process.env): AdminCredential {
  if (flagFile !== undefined)
    return { token: readToken(flagFile, '--admin-token-file'), source: flagFile, looked: [flagFile] };
  const fromEnv = env['TRELLIS_ADMIN_TOKEN']?.trim();
  if (fromEnv) return { token: fromEnv, source: 'TRELLIS_ADMIN_TOKEN', looked: [] };
  const envFile = env['TRELLIS_ADMIN_TOKEN_FILE'];
  if (envFile)
    return { token: readToken(envFile, 'TRELLIS_ADMIN_TOKEN_FILE'), source: envFile, looked: [envFile] };
  const looked = ['--admin-token-file', 'TRELLIS_ADMIN_TOKEN', 'TRELLIS_ADMIN_TOKEN_FILE'];
  const port = loopbackPort(server);
  if (port === undefined) return { source: '', looked };
  const candidates: string[] = [];
  const up = readPointer(port);
  if (up) candidates.push(join(up.dataDir, TOKEN_FILE));
  candidates.push(resolve(env['TRELLIS_DATA_DIR'] ?? '.trellis/data', TOKEN_FILE));
  for (const f of candidates) {
    looked.push(f);
    if (ownFile(f)) return { token: readToken(f, f), source: f, looked };
  }
  return { source: '', looked };
}
