// End to end: AuthorizationPolicy and RequestAuthentication at the ingress gateway. A real control
// plane, a real app behind a real sidecar, and a real `trellis proxy --gateway edge`. Port `pub`
// has a DENY on /private (and its encoded, dotted, doubled and case-folded spellings, which the
// strict normalisation turns into it or refuses); port `adm` has an ALLOW-list (default deny)
// needing a verified JWT (JWKS file) with role=admin: no token 403, a bad token 401 with
// www-authenticate, a wrong role 403, the right one 200 (the token is not forwarded). HTTP/1.1 on
// raw sockets (nothing rewrites the request target on the way), and h2c for the deny.
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WEB_BEHIND_EDGE_YAML } from '../../src/api/gateway-testing.js';
import { jwksOf, makeKey, signJwt } from '../../src/proxy/authz/jwt-testing.js';
import { ready, startGatewayTestEnv, type GatewayTestEnv } from './helpers/gateway.js';
import { freePort, trellis, waitFor } from './helpers/processes.js';
import type { FakeApp } from './helpers/sidecar.js';

const ISSUER = 'https://idp.example';

const mesh = (pub: number, adm: number, jwksFile: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - { name: pub, port: ${pub}, protocol: HTTP }
    - { name: adm, port: ${adm}, protocol: HTTP }
---
${WEB_BEHIND_EDGE_YAML}---
apiVersion: trellis.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: idp }
spec:
  targetRefs: [{ kind: Gateway, name: edge }]
  jwtRules: [{ issuer: "${ISSUER}", audiences: [shop], jwksFile: ${jwksFile} }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: no-private }
spec:
  targetRefs: [{ kind: Gateway, name: edge }]
  action: DENY
  rules: [{ to: [{ operation: { paths: [/private, /private/*] } }] }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: admins }
spec:
  targetRefs: [{ kind: Gateway, name: edge, sectionName: adm }]
  rules:
    - from: [{ source: { requestPrincipals: ["${ISSUER}/*"] } }]
      when: [{ key: "request.auth.claims[role]", values: [admin] }]
`;

interface Res {
  status: number;
  head: string;
  body: string;
}

/** One raw HTTP/1.1 request (the target exactly as given), Connection: close. */
function raw(port: number, target: string, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.setTimeout(5000, () => s.destroy(new Error(`request ${target} timed out`)));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const i = text.indexOf('\r\n\r\n');
      const head = i < 0 ? text : text.slice(0, i);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: text.slice(i + 4) });
    });
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    s.end(`GET ${target} HTTP/1.1\r\nHost: shop.example\r\n${extra}Connection: close\r\n\r\n`);
  });
}

function h2(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = h2connect(`http://127.0.0.1:${port}`);
    c.on('error', reject);
    const r = c.request({ ':path': path, ':authority': 'shop.example' });
    r.on('response', (h) => {
      r.resume();
      r.on('end', () => {
        c.close();
        resolve(Number(h[':status']));
      });
    });
    r.on('error', reject);
    r.end();
  });
}

describe('policies at the ingress gateway (e2e)', { timeout: 180_000 }, () => {
  let env: GatewayTestEnv;
  let app: FakeApp;
  let pub: number;
  let adm: number;
  const key = makeKey('ES256', 'k1');
  const other = makeKey('ES256', 'k1'); // same kid, another key: a forged signature
  const now = () => Math.floor(Date.now() / 1000);
  const token = (claims: Record<string, unknown>, k = key) =>
    signJwt(k, { iss: ISSUER, aud: 'shop', sub: 'alice', exp: now() + 600, ...claims });

  before(async () => {
    env = await startGatewayTestEnv('gateway-authz-e2e');
    const jwksFile = join(env.dir, 'jwks.json');
    await writeFile(jwksFile, jwksOf(key));
    pub = await freePort();
    adm = await freePort();
    await env.apply(mesh(pub, adm, jwksFile));
    ({ app } = await env.startBackend('web', 'web'));
    await ready(await env.startGateway('edge'), 'the gateway');
    await waitFor(
      'a request through the gateway',
      async () => (await raw(pub, '/public')).status === 200,
      20_000,
    );
  });

  after(async () => {
    await env?.stop();
  });

  test('a policy applied while the gateway runs takes effect; deleting it lifts it', async () => {
    const doc = `apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: late }
spec:
  targetRefs: [{ kind: Gateway, name: edge }]
  action: DENY
  rules: [{ to: [{ operation: { paths: [/late] } }] }]
`;
    assert.equal((await raw(pub, '/late')).status, 200);
    await env.apply(doc);
    await waitFor('the late DENY to apply', async () => (await raw(pub, '/late')).status === 403, 10_000);
    const d = await trellis(['delete', 'authorizationpolicy', 'late'], { server: env.cp.apiUrl });
    assert.equal(d.code, 0, d.stderr);
    await waitFor('the late DENY to be lifted', async () => (await raw(pub, '/late')).status === 200, 10_000);
  });

  test('analyze refuses a policy naming a Gateway that does not exist, with the path', async () => {
    const r = await trellis(['apply', '-f', '-'], {
      server: env.cp.apiUrl,
      input: `apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: dangling }
spec:
  targetRefs: [{ kind: Gateway, name: egde }]
  action: DENY
  rules: [{ to: [{ operation: { paths: [/x] } }] }]
`,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /spec\.targetRefs\[0\]\.name/);
    assert.match(r.stderr + r.stdout, /Gateway default\/egde does not exist.*did you mean 'edge'/);
  });

  test('DENY by path: /private is 403 naming the policy; other paths pass', async () => {
    const ok = await raw(pub, '/public/a');
    assert.equal(ok.status, 200, ok.head);
    const denied = await raw(pub, '/private/a');
    assert.equal(denied.status, 403, denied.head);
    assert.match(denied.head + denied.body, /default\/no-private/);
    assert.equal((await raw(pub, '/private')).status, 403);
    assert.equal(await h2(pub, '/private/a'), 403);
    assert.equal(await h2(pub, '/public/a'), 200);
  });

  test('encoded, dotted, doubled and case-folded spellings of /private never reach the app', async () => {
    const before = app.seen.length;
    const attempts: [string, number][] = [
      ['/public/../private/a', 403],
      ['/public/./../private/a', 403],
      ['/%70rivate/a', 403],
      ['/%2570rivate/a', 0], // %25 stays escaped: a different path, not /private
      ['//private/a', 403],
      ['/PRIVATE/a', 403],
      ['/Private', 403],
      ['/private%2fa', 400],
      ['/public/..%2fprivate/a', 400],
      ['/public%5c..%5cprivate/a', 400],
      ['/private;x=1/a', 400],
      ['/public/%2e%2e/private/a', 403],
      ['/private#frag', 400],
      ['/private/a\\b', 400],
    ];
    const got: string[] = [];
    for (const [target, _want] of attempts) {
      const r = await raw(pub, target);
      got.push(`${target} -> ${r.status}`);
    }
    for (const [i, [target, want]] of attempts.entries())
      if (want !== 0) assert.equal(got[i], `${target} -> ${want}`, got.join('\n'));
    const leaked = app.seen.slice(before).filter((s) => /private/i.test(s.url));
    assert.deepEqual(leaked, [], 'no spelling of /private reached the app');
  });

  test('the normalised path is what is forwarded', async () => {
    const r = await raw(pub, '/public/./x//y/../z?q=1');
    assert.equal(r.status, 200, r.head);
    assert.match(r.body, /hello from web \/public\/x\/z\?q=1/);
  });

  test('JWT at the edge: ALLOW-list default deny; 401 for bad tokens; claims in rules', async () => {
    const none = await raw(adm, '/admin');
    assert.equal(none.status, 403, none.head);
    assert.match(none.head + none.body, /no ALLOW rule matched.*default\/admins/);
    const forged = await raw(adm, '/admin', { authorization: `Bearer ${token({ role: 'admin' }, other)}` });
    assert.equal(forged.status, 401, forged.head);
    assert.match(forged.head, /www-authenticate: Bearer/i);
    const expired = await raw(adm, '/admin', {
      authorization: `Bearer ${token({ role: 'admin', exp: now() - 3600 })}`,
    });
    assert.equal(expired.status, 401, expired.head);
    const wrongAud = await raw(adm, '/admin', {
      authorization: `Bearer ${token({ role: 'admin', aud: 'x' })}`,
    });
    assert.equal(wrongAud.status, 401, wrongAud.head);
    const user = await raw(adm, '/admin', { authorization: `Bearer ${token({ role: 'user' })}` });
    assert.equal(user.status, 403, user.head);
    const before = app.seen.length;
    const okRes = await raw(adm, '/admin', { authorization: `Bearer ${token({ role: 'admin' })}` });
    assert.equal(okRes.status, 200, okRes.head);
    const seen = app.seen.slice(before).find((s) => s.url === '/admin');
    assert.ok(seen, 'the app got the request');
    assert.equal(seen.headers.authorization, undefined, 'the verified token is not forwarded by default');
    // The DENY on the whole Gateway holds on this port too, token or not.
    const denied = await raw(adm, '/private', { authorization: `Bearer ${token({ role: 'admin' })}` });
    assert.equal(denied.status, 403, denied.head);
    // A bad token is refused on the public port as well (the RequestAuthentication covers it).
    assert.equal((await raw(pub, '/public', { authorization: 'Bearer x.y.z' })).status, 401);
  });
});
