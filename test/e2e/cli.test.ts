// End to end: the trellis CLI against a real control plane process: validation errors with paths,
// nothing stored on bad input, get/delete, exit codes, and the GitOps directory watcher.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminHeaders,
  freePort,
  startControlPlaneProcess,
  trellis,
  waitFor,
  type ControlPlaneProcess,
} from './helpers/processes.js';

const SERVICE = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: reviews }
spec:
  ports: [{ name: http, port: 9080, protocol: http }]
  endpoints: [{ address: 127.0.0.1, port: 19081, labels: { version: v1 } }]
  subsets: [{ name: v1, labels: { version: v1 } }]
`;

/** The Service plus an HTTPRoute on it with the given rules (a YAML flow sequence). */
const route = (rules: string) => `${SERVICE}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules: ${rules}
`;

const BAD: Record<string, { yaml: string; code: string; path: RegExp }> = {
  'malformed YAML': {
    yaml: 'kind: Service\nmetadata: { name: x\n',
    code: 'yaml_syntax',
    path: /line \d+: invalid YAML/,
  },
  'unknown kind': {
    yaml: 'apiVersion: trellis.dev/v1alpha1\nkind: Servize\nmetadata: { name: x }\nspec: {}\n',
    code: 'unknown_kind',
    path: /kind/,
  },
  'unknown field with a suggestion': {
    yaml: route('[{ backendRefs: [{ name: reviews, weigth: 3 }] }]'),
    code: 'unknown_field',
    path: /spec\.rules\[0\]\.backendRefs\[0\]\.weigth.*weight/,
  },
  'invalid regex (lookahead is not RE2)': {
    yaml: route(
      '[{ matches: [{ path: { type: RegularExpression, value: "/(?=a)b" } }], backendRefs: [{ name: reviews }] }]',
    ),
    code: 'invalid_regex',
    path: /spec\.rules\[0\]\.matches\[0\]\.path\.value/,
  },
  'negative weight': {
    yaml: route('[{ backendRefs: [{ name: reviews, weight: -5 }] }]'),
    code: 'invalid_value',
    path: /spec\.rules\[0\]\.backendRefs\[0\]\.weight/,
  },
  'weights that sum to zero': {
    yaml: route('[{ backendRefs: [{ name: reviews, weight: 0 }] }]'),
    code: 'invalid_value',
    path: /spec\.rules\[0\]/,
  },
  'dangling Service reference': {
    yaml: route('[{ backendRefs: [{ name: reviewz }] }]'),
    code: 'dangling_reference',
    path: /spec\.rules\[0\]\.backendRefs\[0\]\.name.*reviews/,
  },
  'missing subset': {
    yaml: route('[{ backendRefs: [{ name: reviews, subset: v9 }] }]'),
    code: 'dangling_reference',
    path: /spec\.rules\[0\]\.backendRefs\[0\]\.subset/,
  },
};

describe('trellis CLI', { timeout: 180_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-cli-'));
    cp = await startControlPlaneProcess({ dataDir: join(dir, 'data') });
  });
  after(async () => {
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, c] of Object.entries(BAD)) {
    test(`validate and apply reject: ${name}`, async () => {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, c.yaml);
      const v = await trellis(['validate', '-f', file]);
      assert.equal(v.code, 1, v.stdout + v.stderr);
      assert.match(v.stdout, c.path);
      const j = await trellis(['validate', '-f', file, '-o', 'json']);
      const report = JSON.parse(j.stdout) as { valid: boolean; issues: { code: string; severity: string }[] };
      assert.equal(report.valid, false);
      assert.ok(
        report.issues.some((i) => i.code === c.code && i.severity === 'error'),
        JSON.stringify(report.issues),
      );
      const before = await trellis(['get', 'httproutes', '-o', 'json'], { server: cp.apiUrl });
      const a = await trellis(['apply', '-f', file], { server: cp.apiUrl });
      assert.equal(a.code, 1, a.stdout + a.stderr);
      assert.match(a.stderr, /nothing was applied|nothing was stored/);
      const afterGet = await trellis(['get', 'httproutes', '-o', 'json'], { server: cp.apiUrl });
      assert.equal(afterGet.stdout, before.stdout, 'nothing stored');
    });
  }

  test('the server validates too: a JSON body with a bad field is rejected with its path', async () => {
    const res = await fetch(`${cp.apiUrl}/api/v1/apply`, {
      method: 'POST',
      headers: adminHeaders(cp.apiUrl, { 'content-type': 'application/json' }),
      body: JSON.stringify({
        documents: [
          {
            apiVersion: 'trellis.dev/v1alpha1',
            kind: 'Service',
            metadata: { name: 'x' },
            spec: { ports: [{ port: 70000 }] },
          },
        ],
      }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; details: { issues: { path: string }[] } } };
    assert.equal(body.error.code, 'INVALID_CONFIG');
    assert.ok(
      body.error.details.issues.some((i) => i.path === 'spec.ports[0].port'),
      JSON.stringify(body),
    );
  });

  test('apply, get, re-apply unchanged, delete', async () => {
    const file = join(dir, 'good.yaml');
    await writeFile(file, SERVICE);
    const v = await trellis(['validate', '-f', file]);
    assert.equal(v.code, 0, v.stdout);
    const a = await trellis(['apply', '-f', file], { server: cp.apiUrl });
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /service\/reviews \(default\) created/);
    const again = await trellis(['apply', '-f', file], { server: cp.apiUrl });
    assert.match(again.stdout, /unchanged/);
    const table = await trellis(['get', 'svc'], { server: cp.apiUrl });
    assert.match(table.stdout, /NAMESPACE\s+NAME\s+SUMMARY\n.*reviews.*9080\/http/);
    const ep = await trellis(['get', 'endpoints', 'reviews'], { server: cp.apiUrl });
    assert.equal(ep.code, 0, ep.stderr);
    assert.match(ep.stdout, /default\s+reviews\s+127\.0\.0\.1:19081\s+static\s+version=v1\s+1/);
    const y = await trellis(['get', 'service', 'reviews', '-o', 'yaml'], { server: cp.apiUrl });
    assert.match(y.stdout, /kind: Service/);
    const d = await trellis(['delete', 'service', 'reviews'], { server: cp.apiUrl });
    assert.equal(d.code, 0, d.stderr);
    const gone = await trellis(['get', 'service', 'reviews'], { server: cp.apiUrl });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /not found/);
  });

  test('exit codes: usage errors are 2, an unreachable control plane is 1 with a hint', async () => {
    assert.equal((await trellis(['frobnicate'])).code, 2);
    assert.equal((await trellis(['get', 'services', '--bogus'])).code, 2);
    const port = await freePort();
    const down = await trellis(['get', 'services'], { server: `http://127.0.0.1:${port}` });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the control plane.*TRELLIS_SERVER/);
  });

  test('GitOps: --watch applies files, keeps the last good config on a bad edit, deletes removed files', async () => {
    const watch = join(dir, 'gitops');
    await mkdir(watch);
    await writeFile(join(watch, 'svc.yaml'), SERVICE);
    const w = await startControlPlaneProcess({ dataDir: join(dir, 'data-w'), watch });
    try {
      const names = async () => {
        const r = await trellis(['get', 'services', '-o', 'json'], { server: w.apiUrl });
        return (
          JSON.parse(r.stdout) as {
            items: { metadata: { name: string }; spec: { ports: { port: number }[] } }[];
          }
        ).items;
      };
      await waitFor('reviews from the directory', async () =>
        (await names()).length === 1 ? true : undefined,
      );
      await writeFile(
        join(watch, 'svc.yaml'),
        SERVICE.replace('port: 9080', 'port: 9090').replace('protocol: http }', 'protocl: http }'),
      );
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await names())[0]?.spec.ports[0]?.port, 9080, 'last good config kept');
      await writeFile(join(watch, 'svc.yaml'), SERVICE.replace('port: 9080', 'port: 9090'));
      await waitFor('the edit', async () =>
        (await names())[0]?.spec.ports[0]?.port === 9090 ? true : undefined,
      );
      await unlink(join(watch, 'svc.yaml'));
      await waitFor('the deletion', async () => ((await names()).length === 0 ? true : undefined));
    } finally {
      await w.stop();
    }
  });
});
