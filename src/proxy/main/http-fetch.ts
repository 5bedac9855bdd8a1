// The sidecar's calls to the control plane API over plaintext http: (registration, heartbeats, and
// the workload identity's CSR and trust-bundle watch without --ca-bundle), in the shape of the
// fetch subset they use, as one HTTP/1.1 exchange on a node:net socket. Neither Node's global
// fetch (its bundled undici: +11 MB RSS on first use) nor the node:http client (ClientRequest, a
// response parser, the global agent's kept-alive socket): docs/sidecar.md "Memory". https: URLs
// go to the global fetch.
import { connect } from 'node:net';

export type LightFetch = (
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

/** The most netFetch reads of one answer (the control plane's answers here are a few hundred bytes). */
const MAX_RESPONSE_BYTES = 1 << 20;

/**
 * The head of an HTTP/1.1 request alone on its connection (`Connection: close`), shared by netFetch
 * and the app readiness probe: `host` is the Host value (`addr`, `[v6]`, with `:port` unless 80);
 * `headers` are more header lines, each ending in CRLF, already checked for CR/LF/NUL.
 */
export function requestHead(method: string, target: string, host: string, headers = ''): string {
  return `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${headers}\r\n`;
}

/** The code of an HTTP/1.0 or 1.1 status line (without its CRLF), or undefined if it is not one. */
export function statusOf(line: string): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(line);
  return m === null ? undefined : Number(m[1]);
}

/**
 * The sidecar's calls over plaintext http: as one HTTP/1.1 request on its own net socket
 * (Connection: close): reads the whole answer, then takes the status line and the body (by
 * content-length, chunked, or up to the close). Rejects as fetch does: `TypeError('fetch failed')`
 * with the socket error as `cause`, or the signal's reason when aborted; answers over 1 MiB and header
 * values with CR/LF/NUL are refused. https: goes to the global fetch.
 */
export const netFetch: LightFetch = (url, init) => {
  const u = new URL(url);
  if (u.protocol !== 'http:') return globalThis.fetch(url, init as RequestInit);
  const signal = init.signal;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    let headers = '';
    for (const [k, v] of Object.entries(init.headers ?? {})) {
      if (/[\r\n\0]/.test(k + v)) return reject(new TypeError(`header ${k}: CR, LF or NUL in a header`));
      headers += `${k}: ${v}\r\n`;
    }
    headers += `content-length: ${body?.length ?? 0}\r\n`;
    const head = requestHead(init.method, `${u.pathname}${u.search}`, u.host, headers);
    const chunks: Buffer[] = [];
    let settled = false;
    const sock = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) });
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      fn();
    };
    const fail = (cause: Error): void => settle(() => reject(new TypeError('fetch failed', { cause })));
    const onAbort = (): void => settle(() => reject(signal?.reason as Error));
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('error', fail);
    let size = 0;
    sock.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_RESPONSE_BYTES) fail(new Error(`response over ${MAX_RESPONSE_BYTES} bytes`));
      else chunks.push(c);
    });
    sock.on('end', () => {
      const res = parseResponse(Buffer.concat(chunks));
      if (res === undefined) fail(new Error('malformed HTTP response'));
      else settle(() => resolve({ status: res.status, text: () => Promise.resolve(res.body) }));
    });
    sock.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : head);
  });
};

function parseResponse(raw: Buffer): { status: number; body: string } | undefined {
  let start = 0;
  let end: number;
  let lines: string[];
  let status: number | undefined;
  // Interim 1xx answers (100 Continue, 103 Early Hints) are skipped: the final one follows.
  for (;;) {
    end = raw.indexOf('\r\n\r\n', start);
    if (end < 0) return undefined;
    lines = raw.toString('latin1', start, end).split('\r\n');
    status = statusOf(lines[0] ?? '');
    if (status === undefined) return undefined;
    if (status >= 200) break;
    start = end + 4;
  }
  let length: number | undefined;
  let chunked = false;
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    if (k === 'content-length') length = Number(v);
    else if (k === 'transfer-encoding') chunked = v.toLowerCase().includes('chunked');
  }
  let rest = raw.subarray(end + 4);
  if (chunked) {
    const parts: Buffer[] = [];
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) return undefined;
      const size = parseInt(rest.toString('latin1', 0, nl), 16);
      if (!Number.isFinite(size)) return undefined;
      if (size === 0) break;
      if (rest.length < nl + 2 + size) return undefined;
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
    rest = Buffer.concat(parts);
  } else if (length !== undefined) {
    if (!Number.isInteger(length) || length < 0 || rest.length < length) return undefined;
    rest = rest.subarray(0, length);
  }
  return { status, body: rest.toString('utf8') };
}

/**
 * The identity's transport without --ca-bundle: netFetch. Resolves with the status and the whole
 * body as text; rejects as fetch does, with `TypeError('fetch failed')` whose `cause` is the socket
 * error (`cause.code`), or with the signal's reason when aborted (a TimeoutError for
 * AbortSignal.timeout).
 */
export const httpFetch: LightFetch = netFetch;
