// Reads the YAML files named by -f: a file, a directory (its *.yaml/*.yml files, recursively) or '-'.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocuments } from '../api/parse.js';
import type { ConfigIssue, Resource } from '../api/types.js';
import { TrellisError } from '../common/errors.js';

async function listYaml(path: string): Promise<string[]> {
  const st = await stat(path).catch(() => {
    throw new TrellisError('NOT_FOUND', `no such file or directory: ${path}`);
  });
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const p = join(path, e.name);
    if (e.isDirectory()) out.push(...(await listYaml(p)));
    else if (/\.ya?ml$/i.test(e.name)) out.push(p);
  }
  return out;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses every document of every file; returns all resources, or every issue found. */
export async function readResources(
  paths: readonly string[],
): Promise<{ resources: Resource[]; issues: ConfigIssue[] }> {
  const resources: Resource[] = [];
  const issues: ConfigIssue[] = [];
  for (const p of paths) {
    const files = p === '-' ? ['-'] : await listYaml(p);
    if (files.length === 0) throw new TrellisError('NOT_FOUND', `no .yaml or .yml files in ${p}`);
    for (const f of files) {
      const text = f === '-' ? await readStdin() : await readFile(f, 'utf8');
      const parsed = parseDocuments(text, f === '-' ? '<stdin>' : f);
      if (parsed.ok) resources.push(...parsed.value);
      else issues.push(...parsed.error);
    }
  }
  return { resources, issues };
}
