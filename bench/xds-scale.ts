// Control-plane scale benchmark: a real `trellis control-plane` child, a generated mesh, and P
// simulated proxyless gRPC clients in simulator processes; measures push latency, CPU and memory.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { outboundClusterName } from '../src/translate/names.js';
import { nowMs } from './xds-sim/client.js';
import { apiCall, startControlPlaneChild, type ControlPlaneChild } from './xds-sim/control-plane-child.js';
import {
  GRPC_PORT,
  NAMESPACE,
  assignServices,
  hotServices,
  listenerName,
  meshDocs,
  routeDoc,
  serviceName,
} from './xds-sim/mesh-gen.js';
import { summarizeProfile, type ProfileLine } from './xds-sim/cpu-profile-summary.js';
import { CpuMeter, cpuSeconds, memory } from './xds-sim/proc-stats.js';
import { table } from './xds-sim/stats.js';
import { printReport, type ChangeRun, type ScaleResults } from './xds-sim/report.js';
import { SimPool } from './xds-sim/sim-pool.js';
import type { WindowResult } from './xds-sim/sim-protocol.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ScaleOptions {
  services: number;
  proxies: number;
  repeat: number;
  uses: number;
  simProcs: number;
  streamsPerChannel: number;
  pin: boolean;
  cpuProfDir?: string;
  /** Hard limit on the whole run. */
  maxMinutes: number;
}

const envInt = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : dflt;
};

export function parseScaleArgs(argv: readonly string[]): ScaleOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      services: { type: 'string' },
      proxies: { type: 'string' },
      repeat: { type: 'string' },
      uses: { type: 'string' },
      'sim-procs': { type: 'string' },
      'streams-per-channel': { type: 'string' },
      'no-pin': { type: 'boolean' },
      'cpu-prof': { type: 'string' },
      'max-minutes': { type: 'string' },
    },
    strict: true,
  });
  const int = (v: string | undefined, flag: string, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${flag} must be a positive integer, got '${v}'`);
    return n;
  };
  return {
    services: int(values.services, 'services', envInt('TRELLIS_BENCH_SERVICES', 1000)),
    proxies: int(values.proxies, 'proxies', envInt('TRELLIS_BENCH_PROXIES', 2000)),
    repeat: int(values.repeat, 'repeat', envInt('TRELLIS_BENCH_REPEAT', 5)),
    uses: int(values.uses, 'uses', 5),
    simProcs: int(values['sim-procs'], 'sim-procs', 2),
    streamsPerChannel: int(values['streams-per-channel'], 'streams-per-channel', 40),
    pin: !values['no-pin'],
    ...(values['cpu-prof'] ? { cpuProfDir: resolve(values['cpu-prof']) } : {}),
    maxMinutes: int(values['max-minutes'], 'max-minutes', 8),
  };
}

/** CPUs to pin to: control plane alone on CPU 0, everything else on CPU 1 (needs taskset, 2+ CPUs). */
function pinning(opts: ScaleOptions): { cp?: string; sim?: string; text: string } {
  if (!opts.pin) return { text: 'no CPU pinning (--no-pin)' };
  try {
    const cpus = execFileSync('nproc', { encoding: 'utf8' }).trim();
    if (Number(cpus) < 2) return { text: `no CPU pinning (${cpus} CPU)` };
    execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
    return {
      cp: '0',
      sim: '1',
      text: `pinned with taskset: control plane alone on CPU 0; ${opts.simProcs} simulator processes and this driver on CPU 1`,
    };
  } catch {
    return { text: 'no CPU pinning (taskset not available)' };
  }
}

async function applyDocs(cp: ControlPlaneChild, docs: readonly Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < docs.length; i += 500) {
    await apiCall(cp.apiUrl, 'POST', '/api/v1/apply', { documents: docs.slice(i, i + 500) });
  }
}

/** Runs one change: opens a window on the simulators, makes the change, waits, collects. */
async function measureChange(
  pool: SimPool,
  cp: ControlPlaneChild,
  meter: CpuMeter,
  id: number,
  watch: { listener?: string; clusters?: string[] },
  change: () => Promise<void>,
): Promise<ChangeRun> {
  await pool.watch({ id, ...watch });
  const reached = pool.reached(id, 10_000);
  meter.reset();
  const sim0 = pool.cpuSeconds();
  const logged = cp.applied.length;
  const t0 = nowMs();
  await change();
  const applyMs = nowMs() - t0;
  await reached;
  const cpu = meter.read();
  const simCores = (pool.cpuSeconds() - sim0) / cpu.wallSeconds;
  await sleep(1000); // late or stray pushes (to anyone) still land in the window
  const res: WindowResult = await pool.collect(id);
  return {
    affected: res.affected,
    reached: res.hits.length,
    latencies: res.hits.map((t) => t - t0),
    applyMs,
    cores: cpu.cores,
    simCores,
    unaffectedProxies: res.unaffectedProxies,
    unaffectedResponses: res.unaffectedResponses,
    affectedExtra: res.affectedExtra,
    redundant: res.redundant,
    applied: cp.applied.slice(logged).map(({ ms, responses }) => ({ ms, responses })),
  };
}

/** Prints where the control plane's CPU went, from the newest .cpuprofile in `dir`. */
function printProfile(dir: string): void {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!files[0]) return console.log(`no .cpuprofile written in ${dir}`);
  const { bySelf, byTotal } = summarizeProfile(files[0]);
  const rows = (lines: readonly ProfileLine[]) =>
    lines.map((l) => [l.selfMs.toFixed(0), l.totalMs.toFixed(0), l.name.slice(0, 110)]);
  console.log(`\n-- Control plane CPU profile (${files[0]})`);
  console.log(table(['self ms', 'total ms', 'function (by self time)'], rows(bySelf)).replace(/^/gm, '   '));
  console.log();
  console.log(
    table(['self ms', 'total ms', 'function (by inclusive time)'], rows(byTotal)).replace(/^/gm, '   '),
  );
}

export async function runXdsScale(opts: ScaleOptions): Promise<boolean> {
  const pin = pinning(opts);
  const dir = await mkdtemp(join(tmpdir(), 'trellis-bench-'));
  let cp: ControlPlaneChild | undefined;
  let pool: SimPool | undefined;
  const cleanup = async () => {
    await pool?.stop();
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const guard = setTimeout(() => {
    console.error(`xds-scale: stopped after the ${opts.maxMinutes}-minute limit`);
    void cleanup().finally(() => process.exit(2));
  }, opts.maxMinutes * 60_000);
  try {
    console.log(
      `xds-scale: ${opts.services} services, ${opts.proxies} proxies, ${opts.repeat} repeats; ${pin.text}`,
    );
    cp = await startControlPlaneChild({
      dataDir: join(dir, 'data'),
      cpu: pin.cp,
      cpuProfDir: opts.cpuProfDir,
    });
    const meter = new CpuMeter(cp.pid);
    await sleep(500);
    const idle = memory(cp.pid).rssBytes;

    const docs = meshDocs(opts.services);
    const tApply = nowMs();
    await applyDocs(cp, docs);
    const applyMs = nowMs() - tApply;
    await sleep(1000);
    const configured = memory(cp.pid).rssBytes;

    pool = new SimPool(opts.simProcs, pin.sim);
    await pool.ready();
    const uses = assignServices(opts.proxies, opts.services, opts.uses);
    const specs = uses.map((svcs, p) => ({
      index: p,
      id: `bench-proxy-${p}`,
      targets: svcs.map(listenerName),
    }));
    meter.reset();
    const sim0 = pool.cpuSeconds();
    const t0 = nowMs();
    pool.start(cp.xdsTarget, specs, opts.streamsPerChannel);
    // CPU of the control plane and of the simulators, per half second, to see who is busy when.
    const timeline: string[] = [];
    let last = { t: performance.now(), cp: cpuSeconds(cp.pid), sim: pool.cpuSeconds() };
    const sampler = setInterval(() => {
      const now = { t: performance.now(), cp: cpuSeconds(cp!.pid), sim: pool!.cpuSeconds() };
      const dt = (now.t - last.t) / 1000;
      timeline.push(`${((now.cp - last.cp) / dt).toFixed(1)}/${((now.sim - last.sim) / dt).toFixed(1)}`);
      last = now;
    }, 500);
    const progress = setInterval(
      () => console.log(`  initial config: ${pool?.completed()}/${opts.proxies} proxies`),
      5000,
    );
    const initial = await pool.initial(120_000);
    clearInterval(progress);
    clearInterval(sampler);
    const initCpu = meter.read();
    const initSimCores = (pool.cpuSeconds() - sim0) / initCpu.wallSeconds;
    const done = initial.completedAt.filter((t) => t > 0);
    console.log(
      `  initial config: ${done.length}/${opts.proxies} proxies in ${((nowMs() - t0) / 1000).toFixed(1)} s`,
    );
    const loaded = memory(cp.pid).rssBytes;

    meter.reset();
    await sleep(5000);
    const steadyCores = meter.read().cores;

    const hot = hotServices(opts.services);
    const routeSvc = hot[0] ?? 0;
    const endpointSvc = hot[1] ?? hot[0] ?? 0;
    let id = 0;
    const routeRuns: ChangeRun[] = [];
    for (let r = 0; r < opts.repeat; r++) {
      const weight = r % 2 === 0 ? 70 : 90; // the mesh starts at 90/10
      routeRuns.push(
        await measureChange(pool, cp, meter, ++id, { listener: listenerName(routeSvc) }, async () => {
          await apiCall(cp!.apiUrl, 'POST', '/api/v1/apply', { documents: [routeDoc(routeSvc, weight)] });
        }),
      );
      console.log(
        `  route change ${r + 1}/${opts.repeat}: ${routeRuns.at(-1)?.reached}/${routeRuns.at(-1)?.affected}`,
      );
    }
    const name = serviceName(endpointSvc);
    const clusters = ['', 'v1'].map((subset) => outboundClusterName(name, NAMESPACE, GRPC_PORT, subset));
    const endpointRuns: ChangeRun[] = [];
    let instanceId: string | undefined;
    for (let r = 0; r < opts.repeat; r++) {
      endpointRuns.push(
        await measureChange(pool, cp, meter, ++id, { clusters }, async () => {
          if (instanceId === undefined) {
            const reg = (await apiCall(cp!.apiUrl, 'POST', '/api/v1/instances', {
              service: name,
              namespace: NAMESPACE,
              address: '127.0.0.1',
              port: 31000 + r,
              labels: { version: 'v1' },
              ttlSeconds: 600,
            })) as { id: string };
            instanceId = reg.id;
          } else {
            await apiCall(cp!.apiUrl, 'DELETE', `/api/v1/instances/${encodeURIComponent(instanceId)}`);
            instanceId = undefined;
          }
        }),
      );
      console.log(
        `  endpoint change ${r + 1}/${opts.repeat}: ${endpointRuns.at(-1)?.reached}/${endpointRuns.at(-1)?.affected}`,
      );
    }
    const end = memory(cp.pid);
    if (cp.warnings.length > 0) {
      console.log(
        `  control plane logged ${cp.warnings.length} warning(s); first: ${cp.warnings[0]?.slice(0, 400)}`,
      );
    }
    const results: ScaleResults = {
      services: opts.services,
      routes: docs.length - opts.services,
      proxies: opts.proxies,
      usesPerProxy: opts.uses,
      pinning: pin.text,
      applyMs,
      initial: {
        completed: done.length,
        latencies: done.map((t) => t - t0),
        allMs: done.length > 0 ? Math.max(...done) - t0 : NaN,
        responses: initial.responses,
        errors: initial.errors,
        sampleErrors: initial.sampleErrors,
        cores: initCpu.cores,
        cpuSeconds: initCpu.cpuSeconds,
        simCores: initSimCores,
        firstByType: initial.firstByType,
        timeline,
      },
      steadyCores,
      memory: { idle, configured, loaded, end: end.rssBytes, peak: end.peakRssBytes },
      route: { target: `${routeDoc(routeSvc).kind as string} ${serviceName(routeSvc)}`, runs: routeRuns },
      endpoint: {
        target: `Service ${name} (clusters ${clusters.join(', ')})`,
        how: 'register, then deregister, an instance (POST/DELETE /api/v1/instances)',
        runs: endpointRuns,
      },
    };
    const ok = printReport(results);
    await cp.stop();
    if (opts.cpuProfDir) printProfile(opts.cpuProfDir);
    return ok;
  } finally {
    clearTimeout(guard);
    await cleanup();
  }
}

/** `node dist/bench/xds-scale.js [--services N --proxies P --repeat R ...]` */
if (process.argv[1]?.endsWith('xds-scale.js')) {
  runXdsScale(parseScaleArgs(process.argv.slice(2))).then(
    (ok) => process.exit(ok ? 0 : 1),
    (e: unknown) => {
      console.error(e instanceof Error ? e.stack : e);
      process.exit(2);
    },
  );
}
