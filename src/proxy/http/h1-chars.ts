// Byte-class lookup tables for the HTTP/1 codec (RFC 9110 §5.6.2 tokens, §5.5 field values):
// the parser scans with these instead of regexes.

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const TCHAR_SYMBOLS = "!#$%&'*+-.^_`|~";
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** tchar: 1 for lower-case/digit/symbol, 2 for an upper-case letter (name needs lower-casing). */
export const TOKEN = table((c) => isAlpha(c) || isDigit(c) || TCHAR_SYMBOLS.includes(String.fromCharCode(c)));
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 2;

/** field-value bytes: HTAB, SP, VCHAR, obs-text. 2 marks whitespace (for trailing-OWS trimming). */
export const FIELD_VALUE = table((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));
FIELD_VALUE[0x20] = 2;
FIELD_VALUE[0x09] = 2;

/** request-target bytes: visible ASCII except '#' (fragments are never sent; CVE-2023-45539). */
export const TARGET = table((c) => c > 0x20 && c < 0x7f && c !== 0x23);

/** Host / authority bytes: reg-name, IP-literal and port characters (no '@', '/', '\\', SP). */
export const HOST = table(
  (c) => isAlpha(c) || isDigit(c) || "-._~!$&'()*+,;=:[]%".includes(String.fromCharCode(c)),
);

/** Hex digit value + 1 (0 = not a hex digit). */
export const HEX = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  if (isDigit(c)) HEX[c] = c - 0x30 + 1;
  else if (c >= 0x61 && c <= 0x66) HEX[c] = c - 0x61 + 11;
  else if (c >= 0x41 && c <= 0x46) HEX[c] = c - 0x41 + 11;
}

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;

interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
const fastSlice = typeof (Buffer.prototype as unknown as Partial<Latin1Slicer>).latin1Slice === 'function';

/** Bytes → string, one byte per char (obs-text survives a round trip through the serializer). */
export function latin1(b: Buffer, start: number, end: number): string {
  return fastSlice
    ? (b as unknown as Latin1Slicer).latin1Slice(start, end)
    : b.toString('latin1', start, end);
}

interface Latin1Writer {
  latin1Write(s: string, offset: number, length: number): number;
}
const fastWrite = typeof (Buffer.prototype as unknown as Partial<Latin1Writer>).latin1Write === 'function';

/** Writes `s` (one byte per char) into `b` at `offset`; returns the offset after it. */
export function writeLatin1(b: Buffer, offset: number, s: string): number {
  const n = s.length;
  // Short strings (most names and values): a JS loop is cheaper than a native call.
  if (n <= 24) {
    for (let i = 0; i < n; i++) b[offset + i] = s.charCodeAt(i);
    return offset + n;
  }
  if (fastWrite) (b as unknown as Latin1Writer).latin1Write(s, offset, n);
  else b.write(s, offset, n, 'latin1');
  return offset + n;
}
