// Test helpers for the wire layer: an echo server on the raw connection class, a collecting
// stream handler, and raw frame builders for error-path tests.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { DEFAULT_WIRE_LIMITS, WireConnection, type WireLimits } from './connection.js';
import { frameHeader } from './frames.js';
import type { StreamHandler, WireStream } from './stream.js';
import { WireClient } from './client.js';

/** Collects one response (or request) of a stream. */
export class Collect implements StreamHandler {
  head: string[] | null = null;
  informational: string[][] = [];
  trailers: string[] | null = null;
  chunks: Buffer[] = [];
  ended = false;
  reset: number | null = null;
  resetByPeer = false;
  readonly done: Promise<void>;
  private settle!: () => void;
  constructor() {
    this.done = new Promise((r) => (this.settle = r));
  }
  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
  onHeaders(_s: WireStream, f: string[], end: boolean): void {
    if (Number(f[1]) < 200) this.informational.push(f);
    else this.head = f;
    void end;
  }
  onTrailers(_s: WireStream, f: string[]): void {
    this.trailers = f;
  }
  onData(_s: WireStream, c: Buffer): void {
    this.chunks.push(Buffer.from(c));
  }
  onEnd(): void {
    this.ended = true;
    this.settle();
  }
  onReset(_s: WireStream, code: number, byPeer: boolean): void {
    this.reset = code;
    this.resetByPeer = byPeer;
    this.settle();
  }
  onDrain(): void {}
}

/**
 * A server on the wire connection that echoes each request: 200, the request's x-echo-* fields
 * back, the body back (read fully first unless `stream`), and trailers `x-trailer: yes`.
 */
export class EchoServer extends WireConnection {
  constructor(socket: Socket, limits: WireLimits = DEFAULT_WIRE_LIMITS) {
    super(socket, true, limits);
  }
  protected onStream(s: WireStream, fields: string[], _end: boolean): void {
    const path = fields[fields.indexOf(':path') + 1] ?? '/';
    const h = new Collect();
    const delay = /delay=(\d+)/.exec(path);
    if (path.startsWith('/pause')) s.pause(); // never reads: the peer is held to the window
    s.handler = {
      ...h,
      onHeaders: () => undefined,
      onTrailers: (_x, t) => void (h.trailers = t),
      onData: (_x, c) => void h.chunks.push(Buffer.from(c)),
      onReset: () => undefined,
      onDrain: () => undefined,
      onEnd: () => {
        const reply = (): void => {
          if (s.closed) return;
          if (path.startsWith('/reset')) return s.reset(0x8);
          const echo: string[] = [':status', '200'];
          for (let i = 0; i < fields.length; i += 2) {
            if ((fields[i] as string).startsWith('x-echo'))
              echo.push(fields[i] as string, fields[i + 1] as string);
          }
          if (h.trailers !== null) echo.push('x-got-trailers', h.trailers.join('='));
          s.sendHeaders(echo, false);
          s.write(h.body);
          s.end(['x-trailer', 'yes']);
        };
        if (delay !== null) setTimeout(reply, Number(delay[1]));
        else reply();
      },
    };
  }
}

export async function listen(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConn);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

/** A wire client on a fresh TCP connection (h2c prior knowledge), ready once SETTINGS arrived. */
export async function wireClient(
  port: number,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): Promise<WireClient> {
  const sock = connect({ port, host: '127.0.0.1' });
  await once(sock, 'connect');
  let ready!: () => void;
  const p = new Promise<void>((r) => (ready = r));
  const c = new WireClient(sock, limits, {
    onReady: () => ready(),
    onGoaway: () => undefined,
    onStreamGone: () => undefined,
    onClosed: () => undefined,
  });
  c.start();
  await p;
  return c;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer | number[] = []): Buffer {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const h = Buffer.alloc(9);
  frameHeader(h, p.length, type, flags, stream);
  return Buffer.concat([h, p]);
}

export function u32(...v: number[]): Buffer {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
  return b;
}
