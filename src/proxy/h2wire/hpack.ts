// HPACK (RFC 7541). The decoder takes any valid block: indexed fields (static and dynamic table),
// literals with/without/never indexing, Huffman or raw strings, dynamic table size updates; bad
// input throws HpackError (the connection answers COMPRESSION_ERROR). The encoder uses the static
// table and literals without indexing, raw strings only: valid HPACK that keeps no state, so it
// never has to follow the peer's SETTINGS_HEADER_TABLE_SIZE.
import { HpackError } from './hpack-error.js';
import { huffmanDecode } from './huffman.js';

export { HpackError };

/** RFC 7541 Appendix A: index i + 1 is STATIC[i]. */
const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ...(
    'accept-charset,accept-encoding,accept-language,accept-ranges,accept,access-control-allow-origin,' +
    'age,allow,authorization,cache-control,content-disposition,content-encoding,content-language,' +
    'content-length,content-location,content-range,content-type,cookie,date,etag,expect,expires,' +
    'from,host,if-match,if-modified-since,if-none-match,if-range,if-unmodified-since,last-modified,' +
    'link,location,max-forwards,proxy-authenticate,proxy-authorization,range,referer,refresh,' +
    'retry-after,server,set-cookie,strict-transport-security,transfer-encoding,user-agent,vary,via,' +
    'www-authenticate'
  )
    .split(',')
    .map((n): [string, string] => [n, n === 'accept-encoding' ? 'gzip, deflate' : '']),
];
export const STATIC_COUNT = STATIC.length; // 61

/** Name → first static index; name → [value, index, ...] of the entries that have a value. */
const STATIC_NAME = new Map<string, number>();
const STATIC_VALUES = new Map<string, Array<string | number>>();
STATIC.forEach(([n, v], i) => {
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i + 1);
  if (v === '') return;
  let l = STATIC_VALUES.get(n);
  if (l === undefined) STATIC_VALUES.set(n, (l = []));
  l.push(v, i + 1);
});

/** The static index of exactly (n, v), or 0. */
function staticPair(n: string, v: string): number {
  const l = STATIC_VALUES.get(n);
  if (l === undefined) return 0;
  for (let i = 0; i < l.length; i += 2) if (l[i] === v) return l[i + 1] as number;
  return 0;
}

/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
export function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

export class HpackDecoder {
  /** Dynamic table, oldest first: dynamic index 1 is the last element. */
  private names: string[] = [];
  private values: string[] = [];
  private size = 0;
  private maxSize: number;

  /** `limit`: our SETTINGS_HEADER_TABLE_SIZE, the most a size update may ask for (default 4096). */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  get tableSize(): number {
    return this.size;
  }

  get tableEntries(): number {
    return this.names.length;
  }

  /**
   * Decodes one complete header block into `out` (flat name, value, ...) and returns the header
   * list size (RFC 9113 §6.5.2: octets + 32 per field). Decoding always runs to the end, whatever
   * the size, so the dynamic table stays in step with the peer's encoder.
   */
  decode(b: Buffer, out: string[]): number {
    let p = 0;
    const end = b.length;
    let listSize = 0;
    let fields = false;
    while (p < end) {
      const c = b[p] as number;
      let name: string;
      let value: string;
      if (c & 0x80) {
        const index = readInt(b, p, 7);
        p = at;
        if (index <= STATIC_COUNT && index > 0) {
          const e = STATIC[index - 1] as readonly [string, string];
          name = e[0];
          value = e[1];
        } else {
          name = this.name(index);
          value = this.values[this.names.length - (index - STATIC_COUNT)] as string;
        }
      } else if ((c & 0xe0) === 0x20) {
        // Dynamic table size update: only at the start of a block (RFC 7541 §4.2).
        if (fields) throw new HpackError('dynamic table size update after a header field');
        const size = readInt(b, p, 5);
        p = at;
        if (size > this.limit) {
          throw new HpackError(`dynamic table size update to ${size}, above the limit ${this.limit}`);
        }
        this.maxSize = size;
        this.evict(0);
        continue;
      } else {
        const incremental = (c & 0xc0) === 0x40;
        const index = readInt(b, p, incremental ? 6 : 4);
        p = at;
        if (index === 0) {
          name = readString(b, p);
          p = at;
        } else name = this.name(index);
        value = readString(b, p);
        p = at;
        if (incremental) this.add(name, value);
      }
      fields = true;
      listSize += name.length + value.length + 32;
      out.push(name, value);
    }
    return listSize;
  }

  /** The name at `index` (static or dynamic); the dynamic value is at the same position. */
  private name(index: number): string {
    if (index === 0) throw new HpackError('header field index 0');
    if (index <= STATIC_COUNT) return (STATIC[index - 1] as readonly [string, string])[0];
    const i = this.names.length - (index - STATIC_COUNT);
    if (i < 0) throw new HpackError(`header field index ${index} is past the end of the table`);
    return this.names[i] as string;
  }

  private add(name: string, value: string): void {
    const s = entrySize(name, value);
    if (s > this.maxSize) {
      // RFC 7541 §4.4: an entry larger than the table empties it and is not added.
      this.names = [];
      this.values = [];
      this.size = 0;
      return;
    }
    this.evict(s);
    this.names.push(name);
    this.values.push(value);
    this.size += s;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    let drop = 0;
    while (this.size + room > this.maxSize && drop < this.names.length) {
      this.size -= entrySize(this.names[drop] as string, this.values[drop] as string);
      drop++;
    }
    if (drop > 0) {
      this.names.splice(0, drop);
      this.values.splice(0, drop);
    }
  }
}

/** Where the last readInt / readString stopped (one decoder runs at a time: no object per read). */
let at = 0;

/** RFC 7541 §5.1 integer with an N-bit prefix; more than 2^28 (or running past the end) is an error. */
function readInt(b: Buffer, p: number, prefix: number): number {
  const mask = (1 << prefix) - 1;
  let v = (b[p] as number) & mask;
  p++;
  if (v < mask) {
    at = p;
    return v;
  }
  let m = 0;
  for (;;) {
    if (p >= b.length) throw new HpackError('integer runs past the end of the header block');
    const c = b[p++] as number;
    v += (c & 0x7f) * 2 ** m;
    m += 7;
    if ((c & 0x80) === 0) break;
    if (m > 28) throw new HpackError('integer too large');
  }
  if (v > 0x1fffffff) throw new HpackError('integer too large');
  at = p;
  return v;
}

function readString(b: Buffer, p: number): string {
  if (p >= b.length) throw new HpackError('string literal runs past the end of the header block');
  const huff = ((b[p] as number) & 0x80) !== 0;
  const len = readInt(b, p, 7);
  const start = at;
  const end = start + len;
  if (end > b.length) throw new HpackError('string literal runs past the end of the header block');
  at = end;
  return huff ? huffmanDecode(b, start, end) : b.toString('latin1', start, end);
}

/** Stateless encoder (static table + literals without indexing, raw strings). */
const EMPTY: Buffer = Buffer.alloc(0);

export class HpackEncoder {
  private buf: Buffer = EMPTY;
  private p = 0;

  /** Encodes a flat name, value list (names already lower-case; pseudo-headers first). */
  encode(fields: readonly string[]): Buffer {
    const b = this.encodeAt(fields, 0);
    return Buffer.from(b);
  }

  /**
   * Encodes into a fresh buffer after `room` octets left for the caller (a frame header): returns
   * the whole buffer, the block being `[room, length)`.
   */
  encodeAt(fields: readonly string[], room: number): Buffer {
    this.buf = Buffer.allocUnsafe(room + HpackEncoder.bound(fields));
    this.p = room;
    this.fill(fields);
    return this.buf.subarray(0, this.p);
  }

  /** At most how many octets the block of `fields` takes (encodeInto needs that much room). */
  static bound(fields: readonly string[]): number {
    let need = 0;
    for (let i = 0; i < fields.length; i++) need += (fields[i] as string).length + 6;
    return need;
  }

  /**
   * Encodes into `b` from `at` (`bound(fields)` octets of room there: the caller's output buffer,
   * no allocation); returns where the block ends.
   */
  encodeInto(fields: readonly string[], b: Buffer, at: number): number {
    this.buf = b;
    this.p = at;
    this.fill(fields);
    const end = this.p;
    this.buf = EMPTY;
    return end;
  }

  private fill(fields: readonly string[]): void {
    for (let i = 0; i < fields.length; i += 2) {
      const n = fields[i] as string;
      const v = fields[i + 1] as string;
      const pair = staticPair(n, v);
      if (pair !== 0) {
        this.int(pair, 7, 0x80);
        continue;
      }
      const idx = STATIC_NAME.get(n);
      if (idx !== undefined) this.int(idx, 4, 0x00);
      else {
        this.buf[this.p++] = 0x00;
        this.str(n);
      }
      this.str(v);
    }
  }

  private int(v: number, prefix: number, flags: number): void {
    const mask = (1 << prefix) - 1;
    const b = this.buf;
    if (v < mask) {
      b[this.p++] = flags | v;
      return;
    }
    b[this.p++] = flags | mask;
    v -= mask;
    while (v >= 128) {
      b[this.p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.p++] = v;
  }

  private str(s: string): void {
    const n = s.length;
    this.int(n, 7, 0x00);
    const b = this.buf;
    const p = this.p;
    // Short strings (most names and values): a JS loop beats a native call per string (-40 % per
    // request head); fields are latin1 (checked where they come from), as 'latin1' writes them.
    if (n <= 64) for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i);
    else b.write(s, p, 'latin1');
    this.p = p + n;
  }
}
