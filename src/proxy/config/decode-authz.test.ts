// The authz translate goldens through the wire codec and decode-authz, then requests through the
// guard (normalisation + RBAC) as the pipeline runs it; and the NACKs for what is not implemented.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../common/logger.js';
import { decodeResource, encodeResource } from '../../xds/any.js';
import { guardRequest } from '../authz/guard.js';
import type { ProxyError } from '../pipeline/rescue.js';
import type { ListenerSecurityConfig } from '../authz/types.js';
import { decodeListenerResource } from './decode.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
type Obj = Record<string, unknown>;
const inbound = (name: string): Obj => {
  const g = JSON.parse(readFileSync(join(root, `test/fixtures/translate/${name}.golden.json`), 'utf8')) as {
    LDS: Record<string, Obj>;
  };
  return decodeResource(encodeResource(g.LDS['trellis_inbound'] as Obj));
};

function security(l: Obj): ListenerSecurityConfig {
  const r = decodeListenerResource(l);
  if (!r.ok) assert.fail(r.error.message);
  assert.equal(r.value.mode, undefined, 'no protocol detection on a listener with security');
  const s = r.value.security;
  assert.ok(s !== undefined);
  return s;
}

/** Runs the guard synchronously: the forwarded path, or the error code. */
function check(
  sec: ListenerSecurityConfig,
  method: string,
  target: string,
  headers: string[] = [],
  authority = 'reviews',
  principal?: string,
): string {
  let out = 'pending';
  guardRequest(
    sec,
    { method, authority, target, headers, localPort: 15006, principal },
    { logger: silentLogger(), listener: 'trellis_inbound', nowMs: Date.now() },
    { done: false, fail: (e) => (out = (e as ProxyError).code) },
    () => undefined,
    (path) => (out = path),
  );
  return out;
}

describe('decode-authz', () => {
  it('authz-allow-deny: LOG, DENY and ALLOW filters; requests decided as the policies say', () => {
    const sec = security(inbound('authz-allow-deny'));
    assert.deepEqual(
      sec.rbac.map((f) => f.action),
      ['LOG', 'DENY', 'ALLOW'],
    );
    const prod = ['x-env', 'prod'];
    const cases: [string, string, string[], string][] = [
      ['GET', '/api/items', prod, '/api/items'],
      ['get', '/api/items?x=1', prod, '/api/items?x=1'],
      ['GET', '//api//items', prod, '/api/items'],
      ['GET', '/api/%69tems', prod, '/api/items'],
      ['GET', '/api/items', ['x-env', 'staging'], '/api/items'],
      ['GET', '/api/items', ['x-env', 'dev'], 'ACCESS_DENIED'],
      ['GET', '/api/items', [], 'ACCESS_DENIED'],
      ['POST', '/api/items', prod, 'ACCESS_DENIED'],
      ['GET', '/API/items', prod, 'ACCESS_DENIED'],
      ['GET', '/site.css', prod, '/site.css'],
      ['GET', '/', prod, '/'],
      ['GET', '/admin', prod, 'ACCESS_DENIED'],
      ['GET', '/ADMIN', prod, 'ACCESS_DENIED'],
      ['GET', '/Admin/', prod, 'ACCESS_DENIED'],
      ['GET', '/api/../admin', prod, 'ACCESS_DENIED'],
      ['GET', '/api/%2e%2e/admin', prod, 'ACCESS_DENIED'],
      ['GET', '/%61dmin', prod, 'ACCESS_DENIED'],
      ['GET', '//admin', prod, 'ACCESS_DENIED'],
      ['GET', '/admin/.', prod, 'ACCESS_DENIED'],
      ['GET', '/./admin', prod, 'ACCESS_DENIED'],
      ['GET', '/admin%2F', prod, 'BAD_PATH'],
      ['GET', '/admin;x', prod, 'BAD_PATH'],
      ['GET', '/admin%00', prod, 'BAD_PATH'],
      ['GET', '/api\\..\\admin', prod, 'BAD_PATH'],
      ['GET', '/internal/a/b/secret', prod, 'ACCESS_DENIED'],
      ['DELETE', '/api/items', prod, 'ACCESS_DENIED'],
      ['dElEtE', '/api/items', prod, 'ACCESS_DENIED'],
    ];
    for (const [m, p, h, want] of cases)
      assert.equal(check(sec, m, p, [...h]), want, `${m} ${p} ${h.join('=')}`);
    assert.equal(check(sec, 'GET', '/api/x', [...prod], 'Reviews:9080'), '/api/x');
    assert.equal(check(sec, 'GET', '/api/x', [...prod], 'a.shop.test'), '/api/x');
    assert.equal(check(sec, 'GET', '/api/x', [...prod], 'evil.test'), 'ACCESS_DENIED');
  });

  it('identity rules: services match the SPIFFE ID exactly (mTLS peer), never a plaintext peer', () => {
    const sec = security(inbound('authz-allow-deny'));
    const web = 'spiffe://cluster.local/ns/default/sa/web';
    assert.equal(check(sec, 'POST', '/anything', [], 'reviews', web), '/anything');
    assert.equal(check(sec, 'POST', '/anything', [], 'reviews', undefined), 'ACCESS_DENIED');
    for (const other of [
      'spiffe://cluster.local/ns/default/sa/web2',
      'spiffe://cluster.local/ns/legacy/sa/web',
      'spiffe://cluster.local/ns/default/sa/wab',
      'spiffe://cluster.local/ns/default/sa/web/x',
    ])
      assert.equal(check(sec, 'POST', '/anything', [], 'reviews', other), 'ACCESS_DENIED', other);
    assert.equal(check(sec, 'GET', '/admin', [], 'reviews', web), 'ACCESS_DENIED', 'DENY wins for any peer');
  });

  it('authz-jwt: providers, remote JWKS on loopback, payload key; no token, no principal: denied', () => {
    const sec = security(inbound('authz-jwt'));
    const providers = sec.jwt?.providers ?? [];
    assert.deepEqual(
      providers.map((p) => [p.name, p.issuer, p.jwks.type, p.forward, p.payloadInMetadata]),
      [
        ['shop/idp[0]', 'https://idp.shop.test', 'inline', false, 'jwt_payload'],
        ['shop/idp[1]', 'https://partner.test', 'uri', true, 'jwt_payload'],
      ],
    );
    assert.deepEqual(providers[1]?.fromHeaders, [{ name: 'x-partner-token', prefix: '' }]);
    assert.equal(check(sec, 'POST', '/shop.Orders/Create'), 'ACCESS_DENIED');
    assert.equal(
      check(sec, 'POST', '/shop.Orders/Create', ['authorization', 'Bearer not.a.jwt']),
      'UNAUTHENTICATED',
    );
  });

  const base = (): Obj => JSON.parse(JSON.stringify(inbound('authz-allow-deny'))) as Obj;
  const hcmOf = (l: Obj): Obj =>
    ((((l['filter_chains'] as Obj[])[0] as Obj)['filters'] as Obj[])[0] as Obj)['typed_config'] as Obj;
  const nack = (mutate: (hcm: Obj, l: Obj) => void, field: RegExp): void => {
    const l = base();
    mutate(hcmOf(l), l);
    const r = decodeListenerResource(l);
    assert.equal(r.ok, false, 'expected a NACK');
    if (!r.ok) assert.match(r.error.message, field);
  };
  const rbacRules = (hcm: Obj, i: number): Obj =>
    (((hcm['http_filters'] as Obj[])[i] as Obj)['typed_config'] as Obj)['rules'] as Obj;

  it('NACKs what it does not implement, naming the field', () => {
    nack((h) => delete h['normalize_path'], /normalize_path: must be true/);
    nack(
      (h) => (h['path_with_escaped_slashes_action'] = 'UNESCAPE_AND_FORWARD'),
      /path_with_escaped_slashes_action/,
    );
    nack(
      (h) =>
        ((rbacRules(h, 1)['policies'] as Obj)['x'] = {
          permissions: [{ destination_ip: {} }],
          principals: [{ any: true }],
        }),
      /policies\.x\.permissions\[0\]\.destination_ip: not supported/,
    );
    nack(
      (h) =>
        ((rbacRules(h, 1)['policies'] as Obj)['x'] = {
          permissions: [{ any: true }],
          principals: [{ source_ip: {} }],
        }),
      /principals\[0\]\.source_ip: not supported/,
    );
    nack(
      (h) => ((rbacRules(h, 1)['policies'] as Obj)['x'] = { permissions: [{ any: true }], principals: [] }),
      /principals: at least one principal/,
    );
    nack((h, l) => {
      void h;
      l['default_filter_chain'] = {
        filters: [
          {
            name: 'tcp',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              stat_prefix: 'x',
              cluster: 'c',
            },
          },
        ],
      };
      ((l['filter_chains'] as Obj[])[0] as Obj)['filter_chain_match'] = {
        application_protocols: ['http/1.1'],
      };
    }, /default_filter_chain: a listener with/);
  });

  it('NACKs a jwt_authn that would require tokens, or fetch JWKS off loopback', () => {
    const jwt = (): Obj => {
      const l = decodeResource(
        encodeResource(
          (
            JSON.parse(readFileSync(join(root, 'test/fixtures/translate/authz-jwt.golden.json'), 'utf8')) as {
              LDS: Record<string, Obj>;
            }
          ).LDS['trellis_inbound'] as Obj,
        ),
      );
      return JSON.parse(JSON.stringify(l)) as Obj;
    };
    const tc = (l: Obj): Obj => ((hcmOf(l)['http_filters'] as Obj[])[0] as Obj)['typed_config'] as Obj;
    let l = jwt();
    const reqs = (((tc(l)['rules'] as Obj[])[0] as Obj)['requires'] as Obj)['requires_any'] as Obj;
    reqs['requirements'] = (reqs['requirements'] as Obj[]).filter((r) => r['allow_missing'] === undefined);
    let r = decodeListenerResource(l);
    assert.ok(!r.ok && /allow_missing/.test(r.error.message));
    l = jwt();
    const p1 = (tc(l)['providers'] as Record<string, Obj>)['shop/idp[1]'] as Obj;
    ((p1['remote_jwks'] as Obj)['http_uri'] as Obj)['uri'] = 'http://10.0.0.1/jwks';
    r = decodeListenerResource(l);
    assert.ok(
      !r.ok &&
        /providers\.shop\/idp\[1\]\.remote_jwks\.http_uri\.uri: must be on loopback/.test(r.error.message),
      !r.ok ? r.error.message : '',
    );
    l = jwt();
    const p0 = (tc(l)['providers'] as Record<string, Obj>)['shop/idp[0]'] as Obj;
    p0['from_cookies'] = ['session'];
    r = decodeListenerResource(l);
    assert.ok(!r.ok && /from_cookies: not supported/.test(r.error.message), !r.ok ? r.error.message : '');
  });
});
