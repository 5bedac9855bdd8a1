// Shared bits of the shop's demo apps: one-line logs, an HTTP server on 127.0.0.1:$PORT with
// GET /healthz, JSON calls to another service with a timeout, and a clean exit on SIGTERM/SIGINT.
import { createServer, request, Agent } from 'node:http';
import { setTimeout } from 'node:timers';
import { URL } from 'node:url';

/** Logs one line: `<app> <message>` plus key=value fields. */
export function log(app, message, fields = {}) {
  const kv = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  process.stdout.write(`${app} ${message}${kv ? ' ' + kv : ''}\n`);
}

/** The port from $PORT (required unless a default is given). */
export function portFromEnv(app, fallback) {
  const raw = process.env.PORT ?? (fallback === undefined ? undefined : String(fallback));
  const port = Number(raw);
  if (!raw || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`${app}: set PORT to the port to listen on (got ${JSON.stringify(raw)})\n`);
    process.exit(2);
  }
  return port;
}

/** An `http://host:port` base URL from an `*_ADDR` variable (`127.0.0.1:1234` or a URL). */
export function addrFromEnv(app, name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`${app}: ${name} is not set (host:port of that service, e.g. its sidecar port)\n`);
    process.exit(2);
  }
  return v.includes('://') ? v.replace(/\/$/, '') : `http://${v}`;
}

export function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Serves `handler(req, res, url)` on 127.0.0.1:port, with GET /healthz answered here. Resolves with
 * the server once listening; on SIGTERM/SIGINT closes it (in-flight requests finish, idle
 * keep-alive connections close), runs `onStop`, and exits 0 (at most 5 s later).
 */
export async function serve(app, port, handler, { onStop, startFields = {} } = {}) {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/healthz') return sendJson(res, 200, { ok: true, app });
    Promise.resolve(handler(req, res, url)).catch((err) => {
      log(app, 'request failed', { path: url.pathname, error: err.message });
      if (!res.headersSent) sendJson(res, 500, { error: err.message });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  log(app, 'started', { listen: `127.0.0.1:${server.address().port}`, ...startFields });
  onShutdown(app, async () => {
    await new Promise((resolve) => {
      server.close(resolve);
      server.closeIdleConnections();
    });
    await onStop?.();
  });
  return server;
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0; a second signal, or 5 s, exits at once. */
export function onShutdown(app, stop) {
  let stopping = false;
  const handle = (signal) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(app, 'stopping', { signal });
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    Promise.resolve(stop())
      .catch((err) => log(app, 'error while stopping', { error: err.message }))
      .finally(() => {
        log(app, 'stopped');
        process.exit(0);
      });
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/**
 * GET a JSON document; rejects with an Error carrying `status` on a non-2xx answer, a bad body, a
 * connection failure, or after `timeoutMs`.
 */
export function getJson(url, { headers = {}, timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { accept: 'application/json', ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          const why = res.headers['x-trellis-error'] ? ` (${res.headers['x-trellis-error']})` : '';
          return reject(Object.assign(new Error(`${url} answered ${status}${why}`), { status }));
        }
        try {
          resolve({ body: JSON.parse(text), headers: res.headers });
        } catch {
          reject(Object.assign(new Error(`${url} answered with a body that is not JSON`), { status }));
        }
      });
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error(`${url} did not answer in ${timeoutMs} ms`), { code: 'timeout' })),
    );
    req.on('error', reject);
    req.end();
  });
}
