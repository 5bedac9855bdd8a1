// `grpc-agent --serve`'s registration against a fake control plane API on loopback: nothing until
// the server's port accepts, then one registration (proxyless, mtls, labels); deregistration after
// three failed probes, a new registration when it accepts again, and on stop.
import assert from 'node:assert/strict';
import { createServer as createHttp, type IncomingMessage } from 'node:http';
import { createServer as createTcp, type Server } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import { startServeRegistration } from './grpc-agent-serve.js';

const waitFor = async (what: string, ok: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('registers the server while its port accepts, deregisters when it stops accepting and on stop', async () => {
  const calls: { method: string; url: string; body: Record<string, unknown> | undefined }[] = [];
  const api = createHttp((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      calls.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  api.listen(0, '127.0.0.1');
  await once(api, 'listening');
  const apiPort = (api.address() as { port: number }).port;
  // A port for the "gRPC server": taken, then freed, so nothing listens on it yet.
  const probe = createTcp().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));

  const serving = startServeRegistration({
    api: `http://127.0.0.1:${apiPort}`,
    logger: silentLogger(),
    id: 'inventory-1',
    service: 'inventory',
    namespace: 'default',
    target: { host: '127.0.0.1', port },
    labels: { version: 'v2' },
    ttlSeconds: 30,
    probeIntervalMs: 30,
  });
  let server: Server | undefined;
  try {
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(calls.length, 0, 'nothing registered while the port refuses');
    server = createTcp((s) => s.destroy()).listen(port, '127.0.0.1');
    await once(server, 'listening');
    await waitFor('the registration', () => calls.some((c) => c.method === 'POST'));
    assert.deepEqual(calls[0], {
      method: 'POST',
      url: '/api/v1/instances',
      body: {
        id: 'inventory-1',
        service: 'inventory',
        namespace: 'default',
        address: '127.0.0.1',
        port,
        labels: { version: 'v2' },
        ttlSeconds: 30,
        proxyless: true,
        mtls: true,
      },
    });
    await new Promise((r) => server!.close(r));
    await waitFor('the deregistration', () => calls.some((c) => c.method === 'DELETE'));
    assert.equal(calls.find((c) => c.method === 'DELETE')?.url, '/api/v1/instances/inventory-1');
    server = createTcp((s) => s.destroy()).listen(port, '127.0.0.1');
    await once(server, 'listening');
    await waitFor('a new registration', () => calls.filter((c) => c.method === 'POST').length === 2);
  } finally {
    await serving.stop(1000);
    if (server?.listening) await new Promise((r) => server!.close(r));
    api.close();
  }
  assert.equal(calls.at(-1)?.method, 'DELETE', 'stop deregisters');
});
