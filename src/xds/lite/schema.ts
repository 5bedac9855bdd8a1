// The sidecar's compact view of the generated xDS descriptor (src/xds/generated/xds-descriptor.json):
// per message its fields sorted by number (name, kind, repeated, map key kind, referenced type), per
// enum its names by number. It replaces protobufjs's reflection Root in the sidecar: the same 430
// message types cost ~0.3 MB of heap here against ~2.3 MB as protobufjs Type/Field objects, and no
// code is generated per type (see docs/sidecar.md "Memory").
import { readFileSync } from 'node:fs';
import { descriptorPath } from '../descriptor-path.js';

/** Field kinds (scalar wire types, enum, message). */
export const Kind = {
  double: 1,
  float: 2,
  int64: 3,
  uint64: 4,
  int32: 5,
  fixed64: 6,
  fixed32: 7,
  bool: 8,
  string: 9,
  bytes: 10,
  uint32: 11,
  sfixed32: 12,
  sfixed64: 13,
  sint32: 14,
  sint64: 15,
  enum: 16,
  message: 17,
} as const;

const SCALARS: Readonly<Record<string, number>> = Kind;

export interface LiteField {
  readonly name: string;
  readonly id: number;
  readonly kind: number;
  readonly repeated: boolean;
  /** The key kind of a map field; 0 for a field that is not a map. */
  readonly keyKind: number;
  /** Full name (no leading dot) of the message or enum type; '' for scalars. */
  readonly ref: string;
}

export interface LiteMessage {
  /** Full name without the leading dot. */
  readonly name: string;
  /** Sorted by field number (the order protobufjs's toObject writes keys in). */
  readonly fields: readonly LiteField[];
}

export interface LiteSchema {
  readonly messages: ReadonlyMap<string, LiteMessage>;
  /** Enum value names by number (for an alias, the last name declared, as protobufjs). */
  readonly enums: ReadonlyMap<string, ReadonlyMap<number, string>>;
}

interface JsonField {
  type: string;
  id: number;
  rule?: string;
  keyType?: string;
}
interface JsonNode {
  nested?: Record<string, JsonNode>;
  fields?: Record<string, JsonField>;
  values?: Record<string, number>;
}

/** Builds the compact schema from a protobufjs JSON descriptor (fully qualified type references). */
export function buildLiteSchema(root: JsonNode): LiteSchema {
  const enums = new Map<string, Map<number, string>>();
  const raw: [string, Record<string, JsonField>][] = [];
  const walk = (node: JsonNode, prefix: string): void => {
    for (const [name, child] of Object.entries(node.nested ?? {})) {
      const full = prefix === '' ? name : `${prefix}.${name}`;
      if (child.values) {
        const byId = new Map<number, string>();
        for (const [k, v] of Object.entries(child.values)) if (typeof v === 'number') byId.set(v, k);
        enums.set(full, byId);
      } else if (child.fields) raw.push([full, child.fields]);
      walk(child, full);
    }
  };
  walk(root, '');
  const messageNames = new Set(raw.map(([n]) => n));
  const messages = new Map<string, LiteMessage>();
  for (const [name, jsonFields] of raw) {
    const fields: LiteField[] = [];
    for (const [fieldName, f] of Object.entries(jsonFields)) {
      let kind = SCALARS[f.type];
      let ref = '';
      if (kind === undefined) {
        ref = f.type.startsWith('.') ? f.type.slice(1) : f.type;
        if (messageNames.has(ref)) kind = Kind.message;
        else if (enums.has(ref)) kind = Kind.enum;
        else throw new Error(`xDS descriptor: ${name}.${fieldName} has unknown type ${f.type}`);
      }
      let keyKind = 0;
      if (f.keyType !== undefined) {
        keyKind = SCALARS[f.keyType] ?? 0;
        if (keyKind === 0 || keyKind > Kind.sint64 || keyKind === Kind.bytes)
          throw new Error(`xDS descriptor: ${name}.${fieldName} has bad map key type ${f.keyType}`);
      }
      fields.push({ name: fieldName, id: f.id, kind, repeated: f.rule === 'repeated', keyKind, ref });
    }
    fields.sort((a, b) => a.id - b.id);
    messages.set(name, { name, fields });
  }
  return { messages, enums };
}

let cached: LiteSchema | undefined;

/** The schema of the generated descriptor, built on first use. */
export function liteSchema(): LiteSchema {
  cached ??= buildLiteSchema(JSON.parse(readFileSync(descriptorPath(), 'utf8')) as JsonNode);
  return cached;
}
