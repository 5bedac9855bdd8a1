// End to end: instance registration on the control plane's plaintext (loopback) API is not
// anonymous. A rogue local process that registers itself as an instance of a Service without a
// credential is refused (401), cannot heartbeat or deregister the real instance, and gets none of
// the Service's traffic; with web's token it still cannot register for another Service (403).
// A control plane started with --insecure-registration (local plaintext experiments) accepts the
// anonymous registration, warns at start, and a tokenless sidecar registers there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminHeaders,
  startControlPlaneProcess,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';
import {
  httpVia,
  startFakeApp,
  startProxyProcess,
  untilReady,
  type FakeApp,
  type ProxyProcess,
} from './helpers/sidecar.js';

const mesh = (webPort: number): string => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ port: 9080, targetPort: ${webPort}, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: client }
spec:
  ports: [{ port: 9080, protocol: http }]
`;

const rogueInstance = (port: number) => ({
  id: 'rogue-1',
  service: 'web',
  namespace: 'default',
  address: '127.0.0.1',
  port,
  ttlSeconds: 120,
  sidecar: true,
});

async function post(url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, text: await res.text() };
}

describe('plaintext API registration needs a credential', { timeout: 120_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  let webApp: FakeApp;
  let rogueApp: FakeApp;
  const sidecars: ProxyProcess[] = [];
  let web: ProxyProcess;
  let client: ProxyProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-registration-'));
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data'), plaintextXdsPort: 0 });
    webApp = await startFakeApp('web');
    rogueApp = await startFakeApp('rogue');
    const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: mesh(webApp.port) });
    assert.equal(applied.code, 0, applied.stderr);
    for (const [service, appPort] of [
      ['web', webApp.port],
      ['client', 0],
    ] as const) {
      const s = await startProxyProcess({
        service,
        xdsPort: cp.plaintextXdsPort!,
        apiUrl: cp.apiUrl,
        appPort,
        args: ['--token-file', await cp.tokenFile(service)],
      });
      sidecars.push(s);
      await untilReady(s, `the ${service} sidecar`);
    }
    [web, client] = sidecars as [ProxyProcess, ProxyProcess];
  });

  after(async () => {
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
    await webApp?.close();
    await rogueApp?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const instances = async (): Promise<string[]> => {
    const res = await fetch(`${cp.apiUrl}/api/v1/instances`, { headers: adminHeaders(cp.apiUrl) });
    return ((await res.json()) as { items: { id: string }[] }).items.map((i) => i.id).sort();
  };

  test('a rogue registration without a credential is refused and gets no traffic', async () => {
    assert.deepEqual(await instances(), [web.nodeId]);
    const reg = await post(`${cp.apiUrl}/api/v1/instances`, rogueInstance(rogueApp.port));
    assert.equal(reg.status, 401, reg.text);
    assert.match(reg.text, /Authorization: Bearer <token>/);
    assert.match(reg.text, /bootstrap token/);
    assert.match(reg.text, /--insecure-registration/);
    // Nor may it heartbeat or deregister the real instance.
    const hb = await post(`${cp.apiUrl}/api/v1/instances/${web.nodeId}/heartbeat`);
    assert.equal(hb.status, 401, hb.text);
    const del = await fetch(`${cp.apiUrl}/api/v1/instances/${web.nodeId}`, { method: 'DELETE' });
    assert.equal(del.status, 401);
    // With another Service's token: 403 naming the identity the token is bound to.
    const clientToken = readFileSync(await cp.tokenFile('client'), 'utf8').trim();
    const other = await post(`${cp.apiUrl}/api/v1/instances`, rogueInstance(rogueApp.port), {
      authorization: `Bearer ${clientToken}`,
    });
    assert.equal(other.status, 403, other.text);
    assert.match(other.text, /bound to spiffe:\/\/cluster\.local\/ns\/default\/sa\/client/);
    assert.ok(!other.text.includes(clientToken), 'the token is not echoed');
    assert.deepEqual(await instances(), [web.nodeId]);

    for (let i = 0; i < 20; i++) {
      const r = await waitFor('a request to web', async () => {
        const x = await httpVia(client.outboundPort, 'web:9080', `/r${i}`);
        return x.status === 200 ? x : undefined;
      });
      assert.equal(r.body, `hello from web /r${i}`);
    }
    assert.equal(rogueApp.seen.length, 0, 'no request reached the rogue app');
    // The control plane's log has no token in it.
    assert.ok(!cp.logs.join('\n').includes(clientToken));
  });
});

describe('--insecure-registration: anonymous registration is accepted', { timeout: 120_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  let app: FakeApp;
  let sidecar: ProxyProcess | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-registration-insecure-'));
    cp = await startControlPlaneProcess({
      dataDir: join(dir, 'data'),
      plaintextXdsPort: 0,
      args: ['--insecure-registration'],
    });
    app = await startFakeApp('web');
    const applied = await trellis(['apply', '-f', '-'], { server: cp.apiUrl, input: mesh(app.port) });
    assert.equal(applied.code, 0, applied.stderr);
  });

  after(async () => {
    await sidecar?.stop('SIGKILL');
    await app?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('warned at start; a registration without a credential and a tokenless sidecar are accepted', async () => {
    assert.match(cp.logs.join('\n'), /--insecure-registration: any local process may register/);
    const reg = await post(`${cp.apiUrl}/api/v1/instances`, rogueInstance(app.port));
    assert.equal(reg.status, 200, reg.text);
    const del = await fetch(`${cp.apiUrl}/api/v1/instances/rogue-1`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    // A plaintext sidecar without any token (the docs/sidecar.md plaintext setup) registers.
    sidecar = await startProxyProcess({
      service: 'web',
      xdsPort: cp.plaintextXdsPort!,
      apiUrl: cp.apiUrl,
      appPort: app.port,
      registration: 'none',
    });
    await untilReady(sidecar, 'the tokenless web sidecar');
    await waitFor('the tokenless sidecar to be registered', async () => {
      const res = await fetch(`${cp.apiUrl}/api/v1/instances`, { headers: adminHeaders(cp.apiUrl) });
      const items = ((await res.json()) as { items: { id: string }[] }).items;
      return items.some((i) => i.id === sidecar!.nodeId) ? true : undefined;
    });
  });
});
