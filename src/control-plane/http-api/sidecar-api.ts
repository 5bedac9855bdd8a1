// The part of the HTTP API the secure port serves (over TLS, to sidecars anywhere): registration,
// heartbeats, certificates and the trust bundle, health. Everything else (apply, resources, tokens,
// CA rotation, proxy status) stays on the plaintext API, which binds loopback for the CLI and
// needs the admin token (admin-auth.ts).
// A client without a (verified) client certificate may only bootstrap: ask for its certificate
// (POST /api/v1/certificates, authenticated by its bootstrap token), read the trust bundle, and
// check health. Registration, heartbeats and deregistration need the workload certificate: 401.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from './router.js';

/** Routes of the secure port, and whether a client certificate is needed for each. */
const SIDECAR_ROUTES: readonly (readonly [method: string, path: RegExp, needsCertificate: boolean])[] = [
  ['POST', /^\/api\/v1\/instances$/, true],
  ['POST', /^\/api\/v1\/instances\/[^/]+\/heartbeat$/, true],
  ['DELETE', /^\/api\/v1\/instances\/[^/]+$/, true],
  ['POST', /^\/api\/v1\/certificates$/, false],
  ['GET', /^\/api\/v1\/trust-bundle$/, false],
  ['GET', /^\/healthz$/, false],
  ['GET', /^\/readyz$/, false],
];

/** What the secure port does with `method path` (the path as the router sees it). */
export function sidecarRoute(method: string, rawUrl: string): 'served' | 'needs-certificate' | 'not-served' {
  let path: string;
  try {
    path = new URL(rawUrl, 'http://localhost').pathname;
  } catch {
    return 'not-served';
  }
  const route = SIDECAR_ROUTES.find(([m, re]) => m === method && re.test(path));
  if (!route) return 'not-served';
  return route[2] ? 'needs-certificate' : 'served';
}

/** True when the secure port serves `method path` (the path as the router sees it). */
export function isSidecarRoute(method: string, rawUrl: string): boolean {
  return sidecarRoute(method, rawUrl) !== 'not-served';
}

/** The message of the 401 a client without a client certificate gets. */
export const CLIENT_CERTIFICATE_REQUIRED =
  "a client certificate (a workload identity) is required for this call on the control plane's secure port: the sidecar gets one with a bootstrap token ('trellis token create', then trellis proxy --token-file or TRELLIS_TOKEN); without one, only POST /api/v1/certificates, GET /api/v1/trust-bundle, /healthz and /readyz are served";

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error: { code, message } }) + '\n');
}

/** A handler serving the sidecar routes of `router`, with the client certificate's SPIFFE ID. */
export function sidecarApiHandler(
  router: Router,
): (req: IncomingMessage, res: ServerResponse, peer: { spiffeId?: string }) => void {
  return (req, res, peer) => {
    const route = sidecarRoute(req.method ?? 'GET', req.url ?? '/');
    if (route === 'not-served') {
      // The same answer with or without a certificate: nothing here depends on who asks.
      sendError(
        res,
        404,
        'NOT_FOUND',
        `${req.method ?? ''} ${req.url ?? ''} is not served on the secure port (it serves registration, certificates and the trust bundle to sidecars); use the API on the control plane's loopback port`,
      );
      return;
    }
    if (route === 'needs-certificate' && peer.spiffeId === undefined) {
      // The body is not read: drop the connection once the answer is out.
      res.shouldKeepAlive = false;
      sendError(res, 401, 'UNAUTHENTICATED', CLIENT_CERTIFICATE_REQUIRED);
      return;
    }
    void router.handle(req, res, peer);
  };
}
