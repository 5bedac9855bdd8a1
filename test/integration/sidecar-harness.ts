// Test support for the sidecar data-plane suites: hand-built ProxyConfig objects, fake upstream
// apps (node:http) that count connections, and a raw-socket HTTP/1 client that reads whole responses.
import http from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { silentLogger } from '../../src/common/logger.js';
import type {
  ClusterConfig,
  EndpointConfig,
  HeaderMatcher,
  ListenerConfig,
  ProxyConfig,
  RouteActionConfig,
  RouteConfig,
  VirtualHostConfig,
} from '../../src/proxy/config/types.js';
import { buildRouteTable } from '../../src/proxy/config/decode-route.js';
import { createDataPlane, type CreateDataPlaneOptions } from '../../src/proxy/create-data-plane.js';
import type { DataPlane } from '../../src/proxy/data-plane.js';

const NO_MUTATION = { add: [], remove: [] };

export function route(
  name: string,
  prefix: string,
  clusters: { name: string; weight: number }[],
  extra: {
    timeoutMs?: number;
    backendMs?: number;
    headers?: HeaderMatcher[];
    action?: RouteActionConfig;
  } = {},
): RouteConfig {
  return {
    name,
    match: {
      path: { type: 'prefix', value: prefix },
      caseSensitive: true,
      headers: extra.headers ?? [],
      queryParams: [],
    },
    action: extra.action ?? {
      type: 'forward',
      clusters,
      totalWeight: clusters.reduce((a, c) => a + c.weight, 0),
      timeoutMs: extra.timeoutMs ?? 0,
      mirrors: [],
    },
    requestHeaders: NO_MUTATION,
    responseHeaders: NO_MUTATION,
    ...(extra.backendMs !== undefined ? { backendRequestTimeoutMs: extra.backendMs } : {}),
  };
}

export function vhost(name: string, domains: string[], routes: RouteConfig[]): VirtualHostConfig {
  return { name, domains, routes, requestHeaders: NO_MUTATION, responseHeaders: NO_MUTATION };
}

export function endpoint(port: number, address = '127.0.0.1'): EndpointConfig {
  return { id: `${address}:${port}`, address, port, weight: 1, health: 'healthy', priority: 0, labels: {} };
}

export interface ConfigSpec {
  vhosts: VirtualHostConfig[];
  /** cluster name → endpoint ports */
  clusters: Record<string, number[]>;
  listenerPort?: number;
  direction?: 'outbound' | 'inbound';
  onDemand?: boolean;
  lbPolicy?: ClusterConfig['lbPolicy'];
  connectTimeoutMs?: number;
}

export function buildConfig(spec: ConfigSpec): ProxyConfig {
  const table = buildRouteTable('routes', spec.onDemand ?? false, spec.vhosts);
  const listener: ListenerConfig = {
    name: 'l',
    direction: spec.direction ?? 'outbound',
    address: '127.0.0.1',
    port: spec.listenerPort ?? 0,
    statPrefix: 'l',
    codec: 'http1',
    routeSource: { type: 'rds', routeConfigName: 'routes' },
  };
  const clusters = new Map<string, ClusterConfig>();
  const endpoints = new Map<string, { clusterName: string; endpoints: EndpointConfig[] }>();
  for (const [name, ports] of Object.entries(spec.clusters)) {
    clusters.set(name, {
      name,
      discovery: 'eds',
      edsServiceName: name,
      lbPolicy: spec.lbPolicy ?? 'ROUND_ROBIN',
      protocol: 'http1',
      connectTimeoutMs: spec.connectTimeoutMs ?? 1000,
    });
    endpoints.set(name, { clusterName: name, endpoints: ports.map((p) => endpoint(p)) });
  }
  return {
    versions: {},
    listeners: new Map([['l', listener]]),
    routeTables: new Map([['routes', table]]),
    clusters,
    endpoints,
  };
}

export async function startPlane(
  cfg: ProxyConfig,
  extra: Partial<CreateDataPlaneOptions> = {},
): Promise<{ dp: DataPlane; port: number }> {
  const dp = createDataPlane({
    nodeId: 'sidecar-test',
    requestVirtualHost: async () => undefined,
    logger: silentLogger(),
    ...extra,
  });
  await dp.apply(cfg);
  return { dp, port: dp.boundPorts().get('l') as number };
}

export interface FakeApp {
  server: http.Server;
  port: number;
  connections: number;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** node:http app; default handler echoes method, url and body as JSON with a `x-app` header. */
export async function startApp(
  name: string,
  handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
): Promise<FakeApp> {
  const app: FakeApp = {
    server: http.createServer(),
    port: 0,
    connections: 0,
    requests: [],
    close: async () => {
      app.server.closeAllConnections();
      await new Promise<void>((r) => app.server.close(() => r()));
    },
  };
  app.server.keepAliveTimeout = 30_000;
  app.server.on('connection', () => app.connections++);
  app.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString();
      app.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (handler) return handler(req, res, body);
      res.setHeader('x-app', name);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ app: name, method: req.method, url: req.url, body, headers: req.headers }));
    });
  });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  app.port = (app.server.address() as AddressInfo).port;
  return app;
}

/** A raw TCP server with a custom connection handler (garbage, resets, hangs). */
export async function startRaw(
  onConn: (s: Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:net');
  const socks = new Set<Socket>();
  const srv = createServer((s) => {
    socks.add(s);
    s.on('close', () => socks.delete(s));
    s.on('error', () => undefined);
    onConn(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as AddressInfo).port,
    close: async () => {
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

export interface Resp {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses complete responses from a raw byte string (content-length, chunked or close-delimited). */
export function parseResponses(raw: string, closed: boolean): { responses: Resp[]; rest: string } {
  const responses: Resp[] = [];
  let s = raw;
  for (;;) {
    const he = s.indexOf('\r\n\r\n');
    if (he < 0) break;
    const lines = s.slice(0, he).split('\r\n');
    const status = Number((lines[0] ?? '').split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    let rest = s.slice(he + 4);
    let body = '';
    if (status === 101 || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      // no body
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (Buffer.byteLength(rest, 'latin1') < n) break;
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (headers['transfer-encoding'] === 'chunked') {
      let ok = false;
      for (;;) {
        const le = rest.indexOf('\r\n');
        if (le < 0) break;
        const size = parseInt(rest.slice(0, le), 16);
        if (size === 0) {
          const te = rest.indexOf('\r\n\r\n', le - 2 < 0 ? 0 : le - 2);
          if (te < 0) break;
          rest = rest.slice(te + 4);
          ok = true;
          break;
        }
        if (rest.length < le + 2 + size + 2) break;
        body += rest.slice(le + 2, le + 2 + size);
        rest = rest.slice(le + 2 + size + 2);
      }
      if (!ok) break;
    } else {
      if (!closed) break;
      body = rest;
      rest = '';
    }
    responses.push({ status, headers, body });
    s = rest;
  }
  return { responses, rest: s };
}

/** Sends raw bytes, collects until `count` responses arrived or the peer closed; resolves with both. */
export function rawExchange(
  port: number,
  data: string | string[],
  count = 1,
  timeoutMs = 5000,
): Promise<{ responses: Resp[]; closed: boolean; raw: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let raw = '';
    let closed = false;
    const finish = (): void => {
      clearTimeout(t);
      const { responses } = parseResponses(raw, closed);
      s.destroy();
      resolve({ responses, closed, raw });
    };
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`timed out; got ${JSON.stringify(raw.slice(0, 300))}`));
    }, timeoutMs);
    s.on('data', (d) => {
      raw += d.toString('latin1');
      if (parseResponses(raw, false).responses.length >= count) finish();
    });
    s.on('close', () => {
      closed = true;
      finish();
    });
    s.on('error', () => undefined);
    s.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) s.write(d, 'latin1');
    });
  });
}

/** A keep-alive raw client: one socket, request() resolves with each response in order. */
export class RawClient {
  private raw = '';
  private waiters: { n: number; resolve: (r: Resp[]) => void }[] = [];
  private got: Resp[] = [];
  closed = false;
  readonly socket: Socket;
  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (d) => {
      this.raw += d.toString('latin1');
      const { responses, rest } = parseResponses(this.raw, false);
      this.raw = rest;
      this.got.push(...responses);
      this.flush();
    });
    this.socket.on('close', () => {
      this.closed = true;
      const { responses } = parseResponses(this.raw, true);
      this.got.push(...responses);
      this.flush();
      for (const w of this.waiters) w.resolve(this.got.splice(0));
      this.waiters = [];
    });
    this.socket.on('error', () => undefined);
  }
  private flush(): void {
    while (this.waiters.length > 0 && this.got.length >= (this.waiters[0]?.n ?? 0)) {
      const w = this.waiters.shift()!;
      w.resolve(this.got.splice(0, w.n));
    }
  }
  send(data: string, n = 1): Promise<Resp[]> {
    const p = new Promise<Resp[]>((resolve) => this.waiters.push({ n, resolve }));
    this.socket.write(data, 'latin1');
    this.flush();
    return p;
  }
  async get(path: string, host = 'svc', extra = ''): Promise<Resp> {
    const [r] = await this.send(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\n${extra}\r\n`);
    if (r === undefined) throw new Error('connection closed without a response');
    return r;
  }
  close(): void {
    this.socket.destroy();
  }
}

export function get(
  port: number,
  path: string,
  host = 'svc',
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method, headers: { host }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A loopback listener (allowHalfOpen, errors ignored) handing each connection to `onConn`. */
export async function listen(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A port nobody listens on (bound, then closed): connecting is refused. */
export async function closedPort(): Promise<number> {
  const { server, port } = await listen(() => undefined);
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Bounded wait for a promise (tests must end on a loaded machine, with a clear failure). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>(
    (_, rej) => (t = setTimeout(() => rej(new Error(`timed out: ${what}`)), ms)),
  );
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}
