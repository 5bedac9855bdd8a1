// analyze() on Workloads: the served Service and upstreams must exist, fixed ports must not clash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyze } from './analyze.js';
import { findIssue, parseOk, SERVICE_YAML } from './testing.js';

const workload = (name: string, spec: string) => `---
apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: { name: ${name} }
spec:
  command: node server.mjs
${spec}`;

test('a Workload of an existing Service with existing upstreams has no issues', () => {
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${workload('reviews', '  service: reviews\n  replicas: 2\n')}${workload(
        'web',
        '  service: reviews\n  upstreams: [{ service: reviews, port: 8080 }, { service: reviews.default }]\n',
      )}`,
    ),
  );
  assert.deepEqual(issues, []);
});

test('a missing Service, upstream Service or upstream port is a dangling_reference error', () => {
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${workload(
        'w',
        '  service: reveiws\n  upstreams: [{ service: ratings }, { service: reviews, port: 9 }, { service: reviews.other }]\n',
      )}`,
    ),
  );
  const svc = findIssue(issues, 'dangling_reference', 'spec.service');
  assert.equal(svc.severity, 'error');
  assert.match(svc.message, /default\/reveiws does not exist; did you mean 'reviews'/);
  assert.match(svc.line === undefined ? '' : String(svc.line), /^\d+$/);
  findIssue(issues, 'dangling_reference', 'spec.upstreams[0].service');
  assert.match(findIssue(issues, 'dangling_reference', 'spec.upstreams[1].port').message, /its ports: 8080/);
  assert.match(
    findIssue(issues, 'dangling_reference', 'spec.upstreams[2].service').message,
    /other\/reviews does not exist/,
  );
  assert.equal(issues.length, 4);
});

test('two Workloads with the same fixed port conflict; a Gateway listener port too', () => {
  const gateway = `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners: [{ name: http, port: 8080, protocol: HTTP }]
`;
  const issues = analyze(
    parseOk(
      `${SERVICE_YAML}${gateway}${workload('a', '  service: reviews\n  port: 9000\n')}${workload(
        'b',
        '  service: reviews\n  port: 9000\n',
      )}${workload('c', '  service: reviews\n  port: 8080\n')}${workload(
        'd',
        '  service: reviews\n  port: 9000\n  replicas: 0\n',
      )}`,
    ),
  );
  const clash = issues.filter((i) => i.code === 'conflict');
  assert.deepEqual(
    clash.map((i) => [i.resource, i.path, i.severity]),
    [
      ['Workload/default/b', 'spec.port', 'error'],
      ['Workload/default/c', 'spec.port', 'error'],
    ],
  );
  assert.match(clash[0]!.message, /port 9000 is also used by Workload\/default\/a/);
  assert.match(clash[1]!.message, /listener http of Gateway\/default\/edge/);
});
