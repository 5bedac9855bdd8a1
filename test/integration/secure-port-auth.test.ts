// The control plane's secure port over real TLS sockets: a client without a client certificate may
// only bootstrap (get its certificate with its token, read the trust bundle, health); registration,
// heartbeats and deregistration answer 401 and ADS refuses the stream with UNAUTHENTICATED. The
// sidecar's own client stack (ControlPlaneTls + SidecarIdentity) gets its certificate cert-less,
// then registers and gets config with it; a certificate for another Service is still refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/common/logger.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { ControlPlaneTls } from '../../src/proxy/identity/control-plane-tls.js';
import { SidecarIdentity } from '../../src/proxy/identity/sidecar-identity.js';
import { staticTokenSource } from '../../src/proxy/identity/token-source.js';
import { createXdsClient, type XdsClient } from '../../src/proxy/xds-client/index.js';
import { buildSidecarNode } from '../../src/proxy/xds-client/sidecar-node.js';
import { createWireAdsClient } from '../../src/proxy/xds-client/ads-wire-client.js';
import type { AdsClient } from '../../src/xds/ads-service.js';
import { CLUSTER_TYPE } from '../../src/xds/type-urls.js';
import { apply, waitFor } from './control-plane-support.js';

const MESH = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ port: 80, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db }
spec:
  ports: [{ port: 5432, protocol: tcp }]
  endpoints: [{ address: 10.0.0.9 }]
`;

/** What a sidecar of web registers. */
const WEB_1 = {
  id: 'web-1',
  service: 'web',
  namespace: 'default',
  address: '127.0.0.1',
  port: 15006,
  sidecar: true,
};

describe('the secure port without and with a client certificate', { timeout: 60_000 }, () => {
  let dir: string;
  let cp: RunningControlPlane;
  let bundle: string;
  const closers: (() => void)[] = [];

  /** One HTTPS call on the secure port, without a client certificate (verifying the server). */
  const certless = (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; type: string; text: string }> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          host: '127.0.0.1',
          port: cp.securePort,
          path,
          method,
          ca: bundle,
          agent: false,
          headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', text }),
          );
        },
      );
      req.on('error', reject);
      req.end(data);
    });

  /** The sidecar's TLS stack holding the certificate of `serviceAccount` (obtained cert-less). */
  async function sidecarTls(serviceAccount: string): Promise<ControlPlaneTls> {
    const tls = new ControlPlaneTls(bundle, 'bundle.pem', silentLogger());
    const token = cp.ca!.issueToken({ namespace: 'default', serviceAccount });
    const identity = new SidecarIdentity({
      api: `https://127.0.0.1:${cp.securePort!}`,
      nodeId: `${serviceAccount}-1`,
      token: staticTokenSource(token.reveal(), 'test'),
      logger: silentLogger(),
      fetch: tls.fetch,
    });
    closers.push(() => identity.close());
    identity.start();
    await identity.whenReady();
    tls.useIdentity(identity);
    return tls;
  }

  /** Opens one raw ADS stream, asks for clusters as a sidecar of `service`, and waits for its end. */
  async function oneAdsStream(
    tls: ControlPlaneTls,
    service: string,
  ): Promise<{ error?: Error & { code?: number }; data: number }> {
    const client = createWireAdsClient(`127.0.0.1:${cp.securePort!}`, { options: () => tls.h2Options() });
    try {
      const stream = client.StreamAggregatedResources();
      const outcome = new Promise<{ error?: Error & { code?: number }; data: number }>((resolve) => {
        let data = 0;
        const t = setTimeout(() => resolve({ data }), 5000);
        stream.on('data', () => data++);
        stream.on('error', (error) => {
          clearTimeout(t);
          resolve({ error, data });
        });
        stream.on('end', () => {
          clearTimeout(t);
          resolve({ data });
        });
      });
      stream.write({
        node: buildSidecarNode(
          { id: `${service}-raw`, service, inboundPort: 1, outboundPort: 2, appPort: 3 },
          'test',
        ),
        type_url: CLUSTER_TYPE,
        resource_names: [],
      });
      return await outcome;
    } finally {
      client.close();
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-secure-port-auth-'));
    cp = await startControlPlane({ dataDir: dir, apiPort: 0, securePort: 0, logger: silentLogger() });
    await apply(cp, MESH);
    bundle = cp.ca!.bundle().trustBundlePem;
  });

  after(async () => {
    for (const c of closers) c();
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('without a certificate: 401 on registration, heartbeat and deregistration; bootstrap calls served', async () => {
    for (const [method, path, body] of [
      ['POST', '/api/v1/instances', WEB_1],
      ['POST', '/api/v1/instances/web-1/heartbeat', undefined],
      ['DELETE', '/api/v1/instances/web-1', undefined],
    ] as const) {
      const r = await certless(method, path, body);
      assert.equal(r.status, 401, `${method} ${path}: ${r.text}`);
      assert.match(r.type, /application\/json/);
      const err = (JSON.parse(r.text) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'UNAUTHENTICATED');
      assert.match(err.message, /client certificate.*required/);
      assert.match(err.message, /trellis token create.*--token-file/);
    }
    assert.deepEqual(cp.registry.list(), [], 'nothing registered without a certificate');

    const tb = await certless('GET', '/api/v1/trust-bundle');
    assert.equal(tb.status, 200);
    assert.equal((JSON.parse(tb.text) as { trustBundlePem: string }).trustBundlePem, bundle);
    assert.equal((await certless('GET', '/api/v1/trust-bundle?format=pem')).text, bundle);
    assert.equal((await certless('GET', '/healthz')).status, 200);
    assert.equal((await certless('GET', '/readyz')).status, 200);
    // The certificate request is not locked out (its bootstrap token authenticates it): without a
    // token it gets the CA's own answer, not the client-certificate one. (With a token it is served:
    // the last test obtains its certificate this way.)
    const noToken = await certless('POST', '/api/v1/certificates', { csr: 'x' });
    assert.doesNotMatch(noToken.text, /client certificate/, noToken.text);
    assert.match(noToken.text, /bootstrap token is required/);
    // Routes the secure port never serves stay 404 (the answer does not depend on who asks).
    assert.equal((await certless('GET', '/api/v1/resources')).status, 404);
  });

  test('without a certificate: an ADS stream is refused with UNAUTHENTICATED', async () => {
    const tls = new ControlPlaneTls(bundle, 'bundle.pem', silentLogger());
    const r = await oneAdsStream(tls, 'web');
    assert.equal(r.data, 0, 'no config for a client without a certificate');
    assert.ok(r.error, 'the stream ends with an error status');
    assert.equal(r.error.code, 16, r.error.message);
    assert.match(
      r.error.message,
      /UNAUTHENTICATED: xDS on the control plane's secure port needs a client certificate/,
    );
    assert.match(r.error.message, /--token-file/);
  });

  test('with a workload certificate: registration and ADS work; another identity is still refused', async () => {
    const tls = await sidecarTls('web');
    const reg = await tls.fetch(`https://127.0.0.1:${cp.securePort!}/api/v1/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(WEB_1),
    });
    assert.equal(reg.status, 200, await reg.text());
    assert.deepEqual(
      cp.registry.list().map((i) => i.id),
      ['web-1'],
    );
    const hb = await tls.fetch(`https://127.0.0.1:${cp.securePort!}/api/v1/instances/web-1/heartbeat`, {
      method: 'POST',
    });
    assert.equal(hb.status, 200, await hb.text());

    const xdsFor = (t: ControlPlaneTls, service: string): XdsClient => {
      const c = createXdsClient({
        target: `127.0.0.1:${cp.securePort!}`,
        node: {
          id: `${service}-1`,
          service,
          inboundPort: 15006,
          outboundPort: 15001,
          appPort: 8080,
          mtls: true,
        },
        logger: silentLogger(),
        backoff: { initialMs: 50, maxMs: 200 },
        createClient: (target) =>
          createWireAdsClient(target, { options: () => t.h2Options() }) as unknown as AdsClient,
      });
      closers.push(() => c.close());
      return c;
    };
    const web = xdsFor(tls, 'web');
    const cfg = await waitFor('config over the secure port', () => {
      const c = web.current();
      return c.versions['LDS'] && c.versions['CDS'] ? c : undefined;
    });
    assert.ok(cfg.clusters.size > 0, 'clusters arrived');
    assert.ok(web.status().connected, 'the stream stays up');

    // The web certificate claiming to be db: authenticated, but not authorized (PERMISSION_DENIED).
    const liar = await oneAdsStream(tls, 'db');
    assert.equal(liar.data, 0);
    assert.equal(liar.error?.code, 7, liar.error?.message);
    assert.match(liar.error?.message ?? '', /sa\/web; it may not act for Service default\/db/);
  });
});
