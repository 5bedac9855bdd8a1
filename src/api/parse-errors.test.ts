// Invalid inputs: each case asserts the issue code and JSON path (and the line where it matters).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDocuments } from './parse.js';
import { findIssue, parseIssues, ROUTE_YAML, SERVICE_YAML } from './testing.js';

/** A route document with `rule` spliced in as its only rule (indented by 4). */
const route = (rule: string, kind = 'HTTPRoute') => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: { name: r }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules:
    - ${rule.trim().split('\n').join('\n      ')}
`;
const service = (spec: string) => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: s }
spec:
  ${spec.trim().split('\n').join('\n  ')}
`;

const cases: { name: string; yaml: string; code: string; path: string }[] = [
  { name: 'malformed YAML', yaml: 'kind: Service\nmetadata: [\n', code: 'yaml_syntax', path: '' },
  { name: 'duplicate YAML key', yaml: 'kind: Service\nkind: Service\n', code: 'duplicate', path: '' },
  { name: 'a list instead of a mapping', yaml: '- a\n- b\n', code: 'not_an_object', path: '' },
  {
    name: 'missing kind',
    yaml: 'apiVersion: v1\nmetadata: { name: x }\n',
    code: 'missing_field',
    path: 'kind',
  },
  { name: 'unknown kind', yaml: 'apiVersion: v1\nkind: Deployment\n', code: 'unknown_kind', path: 'kind' },
  {
    name: 'unknown apiVersion',
    yaml: ROUTE_YAML.replace('gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'),
    code: 'unknown_api_version',
    path: 'apiVersion',
  },
  {
    name: 'bad name',
    yaml: SERVICE_YAML.replace('name: reviews', 'name: Reviews_1'),
    code: 'invalid_value',
    path: 'metadata.name',
  },
  {
    name: 'missing spec',
    yaml: 'apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: x }\n',
    code: 'missing_field',
    path: 'spec',
  },
  {
    name: 'port as a string',
    yaml: service('ports: [{ port: "80" }]'),
    code: 'invalid_type',
    path: 'spec.ports[0].port',
  },
  {
    name: 'port out of range',
    yaml: service('ports: [{ port: 70000 }]'),
    code: 'invalid_value',
    path: 'spec.ports[0].port',
  },
  {
    name: 'unknown protocol',
    yaml: service('ports: [{ port: 80, protocol: https }]'),
    code: 'invalid_value',
    path: 'spec.ports[0].protocol',
  },
  { name: 'no ports', yaml: service('ports: []'), code: 'invalid_value', path: 'spec.ports' },
  {
    name: 'duplicate port numbers',
    yaml: service('ports: [{ name: a, port: 80 }, { name: b, port: 80 }]'),
    code: 'duplicate',
    path: 'spec.ports[1].port',
  },
  {
    name: 'duplicate port names',
    yaml: service('ports: [{ name: a, port: 80 }, { name: a, port: 81 }]'),
    code: 'duplicate',
    path: 'spec.ports[1].name',
  },
  {
    name: 'unnamed port among several',
    yaml: service('ports: [{ name: a, port: 80 }, { port: 81 }]'),
    code: 'missing_field',
    path: 'spec.ports[1].name',
  },
  {
    name: 'hostname endpoint',
    yaml: service('ports: [{ port: 80 }]\nendpoints: [{ address: reviews.local }]'),
    code: 'invalid_value',
    path: 'spec.endpoints[0].address',
  },
  {
    name: 'duplicate endpoint',
    yaml: service('ports: [{ port: 80 }]\nendpoints: [{ address: "fd00::1" }, { address: "FD00:0::1" }]'),
    code: 'duplicate',
    path: 'spec.endpoints[1].address',
  },
  {
    name: 'endpoint port name unknown',
    yaml: service('ports: [{ port: 80 }]\nendpoints: [{ address: 10.0.0.1, ports: { grpc: 9 } }]'),
    code: 'invalid_value',
    path: 'spec.endpoints[0].ports.grpc',
  },
  {
    name: 'endpoint weight 0',
    yaml: service('ports: [{ port: 80 }]\nendpoints: [{ address: 10.0.0.1, weight: 0 }]'),
    code: 'invalid_value',
    path: 'spec.endpoints[0].weight',
  },
  {
    name: 'duplicate subsets',
    yaml: service('ports: [{ port: 80 }]\nsubsets: [{ name: v1 }, { name: v1 }]'),
    code: 'duplicate',
    path: 'spec.subsets[1].name',
  },
  {
    name: 'bad label value',
    yaml: service('ports: [{ port: 80 }]\nsubsets: [{ name: v1, labels: { version: "a b" } }]'),
    code: 'invalid_value',
    path: 'spec.subsets[0].labels.version',
  },
  {
    name: 'unknown field',
    yaml: route('backendRefs: [{ name: reviews, weigth: 2 }]'),
    code: 'unknown_field',
    path: 'spec.rules[0].backendRefs[0].weigth',
  },
  {
    name: 'negative weight',
    yaml: route('backendRefs: [{ name: reviews, weight: -1 }]'),
    code: 'invalid_value',
    path: 'spec.rules[0].backendRefs[0].weight',
  },
  {
    name: 'backend of another kind',
    yaml: route('backendRefs: [{ name: reviews, kind: Pod }]'),
    code: 'invalid_value',
    path: 'spec.rules[0].backendRefs[0].kind',
  },
  {
    name: 'per-backend filters',
    yaml: route('backendRefs: [{ name: reviews, filters: [] }]'),
    code: 'unsupported',
    path: 'spec.rules[0].backendRefs[0].filters',
  },
  {
    name: 'Service parent in the gateway group',
    yaml: ROUTE_YAML.replace('group: ""', 'group: gateway.networking.k8s.io'),
    code: 'invalid_value',
    path: 'spec.parentRefs[0].group',
  },
  {
    name: 'relative path',
    yaml: route('matches: [{ path: { value: api } }]'),
    code: 'invalid_value',
    path: 'spec.rules[0].matches[0].path.value',
  },
  {
    name: 'unknown path match type',
    yaml: route('matches: [{ path: { type: Prefix, value: /a } }]'),
    code: 'invalid_value',
    path: 'spec.rules[0].matches[0].path.type',
  },
  {
    name: 'lookahead regex',
    yaml: route('matches: [{ path: { type: RegularExpression, value: "/a(?=b)" } }]'),
    code: 'invalid_regex',
    path: 'spec.rules[0].matches[0].path.value',
  },
  {
    name: 'backreference in a header regex',
    yaml: route('matches: [{ headers: [{ type: RegularExpression, name: x, value: "(a)\\\\1" }] }]'),
    code: 'invalid_regex',
    path: 'spec.rules[0].matches[0].headers[0].value',
  },
  {
    name: 'unbalanced query regex',
    yaml: route('matches: [{ queryParams: [{ type: RegularExpression, name: q, value: "[a" }] }]'),
    code: 'invalid_regex',
    path: 'spec.rules[0].matches[0].queryParams[0].value',
  },
  {
    name: 'duplicate header match',
    yaml: route('matches: [{ headers: [{ name: X-A, value: "1" }, { name: x-a, value: "2" }] }]'),
    code: 'duplicate',
    path: 'spec.rules[0].matches[0].headers[1].name',
  },
  {
    name: 'bad method',
    yaml: route('matches: [{ method: get }]'),
    code: 'invalid_value',
    path: 'spec.rules[0].matches[0].method',
  },
  {
    name: 'filter type without its field',
    yaml: route('filters: [{ type: RequestHeaderModifier }]'),
    code: 'missing_field',
    path: 'spec.rules[0].filters[0].requestHeaderModifier',
  },
  {
    name: 'filter field of another type',
    yaml: route('filters: [{ type: RequestRedirect, requestRedirect: {}, urlRewrite: {} }]'),
    code: 'invalid_value',
    path: 'spec.rules[0].filters[0].urlRewrite',
  },
  {
    name: 'ReplacePrefixMatch with an Exact match',
    yaml: route(
      'matches: [{ path: { type: Exact, value: /a } }]\nfilters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }]',
    ),
    code: 'invalid_value',
    path: 'spec.rules[0].filters[0].urlRewrite.path.type',
  },
  {
    name: 'path modifier without its value',
    yaml: route('filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath } } }]'),
    code: 'missing_field',
    path: 'spec.rules[0].filters[0].urlRewrite.path.replaceFullPath',
  },
  {
    name: 'redirect status code',
    yaml: route('filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 304 } }]'),
    code: 'invalid_value',
    path: 'spec.rules[0].filters[0].requestRedirect.statusCode',
  },
  {
    name: 'two header modifiers',
    yaml: route(
      'filters: [{ type: RequestHeaderModifier, requestHeaderModifier: {} }, { type: RequestHeaderModifier, requestHeaderModifier: {} }]',
    ),
    code: 'duplicate',
    path: 'spec.rules[0].filters[1].type',
  },
  {
    name: 'mirror percent over 100',
    yaml: route(
      'filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: x }, percent: 101 } }]',
    ),
    code: 'invalid_value',
    path: 'spec.rules[0].filters[0].requestMirror.percent',
  },
  {
    name: 'fractional duration',
    yaml: route('timeouts: { request: 1.5s }'),
    code: 'invalid_duration',
    path: 'spec.rules[0].timeouts.request',
  },
  {
    name: 'duration with a space',
    yaml: route('timeouts: { request: "1h 30m" }'),
    code: 'invalid_duration',
    path: 'spec.rules[0].timeouts.request',
  },
  {
    name: 'duration in days',
    yaml: route('timeouts: { backendRequest: 1d }'),
    code: 'invalid_duration',
    path: 'spec.rules[0].timeouts.backendRequest',
  },
  {
    name: 'backendRequest longer than request',
    yaml: route('timeouts: { request: 1s, backendRequest: 2s }'),
    code: 'invalid_value',
    path: 'spec.rules[0].timeouts.backendRequest',
  },
  {
    name: 'gRPC method match with neither field',
    yaml: route('matches: [{ method: { type: Exact } }]', 'GRPCRoute'),
    code: 'missing_field',
    path: 'spec.rules[0].matches[0].method',
  },
  {
    name: 'gRPC service name',
    yaml: route('matches: [{ method: { service: "shop/Inventory" } }]', 'GRPCRoute'),
    code: 'invalid_value',
    path: 'spec.rules[0].matches[0].method.service',
  },
  {
    name: 'gRPC regex',
    yaml: route('matches: [{ method: { type: RegularExpression, method: "Get(?!Stock)" } }]', 'GRPCRoute'),
    code: 'invalid_regex',
    path: 'spec.rules[0].matches[0].method.method',
  },
  {
    name: 'URLRewrite in a GRPCRoute',
    yaml: route('filters: [{ type: URLRewrite }]', 'GRPCRoute'),
    code: 'invalid_value',
    path: 'spec.rules[0].filters[0].type',
  },
  {
    name: 'HTTP timeouts in a GRPCRoute',
    yaml: route('timeouts: { request: 1s }', 'GRPCRoute'),
    code: 'unknown_field',
    path: 'spec.rules[0].timeouts',
  },
];

for (const c of cases)
  test(`rejects: ${c.name}`, () => {
    const issue = findIssue(parseIssues(c.yaml), c.code, c.path);
    assert.equal(issue.severity, 'error');
    assert.equal(issue.source, 'test.yaml');
    assert.ok(issue.message.length > 10);
  });

test('unknown fields suggest the closest valid one and list the valid fields', () => {
  const issue = findIssue(
    parseIssues(route('backendRefs: [{ name: reviews, weigth: 2 }]')),
    'unknown_field',
    'spec.rules[0].backendRefs[0].weigth',
  );
  assert.match(
    issue.message,
    /^unknown field 'weigth'; did you mean 'weight'\? valid fields: group, kind, name/,
  );
  assert.equal(issue.resource, 'HTTPRoute/default/r');
  assert.equal(issue.line, 7);
});

test('regex issues carry the RE2 engine message', () => {
  const issue = findIssue(
    parseIssues(route('matches: [{ path: { type: RegularExpression, value: "/a(?=b)" } }]')),
    'invalid_regex',
    'spec.rules[0].matches[0].path.value',
  );
  assert.match(issue.message, /invalid perl operator: \(\?=/);
});

test('every problem is reported at once, with the line of each', () => {
  const text = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: reviews
spec:
  ports:
    - name: http
      port: 8080
      protocl: http
    - name: http
      port: 99999
  endpoints:
    - address: reviews.local
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs:
    - { group: "", kind: Service, name: reviews }
  rules:
    - backendRefs:
        - name: reviews
          weight: -5
      timeouts:
        request: 10 seconds
---
kind: Widget
`;
  const r = parseDocuments(text, 'shop.yaml');
  assert.ok(!r.ok);
  const got = r.error.map((i) => [i.document, i.line, i.code, i.path]);
  assert.deepEqual(got, [
    [0, 9, 'unknown_field', 'spec.ports[0].protocl'],
    [0, 10, 'duplicate', 'spec.ports[1].name'],
    [0, 11, 'invalid_value', 'spec.ports[1].port'],
    [0, 13, 'invalid_value', 'spec.endpoints[0].address'],
    [1, 25, 'invalid_value', 'spec.rules[0].backendRefs[0].weight'],
    [1, 27, 'invalid_duration', 'spec.rules[0].timeouts.request'],
    [2, 29, 'unknown_kind', 'kind'],
  ]);
  assert.ok(r.error.slice(0, 4).every((i) => i.resource === 'Service/default/reviews'));
});

test('YAML syntax errors carry the line', () => {
  const [issue] = parseIssues(`${SERVICE_YAML}---\nkind: Service\nmetadata:\n  name: [x\n`);
  assert.equal(issue?.code, 'yaml_syntax');
  assert.equal(issue?.document, 1);
  assert.ok(issue?.line !== undefined && issue.line >= 22);
});

test('null fields count as absent, like Kubernetes', () => {
  const issues = parseIssues(
    'apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata:\n  name:\nspec:\n  ports: [{ port: 80 }]\n',
  );
  findIssue(issues, 'missing_field', 'metadata.name');
});
