import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { AddressInfo } from 'node:net';
import { FakeClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/logger.js';
import { CaService } from '../../src/control-plane/ca/ca-service.js';
import { registerCaRoutes } from '../../src/control-plane/http-api/ca-routes.js';
import { Router } from '../../src/control-plane/http-api/router.js';
import { pemBlocks } from '../../src/security/der.js';
import {
  SidecarIdentity,
  type IdentityChange,
  type IdentityFetch,
} from '../../src/proxy/identity/sidecar-identity.js';
import {
  fileTokenSource,
  peekToken,
  staticTokenSource,
  tokenSourceFrom,
} from '../../src/proxy/identity/token-source.js';

let dir: string;
let ca: CaService;
let server: Server;
let api: string;
const clock = new FakeClock(Date.now());

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-sidecar-id-'));
  ca = await CaService.open({ dir: join(dir, 'ca'), logger: silentLogger(), clock, workloadTtlMs: 600_000 });
  const r = new Router();
  registerCaRoutes(r, ca, silentLogger());
  server = createServer((req, res) => void r.handle(req, res));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  ca.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, fn: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function identity(token: string, fetch?: IdentityFetch, random = () => 0.5): SidecarIdentity {
  return new SidecarIdentity({
    api,
    nodeId: 'web-1',
    token: staticTokenSource(token, 'test'),
    logger: silentLogger(),
    clock,
    random,
    ...(fetch ? { fetch } : {}),
    watchSeconds: 5,
  });
}

test('obtains a certificate for the token identity, renews at ~50 % with a new key, no key in status', async () => {
  const tok = ca.issueToken({ namespace: 'default', serviceAccount: 'web' }).reveal();
  const id = identity(tok);
  const events: IdentityChange[] = [];
  id.onChange((_m, why) => events.push(why));
  id.start();
  clock.advance(0);
  const m = await id.whenReady();
  try {
    assert.equal(m.spiffeId, 'spiffe://cluster.local/ns/default/sa/web');
    assert.match(m.keyPem, /BEGIN PRIVATE KEY/);
    assert.equal(pemBlocks(m.certChainPem, 'CERTIFICATE').length, 2);
    assert.ok(m.secureContext(), 'a TLS context can be made from the material');
    const st = id.status();
    assert.equal(st.state, 'ok');
    assert.equal(st.serialNumber, m.serialNumber);
    const shown = JSON.stringify(st) + inspect(m) + JSON.stringify(m);
    assert.doesNotMatch(shown, /PRIVATE KEY|tbt1/);
    // Renewal at 50 % (random 0.5) of the remaining 10 minutes.
    const next = Date.parse(st.nextRenewalAt!) - clock.now();
    assert.ok(Math.abs(next - 300_000) < 2000, `renewal in ${next} ms`);
    assert.match(id.renderMetrics(), /trellis_identity_ready 1/);
    clock.advance(next);
    await until('renewal', () => id.status().renewals === 1);
    const m2 = id.current()!;
    assert.notEqual(m2.serialNumber, m.serialNumber);
    assert.notEqual(m2.keyPem, m.keyPem, 'a new key per renewal');
    assert.deepEqual(events, ['issued', 'renewed']);
  } finally {
    id.close();
  }
});

test('retries with backoff while the control plane is away; a bad token is reported', async () => {
  const tok = ca.issueToken({ namespace: 'default', serviceAccount: 'retry' }).reveal();
  let fails = 2;
  const flaky: IdentityFetch = (url, init) => {
    if (url.includes('/certificates') && fails-- > 0) return Promise.reject(new TypeError('fetch failed'));
    return fetch(url, init);
  };
  const id = identity(tok, flaky);
  id.start();
  clock.advance(0);
  try {
    await until('first failure', () => id.status().failures === 1);
    assert.match(id.status().lastError ?? '', /cannot reach the control plane/);
    clock.advance(1000);
    await until('second failure', () => id.status().failures === 2);
    clock.advance(2000);
    const m = await id.whenReady();
    assert.equal(m.spiffeId, 'spiffe://cluster.local/ns/default/sa/retry');
    assert.equal(id.status().failures, 0);
  } finally {
    id.close();
  }
  const bad = identity(tok.slice(0, -4) + 'AAAA');
  bad.start();
  clock.advance(0);
  try {
    await until('refusal', () => id && bad.status().failures === 1);
    assert.match(bad.status().lastError ?? '', /HTTP 401/);
    assert.equal(bad.status().state, 'starting');
    assert.match(bad.renderMetrics(), /trellis_identity_ready 0/);
  } finally {
    bad.close();
  }
});

test('a rotation reaches the sidecar through the bundle watch: new issuer -> early renewal; new root -> bundle', async () => {
  const tok = ca.issueToken({ namespace: 'default', serviceAccount: 'rot' }).reveal();
  const id = identity(tok);
  const events: IdentityChange[] = [];
  id.onChange((_m, why) => events.push(why));
  id.start();
  clock.advance(0);
  const m = await id.whenReady();
  try {
    await new Promise((r) => setTimeout(r, 100)); // the watch is parked on the control plane
    await ca.rotateIntermediate();
    await until('renewal moved earlier', () => Date.parse(id.status().nextRenewalAt!) - clock.now() <= 5000);
    clock.advance(5000);
    await until('early renewal', () => id.status().renewals === 1);
    assert.notEqual(id.current()!.issuerFingerprint256, m.issuerFingerprint256);
    await new Promise((r) => setTimeout(r, 100));
    await ca.rotateRoot({ overlapMs: 3_600_000, distributeMs: 60_000 });
    await until('two-root bundle', () => pemBlocks(id.current()!.trustBundlePem, 'CERTIFICATE').length === 2);
    assert.ok(events.includes('trust-bundle'));
    assert.equal(id.status().trustBundle?.roots, 2);
  } finally {
    id.close();
  }
});

test('a renewal answered with an older bundle than the watch delivered meanwhile does not keep it', async () => {
  // Its own CA: a root rotation can only run once per CA here.
  const d2 = mkdtempSync(join(tmpdir(), 'trellis-sidecar-id2-'));
  const c2 = new FakeClock(Date.now());
  const ca2 = await CaService.open({
    dir: join(d2, 'ca'),
    logger: silentLogger(),
    clock: c2,
    workloadTtlMs: 600_000,
  });
  const r = new Router();
  registerCaRoutes(r, ca2, silentLogger());
  const s2 = createServer((req, res) => void r.handle(req, res));
  await new Promise<void>((res) => s2.listen(0, '127.0.0.1', res));
  const api2 = `http://127.0.0.1:${(s2.address() as AddressInfo).port}`;
  // Holds the answer of a certificate request once `gate` is set, until it is released.
  let gate: Promise<void> | undefined;
  let held = false;
  const gated: IdentityFetch = async (url, init) => {
    const res = await fetch(url, init);
    if (url.includes('/certificates') && gate) {
      held = true;
      await gate;
    }
    return res;
  };
  const tok = ca2.issueToken({ namespace: 'default', serviceAccount: 'late' }).reveal();
  const id = new SidecarIdentity({
    api: api2,
    nodeId: 'late-1',
    token: staticTokenSource(tok, 'test'),
    logger: silentLogger(),
    clock: c2,
    random: () => 0.5,
    fetch: gated,
    watchSeconds: 25,
  });
  const roots = () => pemBlocks(id.current()!.trustBundlePem, 'CERTIFICATE').length;
  try {
    id.start();
    c2.advance(0);
    await id.whenReady();
    assert.equal(roots(), 1);
    await new Promise((res) => setTimeout(res, 100)); // the watch is parked on the control plane
    let release!: () => void;
    gate = new Promise<void>((res) => (release = res));
    // The renewal's answer (one root) is computed now and held back...
    c2.advance(Date.parse(id.status().nextRenewalAt!) - c2.now());
    await until('renewal answered and held', () => held);
    // ...while a root rotation reaches the sidecar through the watch (two roots)...
    await ca2.rotateRoot({ overlapMs: 3_600_000, distributeMs: 60_000 });
    await until('two-root bundle from the watch', () => roots() === 2);
    // ...then the stale answer lands: its one-root bundle must not stay in force until the watch's
    // long poll (25 s here, on a clock that does not move) would have ended.
    release();
    await until('renewal applied', () => id.status().renewals === 1);
    await until('two-root bundle again, at once', () => roots() === 2, 3000);
    assert.equal(id.status().trustBundle?.roots, 2);
  } finally {
    id.close();
    ca2.close();
    s2.closeAllConnections();
    await new Promise((res) => s2.close(res));
    rmSync(d2, { recursive: true, force: true });
  }
});

test('token sources: file re-read each time, loose mode warned, env fallback, peek', async () => {
  const f = join(dir, 'tok');
  writeFileSync(f, 'one\n', { mode: 0o644 });
  chmodSync(f, 0o644);
  let loose = 0;
  const src = fileTokenSource(f, () => loose++);
  assert.equal(await src.read(), 'one');
  writeFileSync(f, 'two\n');
  assert.equal(await src.read(), 'two');
  assert.equal(loose, 1);
  writeFileSync(f, '');
  await assert.rejects(src.read(), /is empty/);
  await assert.rejects(fileTokenSource(join(dir, 'nope')).read(), /cannot read the token file .*ENOENT/);
  assert.equal(tokenSourceFrom(undefined, {}), undefined);
  assert.equal(tokenSourceFrom(undefined, { TRELLIS_TOKEN: ' x ' })?.description, 'TRELLIS_TOKEN');
  assert.equal(tokenSourceFrom(f, { TRELLIS_TOKEN: 'x' })?.description, `file ${f}`);
  const t = ca.issueToken({ namespace: 'ns1', serviceAccount: 'sa1' });
  assert.equal(peekToken(t.reveal())?.identity.uri, 'spiffe://cluster.local/ns/ns1/sa/sa1');
  assert.equal(peekToken('garbage'), undefined);
});
