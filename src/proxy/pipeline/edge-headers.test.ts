// applyEdgeHeaders: x-forwarded-for appended, x-forwarded-proto set, client x-request-id dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyEdgeHeaders, forwardedFor } from './edge-headers.js';

test('a request without forwarding headers gets the peer and the scheme', () => {
  const h = ['host', 'shop.example', 'x-request-id', 'client-chosen', 'accept', '*/*'];
  applyEdgeHeaders(h, '::ffff:10.1.2.3', 'http');
  assert.deepEqual(h, [
    'host',
    'shop.example',
    'accept',
    '*/*',
    'x-forwarded-for',
    '10.1.2.3',
    'x-forwarded-proto',
    'http',
  ]);
});

test('existing x-forwarded-for values are kept and the peer appended; x-forwarded-proto replaced', () => {
  const h = ['x-forwarded-for', '1.1.1.1', 'x-forwarded-proto', 'https', 'x-forwarded-for', '2.2.2.2'];
  applyEdgeHeaders(h, '::1', 'http');
  assert.deepEqual(h, ['x-forwarded-for', '1.1.1.1, 2.2.2.2, ::1', 'x-forwarded-proto', 'http']);
});

test('forwardedFor', () => {
  assert.equal(forwardedFor(undefined), 'unknown');
  assert.equal(forwardedFor('127.0.0.1'), '127.0.0.1');
  assert.equal(forwardedFor('fd00::1'), 'fd00::1');
});
