// Path normalisation, applied once on a listener with a security policy, before routing and
// authorization; the normalised path is what is matched AND forwarded, so no encoding trick can make
// the policy and the app see different paths. Pure; strict by default (rejects, never guesses).

/** Why a path was refused (a stable reason; the request gets 400). */
export type PathRejection =
  | 'not_origin_form'
  | 'fragment'
  | 'control_character'
  | 'bad_escape'
  | 'encoded_slash'
  | 'backslash'
  | 'path_parameter'
  | 'nul'
  | 'double_encoding'
  | 'invalid_utf8';

export type NormalizeResult =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly reason: PathRejection; readonly detail: string };

export interface NormalizeOptions {
  /** `%2F` / `%5C` in a path: `reject` (default, 400) or `keep` (left encoded, upper-cased). */
  readonly escapedSlashes: 'reject' | 'keep';
  /** Collapse `//` into `/` (default true). */
  readonly mergeSlashes: boolean;
}

export const STRICT_NORMALIZATION: NormalizeOptions = Object.freeze({
  escapedSlashes: 'reject',
  mergeSlashes: true,
});

const reject = (reason: PathRejection, detail: string): NormalizeResult => ({ ok: false, reason, detail });

const HEX = '0123456789ABCDEF';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function unreserved(b: number): boolean {
  return (
    (b >= 65 && b <= 90) ||
    (b >= 97 && b <= 122) ||
    (b >= 48 && b <= 57) ||
    b === 45 ||
    b === 46 ||
    b === 95 ||
    b === 126
  );
}

/**
 * True when `path` (no query) is already normal and needs no work: no `%`, `;`, `\`, `#`, control
 * characters, `//`, or segment starting with `.`. The common case, checked without allocating.
 */
function alreadyNormal(path: string, end: number, mergeSlashes: boolean): boolean {
  let prev = 0;
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 37 || c === 59 || c === 92 || c === 35) return false;
    if (prev === 47 && (c === 46 || (c === 47 && mergeSlashes))) return false;
    prev = c;
  }
  return true;
}

/**
 * Normalises an origin-form request target (`/a/b?q`): unreserved escapes decoded and the others
 * upper-cased, dot segments resolved (RFC 3986 §5.2.4), slashes merged; the query is kept as is.
 * Refused: fragments, control characters and spaces, malformed escapes, `%2F`/`%5C` (unless
 * `escapedSlashes: keep`), `\`, `;` and `%3B` (path parameters), NUL, `%25XX` (double encoding),
 * escapes that are not valid UTF-8 (overlong `%C0%AF`). `*` (OPTIONS) passes unchanged.
 */
export function normalizePath(
  target: string,
  opts: NormalizeOptions = STRICT_NORMALIZATION,
): NormalizeResult {
  if (target === '*') return { ok: true, path: target };
  if (target.charCodeAt(0) !== 47) return reject('not_origin_form', 'the path must start with /');
  let q = target.indexOf('?');
  if (q < 0) q = target.length;
  if (target.indexOf('#') >= 0) return reject('fragment', 'a request target may not carry a #fragment');
  for (let i = q; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 32 || c === 127) return reject('control_character', 'control character or space in the query');
  }
  if (alreadyNormal(target, q, opts.mergeSlashes)) return { ok: true, path: target };

  // 1. Decode: unreserved escapes become their character, others stay as upper-case %XX.
  let decoded = '';
  const high: number[] = [];
  const flushHigh = (): NormalizeResult | undefined => {
    if (high.length === 0) return undefined;
    try {
      utf8.decode(Uint8Array.from(high));
    } catch {
      return reject('invalid_utf8', 'percent-encoded bytes that are not valid UTF-8 (e.g. overlong %C0%AF)');
    }
    high.length = 0;
    return undefined;
  };
  for (let i = 0; i < q; i++) {
    const c = target.charCodeAt(i);
    if (c === 0) return reject('nul', 'NUL in the path');
    if (c < 32 || c === 127 || c === 32)
      return reject('control_character', 'control character or space in the path');
    if (c >= 128)
      return reject('control_character', 'raw non-ASCII character in the path (percent-encode it)');
    if (c === 92) return reject('backslash', 'backslash in the path');
    if (c === 59) return reject('path_parameter', '; path parameters are not accepted');
    if (c !== 37) {
      const bad = flushHigh();
      if (bad) return bad;
      decoded += target[i];
      continue;
    }
    if (i + 2 >= q) return reject('bad_escape', 'a % not followed by two hex digits');
    const h1 = hexVal(target.charCodeAt(i + 1));
    const h2 = hexVal(target.charCodeAt(i + 2));
    if (h1 < 0 || h2 < 0) return reject('bad_escape', 'a % not followed by two hex digits');
    const b = h1 * 16 + h2;
    i += 2;
    if (b === 0) return reject('nul', 'NUL (%00) in the path');
    if (b >= 128) {
      high.push(b);
      decoded += `%${HEX[h1]}${HEX[h2]}`;
      continue;
    }
    const bad = flushHigh();
    if (bad) return bad;
    if (b === 0x2f || b === 0x5c) {
      if (opts.escapedSlashes === 'reject')
        return reject(
          b === 0x2f ? 'encoded_slash' : 'backslash',
          `encoded ${b === 0x2f ? 'slash %2F' : 'backslash %5C'} in the path`,
        );
      decoded += `%${HEX[h1]}${HEX[h2]}`;
      continue;
    }
    if (b === 0x3b) return reject('path_parameter', 'encoded ; (%3B) in the path');
    if (
      b === 0x25 &&
      i + 2 < q &&
      hexVal(target.charCodeAt(i + 1)) >= 0 &&
      hexVal(target.charCodeAt(i + 2)) >= 0
    )
      return reject('double_encoding', 'a double-encoded escape (%25XX) in the path');
    if (b < 32 || b === 127) return reject('control_character', 'an encoded control character in the path');
    decoded += unreserved(b) ? String.fromCharCode(b) : `%${HEX[h1]}${HEX[h2]}`;
  }
  const bad = flushHigh();
  if (bad) return bad;

  // 2. Segments: merge empty ones (//), resolve . and .. (never above the root).
  const segs = decoded.split('/');
  const out: string[] = [];
  const last = segs.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segs[i] as string;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (i === last) out.push(''); // `/a/.` and `/a/b/..` end with a slash (RFC 3986 §5.2.4)
      continue;
    }
    if (s === '' && i !== last && opts.mergeSlashes) continue;
    out.push(s);
  }
  return { ok: true, path: `/${out.join('/')}${target.slice(q)}` };
}
