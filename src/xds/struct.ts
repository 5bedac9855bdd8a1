// google.protobuf.Struct / Value <-> plain JSON, in the object shapes protobufjs uses (it bundles
// these with camelCase field names: `stringValue`, `structValue`, ...). Encoding also accepts the
// message shape `{fields: {k: {string_value: 'x'}}}` (snake or camel case).
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

const VALUE_KEYS: Readonly<Record<string, string>> = {
  null_value: 'nullValue',
  number_value: 'numberValue',
  string_value: 'stringValue',
  bool_value: 'boolValue',
  struct_value: 'structValue',
  list_value: 'listValue',
  nullValue: 'nullValue',
  numberValue: 'numberValue',
  stringValue: 'stringValue',
  boolValue: 'boolValue',
  structValue: 'structValue',
  listValue: 'listValue',
};

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True for `{string_value: 'x'}`-style Value messages (exactly one Value key). */
export function isValueShape(v: unknown): v is Obj {
  if (!isObj(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && VALUE_KEYS[keys[0] ?? ''] !== undefined;
}

/** True for `{fields: {k: <Value message>}}` (the message shape rather than plain JSON). */
export function isStructShape(v: Obj): boolean {
  const keys = Object.keys(v);
  const fields = v['fields'];
  return keys.length === 1 && isObj(fields) && Object.values(fields).every(isValueShape);
}

export function valueShapeToMessage(v: Obj): Obj {
  const [key, val] = Object.entries(v)[0] ?? ['nullValue', 'NULL_VALUE'];
  const camel = VALUE_KEYS[key] ?? key;
  if (camel === 'structValue') {
    return {
      structValue: isObj(val) && isStructShape(val) ? structShapeToMessage(val) : jsonToStruct(val as Obj),
    };
  }
  if (camel === 'listValue') {
    const values = isObj(val) && Array.isArray(val['values']) ? (val['values'] as unknown[]) : [];
    return {
      listValue: { values: values.map((x) => (isValueShape(x) ? valueShapeToMessage(x) : jsonToValue(x))) },
    };
  }
  return { [camel]: val };
}

export function structShapeToMessage(s: Obj): Obj {
  const fields: Obj = {};
  for (const [k, v] of Object.entries(s['fields'] as Obj)) fields[k] = valueShapeToMessage(v as Obj);
  return { fields };
}

export function jsonToValue(v: unknown): Obj {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map((x) => jsonToValue(x)) } };
  if (typeof v === 'object') return { structValue: jsonToStruct(v as Obj) };
  return { stringValue: String(v) };
}

export function jsonToStruct(obj: Obj): Obj {
  const fields: Obj = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) fields[k] = jsonToValue(v);
  return { fields };
}

export function valueToJson(v: unknown): Json {
  if (!isObj(v)) return null;
  if ('stringValue' in v) return String(v['stringValue']);
  if ('numberValue' in v) return Number(v['numberValue']);
  if ('boolValue' in v) return Boolean(v['boolValue']);
  if ('structValue' in v) return structToJson(v['structValue']);
  if ('listValue' in v) {
    const values = (v['listValue'] as Obj | null)?.['values'];
    return Array.isArray(values) ? values.map((x) => valueToJson(x)) : [];
  }
  return null;
}

export function structToJson(s: unknown): { [k: string]: Json } {
  const out: { [k: string]: Json } = {};
  const fields = isObj(s) ? s['fields'] : undefined;
  if (isObj(fields)) for (const [k, v] of Object.entries(fields)) out[k] = valueToJson(v);
  return out;
}
