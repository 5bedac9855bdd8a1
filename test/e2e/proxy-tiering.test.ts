// bin/trellis.js starts `trellis proxy` without TurboFan and turns it on once the sidecar is busy
// (docs/sidecar.md "Memory"): an idle sidecar, even one probing its app 10 times a second, never
// optimizes (TurboFan's first compile keeps ~3.6 MB of the node binary resident), and a loaded one
// does within seconds. Read from V8's own --trace-opt lines on the sidecar's stdout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  startControlPlaneProcess,
  trellis,
  TRELLIS_BIN,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';
import {
  spawnTrellisProxy,
  startFakeApp,
  untilReady,
  type FakeApp,
  type TrellisProxyProcess,
} from './helpers/sidecar.js';

const SERVICE = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: tiering }
spec:
  ports: [{ name: http, port: 9080, protocol: http }]
`;

let dir: string;
let cp: ControlPlaneProcess;
let app: FakeApp;
let sidecar: TrellisProxyProcess | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trellis-tiering-'));
  cp = await startControlPlaneProcess({ dataDir: join(dir, 'data') });
  const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: SERVICE });
  assert.equal(applied.code, 0, applied.stderr);
  app = await startFakeApp('tiering');
});

after(async () => {
  await sidecar?.stop('SIGKILL');
  await app?.close();
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

const optimized = (logs: readonly string[]): string[] =>
  logs.filter((l) => l.startsWith('[completed optimizing'));

test(
  'an idle sidecar never starts TurboFan; a busy one does within seconds',
  { timeout: 120_000 },
  async () => {
    const inbound = await freePort();
    sidecar = await spawnTrellisProxy([
      '--trace-opt',
      TRELLIS_BIN,
      'proxy',
      '--service',
      'tiering',
      '--node-id',
      `tiering-${inbound}`,
      '--control-plane',
      `127.0.0.1:${cp.xdsPort}`,
      '--api',
      cp.sidecarApiUrl,
      '--ca-bundle',
      cp.caBundle,
      '--token-file',
      await cp.tokenFile('tiering'),
      '--app-port',
      String(app.port),
      // 10 probes a second: with TurboFan on from the start, the same sidecar optimizes within the
      // idle window (checked by hand with TRELLIS_PROXY_V8_FLAGS=''); here nothing may be. Faster
      // probing (50/s) brought the idle sidecar close to the watcher's busy threshold.
      '--app-probe-period-ms',
      '100',
      '--inbound-port',
      String(inbound),
      '--outbound-port',
      String(await freePort()),
      '--admin-port',
      '0',
    ]);
    const s = sidecar;
    await untilReady(s, 'the sidecar');
    await new Promise((r) => setTimeout(r, 10_000));
    assert.deepEqual(optimized(s.logs), [], 'nothing is optimized while the sidecar is idle');

    // Busy: admin requests back to back (CPU in the sidecar's process is what the watcher reads).
    const until = Date.now() + 4000;
    const clients = Array.from({ length: 4 }, async () => {
      while (Date.now() < until) assert.equal((await s.admin('/stats')).status, 200);
    });
    await Promise.all(clients);
    await waitFor(
      'TurboFan to optimize something once the sidecar is busy',
      async () => optimized(s.logs).length > 0,
      10_000,
    );
  },
);
