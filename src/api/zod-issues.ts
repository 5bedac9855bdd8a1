// Turns zod issues into ConfigIssues: our stable codes, the JSON path, and a message saying what
// is wrong and what would be valid (missing vs wrong type is told apart from the raw input).
import type { z } from 'zod';
import type { IssueCode, IssueContext, PathSegment } from './issues.js';
import { makeIssue, show } from './issues.js';
import { withSuggestion } from './suggest.js';
import type { ConfigIssue } from './types.js';

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping (key: value fields)',
  record: 'a mapping (key: value fields)',
  array: 'a list',
};

function typeMessage(expected: string, value: unknown): string {
  const want = EXPECTED[expected] ?? expected;
  let hint = '';
  if ((expected === 'number' || expected === 'int') && typeof value === 'string' && /^\d+$/.test(value))
    hint = ` (write ${value} without quotes)`;
  if (expected === 'string' && (typeof value === 'number' || typeof value === 'boolean'))
    hint = ` (quote it: "${String(value)}")`;
  if (expected === 'array' && value !== null && typeof value === 'object')
    hint = ' (start each entry with "- ")';
  const got = typeof value === 'object' ? typeName(value) : `${typeName(value)} ${show(value)}`;
  return `expected ${want}, got ${got}${hint}`;
}

export function fromZodIssues(
  issues: readonly z.core.$ZodIssue[],
  raw: unknown,
  ctx: IssueContext,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p): PathSegment => (typeof p === 'symbol' ? String(p) : p));
    const at = (code: IssueCode, message: string) => out.push(makeIssue(ctx, code, path, message));
    switch (issue.code) {
      case 'custom': {
        const params = (issue.params ?? {}) as { code?: IssueCode; valid?: string[] };
        if (params.code === 'unknown_field') {
          const key = String(path[path.length - 1] ?? '');
          const valid = params.valid ?? [];
          at(
            'unknown_field',
            withSuggestion(`unknown field '${key}'`, key, valid, `valid fields: ${valid.join(', ')}`),
          );
        } else at(params.code ?? 'invalid_value', issue.message);
        break;
      }
      case 'invalid_type': {
        const value = valueAt(raw, path);
        const name = String(path[path.length - 1] ?? 'value');
        if (value === undefined)
          at(
            'missing_field',
            `missing required field ${show(name)} (${EXPECTED[issue.expected] ?? issue.expected})`,
          );
        else at('invalid_type', typeMessage(issue.expected, value));
        break;
      }
      case 'unrecognized_keys':
        for (const key of issue.keys)
          out.push(makeIssue(ctx, 'unknown_field', [...path, key], `unknown field ${show(key)}`));
        break;
      case 'invalid_value':
        at(
          'invalid_value',
          `must be ${issue.values.map((v) => show(v)).join(' or ')}; got ${show(valueAt(raw, path))}`,
        );
        break;
      default:
        at('invalid_value', issue.message);
    }
  }
  return out;
}
