// Route retries (GEP-1731 on HTTPRoute, the Trellis extension on GRPCRoute): defaults, errors with
// their paths, and documents that parse back to the same resource.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResource } from './parse.js';
import { findIssue, parseIssues, parseOk } from './testing.js';
import { resourceToDocument } from './to-document.js';
import type { GRPCRouteResource, HTTPRouteResource } from './types.js';

const route = (retry: string, kind = 'HTTPRoute') => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: { name: r }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules:
    - backendRefs: [{ name: reviews }]
      retry: ${retry}
`;

test('HTTPRoute retry: codes sorted and unique, defaults for attempts and backoff', () => {
  const [r] = parseOk(route('{ codes: [503, 500, 503] }')) as HTTPRouteResource[];
  assert.deepEqual(r?.spec.rules[0]?.retry, { attempts: 1, codes: [500, 503], backoffMs: 25 });
  const [r2] = parseOk(route('{ codes: [429, 502], attempts: 3, backoff: 100ms }')) as HTTPRouteResource[];
  assert.deepEqual(r2?.spec.rules[0]?.retry, { attempts: 3, codes: [429, 502], backoffMs: 100 });
  const [r3] = parseOk(route('{ attempts: 0 }')) as HTTPRouteResource[];
  assert.deepEqual(r3?.spec.rules[0]?.retry, { attempts: 0, codes: [], backoffMs: 25 });
  const [none] = parseOk(route('{}').replace('      retry: {}\n', '')) as HTTPRouteResource[];
  assert.equal(none?.spec.rules[0]?.retry, undefined);
});

test('GRPCRoute retry (Trellis extension): gRPC status names', () => {
  const [r] = parseOk(
    route('{ codes: [UNAVAILABLE, CANCELLED], attempts: 2, backoff: 1s }', 'GRPCRoute'),
  ) as GRPCRouteResource[];
  assert.deepEqual(r?.spec.rules[0]?.retry, {
    attempts: 2,
    codes: ['CANCELLED', 'UNAVAILABLE'],
    backoffMs: 1000,
  });
});

test('retry errors name the field and what is valid', () => {
  const cases: [string, string, string, string?][] = [
    [route('{ codes: [200] }'), 'invalid_value', 'spec.rules[0].retry.codes[0]', 'from 400 to 599'],
    [route('{ codes: [600] }'), 'invalid_value', 'spec.rules[0].retry.codes[0]'],
    [route('{ codes: ["503"] }'), 'invalid_type', 'spec.rules[0].retry.codes[0]'],
    [route('{ attempts: 11 }'), 'invalid_value', 'spec.rules[0].retry.attempts', 'from 0 to 10'],
    [route('{ attempts: -1 }'), 'invalid_value', 'spec.rules[0].retry.attempts'],
    [route('{ backoff: 100 }'), 'invalid_type', 'spec.rules[0].retry.backoff'],
    [route('{ backoff: 1.5s }'), 'invalid_duration', 'spec.rules[0].retry.backoff'],
    [route('{ backoff: 0s }'), 'invalid_value', 'spec.rules[0].retry.backoff', 'from 1ms to 1m'],
    [route('{ backoff: 2m }'), 'invalid_value', 'spec.rules[0].retry.backoff'],
    [route('{ tries: 2 }'), 'unknown_field', 'spec.rules[0].retry.tries'],
    [route('{ codes: [503] }', 'GRPCRoute'), 'invalid_type', 'spec.rules[0].retry.codes[0]'],
    [
      route('{ codes: [UNAVAILIBLE] }', 'GRPCRoute'),
      'invalid_value',
      'spec.rules[0].retry.codes[0]',
      'UNAVAILABLE',
    ],
    [route('{ codes: [NOT_FOUND] }', 'GRPCRoute'), 'invalid_value', 'spec.rules[0].retry.codes[0]'],
  ];
  for (const [yaml, code, path, text] of cases) {
    const issue = findIssue(parseIssues(yaml), code, path);
    if (text !== undefined) assert.match(issue.message, new RegExp(text), `${path}: ${issue.message}`);
  }
});

test('retries round-trip through documents', () => {
  const docs = [
    route('{ codes: [500, 502, 503, 504], attempts: 2, backoff: 100ms }'),
    route('{ attempts: 0 }'),
    route('{ codes: [UNAVAILABLE, RESOURCE_EXHAUSTED], attempts: 4, backoff: 1m }', 'GRPCRoute'),
  ];
  for (const text of docs) {
    for (const r of parseOk(text)) {
      const doc = resourceToDocument(r);
      const back = parseResource(JSON.parse(JSON.stringify(doc)), { source: 'rt', document: 0 });
      assert.ok(back.ok, JSON.stringify(!back.ok && back.error));
      assert.deepEqual(back.value, r);
      assert.deepEqual(resourceToDocument(back.value), doc);
    }
  }
  const [r] = parseOk(docs[0] as string);
  const spec = resourceToDocument(r as HTTPRouteResource).spec as { rules: { retry: unknown }[] };
  assert.deepEqual(spec.rules[0]?.retry, { codes: [500, 502, 503, 504], attempts: 2, backoff: '100ms' });
});
