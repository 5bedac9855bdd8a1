// The mesh edge (a gateway listener: HCM use_remote_address): like Envoy's edge defaults, the
// client's address is appended to x-forwarded-for, x-forwarded-proto is set to the scheme the
// client used, and a client-supplied x-request-id is dropped so the proxy generates a fresh one.
// (Mesh-internal headers are stripped before this, as on every outbound listener.)

/** The peer address as it goes into x-forwarded-for (IPv4-mapped IPv6 as plain IPv4). */
export function forwardedFor(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  return remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.')
    ? remoteAddress.slice(7)
    : remoteAddress;
}

/** Rewrites a flat `[name, value, ...]` header list (lower-case names) in place. */
export function applyEdgeHeaders(headers: string[], remoteAddress: string | undefined, scheme: string): void {
  let xff: string | undefined;
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r] as string;
    const value = headers[r + 1] as string;
    if (name === 'x-forwarded-for') {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    if (name === 'x-forwarded-proto' || name === 'x-request-id') continue;
    if (w !== r) {
      headers[w] = name;
      headers[w + 1] = value;
    }
    w += 2;
  }
  if (w !== headers.length) headers.length = w; // a runtime call even when unchanged
  const peer = forwardedFor(remoteAddress);
  headers.push('x-forwarded-for', xff === undefined || xff.trim() === '' ? peer : `${xff}, ${peer}`);
  headers.push('x-forwarded-proto', scheme);
}
