// End to end: a proxyless gRPC *server* in the mesh (gRFC A36 xDS-enabled server + A29 server
// side). A real @grpc/grpc-js-xds XdsServer with XdsServerCredentials, in a child process, gets its
// server Listener from the control plane through the bootstrap `trellis grpc-agent --serve` writes
// (its certificate as files, the server Listener template); the agent registers it as an mTLS
// instance of the STRICT Service `inventory` once it serves. Then:
// (a) a proxyless grpc-js-xds client (XdsChannelCredentials, its own grpc-agent) calls it over mTLS,
// (b) an app calls it through a real `trellis proxy` sidecar, which originates mTLS to it,
// and the server reads each caller's SPIFFE ID from the call's auth context; a plaintext client is
// refused; an AuthorizationPolicy DENY on the Service applies in the server (gRPC RBAC, A41);
// PERMISSIVE turns the server (and how clients dial it) to plaintext; SIGTERM to the agent
// deregisters the instance.
import * as grpc from '@grpc/grpc-js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EchoClient } from './helpers/echo-service.js';
import type { ServerReply } from './helpers/grpc-xds-server.js';
import {
  adminHeaders,
  freePort,
  JsonLineChild,
  ROOT,
  startControlPlaneProcess,
  TRELLIS_BIN,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';
import { startFakeApp, startProxyProcess, type FakeApp, type ProxyProcess } from './helpers/sidecar.js';

const TD = 'cluster.local';
const id = (sa: string): string => `spiffe://${TD}/ns/default/sa/${sa}`;
const CLIENT = join(ROOT, 'dist/test/e2e/helpers/grpc-xds-mtls-client.js');
const SERVER = join(ROOT, 'dist/test/e2e/helpers/grpc-xds-server.js');
type Answer = { ok: boolean; replies: ServerReply[]; errors: string[] };

const mesh = (serverPort: number): string => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: inventory }
spec:
  ports: [{ name: grpc, port: 50051, targetPort: ${serverPort}, protocol: grpc }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: frontend }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 80, protocol: http }]
`;

const cleanEnv = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => !e[0].startsWith('TRELLIS_') && e[1] !== undefined,
    ),
  );

/** One Hello with a 5 s deadline; the reply or `code: details`. */
function hello(c: grpc.Client): Promise<ServerReply | string> {
  return new Promise((resolve) =>
    (
      c as unknown as {
        Hello(
          req: object,
          md: grpc.Metadata,
          opts: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, r?: ServerReply) => void,
        ): void;
      }
    ).Hello({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e, r) =>
      resolve(e ? `${e.code}: ${e.details}` : r!),
    ),
  );
}

describe(
  'proxyless gRPC servers in the mesh (XdsServer + grpc-agent --serve, gRFC A36/A29)',
  { timeout: 240_000 },
  () => {
    let dir: string;
    let cp: ControlPlaneProcess;
    let serverPort: number;
    let serverAgent: ChildProcess;
    let server: ChildProcess;
    const logs: string[] = [];
    let clientAgent: ChildProcess;
    let client: JsonLineChild;
    let webApp: FakeApp;
    let sidecar: ProxyProcess;
    let viaSidecar: grpc.Client;

    const agent = (service: string, tokenFile: string, out: string, more: string[] = []): ChildProcess => {
      const p = spawn(
        process.execPath,
        [
          TRELLIS_BIN,
          'grpc-agent',
          '--service',
          service,
          '--token-file',
          tokenFile,
          '--out',
          out,
          '--api',
          cp.apiUrl,
          '--xds',
          `127.0.0.1:${cp.plaintextXdsPort!}`,
          '--refresh-interval',
          '1s',
          ...more,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() },
      );
      p.stdout!.on('data', (d: Buffer) => logs.push(`[${service} agent] ${d.toString()}`));
      p.stderr!.on('data', (d: Buffer) => logs.push(`[${service} agent] ${d.toString()}`));
      return p;
    };
    const bootstrapOf = async (out: string): Promise<string> => {
      const f = join(out, 'bootstrap.json');
      await waitFor(
        'bootstrap.json',
        async () => (await stat(f).catch(() => undefined)) !== undefined,
        20_000,
      ).catch((e: Error) => assert.fail(`${e.message}\n${logs.join('')}`));
      return f;
    };
    const fromClient = (n = 1): Promise<Answer> =>
      client.send<Answer>({ op: 'hello', target: 'xds:///inventory', n, secure: true });
    const until = <T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> =>
      waitFor(what, fn, ms).catch((e: Error) => assert.fail(`${e.message}\n${logs.slice(-40).join('')}`));
    const apply = async (yaml: string): Promise<void> => {
      const r = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: yaml });
      assert.equal(r.code, 0, r.stderr);
    };
    const instances = async (): Promise<
      { id: string; proxyless?: boolean; mtls?: boolean; port: number }[]
    > => {
      const res = await fetch(`${cp.apiUrl}/api/v1/instances`, { headers: adminHeaders(cp.apiUrl) });
      return ((await res.json()) as { items: { service: string; id: string; port: number }[] }).items.filter(
        (i) => i.service === 'inventory',
      );
    };

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'trellis-e2e-pserver-'));
      cp = await startControlPlaneProcess({ dataDir: join(dir, 'data'), plaintextXdsPort: 0 });
      serverPort = await freePort();
      await apply(mesh(serverPort));

      // The server: its agent (with --serve), then the XdsServer with the agent's bootstrap.
      const serverOut = join(dir, 'inventory-xds');
      serverAgent = agent('inventory', await cp.tokenFile('inventory'), serverOut, [
        '--serve',
        `127.0.0.1:${serverPort}`,
        '--ttl-seconds',
        '6',
      ]);
      const serverBootstrap = await bootstrapOf(serverOut);
      server = spawn(process.execPath, [SERVER], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...cleanEnv(),
          GRPC_XDS_BOOTSTRAP: serverBootstrap,
          GRPC_XDS_EXPERIMENTAL_RBAC: 'true',
          BIND: `127.0.0.1:${serverPort}`,
        },
      });
      server.stderr!.on('data', (d: Buffer) => logs.push(`[server] ${d.toString()}`));
      const first = await Promise.race([
        new Promise<string>((resolve) => createInterface({ input: server.stdout! }).once('line', resolve)),
        new Promise<string>((resolve) => setTimeout(() => resolve('{"error":"no answer in 20 s"}'), 20_000)),
      ]);
      assert.deepEqual(JSON.parse(first), { serving: serverPort }, `${first}\n${logs.join('')}`);
      await until(
        'the agent to register the server',
        async () => (await instances()).length === 1 || undefined,
      );

      // (a) a proxyless client with its own agent.
      const clientOut = join(dir, 'frontend-xds');
      clientAgent = agent('frontend', await cp.tokenFile('frontend'), clientOut);
      client = JsonLineChild.start(CLIENT, { GRPC_XDS_BOOTSTRAP: await bootstrapOf(clientOut) });

      // (b) an app behind a sidecar with an identity (Service web).
      webApp = await startFakeApp('web');
      sidecar = await startProxyProcess({
        service: 'web',
        xdsPort: cp.plaintextXdsPort!,
        apiUrl: cp.apiUrl,
        appPort: webApp.port,
        args: ['--token-file', await cp.tokenFile('web')],
      });
      viaSidecar = new EchoClient(`127.0.0.1:${sidecar.outboundPort}`, grpc.credentials.createInsecure(), {
        'grpc.default_authority': 'inventory:50051',
      });
    });

    after(async () => {
      viaSidecar?.close();
      await client?.stop();
      for (const p of [clientAgent, serverAgent, server])
        if (p && p.exitCode === null && p.signalCode === null) {
          p.kill('SIGKILL');
          await once(p, 'exit');
        }
      await sidecar?.stop('SIGKILL');
      await webApp?.close();
      await cp?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test('the bootstrap names the server Listener template; the instance is registered proxyless with mTLS', async () => {
      const b = JSON.parse(await readFile(join(dir, 'inventory-xds', 'bootstrap.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.equal(
        b['server_listener_resource_name_template'],
        'grpc/server?xds.resource.listening_address=%s',
      );
      const [inst] = await instances();
      assert.equal(inst?.port, serverPort);
      assert.equal(inst?.proxyless, true);
      assert.equal(inst?.mtls, true);
    });

    test('(a) a proxyless client calls it over mTLS: the server sees the client SPIFFE ID', async () => {
      const a = await until('an RPC from the proxyless client', async () => {
        const r = await fromClient();
        return r.replies.length === 1 ? r : undefined;
      });
      assert.deepEqual(a.replies[0], { server: 'inventory', transport: 'ssl', peer: id('frontend') });
      const many = await fromClient(10);
      assert.deepEqual(many.errors, []);
      assert.ok(many.replies.every((r) => r.peer === id('frontend')));
    });

    test('(b) an app through a sidecar: the sidecar originates mTLS, the server sees the sidecar identity', async () => {
      const r = await until('an RPC through the web sidecar', async () => {
        const x = await hello(viaSidecar);
        return typeof x === 'string' ? undefined : x;
      });
      assert.deepEqual(r, { server: 'inventory', transport: 'ssl', peer: id('web') });
    });

    test('a plaintext client is refused by the STRICT server', async () => {
      const plain = new EchoClient(`127.0.0.1:${serverPort}`, grpc.credentials.createInsecure());
      try {
        const r = await hello(plain);
        assert.equal(typeof r, 'string', JSON.stringify(r));
        assert.match(String(r), /^14: /, 'UNAVAILABLE: the TLS server does not speak plaintext HTTP/2');
      } finally {
        plain.close();
      }
    });

    test('an AuthorizationPolicy DENY on the Service applies in the server (gRPC RBAC)', async () => {
      await apply(`apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: no-frontend }
spec:
  targetRefs: [{ kind: Service, name: inventory }]
  action: DENY
  rules: [{ from: [{ source: { services: [frontend] } }] }]
`);
      const denied = await until('the policy to deny the proxyless client', async () => {
        const r = await fromClient();
        return r.errors.length === 1 ? r : undefined;
      });
      assert.match(denied.errors[0] ?? '', /^7: /, 'PERMISSION_DENIED');
      // The web sidecar's calls are not denied by that rule.
      assert.deepEqual(await hello(viaSidecar), { server: 'inventory', transport: 'ssl', peer: id('web') });
      const del = await trellis(['delete', 'authorizationpolicies', 'no-frontend'], { server: cp.apiUrl });
      assert.equal(del.code, 0, del.stderr);
      await until('the client to be allowed again', async () =>
        (await fromClient()).replies.length === 1 ? true : undefined,
      );
    });

    test("an AuthorizationPolicy ALLOW by source identity: only the sidecar app's identity gets in", async () => {
      await apply(`apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: web-only }
spec:
  targetRefs: [{ kind: Service, name: inventory }]
  rules: [{ from: [{ source: { identities: ["${id('web')}"] } }] }]
`);
      const denied = await until('the ALLOW policy to deny the proxyless client', async () => {
        const r = await fromClient();
        return r.errors.length === 1 ? r : undefined;
      });
      assert.match(denied.errors[0] ?? '', /^7: /);
      assert.deepEqual(await hello(viaSidecar), { server: 'inventory', transport: 'ssl', peer: id('web') });
      const del = await trellis(['delete', 'authorizationpolicies', 'web-only'], { server: cp.apiUrl });
      assert.equal(del.code, 0, del.stderr);
      await until('the client to be allowed again', async () =>
        (await fromClient()).replies.length === 1 ? true : undefined,
      );
    });

    test('PERMISSIVE: the server serves plaintext and clients dial it in plaintext', async () => {
      await apply(`apiVersion: trellis.dev/v1alpha1
kind: MeshTLS
metadata: { name: inventory-migrating }
spec:
  mode: PERMISSIVE
  targetRefs: [{ kind: Service, name: inventory }]
`);
      const plain = new EchoClient(`127.0.0.1:${serverPort}`, grpc.credentials.createInsecure());
      try {
        const r = await until('the server to take plaintext', async () => {
          const x = await hello(plain);
          return typeof x === 'string' ? undefined : x;
        });
        assert.deepEqual(r, { server: 'inventory', transport: 'plaintext' });
        const viaClient = await until('the proxyless client to dial in plaintext', async () => {
          const x = await fromClient();
          return x.replies[0]?.transport === 'plaintext' ? x : undefined;
        });
        assert.deepEqual(viaClient.errors, []);
        // The sidecar dials it in plaintext too: its pools to the endpoint are rebuilt when the
        // endpoint's TLS changes (a drained TLS connection may carry a call or two before that).
        const viaWeb = await until('the sidecar to dial in plaintext', async () => {
          const x = await hello(viaSidecar);
          return typeof x !== 'string' && x.transport === 'plaintext' ? x : undefined;
        });
        assert.deepEqual(viaWeb, { server: 'inventory', transport: 'plaintext' });
      } finally {
        plain.close();
      }
      const del = await trellis(['delete', 'meshtls', 'inventory-migrating'], { server: cp.apiUrl });
      assert.equal(del.code, 0, del.stderr);
      await until('mTLS again from the proxyless client', async () =>
        (await fromClient()).replies[0]?.peer === id('frontend') ? true : undefined,
      );
      await until('mTLS again from the sidecar', async () => {
        const x = await hello(viaSidecar);
        return typeof x !== 'string' && x.peer === id('web') ? true : undefined;
      });
    });

    test('SIGTERM to the server agent deregisters the instance', async () => {
      serverAgent.kill('SIGTERM');
      const [code] = (await once(serverAgent, 'exit')) as [number | null];
      assert.equal(code, 0, logs.join(''));
      assert.deepEqual(await instances(), []);
    });
  },
);
