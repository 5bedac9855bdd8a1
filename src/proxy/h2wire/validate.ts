// Field checks of RFC 9113 §8.2-8.3 on a decoded header list (flat name, value, ...): a failure is
// a malformed message (stream error PROTOCOL_ERROR). Returns what is wrong, or null.

const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);
const REQUEST_PSEUDO = new Map([
  [':method', 1],
  [':scheme', 2],
  [':authority', 4],
  [':path', 8],
]);

/** Lower-case token characters only (RFC 9110 tchar, upper case refused by RFC 9113 §8.2.1). */
function badName(n: string): boolean {
  if (n.length === 0) return true;
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a)) return true;
    if (c === 0x3a /* : */ && i > 0) return true;
    if (c === 0x22 || c === 0x28 || c === 0x29 || c === 0x2c || c === 0x2f || c === 0x3b) return true;
    if (c === 0x3c || c === 0x3d || c === 0x3e || c === 0x3f || c === 0x40 || c === 0x5b) return true;
    if (c === 0x5c || c === 0x5d || c === 0x7b || c === 0x7d) return true;
  }
  return false;
}

function badValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return true;
  }
  return false;
}

/** Regular fields shared by every kind of block. */
function checkField(n: string, v: string): string | null {
  if (badName(n)) return `invalid field name ${JSON.stringify(n)}`;
  if (badValue(v)) return `CR, LF or NUL in the value of ${n}`;
  if (CONNECTION_SPECIFIC.has(n)) return `connection-specific field ${n}`;
  if (n === 'te' && v !== 'trailers') return 'te other than "trailers"';
  return null;
}

export function checkRequest(f: readonly string[]): string | null {
  let regular = false;
  let method = '';
  let path: string | null = null;
  let scheme = false;
  let seen = 0;
  for (let i = 0; i < f.length; i += 2) {
    const n = f[i] as string;
    const v = f[i + 1] as string;
    if (n.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header ${n} after a regular field`;
      const bit = REQUEST_PSEUDO.get(n);
      if (bit === undefined) return `unknown pseudo-header ${n}`;
      if (seen & bit) return `duplicate ${n}`;
      seen |= bit;
      if (badValue(v)) return `CR, LF or NUL in ${n}`;
      if (n === ':method') method = v;
      else if (n === ':path') path = v;
      else if (n === ':scheme') scheme = true;
      continue;
    }
    regular = true;
    const e = checkField(n, v);
    if (e !== null) return e;
  }
  if (method === '') return 'no :method';
  if (method === 'CONNECT') return path === null && !scheme ? null : 'CONNECT with :path or :scheme';
  if (!scheme) return 'no :scheme';
  if (path === null || path === '') return 'no :path';
  return null;
}

export function checkResponse(f: readonly string[]): string | null {
  let regular = false;
  let status = false;
  for (let i = 0; i < f.length; i += 2) {
    const n = f[i] as string;
    const v = f[i + 1] as string;
    if (n.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header ${n} after a regular field`;
      if (n !== ':status') return `pseudo-header ${n} in a response`;
      if (status) return 'duplicate :status';
      if (!isStatus(v)) return `invalid :status ${JSON.stringify(v)}`;
      status = true;
      continue;
    }
    regular = true;
    const e = checkField(n, v);
    if (e !== null) return e;
  }
  return status ? null : 'no :status';
}

export function checkTrailers(f: readonly string[]): string | null {
  for (let i = 0; i < f.length; i += 2) {
    const n = f[i] as string;
    if (n.charCodeAt(0) === 0x3a) return `pseudo-header ${n} in trailers`;
    const e = checkField(n, f[i + 1] as string);
    if (e !== null) return e;
  }
  return null;
}

function isStatus(v: string): boolean {
  if (v.length !== 3) return false;
  const a = v.charCodeAt(0);
  const b = v.charCodeAt(1);
  const c = v.charCodeAt(2);
  return a >= 0x31 && a <= 0x39 && b >= 0x30 && b <= 0x39 && c >= 0x30 && c <= 0x39;
}
