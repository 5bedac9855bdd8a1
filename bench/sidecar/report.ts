// Prints the sidecar benchmark: one table per body size (medians over rounds), ratios to the peers,
// and PASS/MISS against the issue's targets for the Trellis rows.
import { table } from '../xds-sim/stats.js';
import type { BodyName } from './bodies.js';
import type { Sample } from './load.js';

export type Kind =
  | 'direct'
  | 'haproxy'
  | 'nginx'
  | 'http-proxy'
  | 'trellis'
  | 'haproxy-tls'
  | 'haproxy-tls-h2'
  | 'trellis-mtls'
  | 'trellis-mtls-h2'
  | 'node-pipe'
  | 'node-pipe-tls';
export type Topo = 'direct' | 'one' | 'pair';

export interface RowResult {
  kind: Kind;
  topo: Topo;
  label: string;
  /** Set when the row could not run. */
  unavailable?: string;
  /** Idle RSS per proxy process (MB), measured before any load. */
  rssIdleMB: number[];
  /** Samples by body, one per round (aligned with the direct row's samples of the same round). */
  samples: Map<BodyName, (Sample | undefined)[]>;
}

const median = (xs: readonly number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const f = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const ms = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(2) : '-');
const slash = (xs: number[], digits: number): string =>
  xs.length ? xs.map((x) => f(x, digits)).join(' / ') : '-';

/** Per-round pairs (row sample, direct sample of the same round) that both exist. */
function paired(row: RowResult, direct: RowResult, body: BodyName): [Sample, Sample][] {
  const a = row.samples.get(body) ?? [];
  const d = direct.samples.get(body) ?? [];
  return a.flatMap((s, i) => (s && d[i] ? [[s, d[i]] as [Sample, Sample]] : []));
}

export interface Summary {
  rps: number;
  rpsVsDirect: number;
  p50: number;
  p99: number;
  p999: number;
  addedP50: number;
  addedP99: number;
  cpuUs: number[];
  vcpu: number[];
  rssLoadMB: number[];
}

export function summarize(row: RowResult, direct: RowResult, body: BodyName): Summary | undefined {
  const pr = paired(row, direct, body);
  if (pr.length === 0) return undefined;
  const procs = row.rssIdleMB.length;
  const per = (pick: (s: Sample) => number[], agg: (xs: number[]) => number) =>
    Array.from({ length: procs }, (_, i) => agg(pr.map(([s]) => pick(s)[i]!)));
  return {
    rps: median(pr.map(([s]) => s.rps)),
    rpsVsDirect: median(pr.map(([s, d]) => s.rps / d.rps)),
    p50: median(pr.map(([s]) => s.open.p50Us)),
    p99: median(pr.map(([s]) => s.open.p99Us)),
    p999: median(pr.map(([s]) => s.open.p999Us)),
    addedP50: median(pr.map(([s, d]) => s.open.p50Us - d.open.p50Us)),
    addedP99: median(pr.map(([s, d]) => s.open.p99Us - d.open.p99Us)),
    cpuUs: per((s) => s.cpuUsPerReq, median),
    vcpu: per((s) => s.vcpuAtRate, median),
    rssLoadMB: per(
      (s) => s.rssLoadMB,
      (xs) => Math.max(...xs),
    ),
  };
}

/** Median over rounds of a per-round ratio a/b between two rows' samples (same round). */
function roundRatio(a: RowResult, b: RowResult, body: BodyName, pick: (s: Sample) => number): number {
  const sa = a.samples.get(body) ?? [];
  const sb = b.samples.get(body) ?? [];
  return median(sa.flatMap((s, i) => (s && sb[i] ? [pick(s) / pick(sb[i]!)] : [])));
}

/** Median over rounds of a per-round difference a − b between two rows' samples (same round). */
function roundDiff(a: RowResult, b: RowResult, body: BodyName, pick: (s: Sample) => number): number {
  const sa = a.samples.get(body) ?? [];
  const sb = b.samples.get(body) ?? [];
  return median(sa.flatMap((s, i) => (s && sb[i] ? [pick(s) - pick(sb[i]!)] : [])));
}

const p50 = (s: Sample) => s.open.p50Us;
const p99 = (s: Sample) => s.open.p99Us;

export function printTables(rows: RowResult[], bodies: readonly BodyName[], rate: number): void {
  const direct = rows.find((r) => r.kind === 'direct')!;
  for (const body of bodies) {
    console.log(`\n${body === 'small' ? 'small (~100 B)' : '4 KiB'} response body — medians over rounds`);
    const head = [
      'path',
      'req/s',
      '× direct',
      `p50 ms @${rate}`,
      'p99',
      'p99.9',
      '+p50 / +p99 µs vs direct',
      'CPU µs/req (per proxy)',
      `vCPU @${rate}/s`,
      'RSS idle MB',
      'RSS load MB',
    ];
    const notes: string[] = [];
    const lines = rows.flatMap((r) => {
      const s = r.unavailable ? undefined : summarize(r, direct, body);
      if (!s) {
        const none =
          (r.samples.get(body) ?? []).length === 0
            ? 'not measured (time budget spent)'
            : 'no data (every round failed)';
        notes.push(`  ${r.label}: ${r.unavailable ? `NOT AVAILABLE: ${r.unavailable}` : none}`);
        return [];
      }
      return [
        [
          r.label,
          f(s.rps),
          f(s.rpsVsDirect, 2),
          ms(s.p50),
          ms(s.p99),
          ms(s.p999),
          r.topo === 'direct' ? '' : `${f(s.addedP50)} / ${f(s.addedP99)}`,
          slash(s.cpuUs, 1),
          slash(s.vcpu, 3),
          slash(r.rssIdleMB, 0),
          slash(s.rssLoadMB, 0),
        ],
      ];
    });
    console.log(table(head, lines));
    for (const n of notes) console.log(n);
  }
}

const find = (rows: RowResult[], kind: Kind, topo: Topo) =>
  rows.find((r) => r.kind === kind && r.topo === topo && !r.unavailable);

/** Ratios of each proxy to HAProxy (CPU, pair latency) and to http-proxy (throughput). */
export function printRatios(rows: RowResult[], bodies: readonly BodyName[]): void {
  const ha1 = find(rows, 'haproxy', 'one');
  const haPair = find(rows, 'haproxy', 'pair');
  const hp1 = find(rows, 'http-proxy', 'one');
  console.log('\nratios (per round, then the median):');
  for (const body of bodies) {
    const head = [
      `${body}: proxy`,
      'CPU/req ÷ HAProxy ×1',
      'pair p50 / p99 minus HAProxy pair (µs)',
      'req/s ÷ http-proxy ×1',
    ];
    const out: string[][] = [];
    for (const kind of ['nginx', 'http-proxy', 'node-pipe', 'trellis'] as Kind[]) {
      const one = find(rows, kind, 'one');
      const pair = find(rows, kind, 'pair');
      const cpu = one && ha1 ? roundRatio(one, ha1, body, (s) => s.cpuUsPerReq[0]!) : NaN;
      const lat =
        pair && haPair
          ? `${f(roundDiff(pair, haPair, body, p50))} / ${f(roundDiff(pair, haPair, body, p99))}`
          : '-';
      const thr = one && hp1 ? roundRatio(one, hp1, body, (s) => s.rps) : NaN;
      out.push([kind, f(cpu, 2), lat, f(thr, 2)]);
    }
    console.log(table(head, out));
  }
}

/** PASS/MISS for the Trellis rows against the issue's targets; returns whether all passed. */
export function printTargets(rows: RowResult[], bodies: readonly BodyName[]): boolean {
  const direct = rows.find((r) => r.kind === 'direct')!;
  const t1 = find(rows, 'trellis', 'one');
  const tp = find(rows, 'trellis', 'pair');
  console.log('\ntargets (issue 3, "Speed and footprint"), Trellis rows:');
  if (!t1 || !tp) {
    console.log('  NOT EVALUATED: the Trellis rows did not run');
    return false;
  }
  let ok = true;
  const check = (pass: boolean, what: string) => {
    ok &&= pass;
    console.log(`  ${pass ? 'PASS' : 'MISS'}  ${what}`);
  };
  const ha1 = find(rows, 'haproxy', 'one');
  const haPair = find(rows, 'haproxy', 'pair');
  const hp1 = find(rows, 'http-proxy', 'one');
  for (const body of bodies) {
    const s1 = summarize(t1, direct, body);
    const sp = summarize(tp, direct, body);
    if (!s1 || !sp) continue;
    const h1 = ha1 && summarize(ha1, direct, body);
    const hp = haPair && summarize(haPair, direct, body);
    const sides: [string, number, number | undefined][] = [
      ['sidecar ×1', s1.cpuUs[0]!, h1 ? h1.cpuUs[0] : undefined],
      ['pair client side', sp.cpuUs[0]!, hp ? hp.cpuUs[0] : undefined],
      ['pair server side', sp.cpuUs[1]!, hp ? hp.cpuUs[1] : undefined],
    ];
    for (const [who, t, h] of sides)
      if (h !== undefined)
        check(
          t <= 1.5 * h,
          `[${body}] CPU/req ${who} ${f(t, 1)} µs ≤ 1.5 × HAProxy ${f(h, 1)} µs (${f(t / h, 2)}×)`,
        );
      else console.log(`  ----  [${body}] CPU/req ${who} ${f(t, 1)} µs: no HAProxy row to compare`);
    const vcpus = [s1.vcpu[0]!, ...sp.vcpu];
    check(
      Math.max(...vcpus) <= 0.1,
      `[${body}] vCPU at 1,000 req/s ≤ 0.10 per sidecar (×1 / client / server: ${slash(vcpus, 3)})`,
    );
    if (haPair && hp) {
      // Same direct run for both pairs, so "added by the pair" compares as the pairs' own latencies.
      const d50 = roundDiff(tp, haPair, body, p50);
      const d99 = roundDiff(tp, haPair, body, p99);
      check(
        d50 <= 0,
        `[${body}] pair adds p50 ${f(sp.addedP50)} µs, HAProxy pair ${f(hp.addedP50)} µs (Trellis − HAProxy per round: ${f(d50)} µs ≤ 0)`,
      );
      check(
        d99 <= 0,
        `[${body}] pair adds p99 ${f(sp.addedP99)} µs, HAProxy pair ${f(hp.addedP99)} µs (Trellis − HAProxy per round: ${f(d99)} µs ≤ 0)`,
      );
    }
    const loads = [s1.rssLoadMB[0]!, ...sp.rssLoadMB];
    check(
      Math.max(...loads) <= 80,
      `[${body}] RSS under load ≤ 80 MB (×1 / client / server: ${slash(loads, 0)} MB)`,
    );
    if (hp1) {
      const r = roundRatio(t1, hp1, body, (s) => s.rps);
      check(
        r >= 2,
        `[${body}] saturation ≥ 2 × http-proxy (${f(r, 2)}×: ${f(s1.rps)} vs ${f(summarize(hp1, direct, body)?.rps ?? NaN)} req/s)`,
      );
    }
  }
  const idle = [...t1.rssIdleMB, ...tp.rssIdleMB];
  check(Math.max(...idle) <= 50, `RSS idle ≤ 50 MB (×1 / client / server: ${slash(idle, 0)} MB)`);
  printFloor(rows, bodies, 'node-pipe', 'haproxy');
  return ok;
}

/**
 * The Node floor next to the targets: what a Node 20 process that only pipes bytes (no HTTP work)
 * costs in the same run, against the HAProxy row the targets are relative to. Where the floor is
 * already past a target, no Node proxy can meet that target on this machine.
 */
function printFloor(rows: RowResult[], bodies: readonly BodyName[], kind: Kind, peer: Kind): void {
  const direct = rows.find((r) => r.kind === 'direct')!;
  const tls = kind === 'node-pipe-tls';
  const floors = tls ? [find(rows, kind, 'pair')] : [find(rows, kind, 'one'), find(rows, kind, 'pair')];
  const peers = tls ? [find(rows, peer, 'pair')] : [find(rows, peer, 'one'), find(rows, peer, 'pair')];
  if (!floors[0]) {
    console.log(
      `  ----  no ${tls ? 'Node mTLS byte pipe' : 'Node byte pipe'} row (--peers node-pipe): floor not measured`,
    );
    return;
  }
  for (const body of bodies)
    floors.forEach((fl, i) => {
      const sf = fl && summarize(fl, direct, body);
      const pr = peers[i];
      const sp = pr && summarize(pr, direct, body);
      if (!sf) return;
      const cpu = sf.cpuUs.map((c, j) => {
        const h = sp ? sp.cpuUs[j] : undefined;
        return h !== undefined ? `${f(c, 1)} µs (${f(c / h, 2)}× ${pr!.label})` : `${f(c, 1)} µs`;
      });
      const past: string[] = [];
      if (sp && sf.cpuUs.some((c, j) => c > 1.5 * sp.cpuUs[j]!)) past.push('CPU/req ≤ 1.5×');
      if (Math.max(...sf.vcpu) > 0.1) past.push('≤ 0.10 vCPU');
      if (!tls && Math.max(...fl!.rssIdleMB) > 50) past.push('RSS idle ≤ 50 MB');
      console.log(
        `  FLOOR [${body}] ${fl!.label}${fl!.topo === 'pair' && !tls ? ' pair' : ''}: CPU/req ${cpu.join(' / ')}, vCPU @rate ${slash(sf.vcpu, 3)}, RSS idle ${slash(fl!.rssIdleMB, 0)} MB` +
          (past.length ? ` — already past: ${past.join(', ')}` : ''),
      );
    });
}

/**
 * PASS/MISS for the Trellis mTLS pairs against the HAProxy TLS pair (issue 5): CPU/req per side
 * ≤ 1.5×, ≤ 0.10 vCPU per sidecar at the open-loop rate, pair latency ≤ the HAProxy TLS pair's at
 * p50 and p99 (per-round difference, medians). Also prints each mTLS pair against the plaintext
 * pair of the same proxy (what TLS costs). Returns whether every evaluated target passed.
 */
export function printMtlsTargets(rows: RowResult[], bodies: readonly BodyName[]): boolean {
  const direct = rows.find((r) => r.kind === 'direct')!;
  const haTls = find(rows, 'haproxy-tls', 'pair');
  const haTlsH2 = find(rows, 'haproxy-tls-h2', 'pair');
  const trellisRows = (['trellis-mtls', 'trellis-mtls-h2'] as Kind[]).flatMap((k) => {
    const r = find(rows, k, 'pair');
    return r ? [r] : [];
  });
  if (trellisRows.length === 0 && !haTls) return true;
  console.log('\nwith TLS between the two proxies (per round, then the median):');
  const cost: string[][] = [];
  for (const [tls, plain] of [
    ['haproxy-tls', 'haproxy'],
    ['haproxy-tls-h2', 'haproxy'],
    ['trellis-mtls', 'trellis'],
    ['trellis-mtls-h2', 'trellis'],
  ] as [Kind, Kind][]) {
    const t = find(rows, tls, 'pair');
    const p = find(rows, plain, 'pair');
    if (!t || !p) continue;
    for (const body of bodies)
      cost.push([
        `${t.label} [${body}]`,
        `${f(
          roundRatio(t, p, body, (s) => s.cpuUsPerReq[0]!),
          2,
        )} / ${f(
          roundRatio(t, p, body, (s) => s.cpuUsPerReq[1]!),
          2,
        )}`,
        `${f(roundDiff(t, p, body, p50))} / ${f(roundDiff(t, p, body, p99))}`,
        f(
          roundRatio(t, p, body, (s) => s.rps),
          2,
        ),
      ]);
  }
  if (cost.length)
    console.log(
      table(
        [
          'row',
          'CPU/req client / server ÷ plaintext pair',
          'p50 / p99 minus plaintext pair (µs)',
          'req/s ÷ plaintext pair',
        ],
        cost,
      ),
    );
  console.log('\ntargets with mTLS on (issue 5), Trellis mTLS pairs against the HAProxy TLS pair:');
  if (!haTls || trellisRows.length === 0) {
    console.log('  NOT EVALUATED: the HAProxy TLS pair or the Trellis mTLS pairs did not run');
    return false;
  }
  let ok = true;
  const check = (pass: boolean, what: string) => {
    ok &&= pass;
    console.log(`  ${pass ? 'PASS' : 'MISS'}  ${what}`);
  };
  for (const tr of trellisRows)
    for (const body of bodies) {
      const st = summarize(tr, direct, body);
      const sh = summarize(haTls, direct, body);
      if (!st || !sh) continue;
      const tag = `[${body}] ${tr.label}`;
      for (const [i, side] of [
        [0, 'client side'],
        [1, 'server side'],
      ] as [number, string][])
        check(
          st.cpuUs[i]! <= 1.5 * sh.cpuUs[i]!,
          `${tag} CPU/req ${side} ${f(st.cpuUs[i]!, 1)} µs ≤ 1.5 × HAProxy TLS ${f(sh.cpuUs[i]!, 1)} µs (${f(st.cpuUs[i]! / sh.cpuUs[i]!, 2)}×)`,
        );
      check(
        Math.max(...st.vcpu) <= 0.1,
        `${tag} vCPU at the open-loop rate ≤ 0.10 per sidecar (client / server: ${slash(st.vcpu, 3)}; HAProxy TLS ${slash(sh.vcpu, 3)})`,
      );
      const d50 = roundDiff(tr, haTls, body, p50);
      const d99 = roundDiff(tr, haTls, body, p99);
      check(
        d50 <= 0,
        `${tag} p50 ${ms(st.p50)} ms vs HAProxy TLS ${ms(sh.p50)} ms (per round: ${f(d50)} µs ≤ 0)`,
      );
      check(
        d99 <= 0,
        `${tag} p99 ${ms(st.p99)} ms vs HAProxy TLS ${ms(sh.p99)} ms (per round: ${f(d99)} µs ≤ 0)`,
      );
      if (haTlsH2) {
        const sh2 = summarize(haTlsH2, direct, body);
        if (sh2)
          console.log(
            `  ----  ${tag} against HAProxy TLS h2: CPU/req ${f(st.cpuUs[0]! / sh2.cpuUs[0]!, 2)}× / ${f(st.cpuUs[1]! / sh2.cpuUs[1]!, 2)}×, p50 ${f(roundDiff(tr, haTlsH2, body, p50))} µs, p99 ${f(roundDiff(tr, haTlsH2, body, p99))} µs (informational)`,
          );
      }
    }
  printFloor(rows, bodies, 'node-pipe-tls', 'haproxy-tls');
  return ok;
}
