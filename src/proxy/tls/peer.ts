// The verified peer identity of a downstream connection (set by inbound mTLS on the TLS socket)
// and the header that carries it to the app: `x-forwarded-client-cert: By=<us>;URI=<peer>` (Envoy's
// XFCC elements). Every copy a client sent is removed on inbound listeners first, TLS or not, so
// the app can trust the header: only this sidecar writes it, and only for a verified peer.
import type { Socket } from 'node:net';

export const PEER_HEADER = 'x-forwarded-client-cert';

const PEER = Symbol.for('trellis.mtls.peer');
interface Peer {
  readonly id: string;
  /** The header value, made once per connection (every request on it carries the same one). */
  readonly xfcc: string;
}
type Tagged = { [PEER]?: Peer };

export function setPeerIdentity(socket: Socket, id: string, local: string): void {
  (socket as Tagged)[PEER] = { id, xfcc: `By=${local};URI=${id}` };
}

/**
 * The verified SPIFFE ID of the peer on `socket`, or undefined (plaintext). Also works on the
 * proxy object node:http2 gives as `session.socket` (property reads go to the real socket).
 */
export function peerIdentity(socket: object | null | undefined): string | undefined {
  return (socket as Tagged | null | undefined)?.[PEER]?.id;
}

/**
 * On an inbound listener: removes every client-sent x-forwarded-client-cert from a flat
 * (lower-case name, value) list, then adds ours when the peer was verified.
 */
export function applyPeerHeader(flat: string[], socket: object | null | undefined): void {
  for (let i = flat.length - 2; i >= 0; i -= 2) if (flat[i] === PEER_HEADER) flat.splice(i, 2);
  const p = (socket as Tagged | null | undefined)?.[PEER];
  if (p !== undefined) flat.push(PEER_HEADER, p.xfcc);
}
