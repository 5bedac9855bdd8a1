// Test helpers for the api module: YAML snippets of valid resources and issue assertions.
import assert from 'node:assert/strict';
import { parseDocuments } from './parse.js';
import type { ConfigIssue, Resource } from './types.js';

export const SERVICE_YAML = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: reviews
spec:
  ports:
    - port: 8080
  endpoints:
    - address: 10.0.0.1
      labels: { version: v1 }
    - address: fd00::2
      labels: { version: v2 }
      weight: 3
  subsets:
    - name: v1
      labels: { version: v1 }
    - name: v2
      labels: { version: v2 }
`;

export const ROUTE_YAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs:
    - group: ""
      kind: Service
      name: reviews
  rules:
    - backendRefs:
        - name: reviews
          subset: v1
`;

/** Parses YAML that must be valid. */
export function parseOk(text: string): Resource[] {
  const r = parseDocuments(text, 'test.yaml');
  if (!r.ok) assert.fail(`expected valid config, got:\n${JSON.stringify(r.error, null, 2)}`);
  return r.value;
}

/** Parses YAML that must be invalid; returns the issues. */
export function parseIssues(text: string): ConfigIssue[] {
  const r = parseDocuments(text, 'test.yaml');
  if (r.ok) assert.fail('expected issues, but the config parsed');
  return r.error;
}

/** Asserts that `issues` contains one with this code and path; returns it. */
export function findIssue(issues: readonly ConfigIssue[], code: string, path: string): ConfigIssue {
  const found = issues.find((i) => i.code === code && i.path === path);
  if (!found)
    assert.fail(
      `no ${code} at ${path}; got:\n${issues.map((i) => `  ${i.code} ${i.path}: ${i.message}`).join('\n')}`,
    );
  return found;
}
