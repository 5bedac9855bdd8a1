// Allocation-free string comparisons for the router: ASCII case folding against lower-case config
// values, StringMatch evaluation, and a tolerant percent-decoder for query parameter values.
import type { StringMatch } from '../config/types.js';

/** ASCII lower-case of one char code (non-ASCII unchanged, as Envoy's ignore_case does). */
function fold(c: number): number {
  return c >= 65 && c <= 90 ? c | 0x20 : c;
}

/** True when `s` at `at` equals `lower` (already lower-case) ignoring ASCII case. */
export function regionEqualsFolded(s: string, at: number, lower: string): boolean {
  const n = lower.length;
  if (at < 0 || at + n > s.length) return false;
  for (let i = 0; i < n; i++) if (fold(s.charCodeAt(at + i)) !== lower.charCodeAt(i)) return false;
  return true;
}

/** True when `s` at `at` equals `v` exactly. */
export function regionEquals(s: string, at: number, v: string): boolean {
  return s.startsWith(v, at);
}

function containsFolded(s: string, lower: string): boolean {
  const last = s.length - lower.length;
  for (let i = 0; i <= last; i++) if (regionEqualsFolded(s, i, lower)) return true;
  return false;
}

/** Evaluates a StringMatch on a present value (`present` always matches). */
export function stringMatches(m: StringMatch, s: string): boolean {
  switch (m.type) {
    case 'exact':
      return m.ignoreCase ? s.length === m.value.length && regionEqualsFolded(s, 0, m.value) : s === m.value;
    case 'prefix':
      return m.ignoreCase ? regionEqualsFolded(s, 0, m.value) : s.startsWith(m.value);
    case 'suffix':
      return m.ignoreCase ? regionEqualsFolded(s, s.length - m.value.length, m.value) : s.endsWith(m.value);
    case 'contains':
      return m.ignoreCase ? containsFolded(s, m.value) : s.includes(m.value);
    case 'regex':
      return m.regex.test(s);
    case 'present':
      return true;
  }
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * Percent-decodes `s[start, end)` (UTF-8); `+` stays as is (Envoy does not treat it as a space).
 * Malformed escapes are kept literally rather than failing the match.
 */
export function percentDecode(s: string, start: number, end: number): string {
  const pct = s.indexOf('%', start);
  if (pct < 0 || pct >= end) return start === 0 && end === s.length ? s : s.slice(start, end);
  const raw = s.slice(start, end);
  try {
    return decodeURIComponent(raw);
  } catch {
    // Decode the valid escapes one byte at a time, keep the rest.
    const bytes: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      const h = c === 37 && i + 2 < raw.length ? hex(raw.charCodeAt(i + 1)) : -1;
      const l = h >= 0 ? hex(raw.charCodeAt(i + 2)) : -1;
      if (h >= 0 && l >= 0) {
        bytes.push((h << 4) | l);
        i += 2;
      } else for (const b of Buffer.from(raw[i] as string, 'utf8')) bytes.push(b);
    }
    return Buffer.from(bytes).toString('utf8');
  }
}
