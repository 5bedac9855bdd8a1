// Small loopback checks the supervisor makes: does a port accept connections, what does a
// sidecar's admin /ready say. Both settle within their timeout and never throw.
import { request } from 'node:http';
import { connect } from 'node:net';

export function tcpOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export interface SidecarReadiness {
  readonly ready: boolean;
  readonly reason: string;
}

/** GET /ready on a sidecar's admin port. */
export function sidecarReady(adminPort: number, timeoutMs = 1000): Promise<SidecarReadiness> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: adminPort, path: '/ready', method: 'GET', agent: false, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          let reason = `admin /ready answered ${res.statusCode}`;
          try {
            reason = (JSON.parse(body) as { reason?: string }).reason ?? reason;
          } catch {
            /* keep the status */
          }
          resolve({ ready: res.statusCode === 200, reason });
        });
        res.on('error', () => resolve({ ready: false, reason: 'admin /ready: connection reset' }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ready: false, reason: `sidecar admin port: ${e.message}` }));
    req.end();
  });
}
