// Where the sidecar's bootstrap token comes from: a file (--token-file / TRELLIS_TOKEN_FILE), read
// again at every certificate request so a refreshed token is picked up, or the TRELLIS_TOKEN
// variable. The value is a secret: it is never logged, put in the bootstrap dump or an error.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
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

/**
 * A token file, re-read on every use. Warns (once per call site) when group or others can read it.
 * Read synchronously (open, fstat, one read of at most 4 KiB): it is a small local file, read every
 * heartbeat (ttl/3) by a registered sidecar, and fs/promises' stat + readFile allocated ~13 KB of
 * garbage per read where this allocates a few hundred bytes (an idle sidecar's young generation
 * fills up slower: docs/sidecar.md "Memory").
 */
export function fileTokenSource(path: string, onLoose?: (mode: number) => void): TokenSource {
  let warned = false;
  return {
    description: `file ${path}`,
    async read() {
      let text: string;
      let fd: number | undefined;
      try {
        fd = openSync(path, 'r');
        const st = fstatSync(fd);
        if (st.size > MAX_TOKEN_FILE_BYTES)
          throw new TrellisError(
            'BAD_REQUEST',
            `token file ${path} is ${st.size} bytes; a token is far smaller`,
          );
        if (st.mode & 0o077 && !warned) {
          warned = true;
          onLoose?.(st.mode & 0o777);
        }
        const bytes = readAll(fd, st.size + 1) ?? (readAll(fd, MAX_TOKEN_FILE_BYTES + 1, true) as Buffer);
        if (bytes.length > MAX_TOKEN_FILE_BYTES)
          throw new TrellisError(
            'BAD_REQUEST',
            `token file ${path} is over ${MAX_TOKEN_FILE_BYTES} bytes; a token is far smaller`,
          );
        text = bytes.toString('utf8');
      } catch (e) {
        if (e instanceof TrellisError) throw e;
        throw new TrellisError(
          'UNAVAILABLE',
          `cannot read the token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
      const token = text.trim();
      if (token === '') throw new TrellisError('BAD_REQUEST', `the token file ${path} is empty`);
      return token;
    },
  };
}

/**
 * The file's bytes from the start, into a buffer of `size`; undefined when they fill it (the file
 * grew after fstat) unless `last`.
 */
function readAll(fd: number, size: number, last = false): Buffer | undefined {
  const buf = Buffer.allocUnsafe(size);
  let n = 0;
  for (let r; n < size && (r = readSync(fd, buf, n, size - n, n)) > 0;) n += r;
  return n === size && !last ? undefined : buf.subarray(0, n);
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
