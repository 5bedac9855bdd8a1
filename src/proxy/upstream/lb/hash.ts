// Fast allocation-free hashing for ring hash: MurmurHash3 (x86_32) over a string's UTF-16 code units
// (not UTF-8 bytes), cut to 30 bits so results stay V8 small integers (returning them never allocates).

/** MurmurHash3's avalanche finalizer: a bijection on uint32, used to spread precomputed hashes. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixK(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

/** The top 30 bits of MurmurHash3 of `s`, two UTF-16 code units per 32-bit block. In [0, 2^30). */
export function hashString(s: string, seed = 0): number {
  let h = seed | 0;
  const len = s.length;
  const pairs = len & ~1;
  let i = 0;
  for (; i < pairs; i += 2) {
    h ^= mixK(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < len) h ^= mixK(s.charCodeAt(i));
  h ^= len * 2;
  return fmix32(h) >>> 2;
}

export const HASH_SPACE = 2 ** 30;

/** The 30-bit request hash of a pick: strings are hashed, numbers (precomputed hashes) are mixed. */
export function requestHash(key: number | string): number {
  return typeof key === 'string' ? hashString(key) : fmix32(key >>> 0) >>> 2;
}
