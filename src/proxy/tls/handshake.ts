// What the server-side TLS of a listener has in common, mesh mTLS (inbound.ts) and a gateway's
// HTTPS port (gateway-tls.ts): the connection is the listener's while its handshake runs (drain and
// shutdown close it), the handshake is bounded in time, a failure is refused and closed, and once
// secure the decrypted socket leaves the pending state for whatever runs over it.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HandledConnection, ProtocolHost } from '../listener/protocol-handlers.js';

/** A connection before its handshake finished, adopted by `host` until `release`. */
export class Handshaking implements HandledConnection {
  /** The socket to close: the accepted one, then the TLS socket over it. */
  socket: Socket;
  /** Stops what is still waiting on the raw socket (protocol detection). */
  cancel: () => void = () => undefined;
  private readonly host: ProtocolHost;
  private readonly raw: Socket;
  private readonly closed: () => void;

  constructor(host: ProtocolHost, socket: Socket) {
    this.host = host;
    this.raw = socket;
    this.socket = socket;
    this.closed = () => host.onClosed(this);
    host.adopt(this);
    socket.once('close', this.closed);
  }
  startDrain(): void {
    this.destroy();
  }
  destroy(): void {
    this.cancel();
    this.socket.destroy();
  }
  /** The socket goes on elsewhere (plaintext, or the established TLS): no longer tracked here. */
  release(): void {
    this.raw.removeListener('close', this.closed);
    this.host.onClosed(this);
  }
}

/**
 * Waits for the server-side handshake of `tls` (made over `pending`'s socket) for at most
 * `timeoutMs`: a timeout or an error calls `timeout` / `failed` and destroys the socket. Once
 * secure, `verify` (when given) may refuse it (false: destroyed); else the connection is released
 * from `pending` and `established` runs over the decrypted socket.
 */
export function awaitServerHandshake(
  pending: Handshaking,
  tls: TLSSocket,
  timeoutMs: number,
  on: {
    timeout(): void;
    failed(e: Error): void;
    verify?(): boolean;
    established(): void;
  },
): void {
  pending.socket = tls;
  const timer = setTimeout(() => {
    on.timeout();
    tls.destroy();
  }, timeoutMs);
  timer.unref();
  const onError = (e: Error): void => {
    clearTimeout(timer);
    on.failed(e);
    tls.destroy();
  };
  tls.once('error', onError);
  tls.once('secure', () => {
    clearTimeout(timer);
    tls.removeListener('error', onError);
    if (on.verify !== undefined && !on.verify()) {
      tls.destroy();
      return;
    }
    // What tls.Server does for its sockets: node:http2 waits for 'secureConnect' (a client event)
    // while this is true, and would never set up a session over a server-side socket.
    const t = tls as TLSSocket & { secureConnecting: boolean; _releaseControl?: () => boolean };
    t.secureConnecting = false;
    // Also what tls.Server does: TLS errors after the handshake (a record that fails to decrypt,
    // an alert) are emitted as 'error' from now on. Before it, a TLSSocket made over an accepted
    // socket only emits them as '_tlsError' and stays open until the peer or a timeout closes it.
    t._releaseControl?.();
    pending.release();
    // Errors after the handshake belong to the protocol handler; until it attaches, swallow them.
    tls.on('error', () => tls.destroy());
    on.established();
  });
}
