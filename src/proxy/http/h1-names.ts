// Interned lower-case names of common header fields: the parser hashes a name's lower-cased bytes
// while validating it and, on a verified match, reuses the string instead of slicing + lower-casing.

const KNOWN = [
  'host',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-charset',
  'connection',
  'content-length',
  'content-type',
  'content-encoding',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'keep-alive',
  'cookie',
  'set-cookie',
  'authorization',
  'cache-control',
  'pragma',
  'date',
  'server',
  'vary',
  'etag',
  'expires',
  'last-modified',
  'location',
  'referer',
  'origin',
  'expect',
  'if-none-match',
  'if-modified-since',
  'range',
  'content-range',
  'accept-ranges',
  'age',
  'via',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-sampled',
  'grpc-status',
  'grpc-message',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'proxy-connection',
  'forwarded',
  'x-forwarded-client-cert',
  'strict-transport-security',
  'access-control-allow-origin',
  'www-authenticate',
  'link',
  'content-disposition',
  'content-language',
  'dnt',
  'priority',
];

const SIZE = 1024;
const MASK = SIZE - 1;
/** Open-addressed table indexed by hash & MASK; null = empty slot. */
const TABLE: (string | null)[] = new Array<string | null>(SIZE).fill(null);
const HASHES = new Int32Array(SIZE);

/** The hash the parser computes incrementally: h = (h * 31 + lowerByte) | 0. */
export function nameHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

for (const name of KNOWN) {
  // One hash per name: hashing twice made V8 optimize nameHash at load (docs/sidecar.md "Memory").
  const h = nameHash(name);
  let slot = h & MASK;
  while (TABLE[slot] !== null) slot = (slot + 1) & MASK;
  TABLE[slot] = name;
  HASHES[slot] = h;
}

/**
 * The interned name whose lower-cased bytes equal b[start, end) (hash `h`), or null.
 * Verifies byte by byte: a hash match alone never decides a field name.
 */
export function internedName(b: Buffer, start: number, end: number, h: number): string | null {
  const len = end - start;
  let slot = h & MASK;
  for (;;) {
    const cand = TABLE[slot] as string | null;
    if (cand === null) return null;
    if (HASHES[slot] === h && cand.length === len && sameBytes(b, start, cand)) return cand;
    slot = (slot + 1) & MASK;
  }
}

function sameBytes(b: Buffer, start: number, cand: string): boolean {
  for (let i = 0; i < cand.length; i++) {
    const c = b[start + i] as number;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== cand.charCodeAt(i)) return false;
  }
  return true;
}
