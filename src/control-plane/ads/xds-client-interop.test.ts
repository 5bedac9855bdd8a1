// The real @grpc/grpc-js-xds client against our ADS server (fake translate): it accepts our
// encoding (LDS -> RDS -> CDS -> EDS), ACKs every type, and its RPCs reach the backend.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { silentLogger } from '../../common/logger.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../xds/type-urls.js';
import { type AdsServer, createAdsServer } from './server.js';
import { cla, cluster, fakeSnapshot, fakeTranslate, listener, routeConfig } from './testing.js';

const echoService = {
  Say: {
    path: '/test.Echo/Say',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
} satisfies grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');

describe('@grpc/grpc-js-xds client interop', () => {
  let backend: grpc.Server;
  let ads: AdsServer;
  let adsPort = 0;
  let backendPort = 0;

  before(async () => {
    xds.register();
    backend = new grpc.Server();
    backend.addService(echoService, {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.from(`hello ${call.request.toString()}`)),
    });
    backendPort = await new Promise<number>((res, rej) =>
      backend.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? rej(e) : res(p),
      ),
    );
    ads = createAdsServer({ logger: silentLogger(), translate: fakeTranslate() });
    adsPort = await ads.listen('127.0.0.1', 0);
    ads.setSnapshot(
      fakeSnapshot(1, {
        [LISTENER_TYPE]: { greeter: listener('greeter', 'greeter-routes') },
        [ROUTE_TYPE]: { 'greeter-routes': routeConfig('greeter-routes', 'greeter', 'echo') },
        [CLUSTER_TYPE]: { echo: cluster('echo') },
        [ENDPOINT_TYPE]: { echo: cla('echo', backendPort) },
      }),
    );
  });

  after(async () => {
    await ads.close();
    backend.forceShutdown();
  });

  it('resolves xds:///greeter through our ADS server and the RPC succeeds', async () => {
    const bootstrap = {
      xds_servers: [
        {
          server_uri: `127.0.0.1:${adsPort}`,
          channel_creds: [{ type: 'insecure' }],
          server_features: ['xds_v3'],
        },
      ],
      node: { id: 'interop-client', cluster: 'test', locality: {}, metadata: { NAMESPACE: 'default' } },
    };
    const client = new EchoClient('xds:///greeter', grpc.credentials.createInsecure(), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
    });
    try {
      const reply = await new Promise<Buffer>((res, rej) =>
        client.makeUnaryRequest(
          '/test.Echo/Say',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from('mesh'),
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (e, r) => (e || !r ? rej(e ?? new Error('no reply')) : res(r)),
        ),
      );
      assert.equal(reply.toString(), 'hello mesh');
      await new Promise((r) => setTimeout(r, 100));
      const p = ads.listProxies().find((x) => x.nodeId === 'interop-client');
      assert.ok(p);
      for (const t of ['LDS', 'RDS', 'CDS', 'EDS']) {
        assert.equal(p.types[t]?.synced, true, `${t} ACKed`);
        assert.equal(p.types[t]?.lastNack, undefined, `${t} not NACKed`);
      }
    } finally {
      client.close();
    }
  });
});
