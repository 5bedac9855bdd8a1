// End to end: workload identity with a real control plane (workload certificates of 20 s) and real
// sidecars holding bootstrap-token files: the chain a sidecar obtains passes `openssl verify` and
// names its SPIFFE ID; a token gets only its own identity (whatever the CSR asks); a bad token is
// 401; the certificate renews before it expires, and moves to a new intermediate after
// `trellis ca rotate`; `trellis certs` (and -o json with the PEM chain) and `trellis token create`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needOpenssl, openssl, opensslOk } from '../../src/security/testing.js';
import { startControlPlaneProcess, trellis, waitFor, type ControlPlaneProcess } from './helpers/processes.js';
import { startProxyProcess, type ProxyProcess } from './helpers/sidecar.js';

interface CertsStatus {
  enabled: boolean;
  state: string;
  spiffeId?: string;
  serialNumber?: string;
  notAfter?: string;
  nextRenewalAt?: string;
  renewals?: number;
  issuerFingerprint256?: string;
}
interface CertsJson {
  trustBundlePem: string;
  ca: { intermediate: { fingerprint256: string } };
  items: { spiffeId: string; instance?: string; serialNumber: string; chainPem: string; state: string }[];
  warnings: string[];
}

let dir: string;
let cp: ControlPlaneProcess;
let api = '';
let xdsPort = 0;
let securePort = 0;
let caBundle = '';
const sidecars: ProxyProcess[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-e2e-identity-'));
  cp = await startControlPlaneProcess({
    dataDir: join(dir, 'data'),
    plaintextXdsPort: 0,
    args: ['--workload-cert-ttl', '20s'],
  });
  api = cp.apiUrl;
  xdsPort = cp.plaintextXdsPort!;
  securePort = cp.xdsPort;
  caBundle = join(dir, 'bundle.pem');
  writeFileSync(caBundle, await (await fetch(`${api}/api/v1/trust-bundle?format=pem`)).text());
});

after(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function tokenFile(service: string): Promise<string> {
  const r = await trellis(['token', 'create', '--service', service, '--ttl', '1h'], { server: api });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tbt1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
  assert.match(r.stderr, new RegExp(`for spiffe://cluster.local/ns/default/sa/${service}, valid until`));
  const file = join(dir, `${service}.token`);
  writeFileSync(file, r.stdout, { mode: 0o600 });
  return file;
}

async function status(s: ProxyProcess): Promise<CertsStatus> {
  return JSON.parse((await s.admin('/certs')).body) as CertsStatus;
}

async function certsJson(): Promise<CertsJson> {
  const r = await trellis(['certs', '-o', 'json'], { server: api });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CertsJson;
}

test('a sidecar with a token file gets a verifiable certificate for its identity, renews it, follows a rotation', async (t) => {
  if (!needOpenssl(t)) return;
  // Over TLS to the control plane (its secure port), like `trellis up` runs sidecars.
  const web = await startProxyProcess({
    service: 'web',
    xdsPort: securePort,
    apiUrl: `https://127.0.0.1:${securePort}`,
    caBundle,
    appPort: 0,
    args: ['--token-file', await tokenFile('web')],
  });
  sidecars.push(web);
  const plain = await startProxyProcess({ service: 'plain', xdsPort, apiUrl: api, appPort: 0 });
  sidecars.push(plain);

  const first = await waitFor('a certificate', async () => {
    const s = await status(web);
    return s.state === 'ok' ? s : undefined;
  });
  assert.equal(first.spiffeId, 'spiffe://cluster.local/ns/default/sa/web');
  const adminText = (await web.admin('/certs')).body + (await web.admin('/stats')).body;
  assert.doesNotMatch(adminText, /PRIVATE KEY|tbt1\./, 'no key or token on the admin endpoint');
  assert.match((await web.admin('/stats')).body, /trellis_identity_ready 1/);

  // The chain the CA issued to this sidecar (same serial), checked by openssl.
  const report = await certsJson();
  const mine = report.items.find((i) => i.instance === web.nodeId);
  assert.ok(mine, JSON.stringify(report.items));
  assert.equal(mine.serialNumber, first.serialNumber);
  const [leaf, inter] = mine.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
  writeFileSync(join(dir, 'leaf.pem'), leaf!);
  writeFileSync(join(dir, 'inter.pem'), inter!);
  writeFileSync(join(dir, 'bundle.pem'), report.trustBundlePem);
  const v = openssl([
    'verify',
    '-CAfile',
    join(dir, 'bundle.pem'),
    '-untrusted',
    join(dir, 'inter.pem'),
    join(dir, 'leaf.pem'),
  ]);
  assert.equal(v.status, 0, v.out);
  const text = opensslOk(['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text']);
  assert.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/);
  assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);

  // Without a token: plaintext, said once.
  assert.equal((await status(plain)).enabled, false);
  assert.equal(plain.logs.filter((l) => l.includes('no bootstrap token')).length, 1);

  // Renewal before expiry (20 s certificates renew at 9-11 s).
  const renewed = await waitFor(
    'a renewal',
    async () => {
      const s = await status(web);
      return s.renewals! >= 1 ? s : undefined;
    },
    20_000,
  );
  assert.notEqual(renewed.serialNumber, first.serialNumber);
  assert.ok(Date.now() < Date.parse(first.notAfter!), 'renewed before the first certificate expired');
  const table = await trellis(['certs'], { server: api });
  assert.equal(table.code, 0, table.stderr);
  assert.match(
    table.stdout,
    new RegExp(
      `spiffe://cluster.local/ns/default/sa/web\\s+${web.nodeId}\\s+${renewed.serialNumber!.slice(0, 12)}`,
    ),
  );
  assert.match(table.stdout, /intermediate\s+CN=Trellis Intermediate CA/);

  // A new intermediate: the sidecar hears of it through the bundle watch and renews onto it.
  const rot = await trellis(['ca', 'rotate'], { server: api });
  assert.equal(rot.code, 0, rot.stderr);
  const newIssuer = (await certsJson()).ca.intermediate.fingerprint256;
  await waitFor(
    'renewal under the new intermediate',
    async () => ((await status(web)).issuerFingerprint256 === newIssuer ? true : undefined),
    15_000,
  );
  const after = await certsJson();
  const moved = after.items.find((i) => i.instance === web.nodeId);
  assert.equal(moved?.state, 'valid');
  assert.match(moved?.chainPem ?? '', /^-----BEGIN CERTIFICATE-----[\s\S]+-----BEGIN CERTIFICATE-----/);
  assert.ok(!cp.logs.some((l) => l.includes('tbt1.')), 'no token in the control plane log');
  assert.ok(
    !web.logs.some((l) => l.includes('tbt1.') || l.includes('PRIVATE KEY')),
    'no secret in the sidecar log',
  );
});

test('a token gets only its own identity, whatever the CSR asks; a bad token is 401', async (t) => {
  if (!needOpenssl(t)) return;
  const token = (await trellis(['token', 'create', '--service', 'web'], { server: api })).stdout.trim();
  // An independent CSR (openssl) asking for another workload's identity.
  const csr = opensslOk([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(dir, 'other.key'),
    '-subj',
    '/CN=payments',
    '-addext',
    'subjectAltName=URI:spiffe://cluster.local/ns/default/sa/payments',
  ]);
  const res = await fetch(`${api}/api/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: csr,
  });
  assert.equal(res.status, 200);
  const issued = (await res.json()) as { spiffeId: string; chainPem: string };
  assert.equal(issued.spiffeId, 'spiffe://cluster.local/ns/default/sa/web');
  writeFileSync(join(dir, 'other-leaf.pem'), issued.chainPem);
  const text = opensslOk(['x509', '-in', join(dir, 'other-leaf.pem'), '-noout', '-text']);
  assert.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/);
  assert.doesNotMatch(text, /payments/);
  await waitFor('the mismatch in the control plane log', () =>
    cp.logs.some((l) => l.includes('CSR asked for another identity')) ? true : undefined,
  );

  for (const bad of [`${token.slice(0, -4)}AAAA`, 'tbt1.e30.xxx', 'nonsense']) {
    const r = await fetch(`${api}/api/v1/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bad}` },
      body: csr,
    });
    assert.equal(r.status, 401, bad);
  }
  const none = await fetch(`${api}/api/v1/certificates`, { method: 'POST', body: csr });
  assert.equal(none.status, 401);
  const badTtl = await trellis(['token', 'create', '--service', 'web', '--ttl', 'forever'], { server: api });
  assert.notEqual(badTtl.code, 0);
  assert.match(badTtl.stderr, /ttl: must be a Gateway API duration/);
});
