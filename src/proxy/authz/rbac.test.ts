import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StringMatch } from '../config/types.js';
import { type AuthzRequest, evaluateRbac } from './rbac.js';
import type { AuthzMatcher, RbacFilterConfig } from './types.js';
import { JWT_AUTHN_FILTER } from './types.js';

const exact = (value: string, ignoreCase = false): StringMatch => ({
  type: 'exact',
  value: ignoreCase ? value.toLowerCase() : value,
  ignoreCase,
});
const prefix = (value: string): StringMatch => ({ type: 'prefix', value, ignoreCase: false });
const method = (m: string): AuthzMatcher => ({
  t: 'header',
  h: { name: ':method', match: exact(m, true), invert: false },
});
const path = (m: StringMatch): AuthzMatcher => ({ t: 'path', m });
const any: AuthzMatcher = { t: 'any' };
const claim = (k: string, v: string): AuthzMatcher => ({
  t: 'metadata',
  filter: JWT_AUTHN_FILTER,
  path: ['payload', k],
  value: { t: 'string', m: exact(v) },
  invert: false,
});
const groupClaim = (v: string): AuthzMatcher => ({
  t: 'metadata',
  filter: JWT_AUTHN_FILTER,
  path: ['payload', 'groups'],
  value: { t: 'list', oneOf: { t: 'string', m: exact(v) } },
  invert: false,
});

const req = (over: Partial<AuthzRequest> = {}): AuthzRequest => ({
  method: 'GET',
  authority: 'reviews',
  path: '/',
  headers: [],
  localPort: 15006,
  principal: undefined,
  metadata: {},
  ...over,
});

const allow = (...policies: [string, AuthzMatcher[], AuthzMatcher[]][]): RbacFilterConfig => ({
  action: 'ALLOW',
  policies: policies.map(([name, permissions, principals]) => ({ name, permissions, principals })),
});
const deny = (...p: [string, AuthzMatcher[], AuthzMatcher[]][]): RbacFilterConfig => ({
  ...allow(...p),
  action: 'DENY',
});
const log = (...p: [string, AuthzMatcher[], AuthzMatcher[]][]): RbacFilterConfig => ({
  ...allow(...p),
  action: 'LOG',
});

describe('evaluateRbac', () => {
  it('no filters: allowed', () => {
    assert.deepEqual(evaluateRbac([], req()), { allowed: true, audited: [] });
  });

  it('ALLOW: what no rule allows is denied (default deny), naming the ALLOW policies', () => {
    const f = [allow(['default/read[0]', [method('GET')], [any]])];
    assert.equal(evaluateRbac(f, req()).allowed, true);
    const d = evaluateRbac(f, req({ method: 'POST' }));
    assert.equal(d.allowed, false);
    if (!d.allowed) assert.deepEqual(d.allowPolicies, ['default/read[0]']);
  });

  it('an ALLOW filter with no policies denies everything', () => {
    assert.equal(evaluateRbac([allow()], req()).allowed, false);
  });

  it('DENY wins over ALLOW, whatever the order', () => {
    const a = allow(['default/all[0]', [any], [any]]);
    const d = deny(['default/no-admin[0]', [path(prefix('/admin'))], [any]]);
    for (const filters of [
      [a, d],
      [d, a],
    ]) {
      const r = evaluateRbac(filters, req({ path: '/admin/x' }));
      assert.equal(r.allowed, false);
      if (!r.allowed) assert.equal(r.deniedBy, 'default/no-admin[0]');
      assert.equal(evaluateRbac(filters, req({ path: '/public' })).allowed, true);
    }
  });

  it('methods match case-insensitively (GET, get, gEt)', () => {
    const d = [deny(['x[0]', [method('DELETE')], [any]])];
    for (const m of ['DELETE', 'delete', 'DeLeTe'])
      assert.equal(evaluateRbac(d, req({ method: m })).allowed, false, m);
  });

  it('LOG (AUDIT) records matches and never decides', () => {
    const r = evaluateRbac(
      [log(['default/audit[0]', [path(prefix('/pay'))], [any]])],
      req({ path: '/pay/1' }),
    );
    assert.deepEqual(r, { allowed: true, audited: ['default/audit[0]'] });
    const r2 = evaluateRbac(
      [log(['default/audit[0]', [any], [any]]), deny(['default/d[0]', [any], [any]])],
      req({ path: '/pay/1' }),
    );
    assert.equal(r2.allowed, false);
    assert.deepEqual(r2.audited, ['default/audit[0]']);
  });

  it('identity: an authenticated principal matches; a plaintext peer never does', () => {
    const f = [allow(['p[0]', [any], [{ t: 'principal', m: prefix('spiffe://cluster.local/ns/shop/') }]])];
    assert.equal(evaluateRbac(f, req()).allowed, false);
    assert.equal(evaluateRbac(f, req({ principal: 'spiffe://cluster.local/ns/shop/sa/web' })).allowed, true);
    assert.equal(
      evaluateRbac(f, req({ principal: 'spiffe://cluster.local/ns/other/sa/web' })).allowed,
      false,
    );
  });

  it('headers: any value of a repeated header counts, so duplicates cannot hide a denied value', () => {
    const d = [
      deny(['h[0]', [{ t: 'header', h: { name: 'x-role', match: exact('guest'), invert: false } }], [any]]),
    ];
    assert.equal(evaluateRbac(d, req({ headers: ['x-role', 'admin', 'x-role', 'guest'] })).allowed, false);
    assert.equal(evaluateRbac(d, req({ headers: ['x-role', 'admin'] })).allowed, true);
    assert.equal(evaluateRbac(d, req()).allowed, true);
  });

  it('port, not, and/or compose', () => {
    const m: AuthzMatcher = {
      t: 'and',
      of: [
        { t: 'port', port: 15006 },
        { t: 'not', m: { t: 'or', of: [path(exact('/healthz')), method('HEAD')] } },
      ],
    };
    const d = [deny(['c[0]', [m], [any]])];
    assert.equal(evaluateRbac(d, req({ path: '/x' })).allowed, false);
    assert.equal(evaluateRbac(d, req({ path: '/healthz' })).allowed, true);
    assert.equal(evaluateRbac(d, req({ method: 'HEAD' })).allowed, true);
    assert.equal(evaluateRbac(d, req({ localPort: 1 })).allowed, true);
  });

  it('JWT claims: scalar and list claims; no token, no match', () => {
    const f = [
      allow(['c[0]', [any], [{ t: 'and', of: [claim('iss', 'https://idp'), groupClaim('admins')] }]]),
    ];
    const md = (claims: Record<string, unknown>) => ({ [JWT_AUTHN_FILTER]: { payload: claims } });
    assert.equal(
      evaluateRbac(f, req({ metadata: md({ iss: 'https://idp', groups: ['users', 'admins'] }) })).allowed,
      true,
    );
    assert.equal(
      evaluateRbac(f, req({ metadata: md({ iss: 'https://idp', groups: ['users'] }) })).allowed,
      false,
    );
    assert.equal(
      evaluateRbac(f, req({ metadata: md({ iss: 'https://other', groups: ['admins'] }) })).allowed,
      false,
    );
    assert.equal(evaluateRbac(f, req()).allowed, false);
  });

  it('metadata lookups do not walk the prototype chain', () => {
    const f = [
      allow([
        'c[0]',
        [any],
        [
          {
            t: 'metadata',
            filter: JWT_AUTHN_FILTER,
            path: ['payload', 'constructor'],
            value: { t: 'present' },
            invert: false,
          },
        ],
      ]),
    ];
    assert.equal(evaluateRbac(f, req({ metadata: { [JWT_AUTHN_FILTER]: { payload: {} } } })).allowed, false);
  });
});
