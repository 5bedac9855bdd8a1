import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../common/logger.js';
import { buildCsr, generateWorkloadKey, verifyPeerSpiffeId } from '../../security/workload-identity.js';
import { CaService } from '../ca/ca-service.js';
import { durationField, isLoopback, MAX_CSR_BODY_BYTES, registerCaRoutes } from './ca-routes.js';
import { Router } from './router.js';

let dir: string;
let ca: CaService;
let server: Server;
let base: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-ca-routes-'));
  ca = await CaService.open({ dir, logger: silentLogger() });
  const r = new Router();
  registerCaRoutes(r, ca, silentLogger());
  server = createServer((req, res) => void r.handle(req, res));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  ca.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function token(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}/api/v1/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function csr(uri = 'spiffe://cluster.local/ns/default/sa/somebody-else'): string {
  return buildCsr(generateWorkloadKey(), uri);
}

test('POST /api/v1/certificates: the token decides the identity; no or bad token is 401', async () => {
  const t = await token({ namespace: 'shop', serviceAccount: 'cart', ttl: '1h' });
  assert.equal(t.status, 200);
  assert.equal(t.json['spiffeId'], 'spiffe://cluster.local/ns/shop/sa/cart');
  const value = t.json['token'] as string;
  const ok = await fetch(`${base}/api/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${value}`, 'x-trellis-node-id': 'cart-1' },
    body: csr(),
  });
  assert.equal(ok.status, 200);
  const issued = (await ok.json()) as {
    spiffeId: string;
    chainPem: string;
    trustBundlePem: string;
    etag: string;
  };
  assert.equal(issued.spiffeId, 'spiffe://cluster.local/ns/shop/sa/cart');
  assert.ok(verifyPeerSpiffeId(issued.chainPem, issued.spiffeId, issued.trustBundlePem).ok);

  const none = await fetch(`${base}/api/v1/certificates`, { method: 'POST', body: csr() });
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
  const bad = await fetch(`${base}/api/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${value.slice(0, -4)}AAAA` },
    body: csr(),
  });
  assert.equal(bad.status, 401);
  const text = await bad.text();
  assert.doesNotMatch(text, /tbt1/);
  assert.match(text, /UNAUTHENTICATED/);

  const big = await fetch(`${base}/api/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${value}` },
    body: 'x'.repeat(MAX_CSR_BODY_BYTES + 1),
  });
  assert.equal(big.status, 413);
  const junk = await fetch(`${base}/api/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${value}` },
    body: 'not a csr',
  });
  assert.equal(junk.status, 400);
  assert.match(await junk.text(), /csr: /);
  const badNode = await fetch(`${base}/api/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${value}`, 'x-trellis-node-id': 'a b' },
    body: csr(),
  });
  assert.equal(badNode.status, 400);

  const list = (await (await fetch(`${base}/api/v1/certificates`)).json()) as {
    items: { instance: string; spiffeId: string }[];
    trustBundlePem: string;
  };
  assert.deepEqual(
    list.items.map((i) => [i.instance, i.spiffeId]),
    [['cart-1', 'spiffe://cluster.local/ns/shop/sa/cart']],
  );
  assert.match(list.trustBundlePem, /BEGIN CERTIFICATE/);
});

test('POST /api/v1/tokens: bad input names the field', async () => {
  const noSa = await token({ namespace: 'shop' });
  assert.equal(noSa.status, 400);
  assert.match(JSON.stringify(noSa.json), /serviceAccount: must be a non-empty string/);
  const badTtl = await token({ serviceAccount: 'x', ttl: '1 day' });
  assert.equal(badTtl.status, 400);
  assert.match(JSON.stringify(badTtl.json), /ttl: must be a Gateway API duration/);
  const badNs = await token({ namespace: 'Shop', serviceAccount: 'x' });
  assert.equal(badNs.status, 400);
  assert.match(JSON.stringify(badNs.json), /namespace/);
});

test('GET /api/v1/trust-bundle: JSON or PEM, long poll answers on rotation', async () => {
  const b = (await (await fetch(`${base}/api/v1/trust-bundle`)).json()) as {
    etag: string;
    trustBundlePem: string;
  };
  const pem = await fetch(`${base}/api/v1/trust-bundle?format=pem`);
  assert.equal(pem.headers.get('content-type'), 'application/x-pem-file');
  assert.equal(await pem.text(), b.trustBundlePem);
  const waiting = fetch(`${base}/api/v1/trust-bundle?wait=${b.etag}&timeout=20`).then(
    (r) => r.json() as Promise<{ etag: string }>,
  );
  await new Promise((r) => setTimeout(r, 100));
  const rot = await fetch(`${base}/api/v1/ca/rotate`, { method: 'POST', body: '{}' });
  assert.equal(rot.status, 200);
  assert.equal(((await rot.json()) as { rotated: string }).rotated, 'intermediate');
  assert.notEqual((await waiting).etag, b.etag);
  const overlapNoRoot = await fetch(`${base}/api/v1/ca/rotate`, { method: 'POST', body: '{"overlap":"1h"}' });
  assert.equal(overlapNoRoot.status, 400);
});

test('helpers: loopback addresses, durations', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
  for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '', 'fe80::1']) assert.ok(!isLoopback(a), a);
  assert.equal(durationField('24h', 'ttl'), 86_400_000);
  assert.equal(durationField(90, 'ttl'), 90_000);
  assert.equal(durationField(undefined, 'ttl'), undefined);
  assert.throws(() => durationField('-1s', 'overlap'), /overlap: must be/);
});
