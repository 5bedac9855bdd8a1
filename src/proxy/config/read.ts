// Typed, path-tracking readers over decoded xDS JSON: each failure throws a FieldError naming the
// field path (`virtual_hosts[0].routes[2].match`), which decoders prefix with the resource.
import { compileRegex, type CompiledRegex } from './regex.js';

export type Json = Record<string, unknown>;

export class FieldError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

export const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

export function fail(path: string, reason: string): never {
  throw new FieldError(path, reason);
}

export const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An object field; `undefined` when absent, an error when not an object. */
export function optObj(o: Json, key: string, path: string): Json | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail(join(path, key), 'expected an object');
  return v;
}

export function reqObj(o: Json, key: string, path: string): Json {
  return optObj(o, key, path) ?? fail(join(path, key), 'required');
}

export function optStr(o: Json, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(join(path, key), 'expected a string');
  return v;
}

export function reqStr(o: Json, key: string, path: string): string {
  const v = optStr(o, key, path);
  if (v === undefined || v === '') fail(join(path, key), 'required, non-empty');
  return v;
}

export function arr(o: Json, key: string, path: string): readonly unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(join(path, key), 'expected a list');
  return v;
}

/** A list of objects, with each element's path. */
export function objList(o: Json, key: string, path: string): [Json, string][] {
  return arr(o, key, path).map((v, i) => {
    const p = join(join(path, key), i);
    return [isObj(v) ? v : fail(p, 'expected an object'), p];
  });
}

function toInt(v: unknown, path: string, min: number, max: number): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) fail(path, 'expected an integer');
  if (n < min || n > max) fail(path, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** An integer field, also accepting a wrapper (`{value: n}`) and a decimal string (int64). */
export function optInt(o: Json, key: string, path: string, min = 0, max = 2 ** 32 - 1): number | undefined {
  let v = o[key];
  if (v === undefined || v === null) return undefined;
  if (isObj(v)) v = v['value'] ?? 0;
  return toInt(v, join(path, key), min, max);
}

export function optBool(o: Json, key: string, path: string): boolean | undefined {
  let v = o[key];
  if (v === undefined || v === null) return undefined;
  if (isObj(v)) v = v['value'] ?? false;
  if (typeof v !== 'boolean') fail(join(path, key), 'expected a boolean');
  return v;
}

/** A google.protobuf.Duration ({seconds, nanos}) in milliseconds. */
export function optDurationMs(o: Json, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const p = join(path, key);
  if (!isObj(v)) fail(p, 'expected a Duration {seconds, nanos}');
  const s = toInt(v['seconds'] ?? 0, join(p, 'seconds'), 0, 315_576_000_000);
  const ns = toInt(v['nanos'] ?? 0, join(p, 'nanos'), 0, 999_999_999);
  return s * 1000 + Math.round(ns / 1e6);
}

/** An enum field (decoded as its name); `dflt` when absent. */
export function optEnum<T extends string>(
  o: Json,
  key: string,
  path: string,
  allowed: readonly T[],
  dflt: T,
): T {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    fail(join(path, key), `unsupported value ${JSON.stringify(v)} (supported: ${allowed.join(', ')})`);
  return v as T;
}

/** A RegexMatcher ({regex}) compiled once. */
export function regexMatcher(o: Json, key: string, path: string): CompiledRegex {
  const m = reqObj(o, key, path);
  const p = join(join(path, key), 'regex');
  const src = typeof m['regex'] === 'string' ? m['regex'] : fail(p, 'required');
  const r = compileRegex(src);
  return r.ok ? r.value : fail(p, r.error);
}

/** Rejects set fields this proxy does not implement (rather than silently ignoring them). */
export function rejectUnsupported(o: Json, keys: readonly string[], path: string): void {
  for (const k of keys) {
    const v = o[k];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0))
      fail(join(path, k), 'not supported by the Trellis proxy');
  }
}
