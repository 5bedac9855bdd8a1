// GEP-2257 durations: valid and invalid spellings, and canonical formatting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDurationMs, parseDurationMs } from './duration.js';
import { formatIssue } from './issues.js';

test('parses Gateway API durations to milliseconds', () => {
  const cases: [string, number][] = [
    ['0s', 0],
    ['10s', 10_000],
    ['500ms', 500],
    ['1h30m', 5_400_000],
    ['1h30m30s500ms', 5_430_500],
    ['00060m', 3_600_000],
    ['1s1s', 2000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDurationMs(text), ms, text);
});

test('rejects what GEP-2257 rejects', () => {
  for (const text of ['', '1', '1.5s', '-1s', '1d', '1us', '1h 30m', '123456s', '1h1m1s1ms1h', ' 1s'])
    assert.equal(parseDurationMs(text), undefined, text);
});

test('formats canonically and round-trips', () => {
  assert.equal(formatDurationMs(0), '0s');
  assert.equal(formatDurationMs(5_430_500), '1h30m30s500ms');
  for (const ms of [1, 999, 1000, 61_000, 3_600_000, 86_400_000])
    assert.equal(parseDurationMs(formatDurationMs(ms)), ms);
});

test('formatIssue renders one line', () => {
  assert.equal(
    formatIssue({
      code: 'invalid_value',
      severity: 'error',
      source: 'shop.yaml',
      document: 1,
      line: 14,
      resource: 'HTTPRoute/default/reviews',
      path: 'spec.rules[0].backendRefs[0].weight',
      message: 'must be an integer from 0 to 1000000; got -1',
    }),
    'shop.yaml doc 2 (HTTPRoute/default/reviews) line 14: spec.rules[0].backendRefs[0].weight: must be an integer from 0 to 1000000; got -1 [invalid_value]',
  );
  assert.equal(
    formatIssue({ code: 'conflict', severity: 'warning', path: '', message: 'x' }),
    'x [conflict, warning]',
  );
});
