// Regexes from xDS (RE2 syntax), compiled once at config time: validated with re2-wasm, then run
// as JS RegExp (~30x faster per call here: 0.18 µs vs 5.7 µs) unless the pattern is RE2-only.
import { RE2Engine } from '../../common/re2.js';

/** A compiled xDS regex. `test` is a whole-string match (Envoy's safe_regex semantics). */
export interface CompiledRegex {
  readonly source: string;
  /** True when the whole of `s` matches. */
  test(s: string): boolean;
  /** Replaces every match in `s`; `substitution` uses RE2 syntax (`\1` a group, `\0` the match). */
  replaceAll(s: string, substitution: string): string;
  /** 'js' when run as a JS RegExp, 're2' for RE2-only syntax (slower). */
  readonly engine: 'js' | 're2';
}

type Replacer = (match: string, ...rest: unknown[]) => string;

/** Turns an RE2 substitution (`\1`, `\0`, `\\`) into a replacer function (no `$` surprises). */
function replacer(substitution: string): Replacer {
  if (!substitution.includes('\\')) return () => substitution;
  const parts: (string | number)[] = [];
  let lit = '';
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i] as string;
    const n = substitution[i + 1];
    if (c === '\\' && n !== undefined && n >= '0' && n <= '9') {
      parts.push(lit, Number(n));
      lit = '';
      i++;
    } else if (c === '\\' && n === '\\') {
      lit += '\\';
      i++;
    } else lit += c;
  }
  parts.push(lit);
  return (match, ...rest) => {
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') out += p;
      else if (p === 0) out += match;
      else {
        const g = rest[p - 1];
        out += typeof g === 'string' ? g : '';
      }
    }
    return out;
  };
}

function jsRegex(pattern: string): CompiledRegex | undefined {
  let full: RegExp;
  let global: RegExp;
  try {
    // 'u' makes JS strict about syntax it would otherwise read differently from RE2
    // (`[[:alpha:]]`, `\Q..\E`, `\z`, `(?i)`, `a{`): those fail here and fall back to RE2.
    full = new RegExp(`^(?:${pattern})$`, 'u');
    global = new RegExp(pattern, 'gu');
  } catch {
    return undefined;
  }
  return {
    source: pattern,
    engine: 'js',
    test: (s) => full.test(s),
    replaceAll: (s, sub) => {
      global.lastIndex = 0;
      return s.replace(global, replacer(sub));
    },
  };
}

function re2Regex(pattern: string): CompiledRegex {
  const full = new (RE2Engine())(`^(?:${pattern})$`, 'u');
  const global = new (RE2Engine())(pattern, 'gu');
  return {
    source: pattern,
    engine: 're2',
    test: (s) => full.test(s),
    replaceAll: (s, sub) => {
      global.lastIndex = 0;
      return s.replace(global as unknown as RegExp, replacer(sub));
    },
  };
}

/** Max pattern length accepted (Envoy bounds program size; this bounds it more simply). */
export const MAX_REGEX_LENGTH = 4096;

/**
 * Compiles an RE2 pattern, or returns why it is invalid. Known differences of the JS engine from
 * RE2 on patterns both accept: `.` also excludes \r, \u2028, \u2029 and `\s` also matches Unicode
 * spaces; neither occurs in the header values and paths the parser lets through.
 */
export function compileRegex(
  pattern: string,
): { ok: true; value: CompiledRegex } | { ok: false; error: string } {
  if (pattern.length > MAX_REGEX_LENGTH)
    return { ok: false, error: `invalid regex: longer than ${MAX_REGEX_LENGTH} characters` };
  try {
    new (RE2Engine())(pattern, 'u');
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const engine = message.replace(/^Invalid regular expression: \/.*\/u?: /s, '');
    return { ok: false, error: `invalid regex ${JSON.stringify(pattern)}: ${engine} (must be RE2 syntax)` };
  }
  return { ok: true, value: jsRegex(pattern) ?? re2Regex(pattern) };
}
