// Micro-benchmark of the sidecar's load balancers: ns per pick() (and per pick + onStart + onComplete)
// for every policy at 3, 10 and 100 endpoints, each policy in its own process (as a sidecar running
// mostly one policy would be). Run: npx tsc -p . && node dist/bench/lb-bench.js [--only LABEL]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/common/clock.js';
import { createLoadBalancer, LB_POLICIES } from '../src/proxy/upstream/lb/create-lb.js';
import type { Endpoint, LbPolicy, LoadBalancer, PickContext } from '../src/proxy/upstream/lb/lb.js';

const SIZES = [3, 10, 100];
const PICKS = 1_000_000;
const ROUNDS = 5;

function endpoints(n: number, weighted: boolean): Endpoint[] {
  return Array.from({ length: n }, (_, i) => {
    const address = `10.1.${i >> 8}.${i & 255}`;
    return { id: `${address}:8080`, address, port: 8080, weight: weighted ? 1 + (i % 3) : 1 };
  });
}

/** Median ns per iteration over ROUNDS rounds of `fn(PICKS)`. */
function measure(fn: (n: number) => number): number {
  fn(200_000); // warm up: let the JIT optimize
  const ns: number[] = [];
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    sink += fn(PICKS);
    ns.push(Number(process.hrtime.bigint() - t0) / PICKS);
  }
  if (sink < 0) console.log(sink);
  ns.sort((a, b) => a - b);
  return ns[ROUNDS >> 1] as number;
}

function pickOnly(lb: LoadBalancer, ctx: PickContext | undefined): (n: number) => number {
  return (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += lb.pick(ctx)!.inFlight;
    return s;
  };
}

function pickAndReport(lb: LoadBalancer, ctx: PickContext | undefined): (n: number) => number {
  return (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const h = lb.pick(ctx)!;
      h.onStart();
      s += h.inFlight;
      h.onComplete(5 + (i & 7), true);
    }
    return s;
  };
}

const variants: { policy: LbPolicy; label: string; ctx?: PickContext; weighted: boolean }[] = [
  false,
  true,
].flatMap((weighted) =>
  [
    ...LB_POLICIES.filter((p) => p !== 'RING_HASH').map((policy) => ({ policy, label: policy })),
    { policy: 'RING_HASH' as const, label: 'RING_HASH (string key)', ctx: { hash: 'user-8f3a2c91' } },
    { policy: 'RING_HASH' as const, label: 'RING_HASH (number key)', ctx: { hash: 123456789 } },
  ].map((v) => ({ ...v, weighted, label: v.label + (weighted ? ', weighted 1:2:3' : '') })),
);

function runVariant(v: (typeof variants)[number]): string[] {
  const row = [v.label];
  for (const n of SIZES) {
    const lb = createLoadBalancer(
      v.policy,
      { clock: systemClock, random: Math.random },
      endpoints(n, v.weighted),
    );
    row.push(measure(pickOnly(lb, v.ctx)).toFixed(1), measure(pickAndReport(lb, v.ctx)).toFixed(1));
  }
  return row;
}

const only = process.argv.indexOf('--only');
if (only >= 0) {
  const v = variants.find((x) => x.label === process.argv[only + 1]);
  if (v === undefined) throw new Error(`no variant ${process.argv[only + 1]}`);
  console.log(JSON.stringify(runVariant(v)));
} else {
  const self = fileURLToPath(import.meta.url);
  const rows = variants.map(
    (v) =>
      JSON.parse(execFileSync(process.execPath, [self, '--only', v.label], { encoding: 'utf8' })) as string[],
  );
  const header = ['policy', ...SIZES.flatMap((n) => [`pick n=${n}`, `+report n=${n}`])];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(
    `load balancer cost, ns (median of ${ROUNDS} x ${PICKS.toLocaleString()} picks; node ${process.version})`,
  );
  console.log('"+report" = pick + onStart() + onComplete(rtt, ok): one request\'s whole balancer cost\n');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}
