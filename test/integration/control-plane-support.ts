// Support for the integration tests that run a control plane in process: polling a condition, and
// applying YAML to it.
import assert from 'node:assert/strict';
import { parseDocuments } from '../../src/api/parse.js';
import type { RunningControlPlane } from '../../src/control-plane/control-plane.js';

/** Polls `cond` until it holds (bounded): waits on a condition, never a fixed sleep. */
export async function waitFor<T>(
  what: string,
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Applies YAML that must be valid to the control plane's state. */
export async function apply(cp: RunningControlPlane, yaml: string): Promise<void> {
  const parsed = parseDocuments(yaml, 'test.yaml');
  assert.ok(parsed.ok, JSON.stringify(parsed));
  await cp.state.apply(parsed.value);
}
