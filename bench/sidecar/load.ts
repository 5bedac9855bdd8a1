// Runs one measurement against one target: saturation (wrk, or the Node closed-loop generator)
// and the fixed-rate open loop, while reading the proxies' CPU and RSS from /proc.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, memory } from '../xds-sim/proc-stats.js';
import { pathOf, type BodyName } from './bodies.js';
import type { ClosedResult, GenOptions, OpenResult } from './generator.js';
import { CPU_LOAD, CPU_PROXY } from './peers.js';
import { pinned, track } from './procs.js';

export interface LoadOptions {
  durationS: number;
  connections: number;
  rate: number;
  useWrk: boolean;
  /** Longest wait for a quiet machine before each run; 0 = never wait nor repeat noisy runs. */
  quietWaitMs: number;
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
  /** Cores of CPU_PROXY used by processes other than the measured proxies (worse of the two runs). */
  otherOnProxyCpu: number;
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
    const proc = execFile(file, argv, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${err.message} ${stderr.slice(0, 500)}`));
      else resolve(stdout);
    });
    track(proc);
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
  await saturate(t, body, o, 2);
}

/** RSS in MB; 0 once the process is gone (e.g. stopped by Ctrl-C mid-run). */
function rssMB(pid: number): number {
  try {
    return memory(pid).rssBytes / 2 ** 20;
  } catch {
    return 0;
  }
}

/** Busy and total jiffies of one CPU from /proc/stat (busy = all but idle and iowait). */
function cpuJiffies(cpu: number): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  const f = (line ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/** CPU time of the pids and of CPU_PROXY as a whole, over a span. */
function cpuSpan(pids: readonly number[]) {
  const p0 = pids.map(cpuSeconds);
  const j0 = cpuJiffies(CPU_PROXY);
  const t0 = performance.now();
  return () => {
    const proxies = pids.map((pid, i) => cpuSeconds(pid) - p0[i]!);
    const j1 = cpuJiffies(CPU_PROXY);
    const wall = (performance.now() - t0) / 1000;
    const busy = j1.total > j0.total ? (j1.busy - j0.busy) / (j1.total - j0.total) : NaN;
    return { proxies, wall, others: busy - proxies.reduce((a, b) => a + b, 0) / wall };
  };
}

/** Cores both CPUs are busy with (our proxies idle between runs, so: other work on the machine). */
async function machineBusy(ms: number): Promise<number> {
  const a = [cpuJiffies(0), cpuJiffies(1)];
  await new Promise((r) => setTimeout(r, ms));
  const b = [cpuJiffies(0), cpuJiffies(1)];
  return Math.max(...a.map((x, i) => (b[i]!.busy - x.busy) / Math.max(1, b[i]!.total - x.total)));
}

/** Waits (up to maxMs) until neither CPU is busier than 0.25 cores with work outside the benchmark. */
export async function waitForQuiet(maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline && (await machineBusy(250)) > 0.25);
}

/** Above this many cores of other work on the proxy CPU during a run, the run is repeated once. */
const NOISY = 0.3;
/** Total time a whole benchmark may spend waiting for quiet and repeating noisy runs. */
const NOISE_BUDGET_MS = 120_000;
let noiseSpentMs = 0;

/** Waiting and repeats left in the noise budget (ms), for the report. */
export const noiseBudgetLeftMs = (): number => Math.max(0, NOISE_BUDGET_MS - noiseSpentMs);

async function quiet(o: LoadOptions): Promise<void> {
  if (o.quietWaitMs === 0 || noiseBudgetLeftMs() === 0) return;
  const t0 = Date.now();
  await waitForQuiet(Math.min(o.quietWaitMs, noiseBudgetLeftMs()));
  noiseSpentMs += Date.now() - t0;
}

async function phase<T extends { others: number }>(o: LoadOptions, run: () => Promise<T>): Promise<T> {
  await quiet(o);
  const first = await run();
  if (!(first.others > NOISY) || o.quietWaitMs === 0 || noiseBudgetLeftMs() === 0) return first;
  const t0 = Date.now();
  await quiet(o);
  const second = await run();
  noiseSpentMs += Date.now() - t0;
  return second.others < first.others ? second : first;
}

/** Saturation, then the open loop at o.rate; CPU and RSS of every pid in t.pids. */
export async function measure(t: Target, body: BodyName, o: LoadOptions): Promise<Sample> {
  const rssMax = t.pids.map(rssMB);
  const sampler = setInterval(() => {
    t.pids.forEach((pid, i) => (rssMax[i] = Math.max(rssMax[i]!, rssMB(pid))));
  }, 200);
  try {
    const sat = await phase(o, async () => {
      const span = cpuSpan(t.pids);
      const r = await saturate(t, body, o, o.durationS);
      const bad = r.errors + r.non2xx;
      if (r.requests === 0 || bad > r.requests * 0.01)
        throw new Error(
          `saturation run failed: ${r.requests} requests, ${r.errors} errors, ${r.non2xx} non-2xx`,
        );
      return { ...r, ...span() };
    });
    const open = await phase(o, async () => {
      const span = cpuSpan(t.pids);
      const r = await generator<OpenResult>({
        mode: 'open',
        port: t.port,
        path: pathOf(body),
        host: t.host,
        connections: 16,
        durationS: o.durationS,
        rate: o.rate,
      });
      if (r.errors + r.non2xx > r.sent * 0.01)
        throw new Error(
          `open loop failed: ${r.completed}/${r.sent} done, ${r.errors} errors, ${r.non2xx} non-2xx`,
        );
      return { ...r, ...span() };
    });
    return {
      rps: sat.requests / sat.seconds,
      errors: sat.errors + sat.non2xx + open.errors + open.non2xx,
      otherOnProxyCpu: Math.max(sat.others, open.others),
      cpuUsPerReq: sat.proxies.map((c) => (c * 1e6) / sat.requests),
      rssLoadMB: rssMax,
      open,
      // The proxies work during the send window (durationS); the generator's start-up is idle time.
      vcpuAtRate: open.proxies.map((c) => c / Math.min(o.durationS, open.wall)),
    };
  } finally {
    clearInterval(sampler);
  }
}
