// Read memory of the sockets that read through Node's `onread` option (upstream sockets from
// `net.connect({ onread })`, accepted HTTP/1.1 sockets moved over in listener/onread-socket.ts,
// HTTP/2 wire connections).
//
// Every such socket reads into the same 64 KiB buffer: libuv fills it and Node calls the socket's
// read callback synchronously, one read at a time, and the next read (of any socket) overwrites it.
// The HTTP/1.1 callbacks parse straight from it (readView: no copy per read; head strings are made
// from the bytes either way) and copy only what outlives the callback (keep(): body bytes that are
// queued or kept for a retry, pipelined bytes parsed later, tunnel bytes; WriteBatch copies a view it
// writes on its own, since a write the kernel does not take at once keeps pointing at its bytes).
// No socket holds read memory of its own while idle, and the one buffer stays warm in the cache.
// (Node's own read path allocates per read instead: 64 KiB, then shrinks.)
//
// Why not plain 'data' events: each one goes through Readable.push/emit and schedules a
// maybeReadMore tick (on Node 20 every tick drain also allocates a Map); the onread callback skips
// all of that. Measured in bench/README.md ("HTTP/1.1 hot path").

const READ_BYTES = 64 * 1024;
const shared = Buffer.allocUnsafeSlow(READ_BYTES);
const sharedMemory = shared.buffer;

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

/**
 * The `n` bytes of one read, in place: valid only until the read callback returns. Anything of it
 * kept past that must go through keep().
 */
export function readView(n: number, buf: Buffer): Buffer {
  return buf.subarray(0, n);
}

/** True when `b` points into the shared read buffer (a readView or part of one). */
export function inReadBuffer(b: Buffer): boolean {
  return b.buffer === sharedMemory;
}

/** `b` itself when it has memory of its own, else a copy (for read bytes that outlive the callback). */
export function keep(b: Buffer): Buffer {
  if (b.buffer !== sharedMemory) return b;
  const c = Buffer.allocUnsafe(b.length);
  c.set(b);
  return c;
}
