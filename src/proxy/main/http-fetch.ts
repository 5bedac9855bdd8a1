// The sidecar's calls to the control plane API over plaintext http: (registration, heartbeats, and
// the workload identity's CSR and trust-bundle watch without --ca-bundle), in the shape of the
// fetch subset they use, as one HTTP/1.1 exchange on a node:net socket. Neither Node's global
// fetch (its bundled undici: +11 MB RSS on first use) nor the node:http client (ClientRequest, a
// response parser, the global agent's kept-alive socket): docs/sidecar.md "Memory". https: URLs
// go to the global fetch.
import { Socket } from 'node:net';

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
    const h = init.headers;
    if (h !== undefined)
      for (const k in h) {
        const v = h[k];
        if (/[\r\n\0]/.test(k) || /[\r\n\0]/.test(v ?? ''))
          return reject(new TypeError(`header ${k}: CR, LF or NUL in a header`));
        headers += `${k}: ${v}\r\n`;
      }
    headers += `content-length: ${body?.length ?? 0}\r\n`;
    const head = requestHead(init.method, `${u.pathname}${u.search}`, u.host, headers);
    const c = FetchCall.take();
    c.start(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 80), signal, resolve, reject);
    c.sock.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : head);
  });
};

type Answer = { status: number; text(): Promise<string> };

/** The socket of a call that ended cleanly ('end', then 'close'), ready for the next one. */
let spareCall: FetchCall | undefined;

/**
 * One netFetch exchange at a time on a socket kept for the next call when the last one ended
 * cleanly: a net.Socket may connect again once it has emitted 'close' (Node's documented reconnect),
 * and its listeners are set once. A new socket per call (a heartbeat every ttl/3, the trust-bundle
 * watch) was ~3 KB more garbage each (docs/sidecar.md "Memory").
 */
function putBack(c: FetchCall): void {
  spareCall ??= c;
}

class FetchCall {
  readonly sock = new Socket();
  private chunks: Buffer[] = [];
  private size = 0;
  private signal: AbortSignal | undefined;
  private resolve: ((a: Answer) => void) | undefined;
  private reject: ((e: Error) => void) | undefined;
  /** The answer was read to the end: the socket may serve another call once closed. */
  private clean = false;

  constructor() {
    this.sock.on('error', (e) => this.fail(e));
    this.sock.on('data', (c: Buffer) => {
      this.size += c.length;
      if (this.size > MAX_RESPONSE_BYTES) this.fail(new Error(`response over ${MAX_RESPONSE_BYTES} bytes`));
      else this.chunks.push(c);
    });
    this.sock.on('end', () => {
      if (this.resolve === undefined) return;
      const res = parseResponse(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks));
      if (res === undefined) return this.fail(new Error('malformed HTTP response'));
      const resolve = this.resolve;
      this.clean = true;
      this.settle();
      resolve({ status: res.status, text: () => Promise.resolve(res.body) });
    });
    this.sock.on('close', () => {
      if (!this.clean) return;
      this.clean = false;
      putBack(this);
    });
  }

  static take(): FetchCall {
    const c = spareCall;
    spareCall = undefined;
    return c ?? new FetchCall();
  }

  start(
    host: string,
    port: number,
    signal: AbortSignal | undefined,
    resolve: (a: Answer) => void,
    reject: (e: Error) => void,
  ): void {
    this.chunks = [];
    this.size = 0;
    this.signal = signal;
    this.resolve = resolve;
    this.reject = reject;
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.sock.connect({ host, port });
  }

  private readonly onAbort = (): void => {
    const reject = this.reject;
    const reason = this.signal?.reason as Error;
    if (reject === undefined) return;
    this.settle();
    reject(reason);
  };

  private fail(cause: Error): void {
    const reject = this.reject;
    if (reject === undefined) return;
    this.settle();
    reject(new TypeError('fetch failed', { cause }));
  }

  private settle(): void {
    this.resolve = undefined;
    this.reject = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
    this.chunks = [];
    this.sock.destroy();
  }
}

/** The last value of a header (name matched case-insensitively, both trimmed) in a response head. */
const CONTENT_LENGTH = /^[ \t]*content-length[ \t]*:(.*)$/gim;
const TRANSFER_ENCODING = /^[ \t]*transfer-encoding[ \t]*:(.*)$/gim;
function lastHeader(head: string, re: RegExp): string | undefined {
  re.lastIndex = 0;
  let v: string | undefined;
  for (let m; (m = re.exec(head)) !== null;) v = m[1];
  return v?.trim();
}

function parseResponse(raw: Buffer): { status: number; body: string } | undefined {
  let start = 0;
  let end: number;
  let head: string;
  let status: number | undefined;
  // Interim 1xx answers (100 Continue, 103 Early Hints) are skipped: the final one follows.
  for (;;) {
    end = raw.indexOf('\r\n\r\n', start);
    if (end < 0) return undefined;
    head = raw.toString('latin1', start, end);
    const nl = head.indexOf('\r\n');
    status = statusOf(nl < 0 ? head : head.slice(0, nl));
    if (status === undefined) return undefined;
    if (status >= 200) break;
    start = end + 4;
  }
  // The status line matches neither header pattern: scanning the whole head is scanning its fields.
  const cl = lastHeader(head, CONTENT_LENGTH);
  const length = cl === undefined ? undefined : Number(cl);
  const chunked = lastHeader(head, TRANSFER_ENCODING)?.toLowerCase().includes('chunked') ?? false;
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
