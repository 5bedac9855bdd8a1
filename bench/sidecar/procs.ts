// Child processes of the sidecar benchmark: spawned pinned to a CPU with taskset, tracked so every
// one is killed at the end (also on Ctrl-C and errors), plus free-port and readiness helpers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer, connect } from 'node:net';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The last output lines (stdout and stderr), for error reports. */
  readonly tail: string[];
  stop(): Promise<void>;
}

const live = new Set<Child>();
/** Short-lived helpers (wrk, generator runs) started with execFile. */
const helpers = new Set<ChildProcess>();

/** Tracks a helper process so stopAll/killAllNow end it too. */
export function track(proc: ChildProcess): void {
  helpers.add(proc);
  proc.once('exit', () => helpers.delete(proc));
}

function killHelpers(): void {
  for (const p of helpers) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  helpers.clear();
}
let pinning = true;

/** Whether taskset exists and there are 2+ CPUs; turns pinning off otherwise (or with --no-pin). */
export function setupPinning(wanted: boolean, cpus: number): string {
  const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  pinning = wanted && hasTaskset && cpus >= 2;
  if (pinning) return 'pinned with taskset: load generators + upstream on CPU 0, every proxy on CPU 1';
  if (!wanted) return 'no CPU pinning (--no-pin)';
  return hasTaskset ? 'no CPU pinning (fewer than 2 CPUs)' : 'no CPU pinning (taskset not found)';
}

export const pinned = (): boolean => pinning;

/** Spawns `cmd args` (under `taskset -c cpu` when pinning) and tracks it until it exits. */
export function startChild(
  name: string,
  cmd: string,
  args: readonly string[],
  cpu?: number,
  env?: Record<string, string>,
): Child {
  const [file, argv] =
    pinning && cpu !== undefined ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, [...args]];
  const proc = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line.slice(0, 500));
      if (tail.length > 40) tail.shift();
    }
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  proc.on('error', (err) => tail.push(`spawn error: ${err.message}`));
  const child: Child = {
    name,
    proc,
    pid: proc.pid ?? -1,
    tail,
    async stop() {
      live.delete(child);
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(kill);
    },
  };
  live.add(child);
  proc.once('exit', () => live.delete(child));
  return child;
}

export const alive = (c: Child): boolean => c.proc.exitCode === null && c.proc.signalCode === null;

/** Stops every child still running (in parallel). */
export async function stopAll(): Promise<void> {
  killHelpers();
  await Promise.all([...live].map((c) => c.stop().catch(() => undefined)));
}

/** Synchronous last resort (process 'exit'): SIGKILL whatever is left. */
export function killAllNow(): void {
  killHelpers();
  for (const c of live) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Waits until something accepts TCP connections on the port, or throws with the child's output. */
export async function waitForPort(port: number, child: Child, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(child))
      throw new Error(`${child.name} exited (${child.proc.exitCode}): ${child.tail.join(' | ')}`);
    if (await canConnect(port)) return;
    await sleep(50);
  }
  throw new Error(
    `${child.name}: nothing listening on ${port} after ${timeoutMs} ms: ${child.tail.join(' | ')}`,
  );
}

/** One HTTP/1.1 GET on 127.0.0.1 with a Host header; resolves with status and body length. */
export function probe(port: number, path: string, host: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 2000 },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout after 2 s')));
    req.on('error', reject);
    req.end();
  });
}
