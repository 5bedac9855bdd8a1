// End to end: a proxyless gRPC client (real @grpc/grpc-js-xds, in a child process) takes part in
// mesh mTLS (gRFC A29) with `trellis grpc-agent`: the agent gets the client's workload certificate
// with a bootstrap token and writes it with a gRPC xDS bootstrap; the control plane (plaintext xDS
// on loopback) gives the client's cluster of a STRICT Service an UpstreamTlsContext naming the
// agent's file_watcher provider; the client dials the real `trellis proxy` sidecar in front of a
// real grpc-js server over TLS (ALPN h2) with its certificate, and the server's app sees the client's
// SPIFFE ID in x-forwarded-client-cert. The same client with plain insecure credentials, and a
// client whose bootstrap has no provider, are refused by the STRICT sidecar. Certificates live
// 20 s: the agent renews them under continuous RPCs with no failure.
import * as grpc from '@grpc/grpc-js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECHO_SERVICE } from './helpers/echo-service.js';
import type { MtlsReply } from './helpers/grpc-xds-mtls-client.js';
import {
  JsonLineChild,
  ROOT,
  startControlPlaneProcess,
  TRELLIS_BIN,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';
import { startProxyProcess, type ProxyProcess } from './helpers/sidecar.js';

const TD = 'cluster.local';
const id = (sa: string): string => `spiffe://${TD}/ns/default/sa/${sa}`;
const CLIENT = join(ROOT, 'dist/test/e2e/helpers/grpc-xds-mtls-client.js');
type Answer = { ok: boolean; replies: MtlsReply[]; errors: string[] };

/** `grpc-agent` for the frontend Service with this token file and output directory, then `more`. */
const frontendAgentArgs = (tokenFile: string, out: string, ...more: string[]): string[] => [
  'grpc-agent',
  '--service',
  'frontend',
  '--token-file',
  tokenFile,
  '--out',
  out,
  ...more,
];

const mesh = (appPort: number): string => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: inventory }
spec:
  ports: [{ name: grpc, port: 50051, targetPort: ${appPort}, protocol: grpc }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: frontend }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
`;

/** A grpc-js Echo server answering with its name and the x-forwarded-client-cert it saw. */
async function startApp(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    Hello: (call: grpc.ServerUnaryCall<unknown, MtlsReply>, cb: grpc.sendUnaryData<MtlsReply>) => {
      const xfcc = call.metadata.get('x-forwarded-client-cert')[0];
      cb(null, { server: 'inventory', ...(xfcc !== undefined ? { xfcc: String(xfcc) } : {}) });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { server, port };
}

describe('proxyless gRPC clients in mesh mTLS (trellis grpc-agent, gRFC A29)', { timeout: 300_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  let app: { server: grpc.Server; port: number };
  let sidecar: ProxyProcess;
  let agent: ChildProcess;
  const agentLogs: string[] = [];
  let out: string;
  let client: JsonLineChild;
  let plainClient: JsonLineChild;
  /** One RPC from the frontend client (XdsChannelCredentials) to xds:///inventory. */
  const helloInventory = (): Promise<Answer> =>
    client.send<Answer>({ op: 'hello', target: 'xds:///inventory', n: 1, secure: true });
  /** Calls helloInventory until `ok` holds for its answer (which it resolves to), at most `ms`. */
  const untilInventory = (what: string, ok: (a: Answer) => boolean, ms: number): Promise<Answer> =>
    waitFor(
      what,
      async () => {
        const a = await helloInventory();
        return ok(a) ? a : undefined;
      },
      ms,
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-e2e-pmtls-'));
    cp = await startControlPlaneProcess({
      dataDir: join(dir, 'data'),
      plaintextXdsPort: 0,
      args: ['--workload-cert-ttl', '20s'],
    });
    app = await startApp();
    const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: mesh(app.port) });
    assert.equal(applied.code, 0, applied.stderr);
    // The client's identity: the agent, in the foreground, from the client Service's token.
    out = join(dir, 'frontend-xds');
    agent = spawn(
      process.execPath,
      [
        TRELLIS_BIN,
        ...frontendAgentArgs(
          await cp.tokenFile('frontend'),
          out,
          '--api',
          cp.apiUrl,
          '--xds',
          `127.0.0.1:${cp.plaintextXdsPort!}`,
          '--refresh-interval',
          '1s',
        ),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRELLIS_'))),
      },
    );
    agent.stdout!.on('data', (d: Buffer) => agentLogs.push(d.toString()));
    agent.stderr!.on('data', (d: Buffer) => agentLogs.push(d.toString()));
    await waitFor(
      'the agent to write bootstrap.json',
      async () => (await stat(join(out, 'bootstrap.json')).catch(() => undefined)) !== undefined,
      20_000,
    ).catch((e: Error) => assert.fail(`${e.message}\n${agentLogs.join('')}`));
    client = JsonLineChild.start(CLIENT, { GRPC_XDS_BOOTSTRAP: join(out, 'bootstrap.json') });

    // A client without the provider: a plain bootstrap (no CERT_PROVIDER, no certificate_providers).
    const plain = {
      xds_servers: [
        {
          server_uri: `127.0.0.1:${cp.plaintextXdsPort!}`,
          channel_creds: [{ type: 'insecure' }],
          server_features: ['xds_v3'],
        },
      ],
      node: { id: 'plain-client', locality: {}, metadata: { NAMESPACE: 'default', SERVICE: 'frontend' } },
    };
    await writeFile(join(dir, 'plain-bootstrap.json'), JSON.stringify(plain));
    plainClient = JsonLineChild.start(CLIENT, { GRPC_XDS_BOOTSTRAP: join(dir, 'plain-bootstrap.json') });

    // The client subscribes before the Service has a sidecar (no endpoint, a plaintext cluster): the
    // sidecar's registration must then push the cluster again, with TLS (not as endpoints only).
    const early = await helloInventory();
    assert.equal(early.replies.length, 0);
    // The server: a real sidecar with an identity (STRICT by default) in front of the grpc-js app.
    sidecar = await startProxyProcess({
      service: 'inventory',
      xdsPort: cp.plaintextXdsPort!,
      apiUrl: cp.apiUrl,
      appPort: app.port,
      args: ['--token-file', await cp.tokenFile('inventory')],
    });
    await waitFor(
      'the inventory sidecar to be ready',
      async () => (await sidecar.admin('/ready')).status === 200,
      30_000,
    );
  });

  after(async () => {
    await client?.stop();
    await plainClient?.stop();
    if (agent && agent.exitCode === null) {
      agent.kill('SIGKILL');
      await once(agent, 'exit');
    }
    await sidecar?.stop('SIGKILL');
    app?.server.forceShutdown();
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the agent writes the key (0600), chain, trust bundle and a bootstrap with the provider', async () => {
    assert.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600);
    const chain = await readFile(join(out, 'cert-chain.pem'), 'utf8');
    assert.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2, 'leaf + intermediate');
    assert.match(await readFile(join(out, 'root-cert.pem'), 'utf8'), /BEGIN CERTIFICATE/);
    const b = JSON.parse(await readFile(join(out, 'bootstrap.json'), 'utf8')) as {
      node: { metadata: Record<string, string> };
      certificate_providers: Record<string, { plugin_name: string; config: Record<string, string> }>;
    };
    assert.equal(b.node.metadata['CERT_PROVIDER'], 'trellis');
    assert.equal(b.certificate_providers['trellis']?.plugin_name, 'file_watcher');
    // One file for the key and the chain (one rename swaps the pair), 0600.
    assert.equal(
      b.certificate_providers['trellis']?.config['private_key_file'],
      join(out, 'cert-chain-and-key.pem'),
    );
    assert.equal(
      b.certificate_providers['trellis']?.config['certificate_file'],
      join(out, 'cert-chain-and-key.pem'),
    );
    assert.equal((await stat(join(out, 'cert-chain-and-key.pem'))).mode & 0o777, 0o600);
  });

  test('RPCs to the STRICT Service go over mTLS: the app sees the client SPIFFE ID', async () => {
    const r = await untilInventory('an RPC over mTLS', (a) => a.replies.length === 1, 30_000).catch(
      async (e: Error) => {
        const a = await helloInventory();
        assert.fail(`${e.message}: ${a.errors.join('; ')}\nagent:\n${agentLogs.join('')}`);
      },
    );
    assert.equal(r.replies[0]?.server, 'inventory');
    assert.equal(r.replies[0]?.xfcc, `By=${id('inventory')};URI=${id('frontend')}`);
    const many = await client.send<Answer>({
      op: 'hello',
      target: 'xds:///inventory:50051',
      n: 20,
      secure: true,
    });
    assert.deepEqual(many.errors, []);
    assert.ok(many.replies.every((x) => x.xfcc?.endsWith(`URI=${id('frontend')}`)));
    // The sidecar terminated TLS from the grpc-js client (ALPN h2) with a verified client certificate.
    const stats = (await sidecar.admin('/stats')).body;
    assert.match(stats, /trellis_mtls_inbound_connections_total\S* [1-9]/);
  });

  test('without XdsChannelCredentials, or without the provider, the STRICT sidecar refuses the client', async () => {
    const insecure = await client.send<Answer>({
      op: 'hello',
      target: 'xds:///inventory',
      n: 2,
      secure: false,
    });
    assert.equal(insecure.replies.length, 0, JSON.stringify(insecure.replies));
    assert.equal(insecure.errors.length, 2);
    assert.match(insecure.errors[0] ?? '', /^14: /, 'UNAVAILABLE');
    // Closed by the sidecar for being plaintext (not lost on the way).
    const stats = (await sidecar.admin('/stats')).body;
    assert.match(stats, /trellis_mtls_refused_total\{[^}]*reason="plaintext"[^}]*\} [1-9]/, stats);
    const noProvider = await plainClient.send<Answer>({
      op: 'hello',
      target: 'xds:///inventory',
      n: 2,
      secure: true, // XdsChannelCredentials falls back to insecure: the cluster has no TLS for this node
    });
    assert.equal(noProvider.replies.length, 0, JSON.stringify(noProvider.replies));
    assert.match(noProvider.errors[0] ?? '', /^14: /);
  });

  test("AuthorizationPolicy source rules see the proxyless client's identity", async () => {
    const policy = (service: string): string => `apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: inventory-callers }
spec:
  targetRefs: [{ kind: Service, name: inventory }]
  action: ALLOW
  rules: [{ from: [{ source: { services: [${service}] } }] }]
`;
    const apply = async (yaml: string) => {
      const r = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: yaml });
      assert.equal(r.code, 0, r.stderr);
    };
    await apply(policy('checkout'));
    const denied = await untilInventory(
      'the policy to deny the frontend client',
      (a) => a.errors.length === 1,
      15_000,
    );
    assert.match(denied.errors[0] ?? '', /^7: .*inventory-callers/, 'PERMISSION_DENIED naming the policy');
    await apply(policy('frontend'));
    await untilInventory('the policy to allow the frontend client', (a) => a.replies.length === 1, 15_000);
    const r = await trellis(['delete', 'authorizationpolicies', 'inventory-callers'], { server: cp.apiUrl });
    assert.equal(r.code, 0, r.stderr);
  });

  test('the agent renews the 20 s certificate under continuous RPCs: none fails', async () => {
    const before = await readFile(join(out, 'cert-chain.pem'), 'utf8');
    const running = client.send<Answer>({
      op: 'run',
      target: 'xds:///inventory',
      secure: true,
      durationMs: 14_000,
      intervalMs: 20,
    });
    const renewed = await waitFor(
      'the agent to renew the certificate',
      async () => (await readFile(join(out, 'cert-chain.pem'), 'utf8')) !== before || undefined,
      16_000,
    );
    assert.ok(renewed);
    const r = await running;
    assert.deepEqual(r.errors.slice(0, 3), [], `${r.errors.length} failed RPCs`);
    assert.ok(r.replies.length > 200, `${r.replies.length} RPCs`);
    // Once the first certificate has expired, a new connection (its own subchannel pool: a new TLS
    // handshake) still succeeds: grpc-js took the renewed files.
    const notAfter = new Date(new X509Certificate(before).validTo).getTime();
    await new Promise((r) => setTimeout(r, Math.max(0, notAfter - Date.now() + 1500)));
    const fresh = await client.send<Answer>({ op: 'fresh', target: 'xds:///inventory', secure: true });
    assert.deepEqual(fresh.errors, []);
    assert.equal(fresh.replies[0]?.xfcc, `By=${id('inventory')};URI=${id('frontend')}`);
  });

  test('--once over the secure port writes everything and exits 0; a refused or foreign token fails at once', async () => {
    const once1 = join(dir, 'once');
    const ok = await trellis(
      frontendAgentArgs(
        await cp.tokenFile('frontend'),
        once1,
        '--ca-bundle',
        cp.caBundle,
        '--api',
        cp.sidecarApiUrl,
        '--xds',
        `127.0.0.1:${cp.plaintextXdsPort!}`,
        '--once',
      ),
    );
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stderr, /GRPC_XDS_BOOTSTRAP=.*bootstrap\.json/);
    assert.match(ok.stderr, /XdsChannelCredentials/);
    assert.match(await readFile(join(once1, 'cert-chain.pem'), 'utf8'), /BEGIN CERTIFICATE/);
    await stat(join(once1, 'bootstrap.json'));

    const good = (await readFile(await cp.tokenFile('frontend'), 'utf8')).trim();
    const tampered = join(dir, 'tampered.token');
    await writeFile(tampered, `${good.slice(0, good.lastIndexOf('.'))}.AAAA\n`, { mode: 0o600 });
    const t0 = Date.now();
    const refused = await trellis(frontendAgentArgs(tampered, join(dir, 'x'), '--api', cp.apiUrl, '--once'));
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /no workload certificate: .*HTTP 401/);
    assert.ok(Date.now() - t0 < 10_000, 'gave up at once');
    await assert.rejects(stat(join(dir, 'x', 'bootstrap.json')));

    const foreign = await trellis(
      frontendAgentArgs(await cp.tokenFile('frontend'), join(dir, 'y'), '-n', 'shop', '--once'),
    );
    assert.equal(foreign.code, 2);
    assert.match(
      foreign.stderr,
      /the token is for spiffe:\/\/cluster\.local\/ns\/default\/sa\/frontend .*not namespace shop/,
    );
  });

  test('a root rotation under continuous RPCs: the agent follows it; none fails; new handshakes on the new root only', async () => {
    const running = client.send<Answer>({
      op: 'run',
      target: 'xds:///inventory',
      secure: true,
      durationMs: 8000,
      intervalMs: 25,
    });
    const rotated = await trellis(['ca', 'rotate', '--root', '--overlap', '20s', '-o', 'json'], {
      server: cp.apiUrl,
    });
    assert.equal(rotated.code, 0, rotated.stderr);
    const newRoot = (JSON.parse(rotated.stdout) as { rotation: { newRootFingerprint256: string } }).rotation
      .newRootFingerprint256;
    const certsIn = (pem: string): X509Certificate[] =>
      (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map(
        (b) => new X509Certificate(b),
      );
    // Both roots trusted at once (the bundle watch), then only the new one, with a chain under it.
    await waitFor(
      'root-cert.pem to hold the new root',
      async () =>
        certsIn(await readFile(join(out, 'root-cert.pem'), 'utf8')).some(
          (c) => c.fingerprint256 === newRoot,
        ) || undefined,
      10_000,
    );
    const r = await running;
    assert.deepEqual(r.errors.slice(0, 3), [], `${r.errors.length} failed RPCs during the rotation`);
    let last = '';
    await waitFor(
      'the agent to hold a chain under the new root and a bundle of only that root',
      async () => {
        const roots = certsIn(await readFile(join(out, 'root-cert.pem'), 'utf8'));
        const chain = certsIn(await readFile(join(out, 'cert-chain.pem'), 'utf8'));
        last = `roots=${roots.map((c) => c.fingerprint256.slice(0, 8)).join(',')} chain=${chain.length}`;
        return (
          (roots.length === 1 &&
            roots[0]!.fingerprint256 === newRoot &&
            chain[1] !== undefined &&
            chain[1].checkIssued(roots[0]!)) ||
          undefined
        );
      },
      60_000,
    ).catch((e: Error) => assert.fail(`${e.message}; last: ${last}`));
    // The sidecar is on the new root too by now (its certificate renews within seconds of the change).
    const fresh = await waitFor(
      'an RPC on a new connection after the rotation',
      async () => {
        const a = await client.send<Answer>({ op: 'fresh', target: 'xds:///inventory', secure: true });
        return a.replies.length === 1 ? a : undefined;
      },
      10_000,
    );
    assert.equal(fresh.replies[0]?.xfcc, `By=${id('inventory')};URI=${id('frontend')}`);
  });

  test('the agent stops on SIGTERM with exit code 0 and leaves the files', async () => {
    agent.kill('SIGTERM');
    const [code] = (await once(agent, 'exit')) as [number | null];
    assert.equal(code, 0, agentLogs.join(''));
    await stat(join(out, 'key.pem'));
  });
});
