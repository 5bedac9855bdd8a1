#!/usr/bin/env node
// The `trellis` command: runs the compiled CLI (build with `npm run build`, done by `npm install`).
import { setFlagsFromString } from 'node:v8';

// `trellis proxy` only:
// - keep V8's young generation at its initial size instead of letting it grow to 16 MB
//   semi-spaces. Idle sidecar RSS 70.5 -> 65 MB (as `--max-semi-space-size=1` on the command line,
//   which cannot be set from here; this flag is read at each growth, so it works after start). See
//   bench/README.md "Sidecar memory" for the load/CPU figures.
// - drop the bytecode of functions that did not run since the last full GC (V8's default waits 5
//   GCs): startup-only code (bootstrap parsing, module setup) goes away. Steady idle RSS -0.4 MB
//   (no app) to -1.0 MB (with an app); CPU per request unchanged in alternating A/B runs
//   (docs/sidecar.md "Memory").
// TRELLIS_PROXY_V8_FLAGS overrides both ('' turns them off).
if (process.argv[2] === 'proxy') {
  const flags = process.env.TRELLIS_PROXY_V8_FLAGS ?? '--semi-space-growth-factor=1 --bytecode-old-age=1';
  if (flags) setFlagsFromString(flags);
}
await import('../dist/src/cli/main.js');
