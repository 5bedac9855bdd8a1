// The part of the HTTP API the secure port serves (over TLS, to sidecars anywhere): registration,
// heartbeats, certificates and the trust bundle, health. Everything else (apply, resources, tokens,
// CA rotation, proxy status) stays on the plaintext API, which binds loopback for the CLI.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from './router.js';

const SIDECAR_ROUTES: readonly (readonly [string, RegExp])[] = [
  ['POST', /^\/api\/v1\/instances$/],
  ['POST', /^\/api\/v1\/instances\/[^/]+\/heartbeat$/],
  ['DELETE', /^\/api\/v1\/instances\/[^/]+$/],
  ['POST', /^\/api\/v1\/certificates$/],
  ['GET', /^\/api\/v1\/trust-bundle$/],
  ['GET', /^\/healthz$/],
  ['GET', /^\/readyz$/],
];

/** True when the secure port serves `method path` (the path as the router sees it). */
export function isSidecarRoute(method: string, rawUrl: string): boolean {
  let path: string;
  try {
    path = new URL(rawUrl, 'http://localhost').pathname;
  } catch {
    return false;
  }
  return SIDECAR_ROUTES.some(([m, re]) => m === method && re.test(path));
}

/** A handler serving the sidecar routes of `router`, with the client certificate's SPIFFE ID. */
export function sidecarApiHandler(
  router: Router,
): (req: IncomingMessage, res: ServerResponse, peer: { spiffeId?: string }) => void {
  return (req, res, peer) => {
    if (!isSidecarRoute(req.method ?? 'GET', req.url ?? '/')) {
      res.writeHead(404, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(
        JSON.stringify({
          error: {
            code: 'NOT_FOUND',
            message: `${req.method ?? ''} ${req.url ?? ''} is not served on the secure port (it serves registration, certificates and the trust bundle to sidecars); use the API on the control plane's loopback port`,
          },
        }) + '\n',
      );
      return;
    }
    void router.handle(req, res, peer);
  };
}
