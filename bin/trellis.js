#!/usr/bin/env node
// The `trellis` command: runs the compiled CLI (build with `npm run build`, done by `npm install`).
/* global setTimeout, setInterval, clearInterval, URL */
import { statSync } from 'node:fs';
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
// - lazy tiering during startup: a 62x interrupt budget and no first-tick optimization of small
//   functions, so loading ~150 modules (the ESM loader's URL and path functions) does not start
//   TurboFan, whose code is ~3.5 MB of RSS once touched. V8's defaults come back 1.5 s after start
//   (before traffic: CPU/request unchanged); functions that ran during startup keep the budget
//   they had, so the idle work (ADS, probes, heartbeats) does not get optimized either
//   (docs/sidecar.md "Memory").
// - TurboFan only once the sidecar is busy: a sidecar that probes its app every second and heart-beats
//   got Node's validator wrapper optimized 1 to 5 minutes after start while carrying no traffic,
//   and the first TurboFan compile keeps ~3.6 MB of the node binary resident. It starts with
//   --no-turbofan (Sparkplug still runs); a watcher turns TurboFan on for good after three
//   consecutive half-seconds with >= 20 ms of CPU each, and stops. An idle sidecar uses ~1-3 ms/s;
//   V8's memory reducer runs two or three full GCs of up to ~40 ms ~0.6 s apart some 8 s after
//   start, which must not trip it; a load of a few hundred requests/s trips it within 1.5 s. It
//   watches from 3 s after start, past start-up's own work.
// - Sparkplug (V8's baseline compiler) only once busy too, by the same watcher: its code and the
//   compiler's pages of the node binary are 0.6-0.8 MB of an idle sidecar's RSS; under load the
//   hot functions are baseline-compiled at their next tick (CPU/request unchanged in A/B runs).
// - while idle (until that watcher fires), a scavenge task at 10 % of the young generation instead
//   of 80 %: the idle work's garbage is collected before it has touched most of the 1 MB
//   semi-space, whose pages otherwise stay resident (up to ~1.5 MB more RSS on a registered
//   sidecar between scavenges; docs/sidecar.md "Memory").
// TRELLIS_PROXY_V8_FLAGS overrides all of them ('' turns them off; no watcher then).
if (process.argv[2] === 'proxy') {
  const env = process.env.TRELLIS_PROXY_V8_FLAGS;
  const flags =
    env ??
    '--semi-space-growth-factor=1 --bytecode-old-age=1 --interrupt-budget=4194304 --max-bytecode-size-for-early-opt=0 --no-turbofan --minor-gc-task-trigger=10 --no-sparkplug';
  if (flags) setFlagsFromString(flags);
  if (env === undefined) {
    // V8 11.3's (Node 20) defaults. A function's budget is refilled from the flag at each of its
    // ticks, so the functions that only run from now on get the default one.
    const restore = () => setFlagsFromString('--interrupt-budget=67584 --max-bytecode-size-for-early-opt=81');
    setTimeout(restore, 1500).unref();
    // From 3 s on: start-up (modules, config, listeners, registration) is busy too.
    setTimeout(() => fullSpeedWhenBusy(500, 20_000, 3), 3000).unref();
  }
}

/** V8 11.3's (Node 20) default: a scavenge task is posted once the young generation is 80 % full. */
const MINOR_GC_TASK_TRIGGER_DEFAULT = 80;

/** Turns TurboFan and Sparkplug on (and V8's default scavenge trigger back) once `windows` consecutive windows of `everyMs` each used >= `busyUs` of CPU. */
function fullSpeedWhenBusy(everyMs, busyUs, windows) {
  let last = process.cpuUsage();
  let busy = 0;
  const watcher = setInterval(() => {
    const d = process.cpuUsage(last);
    last = process.cpuUsage();
    busy = d.user + d.system >= busyUs ? busy + 1 : 0;
    if (busy < windows) return;
    setFlagsFromString(`--turbofan --sparkplug --minor-gc-task-trigger=${MINOR_GC_TASK_TRIGGER_DEFAULT}`);
    clearInterval(watcher);
  }, everyMs);
  watcher.unref();
}
// `trellis proxy` runs from the sidecar's bundle (dist/proxy/, made by `npm run build`): one module
// instead of ~150, ~1 MB less RSS per sidecar (tools/bundle-proxy.js). Only when it is at least as
// new as tsc's output: after a plain `tsc` the sidecar runs from dist/src, never from stale code.
const cli =
  process.argv[2] === 'proxy' && bundleIsFresh() ? '../dist/proxy/cli/main.js' : '../dist/src/cli/main.js';
await import(cli);

function bundleIsFresh() {
  const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
  const bundle = mtime('../dist/proxy/cli/main.js');
  const compiled = mtime('../dist/src/cli/main.js');
  return bundle !== undefined && compiled !== undefined && bundle >= compiled;
}
