// ResourceCache: one translate + encode per scope, endpoint-only reuse, diffs, last-good fallback.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import { NESTED_ANY_TYPES, parseNode } from '../../translate/index.js';
import { typeForUrl } from '../../xds/any.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../xds/type-urls.js';
import { cla, cluster, fakeSnapshot, fakeTranslate } from '../ads/testing.js';
import { ResourceCache, type TranslateFn, defaultCacheScope } from './resource-cache.js';

const nodeA = parseNode({ id: 'a', metadata: { NAMESPACE: 'prod' } });
const nodeB = parseNode({ id: 'b', metadata: { NAMESPACE: 'prod' } });
const nodeC = parseNode({ id: 'c', metadata: { NAMESPACE: 'dev' } });

const snap = (v: number, port = 1000, timeout = 1) =>
  fakeSnapshot(v, {
    [CLUSTER_TYPE]: { x: cluster('x', timeout), y: cluster('y') },
    [ENDPOINT_TYPE]: { x: cla('x', port), y: cla('y', 2000) },
  });

function cache(
  s = snap(1),
  translate: TranslateFn = fakeTranslate(),
  previous?: ResourceCache,
  reuseTypes?: string[],
) {
  return new ResourceCache({
    snapshot: s,
    translate,
    scope: defaultCacheScope,
    logger: silentLogger(),
    ...(previous ? { previous } : {}),
    ...(reuseTypes ? { reuseTypes } : {}),
  });
}

describe('ResourceCache', () => {
  it('translates and encodes once per scope; nodes in one scope share entries', () => {
    const calls: { typeUrl: string; names: readonly string[] | '*' }[] = [];
    const c = cache(snap(1), fakeTranslate(calls));
    const a = c.resolve(CLUSTER_TYPE, nodeA, ['x', 'y', 'missing']);
    const b = c.resolve(CLUSTER_TYPE, nodeB, ['x', 'missing']);
    assert.deepEqual([...a.keys()], ['x', 'y']);
    assert.equal(a.get('x'), b.get('x'));
    assert.equal(calls.length, 1, 'negative results are cached too');
    c.resolve(CLUSTER_TYPE, nodeC, ['x']);
    assert.equal(calls.length, 2, 'another namespace is another scope');
    assert.equal(c.encodes, 2, 'identical content is encoded once');
  });

  it('endpoint-only successors reuse other types and diff only EDS', () => {
    const calls: { typeUrl: string; names: readonly string[] | '*' }[] = [];
    const c1 = cache(snap(1), fakeTranslate(calls));
    c1.resolve(CLUSTER_TYPE, nodeA, ['x']);
    c1.resolve(ENDPOINT_TYPE, nodeA, ['x', 'y']);
    calls.length = 0;
    const c2 = cache(snap(2, 1001, 9), fakeTranslate(calls), c1, [CLUSTER_TYPE]);
    assert.equal(
      c2.resolve(CLUSTER_TYPE, nodeA, ['x']).get('x'),
      c1.resolve(CLUSTER_TYPE, nodeA, ['x']).get('x'),
    );
    const scope = c2.scopeOf(nodeA, ENDPOINT_TYPE, 'x');
    assert.deepEqual([...(c2.changedSince(ENDPOINT_TYPE, scope, nodeA) ?? [])], ['x']);
    assert.equal(c2.changedSince(CLUSTER_TYPE, c2.scopeOf(nodeA, CLUSTER_TYPE, 'x'), nodeA)?.size, 0);
    assert.ok(calls.every((x) => x.typeUrl === ENDPOINT_TYPE));
  });

  it('does not re-encode unchanged content of a new snapshot', () => {
    const c1 = cache(snap(1));
    c1.resolve(CLUSTER_TYPE, nodeA, ['x', 'y']);
    const c2 = cache(snap(2, 1000, 5), fakeTranslate(), c1);
    c2.resolve(CLUSTER_TYPE, nodeA, ['x', 'y']);
    assert.equal(c2.encodes, 1);
  });

  it('keeps the last good resources when translate throws or output does not encode', () => {
    const c1 = cache(snap(1));
    const good = c1.resolve(CLUSTER_TYPE, nodeA, ['x']).get('x');
    const c2 = cache(
      snap(2),
      () => {
        throw new Error('boom');
      },
      c1,
    );
    assert.equal(c2.resolve(CLUSTER_TYPE, nodeA, ['x']).get('x'), good);
    const c3 = cache(snap(3), () => new Map([['x', { '@type': CLUSTER_TYPE, name: 'x', bogus: 1 }]]), c1);
    assert.equal(c3.resolve(CLUSTER_TYPE, nodeA, ['x']).get('x'), good);
  });

  it('loads every message type translate nests in an Any', () => {
    for (const t of NESTED_ANY_TYPES) assert.ok(typeForUrl(t), t);
  });
});
