// GitOps directory sync against a real temp dir: upserts, deletions, last-good config on errors,
// ownership (API-applied resources are left alone), and live re-sync on file events.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ConfigIssue } from '../../api/types.js';
import { silentLogger } from '../../common/logger.js';
import { SOURCE_ANNOTATION, sourceOf, syncDirectory, watchDirectory } from './dir-watcher.js';
import { MemoryStore } from './memory-store.js';
import { svcDoc } from './store-conformance.js';

const logger = silentLogger();

const service = (name: string, namespace = 'default', port = 8080): string =>
  `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  ports:
    - port: ${port}
      protocol: http
`;
const invalidService = (name: string): string =>
  `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: ${name}
spec:
  ports: []
`;

describe('config directory sync', () => {
  let dir: string;
  let store: MemoryStore;
  let issues: (readonly ConfigIssue[])[];
  const opts = () => ({ logger, onIssues: (i: readonly ConfigIssue[]) => void issues.push(i) });
  const names = async (): Promise<string[]> =>
    (await store.list()).map((r) => `${r.key.kind}/${r.key.namespace}/${r.key.name}`).sort();
  const put = (rel: string, text: string) => writeFile(join(dir, rel), text);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-gitops-'));
    store = new MemoryStore();
    issues = [];
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('upserts every resource of every yaml file, recursively, marking its source', async () => {
    await mkdir(join(dir, 'team-a', 'deep'), { recursive: true });
    await put('web.yaml', service('web', 'shop') + '---\n' + service('api', 'shop'));
    await put('team-a/deep/db.yml', service('db', 'data', 5432));
    await put('README.md', 'not config');
    await put('.hidden.yaml', service('hidden'));
    const report = await syncDirectory(dir, store, opts());
    assert.deepEqual(await names(), ['Service/data/db', 'Service/shop/api', 'Service/shop/web']);
    assert.equal(report.put.length, 3);
    const db = await store.get({ kind: 'Service', namespace: 'data', name: 'db' });
    assert.equal(sourceOf(db!.doc), 'team-a/deep/db.yml');
    assert.deepEqual(issues, [[]]);
    // Nothing changed: no write.
    const rev = await store.revision();
    assert.equal((await syncDirectory(dir, store, opts())).revision, undefined);
    assert.equal(await store.revision(), rev);
  });

  it('deletes resources that left the files, and leaves API-applied ones alone', async () => {
    await store.write({ put: [svcDoc('manual', 'shop')] });
    await put('a.yaml', service('web', 'shop') + '---\n' + service('api', 'shop'));
    await put('b.yaml', service('db', 'shop'));
    await syncDirectory(dir, store, opts());
    await put('a.yaml', service('web', 'shop', 9090));
    await rm(join(dir, 'b.yaml'));
    const report = await syncDirectory(dir, store, opts());
    assert.deepEqual(await names(), ['Service/shop/manual', 'Service/shop/web']);
    assert.deepEqual([...report.deleted].sort(), ['Service/shop/api', 'Service/shop/db']);
    assert.deepEqual(report.put, ['Service/shop/web']);
    assert.equal(
      sourceOf((await store.get({ kind: 'Service', namespace: 'shop', name: 'manual' }))!.doc),
      undefined,
    );
    await rm(join(dir, 'a.yaml'));
    await syncDirectory(dir, store, opts());
    assert.deepEqual(await names(), ['Service/shop/manual']);
  });

  it('keeps the last good resources of a file with an invalid document and reports the issues', async () => {
    await put('a.yaml', service('web') + '---\n' + service('api'));
    await put('b.yaml', service('db'));
    await syncDirectory(dir, store, opts());
    const before = await store.get({ kind: 'Service', namespace: 'default', name: 'web' });

    await put('a.yaml', service('web', 'default', 9999) + '---\n' + invalidService('api'));
    await put('b.yaml', service('db', 'default', 6543));
    const report = await syncDirectory(dir, store, opts());
    assert.deepEqual(report.failedFiles, ['a.yaml']);
    assert.deepEqual(await names(), ['Service/default/api', 'Service/default/db', 'Service/default/web']);
    assert.deepEqual(
      (await store.get({ kind: 'Service', namespace: 'default', name: 'web' }))?.doc,
      before?.doc,
    );
    assert.equal(report.put.length, 1, 'other files still apply');
    const reported = issues.at(-1) ?? [];
    assert.ok(reported.length > 0);
    assert.ok(reported.every((i) => i.source === 'a.yaml' && i.severity === 'error'));

    await put('a.yaml', 'kind: [unclosed');
    assert.deepEqual((await syncDirectory(dir, store, opts())).failedFiles, ['a.yaml']);
    assert.equal((await store.list()).length, 3);

    await put('a.yaml', service('web', 'default', 9999));
    const fixed = await syncDirectory(dir, store, opts());
    assert.deepEqual(fixed.failedFiles, []);
    assert.deepEqual(fixed.deleted, ['Service/default/api']);
    assert.deepEqual(issues.at(-1), []);
  });

  it('rejects a sync whose routes reference a missing Service, as apply does', async () => {
    await put('web.yaml', service('web'));
    await syncDirectory(dir, store, opts());
    const before = await names();
    await put(
      'route.yaml',
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ group: "", kind: Service, name: web }]
  rules: [{ backendRefs: [{ name: webz }] }]
`,
    );
    const report = await syncDirectory(dir, store, opts());
    assert.equal(report.revision, undefined, 'nothing written');
    assert.deepEqual(await names(), before);
    assert.deepEqual(report.failedFiles, ['route.yaml']);
    const dangling = report.issues.find((i) => i.code === 'dangling_reference');
    assert.equal(dangling?.path, 'spec.rules[0].backendRefs[0].name');
    assert.equal(dangling?.line, 6);
    await put('webz.yaml', service('webz'));
    const fixed = await syncDirectory(dir, store, opts());
    assert.deepEqual(fixed.failedFiles, []);
    assert.ok((await names()).includes('HTTPRoute/default/r'));
  });

  it('reports a resource defined in two files and uses the first', async () => {
    await put('a.yaml', service('web', 'default', 1111));
    await put('b.yaml', service('web', 'default', 2222));
    const report = await syncDirectory(dir, store, opts());
    const doc = (await store.get({ kind: 'Service', namespace: 'default', name: 'web' }))!.doc;
    assert.equal(sourceOf(doc), 'a.yaml');
    assert.deepEqual(
      report.issues.map((i) => [i.code, i.source, i.resource]),
      [['duplicate_resource', 'b.yaml', 'Service/default/web']],
    );
  });

  it('takes over a resource first applied through the API when a file declares it', async () => {
    await store.write({ put: [svcDoc('web')] });
    await put('a.yaml', service('web'));
    await syncDirectory(dir, store, opts());
    const doc = (await store.get({ kind: 'Service', namespace: 'default', name: 'web' }))!.doc;
    assert.equal(
      (doc['metadata'] as { annotations: Record<string, string> }).annotations[SOURCE_ANNOTATION],
      'a.yaml',
    );
  });

  it('fails clearly for a missing directory and changes nothing', async () => {
    await assert.rejects(syncDirectory(join(dir, 'nope'), store, opts()), /config directory .*nope/);
  });

  it('re-syncs on file events, including in new subdirectories', async () => {
    await put('a.yaml', service('web'));
    const w = await watchDirectory(dir, store, { ...opts(), debounceMs: 20 });
    try {
      assert.deepEqual(await names(), ['Service/default/web']);
      const until = (want: string[]) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`store never became ${want.join(', ')}`)), 5000);
          const check = async () => {
            if (JSON.stringify(await names()) === JSON.stringify(want)) {
              clearTimeout(t);
              stop();
              resolve();
            }
          };
          const stop = store.watch(() => void check());
          void check();
        });
      await put('b.yaml', service('api'));
      await until(['Service/default/api', 'Service/default/web']);
      await mkdir(join(dir, 'sub', 'dir'), { recursive: true });
      await put('sub/dir/c.yaml', service('db'));
      await until(['Service/default/api', 'Service/default/db', 'Service/default/web']);
      await rm(join(dir, 'a.yaml'));
      await until(['Service/default/api', 'Service/default/db']);
      const report = await w.sync();
      assert.equal(report.revision, undefined);
    } finally {
      await w.close();
    }
  });
});
