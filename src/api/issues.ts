// ConfigIssue helpers: the stable issue codes, JSON path formatting, and one-line formatting.
import type { ConfigIssue } from './types.js';

/**
 * Stable issue codes (tests and API clients match on these; messages are for people):
 *
 * Parse (one document/object at a time, always errors):
 * - `yaml_syntax`         the text is not valid YAML (line of the error)
 * - `not_an_object`       a document (or the API request body) is not a mapping
 * - `unknown_api_version` apiVersion missing/wrong for the kind
 * - `unknown_kind`        kind is not Service, HTTPRoute or GRPCRoute
 * - `unknown_field`       a field the schema does not have (suggests the closest valid one)
 * - `unsupported`         a valid Gateway API field or value Trellis does not implement yet
 * - `missing_field`       a required field is absent
 * - `invalid_type`        a field has the wrong JSON type (e.g. "80" instead of 80)
 * - `invalid_value`       a value outside its allowed range, set or format
 * - `invalid_regex`       a regex that does not compile as RE2
 * - `invalid_duration`    a duration that is not a Gateway API (GEP-2257) duration
 * - `duplicate`           something that must be unique is not (port names/numbers, subsets,
 *                         endpoints, YAML keys, header names; and whole resources in analyze())
 *
 * Analyze (across resources, see analyze.ts):
 * - `dangling_reference`  a parentRef/backendRef/mirror names a Service, subset or port (or a
 *                         Gateway, listener or listener port) that does not exist
 * - `invalid_value`       also: a rule whose backendRef weights sum to zero (error)
 * - `no_backends`         a rule with neither backendRefs nor a redirect answers 500 (warning)
 * - `conflict`            two rules on the same parent have an identical match (warning); two
 *                         Gateways bind one address+port, or two listeners one port+hostname (error)
 * - `protocol_mismatch`   a route kind that does not fit the parent port's protocol (warning)
 * - `invalid_value`       also: a route from a namespace its Gateway listener does not accept
 *                         (error); route hostnames that match no listener hostname (warning)
 */
export type IssueCode =
  | 'yaml_syntax'
  | 'not_an_object'
  | 'unknown_api_version'
  | 'unknown_kind'
  | 'unknown_field'
  | 'unsupported'
  | 'missing_field'
  | 'invalid_type'
  | 'invalid_value'
  | 'invalid_regex'
  | 'invalid_duration'
  | 'duplicate'
  | 'dangling_reference'
  | 'no_backends'
  | 'conflict'
  | 'protocol_mismatch';

export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `['spec', 'rules', 0, 'weight']` -> `spec.rules[0].weight`; odd keys as `labels["a/b"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Where issues of one resource come from, merged into each issue. */
export interface IssueContext {
  readonly source?: string;
  readonly document?: number;
  readonly resource?: string;
  readonly lineOf?: (path: readonly PathSegment[]) => number | undefined;
}

export function makeIssue(
  ctx: IssueContext,
  code: IssueCode,
  path: readonly PathSegment[],
  message: string,
  severity: 'error' | 'warning' = 'error',
): ConfigIssue {
  const line = ctx.lineOf?.(path);
  return {
    code,
    severity,
    ...(ctx.source !== undefined && { source: ctx.source }),
    ...(ctx.document !== undefined && { document: ctx.document }),
    ...(line !== undefined && { line }),
    ...(ctx.resource !== undefined && { resource: ctx.resource }),
    path: formatPath(path),
    message,
  };
}

/** A short, quoted rendering of a user value for messages. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const s = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * One human line: `shop.yaml doc 2 (HTTPRoute/default/reviews) line 14: spec.rules[0].weight:
 * must be ... [invalid_value]`. Documents are shown 1-based; warnings end in `[code, warning]`.
 */
export function formatIssue(i: ConfigIssue): string {
  const where: string[] = [];
  if (i.source !== undefined) where.push(i.source);
  if (i.document !== undefined) where.push(`doc ${i.document + 1}`);
  if (i.resource !== undefined) where.push(`(${i.resource})`);
  if (i.line !== undefined) where.push(`line ${i.line}`);
  const prefix = where.length > 0 ? `${where.join(' ')}: ` : '';
  const path = i.path === '' ? '' : `${i.path}: `;
  const tag = i.severity === 'warning' ? `[${i.code}, warning]` : `[${i.code}]`;
  return `${prefix}${path}${i.message} ${tag}`;
}
