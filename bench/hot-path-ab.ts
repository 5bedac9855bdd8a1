// A/B loop for the sidecar's HTTP/1.1 hot path: the same sidecar topologies as the sidecar benchmark
// (one sidecar; a client/server pair; the pair with identities, mesh mTLS between its sidecars), for
// two or more builds side by side, measured in alternation.
// Reports the median proxy CPU µs/request at saturation, vCPU at a fixed rate, p50 / p99 / p99.9 of
// the fixed-rate run (16 connections, one request at a time each), and RSS per build.
//
//   node dist/bench/hot-path-ab.js --build base=/tmp/tb-base --build new=. --rounds 5 --duration 2
//   node dist/bench/hot-path-ab.js --build new=. --rounds 1 --cpu-prof /tmp/prof   # profiles on stop
//   node dist/bench/hot-path-ab.js --build base=/tmp/tb-base --build new=. --topo mtls   # mTLS pair only
//   (pooled HTTP/1.1 between the sidecars; AB_MESH_H2=on for mesh HTTP/2, the product default)
//   node dist/bench/hot-path-ab.js --build new=. --node 'new=--trace-gc' --log-dir /tmp/ab-logs  # sidecar output
//   node dist/bench/hot-path-ab.js ... --connections 8   # steadier CPU/req ratios on a busy machine
//
// A build is a directory with bin/trellis.js, dist/, package.json and node_modules (a copy of a
// previous `dist` with a node_modules symlink is enough). The control plane always runs from this build.
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { memory } from './xds-sim/proc-stats.js';
import { apiCall, TRELLIS_BIN } from './xds-sim/control-plane-child.js';
import { pathOf, type BodyName } from './sidecar/bodies.js';
import { measure, warmUp, type LoadOptions, type Sample, type Target } from './sidecar/load.js';
import { CPU_LOAD, CPU_PROXY, ensureTools, startNginxUpstream } from './sidecar/peers.js';
import { tokenFile } from './sidecar/trellis.js';
import {
  alive,
  freePort,
  killAllNow,
  probe,
  setupPinning,
  sleep,
  startChild,
  stopAll,
  type Child,
} from './sidecar/procs.js';

const { values: v } = parseArgs({
  options: {
    build: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '2' },
    /**
     * wrk connections of the closed-loop run (default 32, as the sidecar benchmark). Few (1–8):
     * each request is its own wakeup in every proxy, so CPU per request no longer follows how many
     * requests a wakeup batches (which other load on the machine changes); A/B ratios get steadier.
     */
    connections: { type: 'string', default: '32' },
    body: { type: 'string', default: 'small' },
    /** one, pair, mtls (a client/server pair with identities: mesh mTLS between them, pooled HTTP/1.1) */
    topo: { type: 'string', default: 'one,pair' },
    'cpu-prof': { type: 'string' },
    /** Directory: each sidecar's stdout and stderr also go to <dir>/<build>-<node>.log (e.g. --trace-gc). */
    'log-dir': { type: 'string' },
    'quiet-wait': { type: 'string', default: '2' },
    hold: { type: 'string' },
    /** Directory of the build the control plane runs from (default: the first --build). */
    cp: { type: 'string' },
    /** name=V8 flags for that build's sidecars (TRELLIS_PROXY_V8_FLAGS), e.g. --v8 'gc1=--single-threaded-gc' */
    v8: { type: 'string', multiple: true },
    /** name=node command-line flags for that build's sidecars, e.g. --node 'gc1=--single-threaded-gc' */
    node: { type: 'string', multiple: true },
  },
});

interface Build {
  name: string;
  bin: string;
  v8?: string;
  node: string[];
  one?: { child: Child; port: number; host: string };
  pair?: { client: Child; server: Child; port: number; host: string };
  mtls?: { client: Child; server: Child; port: number; host: string };
  res: { one: Sample[]; pair: Sample[]; mtls: Sample[] };
}

const builds: Build[] = (v.build ?? ['cur=.']).map((s) => {
  const [name, dir] = s.split('=') as [string, string];
  const flags = (v.v8 ?? []).find((f) => f.startsWith(`${name}=`))?.slice(name.length + 1);
  const node = (v.node ?? []).find((f) => f.startsWith(`${name}=`))?.slice(name.length + 1);
  const nodeArgs = node ? node.split(' ').filter(Boolean) : [];
  return {
    name,
    bin: join(resolve(dir), 'bin/trellis.js'),
    v8: flags,
    node: nodeArgs,
    res: { one: [], pair: [], mtls: [] },
  };
});
const body = v.body as BodyName;
const topos = (v.topo ?? 'one,pair').split(',');
const profDir = v['cpu-prof'];
const logDir = v['log-dir'];

const service = (name: string, upstreamPort?: number) => ({
  apiVersion: 'trellis.dev/v1alpha1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: {
    ports: [{ name: 'http', port: 8080, protocol: 'http' }],
    ...(upstreamPort !== undefined ? { endpoints: [{ address: '127.0.0.1', port: upstreamPort }] } : {}),
  },
});

const TOPOS = ['one', 'pair', 'mtls'] as const;

async function sidecar(
  b: Build,
  node: string,
  svc: string,
  appPort: number,
  xds: string,
  api: string,
  tokenFile?: string,
  /** Without an identity: the registration credential (the control plane's plaintext API needs one). */
  registrationTokenFile?: string,
) {
  const [inbound, outbound, admin] = [await freePort(), await freePort(), await freePort()];
  const pre = profDir ? ['--cpu-prof', '--cpu-prof-dir', join(profDir, `${b.name}-${node}`)] : [];
  const args = [...b.node, ...pre, b.bin, 'proxy', '--service', svc, '--node-id', `${b.name}-${node}`];
  args.push('--app-port', String(appPort), '--inbound-port', String(inbound));
  args.push('--outbound-port', String(outbound), '--admin-port', String(admin));
  args.push('--control-plane', xds, '--api', api);
  if (tokenFile !== undefined) args.push('--token-file', tokenFile);
  if (b.v8 !== undefined) process.env.TRELLIS_PROXY_V8_FLAGS = b.v8;
  else delete process.env.TRELLIS_PROXY_V8_FLAGS;
  // mtls: pooled HTTP/1.1 over mTLS between the sidecars (the sidecar benchmark's "Trellis pair
  // mTLS" row); AB_MESH_H2=on measures HTTP/2 on src/proxy/h2wire instead (the product default,
  // the "Trellis pair mTLS h2" row).
  const env: Record<string, string> | undefined =
    tokenFile !== undefined
      ? { TRELLIS_MESH_H2: process.env['AB_MESH_H2'] ?? 'off' }
      : registrationTokenFile !== undefined
        ? { TRELLIS_REGISTRATION_TOKEN_FILE: registrationTokenFile }
        : undefined;
  const child = startChild(`${b.name}-${node}`, process.execPath, args, CPU_PROXY, env);
  if (logDir !== undefined) {
    const log = createWriteStream(join(logDir, `${b.name}-${node}.log`));
    child.proc.stdout?.on('data', (c: Buffer) => log.write(c));
    child.proc.stderr?.on('data', (c: Buffer) => log.write(c));
  }
  delete process.env.TRELLIS_PROXY_V8_FLAGS;
  return { child, outbound };
}

async function ready(port: number, host: string, kids: Child[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const c of kids) if (!alive(c)) throw new Error(`${c.name} exited: ${c.tail.slice(-4).join(' | ')}`);
    const r = await probe(port, pathOf(body), host).catch(() => null);
    if (r?.status === 200) return;
    await sleep(200);
  }
  throw new Error(
    `no 200 through ${port} (${host}): ${kids.map((c) => c.tail.slice(-3).join(' | ')).join(' || ')}`,
  );
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const rss = (c: Child): number => memory(c.pid).rssBytes / 2 ** 20;

async function main(): Promise<void> {
  // Ctrl-C, or `kill` of a --hold run: the sidecars, control plane and nginx go too (they would
  // otherwise outlive it, idle but holding ports and memory).
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.on(sig, () => {
      killAllNow();
      process.exit(code);
    });
  ensureTools();
  console.log(setupPinning(true, availableParallelism()));
  const dir = mkdtempSync(join(tmpdir(), 'trellis-ab-'));
  if (profDir) mkdirSync(profDir, { recursive: true });
  if (logDir) mkdirSync(logDir, { recursive: true });
  try {
    const up = await startNginxUpstream(dir);
    const cp = startChild(
      'cp',
      process.execPath,
      [
        v.cp ? join(resolve(v.cp), 'bin/trellis.js') : (builds[0]?.bin ?? TRELLIS_BIN),
        'control-plane',
        '--data-dir',
        join(dir, 'cp'),
        '--api-port',
        '0',
        '--plaintext-xds-port',
        '0',
        '--secure-port',
        '0',
      ],
      CPU_LOAD,
    );
    let api = '';
    let xds = '';
    for (let i = 0; i < 300 && !api; i++) {
      for (const line of cp.tail)
        if (line.includes('control plane ready')) {
          const r = JSON.parse(line) as { apiPort: number; xdsPort: number };
          api = `http://127.0.0.1:${r.apiPort}`;
          xds = `127.0.0.1:${r.xdsPort}`;
        }
      await sleep(100);
    }
    if (!api) throw new Error(`control plane not ready: ${cp.tail.slice(-3).join(' | ')}`);
    await apiCall(api, 'POST', '/api/v1/apply', {
      documents: [
        service('bench-upstream', up.port),
        ...builds.map((b) => service(`bench-server-${b.name}`)),
        ...(topos.includes('mtls') ? builds.map((b) => service(`bench-mtls-${b.name}`)) : []),
      ],
    });
    const clientToken = topos.includes('mtls') ? await tokenFile(dir, api, 'bench-client') : '';
    for (const b of builds) {
      if (topos.includes('one')) {
        const s = await sidecar(b, 'one', 'bench-client', 0, xds, api);
        b.one = { child: s.child, port: s.outbound, host: 'bench-upstream:8080' };
      }
      if (topos.includes('pair')) {
        const srvSvc = `bench-server-${b.name}`;
        const srv = await sidecar(
          b,
          'server',
          srvSvc,
          up.port,
          xds,
          api,
          undefined,
          await tokenFile(dir, api, srvSvc),
        );
        const cli = await sidecar(b, 'client', 'bench-client', 0, xds, api);
        b.pair = {
          client: cli.child,
          server: srv.child,
          port: cli.outbound,
          host: `bench-server-${b.name}:8080`,
        };
      }
      if (topos.includes('mtls')) {
        const svc = `bench-mtls-${b.name}`;
        const srv = await sidecar(b, 'mserver', svc, up.port, xds, api, await tokenFile(dir, api, svc));
        const cli = await sidecar(b, 'mclient', 'bench-client', 0, xds, api, clientToken);
        b.mtls = { client: cli.child, server: srv.child, port: cli.outbound, host: `${svc}:8080` };
      }
    }
    for (const b of builds) {
      if (b.one) await ready(b.one.port, b.one.host, [b.one.child]);
      if (b.pair) await ready(b.pair.port, b.pair.host, [b.pair.client, b.pair.server]);
      if (b.mtls) await ready(b.mtls.port, b.mtls.host, [b.mtls.client, b.mtls.server]);
    }
    await sleep(3000);
    if (v.hold !== undefined) {
      // Manual mode: print where everything is and keep it running (strace, perf, wrk by hand).
      for (const b of builds) {
        if (b.one) console.log(`${b.name} one: port ${b.one.port} host ${b.one.host} pid ${b.one.child.pid}`);
        if (b.pair)
          console.log(
            `${b.name} pair: port ${b.pair.port} host ${b.pair.host} client pid ${b.pair.client.pid} server pid ${b.pair.server.pid}`,
          );
        if (b.mtls)
          console.log(
            `${b.name} mtls: port ${b.mtls.port} host ${b.mtls.host} client pid ${b.mtls.client.pid} server pid ${b.mtls.server.pid}`,
          );
      }
      await sleep(Number(v.hold) * 1000);
      return;
    }
    for (const b of builds) {
      const idle = [b.one?.child, b.pair?.client, b.pair?.server, b.mtls?.client, b.mtls?.server].filter(
        (c) => c !== undefined,
      );
      console.log(`${b.name} idle RSS MB: ${idle.map((c) => `${c.name} ${rss(c).toFixed(1)}`).join(', ')}`);
    }
    const o: LoadOptions = {
      durationS: Number(v.duration),
      connections: Number(v.connections),
      rate: 1000,
      useWrk: true,
      quietWaitMs: Number(v['quiet-wait']) * 1000,
    };
    const targets = (b: Build): [keyof Build['res'], Target][] => {
      const t: [keyof Build['res'], Target][] = [];
      if (b.one) t.push(['one', { port: b.one.port, host: b.one.host, pids: [b.one.child.pid] }]);
      if (b.pair)
        t.push([
          'pair',
          { port: b.pair.port, host: b.pair.host, pids: [b.pair.client.pid, b.pair.server.pid] },
        ]);
      if (b.mtls)
        t.push([
          'mtls',
          { port: b.mtls.port, host: b.mtls.host, pids: [b.mtls.client.pid, b.mtls.server.pid] },
        ]);
      return t;
    };
    for (const b of builds) for (const [, t] of targets(b)) await warmUp(t, body, o);
    const rounds = Number(v.rounds);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? builds : [...builds].reverse();
      // Topology by topology, so that the builds compared are measured back to back.
      for (const topo of TOPOS)
        for (const b of order) {
          const found = targets(b).find(([k]) => k === topo);
          if (found === undefined) continue;
          const [k, t] = found;
          const s = await measure(t, body, o);
          b.res[k].push(s);
          console.log(
            `round ${r + 1} ${b.name} ${k}: ${s.cpuUsPerReq.map((x) => x.toFixed(1)).join(' / ')} µs/req, ` +
              `${s.rps.toFixed(0)} req/s, vCPU@1k ${s.vcpuAtRate.map((x) => x.toFixed(3)).join(' / ')}, ` +
              `p50 ${(s.open.p50Us / 1000).toFixed(3)} ms, others ${s.otherOnProxyCpu.toFixed(2)}, ` +
              `p99 ${(s.open.p99Us / 1000).toFixed(3)} ms, p99.9 ${(s.open.p999Us / 1000).toFixed(3)} ms`,
          );
        }
    }
    console.log('\nmedians');
    for (const b of builds)
      for (const k of TOPOS) {
        const xs = b.res[k];
        if (xs.length === 0) continue;
        const n = xs[0]!.cpuUsPerReq.length;
        const col = (f: (s: Sample, i: number) => number, d: number) =>
          Array.from({ length: n }, (_, i) => median(xs.map((s) => f(s, i))).toFixed(d)).join(' / ');
        console.log(
          `${b.name.padEnd(8)} ${k.padEnd(4)} CPU ${col((s, i) => s.cpuUsPerReq[i]!, 1)} µs/req | ` +
            `vCPU@1k ${col((s, i) => s.vcpuAtRate[i]!, 3)} | p50 ${median(xs.map((s) => s.open.p50Us / 1000)).toFixed(3)} ms | ` +
            `rps ${median(xs.map((s) => s.rps)).toFixed(0)} | RSS load ${col((s, i) => s.rssLoadMB[i]!, 0)} MB | ` +
            `p99 ${median(xs.map((s) => s.open.p99Us / 1000)).toFixed(3)} ms | ` +
            `p99.9 ${median(xs.map((s) => s.open.p999Us / 1000)).toFixed(3)} ms`,
        );
      }
    // Per round, each build against the first one measured in the same round (the machine's speed
    // drifts between rounds; a ratio taken minutes apart is noise). Pair: both proxies summed.
    const ref = builds[0]!;
    if (builds.length > 1) console.log(`\nper-round ratio to ${ref.name} (median, range, rounds won)`);
    for (const b of builds.slice(1))
      for (const k of TOPOS) {
        const n = Math.min(b.res[k].length, ref.res[k].length);
        if (n === 0) continue;
        const sum = (xs: number[]): number => xs.reduce((a, x) => a + x, 0);
        const ratios = (f: (s: Sample) => number): string => {
          const rs = Array.from({ length: n }, (_, i) => f(b.res[k][i]!) / f(ref.res[k][i]!));
          const won = rs.filter((r) => r < 1).length;
          return `${median(rs).toFixed(2)} (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}, ${won}/${n})`;
        };
        console.log(
          `${b.name.padEnd(8)} ${k.padEnd(4)} CPU/req ${ratios((s) => sum(s.cpuUsPerReq))} | ` +
            `vCPU@1k ${ratios((s) => sum(s.vcpuAtRate))} | p50 ${ratios((s) => s.open.p50Us)} | ` +
            `p99 ${ratios((s) => s.open.p99Us)}`,
        );
      }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
