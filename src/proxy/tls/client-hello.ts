// Reads a TLS ClientHello off a socket without answering it (TLS passthrough): the handshake
// records are collected until the whole ClientHello message is in, and its server_name extension
// (RFC 6066 host_name) is returned with every byte read, to be sent on unchanged.
import type { Socket } from 'node:net';

export type HelloResult =
  | { readonly ok: true; readonly serverName: string | undefined; readonly head: Buffer }
  | { readonly ok: false; readonly why: string };

/** A ClientHello larger than this (across records) is refused. */
const MAX_HELLO = 64 * 1024;

type Parse = { readonly more: true } | HelloResult;

/** Parses what was read so far. */
export function parseClientHello(buf: Buffer): Parse {
  // Reassemble the handshake layer from consecutive handshake records.
  const hs: Buffer[] = [];
  let hsLen = 0;
  let off = 0;
  let msgLen = -1;
  while (off + 5 <= buf.length) {
    if (buf[off] !== 22) return { ok: false, why: 'not a TLS handshake record' };
    if (buf[off + 1] !== 3) return { ok: false, why: 'not a TLS record version' };
    const len = buf.readUInt16BE(off + 3);
    if (off + 5 + len > buf.length) break;
    hs.push(buf.subarray(off + 5, off + 5 + len));
    hsLen += len;
    off += 5 + len;
    if (msgLen < 0 && hsLen >= 4) {
      const h = Buffer.concat(hs);
      if (h[0] !== 1) return { ok: false, why: 'the first handshake message is not a ClientHello' };
      msgLen = h.readUIntBE(1, 3);
    }
    if (msgLen >= 0 && hsLen >= 4 + msgLen) break;
  }
  if (off === 0 && buf.length >= 1 && buf[0] !== 22) return { ok: false, why: 'not TLS' };
  if (msgLen < 0 || hsLen < 4 + msgLen) {
    if (buf.length > MAX_HELLO) return { ok: false, why: 'ClientHello too large' };
    return { more: true };
  }
  const m = Buffer.concat(hs).subarray(4, 4 + msgLen);
  try {
    return { ok: true, serverName: serverNameOf(m), head: buf };
  } catch {
    return { ok: false, why: 'malformed ClientHello' };
  }
}

function serverNameOf(m: Buffer): string | undefined {
  let p = 2 + 32; // client_version, random
  p += 1 + (m[p] as number); // session_id
  p += 2 + m.readUInt16BE(p); // cipher_suites
  p += 1 + (m[p] as number); // compression_methods
  if (p >= m.length) return undefined; // no extensions
  const end = p + 2 + m.readUInt16BE(p);
  if (end > m.length) throw new Error('extensions overrun');
  p += 2;
  while (p + 4 <= end) {
    const type = m.readUInt16BE(p);
    const len = m.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) throw new Error('extension overrun');
    if (type === 0) {
      // server_name_list: type(1) len(2) name
      let q = p + 2;
      const listEnd = p + 2 + m.readUInt16BE(p);
      while (q + 3 <= listEnd) {
        const nt = m[q] as number;
        const nl = m.readUInt16BE(q + 1);
        if (nt === 0)
          return m
            .subarray(q + 3, q + 3 + nl)
            .toString('ascii')
            .toLowerCase();
        q += 3 + nl;
      }
      return undefined;
    }
    p += len;
  }
  return undefined;
}

/**
 * Reads from `socket` until a whole ClientHello is in (or it is not TLS, or `timeoutMs` passes,
 * or the client closes); `done` is called once, with the socket paused. Returns a cancel.
 */
export function readClientHello(
  socket: Socket,
  timeoutMs: number,
  done: (r: HelloResult) => void,
): () => void {
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (r: HelloResult): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('error', onEnd);
    socket.pause();
    done(r);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const r = parseClientHello(buf);
    if (!('more' in r)) finish(r);
  };
  const onEnd = (): void => finish({ ok: false, why: 'closed before a whole ClientHello' });
  const timer = setTimeout(
    () => finish({ ok: false, why: `no ClientHello within ${timeoutMs} ms` }),
    timeoutMs,
  );
  timer.unref();
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('error', onEnd);
  socket.resume();
  return () => {
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('error', onEnd);
  };
}
