// End to end: the real `trellis up` on a copy of examples/shop (gateway, API, xDS and inventory on
// free ports, its own data dir). Requests through the gateway succeed; the 50% file shifts about
// half of reviews calls to v2; the header route sends testers, and only them, to v2; killing a
// catalog replica's app fails no request (the routes' retries and the other replica absorb it) and
// the replica comes back; SIGINT (Ctrl-C) stops everything and leaves no process behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, trellis, TRELLIS_BIN, waitFor } from './helpers/processes.js';
import { getJson, httpGet, SHOP_DIR, SHOP_TRAFFIC_DIR, startProgram, type Program } from './helpers/shop.js';
import type { ReplicaStatus } from '../../src/up/status.js';

interface Products {
  reviews: { available: boolean; version?: string };
  inventory: { available: boolean };
  catalog?: { instance: string };
  products: { id: string; stock: number | null }[];
}

interface UpState {
  pid: number;
  replicas: ReplicaStatus[];
  gateways: { id: string; pid?: number; urls: string[] }[];
}

const alive = async (pid: number): Promise<boolean> => {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie is dead, only not yet reaped
  } catch {
    return false;
  }
};

describe('trellis up examples/shop', { timeout: 240_000 }, () => {
  let dir: string;
  let meshDir: string;
  let dataDir: string;
  let gatewayPort: number;
  let apiUrl: string;
  let up: Program | undefined;
  /** Every pid trellis up reported while the test ran (apps, sidecars, gateway). */
  const pids = new Set<number>();

  const gw = (path: string) => `http://127.0.0.1:${gatewayPort}${path}`;
  const state = async (): Promise<UpState> => {
    const s = JSON.parse(await readFile(join(dataDir, 'up.json'), 'utf8')) as UpState;
    for (const r of s.replicas) for (const p of [r.appPid, r.sidecarPid]) if (p !== undefined) pids.add(p);
    for (const g of s.gateways) if (g.pid !== undefined) pids.add(g.pid);
    return s;
  };
  const products = async (headers: Record<string, string> = {}) => {
    const r = await getJson<Products>(gw('/api/products'), headers);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  /** `n` GETs of /api/products, `concurrency` at a time; the reviews version (or status) of each. */
  const versions = async (n: number, headers: Record<string, string> = {}, concurrency = 6) => {
    const out: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          next++;
          const r = await getJson<Products>(gw('/api/products'), headers).catch((e: Error) => ({
            status: 0,
            body: { error: e.message } as unknown as Products,
          }));
          out.push(
            r.status !== 200
              ? `status ${r.status}`
              : r.body.reviews.available
                ? r.body.reviews.version!
                : 'none',
          );
        }
      }),
    );
    return out;
  };
  const count = (xs: string[]) =>
    xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {});
  const catalogEndpoints = async () => {
    const r = await trellis(['get', 'endpoints'], { server: apiUrl });
    return r.stdout.split('\n').filter((l) => /\scatalog\s/.test(l)).length;
  };
  const apply = async (file: string) => {
    const r = await trellis(['apply', '-f', join(SHOP_TRAFFIC_DIR, file)], { server: apiUrl });
    assert.equal(r.code, 0, r.stderr + r.stdout);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-shop-e2e-'));
    meshDir = join(dir, 'shop');
    dataDir = join(dir, 'data');
    await mkdir(meshDir);
    gatewayPort = await freePort();
    const grpcPort = await freePort();
    const apiPort = await freePort();
    const securePort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    // The mesh files with the fixed ports moved to free ones; the apps are the repository's own.
    for (const f of (await readdir(SHOP_DIR)).filter((n) => n.endsWith('.yaml'))) {
      const text = await readFile(join(SHOP_DIR, f), 'utf8');
      await writeFile(
        join(meshDir, f),
        text.replaceAll('8080', String(gatewayPort)).replaceAll('50051', String(grpcPort)),
      );
    }
    await symlink(join(SHOP_DIR, 'apps'), join(meshDir, 'apps'));
    up = startProgram(
      [
        process.execPath,
        TRELLIS_BIN,
        'up',
        meshDir,
        '--api-port',
        String(apiPort),
        '--secure-port',
        String(securePort),
        '--data-dir',
        dataDir,
      ],
      { detached: true },
    );
    try {
      await waitFor(
        'the shop to answer through the gateway with reviews and inventory',
        async () => {
          if (up!.proc.exitCode !== null) throw new Error(`trellis up exited with ${up!.proc.exitCode}`);
          const b = await products();
          return b.reviews.available && b.inventory.available && b.products.length === 4 ? b : undefined;
        },
        90_000,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\ntrellis up output:\n${up.lines.slice(-80).join('\n')}`);
    }
    await state();
  });

  after(async () => {
    if (up && up.proc.exitCode === null && up.proc.signalCode === null) {
      up.proc.kill('SIGKILL');
      for (const pid of pids)
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('requests through the gateway succeed: page and API, all reviews from v1 at first', async () => {
    const page = await httpGet(gw('/'));
    assert.equal(page.status, 200);
    assert.match(page.body, /Trellis garden shop/);
    assert.match(page.body, /reviews v1/);
    assert.match(page.body, /\d+ in stock|out of stock/);
    const seen = await versions(40);
    assert.deepEqual(count(seen), { v1: 40 });
    await waitFor(
      'both catalog replicas registered',
      async () => (await catalogEndpoints()) === 2 || undefined,
      15_000,
    );
  });

  test('applying reviews-v2-50.yaml sends about half of the traffic to v2', async (t) => {
    await apply('reviews-v2-50.yaml');
    await waitFor(
      'a v2 answer',
      async () => (await products()).reviews.version === 'v2' || undefined,
      15_000,
    );
    const seen = await versions(500);
    const c = count(seen);
    assert.equal((c['v1'] ?? 0) + (c['v2'] ?? 0), 500, JSON.stringify(c));
    const share = (c['v2'] ?? 0) / 500;
    t.diagnostic(`500 requests: ${JSON.stringify(c)}`);
    assert.ok(share >= 0.4 && share <= 0.6, `v2 share ${share} not within 50% ± 10: ${JSON.stringify(c)}`);
  });

  test('reviews-header.yaml: x-shop-user: tester gets v2, everyone else v1', async () => {
    await apply('reviews-header.yaml');
    // Applied once 20 answers in a row without the header are v1 (under 50% that is 1 in a million).
    let run = 0;
    await waitFor(
      'the header route',
      async () =>
        (run = (await products()).reviews.version === 'v1' ? run + 1 : 0) >= 20 ? true : undefined,
      20_000,
    );
    assert.deepEqual(count(await versions(60, { 'x-shop-user': 'tester' })), { v2: 60 });
    assert.deepEqual(count(await versions(60)), { v1: 60 });
    assert.deepEqual(count(await versions(20, { 'x-shop-user': 'someone-else' })), { v1: 20 });
    const page = await httpGet(gw('/'), { 'x-shop-user': 'tester' });
    assert.match(page.body, /reviews v2 ★/);
  });

  test('killing a catalog replica fails no request; the replica comes back', async (t) => {
    const before = (await state()).replicas.find((r) => r.id === 'catalog-1');
    assert.ok(before?.appPid !== undefined && before.phase === 'ready', JSON.stringify(before));
    const results: string[] = [];
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) {
          const r = await getJson<Products>(gw('/api/products')).catch((e: Error) => ({
            status: 0,
            body: { error: e.message },
          }));
          results.push(
            r.status === 200 ? 'ok' : `status ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`,
          );
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    process.kill(before.appPid, 'SIGKILL');
    const back = await waitFor(
      'catalog-1 to be restarted and ready',
      async () => {
        const r = (await state()).replicas.find((x) => x.id === 'catalog-1');
        return r && r.phase === 'ready' && r.appPid !== before.appPid && r.restarts > before.restarts
          ? r
          : undefined;
      },
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1000)); // traffic reaches the new instance too
    stop = true;
    await load;
    const failed = results.filter((r) => r !== 'ok');
    t.diagnostic(
      `${results.length} requests while catalog-1 was killed and restarted, ${failed.length} failed`,
    );
    assert.ok(results.length > 50, `only ${results.length} requests sent`);
    assert.deepEqual(failed, [], `${failed.length} of ${results.length} requests failed`);
    assert.ok(await alive(back.appPid!));
    await waitFor(
      'both catalog replicas registered',
      async () => (await catalogEndpoints()) === 2 || undefined,
      15_000,
    );
  });

  test('policies.yaml: catalog refuses a caller other than web, with a 403 naming the policy', async () => {
    const lg = (await state()).replicas.find((r) => r.id === 'loadgen-1');
    assert.ok(lg?.outboundPort, JSON.stringify(lg));
    const r = await httpGet(`http://127.0.0.1:${lg.outboundPort}/products`, { host: 'catalog' });
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /AuthorizationPolicy default\/backends-from-web/);
    // web, the one caller catalog has, still gets through.
    assert.ok((await products()).products.length > 0);
  });

  test('loadgen runs and reports its traffic', async () => {
    const line = await up!.waitForLine(/loadgen \d+s: [1-9]\d* requests/, 15_000);
    assert.match(line, /reviews /);
  });

  test('SIGINT (Ctrl-C) stops everything and leaves no process behind', async () => {
    await state();
    assert.ok(pids.size >= 15, `pids seen: ${[...pids].join(' ')}`);
    process.kill(-up!.proc.pid!, 'SIGINT'); // the whole foreground group, as a terminal does
    const code = await up!.wait(45_000); // one signal: a second one would force
    assert.equal(code, 0, up!.lines.slice(-30).join('\n'));
    const left: string[] = [];
    for (const pid of [...pids, up!.proc.pid!]) if (await alive(pid)) left.push(String(pid));
    // and nothing else runs in the shop's directory or talks to its control plane
    for (const e of await readdir('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      const cwd = await readlink(`/proc/${e}/cwd`).catch(() => '');
      const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
      if ((cwd.startsWith(dir) || cmd.includes(dir) || cmd.includes(apiUrl)) && (await alive(Number(e))))
        left.push(`${e} (${cmd.replaceAll('\0', ' ').trim()})`);
    }
    assert.deepEqual(left, [], `processes left behind: ${left.join(', ')}`);
  });
});
