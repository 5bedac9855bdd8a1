// Runs one measurement against one target: saturation (wrk, or the Node closed-loop generator)
// and the fixed-rate open loop, while reading the proxies' CPU and RSS from /proc.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, memory } from '../xds-sim/proc-stats.js';
import { pathOf, type BodyName } from './bodies.js';
import type { ClosedResult, GenOptions, OpenResult } from './generator.js';
import { CPU_LOAD } from './peers.js';
import { pinned } from './procs.js';

export interface LoadOptions {
  durationS: number;
  connections: number;
  rate: number;
  useWrk: boolean;
}

/** Where the load goes, and which proxy processes to measure. */
export interface Target {
  readonly port: number;
  readonly host: string;
  readonly pids: readonly number[];
}

export interface Sample {
  rps: number;
  errors: number;
  /** per proxy pid, in Target.pids order */
  cpuUsPerReq: number[];
  rssLoadMB: number[];
  open: OpenResult;
  vcpuAtRate: number[];
}

const GENERATOR = fileURLToPath(new URL('./generator.js', import.meta.url));

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  const [file, argv] = pinned() ? ['taskset', ['-c', String(CPU_LOAD), cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${err.message} ${stderr.slice(0, 500)}`));
      else resolve(stdout);
    });
  });
}

async function generator<T>(o: GenOptions): Promise<T> {
  const out = await run(process.execPath, [GENERATOR, JSON.stringify(o)], (o.durationS + 20) * 1000);
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

async function wrk(t: Target, body: BodyName, o: LoadOptions, seconds: number): Promise<ClosedResult> {
  const url = `http://127.0.0.1:${t.port}${pathOf(body)}`;
  const args = ['-t1', `-c${o.connections}`, `-d${seconds}s`, '-H', `Host: ${t.host}`, url];
  const out = await run('wrk', args, (seconds + 20) * 1000);
  const m = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  if (!m) throw new Error(`cannot read wrk output: ${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { requests: Number(m[1]), seconds: Number(m[2]) / (m[3] === 'ms' ? 1000 : 1), errors, non2xx };
}

function saturate(t: Target, body: BodyName, o: LoadOptions, seconds: number): Promise<ClosedResult> {
  if (o.useWrk) return wrk(t, body, o, seconds);
  return generator<ClosedResult>({
    mode: 'closed',
    port: t.port,
    path: pathOf(body),
    host: t.host,
    connections: o.connections,
    durationS: seconds,
  });
}

/** A short run to warm JITs and connection pools (not recorded). */
export async function warmUp(t: Target, body: BodyName, o: LoadOptions): Promise<void> {
  await saturate(t, body, o, 1);
}

const rssMB = (pid: number): number => memory(pid).rssBytes / 2 ** 20;

/** Saturation, then the open loop at o.rate; CPU and RSS of every pid in t.pids. */
export async function measure(t: Target, body: BodyName, o: LoadOptions): Promise<Sample> {
  const rssMax = t.pids.map(rssMB);
  const sampler = setInterval(() => {
    t.pids.forEach((pid, i) => (rssMax[i] = Math.max(rssMax[i]!, rssMB(pid))));
  }, 200);
  try {
    let cpu0 = t.pids.map(cpuSeconds);
    const sat = await saturate(t, body, o, o.durationS);
    const cpuSat = t.pids.map((pid, i) => cpuSeconds(pid) - cpu0[i]!);
    const bad = sat.errors + sat.non2xx;
    if (sat.requests === 0 || bad > sat.requests * 0.01)
      throw new Error(
        `saturation run failed: ${sat.requests} requests, ${sat.errors} errors, ${sat.non2xx} non-2xx`,
      );
    cpu0 = t.pids.map(cpuSeconds);
    const w0 = performance.now();
    const open = await generator<OpenResult>({
      mode: 'open',
      port: t.port,
      path: pathOf(body),
      host: t.host,
      connections: 16,
      durationS: o.durationS,
      rate: o.rate,
    });
    const wall = (performance.now() - w0) / 1000;
    const cpuOpen = t.pids.map((pid, i) => cpuSeconds(pid) - cpu0[i]!);
    if (open.errors + open.non2xx > open.sent * 0.01)
      throw new Error(
        `open loop failed: ${open.completed}/${open.sent} done, ${open.errors} errors, ${open.non2xx} non-2xx`,
      );
    return {
      rps: sat.requests / sat.seconds,
      errors: bad + open.errors + open.non2xx,
      cpuUsPerReq: cpuSat.map((c) => (c * 1e6) / sat.requests),
      rssLoadMB: rssMax,
      open,
      // The proxies work during the send window (durationS); the generator's start-up is idle time.
      vcpuAtRate: cpuOpen.map((c) => c / Math.min(o.durationS, wall)),
    };
  } finally {
    clearInterval(sampler);
  }
}
