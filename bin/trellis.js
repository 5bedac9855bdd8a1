#!/usr/bin/env node
// The `trellis` command: runs the compiled CLI (build with `npm run build`, done by `npm install`).
import '../dist/src/cli/main.js';
