// Accepted sockets moved onto Node's `onread` read path. net.Server has no `onread` option on Node
// 20, so the accepted socket's libuv handle is moved into a new net.Socket made with one: reads then
// go straight to a callback (no Readable push/emit, no maybeReadMore tick per read), as upstream
// sockets do (../io/read-buffer.ts, bench/README.md "HTTP/1.1 hot path").
//
// Only done once protocol detection settled on plaintext HTTP/1.1: detection, HTTP/2 (node:http2
// takes the socket), TLS and tcp_proxy keep the ordinary stream socket. The move is one-way: once a
// handle reads into a user buffer it cannot go back to 'data' events.
import { Socket, type Server } from 'node:net';
import { TLSSocket } from 'node:tls';
import { nextReadBuffer } from '../io/read-buffer.js';

/** The handle of a TCP socket, as far as the move needs it (Node internals, stable on Node 20). */
interface TcpHandle {
  reading: boolean;
  readStop(): number;
  useUserBuffer?: unknown;
}

/** The internals of net.Socket that the move touches. */
interface SocketInternals {
  _handle: TcpHandle | null;
  _server: (Server & { _connections: number }) | null;
  server: Server | null;
  _readableState: { ended: boolean };
}

export type OnreadCallback = (this: Socket, n: number, buf: Buffer) => boolean;

/** A socket moved onto `onread`, with the bytes the old one had read and not consumed (unshifted). */
export interface OnreadSocket {
  readonly socket: Socket;
  readonly head: Buffer | null;
}

/**
 * Moves an accepted plaintext socket's handle into a new net.Socket that reads through `callback`
 * (`this` is the new socket; Node calls it with the byte count and the read buffer, and stops
 * reading when it returns false). Returns null, leaving `old` untouched, when the socket can't be
 * moved: TLS sockets and other wrappers, a socket already ended or destroyed, or with bytes
 * written and not yet flushed.
 *
 * The old socket is destroyed without its handle (its 'close' listeners run; the connection stays
 * open). The new one counts towards the server's connections (maxConnections, server.close()) in
 * its place. Call it synchronously from a handler of the old socket's events (never between I/O
 * callbacks): bytes still buffered in the old socket are returned as `head`, and none can arrive
 * in between.
 */
export function moveToOnread(old: Socket, callback: OnreadCallback): OnreadSocket | null {
  if (old instanceof TLSSocket || old.constructor !== Socket) return null;
  const o = old as Socket & SocketInternals;
  const handle = o._handle;
  if (
    handle === null ||
    typeof handle.useUserBuffer !== 'function' ||
    old.destroyed ||
    old.connecting ||
    o._readableState.ended ||
    old.writableLength > 0 ||
    old.writableEnded
  )
    return null;
  // Unshifted / buffered bytes first (read() may restart the handle's reading: stopped just below,
  // and no read is delivered before the event loop runs again).
  let head: Buffer | null = null;
  if (old.readableLength > 0) {
    const b: unknown = old.read();
    if (Buffer.isBuffer(b) && b.length > 0) head = b;
  }
  if (o._readableState.ended) {
    // read() found the end as well: leave it to the stream path (rare: EOF buffered behind bytes).
    if (head !== null) old.unshift(head);
    return null;
  }
  handle.reading = false;
  handle.readStop();
  const server = o._server;
  o._handle = null;
  const socket = new Socket({
    handle: handle as never,
    allowHalfOpen: true,
    onread: { buffer: nextReadBuffer, callback },
  } as ConstructorParameters<typeof Socket>[0]);
  if (server !== null) {
    // net.Server counted the old socket and uncounts it when it is destroyed: count this one instead.
    const n = socket as Socket & SocketInternals;
    n._server = server;
    n.server = server;
    server._connections++;
  }
  old.destroy();
  return { socket, head };
}
