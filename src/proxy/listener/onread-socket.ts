// Accepted sockets moved onto Node's `onread` read path. net.Server has no `onread` option on Node
// 20, so the accepted socket's libuv handle is moved into a new net.Socket made with one: reads then
// go straight to a callback (no Readable push/emit, no maybeReadMore tick per read), as upstream
// sockets do (../io/read-buffer.ts, bench/README.md "HTTP/1.1 hot path").
//
// Only done once protocol detection settled on HTTP/1.1: detection, HTTP/2 (node:http2 takes the
// socket) and tcp_proxy keep the ordinary stream socket. The switch is one-way: once a handle reads
// into a user buffer it cannot go back to 'data' events.
//
// TLS sockets made over an accepted socket (inbound mTLS, a gateway's HTTPS port) are switched in
// place instead (readTlsThroughOnread): Node 20's TLSSocket takes `onread` only when it creates its
// own handle (`tls.connect`), but its TLSWrap handle reads into a user buffer just the same; the
// TLSSocket keeps its handle, so alerts, errors, close and the TLS state stay Node's own.
import { Socket, type Server } from 'node:net';
import { TLSSocket } from 'node:tls';
import { nextReadBuffer } from '../io/read-buffer.js';

/** The handle of a TCP socket, as far as the move needs it (Node internals, stable on Node 20). */
interface TcpHandle {
  reading: boolean;
  readStop(): number;
  useUserBuffer?: unknown;
}

/**
 * The private symbols net.Socket keeps its `onread` option under (own properties of every socket,
 * null unless the option was given; found by description on a probe socket, once).
 */
const onreadKeys = ((): { buffer: symbol; callback: symbol; gen: symbol } | null => {
  const probe = new Socket();
  const by = (d: string): symbol | undefined =>
    Object.getOwnPropertySymbols(probe).find((k) => k.description === d);
  const [buffer, callback, gen] = [by('kBuffer'), by('kBufferCb'), by('kBufferGen')];
  probe.destroy();
  return buffer !== undefined && callback !== undefined && gen !== undefined
    ? { buffer, callback, gen }
    : null;
})();

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

/**
 * Switches an established TLS socket (server side, made over an accepted socket) to read its
 * decrypted bytes through `callback`, in place, as `tls.connect({ onread })` sockets do: the
 * TLSWrap handle reads into the shared read buffer and Node calls `callback` (`this` is the
 * socket) per read, with no Readable push/emit and no tick per read. Everything else stays the
 * TLSSocket's own: alerts and errors ('error', then 'close'), the peer's close_notify or FIN ('end'
 * through the Readable side, which must be flowing), writes, timeouts and destroy. pause()/resume()
 * stop and start the handle's reading (backpressure), as for any onread socket.
 *
 * Returns the decrypted bytes already buffered in the Readable side (read before the switch, to be
 * parsed first) in `head`, or null, leaving `tls` untouched, when it can't switch: not a TLSSocket,
 * an internals mismatch (another Node), destroyed, ended, or already switched. Call it synchronously
 * from a handler of the socket's events (no read can be delivered in between).
 */
export function readTlsThroughOnread(tls: Socket, callback: OnreadCallback): OnreadSocket | null {
  if (!(tls instanceof TLSSocket) || onreadKeys === null) return null;
  const t = tls as TLSSocket & SocketInternals & Record<symbol, unknown>;
  const handle = t._handle;
  if (
    handle === null ||
    typeof handle.useUserBuffer !== 'function' ||
    !(onreadKeys.buffer in t) ||
    t[onreadKeys.buffer] !== null ||
    tls.destroyed ||
    t._readableState.ended
  )
    return null;
  let head: Buffer | null = null;
  if (tls.readableLength > 0) {
    const b: unknown = tls.read();
    if (Buffer.isBuffer(b) && b.length > 0) head = b;
  }
  if (t._readableState.ended) {
    if (head !== null) tls.unshift(head);
    return null;
  }
  const buf = nextReadBuffer();
  t[onreadKeys.buffer] = buf;
  t[onreadKeys.callback] = callback;
  t[onreadKeys.gen] = nextReadBuffer;
  (handle.useUserBuffer as (b: Buffer) => void).call(handle, buf);
  return { socket: tls, head };
}
