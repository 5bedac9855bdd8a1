// The sidecar's calls to the control plane API (registration, heartbeats; the identity's CSR and
// trust-bundle watch without --ca-bundle) over node:http, in the shape of the fetch subset they
// use. Node's global fetch loads its bundled undici on first use: +11 MB RSS in every sidecar
// that registers (docs/sidecar.md "Memory"). https: URLs still go to the global fetch.
import { request } from 'node:http';

export type LightFetch = (
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

/**
 * fetch over node:http: resolves with the status and the whole body as text; rejects as fetch does,
 * with `TypeError('fetch failed')` whose `cause` is the socket error (`cause.code`), or with the
 * signal's reason when aborted (a TimeoutError for AbortSignal.timeout).
 */
export const httpFetch: LightFetch = (url, init) => {
  const u = new URL(url);
  if (u.protocol !== 'http:') return globalThis.fetch(url, init as RequestInit);
  const signal = init.signal;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const req = request(
      u,
      {
        method: init.method,
        headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          settle(() => resolve({ status: res.statusCode ?? 0, text: () => Promise.resolve(text) }));
        });
        res.on('error', (e) => settle(() => reject(new TypeError('fetch failed', { cause: e }))));
      },
    );
    const onAbort = (): void => {
      settle(() => reject(signal?.reason as Error));
      req.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e) => settle(() => reject(new TypeError('fetch failed', { cause: e }))));
    req.end(body);
  });
};
