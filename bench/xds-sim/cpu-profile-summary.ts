// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and by
// inclusive time, so the report can say where the control plane's CPU went.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  readonly name: string;
  readonly selfMs: number;
  readonly totalMs: number;
}

const frameName = (n: ProfileNode): string => {
  const f = n.callFrame;
  const file = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
};

/** Top `limit` functions by self time and by inclusive time (each function counted once per sample). */
export function summarizeProfile(
  path: string,
  limit = 15,
): { bySelf: ProfileLine[]; byTotal: ProfileLine[] } {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(id);
    if (!leaf) return;
    const name = frameName(leaf);
    if (name.startsWith('(idle)')) return;
    self.set(name, (self.get(name) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (!node) break;
      const nm = frameName(node);
      if (seen.has(nm)) continue;
      seen.add(nm);
      total.set(nm, (total.get(nm) ?? 0) + dt);
    }
  });
  const top = (m: Map<string, number>, other: Map<string, number>, selfFirst: boolean): ProfileLine[] =>
    [...m.entries()]
      .filter(([n]) => !n.startsWith('(root)') && !n.startsWith('(program)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, ms]) =>
        selfFirst
          ? { name, selfMs: ms, totalMs: other.get(name) ?? 0 }
          : { name, selfMs: other.get(name) ?? 0, totalMs: ms },
      );
  return { bySelf: top(self, total, true), byTotal: top(total, self, false) };
}
