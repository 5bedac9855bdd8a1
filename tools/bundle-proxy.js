// Bundles the compiled CLI (dist/src/cli/main.js) into dist/proxy/cli/ for `trellis proxy`
// (run by `npm run build` after tsc; bin/trellis.js loads it for the `proxy` command only).
//
// Why: a sidecar otherwise loads ~150 ES modules, and Node's ESM loader keeps a module record,
// its URL and its source text per module for the life of the process. One bundle of the sidecar's
// code (code splitting keeps each command's and each lazily loaded part's code in its own chunk, so
// nothing loads earlier than before) is ~1 MB less idle RSS per sidecar (docs/sidecar.md "Memory").
// Packages from node_modules stay external: they load from node_modules as before.
//
// The output sits at the same depth as dist/src/cli/, so the paths the code builds from
// `import.meta.url` (the generated xDS descriptor, createRequire for optional packages) resolve
// the same from either place.
/* global URL */
import { build } from 'esbuild';
import { rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = `${root}dist/src/cli/main.js`;
const outdir = `${root}dist/proxy/cli`;

statSync(entry); // a clear ENOENT when tsc has not run
rmSync(`${root}dist/proxy`, { recursive: true, force: true });
const result = await build({
  entryPoints: [entry],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // tsc's output has no comments left (removeComments); keep the code readable in stack traces.
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs).length;
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stdout.write(`bundle-proxy: ${inputs} modules -> dist/proxy/cli (${Math.round(bytes / 1024)} KiB)\n`);
