// Data-plane benchmark: direct vs one proxy vs a proxy pair, for Trellis sidecars, HAProxy, nginx
// and http-proxy on loopback; saturation req/s, open-loop latency at a fixed rate, CPU and RSS.
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MemoryStats } from './xds-sim/proc-stats.js';
import { BODY_NAMES, type BodyName } from './sidecar/bodies.js';
import { measure, noiseBudgetLeftMs, warmUp, type LoadOptions, type Target } from './sidecar/load.js';
import {
  ensureTools,
  startCannedUpstream,
  startHaproxy,
  makeCerts,
  startHaproxyTlsPair,
  startHttpProxy,
  startNodePipe,
  startNginxProxy,
  startNginxUpstream,
  toolVersions,
  CPU_PROXY,
  type Listening,
} from './sidecar/peers.js';
import { alive, killAllNow, setupPinning, startChild, stopAll, type Child } from './sidecar/procs.js';
import {
  printMtlsTargets,
  printRatios,
  printTables,
  printTargets,
  type Kind,
  type RowResult,
  type Topo,
} from './sidecar/report.js';
import { startTrellis } from './sidecar/trellis.js';
import { SETTLE_DEFAULTS, settledMemory } from './sidecar/idle-memory.js';

/** What --peers takes; haproxy and trellis bring their TLS pair rows too (unless --no-tls). */
const KINDS = ['direct', 'haproxy', 'nginx', 'http-proxy', 'node-pipe', 'trellis'] as const;
type PeerName = (typeof KINDS)[number];

export interface SidecarOptions {
  durationS: number;
  repeat: number;
  rate: number;
  connections: number;
  pin: boolean;
  bodies: BodyName[];
  kinds: Kind[];
  maxMinutes: number;
  /** Longest wait for a quiet machine before each run (0: no waiting, no repeats of noisy runs). */
  quietWaitS: number;
  /** Idle seconds before the first idle-memory reading (see ./sidecar/idle-memory.ts). */
  idleWaitS: number;
  /** Without --no-tls: the HAProxy TLS pairs and the Trellis mTLS pairs run as well. */
  tls: boolean;
}

/** The flags this benchmark takes (`npm run bench` hands it only these). */
export const SIDECAR_FLAGS = {
  duration: { type: 'string' },
  repeat: { type: 'string' },
  rate: { type: 'string' },
  connections: { type: 'string' },
  'no-pin': { type: 'boolean' },
  bodies: { type: 'string' },
  peers: { type: 'string' },
  'max-minutes': { type: 'string' },
  'quiet-wait': { type: 'string' },
  'idle-wait': { type: 'string' },
  'no-tls': { type: 'boolean' },
} as const;

export function parseSidecarArgs(argv: readonly string[]): SidecarOptions {
  const { values: v } = parseArgs({ args: [...argv], options: SIDECAR_FLAGS, strict: true });
  const num = (s: string | undefined, flag: string, dflt: number): number => {
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} must be a positive number, got '${s}'`);
    return n;
  };
  const list = <T extends string>(s: string | undefined, all: readonly T[], flag: string): T[] => {
    if (s === undefined) return [...all];
    const picked = s.split(',').map((x) => x.trim()) as T[];
    for (const p of picked)
      if (!all.includes(p)) throw new Error(`--${flag}: '${p}' is not one of ${all.join(', ')}`);
    return picked;
  };
  const peers: PeerName[] = list(v.peers, KINDS, 'peers');
  const tls = !v['no-tls'];
  const kinds: Kind[] = peers.flatMap((p): Kind[] =>
    p === 'haproxy' && tls
      ? ['haproxy', 'haproxy-tls', 'haproxy-tls-h2']
      : p === 'trellis' && tls
        ? ['trellis', 'trellis-mtls', 'trellis-mtls-h2']
        : p === 'node-pipe' && tls
          ? ['node-pipe', 'node-pipe-tls']
          : [p],
  );
  return {
    durationS: num(v.duration, 'duration', 3),
    repeat: Math.round(num(v.repeat, 'repeat', 3)),
    rate: num(v.rate, 'rate', 1000),
    connections: Math.round(num(v.connections, 'connections', 32)),
    pin: !v['no-pin'],
    bodies: list(v.bodies, BODY_NAMES, 'bodies'),
    kinds: kinds.includes('direct') ? kinds : ['direct', ...kinds],
    maxMinutes: num(v['max-minutes'], 'max-minutes', 15),
    quietWaitS: v['quiet-wait'] === '0' ? 0 : num(v['quiet-wait'], 'quiet-wait', 3),
    idleWaitS: num(v['idle-wait'], 'idle-wait', SETTLE_DEFAULTS.minIdleMs / 1000),
    tls,
  };
}

interface Row extends RowResult {
  target?: Target;
  children: Child[];
}

const LABELS: Record<Kind, string> = {
  direct: 'direct',
  haproxy: 'HAProxy',
  nginx: 'nginx',
  'http-proxy': 'http-proxy',
  trellis: 'Trellis',
  'haproxy-tls': 'HAProxy pair TLS',
  'haproxy-tls-h2': 'HAProxy pair TLS h2',
  'trellis-mtls': 'Trellis pair mTLS',
  'trellis-mtls-h2': 'Trellis pair mTLS h2',
  'node-pipe': 'Node byte pipe (floor)',
  'node-pipe-tls': 'Node byte pipe pair mTLS (floor)',
};

/** Kinds that are a pair only (the TLS hop is between the two proxies). */
const PAIR_ONLY: readonly Kind[] = [
  'haproxy-tls',
  'haproxy-tls-h2',
  'trellis-mtls',
  'trellis-mtls-h2',
  'node-pipe-tls',
];

/**
 * Idle memory of each proxy process, split: RSS = private pages (RssAnon: heaps, buffers) + file
 * pages (RssFile: the executable's code and data, which every process running the same binary
 * shares, so N sidecars on a host cost N × private + one binary). RSS is what the targets use.
 */
function printMemorySplit(
  rows: readonly Row[],
  bare: MemoryStats | undefined,
  stats: ReadonlyMap<number, MemoryStats | undefined>,
): void {
  const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
  const line = (label: string, m: MemoryStats): string =>
    `  ${label.padEnd(26)} RSS ${mb(m.rssBytes).padStart(5)} MB = private ${mb(m.privateBytes).padStart(5)} + file-backed ${mb(m.fileBytes).padStart(5)}`;
  console.log(
    'idle memory per proxy process (RSS = private + file-backed pages shared with other processes):',
  );
  if (bare) console.log(line(`bare node ${process.versions.node}`, bare));
  for (const r of rows)
    r.children.forEach((c, i) => {
      const m = stats.get(c.pid);
      if (!m) return;
      console.log(line(r.children.length > 1 ? `${r.label} [${i === 0 ? 'A' : 'B'}]` : r.label, m));
    });
}

function row(kind: Kind, topo: Topo, bodies: readonly BodyName[]): Row {
  const label =
    topo === 'direct'
      ? 'direct'
      : PAIR_ONLY.includes(kind)
        ? LABELS[kind]
        : `${LABELS[kind]} ${topo === 'one' ? '×1' : 'pair'}`;
  return { kind, topo, label, rssIdleMB: [], samples: new Map(bodies.map((b) => [b, []])), children: [] };
}

const via = (r: Row, l: Listening, host: string, children: Child[]) => {
  r.target = { port: l.port, host, pids: children.map((c) => c.pid) };
  r.children = children;
};

/** Starts one kind's rows (×1 and pair, or the pair alone); a failure marks them NOT AVAILABLE. */
async function setupKind(
  kind: Kind,
  dir: string,
  upstream: Listening,
  rows: Row[],
  missing: string | undefined,
  o: SidecarOptions,
) {
  const bodies = [...rows[0]!.samples.keys()];
  const one = PAIR_ONLY.includes(kind) ? undefined : row(kind, 'one', bodies);
  const pair = row(kind, 'pair', bodies);
  const mine = one ? [one, pair] : [pair];
  // The Trellis mTLS rows hang off the 'trellis' setup (one control plane for all of them).
  const extra =
    kind === 'trellis'
      ? (['trellis-mtls', 'trellis-mtls-h2'] as Kind[])
          .filter((k) => o.kinds.includes(k))
          .map((k) => row(k, 'pair', bodies))
      : [];
  rows.push(...mine, ...extra);
  if (missing) {
    for (const r of [...mine, ...extra]) r.unavailable = missing;
    return;
  }
  const host = (l: Listening) => `127.0.0.1:${l.port}`;
  try {
    if (kind === 'trellis') {
      const wants = {
        mtls: extra.some((r) => r.kind === 'trellis-mtls'),
        mtlsH2: extra.some((r) => r.kind === 'trellis-mtls-h2'),
      };
      const t = await startTrellis(dir, upstream.port, wants);
      via(one!, t.one, t.one.host, [t.one.child]);
      via(pair, t.pair.client, t.pair.host, [t.pair.client.child, t.pair.server]);
      for (const r of extra) {
        const p = r.kind === 'trellis-mtls' ? t.mtls : t.mtlsH2;
        if (p) via(r, p.client, p.host, [p.client.child, p.server]);
      }
      return;
    }
    if (kind === 'haproxy-tls' || kind === 'haproxy-tls-h2') {
      const certs = makeCerts(dir);
      const { a, b } = await startHaproxyTlsPair(dir, certs, upstream.port, kind === 'haproxy-tls-h2');
      via(pair, a, host(a), [a.child, b.child]);
      return;
    }
    if (kind === 'node-pipe-tls') {
      const certs = makeCerts(dir);
      const b = await startNodePipe('node-pipe-tls-b', upstream.port, { side: 'server', certs });
      const a = await startNodePipe('node-pipe-tls-a', b.port, { side: 'client', certs });
      via(pair, a, host(a), [a.child, b.child]);
      return;
    }
    const start = (name: string, target: number): Promise<Listening> =>
      kind === 'haproxy'
        ? startHaproxy(dir, name, target)
        : kind === 'nginx'
          ? startNginxProxy(dir, name, target)
          : kind === 'node-pipe'
            ? startNodePipe(name, target)
            : startHttpProxy(name, target);
    const single = await start(`${kind}-1`, upstream.port);
    via(one!, single, host(single), [single.child]);
    const b = await start(`${kind}-b`, upstream.port);
    const a = await start(`${kind}-a`, b.port);
    via(pair, a, host(a), [a.child, b.child]);
  } catch (err) {
    const why = (err as Error).message.replace(/\s+/g, ' ').slice(0, 400);
    for (const r of [...mine, ...extra]) if (!r.target) r.unavailable = why;
  }
}

export async function runSidecarBench(o: SidecarOptions): Promise<boolean> {
  const t0 = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'trellis-sidecar-bench-'));
  const cleanup = async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  };
  let stopping = false;
  const onSignal = (sig: string) => {
    stopping = true;
    console.log(`\n${sig}: stopping every process this benchmark started`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('exit', killAllNow);
  const hardStop = setTimeout(() => {
    stopping = true;
    console.log(`\n--max-minutes ${o.maxMinutes} reached: stopping`);
    void cleanup().finally(() => process.exit(1));
  }, o.maxMinutes * 60_000);
  try {
    console.log('\n=== sidecar: the data plane vs HAProxy, nginx and http-proxy (127.0.0.1 only) ===');
    const tools = ensureTools();
    const pin = setupPinning(o.pin, availableParallelism());
    for (const m of tools.missing) console.log(m);
    console.log(`${toolVersions(tools)}; ${pin}`);
    const load: LoadOptions = {
      durationS: o.durationS,
      connections: o.connections,
      rate: o.rate,
      useWrk: tools.wrk,
      quietWaitMs: o.quietWaitS * 1000,
    };
    let upstream: Listening | undefined;
    if (tools.nginx)
      upstream = await startNginxUpstream(dir).catch((err: Error) => {
        console.log(`nginx upstream failed (${err.message}); using the Node upstream`);
        return undefined;
      });
    const upstreamKind = upstream
      ? 'nginx (`return 200` for small, a 4 KiB file)'
      : 'Node raw net server (canned)';
    upstream ??= await startCannedUpstream();
    console.log(
      `upstream: ${upstreamKind}; ` +
        `saturation: ${tools.wrk ? 'wrk -t1' : 'Node closed-loop generator'} with ${o.connections} keep-alive connections, ` +
        `${o.durationS} s; latency: Node open loop on CPU 0 (shared with the upstream) at ${o.rate} req/s for ${o.durationS} s, measured from the intended send time; ` +
        `${o.repeat} rounds, medians`,
    );
    const rows: Row[] = [row('direct', 'direct', o.bodies)];
    rows[0]!.target = { port: upstream.port, host: `127.0.0.1:${upstream.port}`, pids: [] };
    // A bare Node process, for scale: what any Node proxy pays before its own code.
    const bare = startChild('bare node', process.execPath, ['-e', 'setInterval(() => {}, 1000)'], CPU_PROXY);
    const later: Kind[] = ['direct', 'trellis-mtls', 'trellis-mtls-h2']; // set up with 'trellis'
    for (const kind of o.kinds.filter((k) => !later.includes(k))) {
      const missing =
        kind.startsWith('haproxy') && !tools.haproxy
          ? 'haproxy is not installed'
          : kind === 'nginx' && !tools.nginx
            ? 'nginx is not installed'
            : undefined;
      await setupKind(kind, dir, upstream, rows, missing, o);
    }
    // Idle RSS once settled (see ./sidecar/idle-memory.ts): every process at once, after all have
    // been ready and idle for --idle-wait (25 s), until two readings 2 s apart agree.
    const settled = await settledMemory(
      [bare.pid, ...rows.flatMap((r) => r.children.map((c) => c.pid))],
      Date.now(),
      { ...SETTLE_DEFAULTS, minIdleMs: o.idleWaitS * 1000 },
    );
    for (const r of rows)
      r.rssIdleMB = r.children.map((c) => (settled.stats.get(c.pid)?.rssBytes ?? 0) / 2 ** 20);
    const bareMem = alive(bare) ? settled.stats.get(bare.pid) : undefined;
    await bare.stop();
    console.log(
      `idle memory read ${settled.idleS.toFixed(0)} s after the last proxy was ready` +
        (settled.agreed
          ? ' (two readings 2 s apart agree within 0.25 MB)'
          : ' (still moving after 20 s more: last reading)'),
    );
    printMemorySplit(rows, bareMem, settled.stats);
    for (const r of rows)
      if (r.target && o.bodies[0]) await warmUp(r.target, o.bodies[0], load).catch(() => undefined);

    // Past 80% of --max-minutes, stop measuring and report what there is (the hard stop is at 100%).
    const softDeadline = t0 + o.maxMinutes * 60_000 * 0.8;
    measuring: for (let round = 1; round <= o.repeat; round++) {
      for (const body of o.bodies) {
        for (const r of rows) {
          if (stopping) return false;
          if (Date.now() > softDeadline) {
            console.log(
              `time budget (80% of --max-minutes ${o.maxMinutes}) spent: reporting what was measured`,
            );
            break measuring;
          }
          const list = r.samples.get(body)!;
          if (!r.target || r.unavailable) {
            list.push(undefined);
            continue;
          }
          try {
            const s = await measure(r.target, body, load);
            list.push(s);
            console.log(
              `round ${round}/${o.repeat} ${body.padEnd(5)} ${r.label.padEnd(16)} ${s.rps.toFixed(0).padStart(6)} req/s` +
                `  p50 ${(s.open.p50Us / 1000).toFixed(2)} ms  p99 ${(s.open.p99Us / 1000).toFixed(2)} ms` +
                `  CPU ${s.cpuUsPerReq.map((c) => c.toFixed(1)).join('/') || '-'} µs/req` +
                `  (others on CPU ${CPU_PROXY}: ${s.otherOnProxyCpu.toFixed(2)} cores)`,
            );
          } catch (err) {
            if (stopping) return false;
            list.push(undefined);
            console.log(`round ${round}/${o.repeat} ${body} ${r.label}: FAILED: ${(err as Error).message}`);
            const dead = r.children.find((c) => !alive(c));
            if (dead) {
              const how = dead.proc.signalCode ?? `exit code ${dead.proc.exitCode}`;
              r.unavailable = `${dead.name} died (${how}): ${dead.tail.slice(-3).join(' | ')}`;
              console.log(`  ${r.unavailable}`);
            }
          }
        }
      }
    }
    printTables(rows, o.bodies, o.rate);
    printRatios(rows, o.bodies);
    const okPlain = o.kinds.includes('trellis') ? printTargets(rows, o.bodies) : true;
    const ok = printMtlsTargets(rows, o.bodies) && okPlain;
    const others = rows
      .flatMap((r) => [...r.samples.values()].flat())
      .flatMap((s) => (s ? [s.otherOnProxyCpu] : []))
      .sort((a, b) => a - b);
    console.log(
      `\nsidecar: ${((Date.now() - t0) / 1000).toFixed(0)} s; ${pin}; CPU ${CPU_PROXY} time taken by processes ` +
        `outside the benchmark during saturation runs: median ${others[others.length >> 1]?.toFixed(2) ?? '-'} cores, ` +
        `max ${others[others.length - 1]?.toFixed(2) ?? '-'} (0 on a quiet machine; compare ratios, not absolute req/s); ` +
        `${((120_000 - noiseBudgetLeftMs()) / 1000).toFixed(0)} s of the 120 s noise budget spent waiting for quiet and repeating noisy runs`,
    );
    return ok;
  } finally {
    clearTimeout(hardStop);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

if (process.argv[1]?.endsWith('sidecar-bench.js')) {
  const ok = await runSidecarBench(parseSidecarArgs(process.argv.slice(2)));
  console.log(
    ok ? '\nsidecar: every target met' : '\nsidecar: some targets missed or not evaluated (see above)',
  );
  process.exit(0);
}
