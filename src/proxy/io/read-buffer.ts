// Read memory of the sockets that read through Node's `onread` option (upstream sockets from
// `net.connect({ onread })`, accepted HTTP/1.1 sockets taken over in listener/onread-socket.ts).
//
// Each read lands in a 64 KiB read buffer (pages are touched only as far as reads go); its bytes
// are copied into an exact-size Buffer (from Node's shared pool when small) and the read buffer is
// handed back for the next read, so what the parsers hand out (body chunks, tunnel bytes) stays
// valid for as long as anyone holds it. Node's own read path also allocates per read (64 KiB, then
// shrinks).
//
// Why not plain 'data' events: each one goes through Readable.push/emit and schedules a
// maybeReadMore tick (on Node 20 every tick drain also allocates a Map); the onread callback skips
// all of that. Measured in bench/README.md ("HTTP/1.1 hot path").
//
// The protocol of a read callback: `const data = copyRead(n, buf)`, hand `data` on, then
// `recycleReadBuffer(buf)` last (not if handing on threw). Node calls nextReadBuffer() right after
// the callback returns, for the same socket, so the buffer goes straight back to it; a socket
// created while the bytes were being handled got a fresh buffer, never this one.

const READ_BYTES = 64 * 1024;
/** A read buffer whose bytes were copied out by the read callback just before. */
let spare: Buffer | null = null;

/** `onread.buffer`: Node calls it for a socket's first read buffer and right after each read callback. */
export function nextReadBuffer(): Buffer {
  const b = spare;
  if (b === null) return Buffer.allocUnsafeSlow(READ_BYTES);
  spare = null;
  return b;
}

/** The `n` bytes of one read, in a Buffer of their own. */
export function copyRead(n: number, buf: Buffer): Buffer {
  const data = Buffer.allocUnsafe(n);
  buf.copy(data, 0, 0, n);
  return data;
}

/** The read's bytes were copied out and handled: `buf` serves the next read (see nextReadBuffer). */
export function recycleReadBuffer(buf: Buffer): void {
  spare = buf;
}
