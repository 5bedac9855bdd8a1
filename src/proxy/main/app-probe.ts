// Checks whether the local app answers: an HTTP GET on its readiness path (2xx/3xx), or else a
// TCP connect to its port; always settles within the timeout, never throws. The GET is written
// by hand on the net socket (the request head as netFetch's, http-fetch.ts) and only the status
// line is read (no node:http client per probe). The TCP check reuses its socket from one probe to
// the next (TcpProbe below).
import { connect, Socket } from 'node:net';
import { requestHead, statusOf } from './http-fetch.js';

export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface AppProbeTarget {
  readonly address: string;
  readonly port: number;
  /** HTTP path; absent = TCP connect. */
  readonly path?: string;
}

const READY: ProbeResult = Object.freeze({ ok: true });

/** Finished TCP checks ('close' emitted), ready for the next one (a stack linked through `next`). */
let spare: TcpProbe | undefined;
let spares = 0;
const MAX_SPARE = 2;

/**
 * One TCP check at a time on a socket kept for the next one: a net.Socket may connect again once
 * it has emitted 'close' (Node's documented reconnect); its listeners and callbacks are made once.
 * A new socket per check (every second on a registered sidecar) made ~7 KB of garbage each, the
 * socket and its stream states half of it: the idle sidecar's young generation filled twice as
 * fast (docs/sidecar.md "Memory").
 */
function putBack(p: TcpProbe): void {
  if (spares >= MAX_SPARE) return;
  p.next = spare;
  spare = p;
  spares++;
}

class TcpProbe {
  private readonly sock = new Socket();
  private resolve: ((r: ProbeResult) => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private target: AppProbeTarget | undefined;
  private timeoutMs = 0;
  next: TcpProbe | undefined;

  constructor() {
    this.sock.on('connect', () => this.end(READY));
    this.sock.on('error', (e) => this.end({ ok: false, reason: `app at ${this.where()}: ${e.message}` }));
    this.sock.on('close', () => {
      this.target = undefined;
      putBack(this);
    });
  }

  static take(): TcpProbe {
    const p = spare;
    if (p === undefined) return new TcpProbe();
    spare = p.next;
    p.next = undefined;
    spares--;
    return p;
  }

  start(t: AppProbeTarget, timeoutMs: number, resolve: (r: ProbeResult) => void): void {
    this.resolve = resolve;
    this.target = t;
    this.timeoutMs = timeoutMs;
    this.timer = setTimeout(this.onTimeout, timeoutMs);
    this.sock.connect({ host: t.address, port: t.port });
  }

  private readonly onTimeout = (): void => {
    this.timer = undefined;
    this.end({ ok: false, reason: `app at ${this.where()} did not answer within ${this.timeoutMs} ms` });
  };

  private where(): string {
    return `${this.target?.address}:${this.target?.port}`;
  }

  private end(r: ProbeResult): void {
    const resolve = this.resolve;
    if (resolve === undefined) return;
    this.resolve = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.sock.destroy();
    resolve(r);
  }
}

export function probeApp(t: AppProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const path = t.path;
  if (path === undefined)
    return new Promise<ProbeResult>((resolve) => TcpProbe.take().start(t, timeoutMs, resolve));
  const where = `${t.address}:${t.port}`;
  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    const finish = (r: ProbeResult, cleanup: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      resolve(r);
    };
    let cleanup: () => void = () => undefined;
    const timer = setTimeout(
      () => finish({ ok: false, reason: `app at ${where} did not answer within ${timeoutMs} ms` }, cleanup),
      timeoutMs,
    );
    const sock = connect({ host: t.address, port: t.port });
    cleanup = () => sock.destroy();
    const fail = (why: string): void =>
      finish({ ok: false, reason: `app readiness check GET ${path} on ${where}${why}` }, cleanup);
    let head = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => {
      head += c;
      for (;;) {
        const nl = head.indexOf('\r\n');
        if (nl < 0) {
          if (head.length > 8192) fail(': Parse Error: status line too long');
          return;
        }
        const s = statusOf(head.slice(0, nl));
        if (s === undefined) return fail(': Parse Error: not an HTTP/1.x status line');
        if (s >= 200) {
          if (s < 400) finish({ ok: true }, cleanup);
          else fail(` answered ${s}`);
          return;
        }
        // 1xx (100 Continue, 103 Early Hints): skip its header block, the final answer follows.
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = head.slice(end + 4);
      }
    });
    sock.once('end', () => fail(': socket hang up'));
    sock.once('error', (e) => fail(`: ${e.message}`));
    const host = t.address.includes(':') ? `[${t.address}]` : t.address;
    sock.write(requestHead('GET', path, t.port === 80 ? host : `${host}:${t.port}`));
  });
}
