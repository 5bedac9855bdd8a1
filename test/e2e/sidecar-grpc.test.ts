// End to end gRPC through a real sidecar pair: a @grpc/grpc-js client → the client sidecar's
// outbound listener (h2c) → the server sidecar's inbound listener → a @grpc/grpc-js server;
// unary, bidi streaming, a trailers-only error and the sidecar's own gRPC-shaped error.
import * as grpc from '@grpc/grpc-js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoClient, startGrpc, type Echo } from '../integration/h2-grpc-support.js';
import { startControlPlaneProcess, trellis, waitFor, type ControlPlaneProcess } from './helpers/processes.js';
import { startProxyProcess, type ProxyProcess, untilReady } from './helpers/sidecar.js';

/** The Service; its port's targetPort is the app's (random) port, so the inbound cluster is HTTP/2. */
const inventory = (appPort: number): string => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: inventory }
spec:
  ports: [{ name: grpc, port: 50051, targetPort: ${appPort}, protocol: grpc }]
`;

type Cb = (e: grpc.ServiceError | null, r?: Buffer) => void;

function unary(c: Echo, req: Buffer): Promise<{ err: grpc.ServiceError | null; res?: Buffer }> {
  return new Promise((resolve) =>
    (c.unary as (r: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: Cb) => void)(
      req,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => resolve({ err, ...(res !== undefined ? { res } : {}) }),
    ),
  );
}

describe('gRPC through a sidecar pair', { timeout: 120_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  let app: { server: grpc.Server; port: number } | undefined;
  let server: ProxyProcess | undefined;
  let client: ProxyProcess | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-grpc-e2e-'));
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data') });
  });

  after(async () => {
    await client?.stop('SIGKILL');
    await server?.stop('SIGKILL');
    app?.server.forceShutdown();
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('unary, bidi and errors flow through outbound → inbound', async () => {
    app = await startGrpc({
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        if (call.request.toString() === 'fail')
          cb({ code: grpc.status.NOT_FOUND, details: 'no such item: ü 100%' });
        else cb(null, Buffer.concat([Buffer.from('item:'), call.request]));
      },
      bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (d: Buffer) => call.write(Buffer.concat([Buffer.from('pong:'), d])));
        call.on('end', () => call.end());
      },
    });
    const appPort = app.port;
    const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: inventory(appPort) });
    assert.equal(applied.code, 0, applied.stderr);
    server = await startProxyProcess({
      service: 'inventory',
      xdsPort: cp.xdsPort,
      apiUrl: cp.sidecarApiUrl,
      caBundle: cp.caBundle,
      appPort,
      args: ['--token-file', await cp.tokenFile('inventory')],
    });
    const s = server;
    await untilReady(s, 'the inventory sidecar');
    client = await startProxyProcess({
      service: 'frontend',
      xdsPort: cp.xdsPort,
      apiUrl: cp.sidecarApiUrl,
      caBundle: cp.caBundle,
      appPort: 0,
      args: ['--token-file', await cp.tokenFile('frontend')],
    });
    const c0 = client;
    await untilReady(c0, 'the frontend sidecar');

    const c = echoClient(c0.outboundPort, 'inventory:50051');
    let last: grpc.ServiceError | null = null;
    const ok = await waitFor(
      'a unary call through the pair',
      async () => {
        const r = await unary(c, Buffer.from('42'));
        last = r.err;
        return r.err === null ? r : undefined;
      },
      30_000,
    ).catch((e: Error) => {
      const l = last as grpc.ServiceError | null;
      throw new Error(`${e.message}; last: ${l?.code} ${l?.details} ${JSON.stringify(l?.metadata.getMap())}`);
    });
    assert.equal(ok.res?.toString(), 'item:42');

    const failed = await unary(c, Buffer.from('fail'));
    assert.equal(failed.err?.code, grpc.status.NOT_FOUND);
    assert.equal(failed.err?.details, 'no such item: ü 100%');

    const call = (c.bidi as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
    // The call's final status, awaited below: a call still open when the sidecars are killed in
    // after() would otherwise end in an unhandled UNAVAILABLE after the test.
    const finished = new Promise<grpc.StatusObject>((resolve, reject) => {
      call.on('status', resolve);
      call.on('error', reject);
    });
    const replies: string[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = new Promise<string>((resolve) => call.once('data', (d: Buffer) => resolve(d.toString())));
      call.write(Buffer.from(String(i)));
      replies.push(await reply);
    }
    call.end();
    assert.deepEqual(replies, ['pong:0', 'pong:1', 'pong:2', 'pong:3', 'pong:4']);
    assert.equal((await finished).code, grpc.status.OK);
    c.close();

    const nowhere = echoClient(c0.outboundPort, 'nowhere:50051');
    const nr = await unary(nowhere, Buffer.from('x'));
    assert.ok(
      nr.err?.code === grpc.status.UNIMPLEMENTED || nr.err?.code === grpc.status.UNAVAILABLE,
      String(nr.err?.code),
    );
    assert.match(
      String(nr.err?.metadata.get('x-trellis-error')[0]),
      /^(NO_ROUTE|CLUSTER_NOT_FOUND|NO_HEALTHY_UPSTREAM); sidecar=/,
    );
    nowhere.close();

    assert.match(
      (await c0.admin('/stats')).body,
      /^trellis_grpc_responses_total\{[^}]*grpc_status="0"\} [1-9]/m,
    );
  });
});
