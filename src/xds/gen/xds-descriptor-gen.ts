// Builds the pruned xDS descriptor: only the message/enum types reachable from what we send and
// receive, type references fully qualified, options/comments dropped (see gen-xds-descriptor.ts).
import protobuf from 'protobufjs';
import { PROTO_FILES, loadProtoFilesRoot } from './proto-files.js';

/** Files whose every message may sit in an Any or a discovery message (all of PROTO_FILES but CSDS, which no code uses). */
export const SEED_FILES: readonly string[] = PROTO_FILES.filter((f) => !f.includes('/service/status/'));

/** Well-known types the strict encoder handles specially (kept whether or not a field uses them). */
export const WELL_KNOWN_SEEDS: readonly string[] = [
  'Any',
  'Duration',
  'Timestamp',
  'Empty',
  'Struct',
  'Value',
  'ListValue',
  'NullValue',
  ...['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map(
    (w) => `${w}Value`,
  ),
].map((n) => `google.protobuf.${n}`);

/** Field options that change the wire format or presence; everything else (validate, udpa, …) is dropped. */
const KEPT_FIELD_OPTIONS = ['packed', 'proto3_optional', 'default'];

type Reflected = protobuf.Type | protobuf.Enum;
type JsonNode = Record<string, unknown> & { nested?: Record<string, JsonNode> };

function fileOf(obj: protobuf.ReflectionObject): string | null {
  for (let o: protobuf.ReflectionObject | null = obj; o; o = o.parent) if (o.filename) return o.filename;
  return null;
}

function editionOf(obj: protobuf.ReflectionObject): string {
  for (let o: protobuf.ReflectionObject | null = obj; o; o = o.parent) {
    const e = (o as unknown as { _edition?: string | null })._edition;
    if (e) return e;
  }
  return 'proto3';
}

function* allTypes(ns: protobuf.NamespaceBase): Generator<Reflected> {
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Type || child instanceof protobuf.Enum) yield child;
    if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) yield* allTypes(child);
  }
}

/** Every type reachable (through message/enum fields) from the seed files and well-known types. */
export function reachableTypes(root: protobuf.Root): Map<string, Reflected> {
  const kept = new Map<string, Reflected>();
  const queue: Reflected[] = [];
  const add = (t: Reflected): void => {
    if (kept.has(t.fullName)) return;
    kept.set(t.fullName, t);
    queue.push(t);
  };
  const seedRe = SEED_FILES.map((f) => `/${f}`);
  for (const t of allTypes(root)) {
    const file = fileOf(t)?.replaceAll('\\', '/');
    if (file && seedRe.some((s) => file.endsWith(s))) add(t);
  }
  for (const name of WELL_KNOWN_SEEDS) {
    const t = root.lookup(name);
    if (t instanceof protobuf.Type || t instanceof protobuf.Enum) add(t);
    else throw new Error(`well-known type ${name} is not in the root`);
  }
  while (queue.length > 0) {
    const t = queue.pop();
    if (!(t instanceof protobuf.Type)) continue;
    for (const field of t.fieldsArray) {
      field.resolve();
      const rt = field.resolvedType;
      if (rt) add(rt);
    }
  }
  return kept;
}

function typeJson(t: protobuf.Type): JsonNode {
  const out: JsonNode = {};
  const edition = editionOf(t);
  if (edition !== 'proto3') out['edition'] = edition;
  const oneofs: Record<string, { oneof: string[] }> = {};
  for (const o of t.oneofsArray) oneofs[o.name] = { oneof: [...o.oneof] };
  if (t.oneofsArray.length > 0) out['oneofs'] = oneofs;
  const fields: Record<string, unknown> = {};
  for (const f of t.fieldsArray) {
    f.resolve();
    const j: Record<string, unknown> = {};
    if (f.repeated && !f.map) j['rule'] = 'repeated';
    else if (f.required) j['rule'] = 'required';
    if (f.map) j['keyType'] = (f as unknown as protobuf.MapField).keyType;
    j['type'] = f.resolvedType ? f.resolvedType.fullName : f.type;
    j['id'] = f.id;
    const opts: Record<string, unknown> = {};
    for (const k of KEPT_FIELD_OPTIONS) if (f.options?.[k] !== undefined) opts[k] = f.options[k];
    if (Object.keys(opts).length > 0) j['options'] = opts;
    fields[f.name] = j;
  }
  out['fields'] = fields;
  return out;
}

function enumJson(e: protobuf.Enum): JsonNode {
  const out: JsonNode = {};
  const edition = editionOf(e);
  if (edition !== 'proto3') out['edition'] = edition;
  out['values'] = { ...e.values };
  return out;
}

function sortNested(node: JsonNode): JsonNode {
  if (!node.nested) return node;
  const sorted: Record<string, JsonNode> = {};
  for (const k of Object.keys(node.nested).sort()) sorted[k] = sortNested(node.nested[k] as JsonNode);
  node.nested = sorted;
  return node;
}

/** The pruned descriptor of `root` (default: the full root parsed from PROTO_FILES), for Root.fromJSON. */
export function buildXdsDescriptor(root: protobuf.Root = loadProtoFilesRoot()): JsonNode {
  const top: JsonNode = {};
  for (const [fullName, t] of [...reachableTypes(root)].sort(([a], [b]) => (a < b ? -1 : 1))) {
    let node = top;
    for (const seg of fullName.slice(1).split('.')) {
      node.nested ??= {};
      node = node.nested[seg] ??= {};
    }
    Object.assign(node, t instanceof protobuf.Type ? typeJson(t) : enumJson(t));
  }
  return sortNested(top);
}

/** The descriptor file as committed (indented, so a regenerated file diffs readably). */
export function xdsDescriptorText(root?: protobuf.Root): string {
  return `${JSON.stringify(buildXdsDescriptor(root), null, 1)}\n`;
}
