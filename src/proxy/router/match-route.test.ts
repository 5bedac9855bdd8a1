// matchRoute: virtual host selection, each matcher type (path, method, headers, query), first match
// wins, and the no_route details.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchRoute } from './match-route.js';
import { type Obj, fwd, never, req, table, vh, webTable } from './test-support.js';
import type { RequestView, RouteDecision } from './types.js';

function routeName(d: RouteDecision): string {
  return d.type === 'no_route' ? `no_route:${d.reason}` : d.route.name;
}

describe('matchRoute: virtual hosts', () => {
  const t = table(
    vh('exact', ['api.example.com', 'api.example.com:8080'], [fwd('exact', { prefix: '/' })]),
    vh('suffix', ['*.example.com'], [fwd('suffix', { prefix: '/' })]),
    vh('longer-suffix', ['*.eu.example.com'], [fwd('longer-suffix', { prefix: '/' })]),
    vh('prefix', ['api.*'], [fwd('prefix', { prefix: '/' })]),
    vh('star', ['*'], [fwd('star', { prefix: '/' })]),
  );
  const cases: [string, string][] = [
    ['api.example.com', 'exact'],
    ['API.Example.COM', 'exact'],
    ['api.example.com:8080', 'exact'],
    ['api.example.com:9999', 'exact'], // exact without the port
    ['www.example.com', 'suffix'],
    ['www.example.com:80', 'suffix'],
    ['x.eu.example.com', 'longer-suffix'],
    ['api.other.org', 'prefix'],
    ['example.com', 'star'], // `*.example.com` needs at least one character before
    ['other', 'star'],
    ['', 'star'],
  ];
  for (const [authority, want] of cases)
    it(`${JSON.stringify(authority)} -> ${want}`, () => {
      assert.equal(routeName(matchRoute(t, req(authority, '/'), never)), want);
    });

  it('IPv6 authorities strip the port after the brackets', () => {
    const t6 = table(vh('v6', ['[::1]'], [fwd('v6', { prefix: '/' })]));
    assert.equal(routeName(matchRoute(t6, req('[::1]:8080', '/'), never)), 'v6');
    assert.equal(routeName(matchRoute(t6, req('[::1]', '/'), never)), 'v6');
  });

  it('says which authority had no virtual host', () => {
    const t2 = table(vh('reviews', ['reviews', 'reviews:9080'], [fwd('r', { prefix: '/' })]));
    const d = matchRoute(t2, req('reviewz:9080', '/x'), never);
    assert.equal(d.type, 'no_route');
    assert.ok(d.type === 'no_route');
    assert.equal(d.reason, 'no_virtual_host');
    assert.match(d.detail, /^no virtual host for "reviewz:9080" in route table test/);
    const e = matchRoute(t2, req('', '/x'), never);
    assert.ok(e.type === 'no_route' && /no Host/.test(e.detail));
  });
});

describe('matchRoute: path matchers', () => {
  const cases: [string, Obj, boolean, string][] = [
    // [label, match, matches?, path]
    ['exact', { path: '/a' }, true, '/a'],
    ['exact with query', { path: '/a' }, true, '/a?x=1'],
    ['exact longer', { path: '/a' }, false, '/a/'],
    ['exact case', { path: '/a' }, false, '/A'],
    ['exact case-insensitive', { path: '/Ab', case_sensitive: false }, true, '/aB'],
    ['prefix', { prefix: '/api' }, true, '/apix'],
    ['prefix /', { prefix: '/' }, true, '/'],
    ['prefix case', { prefix: '/api' }, false, '/API/x'],
    ['prefix case-insensitive', { prefix: '/api', case_sensitive: false }, true, '/API/x'],
    ['prefix beyond the query', { prefix: '/a?x' }, false, '/a?x=1'],
    ['sep /api', { path_separated_prefix: '/api' }, true, '/api'],
    ['sep /api/', { path_separated_prefix: '/api' }, true, '/api/'],
    ['sep /api/x', { path_separated_prefix: '/api' }, true, '/api/x'],
    ['sep /api?q', { path_separated_prefix: '/api' }, true, '/api?q=1'],
    ['sep /apix', { path_separated_prefix: '/api' }, false, '/apix'],
    ['sep /ap', { path_separated_prefix: '/api' }, false, '/ap'],
    ['sep root', { path_separated_prefix: '/' }, true, '/anything'],
    ['sep case-insensitive', { path_separated_prefix: '/Api', case_sensitive: false }, true, '/aPI/x'],
    ['regex whole path', { safe_regex: { regex: '/v[0-9]+/.*' } }, true, '/v12/x'],
    ['regex not partial', { safe_regex: { regex: '/v[0-9]+' } }, false, '/v12/x'],
    ['regex excludes query', { safe_regex: { regex: '/v[0-9]+' } }, true, '/v12?x=1'],
    ['regex ignores case_sensitive', { safe_regex: { regex: '/a' }, case_sensitive: false }, false, '/A'],
  ];
  for (const [label, match, want, path] of cases)
    it(`${label}: ${path} ${want ? 'matches' : 'does not match'}`, () => {
      const t = webTable([fwd('r', match)]);
      assert.equal(matchRoute(t, req('web', path), never).type, want ? 'forward' : 'no_route');
    });

  it('first match wins', () => {
    const t = webTable([
      fwd('a', { prefix: '/a' }),
      fwd('ab', { prefix: '/ab' }),
      fwd('all', { prefix: '/' }),
    ]);
    assert.equal(routeName(matchRoute(t, req('web', '/abc'), never)), 'a');
    assert.equal(routeName(matchRoute(t, req('web', '/b'), never)), 'all');
  });

  it('says which virtual host and request had no route', () => {
    const t = table(vh('reviews.default:9080', ['reviews'], [fwd('r', { path: '/a' })]));
    const d = matchRoute(t, req('reviews', '/x?secret=1'), never);
    assert.deepEqual(d, {
      type: 'no_route',
      reason: 'no_route_match',
      detail: 'no route on reviews.default:9080 matched GET /x',
    });
  });
});

function headerRoute(h: object): ReturnType<typeof webTable> {
  return webTable([fwd('h', { prefix: '/', headers: [h] })]);
}

describe('matchRoute: method and header matchers', () => {
  const sm = (name: string, m: object, invert = false): object => ({
    name,
    string_match: m,
    ...(invert ? { invert_match: true } : {}),
  });
  const cases: [string, object, string[], boolean, Partial<RequestView>?][] = [
    ['exact', sm('x-a', { exact: 'v' }), ['x-a', 'v'], true],
    ['exact differs', sm('x-a', { exact: 'v' }), ['x-a', 'V'], false],
    ['exact ignore_case', sm('x-a', { exact: 'Val', ignore_case: true }), ['x-a', 'vAL'], true],
    ['absent', sm('x-a', { exact: 'v' }), [], false],
    ['name is case-insensitive', sm('X-A', { exact: 'v' }), ['x-a', 'v'], true],
    ['prefix', sm('x-a', { prefix: 'ab' }), ['x-a', 'abc'], true],
    ['prefix ignore_case', sm('x-a', { prefix: 'AB', ignore_case: true }), ['x-a', 'aBc'], true],
    ['suffix', sm('x-a', { suffix: 'bc' }), ['x-a', 'abc'], true],
    ['suffix too long', sm('x-a', { suffix: 'abcd' }), ['x-a', 'abc'], false],
    ['suffix ignore_case', sm('x-a', { suffix: 'BC', ignore_case: true }), ['x-a', 'aBc'], true],
    ['contains', sm('x-a', { contains: 'b' }), ['x-a', 'abc'], true],
    ['contains ignore_case', sm('x-a', { contains: 'XY', ignore_case: true }), ['x-a', 'axyc'], true],
    ['contains no', sm('x-a', { contains: 'z' }), ['x-a', 'abc'], false],
    ['regex', sm('x-user', { safe_regex: { regex: 'admin-.*' } }), ['x-user', 'admin-1'], true],
    ['regex whole value', sm('x-user', { safe_regex: { regex: 'admin' } }), ['x-user', 'admin-1'], false],
    ['present', { name: 'x-a', present_match: true }, ['x-a', ''], true],
    ['present absent', { name: 'x-a', present_match: true }, [], false],
    ['present_match false', { name: 'x-a', present_match: false }, [], true],
    ['present_match false, present', { name: 'x-a', present_match: false }, ['x-a', '1'], false],
    ['present inverted', { name: 'x-a', present_match: true, invert_match: true }, [], true],
    ['invert', sm('x-a', { exact: 'v' }, true), ['x-a', 'w'], true],
    ['invert equal', sm('x-a', { exact: 'v' }, true), ['x-a', 'v'], false],
    ['invert absent (Envoy: no match)', sm('x-a', { exact: 'v' }, true), [], false],
    ['repeated joined with ,', sm('x-a', { exact: 'a,b' }), ['x-a', 'a', 'x-b', 'z', 'x-a', 'b'], true],
    ['repeated not first only', sm('x-a', { exact: 'a' }), ['x-a', 'a', 'x-a', 'b'], false],
    [':authority', sm(':authority', { prefix: 'web' }), [], true],
    [':path', sm(':path', { exact: '/p?q=1' }), [], true],
    [':method inverted', sm(':method', { exact: 'GET' }, true), [], false],
    [':method regex', sm(':method', { safe_regex: { regex: 'G.T' } }), [], true],
    [':scheme', sm(':scheme', { exact: 'https' }), [], true, { scheme: 'https' }],
  ];
  for (const [label, h, headers, want, extra] of cases)
    it(`${label} ${want ? 'matches' : 'does not match'}`, () => {
      const r = { ...req('web', '/p?q=1', 'GET', headers), ...extra };
      assert.equal(matchRoute(headerRoute(h), r, never).type, want ? 'forward' : 'no_route');
    });

  it('matches the method (lifted :method) and all headers together', () => {
    const t = webTable([
      fwd('post-admin', {
        prefix: '/',
        headers: [
          { name: ':method', string_match: { exact: 'POST' } },
          { name: 'x-user', string_match: { prefix: 'admin' } },
        ],
      }),
      fwd('get', { prefix: '/', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }),
    ]);
    assert.equal(
      routeName(matchRoute(t, req('web', '/', 'POST', ['x-user', 'admin-1']), never)),
      'post-admin',
    );
    assert.equal(
      routeName(matchRoute(t, req('web', '/', 'POST', ['x-user', 'bob']), never)),
      'no_route:no_route_match',
    );
    assert.equal(routeName(matchRoute(t, req('web', '/', 'GET', ['x-user', 'admin-1']), never)), 'get');
  });
});

describe('matchRoute: query parameters', () => {
  const q = (name: string, m: object | undefined): ReturnType<typeof webTable> =>
    webTable([
      fwd('q', {
        prefix: '/',
        query_parameters: [m === undefined ? { name, present_match: true } : { name, string_match: m }],
      }),
    ]);
  const cases: [string, ReturnType<typeof webTable>, string, boolean][] = [
    ['exact', q('debug', { exact: '1' }), '/x?debug=1', true],
    ['exact among others', q('debug', { exact: '1' }), '/x?a=2&debug=1&b', true],
    ['first value wins', q('debug', { exact: '1' }), '/x?debug=0&debug=1', false],
    ['differs', q('debug', { exact: '1' }), '/x?debug=2', false],
    ['no query', q('debug', { exact: '1' }), '/x', false],
    ['name is a prefix of another', q('debug', { exact: '1' }), '/x?debugx=1', false],
    ['percent-decoded value', q('name', { exact: 'a b/c' }), '/x?name=a%20b%2Fc', true],
    ['percent-decoded name', q('a b', { exact: '1' }), '/x?a%20b=1', true],
    ['plus stays a plus', q('n', { exact: 'a+b' }), '/x?n=a+b', true],
    ['malformed escape kept', q('n', { exact: '100%' }), '/x?n=100%', true],
    ['malformed escape, valid rest', q('n', { exact: '%zz é' }), '/x?n=%zz%20%C3%A9', true],
    ['prefix ignore_case', q('n', { prefix: 'AB', ignore_case: true }), '/x?n=abc', true],
    ['regex', q('v', { safe_regex: { regex: '[0-9]+' } }), '/x?v=123', true],
    ['present', q('flag', undefined), '/x?flag', true],
    ['present with =', q('flag', undefined), '/x?flag=', true],
    ['present absent', q('flag', undefined), '/x?other', false],
    ['exact empty value', q('e', { exact: '' }), '/x?e', true],
  ];
  for (const [label, t, path, want] of cases)
    it(`${label}: ${path}`, () => {
      assert.equal(matchRoute(t, req('web', path), never).type, want ? 'forward' : 'no_route');
    });
});
