// Cross-field checks inside one HTTPRoute or GRPCRoute: reference group/kind, filter type vs its
// config field, path modifiers, regexes (RE2), duplicate names, and timeout ordering.
import { absolutePathError, grpcMethodError, grpcServiceError } from './formats.js';
import { parseDurationMs } from './duration.js';
import type { PathSegment } from './issues.js';
import { show } from './issues.js';
import type { Emit, Raw } from './raw.js';
import { checkUnique, isRecord, numOf, records, strOf } from './raw.js';
import { resolveBackendRef, resolveParentRef } from './refs.js';
import { RE2_HINT, re2Error } from './regex.js';

type P = readonly PathSegment[];

/** The config field each filter type carries. */
export const FILTER_FIELDS: Readonly<Record<string, string>> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  URLRewrite: 'urlRewrite',
  RequestRedirect: 'requestRedirect',
  RequestMirror: 'requestMirror',
  ExtensionRef: 'extensionRef',
};
const ONCE_PER_RULE = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'URLRewrite', 'RequestRedirect'];

export function checkRoute(kind: 'HTTPRoute' | 'GRPCRoute', spec: unknown, emit: Emit): void {
  if (!isRecord(spec)) return;
  const parents = records(spec.parentRefs);
  for (const [ref, i] of parents) {
    const r = resolveParentRef(strOf(ref.group), strOf(ref.kind));
    if (!r.ok) emit('invalid_value', ['spec', 'parentRefs', i, r.field], r.message);
  }
  checkUnique(
    parents.map(([ref, i]) => {
      const r = resolveParentRef(strOf(ref.group), strOf(ref.kind));
      const key = r.ok ? [r.kind, ref.namespace, ref.name, ref.sectionName, ref.port].join('|') : undefined;
      return { key, path: ['spec', 'parentRefs', i], label: show(ref.name) };
    }),
    emit,
    'parentRef',
  );
  for (const [rule, r] of records(spec.rules)) {
    const at: P = ['spec', 'rules', r];
    const matches = records(rule.matches);
    for (const [m, j] of matches) {
      const mp = [...at, 'matches', j];
      if (kind === 'HTTPRoute') checkHttpMatch(m, mp, emit);
      else checkGrpcMatch(m, mp, emit);
      checkNameValues(m.headers, [...mp, 'headers'], emit, true);
      if (kind === 'HTTPRoute') checkNameValues(m.queryParams, [...mp, 'queryParams'], emit, false);
    }
    checkFilters(rule, at, emit);
    for (const [b, k] of records(rule.backendRefs)) checkBackendRef(b, [...at, 'backendRefs', k], emit);
    if (isRecord(rule.timeouts)) checkTimeouts(rule.timeouts, [...at, 'timeouts'], emit);
  }
}

function checkRegex(value: unknown, path: P, emit: Emit): void {
  if (typeof value !== 'string') return;
  const problem = re2Error(value);
  if (problem !== undefined)
    emit('invalid_regex', path, `invalid regex ${show(value)}: ${problem}; ${RE2_HINT}`);
}

function checkHttpMatch(m: Raw, at: P, emit: Emit): void {
  if (!isRecord(m.path)) return;
  const type = strOf(m.path.type) ?? 'PathPrefix';
  const value = m.path.value;
  if (typeof value !== 'string') return;
  if (type === 'RegularExpression') checkRegex(value, [...at, 'path', 'value'], emit);
  else if (type === 'Exact' || type === 'PathPrefix') {
    const problem = absolutePathError(value);
    if (problem !== undefined)
      emit('invalid_value', [...at, 'path', 'value'], `${type} path ${problem}; got ${show(value)}`);
  }
}

function checkGrpcMatch(m: Raw, at: P, emit: Emit): void {
  if (!isRecord(m.method)) return;
  const mp = [...at, 'method'];
  const { service, method } = m.method;
  if (service === undefined && method === undefined) {
    emit(
      'missing_field',
      mp,
      'a method match needs service, method or both (omit "method" to match every call)',
    );
    return;
  }
  if ((strOf(m.method.type) ?? 'Exact') === 'RegularExpression') {
    checkRegex(service, [...mp, 'service'], emit);
    checkRegex(method, [...mp, 'method'], emit);
    return;
  }
  for (const [field, value, check] of [
    ['service', service, grpcServiceError],
    ['method', method, grpcMethodError],
  ] as const) {
    const problem = typeof value === 'string' ? check(value) : undefined;
    if (problem !== undefined) emit('invalid_value', [...mp, field], `${problem}; got ${show(value)}`);
  }
}

/** Header (case-insensitive) or query (case-sensitive) matches: regexes compile, names unique. */
function checkNameValues(list: unknown, at: P, emit: Emit, caseInsensitive: boolean): void {
  const entries = records(list);
  for (const [h, k] of entries)
    if (h.type === 'RegularExpression') checkRegex(h.value, [...at, k, 'value'], emit);
  checkUnique(
    entries.map(([h, k]) => {
      const name = strOf(h.name);
      return {
        key: caseInsensitive ? name?.toLowerCase() : name,
        path: [...at, k, 'name'],
        label: show(name),
      };
    }),
    emit,
    caseInsensitive ? 'header name' : 'query parameter name',
  );
}

function checkFilters(rule: Raw, at: P, emit: Emit): void {
  const filters = records(rule.filters);
  const seen = new Map<string, number>();
  for (const [f, i] of filters) {
    const fp = [...at, 'filters', i];
    const type = strOf(f.type);
    const field = type === undefined ? undefined : FILTER_FIELDS[type];
    if (type === undefined || field === undefined) continue; // zod reports a missing/unknown type
    if (type === 'ExtensionRef') {
      emit('unsupported', [...fp, 'type'], 'ExtensionRef filters are not supported by Trellis');
      continue;
    }
    if (f[field] === undefined)
      emit(
        'missing_field',
        [...fp, field],
        `a ${type} filter needs its configuration in field ${show(field)}`,
      );
    for (const other of Object.values(FILTER_FIELDS))
      if (other !== field && f[other] !== undefined)
        emit(
          'invalid_value',
          [...fp, other],
          `must not be set when type is ${type}: a filter carries exactly one config field matching its type (here ${show(field)})`,
        );
    const first = seen.get(type);
    if (first !== undefined && ONCE_PER_RULE.includes(type))
      emit(
        'duplicate',
        [...fp, 'type'],
        `a rule may have only one ${type} filter (first at filters[${first}])`,
      );
    if (first === undefined) seen.set(type, i);
    if (type === 'URLRewrite' && seen.has('RequestRedirect'))
      emit(
        'invalid_value',
        [...fp, 'type'],
        'a rule cannot have both a RequestRedirect and a URLRewrite filter',
      );
    if (type === 'RequestRedirect' && seen.has('URLRewrite'))
      emit(
        'invalid_value',
        [...fp, 'type'],
        'a rule cannot have both a URLRewrite and a RequestRedirect filter',
      );
    for (const mod of ['requestHeaderModifier', 'responseHeaderModifier'])
      if (isRecord(f[mod]))
        for (const op of ['set', 'add', 'remove']) {
          const entries = (f[mod] as Raw)[op];
          if (!Array.isArray(entries)) continue;
          checkUnique(
            entries.map((e: unknown, k) => {
              const name = strOf(isRecord(e) ? e.name : e)?.toLowerCase();
              return { key: name, path: [...fp, mod, op, k], label: show(name) };
            }),
            emit,
            `header name in ${op}`,
          );
        }
    for (const holder of ['urlRewrite', 'requestRedirect'])
      if (isRecord(f[holder]) && isRecord((f[holder] as Raw).path))
        checkPathModifier((f[holder] as Raw).path as Raw, [...fp, holder, 'path'], rule, emit);
    if (isRecord(f.requestMirror)) checkMirror(f.requestMirror, [...fp, 'requestMirror'], emit);
  }
}

function checkPathModifier(p: Raw, at: P, rule: Raw, emit: Emit): void {
  const type = strOf(p.type);
  const fields = { ReplaceFullPath: 'replaceFullPath', ReplacePrefixMatch: 'replacePrefixMatch' } as const;
  if (type !== 'ReplaceFullPath' && type !== 'ReplacePrefixMatch') return;
  const field = fields[type];
  const other = type === 'ReplaceFullPath' ? fields.ReplacePrefixMatch : fields.ReplaceFullPath;
  if (p[field] === undefined)
    emit('missing_field', [...at, field], `type ${type} needs field ${show(field)}`);
  if (p[other] !== undefined) emit('invalid_value', [...at, other], `must not be set when type is ${type}`);
  if (type !== 'ReplacePrefixMatch') return;
  for (const [m, j] of records(rule.matches)) {
    const matchType = isRecord(m.path) ? (strOf(m.path.type) ?? 'PathPrefix') : 'PathPrefix';
    if (matchType !== 'PathPrefix')
      emit(
        'invalid_value',
        [...at, 'type'],
        `ReplacePrefixMatch needs every match of the rule to be a PathPrefix match, but matches[${j}] is ${matchType}; use ReplaceFullPath or a PathPrefix match`,
      );
  }
}

function checkMirror(m: Raw, at: P, emit: Emit): void {
  if (m.percent !== undefined && m.fraction !== undefined)
    emit('invalid_value', [...at, 'fraction'], 'set either percent or fraction, not both');
  if (isRecord(m.fraction)) {
    const num = numOf(m.fraction.numerator);
    const den = numOf(m.fraction.denominator) ?? 100;
    if (num !== undefined && num > den)
      emit(
        'invalid_value',
        [...at, 'fraction', 'numerator'],
        `must be at most the denominator (${den}); got ${num}`,
      );
  }
  if (isRecord(m.backendRef)) checkBackendRef(m.backendRef, [...at, 'backendRef'], emit);
}

function checkBackendRef(b: Raw, at: P, emit: Emit): void {
  const r = resolveBackendRef(strOf(b.group), strOf(b.kind));
  if (!r.ok) emit('invalid_value', [...at, r.field], r.message);
}

function checkTimeouts(t: Raw, at: P, emit: Emit): void {
  const request = typeof t.request === 'string' ? parseDurationMs(t.request) : undefined;
  const backend = typeof t.backendRequest === 'string' ? parseDurationMs(t.backendRequest) : undefined;
  if (request !== undefined && backend !== undefined && request !== 0 && backend > request)
    emit(
      'invalid_value',
      [...at, 'backendRequest'],
      `backendRequest (${String(t.backendRequest)}) must not be longer than request (${String(t.request)}); request bounds the whole request including retries`,
    );
}
