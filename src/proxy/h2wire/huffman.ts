// HPACK's static Huffman code (RFC 7541 Appendix B), decoding only: the encoder of this layer sends
// string literals raw (valid HPACK), the peers' encoders (nghttp2, curl) usually send Huffman.
//
// The code is canonical (codes of one length are consecutive, in symbol order, and each length's
// first code follows the previous length's last one shifted left), so the bit length of each of
// the 257 symbols (256 octets + EOS) is all it takes to rebuild every code.
import { HpackError } from './hpack-error.js';

/** Code length in bits of symbols 0..255 and EOS (256), 32 per row. */
const LENGTHS = [
  '13 23 28 28 28 28 28 28 28 24 30 28 28 30 28 28 28 28 28 28 28 28 30 28 28 28 28 28 28 28 28 28',
  '6 10 10 12 13 6 8 11 10 10 8 11 8 6 6 6 5 5 5 6 6 6 6 6 6 6 7 8 15 6 12 10',
  '13 6 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 8 7 8 13 19 13 14 6',
  '15 5 6 5 6 5 6 6 6 5 7 7 6 6 6 5 6 7 6 5 5 6 7 7 7 7 7 15 11 14 13 28',
  '20 22 20 20 22 22 22 23 22 23 23 23 23 23 24 23 24 24 22 23 24 23 23 23 23 21 22 23 22 23 23 24',
  '22 21 20 22 22 23 23 21 23 22 22 24 21 22 23 23 21 21 22 21 23 22 23 23 20 22 22 22 23 22 22 23',
  '26 26 20 19 22 23 22 25 26 26 26 27 27 26 24 25 19 21 26 27 27 26 27 24 21 21 26 26 28 27 27 27',
  '20 24 20 21 22 21 21 23 22 22 25 25 24 24 26 23 26 27 26 26 27 27 27 27 27 28 27 27 27 27 27 26',
  '30',
]
  .join(' ')
  .split(' ')
  .map(Number);

const EOS = 256;

/** The canonical codes (MSB-first values of LENGTHS[sym] bits). */
export function huffmanCodes(): { codes: number[]; lengths: number[] } {
  const order = LENGTHS.map((_, s) => s).sort(
    (a, b) => (LENGTHS[a] as number) - (LENGTHS[b] as number) || a - b,
  );
  const codes: number[] = new Array<number>(LENGTHS.length).fill(0);
  let code = 0;
  let prev = LENGTHS[order[0] as number] as number;
  for (const s of order) {
    const len = LENGTHS[s] as number;
    code *= 2 ** (len - prev); // codes reach 30 bits: no 32-bit shifts
    prev = len;
    codes[s] = code;
    code++;
  }
  return { codes, lengths: [...LENGTHS] };
}

/**
 * Decoding tree: node n's children are TREE[2n] (bit 0) and TREE[2n+1] (bit 1); a positive value
 * is the next node, a negative one the leaf -(symbol + 1). The code is complete (Kraft sum 1), so
 * every path ends in a leaf.
 */
const TREE = buildTree();

function buildTree(): Int32Array {
  const { codes, lengths } = huffmanCodes();
  const tree = new Int32Array(2 * 512);
  let next = 1;
  for (let s = 0; s < codes.length; s++) {
    const len = lengths[s] as number;
    const code = codes[s] as number;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      // code < 2^30, so the unsigned shift is exact; light enough that V8 does not optimize this
      // load-time loop (docs/sidecar.md "Memory").
      const bit = (code >>> i) & 1;
      const slot = 2 * node + bit;
      if (i === 0) tree[slot] = -(s + 1);
      else {
        if (tree[slot] === 0) tree[slot] = next++;
        node = tree[slot] as number;
      }
    }
  }
  return tree;
}

let scratch = Buffer.allocUnsafe(4096);

/**
 * Decodes `src[start, end)` to a latin1 string. COMPRESSION_ERROR for EOS in the string, padding
 * longer than 7 bits, or padding that is not the EOS prefix (all ones) (RFC 7541 §5.2).
 */
export function huffmanDecode(src: Buffer, start: number, end: number): string {
  // Shortest code is 5 bits: at most 8/5 symbols per octet.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let node = 0;
  let bits = 0; // bits of the current, unfinished code
  let ones = true; // those bits are all ones
  for (let p = start; p < end; p++) {
    const byte = src[p] as number;
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >> i) & 1;
      const v = TREE[2 * node + bit] as number;
      if (v < 0) {
        const sym = -v - 1;
        if (sym === EOS) throw new HpackError('EOS symbol inside a Huffman-coded string');
        out[n++] = sym;
        node = 0;
        bits = 0;
        ones = true;
      } else {
        node = v;
        bits++;
        if (bit === 0) ones = false;
      }
    }
  }
  if (bits > 7) throw new HpackError('Huffman padding longer than 7 bits');
  if (!ones) throw new HpackError('Huffman padding is not the EOS prefix');
  return out.toString('latin1', 0, n);
}
