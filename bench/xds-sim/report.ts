// Prints the xds-scale results: initial load, route and endpoint change windows, control-plane CPU
// and memory, and the PASS/MISS table against istiod's published figure and Trellis's targets.
import { fmtMb, fmtMs, median, percentile, table } from './stats.js';

export interface ChangeRun {
  readonly affected: number;
  readonly reached: number;
  readonly latencies: number[];
  readonly applyMs: number;
  readonly cores: number;
  /** Cores the simulator processes used over the same span (near 1 = they, not the CP, were the limit). */
  readonly simCores: number;
  readonly unaffectedProxies: number;
  readonly unaffectedResponses: number;
  readonly affectedExtra: number;
  readonly redundant: number;
  /** The control plane's own "snapshot applied" log records during the window: {ms, responses}. */
  readonly applied: { ms: number; responses: number }[];
}

export interface ScaleResults {
  readonly services: number;
  readonly routes: number;
  readonly proxies: number;
  readonly usesPerProxy: number;
  readonly pinning: string;
  readonly applyMs: number;
  readonly initial: {
    readonly completed: number;
    readonly latencies: number[];
    readonly allMs: number;
    readonly responses: number;
    readonly errors: number;
    readonly sampleErrors: string[];
    readonly cores: number;
    readonly cpuSeconds: number;
    readonly simCores: number;
    /** Per short type name, ms from stream start to the first response of that type, per proxy. */
    readonly firstByType: Record<string, number[]>;
    /** "cp/sim" cores per half second during the load. */
    readonly timeline: string[];
  };
  readonly steadyCores: number;
  readonly memory: { idle: number; configured: number; loaded: number; end: number; peak: number };
  readonly route: { readonly target: string; readonly runs: ChangeRun[] };
  readonly endpoint: { readonly target: string; readonly how: string; readonly runs: ChangeRun[] };
}

const ISTIOD_CPU = 1;
const ISTIOD_MEM = 1.5 * 1024 * 1024 * 1024;
const ROUTE_TARGET_MS = 1000;
const ENDPOINT_TARGET_MS = 250;

function changeTable(runs: readonly ChangeRun[]): string {
  const rows = runs.map((r, i) => [
    String(i + 1),
    `${r.reached}/${r.affected}`,
    fmtMs(percentile(r.latencies, 50)),
    fmtMs(percentile(r.latencies, 99)),
    fmtMs(Math.max(...r.latencies)),
    fmtMs(r.applyMs),
    r.cores.toFixed(2),
    r.simCores.toFixed(2),
    `${r.unaffectedProxies} (${r.unaffectedResponses} resp)`,
    String(r.affectedExtra),
    String(r.redundant),
    r.applied.map((a) => `${a.ms.toFixed(0)} ms/${a.responses}`).join(' ') || '-',
  ]);
  return table(
    [
      '#',
      'reached',
      'p50',
      'p99',
      'max',
      'API reply',
      'CP cores',
      'sim cores',
      'unaffected got any',
      'extra to affected',
      'identical resent',
      'CP snapshot apply',
    ],
    rows,
  );
}

/** Medians over the repeats of each run's p50/p99/max, and the worst reach ratio. */
export function summarize(runs: readonly ChangeRun[]): {
  p50: number;
  p99: number;
  max: number;
  allReached: boolean;
} {
  const nonEmpty = runs.filter((r) => r.latencies.length > 0);
  return {
    p50: median(nonEmpty.map((r) => percentile(r.latencies, 50))),
    p99: median(nonEmpty.map((r) => percentile(r.latencies, 99))),
    max: median(nonEmpty.map((r) => Math.max(...r.latencies))),
    allReached: runs.length > 0 && runs.every((r) => r.affected > 0 && r.reached === r.affected),
  };
}

export function printReport(r: ScaleResults): boolean {
  const line = (s = '') => console.log(s);
  line();
  line(
    `== Trellis control plane at scale: ${r.services} Services (${r.routes} with a weighted route), ${r.proxies} proxies`,
  );
  line(`   each proxy watches ${r.usesPerProxy} Services (one of the popular routed ones + random others)`);
  line(`   ${r.pinning}`);
  line(`   mesh applied in ${fmtMs(r.applyMs)}`);
  line();
  const i = r.initial;
  line(`-- Initial config (LDS -> RDS -> CDS -> EDS, every response ACKed), all streams opened at once`);
  line(
    `   ${i.completed}/${r.proxies} proxies complete; all done after ${fmtMs(i.allMs)}; per proxy p50 ${fmtMs(
      percentile(i.latencies, 50),
    )}, p99 ${fmtMs(percentile(i.latencies, 99))}, max ${fmtMs(Math.max(...i.latencies))}`,
  );
  line(
    `   ${i.responses} responses received; ${i.errors} stream/decode errors${i.errors ? `: ${i.sampleErrors.join(' | ')}` : ''}`,
  );
  line(
    `   control plane CPU: ${i.cpuSeconds.toFixed(2)} CPU-s, ${i.cores.toFixed(2)} cores on average during the load`,
  );
  line(
    `   simulators: ${i.simCores.toFixed(2)} cores on average (near 1.00 = the simulators, not the CP, were the limit)`,
  );
  const firsts = Object.entries(i.firstByType)
    .map(([t, v]) => `${t} ${fmtMs(percentile(v, 50))}/${fmtMs(percentile(v, 99))}`)
    .join(', ');
  line(`   cores used per 0.5 s, control plane/simulators: ${i.timeline.join(' ')}`);
  line(`   first response of each type after stream start, p50/p99: ${firsts}`);
  line();
  line(`-- Route change: weight of the v1/v2 split on ${r.route.target}, via POST /api/v1/apply`);
  line(
    '   latency = from the start of the apply request to the new RouteConfiguration at each affected proxy',
  );
  line(changeTable(r.route.runs).replace(/^/gm, '   '));
  line();
  line(`-- Endpoint change: ${r.endpoint.how} on ${r.endpoint.target}`);
  line(
    '   latency = from the start of the API request to the new ClusterLoadAssignment at each affected proxy',
  );
  line(changeTable(r.endpoint.runs).replace(/^/gm, '   '));
  line(
    "   (CP snapshot apply = the control plane's own 'snapshot applied' log: time in applySnapshot / responses)",
  );
  line();
  const m = r.memory;
  line(`-- Control plane process`);
  line(
    `   RSS: idle ${fmtMb(m.idle)}, mesh applied ${fmtMb(m.configured)}, ${r.proxies} proxies connected ${fmtMb(
      m.loaded,
    )}, at end ${fmtMb(m.end)}; peak (VmHWM) ${fmtMb(m.peak)}`,
  );
  line(`   CPU: steady state (ACKed, no changes) ${r.steadyCores.toFixed(3)} cores`);
  line();

  const route = summarize(r.route.runs);
  const ep = summarize(r.endpoint.runs);
  const pushCores = Math.max(
    i.cores,
    ...r.route.runs.map((x) => x.cores),
    ...r.endpoint.runs.map((x) => x.cores),
  );
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const rows: string[][] = [
    ['Memory, peak RSS', fmtMb(m.peak), `< ${fmtMb(ISTIOD_MEM)} (istiod)`, verdict(m.peak < ISTIOD_MEM)],
    [
      'CPU, busiest push (cores)',
      pushCores.toFixed(2),
      `<= ${ISTIOD_CPU} vCPU (istiod)`,
      verdict(pushCores <= ISTIOD_CPU),
    ],
    [
      'CPU, steady state (cores)',
      r.steadyCores.toFixed(3),
      `<= ${ISTIOD_CPU} vCPU (istiod)`,
      verdict(r.steadyCores <= ISTIOD_CPU),
    ],
    [
      'Route change, all affected (max)',
      `${fmtMs(route.max)} (p50 ${fmtMs(route.p50)}, p99 ${fmtMs(route.p99)})`,
      `< ${ROUTE_TARGET_MS} ms, every proxy`,
      verdict(route.allReached && route.max < ROUTE_TARGET_MS),
    ],
    [
      'Endpoint change, all affected (max)',
      `${fmtMs(ep.max)} (p50 ${fmtMs(ep.p50)}, p99 ${fmtMs(ep.p99)})`,
      `< ${ENDPOINT_TARGET_MS} ms, every proxy`,
      verdict(ep.allReached && ep.max < ENDPOINT_TARGET_MS),
    ],
    [
      'Unaffected proxies pushed anything',
      String(
        Math.max(
          0,
          ...r.route.runs.map((x) => x.unaffectedProxies),
          ...r.endpoint.runs.map((x) => x.unaffectedProxies),
        ),
      ),
      '0 (worst run)',
      verdict([...r.route.runs, ...r.endpoint.runs].every((x) => x.unaffectedProxies === 0)),
    ],
  ];
  line(`-- Targets (change latencies: median over ${r.route.runs.length} repeats of each run's figure)`);
  line(table(['target', 'measured', 'goal', 'result'], rows).replace(/^/gm, '   '));
  return rows.every((row) => row[3] === 'PASS');
}
