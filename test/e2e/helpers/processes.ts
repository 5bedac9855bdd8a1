// Starts real Trellis processes (control plane, CLI) and JSON-line child programs for e2e tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const TRELLIS_BIN = join(ROOT, 'bin/trellis.js');

/**
 * A free port for a process that needs its port on the command line. Picked at random below the
 * kernel's ephemeral range (32768+), so it cannot collide with ports the kernel hands out for
 * `listen(0)` and outgoing connections while tests run in parallel; checked by binding it.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const s = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise((r) => s.close(r));
      return port;
    }
  }
  throw new Error('no free port found in 20000-32000');
}

/** The admin token file of each control plane a test started, by API URL (for `trellis()`). */
const adminTokenFiles = new Map<string, string>();

/** Registers the admin token file of a control plane a test started itself (or `trellis up`'s). */
export function registerAdminTokenFile(apiUrl: string, file: string): void {
  adminTokenFiles.set(apiUrl.replace(/\/+$/, ''), file);
}

/** The admin token of the control plane at `apiUrl` (started by startControlPlaneProcess). */
export function adminToken(apiUrl: string): string {
  const file = adminTokenFiles.get(apiUrl.replace(/\/+$/, ''));
  if (file === undefined) throw new Error(`no control plane started by the tests at ${apiUrl}`);
  return readFileSync(file, 'utf8').trim();
}

/** Headers carrying the admin token of the control plane at `apiUrl` (privileged API calls). */
export function adminHeaders(apiUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, authorization: `Bearer ${adminToken(apiUrl)}` };
}

/**
 * A file (0600) with a workload bootstrap token for Service `namespace/service`, issued by the
 * control plane at `apiUrl` (started by the tests): the credential a plaintext sidecar without a
 * workload identity registers its instance with (TRELLIS_REGISTRATION_TOKEN_FILE). Only that
 * Service's instances can be registered with it (not the admin token: least privilege).
 */
export async function registrationTokenFile(
  apiUrl: string,
  service: string,
  namespace = 'default',
): Promise<string> {
  const base = apiUrl.replace(/\/+$/, '');
  const adminFile = adminTokenFiles.get(base);
  if (adminFile === undefined) throw new Error(`no control plane started by the tests at ${apiUrl}`);
  const res = await fetch(`${base}/api/v1/tokens`, {
    method: 'POST',
    headers: adminHeaders(base, { 'content-type': 'application/json' }),
    body: JSON.stringify({ namespace, serviceAccount: service, ttl: '1h' }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`registration token for ${namespace}/${service}: HTTP ${res.status} ${text}`);
  const dir = join(dirname(adminFile), 'test-tokens');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `registration.${namespace}.${service}.token`);
  writeFileSync(file, (JSON.parse(text) as { token: string }).token + '\n', { mode: 0o600 });
  return file;
}

/** True when `apiUrl` is a control plane the tests started (its admin token is known). */
export function isTestControlPlane(apiUrl: string): boolean {
  return adminTokenFiles.has(apiUrl.replace(/\/+$/, ''));
}

export interface ControlPlaneProcess {
  readonly proc: ChildProcess;
  /** The admin token file (<dataDir>/admin.token): privileged API calls need its token. */
  readonly adminTokenFile: string;
  /** The plaintext API on loopback (the CLI's). */
  readonly apiUrl: string;
  readonly apiPort: number;
  /** The secure (TLS) port: xDS for sidecars (with --ca-bundle). */
  readonly xdsPort: number;
  /** The sidecar API on the secure port (https://127.0.0.1:<xdsPort>). */
  readonly sidecarApiUrl: string;
  /** The CA trust bundle, written to <dataDir>/ca/bundle.pem (sidecars' --ca-bundle). */
  readonly caBundle: string;
  /** The plaintext xDS port on loopback, when asked for (proxyless gRPC clients). */
  readonly plaintextXdsPort?: number;
  readonly logs: string[];
  /**
   * A bootstrap-token file (0600) for the workload identity `serviceAccount` in `namespace`
   * (a gateway's is `gateway-<name>`), issued by the control plane: a sidecar on the secure port
   * needs one (--token-file) next to --ca-bundle.
   */
  tokenFile(serviceAccount: string, namespace?: string): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `trellis control-plane` and resolves once it logs that it is ready. */
export async function startControlPlaneProcess(opts: {
  dataDir: string;
  apiPort?: number;
  securePort?: number;
  /** Turns the plaintext xDS listener (loopback) on, on this port. */
  plaintextXdsPort?: number;
  watch?: string;
  args?: readonly string[];
}): Promise<ControlPlaneProcess> {
  const args = [
    TRELLIS_BIN,
    'control-plane',
    '--data-dir',
    opts.dataDir,
    '--api-port',
    String(opts.apiPort ?? 0),
    '--secure-port',
    String(opts.securePort ?? 0),
    ...(opts.plaintextXdsPort !== undefined ? ['--plaintext-xds-port', String(opts.plaintextXdsPort)] : []),
    ...(opts.watch ? ['--watch', opts.watch] : []),
    ...(opts.args ?? []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const ready = new Promise<{ apiPort: number; securePort: number; plaintextXdsPort?: number }>(
    (resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`control plane not ready in 20 s:\n${logs.join('\n')}`)),
        20_000,
      );
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        logs.push(line);
        try {
          const rec = JSON.parse(line) as {
            msg?: string;
            apiPort?: number;
            securePort?: number;
            plaintextXdsPort?: number;
          };
          if (rec.msg === 'control plane ready') {
            clearTimeout(timer);
            resolve({
              apiPort: rec.apiPort!,
              securePort: rec.securePort!,
              ...(rec.plaintextXdsPort !== undefined ? { plaintextXdsPort: rec.plaintextXdsPort } : {}),
            });
          }
        } catch {
          /* not JSON */
        }
      });
      createInterface({ input: proc.stderr! }).on('line', (line) => logs.push(line));
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`control plane exited with ${code}:\n${logs.join('\n')}`));
      });
    },
  );
  const { apiPort, securePort, plaintextXdsPort } = await ready;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const adminTokenFile = join(opts.dataDir, 'admin.token');
  adminTokenFiles.set(apiUrl, adminTokenFile);
  const caBundle = join(opts.dataDir, 'ca', 'bundle.pem');
  const bundle = await fetch(`${apiUrl}/api/v1/trust-bundle?format=pem`);
  writeFileSync(caBundle, await bundle.text());
  return {
    proc,
    apiPort,
    xdsPort: securePort,
    sidecarApiUrl: `https://127.0.0.1:${securePort}`,
    caBundle,
    ...(plaintextXdsPort !== undefined ? { plaintextXdsPort } : {}),
    apiUrl,
    adminTokenFile,
    logs,
    async tokenFile(serviceAccount: string, namespace = 'default') {
      const res = await fetch(`${apiUrl}/api/v1/tokens`, {
        method: 'POST',
        headers: adminHeaders(apiUrl, { 'content-type': 'application/json' }),
        body: JSON.stringify({ namespace, serviceAccount, ttl: '1h' }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`token for ${namespace}/${serviceAccount}: HTTP ${res.status} ${text}`);
      const tokens = join(opts.dataDir, 'test-tokens');
      mkdirSync(tokens, { recursive: true, mode: 0o700 });
      const file = join(tokens, `${namespace}.${serviceAccount}.token`);
      writeFileSync(file, (JSON.parse(text) as { token: string }).token + '\n', { mode: 0o600 });
      return file;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const [code] = (await once(proc, 'exit')) as [number | null];
      return code;
    },
  };
}

/**
 * Runs the trellis CLI to completion. With `server` a control plane started here, the CLI gets its
 * admin token file (TRELLIS_ADMIN_TOKEN_FILE) unless `adminToken: false`.
 */
export async function trellis(
  args: readonly string[],
  opts: {
    server?: string;
    input?: string;
    adminToken?: boolean;
    env?: Record<string, string>;
    cwd?: string;
  } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const tokenFile =
    opts.server && opts.adminToken !== false
      ? adminTokenFiles.get(opts.server.replace(/\/+$/, ''))
      : undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, ...(opts.server ? { TRELLIS_SERVER: opts.server } : {}) };
  delete env['TRELLIS_ADMIN_TOKEN'];
  delete env['TRELLIS_ADMIN_TOKEN_FILE'];
  if (tokenFile) env['TRELLIS_ADMIN_TOKEN_FILE'] = tokenFile;
  Object.assign(env, opts.env ?? {});
  const proc = spawn(process.execPath, [TRELLIS_BIN, ...args], {
    env,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  proc.stdin.end(opts.input ?? '');
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** A child process speaking one JSON command per line on stdin, one JSON answer per line on stdout. */
export class JsonLineChild {
  private readonly queue: ((v: unknown) => void)[] = [];
  readonly stderr: string[] = [];
  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => this.queue.shift()?.(JSON.parse(line)));
    createInterface({ input: proc.stderr! }).on('line', (line) => this.stderr.push(line));
  }
  static start(script: string, env: Record<string, string>): JsonLineChild {
    return new JsonLineChild(
      spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] }),
    );
  }
  send<T>(cmd: unknown): Promise<T> {
    return new Promise<T>((resolve) => {
      this.queue.push(resolve as (v: unknown) => void);
      this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
    });
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await once(this.proc, 'exit');
    clearTimeout(t);
  }
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
  );
}
