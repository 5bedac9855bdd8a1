// Output helpers for people (aligned tables, issue lists) and for scripts (-o json|yaml).
import { stringify } from 'yaml';
import { formatIssue } from '../api/issues.js';
import type { ConfigIssue } from '../api/types.js';

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function printStructured(data: unknown, format: string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else process.stdout.write(stringify(data));
}

export function printIssues(
  issues: readonly ConfigIssue[],
  out: (s: string) => void = (s) => process.stderr.write(s),
): void {
  for (const i of issues) out(`${i.severity === 'warning' ? 'warning' : 'error'}: ${formatIssue(i)}\n`);
}

export function ago(ms: number | string | undefined): string {
  if (ms === undefined) return '-';
  const t = typeof ms === 'string' ? Date.parse(ms) : ms;
  if (!Number.isFinite(t)) return '-';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
