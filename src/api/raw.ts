// Defensive readers of not-yet-validated input, for checks that must run even when other fields
// of the same resource are invalid (so every problem is reported at once).
import type { IssueCode, PathSegment } from './issues.js';

export type Raw = Record<string, unknown>;
export type Emit = (code: IssueCode, path: readonly PathSegment[], message: string) => void;

export const isRecord = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Entries of `v` that are mappings, with their index (non-mappings are zod's to report). */
export function records(v: unknown): [Raw, number][] {
  return Array.isArray(v) ? v.flatMap((x, i): [Raw, number][] => (isRecord(x) ? [[x, i]] : [])) : [];
}

export const strOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const numOf = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** Reports every later entry whose key equals an earlier one's as `duplicate`. */
export function checkUnique<T>(
  items: readonly { key: T | undefined; path: readonly PathSegment[]; label: string }[],
  emit: Emit,
  what: string,
): void {
  const seen = new Map<T, readonly PathSegment[]>();
  for (const item of items) {
    if (item.key === undefined) continue;
    const first = seen.get(item.key);
    if (first === undefined) seen.set(item.key, item.path);
    else
      emit(
        'duplicate',
        item.path,
        `${what} ${item.label} is already used at ${pathText(first)}; ${what}s must be unique`,
      );
  }
}

function pathText(path: readonly PathSegment[]): string {
  return path
    .map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`))
    .join('')
    .replace(/^\./, '');
}

/** Removes null-valued fields (YAML `field:` with nothing after it), as Kubernetes does. */
export function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isRecord(v)) return v;
  const out: Raw = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}
