// A tiny method + path-pattern router over node:http with JSON helpers and a body size limit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TrellisError, type ErrorCode } from '../../common/errors.js';

export interface Request {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly params: Readonly<Record<string, string>>;
  readonly headers: IncomingMessage['headers'];
  /** The peer's address (loopback checks for admin calls). */
  readonly remoteAddress: string;
  /** On the secure port: the verified SPIFFE ID of the client certificate, if one was presented. */
  readonly peerIdentity?: string;
  /** The body, refused beyond `maxBytes` (default: the router's limit). */
  body(maxBytes?: number): Promise<string>;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** Sent as-is with this content type instead of JSON. */
  raw?: { contentType: string; text: string };
  /** Extra response headers. */
  headers?: Record<string, string>;
}

export type Handler = (req: Request) => Promise<Reply> | Reply;

interface RouteEntry {
  method: string;
  pattern: string;
  parts: string[];
  handler: Handler;
}

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  INVALID_CONFIG: 400,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  STORE_FAILURE: 500,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** Runs before a matched route's handler: a reply refuses the call (e.g. 401 without credentials). */
export type RouteGuard = (req: Request, pattern: string) => Reply | undefined;

export class Router {
  private routes: RouteEntry[] = [];
  /** Checked before every matched route (the admin token on the plaintext API). */
  guard: RouteGuard | undefined;
  constructor(private readonly maxBodyBytes = 8 * 1024 * 1024) {}

  on(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, pattern, parts: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  private match(
    method: string,
    path: string,
  ): { handler: Handler; pattern: string; params: Record<string, string> } | 'method' | undefined {
    const segs = path.split('/').filter(Boolean);
    let methodMismatch = false;
    for (const r of this.routes) {
      if (r.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const p = r.parts[i]!;
        const s = segs[i]!;
        if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(s);
        else if (p !== s) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (r.method !== method) {
        methodMismatch = true;
        continue;
      }
      return { handler: r.handler, pattern: r.pattern, params };
    }
    return methodMismatch ? 'method' : undefined;
  }

  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    peer?: { readonly spiffeId?: string | undefined },
  ): Promise<void> {
    let reply: Reply;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const m = this.match(req.method ?? 'GET', url.pathname);
      if (m === undefined) reply = errorReply('NOT_FOUND', `no API endpoint ${req.method} ${url.pathname}`);
      else if (m === 'method')
        reply = {
          status: 405,
          body: {
            error: { code: 'BAD_REQUEST', message: `method ${req.method} not allowed on ${url.pathname}` },
          },
        };
      else {
        const limit = this.maxBodyBytes;
        const request: Request = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          params: m.params,
          headers: req.headers,
          remoteAddress: req.socket.remoteAddress ?? '',
          ...(peer?.spiffeId !== undefined ? { peerIdentity: peer.spiffeId } : {}),
          body: (max) => readBody(req, Math.min(max ?? limit, limit)),
        };
        const refused = this.guard?.(request, m.pattern);
        if (refused) {
          // The body is not read: drop the connection once the answer is out.
          res.shouldKeepAlive = false;
          reply = refused;
        } else reply = await m.handler(request);
      }
    } catch (e) {
      reply =
        e instanceof TrellisError
          ? {
              status: STATUS_BY_CODE[e.code],
              body: { error: { code: e.code, message: e.message, details: e.details } },
            }
          : errorReply('INTERNAL', e instanceof Error ? e.message : String(e));
    }
    if (reply.raw) {
      res.writeHead(reply.status, { ...reply.headers, 'content-type': reply.raw.contentType });
      res.end(reply.raw.text);
      return;
    }
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body, null, 2) + '\n';
    res.writeHead(reply.status, {
      ...reply.headers,
      'content-type': 'application/json',
      'cache-control': 'no-store',
    });
    res.end(text);
  }
}

export function errorReply(code: ErrorCode, message: string, details?: unknown): Reply {
  return {
    status: STATUS_BY_CODE[code],
    body: { error: { code, message, ...(details === undefined ? {} : { details }) } },
  };
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new TrellisError('BAD_REQUEST', `request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
