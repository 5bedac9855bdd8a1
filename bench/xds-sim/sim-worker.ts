// Simulator process: runs many SimProxy ADS streams over a few grpc-js channels and reports to the
// parent over IPC: initial-config completion times, then per-change receipt times in "windows".
import * as grpc from '@grpc/grpc-js';
import { createAdsClient, type AdsClient } from '../../src/xds/ads-service.js';
import { protoRoot } from '../../src/xds/proto-root.js';
import { ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SHORT_NAMES } from '../../src/xds/type-urls.js';
import { SimProxy, TYPES, type ResponseEvent } from './client.js';
import type { ParentMessage, WindowResult, WorkerMessage } from './sim-protocol.js';

interface Window {
  readonly id: number;
  readonly type: string;
  readonly names: ReadonlySet<string>;
  readonly affected: ReadonlySet<number>;
  readonly hits: Map<number, number>;
  readonly others: Map<number, number>;
  redundant: number;
  done: boolean;
}

const proxies: SimProxy[] = [];
const clients: AdsClient[] = [];
let completed = 0;
let window: Window | undefined;
let progressTimer: NodeJS.Timeout | undefined;

const send = (m: WorkerMessage): void => {
  process.send?.(m);
};

function observe(proxy: SimProxy, ev: ResponseEvent): void {
  if (proxy.completedAt === ev.t) {
    completed++;
    if (completed === proxies.length) reportInitial();
  }
  const w = window;
  if (!w) return;
  w.redundant += ev.unchanged;
  const isHit =
    w.affected.has(proxy.index) &&
    !w.hits.has(proxy.index) &&
    ev.type === w.type &&
    ev.changed.some((n) => w.names.has(n));
  if (isHit) {
    w.hits.set(proxy.index, ev.t);
    if (!w.done && w.hits.size === w.affected.size) {
      w.done = true;
      send({ op: 'window-done', id: w.id });
    }
  } else {
    w.others.set(proxy.index, (w.others.get(proxy.index) ?? 0) + 1);
  }
}

function reportInitial(): void {
  if (progressTimer) clearInterval(progressTimer);
  progressTimer = undefined;
  const errors = proxies.flatMap((p) => p.errors);
  send({
    op: 'initial',
    startedAt: proxies.map((p) => p.startedAt),
    completedAt: proxies.map((p) => p.completedAt),
    responses: proxies.reduce((a, p) => a + p.responses, 0),
    firstByType: Object.fromEntries(
      TYPES.map((t) => [
        SHORT_NAMES[t] ?? t,
        proxies.flatMap((p) => {
          const at = p.firstAt.get(t);
          return at !== undefined ? [at - p.startedAt] : [];
        }),
      ]),
    ),
    errors: errors.length,
    sampleErrors: errors.slice(0, 5),
  });
}

function start(m: Extract<ParentMessage, { op: 'start' }>): void {
  let client: AdsClient | undefined;
  m.proxies.forEach((spec, i) => {
    if (i % m.streamsPerChannel === 0) {
      // A local subchannel pool gives every channel its own HTTP/2 connection.
      client = createAdsClient(m.target, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
      });
      clients.push(client);
    }
    const p = new SimProxy(spec.index, spec.id, spec.targets, observe);
    proxies.push(p);
    p.start(client!);
  });
  progressTimer = setInterval(() => send({ op: 'progress', completed, total: proxies.length }), 500);
}

function openWindow(m: Extract<ParentMessage, { op: 'watch' }>): void {
  let type = ENDPOINT_TYPE;
  const names = new Set<string>();
  if (m.listener !== undefined) {
    type = ROUTE_TYPE;
    for (const p of proxies) {
      const l = p.listeners.get(m.listener);
      if (!l) continue;
      if (l.rds !== undefined) names.add(l.rds);
      else type = LISTENER_TYPE;
    }
    if (type === LISTENER_TYPE) names.add(m.listener);
  } else {
    for (const c of m.clusters ?? []) {
      for (const p of proxies) {
        const e = p.clusterEds.get(c);
        if (e !== undefined) names.add(e);
      }
    }
  }
  const affected = new Set<number>();
  for (const p of proxies) if (p.subscribed(type).some((n) => names.has(n))) affected.add(p.index);
  window = { id: m.id, type, names, affected, hits: new Map(), others: new Map(), redundant: 0, done: false };
  send({ op: 'watching', id: m.id, affected: affected.size, names: [...names] });
  if (affected.size === 0) {
    window.done = true;
    send({ op: 'window-done', id: m.id });
  }
}

function collect(id: number): void {
  const w = window;
  if (!w || w.id !== id) throw new Error(`no window ${id}`);
  window = undefined;
  let unaffectedProxies = 0;
  let unaffectedResponses = 0;
  let affectedExtra = 0;
  for (const [idx, n] of w.others) {
    if (w.affected.has(idx)) affectedExtra += n;
    else {
      unaffectedProxies++;
      unaffectedResponses += n;
    }
  }
  const result: WindowResult = {
    id,
    type: w.type,
    affected: w.affected.size,
    hits: [...w.hits.values()],
    unaffectedProxies,
    unaffectedResponses,
    affectedExtra,
    redundant: w.redundant,
  };
  send({ op: 'collected', result });
}

process.on('message', (m: ParentMessage) => {
  try {
    if (m.op === 'start') start(m);
    else if (m.op === 'watch') openWindow(m);
    else if (m.op === 'collect') collect(m.id);
    else if (m.op === 'report') reportInitial();
    else if (m.op === 'stop') {
      for (const p of proxies) p.stop();
      for (const c of clients) c.close();
      if (progressTimer) clearInterval(progressTimer);
      process.disconnect?.();
      setTimeout(() => process.exit(0), 200).unref();
    }
  } catch (e) {
    send({ op: 'error', message: (e as Error).stack ?? String(e) });
  }
});
process.on('disconnect', () => process.exit(0));

protoRoot();
send({ op: 'ready' });
