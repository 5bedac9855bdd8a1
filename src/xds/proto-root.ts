// The protobufjs Root of every Envoy/xDS message we send or receive (nested Anys included), loaded
// lazily and once from the pruned descriptor src/xds/generated/xds-descriptor.json (`npm run gen:xds`).
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { descriptorPath } from './descriptor-path.js';

export { descriptorPath };

// Parsing the .proto files at run time cost ~200 ms and 13-23 MB RSS per sidecar; the generated
// JSON holds only the reachable types (~1 MB less heap, a few ms). The .proto loader lives in
// gen/proto-files.ts, for the generator and its drift test only.

let cached: { root: protobuf.Root; loadMs: number } | undefined;

function buildRoot(): protobuf.Root {
  const root = protobuf.Root.fromJSON(
    JSON.parse(readFileSync(descriptorPath(), 'utf8')) as protobuf.INamespace,
  );
  root.resolveAll();
  return root;
}

/** The shared Root (loaded on first use). */
export function protoRoot(): protobuf.Root {
  if (!cached) {
    const start = performance.now();
    const root = buildRoot();
    cached = { root, loadMs: performance.now() - start };
  }
  return cached.root;
}

/** How long the one-time load took, in ms (undefined before the first load). */
export function protoLoadMs(): number | undefined {
  return cached?.loadMs;
}

const typeCache = new Map<string, protobuf.Type | null>();

/**
 * Replaces the shared Root (tests: compare the pruned root with the full .proto one); `undefined`
 * goes back to the generated descriptor on next use.
 */
export function setProtoRootForTesting(root: protobuf.Root | undefined): void {
  cached = root ? { root, loadMs: 0 } : undefined;
  typeCache.clear();
}

/** Looks up a message type by full name (`envoy.config.listener.v3.Listener`), or undefined. */
export function lookupMessage(fullName: string): protobuf.Type | undefined {
  let t = typeCache.get(fullName);
  if (t === undefined) {
    const found = protoRoot().lookup(fullName);
    t = found instanceof protobuf.Type ? found : null;
    typeCache.set(fullName, t);
  }
  return t ?? undefined;
}

/** Same as lookupMessage but throws when the type is not loaded. */
export function messageType(fullName: string): protobuf.Type {
  const t = lookupMessage(fullName);
  if (!t)
    throw new Error(
      `protobuf type ${fullName} is not loaded (add its .proto to PROTO_FILES and run npm run gen:xds)`,
    );
  return t;
}
