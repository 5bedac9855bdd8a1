// Test support for the HTTP/2 and gRPC suites: a protobuf-free gRPC Echo service (Buffers in and
// out) for @grpc/grpc-js, configs with http2 clusters, condition waits and a raw HTTP/2 frame client.
import * as grpc from '@grpc/grpc-js';
import { connect, type Socket } from 'node:net';
import type { ProxyConfig } from '../../src/proxy/config/types.js';

const id = (b: Buffer): Buffer => b;

function method(
  name: string,
  requestStream: boolean,
  responseStream: boolean,
): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
    originalName: name,
  };
}

export const ECHO: grpc.ServiceDefinition = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
};

export const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');
export type Echo = InstanceType<typeof EchoClient> & Record<string, (...a: unknown[]) => unknown>;

export function echoClient(port: number, authority: string): Echo {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
  }) as Echo;
}

export async function startGrpc(
  handlers: grpc.UntypedServiceImplementation,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20 });
  server.addService(ECHO, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { server, port };
}

/** Marks every cluster of a config as HTTP/2 (as the control plane does for grpc/http2 ports), except `h1`. */
export function asHttp2(cfg: ProxyConfig, h1: string[] = []): ProxyConfig {
  const clusters = new Map(
    [...cfg.clusters].map(([n, c]) => [
      n,
      { ...c, protocol: h1.includes(n) ? ('http1' as const) : ('http2' as const) },
    ]),
  );
  return { ...cfg, clusters };
}

/** Polls a condition (every 10 ms) until it holds or the deadline passes. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---- raw HTTP/2 frames (for what a well-behaved client library refuses to send) ----

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

function hpackInt(prefixBits: number, first: number, n: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (n < max) return Buffer.from([first | n]);
  const out = [first | max];
  n -= max;
  while (n >= 128) {
    out.push((n % 128) + 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function literal(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(7, 0, b.length), b]);
}

/** GET / (static-table pseudo headers), :authority and extra headers as literals without indexing. */
export function headerBlock(authority: string, path: string, extra: [string, string][] = []): Buffer {
  const parts = [
    Buffer.from([0x82, 0x86]),
    Buffer.from([0x04]),
    literal(path),
    Buffer.from([0x01]),
    literal(authority),
  ];
  for (const [n, v] of extra) parts.push(Buffer.from([0x00]), literal(n), literal(v));
  return Buffer.concat(parts);
}

export interface RawFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** A raw h2c client: sends bytes, collects the frames the server sends and whether it closed. */
export class RawH2 {
  readonly socket: Socket;
  frames: RawFrame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({
          type: this.buf[3] as number,
          flags: this.buf[4] as number,
          stream: this.buf.readUInt32BE(5) & 0x7fffffff,
          payload: this.buf.subarray(9, 9 + len),
        });
        this.buf = this.buf.subarray(9 + len);
      }
    });
    this.socket.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0))]));
  }
  send(b: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }
  goaway(): RawFrame | undefined {
    return this.frames.find((f) => f.type === 7);
  }
  resets(): RawFrame[] {
    return this.frames.filter((f) => f.type === 3);
  }
  close(): void {
    this.socket.destroy();
  }
}
