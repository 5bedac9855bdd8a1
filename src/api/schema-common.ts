// zod building blocks shared by the resource schemas: strict objects (unknown fields are
// `unknown_field` issues), leaf checks with our own messages and codes, metadata and references.
import { z } from 'zod';
import { DURATION_HINT, parseDurationMs } from './duration.js';
import {
  dnsLabelError,
  dnsSubdomainError,
  headerNameError,
  labelKeyError,
  labelValueError,
} from './formats.js';
import type { IssueCode } from './issues.js';
import { show } from './issues.js';
import { withSuggestion } from './suggest.js';

/** Adds an issue with one of our codes; zod-issues.ts reads `params.code`. */
export function fail(ctx: z.RefinementCtx, code: IssueCode, message: string, path?: PropertyKey[]): void {
  ctx.addIssue({ code: 'custom', message, params: { code }, ...(path && { path }) });
}

/** A field that is valid Gateway API but not implemented by Trellis: any value is an issue. */
export const unsupported = (why: string) =>
  z
    .unknown()
    .superRefine((_v, ctx) => fail(ctx, 'unsupported', why))
    .optional();

/** An object whose undeclared keys each produce `unknown_field` (message built in zod-issues.ts). */
export function strict<S extends z.ZodRawShape>(shape: S) {
  const valid = Object.keys(shape);
  const unknownField = z.unknown().superRefine((_v, ctx) => {
    ctx.addIssue({ code: 'custom', message: 'unknown field', params: { code: 'unknown_field', valid } });
  });
  return z.object(shape).catchall(unknownField);
}

/** A string checked by `check` (undefined = valid), failing with `code`. */
export const str = (check?: (v: string) => string | undefined, code: IssueCode = 'invalid_value') =>
  z.string().superRefine((v, ctx) => {
    const problem = check?.(v);
    if (problem !== undefined) fail(ctx, code, `${problem}; got ${show(v)}`);
  });

export const nonEmpty = (max: number) =>
  str((v) => (v.length >= 1 && v.length <= max ? undefined : `must be 1 to ${max} characters`));

/** An integer in [min, max]. */
export const intIn = (min: number, max: number) =>
  z.number().superRefine((n, ctx) => {
    if (!Number.isInteger(n) || n < min || n > max)
      fail(ctx, 'invalid_value', `must be an integer from ${min} to ${max}; got ${show(n)}`);
  });

export const port = () => intIn(1, 65535);

/** One of a fixed set of strings (case-sensitive, as in the Gateway API). */
export function oneOf<const T extends string>(values: readonly T[], what = 'value') {
  return z
    .string()
    .superRefine((v, ctx) => {
      if (!(values as readonly string[]).includes(v))
        fail(
          ctx,
          'invalid_value',
          withSuggestion(`unsupported ${what} ${show(v)}`, v, values, `valid: ${values.join(', ')}`),
        );
    })
    .transform((v) => v as T);
}

/** A list of at most `max` entries. */
export function list<T extends z.ZodType>(item: T, max: number) {
  return z.array(item).superRefine((a, ctx) => {
    if (a.length > max) fail(ctx, 'invalid_value', `at most ${max} entries are allowed; got ${a.length}`);
  });
}

/** A GEP-2257 duration, converted to milliseconds. */
export const duration = () =>
  z
    .string()
    .superRefine((v, ctx) => {
      if (parseDurationMs(v) === undefined)
        fail(ctx, 'invalid_duration', `must be ${DURATION_HINT}; got ${show(v)}`);
    })
    .transform((v) => parseDurationMs(v) ?? 0);

export const dnsLabel = () => str(dnsLabelError);
export const dnsSubdomain = () => str(dnsSubdomainError);
export const headerName = () => str(headerNameError);
export const sectionName = () => dnsSubdomain();

/** `map[string]string` whose keys and values are checked; issues point at the key. */
export function stringMap(keyError?: (k: string) => string | undefined, valueError?: typeof keyError) {
  return z.record(z.string(), z.string()).superRefine((m, ctx) => {
    for (const [k, v] of Object.entries(m)) {
      const kp = keyError?.(k);
      if (kp !== undefined) fail(ctx, 'invalid_value', `${kp}; got ${show(k)}`, [k]);
      const vp = valueError?.(v);
      if (vp !== undefined) fail(ctx, 'invalid_value', `${vp}; got ${show(v)}`, [k]);
    }
  });
}

export const labels = () => stringMap(labelKeyError, labelValueError);

export const metadataSchema = (nameCheck: () => ReturnType<typeof str>) =>
  strict({
    name: nameCheck(),
    namespace: dnsLabel().optional(),
    labels: labels().optional(),
    annotations: stringMap().optional(),
  });

/** Gateway API BackendObjectReference plus the Trellis `subset` extension. */
export const backendObjectRefShape = {
  group: z.string().optional(),
  kind: z.string().optional(),
  name: dnsLabel(),
  namespace: dnsLabel().optional(),
  port: port().optional(),
  subset: dnsLabel().optional(),
};

export const backendRefSchema = (filtersWhy: string) =>
  strict({
    ...backendObjectRefShape,
    weight: intIn(0, 1_000_000).optional(),
    filters: unsupported(filtersWhy),
  });

export const parentRefSchema = () =>
  strict({
    group: z.string().optional(),
    kind: z.string().optional(),
    namespace: dnsLabel().optional(),
    name: dnsSubdomain(),
    sectionName: sectionName().optional(),
    port: port().optional(),
  });

export const headerMatchSchema = () =>
  strict({
    type: oneOf(['Exact', 'RegularExpression'] as const, 'match type').optional(),
    name: headerName(),
    value: z.string(),
  });

const headerValue = () => strict({ name: headerName(), value: z.string() });

export const headerModifierSchema = () =>
  strict({
    set: list(headerValue(), 16).optional(),
    add: list(headerValue(), 16).optional(),
    remove: list(headerName(), 16).optional(),
  });

export const requestMirrorSchema = () =>
  strict({
    backendRef: strict(backendObjectRefShape),
    percent: intIn(0, 100).optional(),
    fraction: strict({
      numerator: intIn(0, 1_000_000),
      denominator: intIn(1, 1_000_000).optional(),
    }).optional(),
  });

export type BackendRefSpec = z.output<ReturnType<typeof backendRefSchema>>;
export type BackendObjectRefSpec = z.output<ReturnType<typeof requestMirrorSchema>>['backendRef'];
export type ParentRefSpec = z.output<ReturnType<typeof parentRefSchema>>;
export type HeaderMatchSpec = z.output<ReturnType<typeof headerMatchSchema>>;
export type HeaderModifierSpec = z.output<ReturnType<typeof headerModifierSchema>>;
export type RequestMirrorSpec = z.output<ReturnType<typeof requestMirrorSchema>>;
export type MetadataSpec = z.output<ReturnType<typeof metadataSchema>>;
