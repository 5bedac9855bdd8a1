// Proxyless gRPC Workloads (`proxyless: true`): the schema's rules, the launch template, the
// grpc-agent's argv and the app's environment `trellis up` builds for a replica.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIssues, parseOk, SERVICE_YAML } from '../api/testing.js';
import type { ServiceResource, WorkloadResource } from '../api/types.js';
import { workloadToDocument } from '../api/schema-workload.js';
import { buildLaunchTemplate, grpcAgentArgs, proxylessAppEnv } from './launch.js';

const workload = (spec: string) => `---
apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: { name: reviews }
spec:
  service: reviews
  command: node server.mjs
${spec}`;

function parsed(spec: string): { w: WorkloadResource; services: Map<string, ServiceResource> } {
  const rs = parseOk(`${SERVICE_YAML}${workload(spec)}`);
  const w = rs.find((r): r is WorkloadResource => r.kind === 'Workload');
  assert.ok(w);
  const services = new Map(
    rs
      .filter((r): r is ServiceResource => r.kind === 'Service')
      .map((s) => [`default/${s.metadata.name}`, s]),
  );
  return { w, services };
}

test('schema: proxyless takes no upstreams and no httpGet probe, naming the field', () => {
  const up = parseIssues(
    `${SERVICE_YAML}${workload('  proxyless: true\n  upstreams: [{ service: reviews }]\n')}`,
  );
  assert.ok(
    up.some((i) => i.path === 'spec.upstreams' && /proxyless gRPC Workload has no sidecar/.test(i.message)),
  );
  const probe = parseIssues(
    `${SERVICE_YAML}${workload('  proxyless: true\n  readinessProbe: { httpGet: { path: /healthz } }\n')}`,
  );
  assert.ok(probe.some((i) => i.path === 'spec.readinessProbe.httpGet' && /drop httpGet/.test(i.message)));
  const bad = parseIssues(`${SERVICE_YAML}${workload('  proxyless: yes please\n')}`);
  assert.ok(
    bad.some((i) => i.path === 'spec.proxyless'),
    JSON.stringify(bad),
  );
  const { w } = parsed('  proxyless: true\n');
  assert.equal(w.spec.proxyless, true);
  assert.equal(workloadToDocument(w)['proxyless'], true);
  assert.equal(workloadToDocument(parsed('').w)['proxyless'], undefined);
});

test('launch: a grpc-agent with --serve on the app port, labels, the secure API; the app gets the bootstrap', () => {
  const { w, services } = parsed(
    '  proxyless: true\n  labels: { version: v2 }\n  env: { GRPC_XDS_EXPERIMENTAL_RBAC: "false", A: b }\n',
  );
  const t = buildLaunchTemplate(w, services, '/base');
  assert.equal(t.proxyless, true);
  assert.equal(t.problem, undefined);
  const cp = {
    xds: '127.0.0.1:1',
    api: 'https://127.0.0.1:1',
    caBundle: '/ca.pem',
    plaintextXds: '127.0.0.1:2',
  };
  assert.deepEqual(
    grpcAgentArgs(t, { app: 7000 }, cp, '/bin/trellis.js', '/d/reviews-1', '/t', 'reviews-1'),
    [
      '/bin/trellis.js',
      'grpc-agent',
      '--service',
      'reviews',
      '--namespace',
      'default',
      '--token-file',
      '/t',
      '--out',
      '/d/reviews-1',
      '--xds',
      '127.0.0.1:2',
      '--api',
      'https://127.0.0.1:1',
      '--ca-bundle',
      '/ca.pem',
      '--node-id',
      'reviews-1',
      '--serve',
      '127.0.0.1:7000',
      '--labels',
      'version=v2',
    ],
  );
  const env = proxylessAppEnv(t, 1, { app: 7000 }, { PATH: '/bin', GRPC_XDS_BOOTSTRAP: 'x' }, '/d/b.json');
  assert.equal(env['GRPC_XDS_BOOTSTRAP'], '/d/b.json');
  assert.equal(env['PORT'], '7000');
  assert.equal(env['GRPC_XDS_EXPERIMENTAL_RBAC'], 'false', 'the Workload may turn it off');
  assert.equal(env['A'], 'b');
  assert.equal(env['HTTP_PROXY'], undefined);
  assert.equal(env['TRELLIS_REPLICA'], '1');
  const blocked = buildLaunchTemplate(w, services, '/base', 'no plaintext xDS');
  assert.match(blocked.problem ?? '', /no plaintext xDS/);
  assert.equal(buildLaunchTemplate(parsed('').w, services, '/base', 'no plaintext xDS').problem, undefined);
});
