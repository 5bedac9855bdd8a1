// Listener fuzz: the saved h1 corpus plus seeded random and mutated requests (split writes,
// pipelined pairs, injected CL/TE, truncation) over real sockets at a data plane's outbound and
// inbound listeners in front of a recording app. The proxy must not crash, hang or leak, and the
// app must never see more requests than the strict parser accepts, nor one answered with a 400.
// TRELLIS_FUZZ_MS (default 5000), TRELLIS_FUZZ_SEED, TRELLIS_FUZZ_SAVE=1 saves failing inputs.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import { prng, randomCuts, runParser } from '../../src/proxy/http/h1-test-support.js';
import type { H1Limits } from '../../src/proxy/http/h1-types.js';
import { exchange, mutate, randomBytes, SEEDS } from './sidecar-fuzz-support.js';
import { buildConfig, get, route, startApp, startPlane, vhost, type FakeApp } from './sidecar-harness.js';

const CORPUS = new URL('../../../test/fixtures/h1-corpus/', import.meta.url);
const BUDGET_MS = Number(process.env.TRELLIS_FUZZ_MS ?? 5000);
const SEED = Number(process.env.TRELLIS_FUZZ_SEED ?? 0x5eed);
const BOUND_MS = 2000;
/** Tight enough that mutations cross them; the strict parser gets the same limits. */
const H1: Partial<H1Limits> = { maxHeaderBytes: 1024, maxHeaderCount: 16, maxRequestLineBytes: 256 };

interface Target {
  name: 'outbound' | 'inbound';
  dp: DataPlane;
  port: number;
}

/** Sum of the open-downstream-connections gauge. */
function openConnections(dp: DataPlane): number {
  let n = 0;
  for (const line of dp.renderMetrics().split('\n'))
    if (line.startsWith('trellis_downstream_connections_active{')) n += Number(line.split(' ').at(-1));
  return n;
}

function inFlight(dp: DataPlane): number {
  const s = JSON.stringify(dp.clustersStatus());
  return [...s.matchAll(/"inFlight":(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
}

async function until(what: string, ok: () => boolean, ms = BOUND_MS): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const show = (b: Buffer): string => JSON.stringify(b.toString('latin1'));

describe('sidecar listeners: fuzz', { timeout: 120_000 + BUDGET_MS * 4 }, () => {
  let app: FakeApp;
  const targets: Target[] = [];
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);

  before(async () => {
    process.on('uncaughtException', onUncaught);
    app = await startApp('app');
    for (const direction of ['outbound', 'inbound'] as const) {
      const { dp, port } = await startPlane(
        buildConfig({
          vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
          clusters: { c: [app.port] },
          direction,
        }),
        { limits: { requestHeadersTimeoutMs: 500, idleTimeoutMs: 5000, h1: H1 } },
      );
      targets.push({ name: direction, dp, port });
    }
  });
  after(async () => {
    process.removeListener('uncaughtException', onUncaught);
    for (const t of targets) await t.dp.close();
    await app.close();
  });

  /** Throws `input` at `t` and checks every invariant; returns a failure message or null. */
  async function one(t: Target, input: Buffer, cuts: number[]): Promise<string | null> {
    const parsed = runParser('request', input, [], { limits: H1 });
    const complete = parsed.events.filter((e) => 'end' in e).length;
    const methods = parsed.events.flatMap((e) => ('head' in e && 'method' in e.head ? [e.head.method] : []));
    const seen = app.requests.length;
    const x = await exchange(t.port, input, cuts, complete, BOUND_MS);
    if (x.hung)
      return `connection still open ${BOUND_MS} ms after the client half-closed; got ${JSON.stringify(x.raw.slice(0, 200))}`;
    try {
      await until('open connections back to 0', () => openConnections(t.dp) === 0);
      await until('upstream requests finished', () => inFlight(t.dp) === 0);
    } catch (e) {
      return `leak: ${(e as Error).message}`;
    }
    // A direct round trip to the app: anything the proxy wrote upstream has been read by now.
    await get(app.port, '/__barrier');
    const got = app.requests.splice(seen).filter((r) => r.url !== '/__barrier');
    // The proxy's own 400s carry x-trellis-error (an app's 400, e.g. node's for an unknown method, does not).
    const first400 = x.responses.findIndex(
      (r) => r.status === 400 && r.headers['x-trellis-error'] !== undefined,
    );
    if (got.length > complete)
      return `app got ${got.length} requests, the strict parser accepts ${complete} (${parsed.error ?? 'ok'})`;
    if (first400 >= 0 && got.length > first400)
      return `app got ${got.length} requests on a connection answered 400 at response #${first400}`;
    let i = 0;
    for (const r of got) {
      while (i < methods.length && methods[i] !== r.method) i++;
      if (i++ >= methods.length) return `app got ${r.method} ${r.url}, not among the parsed requests`;
    }
    if (x.stalled && parsed.error === null && parsed.consumed === input.length)
      return `only ${x.responses.length} of ${complete} responses within ${BOUND_MS} ms`;
    if (uncaught.length > 0) return `uncaught exception: ${String(uncaught[0])}`;
    return null;
  }

  async function stillServes(t: Target): Promise<void> {
    const r = await get(t.port, '/health-after-fuzz');
    assert.equal(r.status, 200, `${t.name} listener no longer answers a normal request`);
  }

  function fail(what: string, t: Target, input: Buffer, msg: string): never {
    if (process.env.TRELLIS_FUZZ_SAVE) {
      // Named by the default-limits parser outcome, as the parser's own corpus replay expects.
      const code = runParser('request', input).error ?? 'ok';
      writeFileSync(new URL(`listener-fuzz-${SEED}-${Date.now()}.${code}.http`, CORPUS), input);
    }
    assert.fail(`${what} at ${t.name} (TRELLIS_FUZZ_SEED=${SEED}): ${msg}\ninput: ${show(input)}`);
  }

  it('replays the saved corpus at both listeners', async () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.http') && !f.startsWith('res-'));
    assert.ok(files.length >= 10);
    const rnd = prng(1);
    for (const t of targets) {
      for (const f of files) {
        const input = readFileSync(new URL(f, CORPUS));
        for (const cuts of [[], randomCuts(input.length, rnd)]) {
          const msg = await one(t, input, cuts);
          if (msg !== null) fail(`corpus ${f}`, t, input, msg);
        }
      }
      await stillServes(t);
    }
  });

  it(`random and mutated requests at both listeners (seed ${SEED})`, async () => {
    const rnd = prng(SEED);
    const deadline = performance.now() + BUDGET_MS;
    let runs = 0;
    while (performance.now() < deadline) {
      const t = targets[runs % targets.length] as Target;
      const base = SEEDS[Math.floor(rnd() * SEEDS.length)] as Buffer;
      const input = rnd() < 0.08 ? randomBytes(rnd) : mutate(base, rnd);
      const cuts = rnd() < 0.5 ? [] : randomCuts(input.length, () => rnd() * 3);
      const msg = await one(t, input, cuts);
      if (msg !== null) fail(`input #${runs}`, t, input, msg);
      runs++;
    }
    for (const t of targets) await stillServes(t);
    assert.ok(runs >= 20, `only ${runs} inputs in ${BUDGET_MS} ms`);
    assert.equal(uncaught.length, 0, String(uncaught[0]));
  });
});
