#!/usr/bin/env node
// The `trellis` command: runs the compiled CLI (build with `npm run build`, done by `npm install`).
import { setFlagsFromString } from 'node:v8';

// `trellis proxy` only: keep V8's young generation at its initial size instead of letting it grow
// to 16 MB semi-spaces. Idle sidecar RSS 70.5 -> 65 MB (as `--max-semi-space-size=1` on the
// command line, which cannot be set from here; this flag is read at each growth, so it works
// after start). See bench/README.md "Sidecar memory" for the load/CPU figures.
// TRELLIS_PROXY_V8_FLAGS overrides it ('' turns it off).
if (process.argv[2] === 'proxy') {
  const flags = process.env.TRELLIS_PROXY_V8_FLAGS ?? '--semi-space-growth-factor=1';
  if (flags) setFlagsFromString(flags);
}
await import('../dist/src/cli/main.js');
