// Gateway API durations (GEP-2257): one to four `<1-5 digits><h|m|s|ms>` components, summed as
// Go's time.ParseDuration does ("10s", "500ms", "1h30m"), converted to and from milliseconds.

const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const COMPONENT = /([0-9]{1,5})(ms|h|m|s)/g;
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

export const DURATION_HINT =
  'a Gateway API duration: 1 to 4 components of up to 5 digits each with unit h, m, s or ms, e.g. "10s", "500ms", "1h30m" (no spaces, fractions or signs)';

/** Milliseconds for a GEP-2257 duration, or undefined when `text` is not one. */
export function parseDurationMs(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(COMPONENT)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  return total;
}

/** Formats milliseconds as a canonical GEP-2257 duration: greatest unit first, zero as "0s". */
export function formatDurationMs(ms: number): string {
  if (ms <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const unit of ['h', 'm', 's', 'ms'] as const) {
    const size = UNIT_MS[unit] ?? 1;
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.join('');
}
