// The control plane's secure port (15012 by default): one TLS listener for everything a sidecar
// calls. ALPN decides what a connection is: `h2` goes to the ADS gRPC server (grpc-js, by
// connection injection), `http/1.1` to the sidecar-facing part of the HTTP API (registration,
// certificates, trust bundle). The serving certificate comes from the control plane's own CA
// (spiffe://<td>/ns/trellis-system/sa/control-plane, DNS localhost, the bound IPs) and is renewed
// at about half its life, and at once when the CA's issuer or bundle changes: the new context is
// swapped in with setSecureContext (new handshakes use it, open connections keep theirs).
// Clients may present a workload certificate (mTLS): it is verified against the trust bundle and
// its SPIFFE ID kept per connection, so ADS and the API can check what a sidecar claims to be.
// A client without one may only bootstrap (ask for its certificate with its token, read the trust
// bundle, health): ADS refuses it with UNAUTHENTICATED, the other API calls answer 401 (the
// control plane's authenticatePeer and the sidecar API handler decide, with `peer`).
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants as cryptoConstants } from 'node:crypto';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock, type Timer } from '../common/clock.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { PeerVerifier, renewalTime } from '../security/workload-identity.js';
import type { CaService } from './ca/ca-service.js';

/** What a connection on the secure port is, by its `address:port` (the gRPC peer string). */
export interface PeerInfo {
  /** The verified SPIFFE ID of the client certificate; absent when the client presented none. */
  readonly spiffeId?: string;
  readonly tlsVersion: string;
}

export interface SecurePortOptions {
  readonly host: string;
  readonly port: number;
  readonly ca: CaService;
  readonly logger: Logger;
  /** Takes h2 connections (ADS). */
  readonly injectGrpc: (socket: Duplex) => void;
  /** Serves http/1.1 requests (the sidecar API), with the peer of the connection. */
  readonly handleHttp: (req: IncomingMessage, res: ServerResponse, peer: PeerInfo) => void;
  readonly clock?: Clock;
}

export interface SecurePort {
  readonly port: number;
  /** The peer of a live connection, by `address:port`. */
  peer(address: string): PeerInfo | undefined;
  /** The serving certificate in force. */
  certificate(): {
    spiffeId: string;
    serialNumber: string;
    notAfter: Date;
    dnsNames: string[];
    ips: string[];
  };
  close(): Promise<void>;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** The names the serving certificate carries for a bind address: localhost, loopback IPs, the host. */
export function servingNames(host: string): { dnsNames: string[]; ips: string[] } {
  const dnsNames = new Set(['localhost']);
  const ips = new Set(['127.0.0.1', '::1']);
  if (WILDCARDS.has(host)) {
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (!a.address.includes('%')) ips.add(a.address);
  } else if (isIP(host)) ips.add(host);
  else dnsNames.add(host.toLowerCase());
  return { dnsNames: [...dnsNames], ips: [...ips] };
}

const peerKey = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string =>
  `${s.remoteAddress ?? ''}:${s.remotePort ?? ''}`;

export async function startSecurePort(opts: SecurePortOptions): Promise<SecurePort> {
  const log = opts.logger.child({ component: 'secure-port' });
  const clock = opts.clock ?? systemClock;
  const names = servingNames(opts.host);
  const peers = new Map<string, PeerInfo>();
  let closed = false;
  let renewTimer: Timer | undefined;
  let etag = '';
  let verifier: PeerVerifier;
  let current: ReturnType<CaService['issueServingCertificate']>;

  const contextOptions = (): SecureContextOptions => {
    current = opts.ca.issueServingCertificate({ dnsNames: names.dnsNames, ipAddresses: names.ips });
    verifier = new PeerVerifier(current.trustBundlePem, { trustDomain: opts.ca.trustDomain });
    etag = opts.ca.bundle().etag;
    return { key: current.keyPem, cert: current.chainPem, ca: current.trustBundlePem, minVersion: 'TLSv1.2' };
  };

  const http = createHttpServer((req, res) => {
    const p = peers.get(peerKey(req.socket)) ?? { tlsVersion: 'unknown' };
    opts.handleHttp(req, res, p);
  });
  http.headersTimeout = 10_000;
  http.requestTimeout = 60_000;
  // This server never listens (it is handed TLS sockets), but its connection tracking (request
  // timeouts, closeAllConnections) starts on 'listening'.
  http.emit('listening');
  const sockets = new Set<Socket>();

  const tls = createTlsServer({
    ...contextOptions(),
    ALPNProtocols: ['h2', 'http/1.1'],
    requestCert: true,
    // No session resumption: a resumed session carries the client's leaf without its chain (so it
    // could not be verified again), and identities are checked per handshake.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
    // A sidecar without a certificate yet (it is asking for one) may connect, for the bootstrap
    // calls only; a certificate that does not verify is refused below, with the reason.
    rejectUnauthorized: false,
    handshakeTimeout: 10_000,
  });
  let tlsErrors = 0;
  tls.on('tlsClientError', (e: Error, s: TLSSocket) => {
    tlsErrors++;
    // One line per distinct failure is enough: a scanner or a sidecar with the wrong bundle retries.
    if (tlsErrors <= 5 || tlsErrors % 100 === 0)
      log.warn(
        { err: errorMessage(e), peer: peerKey(s), failures: tlsErrors },
        'TLS handshake failed (a client without the trust bundle, or not speaking TLS?)',
      );
  });
  tls.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  tls.on('secureConnection', (socket: TLSSocket) => {
    const key = peerKey(socket);
    const tlsVersion = socket.getProtocol() ?? 'unknown';
    const presented = socket.getPeerCertificate(true);
    let spiffeId: string | undefined;
    if (presented && presented.raw) {
      const v = verifier.verify(presented, null, 'client', clock.now());
      if (!v.ok) {
        const chain: string[] = [];
        for (let c = presented; c && c.raw && chain.length < 5; c = c.issuerCertificate) {
          chain.push(`${c.subjectaltname ?? c.subject?.CN ?? '?'} <- ${c.issuer?.CN ?? '?'}`);
          if (c.issuerCertificate === c) break;
        }
        log.warn(
          { peer: key, reason: v.error, chain, resumed: socket.isSessionReused() },
          'client certificate refused; closing the connection',
        );
        socket.destroy();
        return;
      }
      spiffeId = v.value.spiffeId;
    }
    peers.set(key, { tlsVersion, ...(spiffeId !== undefined ? { spiffeId } : {}) });
    socket.once('close', () => peers.delete(key));
    socket.on('error', () => undefined); // reported by whoever owns the connection
    if (socket.alpnProtocol === 'h2') opts.injectGrpc(socket);
    else http.emit('connection', socket);
  });

  const scheduleRenewal = (): void => {
    if (closed) return;
    const at = renewalTime(clock.now(), current.notAfter, Math.random());
    renewTimer = clock.setTimeout(() => renew('half of its lifetime'), Math.max(1000, at - clock.now()));
    renewTimer.unref?.();
  };
  const renew = (why: string): void => {
    if (closed) return;
    if (renewTimer) clock.clearTimeout(renewTimer);
    try {
      tls.setSecureContext(contextOptions());
      log.info(
        { why, serialNumber: current.serialNumber, notAfter: current.notAfter.toISOString() },
        'serving certificate renewed',
      );
    } catch (e) {
      // Keep the one in force; try again soon.
      log.error({ err: errorMessage(e) }, 'serving certificate renewal failed; retrying in 10 s');
      renewTimer = clock.setTimeout(() => renew('retry'), 10_000);
      renewTimer.unref?.();
      return;
    }
    scheduleRenewal();
  };
  // A new intermediate or root: move the serving certificate (and the client-certificate CAs) now.
  const watchCa = async (): Promise<void> => {
    while (!closed) {
      const started = clock.now();
      const b = await opts.ca.watchBundle(etag, 30_000);
      if (closed) return;
      if (b.etag !== etag) renew('the CA issuer or trust bundle changed');
      else if (clock.now() - started < 1000) return; // the CA closed: it answers at once
    }
  };

  await new Promise<void>((resolve, reject) => {
    tls.once('error', reject);
    tls.listen(opts.port, opts.host, () => {
      tls.off('error', reject);
      resolve();
    });
  });
  const port = (tls.address() as AddressInfo).port;
  scheduleRenewal();
  void watchCa();
  log.info(
    {
      host: opts.host,
      port,
      spiffeId: current!.spiffeId,
      dnsNames: names.dnsNames,
      ips: names.ips,
      notAfter: current!.notAfter.toISOString(),
    },
    'secure port listening (TLS: xDS over h2, sidecar API over http/1.1)',
  );

  return {
    port,
    peer: (address) => peers.get(address),
    certificate: () => ({
      spiffeId: current.spiffeId,
      serialNumber: current.serialNumber,
      notAfter: current.notAfter,
      dnsNames: names.dnsNames,
      ips: names.ips,
    }),
    async close() {
      closed = true;
      if (renewTimer) clock.clearTimeout(renewTimer);
      await new Promise<void>((resolve) => {
        tls.close(() => resolve());
        http.close(() => undefined);
        http.closeAllConnections();
        // h2 sessions belong to the ADS server, which ended their streams: what is left goes now.
        for (const s of sockets) s.destroy();
      });
    },
  };
}
