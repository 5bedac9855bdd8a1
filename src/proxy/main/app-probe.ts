// Checks whether the local app answers: an HTTP GET on its readiness path (2xx/3xx), or else a
// TCP connect to its port; always settles within the timeout, never throws.
import { request } from 'node:http';
import { connect } from 'node:net';

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
    const req = request({ host: t.address, port: t.port, path: t.path, method: 'GET', agent: false });
    cleanup = () => req.destroy();
    req.once('response', (res) => {
      res.resume();
      const s = res.statusCode ?? 0;
      finish(
        s >= 200 && s < 400
          ? { ok: true }
          : { ok: false, reason: `app readiness check GET ${t.path} on ${where} answered ${s}` },
        cleanup,
      );
    });
    req.once('error', (e) =>
      finish({ ok: false, reason: `app readiness check GET ${t.path} on ${where}: ${e.message}` }, cleanup),
    );
    req.end();
  });
}
