// Authorization and end-user authentication through a real sidecar inbound listener, on real
// sockets: the policies are written as YAML, translated as the control plane does, sent through the
// xDS wire codec, decoded by the proxy and applied to a data plane in front of a recording app.
// Every path-normalisation and method-case bypass attempt must be refused (400 or 403) over
// HTTP/1.1 AND HTTP/2 (h2c) without the app seeing it; the canonical paths pass, normalised.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { MeshSnapshot } from '../../src/api/mesh-snapshot.js';
import { serviceKey } from '../../src/api/mesh-snapshot.js';
import { parseDocuments } from '../../src/api/parse.js';
import type {
  AuthorizationPolicyResource,
  RequestAuthenticationResource,
  ServiceResource,
} from '../../src/api/types.js';
import { jwksOf, makeKey, signJwt } from '../../src/proxy/authz/jwt-testing.js';
import { decodeClusterResource, decodeListenerResource } from '../../src/proxy/config/decode.js';
import type { ClusterConfig, ListenerConfig, ProxyConfig } from '../../src/proxy/config/types.js';
import { createDataPlane } from '../../src/proxy/create-data-plane.js';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import { parseNode, translate } from '../../src/translate/index.js';
import { decodeResource, encodeResource } from '../../src/xds/any.js';
import { CLUSTER_TYPE, LISTENER_TYPE } from '../../src/xds/type-urls.js';
import { RawClient, startApp, type FakeApp } from './sidecar-harness.js';

const ISSUER = 'https://idp.trellis.test';
const key = makeKey('ES256', 'k1');
const now = () => Math.floor(Date.now() / 1000);
const token = (claims: Record<string, unknown> = {}) =>
  signJwt(key, {
    iss: ISSUER,
    sub: 'alice',
    aud: 'reviews',
    exp: now() + 300,
    groups: ['buyers'],
    ...claims,
  });

const policies = (jwksUri: string) => `
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: no-admin }
spec:
  targetRefs: [{ kind: Service, name: reviews }]
  action: DENY
  rules:
    - to: [{ operation: { paths: [/admin, /admin/*] } }]
    - to: [{ operation: { methods: [DELETE] } }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: reviews-access }
spec:
  targetRefs: [{ kind: Service, name: reviews }]
  rules:
    - to: [{ operation: { methods: [GET, HEAD, DELETE], paths: ["/api/*", /public, "/admin/*", /admin] } }]
    - from: [{ source: { requestPrincipals: ["${ISSUER}/*"] } }]
      to: [{ operation: { methods: [POST], paths: [/api/orders, /shop.Orders/Create] } }]
      when: [{ key: "request.auth.claims[groups]", values: [buyers] }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: audit-orders }
spec:
  targetRefs: [{ kind: Service, name: reviews }]
  action: AUDIT
  rules:
    - to: [{ operation: { paths: [/api/orders] } }]
---
apiVersion: trellis.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: idp }
spec:
  targetRefs: [{ kind: Service, name: reviews }]
  jwtRules:
    - issuer: ${ISSUER}
      audiences: [reviews]
      jwksUri: ${jwksUri}
`;

/** Attempts to reach /admin (denied by DENY) or a path no ALLOW rule covers, by encoding tricks. */
const BYPASSES: readonly string[] = [
  '/admin',
  '/admin/',
  '/admin/x',
  '/ADMIN',
  '/Admin/x',
  '/admin?x=1',
  '/admin/../admin',
  '/api/../admin',
  '/api/./../admin/x',
  '/api/%2e%2e/admin',
  '/api/%2E%2E/admin',
  '/api/.%2e/admin',
  '/%2e/admin',
  '//admin',
  '///admin/x',
  '/api//../admin',
  '/%61dmin',
  '/%61%64%6d%69%6e/x',
  '/%41dmin',
  '/admin%2F',
  '/admin%2fx',
  '/api%2F..%2Fadmin',
  '/api/..%2Fadmin',
  '/admin;x',
  '/admin;/x',
  '/api/..;/admin',
  '/admin%3Bx',
  '/admin/.',
  '/admin/./',
  '/./admin',
  '/admin%5C',
  '/api%5C..%5Cadmin',
  '/api\\..\\admin',
  '/admin%00',
  '/admin%00.json',
  '/api/%c0%ae%c0%ae/admin',
  '/api%c0%af..%c0%afadmin',
  '/%252e%252e/admin',
  '/api/%252e%252e/admin',
  '/admin%252F',
  '/admin%20',
  '/admin#frag',
  '/api#/../admin',
  '/public/',
  '/PUBLIC',
  '/private',
];

const METHOD_BYPASSES: readonly [string, string][] = [
  ['delete', '/api/items'],
  ['Delete', '/api/items'],
  ['DELETE', '/api/items'],
  ['post', '/api/items'],
  ['PUT', '/api/items'],
];

/** Allowed requests and the path the app must see. */
const ALLOWED: readonly [string, string, string][] = [
  ['GET', '/api/items', '/api/items'],
  ['GET', '/api//items', '/api/items'],
  ['GET', '/api/./items/../items', '/api/items'],
  ['GET', '/api/%69tems?q=%2F&r=a%2Fb', '/api/items?q=%2F&r=a%2Fb'],
  ['GET', '/api/caf%c3%a9', '/api/caf%C3%A9'],
  ['HEAD', '/public', '/public'],
];

describe('sidecar authz: policies through a real inbound listener', { timeout: 60_000 }, () => {
  let app: FakeApp;
  let jwks: http.Server;
  let jwksHits = 0;
  let dp: DataPlane;
  let port: number;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    jwks = http.createServer((_req, res) => {
      jwksHits++;
      res.setHeader('content-type', 'application/json');
      res.end(jwksOf(key));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
    const jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    app = await startApp('reviews');
    const yaml = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: reviews }
spec:
  ports: [{ name: http, port: 9080, targetPort: ${app.port} }]
---
${policies(jwksUri)}`;
    const parsed = parseDocuments(yaml, 'authz.yaml');
    if (!parsed.ok) assert.fail(JSON.stringify(parsed.error));
    const res = parsed.value;
    const services = res.filter((r): r is ServiceResource => r.kind === 'Service');
    const snapshot: MeshSnapshot = {
      configVersion: 1,
      endpointsVersion: 1,
      services: new Map(services.map((s) => [serviceKey(s.metadata.namespace, s.metadata.name), s])),
      httpRoutes: [],
      grpcRoutes: [],
      gateways: new Map(),
      authorizationPolicies: res.filter(
        (r): r is AuthorizationPolicyResource => r.kind === 'AuthorizationPolicy',
      ),
      requestAuthentications: res.filter(
        (r): r is RequestAuthenticationResource => r.kind === 'RequestAuthentication',
      ),
      instances: new Map(),
    };
    const node = parseNode({
      id: 'reviews-1',
      metadata: {
        TRELLIS_KIND: 'sidecar',
        NAMESPACE: 'default',
        SERVICE: 'reviews',
        INBOUND_PORT: 15006,
        OUTBOUND_PORT: 15001,
        APP_PORT: app.port,
      },
    });
    const wire = (r: unknown) => decodeResource(encodeResource(r as Record<string, unknown>));
    const lj = translate(snapshot, node, LISTENER_TYPE, ['trellis_inbound']).get('trellis_inbound');
    const l = decodeListenerResource(wire(lj));
    if (!l.ok) assert.fail(l.error.message);
    assert.ok(l.value.security !== undefined);
    const listeners = new Map<string, ListenerConfig>([[l.value.name, { ...l.value, port: 0 }]]);
    const clusters = new Map<string, ClusterConfig>();
    for (const c of translate(snapshot, node, CLUSTER_TYPE, '*').values()) {
      const d = decodeClusterResource(wire(c));
      if (!d.ok) assert.fail(d.error.message);
      if (d.value.name.startsWith('inbound|')) clusters.set(d.value.name, d.value);
    }
    const endpoints = new Map(
      [...clusters.values()].flatMap((c) => (c.loadAssignment ? [[c.name, c.loadAssignment] as const] : [])),
    );
    const config: ProxyConfig = { versions: {}, listeners, routeTables: new Map(), clusters, endpoints };
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n'))
          if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    dp = createDataPlane({
      nodeId: 'reviews-1',
      logger: pino({ level: 'info' }, sink),
      requestVirtualHost: async () => undefined,
    });
    await dp.apply(config);
    port = dp.boundPorts().get('trellis_inbound') as number;
  });

  after(async () => {
    await dp.close();
    await app.close();
    await new Promise<void>((r) => jwks.close(() => r()));
  });

  const seenByApp = () => app.requests.map((r) => `${r.method} ${r.url}`);

  describe('HTTP/1.1', () => {
    const h1 = async (method: string, path: string, extra = '') => {
      const c = new RawClient(port);
      try {
        const [r] = await c.send(`${method} ${path} HTTP/1.1\r\nhost: reviews:9080\r\n${extra}\r\n`);
        return r ?? { status: 0, headers: {}, body: 'closed' };
      } finally {
        c.close();
      }
    };

    it('canonical allowed paths pass, and the app sees the normalised path', async () => {
      for (const [m, p, want] of ALLOWED) {
        // Lower-case methods are refused by the HTTP/1.1 parser itself; RawClient cannot frame HEAD responses.
        if (m !== m.toUpperCase() || m === 'HEAD') continue;
        const before = app.requests.length;
        const r = await h1(m, p);
        assert.equal(r.status, 200, `${m} ${p}: ${r.body}`);
        assert.equal(app.requests[before]?.url, want, `${m} ${p}`);
      }
    });

    it('every path bypass attempt is refused (400 or 403) and never reaches the app', async () => {
      const seen = app.requests.length;
      const outcomes: string[] = [];
      for (const p of BYPASSES) {
        const r = await h1('GET', p);
        outcomes.push(`${p} -> ${r.status}`);
        assert.ok(r.status === 400 || r.status === 403, `GET ${p} answered ${r.status}: ${r.body}`);
        if (r.status === 403)
          assert.match(r.headers['x-trellis-error'] ?? '', /^ACCESS_DENIED; sidecar=reviews-1$/);
      }
      assert.deepEqual(seenByApp().slice(seen), [], outcomes.join('\n'));
    });

    it('method-case attempts are refused', async () => {
      const seen = app.requests.length;
      for (const [m, p] of METHOD_BYPASSES) {
        const r = await h1(m, p);
        assert.ok(r.status === 400 || r.status === 403 || r.status === 501, `${m} ${p} answered ${r.status}`);
      }
      assert.deepEqual(seenByApp().slice(seen), []);
    });

    it('a denial names the policy', async () => {
      const d = await h1('GET', '/ADMIN');
      assert.equal(d.status, 403);
      assert.match(d.body, /denied by AuthorizationPolicy default\/no-admin \(rule 0\)/);
      const miss = await h1('GET', '/private');
      assert.match(miss.body, /no ALLOW rule matched \(AuthorizationPolicy default\/reviews-access\)/);
    });

    it('JWT: claims usable in rules; invalid tokens 401; the token is not forwarded; audit lines', async () => {
      const send = async (tok: string | undefined, path = '/api/orders') => {
        const c = new RawClient(port);
        try {
          const auth = tok === undefined ? '' : `authorization: Bearer ${tok}\r\n`;
          const [r] = await c.send(
            `POST ${path} HTTP/1.1\r\nhost: reviews\r\n${auth}content-length: 2\r\n\r\nhi`,
          );
          return r ?? { status: 0, headers: {}, body: '' };
        } finally {
          c.close();
        }
      };
      assert.equal(
        (await send(undefined)).status,
        403,
        'no token: authentication passes, authorization refuses',
      );
      const before = app.requests.length;
      const ok = await send(token());
      assert.equal(ok.status, 200, ok.body);
      assert.equal(app.requests[before]?.headers['authorization'], undefined, 'token removed before the app');
      assert.equal(app.requests[before]?.body, 'hi');
      assert.ok(jwksHits >= 1);
      assert.equal((await send(token({ groups: ['guests'] }))).status, 403);
      assert.equal((await send(token({ exp: now() - 3600 }))).status, 401);
      assert.equal((await send(token({ aud: 'other' }))).status, 401);
      assert.equal((await send(token({ iss: 'https://evil.test' }))).status, 401);
      const forged = token().split('.');
      forged[1] = Buffer.from(
        JSON.stringify({ iss: ISSUER, sub: 'root', aud: 'reviews', groups: ['buyers'] }),
      ).toString('base64url');
      const f = await send(forged.join('.'));
      assert.equal(f.status, 401);
      assert.match(f.headers['x-trellis-error'] ?? '', /^UNAUTHENTICATED;/);
      assert.equal(f.headers['www-authenticate'], 'Bearer realm="trellis", error="invalid_token"');
      const other = makeKey('ES256', 'k1');
      assert.equal(
        (await send(signJwt(other, { iss: ISSUER, sub: 'x', aud: 'reviews', groups: ['buyers'] }))).status,
        401,
      );
      const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${forged[1]}.`;
      assert.equal((await send(none)).status, 401);
      const audits = lines.filter((l) => l['audit'] === true);
      assert.ok(audits.length >= 2, JSON.stringify(lines.slice(-5)));
      const a = audits.find((l) => l['decision'] === 'allow');
      assert.equal(a?.['policy'], 'AuthorizationPolicy default/audit-orders (rule 0)');
      assert.equal(a?.['subject'], `${ISSUER}/alice`);
      assert.ok(!JSON.stringify(lines).includes(token().split('.')[2] as string), 'no token in logs');
      assert.ok(!lines.some((l) => JSON.stringify(l).includes('eyJ')), 'no JWT in logs');
    });
  });

  describe('HTTP/2 (h2c)', () => {
    let session: http2.ClientHttp2Session;
    before(() => {
      session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', () => undefined);
    });
    after(() => session.close());

    const h2 = (method: string, path: string, extra: http2.OutgoingHttpHeaders = {}, body?: string) =>
      new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string } | { refused: string }>(
        (resolve) => {
          let req: http2.ClientHttp2Stream;
          try {
            req = session.request({
              ':method': method,
              ':path': path,
              ':authority': 'reviews:9080',
              ...extra,
            });
          } catch (e) {
            resolve({ refused: e instanceof Error ? e.message : String(e) });
            return;
          }
          let headers: http2.IncomingHttpHeaders = {};
          let data = '';
          req.on('response', (h) => (headers = h));
          req.on('data', (d: Buffer) => (data += d.toString()));
          req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: data }));
          req.on('error', (e) => resolve({ refused: e.message }));
          req.end(body);
        },
      );

    it('canonical allowed paths pass, normalised; methods in any case', async () => {
      for (const [m, p, want] of ALLOWED) {
        const before = app.requests.length;
        const r = await h2(m, p);
        assert.ok(!('refused' in r), `${m} ${p}: ${JSON.stringify(r)}`);
        assert.equal(r.status, 200, `${m} ${p}: ${r.body}`);
        assert.equal(app.requests[before]?.url, want, `${m} ${p}`);
      }
      // A lower-case method passes the policy (methods match case-insensitively) and is forwarded
      // as sent: whether `get` means GET is the app's business (node's HTTP/1.1 parser says 400).
      const lower = await h2('get', '/public');
      assert.ok(!('refused' in lower));
      assert.equal(lower.headers['x-trellis-error'], undefined, `sidecar refused get: ${lower.body}`);
    });

    it('every path and method-case bypass attempt is refused and never reaches the app', async () => {
      const seen = app.requests.length;
      let sent = 0;
      const outcomes: string[] = [];
      for (const [m, p] of [...BYPASSES.map((p) => ['GET', p] as const), ...METHOD_BYPASSES]) {
        const r = await h2(m, p);
        if ('refused' in r) {
          outcomes.push(`${m} ${p} -> client refused (${r.refused})`);
          continue;
        }
        sent++;
        outcomes.push(`${m} ${p} -> ${r.status}`);
        assert.ok(r.status === 400 || r.status === 403, `${m} ${p} answered ${r.status}: ${r.body}`);
      }
      assert.ok(sent >= BYPASSES.length - 2, outcomes.join('\n'));
      assert.deepEqual(seenByApp().slice(seen), [], outcomes.join('\n'));
    });

    it('gRPC: PERMISSION_DENIED (7) and UNAUTHENTICATED (16) in trailers-only responses', async () => {
      const grpc = { 'content-type': 'application/grpc', te: 'trailers' };
      const denied = await h2('POST', '/shop.Orders/Create', grpc);
      assert.ok(!('refused' in denied));
      assert.equal(denied.status, 200);
      assert.equal(denied.headers['grpc-status'], '7');
      assert.match(String(denied.headers['grpc-message']), /no ALLOW rule matched/);
      const bad = await h2('POST', '/shop.Orders/Create', { ...grpc, authorization: 'Bearer x.y.z' });
      assert.ok(!('refused' in bad));
      assert.equal(bad.headers['grpc-status'], '16');
    });

    it('JWT claims authorize over HTTP/2 too', async () => {
      const ok = await h2('POST', '/api/orders', { authorization: `Bearer ${token()}` }, 'hi');
      assert.ok(!('refused' in ok));
      assert.equal(ok.status, 200, ok.body);
      const no = await h2('POST', '/api/orders', {}, 'hi');
      assert.ok(!('refused' in no));
      assert.equal(no.status, 403);
    });
  });
});
