// The one conformance suite every Store implementation runs (memory, file, later etcd): the
// contract of store.ts, checked through the public interface only.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResourceKey, ResourceKind } from '../../api/types.js';
import type { Store, StoreChange, StoredResource } from './store.js';

export interface OpenedStore {
  readonly store: Store;
  /** Closes `store` and opens the same storage again (omit for non-durable stores). */
  readonly reopen?: () => Promise<Store>;
  cleanup(): Promise<void>;
}

type Doc = StoredResource['doc'];

export const svcDoc = (name: string, namespace = 'default', port = 8080): Doc => ({
  apiVersion: 'trellis.dev/v1alpha1',
  kind: 'Service',
  metadata: { name, namespace, labels: {}, annotations: {} },
  spec: { ports: [{ name: 'http', port, protocol: 'http', targetPort: port }], endpoints: [], subsets: [] },
});

const routeDoc = (name: string, namespace = 'default', kind: ResourceKind = 'HTTPRoute'): Doc => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind,
  metadata: { name, namespace, labels: {}, annotations: {} },
  spec: { parentRefs: [], hostnames: [], rules: [] },
});

const key = (name: string, namespace = 'default', kind: ResourceKind = 'Service'): ResourceKey => ({
  kind,
  namespace,
  name,
});

interface Recorded {
  readonly calls: { changes: readonly StoreChange[]; revision: number }[];
  /** Resolves once a call with a revision >= `rev` has been seen (watch delivery may be async). */
  until(rev: number): Promise<void>;
  stop(): void;
}

function record(store: Store, timeoutMs = 5000): Recorded {
  const calls: Recorded['calls'] = [];
  const waiters: { rev: number; done(): void }[] = [];
  const stop = store.watch((changes, revision) => {
    calls.push({ changes, revision });
    for (const w of waiters.filter((x) => revision >= x.rev)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.done();
    }
  });
  return {
    calls,
    stop,
    until: (rev) =>
      calls.some((c) => c.revision >= rev)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`no watch call reached revision ${rev}`)), timeoutMs);
            waiters.push({ rev, done: () => (clearTimeout(t), resolve()) });
          }),
  };
}

/** Lets asynchronously delivered watch calls (if any) arrive before asserting there were none. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

const describeChange = (c: StoreChange): string =>
  c.type === 'put'
    ? `put ${c.resource.key.kind}/${c.resource.key.namespace}/${c.resource.key.name}@${c.resource.revision}`
    : `delete ${c.key.kind}/${c.key.namespace}/${c.key.name}@${c.revision}`;

export function runStoreConformance(name: string, open: () => Promise<OpenedStore>): void {
  /** Runs `fn` against a fresh store and always cleans up. */
  const withStore = (fn: (s: OpenedStore) => Promise<void>) => async (): Promise<void> => {
    const opened = await open();
    try {
      await fn(opened);
    } finally {
      await opened.cleanup();
    }
  };

  describe(`Store conformance: ${name}`, () => {
    it(
      'starts empty',
      withStore(async ({ store }) => {
        assert.deepEqual(await store.list(), []);
        assert.equal(await store.get(key('nope')), undefined);
        assert.equal(typeof (await store.revision()), 'number');
      }),
    );

    it(
      'puts, gets and lists resources with the revision of their write',
      withStore(async ({ store }) => {
        const rev = await store.write({ put: [svcDoc('a'), routeDoc('r')] });
        assert.equal(await store.revision(), rev);
        const a = await store.get(key('a'));
        assert.ok(a);
        assert.deepEqual(a.key, key('a'));
        assert.deepEqual(a.doc, svcDoc('a'));
        assert.equal(a.revision, rev);
        const all = await store.list();
        assert.deepEqual(all.map((r) => r.key.name).sort(), ['a', 'r']);
      }),
    );

    it(
      'overwrites a resource on a second put',
      withStore(async ({ store }) => {
        const r1 = await store.write({ put: [svcDoc('a', 'default', 80)] });
        const r2 = await store.write({ put: [svcDoc('a', 'default', 81)] });
        assert.ok(r2 > r1);
        const a = await store.get(key('a'));
        assert.deepEqual(a?.doc, svcDoc('a', 'default', 81));
        assert.equal(a?.revision, r2);
        assert.equal((await store.list()).length, 1);
      }),
    );

    it(
      'increases the revision with every batch',
      withStore(async ({ store }) => {
        const start = await store.revision();
        const r1 = await store.write({ put: [svcDoc('a')] });
        const r2 = await store.write({ put: [svcDoc('b')] });
        const r3 = await store.write({ delete: [key('a')] });
        assert.ok(start < r1 && r1 < r2 && r2 < r3, `${start} < ${r1} < ${r2} < ${r3}`);
        assert.equal(await store.revision(), r3);
        assert.equal((await store.get(key('b')))?.revision, r2);
      }),
    );

    it(
      'applies a batch of puts and deletes as one revision and one watch call',
      withStore(async ({ store }) => {
        await store.write({ put: [svcDoc('a'), svcDoc('b')] });
        const rec = record(store);
        const rev = await store.write({ put: [svcDoc('c')], delete: [key('a')] });
        await rec.until(rev);
        await settle();
        assert.equal(rec.calls.length, 1);
        assert.equal(rec.calls[0]?.revision, rev);
        assert.deepEqual(rec.calls[0]?.changes.map(describeChange).sort(), [
          `delete Service/default/a@${rev}`,
          `put Service/default/c@${rev}`,
        ]);
        assert.deepEqual((await store.list()).map((r) => r.key.name).sort(), ['b', 'c']);
        rec.stop();
      }),
    );

    it(
      'treats deleting a missing key as a no-op',
      withStore(async ({ store }) => {
        const r1 = await store.write({ put: [svcDoc('a')] });
        const rec = record(store);
        const r2 = await store.write({ delete: [key('missing')] });
        assert.equal(r2, r1);
        assert.equal(await store.revision(), r1);
        await settle();
        assert.equal(rec.calls.length, 0);
        // Mixed with a real change, the missing key simply does not appear among the changes.
        const r3 = await store.write({ put: [svcDoc('b')], delete: [key('missing')] });
        await rec.until(r3);
        assert.deepEqual(rec.calls[0]?.changes.map(describeChange), [`put Service/default/b@${r3}`]);
        rec.stop();
      }),
    );

    it(
      'rejects a malformed document and changes nothing',
      withStore(async ({ store }) => {
        const r1 = await store.write({ put: [svcDoc('a')] });
        await assert.rejects(
          store.write({ put: [svcDoc('b'), { kind: 'Service', metadata: {} }] }),
          (e: { code?: string }) => e.code === 'BAD_REQUEST',
        );
        await assert.rejects(
          store.write({ put: [{ kind: 'Nonsense', metadata: { name: 'x' } }] }),
          (e: { code?: string }) => e.code === 'BAD_REQUEST',
        );
        assert.equal(await store.revision(), r1);
        assert.equal(await store.get(key('b')), undefined);
      }),
    );

    it(
      'keeps stored documents isolated from the caller’s objects',
      withStore(async ({ store }) => {
        const doc = svcDoc('a') as Record<string, unknown>;
        await store.write({ put: [doc] });
        (doc['metadata'] as Record<string, unknown>)['name'] = 'changed';
        doc['spec'] = null;
        assert.deepEqual((await store.get(key('a')))?.doc, svcDoc('a'));
      }),
    );

    it(
      'keeps keys with the same name in different namespaces and kinds distinct',
      withStore(async ({ store }) => {
        await store.write({
          put: [
            svcDoc('x', 'ns1'),
            svcDoc('x', 'ns2'),
            routeDoc('x', 'ns1'),
            routeDoc('x', 'ns1', 'GRPCRoute'),
          ],
        });
        assert.equal((await store.list()).length, 4);
        await store.write({ delete: [key('x', 'ns1', 'HTTPRoute')] });
        const left = (await store.list()).map((r) => `${r.key.kind}/${r.key.namespace}/${r.key.name}`).sort();
        assert.deepEqual(left, ['GRPCRoute/ns1/x', 'Service/ns1/x', 'Service/ns2/x']);
        assert.deepEqual((await store.get(key('x', 'ns2')))?.doc, svcDoc('x', 'ns2'));
      }),
    );

    it(
      'delivers every change to watchers, in order',
      withStore(async ({ store }) => {
        const rec = record(store);
        const expected: string[] = [];
        let last = 0;
        for (let i = 0; i < 10; i++) {
          last = await store.write({ put: [svcDoc(`s${i}`)] });
          expected.push(`put Service/default/s${i}@${last}`);
        }
        // Concurrent writes: each gets its own revision; the watcher still sees them in order.
        const revs = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.write(i % 2 ? { delete: [key(`s${(i - 1) / 2}`)] } : { put: [svcDoc(`c${i}`)] }),
          ),
        );
        assert.equal(new Set(revs).size, revs.length);
        assert.ok(revs.every((r) => r > last));
        const final = await store.revision();
        await rec.until(final);
        await settle();
        const revisions = rec.calls.map((c) => c.revision);
        assert.deepEqual(
          revisions,
          [...revisions].sort((a, b) => a - b),
        );
        assert.equal(new Set(revisions).size, revisions.length);
        const seen = rec.calls.flatMap((c) => c.changes.map(describeChange));
        assert.deepEqual(seen.slice(0, 10), expected);
        // Replaying the watched changes reproduces the store's contents.
        const replay = new Map<string, number>();
        for (const c of rec.calls.flatMap((x) => x.changes)) {
          if (c.type === 'put') replay.set(c.resource.key.name, c.resource.revision);
          else replay.delete(c.key.name);
        }
        const listed = new Map((await store.list()).map((r) => [r.key.name, r.revision]));
        assert.deepEqual([...replay].sort(), [...listed].sort());
        rec.stop();
      }),
    );

    it(
      'stops calling a watcher after it unsubscribes',
      withStore(async ({ store }) => {
        const rec = record(store);
        const other = record(store);
        const r1 = await store.write({ put: [svcDoc('a')] });
        await rec.until(r1);
        rec.stop();
        const r2 = await store.write({ put: [svcDoc('b')] });
        await other.until(r2);
        await settle();
        assert.deepEqual(
          rec.calls.map((c) => c.revision),
          [r1],
        );
        assert.deepEqual(
          other.calls.map((c) => c.revision),
          [r1, r2],
        );
        other.stop();
      }),
    );

    it(
      'keeps calling other watchers when one throws',
      withStore(async ({ store }) => {
        const stop = store.watch(() => {
          throw new Error('boom');
        });
        const rec = record(store);
        const rev = await store.write({ put: [svcDoc('a')] });
        await rec.until(rev);
        stop();
        rec.stop();
      }),
    );

    it(
      'brings back exactly what was written after a reopen',
      withStore(async (opened) => {
        if (!opened.reopen) return;
        const { store } = opened;
        await store.write({ put: [svcDoc('a'), svcDoc('b', 'other'), routeDoc('r')] });
        await store.write({ put: [svcDoc('a', 'default', 9090)], delete: [key('b', 'other')] });
        const rev = await store.revision();
        const before = await store.list();
        const again = await opened.reopen();
        assert.equal(await again.revision(), rev);
        assert.deepEqual(await again.list(), before);
        const next = await again.write({ put: [svcDoc('c')] });
        assert.ok(next > rev);
      }),
    );
  });
}
