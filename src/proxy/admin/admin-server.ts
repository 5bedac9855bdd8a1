// The sidecar's admin HTTP server (127.0.0.1 by default): /ready, /live, /config_dump, /clusters,
// /stats (Prometheus text) and an index. Read-only; never on the request hot path.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Logger } from '../../common/logger.js';
import { errorMessage } from '../../common/errors.js';

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready (or what ready means). */
  readonly reason: string;
}

/** What the admin server shows; each getter is called per request. */
export interface AdminSources {
  readiness(): Readiness;
  configDump(): unknown;
  clusters(): unknown;
  /** Prometheus text exposition (already joined). */
  metrics(): string;
  /** The workload identity (no key material), for /certs. */
  certs?(): unknown;
}

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly sources: AdminSources;
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

const PROM_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const INDEX = `trellis proxy admin
  /ready         200 when serving and registered, else 503 with the reason
  /live          200 while the process runs
  /config_dump   the xDS config in force and the bootstrap (JSON)
  /clusters      clusters, endpoints, health and load-balancer state (JSON)
  /stats         metrics (Prometheus text)
  /certs         the workload certificate: SPIFFE ID, serial, expiry, next renewal (JSON, no keys)
`;

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, v: unknown): void =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(v, null, 2) + '\n');

function handle(sources: AdminSources, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return json(res, 405, {
      error: 'METHOD_NOT_ALLOWED',
      message: 'the admin endpoint is read-only: use GET',
    });
  }
  switch (path) {
    case '/':
      return send(res, 200, 'text/plain; charset=utf-8', INDEX);
    case '/live':
      return json(res, 200, { live: true });
    case '/ready': {
      const r = sources.readiness();
      return json(res, r.ready ? 200 : 503, r);
    }
    case '/config_dump':
      return json(res, 200, sources.configDump());
    case '/clusters':
      return json(res, 200, sources.clusters() ?? {});
    case '/stats':
      return send(res, 200, PROM_TYPE, sources.metrics());
    case '/certs':
      return json(res, 200, sources.certs?.() ?? { enabled: false });
    default:
      return json(res, 404, { error: 'NOT_FOUND', message: `no admin page ${path}; see / for the list` });
  }
}

export async function createAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const log = opts.logger.child({ component: 'admin' });
  const server = createServer((req, res) => {
    try {
      handle(opts.sources, req, res);
    } catch (e) {
      log.error({ err: errorMessage(e), path: req.url }, 'admin page failed');
      if (!res.headersSent) json(res, 500, { error: 'INTERNAL', message: errorMessage(e) });
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 5000;
  server.listen(opts.port, opts.host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([e]) => {
      throw new Error(`admin server cannot listen on ${opts.host}:${opts.port}: ${errorMessage(e)}`);
    }),
  ]);
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
