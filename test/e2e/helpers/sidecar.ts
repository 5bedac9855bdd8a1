// Starts a real `trellis proxy` process on free loopback ports for e2e tests, and reads its
// admin endpoint; also a tiny HTTP app to put behind a sidecar.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { freePort, isTestControlPlane, registrationTokenFile, TRELLIS_BIN, waitFor } from './processes.js';

export interface ProxyProcess extends TrellisProxyProcess {
  readonly nodeId: string;
  readonly inboundPort: number;
  readonly outboundPort: number;
}

/** Runs `trellis proxy` and resolves once its admin endpoint is up (before it is ready). */
export async function startProxyProcess(opts: {
  service: string;
  /** The control plane's xDS port: the secure port with `caBundle`, else a plaintext one. */
  xdsPort: number;
  apiUrl: string;
  /** The trust bundle file: the sidecar talks TLS to the control plane (--ca-bundle). */
  caBundle?: string;
  appPort: number;
  args?: readonly string[];
  /** Extra environment (the inherited TRELLIS_* variables are dropped first). */
  env?: Readonly<Record<string, string>>;
  /**
   * How a plaintext sidecar (no caBundle) without a bootstrap token registers on the control
   * plane's plaintext API, which needs a credential: 'token' (default) gives it a registration
   * token for its Service (TRELLIS_REGISTRATION_TOKEN_FILE, minted by registrationTokenFile);
   * 'none' gives it nothing (tests of refused registration, or a control plane started with
   * --insecure-registration).
   */
  registration?: 'token' | 'none';
}): Promise<ProxyProcess> {
  const inboundPort = await freePort();
  const outboundPort = await freePort();
  const nodeId = `${opts.service}-e2e-${inboundPort}`;
  const args = [
    TRELLIS_BIN,
    'proxy',
    '--service',
    opts.service,
    '--node-id',
    nodeId,
    '--control-plane',
    `127.0.0.1:${opts.xdsPort}`,
    '--api',
    opts.apiUrl,
    '--app-port',
    String(opts.appPort),
    '--inbound-port',
    String(inboundPort),
    '--outbound-port',
    String(outboundPort),
    '--admin-port',
    '0',
    ...(opts.caBundle !== undefined ? ['--ca-bundle', opts.caBundle] : []),
    ...(opts.args ?? []),
  ];
  const env: Record<string, string> = { ...(opts.env ?? {}) };
  const hasToken =
    args.includes('--token-file') ||
    ['TRELLIS_TOKEN', 'TRELLIS_TOKEN_FILE', 'TRELLIS_REGISTRATION_TOKEN_FILE'].some((k) => env[k]);
  if (
    opts.caBundle === undefined &&
    !hasToken &&
    (opts.registration ?? 'token') === 'token' &&
    isTestControlPlane(opts.apiUrl)
  )
    env['TRELLIS_REGISTRATION_TOKEN_FILE'] = await registrationTokenFile(
      opts.apiUrl,
      opts.service,
      namespaceArg(opts.args ?? []),
    );
  const p = await spawnTrellisProxy(args, env);
  return { ...p, nodeId, inboundPort, outboundPort };
}

/** The namespace a `trellis proxy` command line names (--namespace / -n), default 'default'. */
function namespaceArg(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if ((a === '--namespace' || a === '-n') && args[i + 1] !== undefined) return args[i + 1]!;
    if (a.startsWith('--namespace=')) return a.slice('--namespace='.length);
  }
  return 'default';
}

/** Waits until the proxy's admin /ready answers 200 (its config is in and, for a sidecar, it registered). */
export async function untilReady(p: TrellisProxyProcess, what: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`${what} to be ready`, async () => (await p.admin('/ready')).status === 200, timeoutMs);
}

/** A running `trellis proxy` (sidecar or gateway) whose admin endpoint is up. */
export interface TrellisProxyProcess {
  readonly proc: ChildProcess;
  readonly adminPort: number;
  readonly logs: string[];
  /** GET on the admin endpoint. */
  admin(path: string): Promise<{ status: number; type: string; body: string }>;
  /** Sends `signal` and resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/**
 * Spawns `node <args>` (args start with bin/trellis.js proxy ...) without the inherited TRELLIS_*
 * environment, and resolves once the proxy logs `proxy started` with its admin port.
 */
export async function spawnTrellisProxy(
  args: readonly string[],
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<TrellisProxyProcess> {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRELLIS_'))),
    ...extraEnv,
  };
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const logs: string[] = [];
  const adminPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`proxy not started in 20 s:\n${logs.join('\n')}`)),
      20_000,
    );
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      logs.push(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; adminPort?: number };
        if (rec.msg === 'proxy started') {
          clearTimeout(timer);
          resolve(rec.adminPort!);
        }
      } catch {
        /* not JSON */
      }
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => logs.push(line));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code}:\n${logs.join('\n')}`));
    });
  });
  return {
    proc,
    adminPort,
    logs,
    async admin(path) {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
      return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const t0 = Date.now();
      if (proc.exitCode !== null || proc.signalCode !== null) return { code: proc.exitCode, ms: 0 };
      const exited = once(proc, 'exit') as Promise<[number | null]>;
      proc.kill(signal);
      const kill = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      const [code] = await exited;
      clearTimeout(kill);
      return { code, ms: Date.now() - t0 };
    },
  };
}

export interface FakeApp {
  readonly port: number;
  readonly seen: { method: string; url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** An HTTP app answering `hello from <name>` (and 200 on /healthz), recording what it saw. */
export async function startFakeApp(name: string, port = 0): Promise<FakeApp> {
  const seen: FakeApp['seen'] = [];
  const server: Server = createServer((req, res) => {
    if (req.url !== '/healthz')
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-app': name });
      res.end(req.url === '/healthz' ? 'ok' : `hello from ${name} ${req.url}`);
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** One HTTP/1.1 request through a proxy listener (`Host` as given), no connection reuse. */
export function httpVia(
  port: number,
  host: string,
  path: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}
