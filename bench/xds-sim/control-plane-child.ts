// Runs the real `trellis control-plane` as a child process (optionally pinned to one CPU and with
// --cpu-prof), waits for its "control plane ready" line, and gives its pid and API/xDS ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

export const TRELLIS_BIN = fileURLToPath(new URL('../../../bin/trellis.js', import.meta.url));

export interface ControlPlaneChild {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly apiUrl: string;
  readonly xdsTarget: string;
  /** The last log lines (stdout and stderr), for error reports. */
  readonly tail: string[];
  /** Log lines at level warn or above. */
  readonly warnings: string[];
  /** Every "snapshot applied" record: the CP's own time in applySnapshot and responses written. */
  readonly applied: { at: number; ms: number; responses: number }[];
  stop(): Promise<void>;
}

export async function startControlPlaneChild(opts: {
  dataDir: string;
  cpu?: string;
  cpuProfDir?: string;
}): Promise<ControlPlaneChild> {
  const nodeArgs = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
  const args = [
    ...nodeArgs,
    TRELLIS_BIN,
    'control-plane',
    '--data-dir',
    opts.dataDir,
    '--api-port',
    '0',
    '--secure-port',
    '0',
    // The simulated clients speak plaintext xDS like proxyless gRPC: the loopback listener.
    '--plaintext-xds-port',
    '0',
  ];
  const proc =
    opts.cpu !== undefined
      ? spawn('taskset', ['-c', opts.cpu, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const warnings: string[] = [];
  const applied: { at: number; ms: number; responses: number }[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 50) tail.shift();
  };
  const ready = new Promise<{ apiPort: number; xdsPort: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`control plane not ready in 30 s:\n${tail.join('\n')}`)),
      30_000,
    );
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      keep(line);
      try {
        const rec = JSON.parse(line) as {
          msg?: string;
          level?: number;
          apiPort?: number;
          plaintextXdsPort?: number;
          ms?: number;
          responses?: number;
        };
        if (rec.msg === 'snapshot applied') {
          applied.push({ at: Date.now(), ms: rec.ms ?? NaN, responses: rec.responses ?? NaN });
          if (applied.length > 1000) applied.shift();
        }
        if ((rec.level ?? 0) >= 40 && warnings.length < 200) warnings.push(line);
        if (rec.msg === 'control plane ready' && rec.apiPort && rec.plaintextXdsPort) {
          clearTimeout(timer);
          resolve({ apiPort: rec.apiPort, xdsPort: rec.plaintextXdsPort });
        }
      } catch {
        /* not JSON */
      }
    });
    createInterface({ input: proc.stderr! }).on('line', keep);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`control plane exited with ${code}:\n${tail.join('\n')}`));
    });
  });
  const { apiPort, xdsPort } = await ready;
  return {
    proc,
    pid: proc.pid!,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    xdsTarget: `127.0.0.1:${xdsPort}`,
    tail,
    warnings,
    applied,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    },
  };
}

/** Calls the control plane's HTTP API with a JSON body; throws with the reply on a non-2xx status. */
/**
 * The admin token of the control planes the benches start: they inherit it from this environment
 * (TRELLIS_ADMIN_TOKEN), and apiCall sends it. Set once when this module loads, before any spawn.
 */
process.env['TRELLIS_ADMIN_TOKEN'] ??= randomBytes(32).toString('hex');

export async function apiCall(
  apiUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      authorization: `Bearer ${process.env['TRELLIS_ADMIN_TOKEN'] ?? ''}`,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 2000)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}
