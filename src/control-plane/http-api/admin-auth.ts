// The admin credential of the control plane's plaintext HTTP API: one bearer token, random (256
// bits) and generated at first start into a file only its owner can read (0600), or supplied by the
// operator. Every route of the API needs it (default deny) except the few a sidecar or a probe uses
// before it has any credential: health, the trust bundle, a certificate for a workload token, and
// instance registration, which the handler authenticates with the admin token or a workload
// token (registration-auth.ts; see OPEN_ROUTES and docs/security.md, "Admin API access").
// The token never reaches a log or an error message; comparisons take constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { TrellisError } from '../../common/errors.js';
import type { Reply, Request } from './router.js';

/** The token file's name in the control plane's data dir (and in `trellis up`'s). */
export const ADMIN_TOKEN_FILE = 'admin.token';
/** Shortest token accepted from a file or the environment (128 bits as hex). */
export const MIN_ADMIN_TOKEN_CHARS = 32;

/**
 * Routes served without the admin token (method + pattern as registered on the router). Anything
 * else needs it: a new route is closed until it is added here on purpose.
 */
export const OPEN_ROUTES: readonly (readonly [method: string, pattern: string, why: string])[] = [
  ['GET', '/healthz', 'liveness probe'],
  ['GET', '/readyz', 'readiness probe'],
  ['GET', '/api/v1/trust-bundle', 'public CA certificates; sidecars and grpc-agent read them'],
  ['POST', '/api/v1/certificates', 'authenticated by the workload bootstrap token instead'],
  // Not anonymous: the handler checks the admin token OR the workload bootstrap token of the
  // instance's identity (registration-auth.ts), or the client certificate on the secure port.
  ['POST', '/api/v1/instances', 'registration: admin or workload token (registration-auth.ts)'],
  ['POST', '/api/v1/instances/:id/heartbeat', 'heartbeat: admin or the instance identity token'],
  ['DELETE', '/api/v1/instances/:id', 'deregistration: admin or the instance identity token'],
];

const OPEN = new Set(OPEN_ROUTES.map(([m, p]) => `${m} ${p}`));

/** True when `method pattern` (a registered route) is served without the admin token. */
export function isOpenRoute(method: string, pattern: string): boolean {
  return OPEN.has(`${method} ${pattern}`);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** The bearer token of an Authorization header, if it is one. */
export function bearerToken(headers: Request['headers']): string | undefined {
  const h = headers['authorization'];
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer +(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

export class AdminGuard {
  private readonly want: Buffer;

  /** `where` says where an operator finds the token (a file path, or an environment variable). */
  constructor(
    token: string,
    readonly where: string,
  ) {
    this.want = digest(token);
  }

  /** True when `candidate` is the admin token (constant time: both sides are hashed first). */
  matches(candidate: string | undefined): boolean {
    return timingSafeEqual(digest(candidate ?? ''), this.want) && candidate !== undefined;
  }

  /** undefined when `req` may call the route `pattern`; else the 401 to send. */
  check(req: Pick<Request, 'method' | 'headers'>, pattern: string): Reply | undefined {
    if (isOpenRoute(req.method, pattern)) return undefined;
    if (this.matches(bearerToken(req.headers))) return undefined;
    return {
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="trellis-admin"' },
      body: {
        error: {
          code: 'UNAUTHENTICATED',
          message: `${req.method} ${pattern} needs the control plane's admin token: send "Authorization: Bearer <token>". The token is in ${this.where} (readable by the control plane's user only); the trellis CLI reads it from --admin-token-file FILE, TRELLIS_ADMIN_TOKEN, or that file when it runs on the same machine`,
        },
      },
    };
  }
}

function checkToken(token: string, source: string): string {
  if (token.length < MIN_ADMIN_TOKEN_CHARS || /\s/.test(token))
    throw new TrellisError(
      'BAD_REQUEST',
      `${source}: the admin token must be at least ${MIN_ADMIN_TOKEN_CHARS} characters without spaces (e.g. 'openssl rand -hex 32'); the one given is shorter or has spaces`,
    );
  return token;
}

/**
 * The admin token in `file`: read when the file exists (it must not be readable by group or
 * others), else generated (32 random bytes, base64url) and written there with mode 0600.
 */
export function loadOrCreateAdminToken(file: string): { token: string; created: boolean } {
  let st: Stats | undefined;
  try {
    st = statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new TrellisError('BAD_REQUEST', `admin token file ${file}: ${(e as Error).message}`);
  }
  if (st) {
    if (!st.isFile()) throw new TrellisError('BAD_REQUEST', `admin token file ${file}: not a regular file`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
      throw new TrellisError(
        'BAD_REQUEST',
        `admin token file ${file}: mode ${(st.mode & 0o777).toString(8)} lets other users read it; run 'chmod 600 ${file}'`,
      );
    const token = readFileSync(file, 'utf8').trim();
    return { token: checkToken(token, `admin token file ${file}`), created: false };
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateAdminToken(file);
    throw new TrellisError(
      'BAD_REQUEST',
      `admin token file ${file}: cannot write it: ${(e as Error).message}`,
    );
  }
  chmodSync(file, 0o600); // whatever the umask
  return { token, created: true };
}

/** Checks a token given in the environment (TRELLIS_ADMIN_TOKEN). */
export function adminTokenFromEnv(value: string, name: string): string {
  return checkToken(value.trim(), name);
}
