// End to end: client certificate validation at the ingress gateway (Gateway API GEP-91:
// spec.tls.frontend.default.validation.caCertificateRefs naming a ConfigMap with ca.crt; a perPort
// entry without validation turns it off on one port). A real control plane, a real app behind a
// real sidecar, a real `trellis proxy --gateway edge`, certificates made by openssl, and real
// clients (node:https, curl). A client certificate from the CA gets through; none, or one from
// another CA, is refused in the handshake; bad references are refused at apply with their paths.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WEB_BEHIND_EDGE_YAML } from '../../src/api/gateway-testing.js';
import { makeTlsCert, secretYaml, type TestCert } from '../../src/security/tls-testing.js';
import { ready, startGatewayTestEnv, type GatewayTestEnv } from './helpers/gateway.js';
import { freePort, trellis, waitFor } from './helpers/processes.js';
import type { FakeApp, TrellisProxyProcess } from './helpers/sidecar.js';

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (e, stdout, stderr) =>
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : -1, out: stdout + stderr }),
    ),
  );
}

interface Pki {
  readonly ca: string;
  readonly client: TestCert;
  readonly files: { readonly cert: string; readonly key: string };
}

/** A CA (openssl) and a client certificate (clientAuth) it signed, as PEM and as files. */
async function pki(dir: string, name: string): Promise<Pki> {
  const f = (x: string) => join(dir, `${name}-${x}`);
  const ok = async (args: string[]) => {
    const r = await run('openssl', args);
    assert.equal(r.code, 0, r.out);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await ok([
    'req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2',
    '-subj', `/CN=${name} client CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign',
  ]); // prettier-ignore
  await ok([
    'req',
    ...ec,
    '-keyout',
    f('client.key'),
    '-out',
    f('client.csr'),
    '-subj',
    `/CN=${name}-client`,
  ]);
  await writeFile(f('ext'), 'extendedKeyUsage=clientAuth\n');
  await ok([
    'x509', '-req', '-in', f('client.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('client.crt'), '-days', '2', '-extfile', f('ext'),
  ]); // prettier-ignore
  const read = (x: string) => readFile(f(x), 'utf8');
  return {
    ca: await read('ca.crt'),
    client: { cert: await read('client.crt'), key: await read('client.key') },
    files: { cert: f('client.crt'), key: f('client.key') },
  };
}

/** One HTTPS request with SNI/Host shop.example, trusting `ca`, with an optional client cert. */
function get(port: number, ca: string, client?: TestCert): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mtls',
        servername: 'shop.example',
        ca,
        ...(client !== undefined ? { cert: client.cert, key: client.key } : {}),
        headers: { host: 'shop.example' },
        agent: false,
        timeout: 5000,
      } as RequestOptions,
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

const gatewayYaml = (port: number, open: number): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  tls:
    frontend:
      default:
        validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: client-ca }] }
      perPort: [{ port: ${open}, tls: {} }]
  listeners:
    - name: shop
      port: ${port}
      protocol: HTTPS
      hostname: shop.example
      tls: { certificateRefs: [{ name: shop-cert }] }
    - name: open
      port: ${open}
      protocol: HTTPS
      tls: { certificateRefs: [{ name: shop-cert }] }
`;

const configMapYaml = (name: string, pem: string): string => `apiVersion: v1
kind: ConfigMap
metadata: { name: ${name} }
data:
  ca.crt: |
${pem
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;

describe('client certificate validation at the ingress gateway (e2e)', { timeout: 180_000 }, () => {
  let env: GatewayTestEnv;
  let app: FakeApp;
  let gw: TrellisProxyProcess;
  let port: number;
  let open: number;
  let shop: TestCert;
  let good: Pki;
  let other: Pki;

  before(async () => {
    env = await startGatewayTestEnv('gateway-client-cert-e2e');
    shop = await makeTlsCert(['shop.example']);
    good = await pki(env.dir, 'good');
    other = await pki(env.dir, 'other');
    port = await freePort();
    open = await freePort();
    await env.apply(
      [
        gatewayYaml(port, open),
        WEB_BEHIND_EDGE_YAML,
        secretYaml('shop-cert', shop),
        configMapYaml('client-ca', good.ca),
      ].join('---\n'),
    );
    ({ app } = await env.startBackend('web', 'web'));
    gw = await env.startGateway('edge');
    await ready(gw, 'the gateway');
    await waitFor(
      'an mTLS request through the gateway',
      async () => (await get(port, shop.cert, good.client).catch(() => undefined))?.status === 200,
      20_000,
    );
  });

  after(async () => {
    await env?.stop();
  });

  test('a client certificate from the CA gets through', async () => {
    const r = await get(port, shop.cert, good.client);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello from web /mtls');
    assert.ok(app.seen.some((s) => s.url === '/mtls'));
  });

  test('no client certificate, or one from another CA, is refused', async () => {
    await assert.rejects(get(port, shop.cert));
    await assert.rejects(get(port, shop.cert, other.client));
    // A self-signed client certificate is not from the CA either.
    await assert.rejects(get(port, shop.cert, await makeTlsCert(['shop.example'])));
  });

  test('a perPort entry without validation: that port asks for no certificate', async () => {
    const r = await get(open, shop.cert);
    assert.equal(r.status, 200);
  });

  test('curl with and without a client certificate', async () => {
    const ca = join(env.dir, 'shop-ca.pem');
    await writeFile(ca, shop.cert);
    const base = [
      '-sS', '--max-time', '5', '--cacert', ca,
      '--resolve', `shop.example:${port}:127.0.0.1`, `https://shop.example:${port}/curl`,
    ]; // prettier-ignore
    const withCert = await run('curl', [...base, '--cert', good.files.cert, '--key', good.files.key]);
    assert.equal(withCert.code, 0, withCert.out);
    assert.match(withCert.out, /hello from web \/curl/);
    const without = await run('curl', base);
    assert.notEqual(without.code, 0, without.out);
    const wrong = await run('curl', [...base, '--cert', other.files.cert, '--key', other.files.key]);
    assert.notEqual(wrong.code, 0, wrong.out);
  });

  test('trellis get configmaps shows the CA bundle', async () => {
    const r = await trellis(['get', 'cm', 'client-ca', '-o', 'yaml'], { server: env.cp.apiUrl });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ca\.crt/);
    assert.match(r.stdout, /BEGIN CERTIFICATE/);
  });

  test('apply refuses bad references, with the path of the field', async () => {
    const r = await trellis(['apply', '-f', '-'], {
      server: env.cp.apiUrl,
      input: gatewayYaml(port, open).replace('name: client-ca', 'name: missing-ca'),
    });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stdout + r.stderr,
      /spec\.tls\.frontend\.default\.validation\.caCertificateRefs\[0\]\.name/,
    );
    const bad = await trellis(['apply', '-f', '-'], {
      server: env.cp.apiUrl,
      input: configMapYaml(
        'bad-ca',
        '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----',
      ),
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /data\["ca\.crt"\]/);
    const legacy = await trellis(['apply', '-f', '-'], {
      server: env.cp.apiUrl,
      input: gatewayYaml(port, open).replace(
        'tls: { certificateRefs: [{ name: shop-cert }] }\n    - name: open',
        'tls: { certificateRefs: [{ name: shop-cert }], frontendValidation: { caCertificateRefs: [{ kind: ConfigMap, name: client-ca }] } }\n    - name: open',
      ),
    });
    assert.notEqual(legacy.code, 0);
    assert.match(
      legacy.stdout + legacy.stderr,
      /spec\.listeners\[0\]\.tls\.frontendValidation[\s\S]*spec\.tls\.frontend/,
    );
  });
});
