// End to end: `trellis up` runs a proxyless gRPC Workload (`proxyless: true`): each replica gets a
// `trellis grpc-agent --serve 127.0.0.1:$PORT` instead of a sidecar, the app (a grpc-js-xds
// XdsServer) starts with GRPC_XDS_BOOTSTRAP once the agent wrote it, the control plane's plaintext
// xDS listener is turned on by the Workload, and a replica is ready once its gRPC port accepts. A
// proxyless client with its own agent (token from the up's API) reaches both replicas over mTLS,
// and the servers see its SPIFFE ID. SIGINT stops everything and removes the agents' key files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ReplicaStatus } from '../../src/up/status.js';
import type { ServerReply } from './helpers/grpc-xds-server.js';
import {
  adminHeaders,
  freePort,
  JsonLineChild,
  registerAdminTokenFile,
  ROOT,
  TRELLIS_BIN,
  waitFor,
} from './helpers/processes.js';

const SERVER = join(ROOT, 'dist/test/e2e/helpers/grpc-xds-server.js');
const CLIENT = join(ROOT, 'dist/test/e2e/helpers/grpc-xds-mtls-client.js');
const id = (sa: string): string => `spiffe://cluster.local/ns/default/sa/${sa}`;
type Answer = { ok: boolean; replies: ServerReply[]; errors: string[] };

const mesh = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: inventory }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: frontend }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
---
apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: { name: inventory }
spec:
  service: inventory
  proxyless: true
  replicas: 2
  labels: { version: v1 }
  command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVER)}]
`;

describe('trellis up with a proxyless gRPC Workload', { timeout: 180_000 }, () => {
  let dir: string;
  let up: ChildProcess;
  const lines: string[] = [];
  let apiUrl: string;
  let agent: ChildProcess | undefined;
  let client: JsonLineChild | undefined;
  const state = (): { replicas: ReplicaStatus[] } | undefined => {
    try {
      return JSON.parse(readFileSync(join(dir, 'data', 'up.json'), 'utf8')) as { replicas: ReplicaStatus[] };
    } catch {
      return undefined;
    }
  };
  const fail = (e: Error): never => assert.fail(`${e.message}\n--- up:\n${lines.slice(-40).join('\n')}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-up-proxyless-'));
    await writeFile(join(dir, 'mesh.yaml'), mesh);
    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    registerAdminTokenFile(apiUrl, join(dir, 'data', 'admin.token'));
    up = spawn(
      process.execPath,
      [
        TRELLIS_BIN,
        'up',
        join(dir, 'mesh.yaml'),
        '--data-dir',
        join(dir, 'data'),
        '--api-port',
        String(apiPort),
        '--secure-port',
        String(await freePort()),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    createInterface({ input: up.stdout! }).on('line', (l) => lines.push(l));
    createInterface({ input: up.stderr! }).on('line', (l) => lines.push(`stderr: ${l}`));
  });

  after(async () => {
    await client?.stop();
    if (agent && agent.exitCode === null) {
      agent.kill('SIGKILL');
      await once(agent, 'exit');
    }
    if (up && up.exitCode === null && up.signalCode === null) {
      up.kill('SIGKILL');
      await once(up, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('both replicas become ready with a grpc-agent each, and are registered proxyless with mTLS', async () => {
    await waitFor(
      'inventory-1 and inventory-2 ready',
      () => {
        const rs = state()?.replicas ?? [];
        return rs.length === 2 && rs.every((r) => r.phase === 'ready') ? true : undefined;
      },
      60_000,
    ).catch(fail);
    assert.match(lines.join('\n'), /plaintext xDS 127\.0\.0\.1:\d+/, 'turned on by the proxyless Workload');
    assert.match(
      lines.join('\n'),
      /inventory-1 ready \(proxyless gRPC app pid \d+ on :\d+, grpc-agent pid \d+\)/,
    );
    // Ready = the gRPC port accepts and the agent registered it.
    type Inst = { id: string; proxyless?: boolean; mtls?: boolean; labels: Record<string, string> };
    const items = await waitFor(
      'both replicas registered',
      async () => {
        const got = (
          (await (await fetch(`${apiUrl}/api/v1/instances`, { headers: adminHeaders(apiUrl) })).json()) as {
            items: Inst[];
          }
        ).items;
        return got.length === 2 ? got : undefined;
      },
      2_000,
    ).catch(fail);
    assert.deepEqual(items.map((i) => i.id).sort(), ['inventory-1', 'inventory-2']);
    assert.ok(items.every((i) => i.proxyless === true && i.mtls === true && i.labels['version'] === 'v1'));
    await stat(join(dir, 'data', 'grpc-agent', 'inventory-1', 'bootstrap.json'));
  });

  test('a proxyless client reaches both replicas over mTLS; they see its identity', async () => {
    const xds = /plaintext xDS (127\.0\.0\.1:\d+)/.exec(lines.join('\n'))?.[1] ?? '';
    const tokenRes = await fetch(`${apiUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: adminHeaders(apiUrl, { 'content-type': 'application/json' }),
      body: JSON.stringify({ namespace: 'default', serviceAccount: 'frontend', ttl: '1h' }),
    });
    assert.equal(tokenRes.status, 200);
    const tokenFile = join(dir, 'frontend.token');
    await writeFile(tokenFile, `${(JSON.parse(await tokenRes.text()) as { token: string }).token}\n`, {
      mode: 0o600,
    });
    const out = join(dir, 'frontend-xds');
    agent = spawn(
      process.execPath,
      [
        TRELLIS_BIN,
        'grpc-agent',
        '--service',
        'frontend',
        '--token-file',
        tokenFile,
        '--out',
        out,
        '--api',
        apiUrl,
        '--xds',
        xds,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(
      'the client bootstrap',
      async () => (await stat(join(out, 'bootstrap.json')).catch(() => undefined)) !== undefined,
      20_000,
    );
    client = JsonLineChild.start(CLIENT, { GRPC_XDS_BOOTSTRAP: join(out, 'bootstrap.json') });
    const seen = new Set<string>();
    await waitFor(
      'RPCs over mTLS reaching both replicas',
      async () => {
        const a = await client!.send<Answer>({
          op: 'hello',
          target: 'xds:///inventory',
          n: 10,
          secure: true,
        });
        for (const r of a.replies) {
          assert.equal(r.transport, 'ssl');
          assert.equal(r.peer, id('frontend'));
          if (r.replica !== undefined) seen.add(r.replica);
        }
        return seen.size === 2 || undefined;
      },
      30_000,
    ).catch(fail);
    assert.deepEqual([...seen].sort(), ['1', '2']);
  });

  test('SIGINT stops everything and removes the agents key files', async () => {
    await client?.stop();
    client = undefined;
    const exited = once(up, 'exit');
    up.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, lines.slice(-20).join('\n'));
    assert.equal(existsSync(join(dir, 'data', 'grpc-agent', 'inventory-1', 'key.pem')), false);
  });
});
