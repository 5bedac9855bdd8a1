// How an upstream response is framed towards the client (re-framed, never copied), and the tunnel
// a 101 / CONNECT 2xx turns the two connections into.
import type { Socket } from 'node:net';
import type { H1ResponseHead } from '../http/h1-parser.js';
import type { H1BodyFraming } from '../http/h1-serializer.js';
import type { UpstreamConn } from '../upstream/upstream-conn.js';

/**
 * Our framing for the client: the upstream's length when it sent one; chunked for chunked and
 * close-delimited bodies (close-delimited towards an HTTP/1.0 client); HEAD / 304 keep the length
 * they declared (no body follows either way).
 */
export function downstreamFraming(rh: H1ResponseHead, clientHttp10: boolean): H1BodyFraming {
  switch (rh.framing) {
    case 'content-length':
      return rh.contentLength;
    case 'chunked':
    case 'until-close':
      return clientHttp10 ? 'close' : 'chunked';
    default:
      return rh.status === 204 ? 'none' : declaredLength(rh);
  }
}

function declaredLength(rh: H1ResponseHead): H1BodyFraming {
  if (rh.status < 200) return 'none';
  const h = rh.headers;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] === 'content-length') {
      const n = Number(h[i + 1]);
      return Number.isSafeInteger(n) && n >= 0 ? n : 'none';
    }
  }
  return 'none';
}

/**
 * Splices a client socket and an upstream connection after the switch: `rest` (client bytes read
 * past the upgrade head) goes up first; upstream bytes past the 101 head follow via up.tunnel().
 */
export function spliceTunnel(ds: Socket, up: UpstreamConn, rest: Buffer | null): void {
  up.stopParsing();
  up.tunnel(ds);
  if (rest !== null && rest.length > 0) up.socket.write(rest);
  ds.pipe(up.socket);
  up.socket.on('close', () => ds.destroy());
  ds.on('close', () => up.socket.destroy());
}
