// HTTP client for the control plane's API, used by every CLI command that talks to a server.
import { TrellisError } from '../common/errors.js';
import { findAdminToken, type AdminCredential } from './admin-token.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:15000';

export function serverUrl(flag: string | undefined): string {
  return (flag ?? process.env['TRELLIS_SERVER'] ?? DEFAULT_SERVER).replace(/\/+$/, '');
}

export interface ApiErrorBody {
  error: { code: string; message: string; details?: { issues?: unknown[] } };
}

export class ApiClient {
  private admin: AdminCredential | undefined;
  constructor(readonly base: string) {}

  /** The admin token sent with every call (found once: flag, environment, local data dir). */
  private credential(): AdminCredential {
    this.admin ??= findAdminToken(this.base);
    return this.admin;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const admin = this.credential();
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (admin.token !== undefined) headers['authorization'] = `Bearer ${admin.token}`;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new TrellisError(
        'UNAVAILABLE',
        `cannot reach the control plane at ${this.base} (${cause}). Is \`trellis control-plane\` (or \`trellis up\`) running? Set --server or TRELLIS_SERVER to point elsewhere.`,
      );
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      throw new TrellisError('INTERNAL', `unexpected answer from ${this.base}${path}: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const err = (data as ApiErrorBody | undefined)?.error;
      if (res.status === 401 && err?.code === 'UNAUTHENTICATED')
        throw new TrellisError(
          'BAD_REQUEST',
          admin.token === undefined
            ? `${this.base} needs the control plane's admin token and none was found (looked at: ${admin.looked.join(', ')}). Give --admin-token-file FILE (the control plane's <data-dir>/admin.token) or set TRELLIS_ADMIN_TOKEN. The server says: ${err.message}`
            : `${this.base} refused the admin token from ${admin.source}: is it this control plane's? The server says: ${err.message}`,
        );
      throw new TrellisError(
        (err?.code as TrellisError['code']) ?? 'INTERNAL',
        err?.message ?? `HTTP ${res.status}`,
        err?.details,
      );
    }
    return data as T;
  }
}
