// The normalisation table: canonical results for the tricks that bypassed Envoy and Istio policies,
// and the refusals (400) for what the strict default does not accept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizePath, type PathRejection } from './normalize-path.js';

/** [input, normalised]. */
const NORMALISED: readonly (readonly [string, string])[] = [
  ['/', '/'],
  ['/admin', '/admin'],
  ['/admin/', '/admin/'],
  ['/a/b/c?x=1&y=%2F', '/a/b/c?x=1&y=%2F'],
  ['/admin/../admin', '/admin'],
  ['/public/../admin', '/admin'],
  ['/../admin', '/admin'],
  ['/../../../admin', '/admin'],
  ['/./admin', '/admin'],
  ['/admin/.', '/admin/'],
  ['/admin/./', '/admin/'],
  ['/admin/x/..', '/admin/'],
  ['/admin/x/../', '/admin/'],
  ['//admin', '/admin'],
  ['///admin//x///', '/admin/x/'],
  ['/%61dmin', '/admin'],
  ['/%61%64%6D%69%6E', '/admin'],
  ['/%2e%2e/admin', '/admin'],
  ['/public/%2e%2e/admin', '/admin'],
  ['/public/%2E%2E/admin', '/admin'],
  ['/public/.%2e/admin', '/admin'],
  ['/%2e/admin', '/admin'],
  ['/a%7eb', '/a~b'],
  ['/a%2db_c', '/a-b_c'],
  ['/caf%c3%a9', '/caf%C3%A9'],
  ['/a%20b', '/a%20b'],
  ['/a%3fb?q', '/a%3Fb?q'],
  ['/a%3Fb', '/a%3Fb'],
  ['/.well-known/x', '/.well-known/x'],
  ['/a/..b/c', '/a/..b/c'],
  ['/a/b.', '/a/b.'],
  ['/ADMIN', '/ADMIN'],
  ['/x?/../admin', '/x?/../admin'],
  ['/x?a=%252e', '/x?a=%252e'],
  ['*', '*'],
];

/** [input, why it is refused]. */
const REFUSED: readonly (readonly [string, PathRejection])[] = [
  ['/admin%2F', 'encoded_slash'],
  ['/admin%2f', 'encoded_slash'],
  ['/public%2F..%2Fadmin', 'encoded_slash'],
  ['/admin%5C', 'backslash'],
  ['/admin%5c..%5cx', 'backslash'],
  ['/public\\..\\admin', 'backslash'],
  ['/admin\\', 'backslash'],
  ['/admin;x', 'path_parameter'],
  ['/admin;', 'path_parameter'],
  ['/public/..;/admin', 'path_parameter'],
  ['/admin%3Bx', 'path_parameter'],
  ['/admin%3b', 'path_parameter'],
  ['/admin%00', 'nul'],
  ['/admin\0', 'nul'],
  ['/admin%00.json', 'nul'],
  ['/admin#x', 'fragment'],
  ['/public#/../admin', 'fragment'],
  ['/public?x#y', 'fragment'],
  ['/admin%c0%af', 'invalid_utf8'],
  ['/%c0%ae%c0%ae/admin', 'invalid_utf8'],
  ['/admin%e0%80%af', 'invalid_utf8'],
  ['/admin%ff', 'invalid_utf8'],
  ['/%252e%252e/admin', 'double_encoding'],
  ['/admin%252F', 'double_encoding'],
  ['/admin%', 'bad_escape'],
  ['/admin%2', 'bad_escape'],
  ['/admin%zz', 'bad_escape'],
  ['/admin%2?x', 'bad_escape'],
  ['/ad min', 'control_character'],
  ['/admin\t', 'control_character'],
  ['/admin%0a', 'control_character'],
  ['/admin%7f', 'control_character'],
  ['/adm\u00efn', 'control_character'],
  ['/x?a b', 'control_character'],
  ['admin', 'not_origin_form'],
  ['', 'not_origin_form'],
  ['http://h/admin', 'not_origin_form'],
];

describe('normalizePath', () => {
  for (const [input, want] of NORMALISED)
    it(`${JSON.stringify(input)} -> ${want}`, () => {
      const r = normalizePath(input);
      assert.deepEqual(r, { ok: true, path: want });
      // Normal form is a fixed point: normalising twice changes nothing.
      assert.deepEqual(normalizePath(want), { ok: true, path: want });
    });

  for (const [input, reason] of REFUSED)
    it(`${JSON.stringify(input)} refused (${reason})`, () => {
      const r = normalizePath(input);
      assert.equal(r.ok, false, `got ${JSON.stringify(r)}`);
      if (!r.ok) assert.equal(r.reason, reason);
    });

  it('keeps encoded slashes when configured to (upper-cased, never decoded)', () => {
    const opts = { escapedSlashes: 'keep', mergeSlashes: true } as const;
    assert.deepEqual(normalizePath('/a%2fb/../c', opts), { ok: true, path: '/c' });
    assert.deepEqual(normalizePath('/a%2fb', opts), { ok: true, path: '/a%2Fb' });
    assert.deepEqual(normalizePath('/a%5cb', opts), { ok: true, path: '/a%5Cb' });
  });

  it('does not merge slashes when told not to', () => {
    const opts = { escapedSlashes: 'reject', mergeSlashes: false } as const;
    assert.deepEqual(normalizePath('/a//b', opts), { ok: true, path: '/a//b' });
    assert.deepEqual(normalizePath('/a//../b', opts), { ok: true, path: '/a/b' });
  });

  it('returns the very same string for an already normal path (no allocation on the common path)', () => {
    const p = '/api/v1/products/42?sort=asc';
    const r = normalizePath(p);
    assert.ok(r.ok && r.path === p);
  });

  it('no input of printable ASCII escapes the canonical form (seeded fuzz: result is a fixed point)', () => {
    const alphabet = [
      '/',
      '.',
      '%2e',
      '%2E',
      'a',
      'A',
      '%41',
      '%2f',
      '%5c',
      ';',
      '%',
      '~',
      '%7E',
      '..',
      '//',
    ];
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let n = 0; n < 3000; n++) {
      let p = '/';
      const len = 1 + Math.floor(rnd() * 8);
      for (let i = 0; i < len; i++) p += alphabet[Math.floor(rnd() * alphabet.length)];
      const r = normalizePath(p);
      if (!r.ok) continue;
      assert.ok(!/(^|\/)\.\.?(\/|$)/.test(r.path), `dot segment left in ${r.path} from ${p}`);
      assert.ok(!r.path.includes('//'), `// left in ${r.path} from ${p}`);
      assert.ok(!/%(2[eE]|4[1-9a-fA-F]|[67][0-9a-fA-F])/.test(r.path), `unreserved escape left in ${r.path}`);
      assert.deepEqual(normalizePath(r.path), r, `not a fixed point: ${p} -> ${r.path}`);
    }
  });
});
