// A minimal keep-alive HTTP/1.1 client connection on a raw socket for the load generators: one
// request at a time (no pipelining), responses framed by Content-Length or chunked encoding.
import { connect, type Socket } from 'node:net';

export class H1Conn {
  readonly sock: Socket;
  busy = false;
  private buf: Buffer = Buffer.alloc(0);
  private onDone: ((status: number) => void) | undefined;

  constructor(
    port: number,
    private readonly request: Buffer,
    onError: (err: Error) => void,
  ) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.setNoDelay(true);
    this.sock.on('data', (chunk: Buffer) => this.onData(chunk));
    this.sock.on('error', onError);
    this.sock.on('close', () => {
      if (this.onDone) onError(new Error('connection closed mid-request'));
    });
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
  }

  send(onDone: (status: number) => void): void {
    this.busy = true;
    this.onDone = onDone;
    this.sock.write(this.request);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const used = responseLength(this.buf);
      if (used < 0) return;
      const status = Number(this.buf.toString('latin1', 9, 12));
      this.buf = this.buf.subarray(used);
      const done = this.onDone;
      this.onDone = undefined;
      this.busy = false;
      done?.(status);
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** Bytes of the first complete response in buf, or -1 if it is not complete yet. */
function responseLength(buf: Buffer): number {
  const headEnd = buf.indexOf(CRLF2);
  if (headEnd < 0) return -1;
  const head = buf.toString('latin1', 0, headEnd).toLowerCase();
  const bodyStart = headEnd + 4;
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (cl) {
    const end = bodyStart + Number(cl[1]);
    return buf.length >= end ? end : -1;
  }
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) {
    let pos = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd < 0) return -1;
      const size = parseInt(buf.toString('latin1', pos, lineEnd), 16);
      if (size === 0) {
        // No trailers expected: the last chunk is followed by one CRLF.
        const end = buf.indexOf('\r\n', lineEnd + 2);
        return end < 0 ? -1 : end + 2;
      }
      pos = lineEnd + 2 + size + 2;
      if (pos > buf.length) return -1;
    }
  }
  return bodyStart; // no body (e.g. 204/304)
}

/** The request every generator sends: GET path with the Host header the topology needs. */
export const requestBytes = (path: string, host: string): Buffer =>
  Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: trellis-bench\r\n\r\n`, 'latin1');
