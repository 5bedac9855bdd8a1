// The committed pruned descriptor: no drift from the pinned .proto files, the same types as the full
// root, and every resource encodes and decodes byte for byte as it did with the full root.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { type JsonObject, decodeResource, encodeResource } from '../any.js';
import { decodeDiscoveryRequest, encodeDiscoveryRequest } from '../discovery-codec.js';
import { descriptorPath, protoRoot, setProtoRootForTesting } from '../proto-root.js';
import { loadProtoFilesRoot } from './proto-files.js';
import { reachableTypes, xdsDescriptorText } from './xds-descriptor-gen.js';
import { EXTRA_RESOURCES } from './xds-descriptor-samples.js';

const GOLDEN_DIR = new URL('../../../../test/fixtures/translate/', import.meta.url);

/** Top-level resources (objects with '@type' not nested in another one) in a translate golden. */
function resourcesIn(v: unknown, out: JsonObject[] = []): JsonObject[] {
  if (Array.isArray(v)) for (const x of v) resourcesIn(x, out);
  else if (typeof v === 'object' && v !== null) {
    if ('@type' in v) out.push(v as JsonObject);
    else for (const x of Object.values(v)) resourcesIn(x, out);
  }
  return out;
}

function goldenResources(): { name: string; json: JsonObject }[] {
  const files = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.golden.json'));
  assert.ok(files.length > 5, 'translate goldens found');
  return files.flatMap((f) =>
    resourcesIn(JSON.parse(readFileSync(new URL(f, GOLDEN_DIR), 'utf8'))).map((json, i) => ({
      name: `${f}#${i} ${json['@type'] as string}`,
      json,
    })),
  );
}

interface Outcome {
  readonly bytes: string;
  readonly plain: JsonObject;
  readonly full: JsonObject;
}

function run(json: JsonObject): Outcome {
  const any = encodeResource(json);
  return {
    bytes: any.value.toString('hex'),
    plain: decodeResource(any),
    full: decodeResource(any, { defaults: true, oneofs: true }),
  };
}

describe('generated xDS descriptor', () => {
  let full: protobuf.Root;
  before(() => {
    full = loadProtoFilesRoot();
  });
  after(() => setProtoRootForTesting(undefined));

  it('is what `npm run gen:xds` produces from the pinned @grpc/grpc-js-xds protos (no drift)', () => {
    const committed = readFileSync(descriptorPath(), 'utf8');
    assert.ok(
      committed === xdsDescriptorText(full),
      'src/xds/generated/xds-descriptor.json is stale: run npm run gen:xds',
    );
  });

  it('holds every reachable type with the same fields, ids, rules and enum values as the full root', () => {
    setProtoRootForTesting(undefined);
    const pruned = protoRoot();
    const kept = reachableTypes(full);
    assert.ok(kept.size > 300, `${kept.size} types kept`);
    for (const [name, t] of kept) {
      const p = pruned.lookup(name);
      if (t instanceof protobuf.Enum) {
        assert.ok(p instanceof protobuf.Enum, name);
        assert.deepEqual({ ...p.values }, { ...t.values }, name);
        continue;
      }
      assert.ok(p instanceof protobuf.Type, name);
      const sig = (x: protobuf.Type): unknown =>
        x.fieldsArray.map((f) => [
          f.name,
          f.id,
          f.repeated,
          f.map,
          f.resolvedType?.fullName ?? f.type,
          f.packed,
          f.partOf?.name,
          Boolean(f.hasPresence),
        ]);
      assert.deepEqual(sig(p), sig(t), name);
    }
  });

  it('encodes and decodes every golden and sample resource exactly as the full root does', () => {
    const inputs = [...goldenResources(), ...EXTRA_RESOURCES];
    setProtoRootForTesting(undefined);
    const pruned = inputs.map(({ json }) => run(json));
    const req = encodeDiscoveryRequest({
      node: { id: 'n', metadata: { a: [1, 'x', { b: true }] }, locality: { zone: 'z' } },
      type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener',
      resource_names: ['a', 'b'],
      error_detail: { code: 3, message: 'bad' },
    });
    const reqPruned = decodeDiscoveryRequest(req);
    setProtoRootForTesting(full);
    try {
      inputs.forEach(({ name, json }, i) => assert.deepEqual(pruned[i], run(json), name));
      assert.deepEqual(reqPruned, decodeDiscoveryRequest(req));
    } finally {
      setProtoRootForTesting(undefined);
    }
  });
});
