// End to end: the real `trellis up` on test/fixtures/up (a client calling a 2-replica backend through
// its sidecar): readiness, traffic to every replica, scale, restart after a kill, a broken workload,
// logs, bad mesh files, and no process left behind after SIGINT or after SIGKILL of `trellis up`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, ROOT, TRELLIS_BIN, trellis, waitFor } from './helpers/processes.js';
import type { ReplicaStatus } from '../../src/up/status.js';

const MESH = join(ROOT, 'test/fixtures/up/mesh');
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}` };

interface UpState {
  replicas: ReplicaStatus[];
}

class Up {
  readonly lines: string[] = [];
  readonly pids = new Set<number>();
  private constructor(
    readonly proc: ChildProcess,
    readonly dataDir: string,
    readonly server: string,
  ) {
    createInterface({ input: proc.stdout! }).on('line', (l) => this.lines.push(l));
    createInterface({ input: proc.stderr! }).on('line', (l) => this.lines.push(`stderr: ${l}`));
  }

  static async start(mesh = MESH): Promise<Up> {
    const dataDir = await mkdtemp(join(tmpdir(), 'trellis-up-e2e-'));
    const apiPort = await freePort();
    const securePort = await freePort();
    const proc = spawn(
      process.execPath,
      [
        TRELLIS_BIN,
        'up',
        mesh,
        '--data-dir',
        dataDir,
        '--api-port',
        String(apiPort),
        '--secure-port',
        String(securePort),
      ],
      { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return new Up(proc, dataDir, `http://127.0.0.1:${apiPort}`);
  }

  state(): UpState | undefined {
    try {
      const s = JSON.parse(readFileSync(join(this.dataDir, 'up.json'), 'utf8')) as UpState;
      for (const r of s.replicas) for (const p of [r.appPid, r.sidecarPid]) if (p) this.pids.add(p);
      return s;
    } catch {
      return undefined;
    }
  }

  replica(id: string) {
    return this.state()?.replicas.find((r) => r.id === id);
  }

  /** Waits until these replicas (exactly) exist and are ready. */
  async ready(ids: string[], timeoutMs = 60_000): Promise<UpState> {
    return waitFor(
      `replicas ${ids.join(', ')} ready`,
      () => {
        const s = this.state();
        const got = s?.replicas.filter((r) => ids.includes(r.id)) ?? [];
        return got.length === ids.length && got.every((r) => r.phase === 'ready') ? s : undefined;
      },
      timeoutMs,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- output:\n${this.lines.slice(-40).join('\n')}`);
    });
  }

  output(): string {
    return this.lines.join('\n');
  }

  async exit(signal: NodeJS.Signals): Promise<number | null> {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    const exited = once(this.proc, 'exit');
    this.proc.kill(signal);
    const [code] = (await exited) as [number | null];
    return code;
  }
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 8000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The backend replicas answering `n` calls made by the client app through its sidecar, 10 at a time
 * (the sidecar's default balancer, peak EWMA, sends sequential calls to the fastest endpoint).
 */
async function replicasReached(clientPort: number, n: number, path = '/call'): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let done = 0; done < n; done += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, n - done) }, () => get(clientPort, path)),
    );
    for (const r of batch) {
      assert.equal(r.status, 200, r.body);
      seen.add((JSON.parse(r.body) as { replica: string }).replica);
    }
  }
  return seen;
}

/** Waits until calls through the client reach every one of `replicas`. */
async function reachesAll(clientPort: number, replicas: string[], path = '/call'): Promise<void> {
  const seen = new Set<string>();
  await waitFor(
    `calls via ${path} reaching replicas ${replicas.join(', ')}`,
    async () => {
      for (const r of await replicasReached(clientPort, 20, path)) seen.add(r);
      return replicas.every((r) => seen.has(r)) || undefined;
    },
    20_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; reached only ${[...seen].join(', ')}`);
  });
}

/** Live processes among `pids` (zombies count as gone). */
function alive(pids: Iterable<number>): number[] {
  return [...pids].filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return !/^\d+ \(.*\) Z/.test(stat);
    } catch {
      return false;
    }
  });
}

test('a bad mesh file exits 2 with the path-precise error and starts nothing', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'trellis-up-bad-'));
  try {
    const r = await trellis([
      'up',
      join(ROOT, 'test/fixtures/up/bad'),
      '--data-dir',
      dataDir,
      '--api-port',
      '0',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /mesh\.yaml doc 2 \(Workload\/default\/backend\) line \d+: spec\.replicas: must be an integer from 0 to 64/,
    );
    assert.match(r.stderr, /nothing was started/);
    assert.equal(existsSync(join(dataDir, 'up.json')), false);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

describe('trellis up on a client and a 2-replica backend', { timeout: 240_000 }, () => {
  let up: Up;
  let clientPort: number;

  before(async () => {
    up = await Up.start();
    const s = await up.ready(['backend-1', 'backend-2', 'client-1']);
    clientPort = s.replicas.find((r) => r.id === 'client-1')!.appPort!;
  });
  after(async () => {
    if (up.proc.exitCode === null && up.proc.signalCode === null) await up.exit('SIGKILL');
    await rm(up.dataDir, { recursive: true, force: true });
  });

  test('every replica is ready and calls through the sidecar reach both backends', async () => {
    await reachesAll(clientPort, ['1', '2']);
    await reachesAll(clientPort, ['1', '2'], '/call-proxy');
    const out = up.output();
    // Not a terminal: plain event lines and prefixed process output.
    assert.match(out, /^\[up\] backend-1 ready \(app pid \d+/m);
    assert.match(out, /^\[up\] all 3 replica\(s\) ready/m);
    assert.match(out, /^backend-2 \| backend replica 2 listening on \d+$/m);
    assert.ok(!out.includes('\u001b['), 'no terminal escapes');
    const endpoints = await trellis(['get', 'endpoints', 'backend', '--server', up.server]);
    assert.equal(endpoints.stdout.match(/sidecar\s+version=v1/g)?.length, 2, endpoints.stdout);
    // The sidecars reach the control plane over TLS, verifying it with <data-dir>/ca/bundle.pem.
    const bundle = readFileSync(join(up.dataDir, 'ca', 'bundle.pem'), 'utf8');
    const served = (await (await fetch(`${up.server}/api/v1/trust-bundle?format=pem`)).text()).trim();
    assert.equal(bundle.trim(), served);
    assert.match(
      out,
      /xDS over TLS 127\.0\.0\.1:\d+ \(spiffe:\/\/cluster\.local\/ns\/trellis-system\/sa\/control-plane/,
    );
    const cpLog = readFileSync(join(up.dataDir, 'logs', 'control-plane.log'), 'utf8');
    for (const id of ['backend-1', 'backend-2', 'client-1'])
      assert.match(cpLog, new RegExp(`"node":"${id}".*"transport":"TLSv1\\.3".*"proxy connected"`), id);
    assert.doesNotMatch(cpLog, /"transport":"plaintext"/);
    // The API's admin token: 0600 in the data dir, its path printed, the token itself never logged;
    // the CLI above found it with no flag (through the api-<port>.json pointer); without it, 401.
    const tokenFile = join(up.dataDir, 'admin.token');
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    const adminToken = readFileSync(tokenFile, 'utf8').trim();
    assert.ok(out.includes(tokenFile), 'the path is printed');
    assert.ok(!out.includes(adminToken) && !cpLog.includes(adminToken), 'the token is not');
    assert.equal((await fetch(`${up.server}/api/v1/resources`)).status, 401);
  });

  test('trellis scale to 3 adds a replica that gets traffic', async () => {
    const r = await trellis(['scale', 'backend', '--replicas', '3', '--server', up.server]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /scaled from 2 to 3/);
    await up.ready(['backend-1', 'backend-2', 'backend-3']);
    await waitFor(
      'replica 3 answering',
      async () => (await replicasReached(clientPort, 10)).has('3'),
      20_000,
    );
    const get = await trellis(['get', 'workload', 'backend', '-o', 'json', '--server', up.server]);
    assert.equal((JSON.parse(get.stdout) as { spec: { replicas: number } }).spec.replicas, 3);
  });

  test('a killed app is restarted and serves again', async () => {
    const before = up.replica('backend-1')!;
    process.kill(before.appPid!, 'SIGKILL');
    await waitFor(
      'the crash reported',
      () => /\[up\] backend-1 failed: app killed by SIGKILL/.test(up.output()),
      15_000,
    );
    const after = await waitFor(
      'backend-1 back',
      () => {
        const r = up.replica('backend-1');
        return r && r.phase === 'ready' && r.appPid !== before.appPid ? r : undefined;
      },
      60_000,
    );
    assert.equal(after.restarts, before.restarts + 1);
    await waitFor(
      'replica 1 answering again',
      async () => (await replicasReached(clientPort, 10)).has('1'),
      20_000,
    );
  });

  test('a workload whose command cannot start is reported; the rest keeps running', async () => {
    const r = await trellis(['apply', '-f', join(ROOT, 'test/fixtures/up/broken'), '--server', up.server]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      'the failure reported',
      () =>
        /\[up\] broken-1 failed: app could not start: ENOENT.*no-such-program.*; restarting in/.test(
          up.output(),
        ),
      60_000,
    );
    assert.equal(up.replica('broken-1')?.phase !== 'ready', true);
    await reachesAll(clientPort, ['1', '2', '3']);
  });

  test("trellis logs prints a workload's lines prefixed by replica", async () => {
    const r = await trellis(['logs', 'backend', '--data-dir', up.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backend-1 \| backend replica 1 listening/m);
    assert.match(r.stdout, /^backend-3 \| backend replica 3 listening/m);
    const one = await trellis(['logs', 'backend', '--replica', '2', '--sidecar', '--server', up.server]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^backend-2 sidecar \| .*proxy started/m);
    assert.doesNotMatch(one.stdout, /^backend-1/m);
    const none = await trellis(['logs', 'nope', '--data-dir', up.dataDir]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no logs for workload nope.*workloads with logs: .*backend/);
  });

  test('changing a Workload rolls its replicas one at a time, with no failed call', async () => {
    const before = new Map(['backend-1', 'backend-2', 'backend-3'].map((id) => [id, up.replica(id)!.appPid]));
    const changed = readFileSync(join(MESH, 'mesh.yaml'), 'utf8')
      .split(/^---$/m)
      .find((d) => /kind: Workload/.test(d) && /name: backend/.test(d))!
      .replace('replicas: 2', 'replicas: 3')
      .replace('GREETING: hello', 'GREETING: bonjour');
    const file = join(up.dataDir, 'backend-v2.yaml');
    writeFileSync(file, changed);
    // Calls keep going, 4 at a time, for the whole rollout.
    let failures = 0;
    let calls = 0;
    const problems: string[] = [];
    let running = true;
    const greetings: string[] = [];
    const loop = async (): Promise<void> => {
      while (running) {
        try {
          const r = await get(clientPort, '/call');
          calls++;
          if (r.status !== 200) {
            failures++;
            problems.push(`${r.status} ${r.body.slice(0, 200)}`);
          } else greetings.push((JSON.parse(r.body) as { greeting: string }).greeting);
        } catch (e) {
          failures++;
          problems.push((e as Error).message);
        }
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    const applied = await trellis(['apply', '-f', file, '--server', up.server]);
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor(
      'the rollout to complete',
      () => /\[up\] rollout of default\/backend complete/.test(up.output()),
      120_000,
    );
    const after = greetings.length;
    await new Promise((r) => setTimeout(r, 500));
    running = false;
    await Promise.all(loops);
    assert.equal(failures, 0, `${failures} of ${calls} calls failed: ${problems.slice(0, 5).join(' | ')}`);
    assert.ok(calls > 50, `only ${calls} calls made`);
    assert.ok(
      greetings.slice(after).every((g) => g === 'bonjour'),
      'calls after the rollout reach the new version',
    );
    // Each replacement registered under its own instance id (the old sidecar's deregistration
    // must not remove it), and exactly the new ones are left.
    const endpoints = await trellis(['get', 'endpoints', 'backend', '-o', 'json', '--server', up.server]);
    assert.equal(endpoints.code, 0, endpoints.stderr);
    const ids = (JSON.stringify(JSON.parse(endpoints.stdout)).match(/backend-\d(\.g\d+)?/g) ?? []).sort();
    assert.deepEqual([...new Set(ids)], ['backend-1.g2', 'backend-2.g2', 'backend-3.g2'], endpoints.stdout);
    const out = up.output();
    // One index at a time: the new replica starts, becomes ready, and only then the old one stops.
    let at = out.lastIndexOf('[up] backend-1 starting (new version; the old one serves until it is ready)');
    assert.ok(at >= 0, out.split('\n').slice(-40).join('\n'));
    for (const id of ['backend-1', 'backend-2', 'backend-3']) {
      const start = out.indexOf(`[up] ${id} starting (new version`, at);
      const stop = out.indexOf(`[up] ${id} (old version) stopping (replaced)`, start);
      assert.ok(start >= 0 && stop > start, `${id}: start ${start}, stop ${stop}`);
      at = stop;
      const now = up.replica(id)!;
      assert.equal(now.phase, 'ready');
      assert.notEqual(now.appPid, before.get(id), `${id} runs a new process`);
    }
  });

  test('SIGINT stops everything gracefully and leaves no process behind', async () => {
    up.state();
    const pids = new Set(up.pids);
    assert.ok(pids.size >= 8, `pids seen: ${[...pids].join(',')}`);
    const code = await up.exit('SIGINT');
    assert.equal(code, 0, up.output().split('\n').slice(-20).join('\n'));
    assert.match(up.output(), /\[up\] SIGINT: shutting down/);
    assert.match(up.output(), /\[up\] all processes stopped/);
    assert.deepEqual(alive(pids), []);
  });
});

test(
  'SIGKILL of trellis up leaves no process behind within a few seconds',
  { timeout: 120_000 },
  async () => {
    const up = await Up.start();
    try {
      await up.ready(['backend-1', 'backend-2', 'client-1']);
      up.state();
      const pids = new Set(up.pids);
      assert.equal(pids.size, 6);
      await up.exit('SIGKILL');
      await waitFor('every child gone', () => alive(pids).length === 0, 10_000).catch(() => {
        throw new Error(`still alive after SIGKILL of trellis up: ${alive(pids).join(', ')}`);
      });
    } finally {
      await rm(up.dataDir, { recursive: true, force: true });
    }
  },
);
