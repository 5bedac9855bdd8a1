// Read memory of the sockets that read through Node's `onread` option (upstream sockets from
// `net.connect({ onread })`, accepted HTTP/1.1 sockets moved over in listener/onread-socket.ts).
//
// Every such socket reads into the same 64 KiB buffer: libuv fills it and Node calls the socket's
// read callback synchronously, one read at a time, and the callback copies the bytes into an
// exact-size Buffer (from Node's shared pool when small) before anything else runs, so what the
// parsers hand out (body chunks, tunnel bytes) stays valid for as long as anyone holds it. No
// socket holds read memory of its own while idle, and the one buffer stays warm in the cache.
// (Node's own read path allocates per read instead: 64 KiB, then shrinks.)
//
// Why not plain 'data' events: each one goes through Readable.push/emit and schedules a
// maybeReadMore tick (on Node 20 every tick drain also allocates a Map); the onread callback skips
// all of that. Measured in bench/README.md ("HTTP/1.1 hot path").

const READ_BYTES = 64 * 1024;
const shared = Buffer.allocUnsafeSlow(READ_BYTES);

/** `onread.buffer`: Node calls it for a socket's first read buffer and right after each read callback. */
export function nextReadBuffer(): Buffer {
  return shared;
}

/** The `n` bytes of one read, in a Buffer of their own (the read buffer is reused by the next read). */
export function copyRead(n: number, buf: Buffer): Buffer {
  const data = Buffer.allocUnsafe(n);
  buf.copy(data, 0, 0, n);
  return data;
}
