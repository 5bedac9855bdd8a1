// Where a provider's keys come from: inline (decoded with the config), a file, or a loopback http
// URL. Sources are shared per file/URL across config versions, fetched on first use, refreshed every
// `refreshMs` in the background, and at once (at most every 5 s) when a token names an unknown kid.
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { parseJwks, type JwksKeys } from './jwt.js';
import type { JwksSpec } from './types.js';

/** Least time between two fetches triggered by unknown kids. */
const MIN_REFETCH_MS = 5000;
const MAX_JWKS_BYTES = 512 * 1024;

export interface JwksSource {
  /** The keys last loaded, if any. */
  keys(): JwksKeys | undefined;
  /** Why the last load failed, if it did. */
  lastError(): string | undefined;
  /** Loads now unless a load ran within MIN_REFETCH_MS (or is running): resolves when done. */
  refresh(force?: boolean): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** A jwksUri must be plain http on loopback (the proxy makes no outside connections of its own). */
export function jwksUriError(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.protocol !== 'http:') return 'only http:// URLs on loopback are supported';
  if (!LOOPBACK.has(u.hostname)) return 'must be on loopback (127.0.0.1, [::1] or localhost)';
  if (u.username !== '' || u.password !== '') return 'must not carry credentials';
  return undefined;
}

function fetchText(uri: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      uri,
      { method: 'GET', timeout: timeoutMs, headers: { accept: 'application/json' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET ${uri}: status ${res.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_JWKS_BYTES) {
            req.destroy(new Error(`GET ${uri}: JWKS larger than ${MAX_JWKS_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${uri}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

class LoadedSource implements JwksSource {
  private current: JwksKeys | undefined;
  private error: string | undefined;
  private loading: Promise<void> | undefined;
  private lastLoad = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly load: () => Promise<string>,
    private readonly refreshMs: number,
  ) {}

  keys(): JwksKeys | undefined {
    return this.current;
  }

  lastError(): string | undefined {
    return this.error;
  }

  refresh(force = false): Promise<void> {
    if (this.loading !== undefined) return this.loading;
    // Unknown kids refetch at most every 5 s (or a quarter of the refresh period, if shorter).
    const minGap = Math.min(MIN_REFETCH_MS, this.refreshMs / 4);
    if (!force && this.lastLoad !== 0 && Date.now() - this.lastLoad < minGap) return Promise.resolve();
    this.lastLoad = Date.now();
    this.loading = this.load()
      .then((text) => {
        this.current = parseJwks(text);
        this.error = undefined;
      })
      .catch((e: unknown) => {
        // Keep the last good keys: a JWKS endpoint that blips must not log everyone out.
        this.error = e instanceof Error ? e.message : String(e);
      })
      .finally(() => {
        this.loading = undefined;
        this.schedule();
      });
    return this.loading;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.refreshMs <= 0) return;
    this.timer = setInterval(() => void this.refresh(true), this.refreshMs);
    this.timer.unref();
  }
}

class InlineSource implements JwksSource {
  constructor(private readonly k: JwksKeys) {}
  keys(): JwksKeys {
    return this.k;
  }
  lastError(): undefined {
    return undefined;
  }
  refresh(): Promise<void> {
    return Promise.resolve();
  }
}

const shared = new Map<string, JwksSource>();
const inline = new WeakMap<JwksKeys, JwksSource>();

/** The source for a spec (one per file path / URL for the process lifetime). */
export function jwksSource(spec: JwksSpec): JwksSource {
  if (spec.type === 'inline') {
    let s = inline.get(spec.keys);
    if (s === undefined) inline.set(spec.keys, (s = new InlineSource(spec.keys)));
    return s;
  }
  const key = spec.type === 'file' ? `file:${spec.path}` : `uri:${spec.uri}`;
  let s = shared.get(key);
  if (s === undefined) {
    s =
      spec.type === 'file'
        ? new LoadedSource(() => readFile(spec.path, 'utf8'), spec.refreshMs)
        : new LoadedSource(() => fetchText(spec.uri, spec.timeoutMs), spec.refreshMs);
    shared.set(key, s);
  }
  return s;
}
