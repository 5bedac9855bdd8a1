// matchRoute actions: weighted split distribution, prefix (Gateway API) and regex rewrites, host
// rewrite, timeouts, mirror sampling, redirects and direct responses.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchRoute } from './match-route.js';
import { type Obj, never, req, seeded, table, vh, webTable } from './test-support.js';
import type { RouteDecision } from './types.js';

type Forward = Extract<RouteDecision, { type: 'forward' }>;
function forward(d: RouteDecision): Forward {
  assert.equal(d.type, 'forward', JSON.stringify(d));
  return d as Forward;
}

describe('matchRoute: forward', () => {
  it('splits by weight within tolerance (seeded)', () => {
    const t = webTable([
      {
        name: 'split',
        match: { prefix: '/' },
        route: {
          weighted_clusters: {
            clusters: [
              { name: 'a', weight: 70 },
              { name: 'b', weight: 20 },
              { name: 'c', weight: 10 },
            ],
          },
        },
      },
    ]);
    const rnd = seeded(42);
    const n = 100_000;
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < n; i++) {
      const c = forward(matchRoute(t, req('web', '/'), rnd)).cluster;
      counts[c] = (counts[c] ?? 0) + 1;
    }
    for (const [c, w] of [
      ['a', 0.7],
      ['b', 0.2],
      ['c', 0.1],
    ] as const)
      assert.ok(Math.abs((counts[c] ?? 0) / n - w) < 0.01, `${c}: ${counts[c]}`);
  });

  it('picks at the cumulative weight boundaries', () => {
    const t = webTable([
      {
        match: { prefix: '/' },
        route: {
          weighted_clusters: {
            clusters: [
              { name: 'a', weight: 1 },
              { name: 'b', weight: 3 },
            ],
          },
        },
      },
    ]);
    const at = (r: number): string => forward(matchRoute(t, req('web', '/'), () => r)).cluster;
    assert.deepEqual([at(0), at(0.2499), at(0.25), at(0.999999)], ['a', 'a', 'b', 'b']);
  });

  it('keeps path, authority and query without a rewrite; carries timeouts', () => {
    const t = webTable([
      {
        name: 'r',
        match: { prefix: '/' },
        route: { cluster: 'c', timeout: { seconds: '3' } },
        metadata: { filter_metadata: { trellis: { backend_request_timeout_ms: 500 } } },
      },
    ]);
    const r = req('web:80', '/a?b=1');
    const d = forward(matchRoute(t, r, never));
    assert.equal(d.path, r.path);
    assert.equal(d.authority, 'web:80');
    assert.equal(d.timeoutMs, 3000);
    assert.equal(d.backendTimeoutMs, 500);
    assert.deepEqual(d.mirrors, []);
    assert.equal(d.vhost.name, 'web');
    const none = forward(
      matchRoute(webTable([{ match: { prefix: '/' }, route: { cluster: 'c' } }]), r, never),
    );
    assert.equal(none.timeoutMs, 15_000); // Envoy's default
    assert.equal(none.backendTimeoutMs, 0);
  });

  it('rewrites the host', () => {
    const t = webTable([
      { match: { prefix: '/' }, route: { cluster: 'c', host_rewrite_literal: 'api.internal' } },
    ]);
    assert.equal(forward(matchRoute(t, req('web', '/'), never)).authority, 'api.internal');
  });

  // [match, prefix_rewrite, request path, upstream path]: Gateway API ReplacePrefixMatch table.
  const prefixCases: [Obj, string, string, string][] = [
    [{ path_separated_prefix: '/foo' }, '/xyz', '/foo/bar', '/xyz/bar'],
    [{ path_separated_prefix: '/foo' }, '/xyz/', '/foo/bar', '/xyz/bar'],
    [{ prefix: '/foo/' }, '/xyz', '/foo/bar', '/xyz/bar'],
    [{ prefix: '/foo/' }, '/xyz/', '/foo/bar', '/xyz/bar'],
    [{ path_separated_prefix: '/foo' }, '/xyz', '/foo', '/xyz'],
    [{ path_separated_prefix: '/foo' }, '/xyz', '/foo/', '/xyz/'],
    [{ path_separated_prefix: '/foo' }, '', '/foo/bar', '/bar'],
    [{ path_separated_prefix: '/foo' }, '', '/foo/', '/'],
    [{ path_separated_prefix: '/foo' }, '', '/foo', '/'],
    [{ path_separated_prefix: '/foo' }, '/', '/foo/', '/'],
    [{ path_separated_prefix: '/foo' }, '/', '/foo', '/'],
    [{ path_separated_prefix: '/foo' }, '/', '/foo/x/y', '/x/y'],
    [{ path_separated_prefix: '/foo' }, '/bar', '/foo/x?q=1', '/bar/x?q=1'],
    [{ path_separated_prefix: '/foo', case_sensitive: false }, '/bar', '/FOO/x', '/bar/x'],
    [{ prefix: '/' }, '/bar', '/x', '/bar/x'],
    [{ prefix: '/' }, '/bar', '/', '/bar'],
    [{ prefix: '/' }, '/bar/', '/x', '/bar/x'],
    [{ path_separated_prefix: '/' }, '/bar', '/x', '/bar/x'],
    [{ prefix: '/' }, '/', '/x?y', '/x?y'],
    [{ prefix: '/foo' }, '/bar', '/foobar', '/barbar'], // mid-segment: Envoy's literal replace
    [{ path: '/old' }, '/new', '/old?x=1', '/new?x=1'], // exact: the whole path
  ];
  for (const [match, rw, path, want] of prefixCases)
    it(`prefix_rewrite ${JSON.stringify(match)} -> ${JSON.stringify(rw)}: ${path} => ${want}`, () => {
      const t = webTable([{ match, route: { cluster: 'c', prefix_rewrite: rw } }]);
      assert.equal(forward(matchRoute(t, req('web', path), never)).path, want);
    });

  const regexCases: [string, string, string, string][] = [
    ['^/strip/*', '/', '/strip//a', '/a'],
    ['^/strip/*', '/', '/strip', '/'],
    ['/v([0-9]+)/', '/version/\\1/', '/v2/x?q=/v3/', '/version/2/x?q=/v3/'], // query untouched
    ['a', 'b', '/aaa', '/bbb'], // every match
  ];
  for (const [pattern, sub, path, want] of regexCases)
    it(`regex_rewrite ${pattern} -> ${sub}: ${path} => ${want}`, () => {
      const t = webTable([
        {
          match: { prefix: '/' },
          route: { cluster: 'c', regex_rewrite: { pattern: { regex: pattern }, substitution: sub } },
        },
      ]);
      assert.equal(forward(matchRoute(t, req('web', path), never)).path, want);
    });

  it('samples mirrors by their fraction', () => {
    const mirror = (cluster: string, numerator?: number): Obj => ({
      cluster,
      ...(numerator === undefined
        ? {}
        : { runtime_fraction: { default_value: { numerator, denominator: 'HUNDRED' } } }),
    });
    const t = webTable([
      {
        match: { prefix: '/' },
        route: {
          cluster: 'c',
          request_mirror_policies: [mirror('all'), mirror('quarter', 25), mirror('none', 0)],
        },
      },
    ]);
    const rnd = seeded(7);
    let quarter = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const m = forward(matchRoute(t, req('web', '/'), rnd)).mirrors;
      assert.equal(m[0], 'all');
      assert.ok(!m.includes('none'));
      if (m.includes('quarter')) quarter++;
    }
    assert.ok(Math.abs(quarter / n - 0.25) < 0.015, String(quarter));
  });
});

describe('matchRoute: redirect and direct response', () => {
  // [redirect, authority, path, Location, status]
  const cases: [Obj, string, string, string, number][] = [
    [{ path_redirect: '/new' }, 'web', '/old?x=1', 'http://web/new?x=1', 301],
    [{ path_redirect: '/new?y=2' }, 'web', '/old?x=1', 'http://web/new?y=2', 301],
    [{ path_redirect: '/new', strip_query: true }, 'web', '/old?x=1', 'http://web/new', 301],
    [{ https_redirect: true }, 'web:80', '/a?b', 'https://web/a?b', 301],
    [{ scheme_redirect: 'https', port_redirect: 8443 }, 'web', '/a', 'https://web:8443/a', 301],
    [{ scheme_redirect: 'http' }, 'web:8080', '/a', 'http://web/a', 301],
    [{ host_redirect: 'example.com' }, 'web:8080', '/a', 'http://example.com:8080/a', 301],
    [{ host_redirect: 'example.com', port_redirect: 80 }, 'web:8080', '/a', 'http://example.com/a', 301],
    [{ host_redirect: 'example.com:9000' }, 'web', '/a', 'http://example.com:9000/a', 301],
    [{ port_redirect: 9090 }, 'web:8080', '/a', 'http://web:9090/a', 301],
    [{ prefix_rewrite: '/v2' }, 'web', '/v1/x?q', 'http://web/v2/x?q', 302],
    [
      { regex_rewrite: { pattern: { regex: '^/v1' }, substitution: '/v3' } },
      'web',
      '/v1/x',
      'http://web/v3/x',
      302,
    ],
    [{ path_redirect: '/n', response_code: 'PERMANENT_REDIRECT' }, 'web', '/o', 'http://web/n', 308],
    [{ path_redirect: '/n', response_code: 'SEE_OTHER' }, '[::1]:8080', '/o', 'http://[::1]:8080/n', 303],
  ];
  for (const [redirect, authority, path, location, status] of cases)
    it(`${JSON.stringify(redirect)} on ${authority}${path} -> ${location}`, () => {
      const withCode =
        'prefix_rewrite' in redirect || 'regex_rewrite' in redirect
          ? { response_code: 'FOUND', ...redirect }
          : redirect;
      const prefix = path.startsWith('/v1') ? '/v1' : '/';
      const t = table(
        vh('any', ['*'], [{ name: 'rd', match: { path_separated_prefix: prefix }, redirect: withCode }]),
      );
      const d = matchRoute(t, req(authority, path), never);
      assert.deepEqual(d.type === 'redirect' ? { status: d.status, location: d.location } : d, {
        status,
        location,
      });
    });

  it('keeps the request scheme when the redirect does not set one', () => {
    const t = webTable([{ match: { prefix: '/' }, redirect: { path_redirect: '/n' } }]);
    const d = matchRoute(t, { ...req('web:443', '/'), scheme: 'https' }, never);
    assert.ok(d.type === 'redirect');
    assert.equal(d.location, 'https://web/n');
  });

  it('answers a direct response with its status and body', () => {
    const t = webTable([
      {
        name: 'gone',
        match: { path: '/gone' },
        direct_response: { status: 410, body: { inline_string: 'gone' } },
      },
      { name: 'empty', match: { path: '/e' }, direct_response: { status: 500 } },
    ]);
    const d = matchRoute(t, req('web', '/gone'), never);
    assert.ok(d.type === 'direct_response');
    assert.deepEqual([d.status, d.body, d.route.name, d.vhost.name], [410, 'gone', 'gone', 'web']);
    const e = matchRoute(t, req('web', '/e'), never);
    assert.ok(e.type === 'direct_response' && e.body === '' && e.status === 500);
  });
});
