// Where the sidecar's bootstrap token comes from: a file (--token-file / TRELLIS_TOKEN_FILE), read
// again at every certificate request so a refreshed token is picked up, or the TRELLIS_TOKEN
// variable. The value is a secret: it is never logged, put in the bootstrap dump or an error.
import { readFile, stat } from 'node:fs/promises';
import { TrellisError } from '../../common/errors.js';
import { workloadId, type WorkloadId } from '../../security/spiffe.js';

export const MAX_TOKEN_FILE_BYTES = 4096;

export interface TokenSource {
  /** Where the token comes from, for logs ("file /x/y", "TRELLIS_TOKEN"). */
  readonly description: string;
  read(): Promise<string>;
}

/** What a token says about itself, read WITHOUT verifying it (the control plane verifies). */
export interface TokenPeek {
  readonly identity: WorkloadId;
  readonly tokenId: string;
  readonly expiresAt: Date;
}

/** Decodes a `tbt1.<payload>.<mac>` token's payload; undefined when it is not one. Never throws. */
export function peekToken(value: string): TokenPeek | undefined {
  const parts = value.split('.');
  if (parts.length !== 3 || parts[0] !== 'tbt1') return undefined;
  try {
    const p = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    if (typeof p['td'] !== 'string' || typeof p['ns'] !== 'string' || typeof p['sa'] !== 'string')
      return undefined;
    return {
      identity: workloadId(p['td'], p['ns'], p['sa']),
      tokenId: typeof p['jti'] === 'string' ? p['jti'] : '?',
      expiresAt: new Date(Number(p['exp']) * 1000),
    };
  } catch {
    return undefined;
  }
}

/** A token file, re-read on every use. Warns (once per call site) when group or others can read it. */
export function fileTokenSource(path: string, onLoose?: (mode: number) => void): TokenSource {
  let warned = false;
  return {
    description: `file ${path}`,
    async read() {
      let text: string;
      try {
        const st = await stat(path);
        if (st.size > MAX_TOKEN_FILE_BYTES)
          throw new TrellisError(
            'BAD_REQUEST',
            `token file ${path} is ${st.size} bytes; a token is far smaller`,
          );
        if (st.mode & 0o077 && !warned) {
          warned = true;
          onLoose?.(st.mode & 0o777);
        }
        text = await readFile(path, 'utf8');
      } catch (e) {
        if (e instanceof TrellisError) throw e;
        throw new TrellisError(
          'UNAVAILABLE',
          `cannot read the token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
      const token = text.trim();
      if (token === '') throw new TrellisError('BAD_REQUEST', `the token file ${path} is empty`);
      return token;
    },
  };
}

export function staticTokenSource(value: string, description: string): TokenSource {
  const token = value.trim();
  return { description, read: () => Promise.resolve(token) };
}

/**
 * The token source for a sidecar: --token-file (bootstrap) first, then TRELLIS_TOKEN_FILE (already
 * merged into the bootstrap), then TRELLIS_TOKEN; undefined when there is none (plaintext mode).
 */
export function tokenSourceFrom(
  tokenFile: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  onLoose?: (mode: number) => void,
): TokenSource | undefined {
  if (tokenFile !== undefined) return fileTokenSource(tokenFile, onLoose);
  const v = env['TRELLIS_TOKEN'];
  if (v !== undefined && v.trim() !== '') return staticTokenSource(v, 'TRELLIS_TOKEN');
  return undefined;
}
