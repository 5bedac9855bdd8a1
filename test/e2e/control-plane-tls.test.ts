// End to end: sidecars reach a real control plane over TLS. The control plane serves its secure
// port with a certificate from its own CA (spiffe://cluster.local/ns/trellis-system/sa/control-plane,
// renewed every ~10 s here: 20 s certificates) and has no plaintext xDS port unless asked. A
// sidecar with --ca-bundle and a token gets its config, registers and gets its certificate over
// that port only; after a control-plane restart it reconnects presenting its workload certificate,
// which the control plane logs and checks: a sidecar whose certificate names another Service is
// refused. A sidecar trusting another CA refuses the control plane, says why, and keeps trying.
// Without a client certificate the secure port serves only the bootstrap calls (401 on
// registration), and a sidecar with --ca-bundle but no token is refused at start.
// The plaintext xDS listener is off by default, works on loopback when asked, and is refused on
// any other address; a plaintext sidecar pointed at another machine is refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect as tlsConnect } from 'node:tls';
import { CertificateAuthority } from '../../src/security/ca.js';
import {
  adminHeaders,
  freePort,
  registerAdminTokenFile,
  TRELLIS_BIN,
  trellis,
  waitFor,
} from './helpers/processes.js';
import { startProxyProcess, type ProxyProcess, untilReady } from './helpers/sidecar.js';

const CP_ID = 'spiffe://cluster.local/ns/trellis-system/sa/control-plane';

interface CpRun {
  proc: ChildProcess;
  logs: string[];
  ready: Record<string, unknown>;
}

let dir: string;
let apiPort = 0;
let securePort = 0;
let api = '';
let caBundle = '';
let cp: CpRun | undefined;
const extra: CpRun[] = [];
const sidecars: ProxyProcess[] = [];

/** Starts `trellis control-plane` with `args`; resolves with its ready line, or with its exit. */
async function runControlPlane(
  args: readonly string[],
): Promise<CpRun & { exit?: { code: number | null; out: string } }> {
  const proc = spawn(process.execPath, [TRELLIS_BIN, 'control-plane', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`control plane not ready:\n${logs.join('\n')}`)), 20_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      logs.push(line);
      try {
        const rec = JSON.parse(line) as { msg?: string };
        if (rec.msg === 'control plane ready') {
          clearTimeout(t);
          resolve({ proc, logs, ready: rec });
        }
      } catch {
        /* not JSON */
      }
    });
    createInterface({ input: proc.stderr! }).on('line', (l) => logs.push(l));
    proc.once('exit', (code) => {
      clearTimeout(t);
      resolve({ proc, logs, ready: {}, exit: { code, out: logs.join('\n') } });
    });
  });
}

async function stop(r: CpRun | undefined): Promise<void> {
  if (!r || r.proc.exitCode !== null || r.proc.signalCode !== null) return;
  r.proc.kill('SIGTERM');
  await once(r.proc, 'exit');
}

const mainArgs = (): string[] => [
  '--data-dir',
  join(dir, 'data'),
  '--api-port',
  String(apiPort),
  '--secure-port',
  String(securePort),
  '--workload-cert-ttl',
  '20s',
];

async function tokenFile(service: string, sa = service): Promise<string> {
  const r = await trellis(['token', 'create', '--service', sa, '--ttl', '1h'], { server: api });
  assert.equal(r.code, 0, r.stderr);
  const file = join(dir, `${service}-as-${sa}.token`);
  writeFileSync(file, r.stdout, { mode: 0o600 });
  return file;
}

/** The serving certificate the secure port presents now (serial, SANs, ALPN chosen). */
function servingCert(alpn: string): Promise<{ serial: string; san: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      {
        host: '127.0.0.1',
        port: securePort,
        ca: caBundle ? [readBundle()] : [],
        ALPNProtocols: [alpn],
        servername: 'localhost',
      },
      () => {
        const c = s.getPeerCertificate();
        resolve({ serial: c.serialNumber, san: c.subjectaltname ?? '', alpn: s.alpnProtocol ?? false });
        s.end();
      },
    );
    s.on('error', reject);
  });
}
let bundleText = '';
const readBundle = (): string => bundleText;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-cp-tls-'));
  apiPort = await freePort();
  securePort = await freePort();
  api = `http://127.0.0.1:${apiPort}`;
  registerAdminTokenFile(api, join(dir, 'data', 'admin.token'));
  cp = await runControlPlane(mainArgs());
  assert.equal(cp.ready['securePort'], securePort, cp.logs.join('\n'));
  bundleText = await (await fetch(`${api}/api/v1/trust-bundle?format=pem`)).text();
  caBundle = join(dir, 'bundle.pem');
  writeFileSync(caBundle, bundleText);
  for (const name of ['web', 'liar'])
    await fetch(`${api}/api/v1/apply`, {
      method: 'POST',
      headers: adminHeaders(api, { 'content-type': 'application/json' }),
      body: JSON.stringify({
        apiVersion: 'trellis.dev/v1alpha1',
        kind: 'Service',
        metadata: { name, namespace: 'default' },
        spec: { ports: [{ name: 'http', port: 80, protocol: 'http' }] },
      }),
    });
});

after(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await stop(cp);
  await Promise.all(extra.map(stop));
  rmSync(dir, { recursive: true, force: true });
});

test('the secure port: the control plane identity on TLS, no plaintext xDS unless asked, sidecar routes only', async () => {
  assert.equal(cp!.ready['spiffeId'], CP_ID);
  assert.equal(cp!.ready['plaintextXdsPort'], undefined, 'no plaintext xDS listener by default');
  const h2 = await servingCert('h2');
  assert.equal(h2.alpn, 'h2');
  assert.match(h2.san, new RegExp(`URI:${CP_ID}`));
  assert.match(h2.san, /DNS:localhost/);
  assert.match(h2.san, /IP Address:127\.0\.0\.1/);
  assert.equal((await servingCert('http/1.1')).alpn, 'http/1.1');

  // Plaintext HTTP/2 (what a proxyless client without TLS would send) gets no xDS there.
  const plain = http2.connect(`http://127.0.0.1:${securePort}`);
  plain.on('error', () => undefined);
  const failed = await new Promise<boolean>((resolve) => {
    const req = plain.request({
      ':method': 'POST',
      ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      'content-type': 'application/grpc',
    });
    req.on('response', () => resolve(false));
    req.on('error', () => resolve(true));
    req.on('close', () => resolve(true));
    setTimeout(() => resolve(true), 3000);
  });
  plain.destroy();
  assert.ok(failed, 'an h2c client must not get a session on the secure port');

  // Over HTTPS the secure port answers the sidecar calls, not the admin API.
  const https = await import('node:https');
  const call = (method: string, path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: securePort, path, method, ca: bundleText, servername: 'localhost' },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  const bundle = await call('GET', '/api/v1/trust-bundle');
  assert.equal(bundle.status, 200);
  assert.equal((JSON.parse(bundle.body) as { trustBundlePem: string }).trustBundlePem, bundleText);
  const resources = await call('GET', '/api/v1/resources');
  assert.equal(resources.status, 404);
  assert.match(resources.body, /not served on the secure port/);
  assert.equal((await call('POST', '/api/v1/tokens')).status, 404, 'tokens only on the loopback API');
  // Without a client certificate: no registration (401, saying what is missing).
  const reg = await call('POST', '/api/v1/instances');
  assert.equal(reg.status, 401);
  assert.match(reg.body, /"UNAUTHENTICATED".*client certificate.*required/);
  assert.equal((await call('GET', '/healthz')).status, 200);
  // The reserved identity: no token for the control plane's own SPIFFE ID.
  const r = await trellis(
    ['token', 'create', '--service', 'x', '-n', 'trellis-system', '--service-account', 'control-plane'],
    { server: api },
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /control plane's own identity/);
});

test('a sidecar with --ca-bundle and a plaintext loopback --api gets its certificate and registers over that API', async () => {
  const plainApi = await startProxyProcess({
    service: 'plain-api',
    xdsPort: securePort,
    apiUrl: api,
    caBundle,
    appPort: (await startApp()).port,
    args: ['--token-file', await tokenFile('plain-api')],
  });
  sidecars.push(plainApi);
  await untilReady(plainApi, 'plain-api (config over TLS, API over loopback http)', 20_000);
  const certs = await waitFor('a certificate over the plaintext API', async () => {
    const s = JSON.parse((await plainApi.admin('/certs')).body) as { state: string; spiffeId?: string };
    return s.state === 'ok' ? s : undefined;
  });
  assert.equal(certs.spiffeId, 'spiffe://cluster.local/ns/default/sa/plain-api');
  await waitFor('registered over the plaintext API', async () => {
    const list = (await (await fetch(`${api}/api/v1/instances`, { headers: adminHeaders(api) })).json()) as {
      items: { id: string }[];
    };
    return list.items.some((i) => i.id === plainApi.nodeId) ? true : undefined;
  });
});

test('a sidecar with --ca-bundle gets config, registers and gets its certificate over TLS only; mTLS after a restart', async () => {
  const web = await startProxyProcess({
    service: 'web',
    xdsPort: securePort,
    apiUrl: `https://127.0.0.1:${securePort}`,
    caBundle,
    appPort: (await startApp()).port,
    args: ['--token-file', await tokenFile('web')],
  });
  sidecars.push(web);
  // A sidecar whose token (certificate) is for another Service than it claims.
  const liar = await startProxyProcess({
    service: 'liar',
    xdsPort: securePort,
    apiUrl: `https://127.0.0.1:${securePort}`,
    caBundle,
    appPort: 0,
    args: ['--token-file', await tokenFile('liar', 'web')],
  });
  sidecars.push(liar);
  await untilReady(web, 'web (config over TLS, registered)', 20_000);
  const certs = await waitFor('a certificate', async () => {
    const s = JSON.parse((await web.admin('/certs')).body) as { state: string; spiffeId?: string };
    return s.state === 'ok' ? s : undefined;
  });
  assert.equal(certs.spiffeId, 'spiffe://cluster.local/ns/default/sa/web');
  const instances = (await (
    await fetch(`${api}/api/v1/instances`, { headers: adminHeaders(api) })
  ).json()) as { items: { id: string }[] };
  assert.ok(
    instances.items.some((i) => i.id === web.nodeId),
    'registered over the secure port',
  );
  assert.ok(
    cp!.logs.some(
      (l) => l.includes('"proxy connected"') && l.includes(web.nodeId) && l.includes('"transport":"TLSv1.3"'),
    ),
    'the control plane saw the sidecar over TLS 1.3',
  );
  assert.ok(!web.logs.some((l) => /no --ca-bundle/.test(l)), 'no plaintext warning with a bundle');
  await waitFor('the liar to hold its (web) certificate', async () => {
    const s = JSON.parse((await liar.admin('/certs')).body) as { state: string };
    return s.state === 'ok';
  });

  // The serving certificate renews (20 s lifetime) while the sidecar stays connected.
  const before = await servingCert('h2');
  await waitFor(
    'the serving certificate to be renewed',
    async () => (await servingCert('h2')).serial !== before.serial,
    20_000,
  );
  assert.ok(cp!.logs.some((l) => l.includes('serving certificate renewed')));
  // Meanwhile the sidecar's API calls present its certificate (mTLS), each one verified in full.
  assert.ok(!cp!.logs.some((l) => l.includes('client certificate refused')), 'no client certificate refused');
  assert.ok(!web.logs.some((l) => /heartbeat failed|registration failed/.test(l)), 'heartbeats over mTLS');

  // Restart the control plane: the sidecars reconnect presenting their workload certificates.
  await stop(cp);
  cp = await runControlPlane(mainArgs());
  const seen = await waitFor(
    'web to reconnect with its certificate',
    () =>
      cp!.logs.find(
        (l) =>
          l.includes('"proxy connected"') &&
          l.includes(web.nodeId) &&
          l.includes('"peerIdentity":"spiffe://cluster.local/ns/default/sa/web"'),
      ),
    20_000,
  );
  assert.match(seen, /TLSv1\.3/);
  const refused = await waitFor(
    'the liar to be refused',
    () => cp!.logs.find((l) => l.includes('"proxy refused"') && l.includes(liar.nodeId)),
    20_000,
  );
  assert.match(refused, /sa\/web; it may not act for Service default\/liar/);
  await waitFor(
    'the liar to log the refusal',
    () => liar.logs.find((l) => l.includes('ADS stream lost') && l.includes('PERMISSION_DENIED')),
    10_000,
  );
  await untilReady(web, 'web (again)', 20_000);
});

test('a sidecar trusting another CA refuses the control plane, says why, and keeps trying', async () => {
  const other = await CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const otherBundle = join(dir, 'other-bundle.pem');
  writeFileSync(otherBundle, other.trustBundlePem());
  const s = await startProxyProcess({
    service: 'web',
    xdsPort: securePort,
    apiUrl: `https://127.0.0.1:${securePort}`,
    caBundle: otherBundle,
    appPort: 0,
    args: ['--token-file', await tokenFile('web')],
  });
  sidecars.push(s);
  // The certificate request fails (xDS waits for the certificate: the TLS port serves xDS to
  // workloads with one only).
  const certs = await waitFor('the certificate request to fail', async () => {
    const st = JSON.parse((await s.admin('/certs')).body) as { state: string; lastError?: string };
    return st.lastError ? st : undefined;
  });
  assert.equal(certs.state, 'starting');
  assert.match(
    certs.lastError ?? '',
    /not trusted.*other-bundle\.pem the trust bundle of this control plane's CA/,
  );
  assert.ok(!s.logs.some((l) => l.includes('ADS stream')), 'no xDS stream without a certificate');
  assert.notEqual((await s.admin('/ready')).status, 200);
  assert.equal(s.proc.exitCode, null, 'keeps running and retrying');
});

test('plaintext xDS: on loopback when asked (a sidecar without a bundle uses it), refused elsewhere', async () => {
  const plainPort = await freePort();
  const other = await runControlPlane([
    '--data-dir',
    join(dir, 'data-plain'),
    '--api-port',
    '0',
    '--secure-port',
    '0',
    '--plaintext-xds-port',
    String(plainPort),
  ]);
  extra.push(other);
  assert.equal(other.ready['plaintextXdsPort'], plainPort, other.logs.join('\n'));
  const otherApi = `http://127.0.0.1:${String(other.ready['apiPort'])}`;
  const s = await startProxyProcess({ service: 'plain', xdsPort: plainPort, apiUrl: otherApi, appPort: 0 });
  sidecars.push(s);
  await untilReady(s, 'the plaintext sidecar', 20_000);
  assert.ok(
    s.logs.some((l) => l.includes('no --ca-bundle')),
    'the sidecar warns about plaintext',
  );
  assert.ok(other.logs.some((l) => l.includes('"proxy connected"') && l.includes('"transport":"plaintext"')));

  for (const bad of ['0.0.0.0:0', '10.1.2.3:15010']) {
    const r = await runControlPlane([
      '--data-dir',
      join(dir, 'data-bad'),
      '--api-port',
      '0',
      '--secure-port',
      '0',
      '--plaintext-xds-port',
      bad,
    ]);
    if (!r.exit) extra.push(r);
    assert.ok(r.exit, `--plaintext-xds-port ${bad} must be refused`);
    assert.notEqual(r.exit.code, 0);
    assert.match(r.exit.out, /is not a loopback address/);
  }

  // A sidecar with a bundle but no token could never get config from the TLS port: refused at start.
  const nt = spawn(
    process.execPath,
    [TRELLIS_BIN, 'proxy', '--service', 'web', '--ca-bundle', caBundle, '--app-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '' } },
  );
  let ntOut = '';
  nt.stderr.on('data', (d: Buffer) => (ntOut += d.toString()));
  nt.stdout.on('data', (d: Buffer) => (ntOut += d.toString()));
  const [ntCode] = (await once(nt, 'exit')) as [number | null];
  assert.notEqual(ntCode, 0);
  assert.match(ntOut, /--ca-bundle needs --token-file FILE \(or TRELLIS_TOKEN_FILE, or TRELLIS_TOKEN\)/);

  // A sidecar without a bundle may not speak plaintext to another machine.
  const p = spawn(
    process.execPath,
    [TRELLIS_BIN, 'proxy', '--service', 'web', '--control-plane', '192.0.2.10:15010', '--app-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  p.stdout.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  assert.notEqual(code, 0);
  assert.match(err, /192\.0\.2\.10:15010 is not on this machine.*--ca-bundle/);
});

async function startApp(): Promise<{ port: number }> {
  const { startFakeApp } = await import('./helpers/sidecar.js');
  const app = await startFakeApp('web');
  apps.push(app);
  return app;
}
const apps: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(apps.map((a) => a.close()));
});
