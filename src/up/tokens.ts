// Bootstrap tokens for the sidecars and gateways `trellis up` runs: one per workload identity,
// issued in-process by the control plane's CA, written to <data-dir>/tokens/<ns>.<sa>.token (0600,
// in a 0700 directory) and passed with --token-file. Tokens live 24 h and are re-issued into the
// same files every 12 h while the mesh runs (sidecars re-read the file at each renewal); the files
// are removed when `trellis up` stops and re-issued when it starts again.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaService } from '../control-plane/ca/ca-service.js';

export const TOKENS_DIR = 'tokens';
export const UP_TOKEN_TTL_MS = 24 * 3_600_000;

export class UpTokens {
  private readonly files = new Map<string, { namespace: string; serviceAccount: string; path: string }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ca: CaService,
    readonly dir: string,
    private readonly ttlMs = UP_TOKEN_TTL_MS,
  ) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.timer = setInterval(() => this.refresh(), Math.floor(ttlMs / 2));
    this.timer.unref();
  }

  /** The token file of namespace/serviceAccount, issued on first use. */
  fileFor(namespace: string, serviceAccount: string): string {
    const key = `${namespace}.${serviceAccount}`;
    const known = this.files.get(key);
    if (known) return known.path;
    const f = { namespace, serviceAccount, path: join(this.dir, `${key}.token`) };
    this.write(f);
    this.files.set(key, f);
    return f.path;
  }

  private write(f: { namespace: string; serviceAccount: string; path: string }): void {
    const token = this.ca.issueToken({
      namespace: f.namespace,
      serviceAccount: f.serviceAccount,
      ttlMs: this.ttlMs,
    });
    const tmp = `${f.path}.tmp`;
    writeFileSync(tmp, token.reveal() + '\n', { mode: 0o600 });
    renameSync(tmp, f.path);
  }

  /** Re-issues every token (the sidecars read the new one at their next renewal). */
  refresh(): void {
    for (const f of this.files.values()) this.write(f);
  }

  close(): void {
    clearInterval(this.timer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
