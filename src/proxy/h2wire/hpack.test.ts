import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.js';
import { huffmanCodes, huffmanDecode } from './huffman.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(d: HpackDecoder, h: string): string[] {
  const out: string[] = [];
  d.decode(hex(h), out);
  return out;
}

describe('huffman', () => {
  it('rebuilds the canonical codes of RFC 7541 Appendix B', () => {
    const { codes, lengths } = huffmanCodes();
    assert.equal(codes.length, 257);
    assert.equal(codes[0]?.toString(16), '1ff8');
    assert.equal(codes[48], 0); // '0' = 00000
    assert.equal(codes[97], 3); // 'a' = 00011
    assert.equal(codes[256]?.toString(16), '3fffffff');
    assert.equal(lengths[256], 30);
    let kraft = 0;
    for (const l of lengths) kraft += 2 ** -l;
    assert.equal(kraft, 1);
  });
  it('decodes and rejects bad padding / EOS', () => {
    const b = hex('f1e3c2e5f23a6ba0ab90f4ff');
    assert.equal(huffmanDecode(b, 0, b.length), 'www.example.com');
    assert.throws(() => huffmanDecode(hex('f1e3c2e5f23a6ba0ab90f4ff ff'), 0, 13), HpackError); // 8+ bits of padding
    assert.throws(() => huffmanDecode(hex('00'), 0, 1), HpackError); // '0' then 000 padding (not ones)
    assert.throws(() => huffmanDecode(hex('ffffffff'), 0, 4), HpackError); // EOS
  });
});

describe('hpack decoder (RFC 7541 Appendix C)', () => {
  it('C.3: requests without Huffman, dynamic table across blocks', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decodeAll(d, '828684410f7777772e6578616d706c652e636f6d'), [
      ':method',
      'GET',
      ':scheme',
      'http',
      ':path',
      '/',
      ':authority',
      'www.example.com',
    ]);
    assert.deepEqual(decodeAll(d, '828684be58086e6f2d6361636865'), [
      ':method',
      'GET',
      ':scheme',
      'http',
      ':path',
      '/',
      ':authority',
      'www.example.com',
      'cache-control',
      'no-cache',
    ]);
    assert.deepEqual(decodeAll(d, '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565'), [
      ':method',
      'GET',
      ':scheme',
      'https',
      ':path',
      '/index.html',
      ':authority',
      'www.example.com',
      'custom-key',
      'custom-value',
    ]);
    assert.equal(d.tableSize, 164);
  });
  it('C.4: the same with Huffman', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decodeAll(d, '828684418cf1e3c2e5f23a6ba0ab90f4ff').slice(6), [
      ':authority',
      'www.example.com',
    ]);
    assert.deepEqual(decodeAll(d, '828684be5886a8eb10649cbf').slice(8), ['cache-control', 'no-cache']);
    assert.deepEqual(decodeAll(d, '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf').slice(8), [
      'custom-key',
      'custom-value',
    ]);
  });
  it('C.5: responses with eviction (table size 256)', () => {
    const d = new HpackDecoder(256);
    decodeAll(d, '3fe1 01'); // size update to 256 (5-bit prefix: 31 + 225)
    const r1 = decodeAll(
      d,
      '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
    );
    assert.deepEqual(r1.slice(0, 2), [':status', '302']);
    assert.equal(d.tableSize, 222);
    const r2 = decodeAll(d, '4803333037c1c0bf');
    assert.deepEqual(r2.slice(0, 2), [':status', '307']);
    assert.equal(d.tableSize, 222);
    assert.equal(d.tableEntries, 4);
  });
  it('rejects bad input with HpackError', () => {
    const bad = [
      '80', // index 0
      'be', // dynamic index 62 with an empty table
      'ff80808080808001', // integer too large
      '3fe21f', // size update to 4097, above 4096
      '82 20', // size update after a field
      '0005 6162', // name literal longer than the block
      '400a', // truncated
      '0081ff 00', // Huffman name with bad padding
    ];
    for (const h of bad) assert.throws(() => new HpackDecoder().decode(hex(h), []), HpackError, h);
  });
});

describe('hpack encoder', () => {
  it('round-trips through the decoder (static exact, static name, literal)', () => {
    const f = [
      ':method',
      'GET',
      ':scheme',
      'https',
      ':path',
      '/a?b=c',
      ':authority',
      'svc.ns:8080',
      'content-type',
      'text/plain',
      'x-custom',
      'v'.repeat(300),
      'accept-encoding',
      'gzip, deflate',
    ];
    const d = new HpackDecoder();
    const out: string[] = [];
    const size = d.decode(new HpackEncoder().encode(f), out);
    assert.deepEqual(out, f);
    assert.equal(size, f.join('').length + 32 * 7);
    assert.equal(d.tableEntries, 0);
  });
});
