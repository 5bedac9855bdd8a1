// Hooks the detecting listener hands protocols to, filled by the modules that implement them (the
// HTTP/2 server registers `h2`). Unset: the connection is closed with a log line.
import type { Socket } from 'node:net';
import type { ListenerContext } from '../pipeline/types.js';
import type { ListenerLimits } from './limits.js';

/** What a listener keeps of a connection, whatever its protocol: drain and shutdown controls. */
export interface HandledConnection {
  /** Stop taking new requests/streams; close when in-flight work is done. */
  startDrain(): void;
  /** Close at once. */
  destroy(): void;
}

/** The listener as a protocol handler sees it (the same shape as h2-dispatch's ListenerHost). */
export interface ProtocolHost {
  readonly context: ListenerContext;
  readonly limits: ListenerLimits;
  /** Runs HTTP/1.1 on a socket (bytes already read were unshift()ed back onto it). */
  startH1(socket: Socket): void;
  /** Tracks a connection; it must call `onClosed` once when it closes. */
  adopt(conn: HandledConnection): void;
  onClosed(conn: HandledConnection): void;
}

/**
 * Takes over an accepted socket. The bytes detection read (for h2: the preface and whatever
 * followed) were unshifted back into the socket, which is paused: the handler reads them first.
 */
export type ConnectionHandler = (socket: Socket, host: ProtocolHost) => void;

export interface ProtocolHandlers {
  /** HTTP/2 with prior knowledge (h2c): a client preface was seen. */
  h2?: ConnectionHandler;
}

/** The process-wide registry (one data plane per process; tests may set and unset entries). */
export const protocolHandlers: ProtocolHandlers = {};
