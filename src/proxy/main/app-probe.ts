// Checks whether the local app answers: an HTTP GET on its readiness path (2xx/3xx), or else a
// TCP connect to its port; always settles within the timeout, never throws. The GET is written
// by hand on the net socket (the request head as netFetch's, http-fetch.ts) and only the status
// line is read (no node:http client per probe).
import { connect } from 'node:net';
import { requestHead, statusOf } from './http-fetch.js';

export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface AppProbeTarget {
  readonly address: string;
  readonly port: number;
  /** HTTP path; absent = TCP connect. */
  readonly path?: string;
}

export function probeApp(t: AppProbeTarget, timeoutMs: number): Promise<ProbeResult> {
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
    if (t.path === undefined) {
      const sock = connect({ host: t.address, port: t.port });
      cleanup = () => sock.destroy();
      sock.once('connect', () => finish({ ok: true }, cleanup));
      sock.once('error', (e) => finish({ ok: false, reason: `app at ${where}: ${e.message}` }, cleanup));
      return;
    }
    const sock = connect({ host: t.address, port: t.port });
    cleanup = () => sock.destroy();
    const fail = (why: string): void =>
      finish({ ok: false, reason: `app readiness check GET ${t.path} on ${where}${why}` }, cleanup);
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
    sock.write(requestHead('GET', t.path, t.port === 80 ? host : `${host}:${t.port}`));
  });
}
