// Inbound mTLS on a listener whose config has `tls` (a DownstreamTlsContext chain): peek the first
// bytes, terminate TLS with the current identity's context (requestCert; the client's chain is
// verified against the trust bundle with its SPIFFE ID and clientAuth usage), then run what the
// chain says over the decrypted stream: HTTP (HTTP/1.1 or HTTP/2, by preface; ALPN offers both) or
// tcp_proxy. STRICT refuses anything that is not TLS, and TLS before the sidecar has a certificate;
// PERMISSIVE hands plaintext to the listener's plaintext chains and counts it per source address.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ListenerTlsConfig, MeshListenerTlsConfig } from '../config/decode-tls.js';
import { dispatchConnection } from '../h2/h2-dispatch.js';
import { acceptWireH2, wireServerFromEnv } from '../h2wire/server.js';
import { detectProtocol } from '../listener/detect.js';
import type { ProtocolHost } from '../listener/protocol-handlers.js';
import type { MeshTls } from './mesh-tls.js';
import { acceptGatewayTls } from './gateway-tls.js';
import { acceptPassthrough } from './gateway-passthrough.js';
import { awaitServerHandshake, Handshaking } from './handshake.js';
import { setPeerIdentity } from './peer.js';

const WIRE_SERVER = wireServerFromEnv();

/** How long a STRICT listener waits for a ClientHello, and anyone for the handshake to finish. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** What inbound TLS needs of a listener. */
export interface MeshTlsHost extends ProtocolHost {
  /** The listener's own handling of a connection (plaintext, or a decrypted tcp stream). */
  acceptPlain(socket: Socket): void;
}

/**
 * Takes over an accepted socket on a listener with `cfg`. `mtls` undefined (a data plane built
 * without one) behaves as a sidecar without a certificate.
 */
export function acceptMeshConnection(
  host: MeshTlsHost,
  socket: Socket,
  cfg: ListenerTlsConfig,
  mtls: MeshTls | undefined,
  detectTimeoutMs: number,
): void {
  // A gateway's HTTPS port: server-side TLS by SNI with SDS certificates (gateway-tls.ts).
  if (cfg.mode === 'terminate') return acceptGatewayTls(host, socket, cfg);
  // A gateway's TLS passthrough port: SNI -> TLSRoute -> tcp_proxy (gateway-passthrough.ts).
  if (cfg.mode === 'passthrough') return acceptPassthrough(host, socket, cfg);
  const name = host.context.name;
  const pending = new Handshaking(host, socket);
  const strict = cfg.mode === 'strict';
  pending.cancel = detectProtocol(
    socket,
    { timeoutMs: strict ? HANDSHAKE_TIMEOUT_MS : detectTimeoutMs },
    (d) => {
      if (d.protocol !== 'tls') {
        if (strict) {
          mtls?.refuse(name, 'plaintext', { remote: socket.remoteAddress, detected: d.protocol });
          socket.destroy();
          return;
        }
        pending.release();
        if (d.ended && d.head === null) return void socket.destroy();
        mtls?.plaintextAccepted(name, socket.remoteAddress);
        if (d.head !== null) socket.unshift(d.head);
        host.acceptPlain(socket);
        // Detection paused the socket; tcp_proxy resumes it itself once its upstream is connected.
        if (host.context.config.mode !== 'tcp') socket.resume();
        return;
      }
      if (d.head !== null) socket.unshift(d.head);
      terminate(host, pending, socket, cfg, mtls);
    },
  );
}

function terminate(
  host: MeshTlsHost,
  pending: Handshaking,
  socket: Socket,
  cfg: MeshListenerTlsConfig,
  mtls: MeshTls | undefined,
): void {
  const name = host.context.name;
  const m = mtls?.material();
  if (mtls === undefined || m === undefined) {
    mtls?.refuse(name, 'no_certificate_yet', { remote: socket.remoteAddress });
    socket.destroy();
    return;
  }
  const remote = socket.remoteAddress;
  const tls = new TLSSocket(socket, {
    isServer: true,
    secureContext: mtls.context(m, cfg.tls),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: [...cfg.tls.alpn],
  });
  awaitServerHandshake(pending, tls, HANDSHAKE_TIMEOUT_MS, {
    timeout: () => mtls.refuse(name, 'handshake_timeout', { remote }),
    failed: (e) => mtls.refuse(name, 'handshake_failed', { remote, err: e.message }),
    verify: () => {
      const v = mtls.verifyClient(m, tls.getPeerCertificate(true));
      if (!v.ok) {
        mtls.refuse(name, 'peer_identity', { remote, err: v.error });
        return false;
      }
      mtls.accepted();
      setPeerIdentity(tls, v.id, m.spiffeId);
      return true;
    },
    established: () =>
      cfg.inner === 'tcp'
        ? host.acceptPlain(tls)
        : tls.alpnProtocol === 'h2' && WIRE_SERVER
          ? acceptWireH2(tls, host) // ALPN h2 from a peer sidecar: src/proxy/h2wire
          : dispatchConnection(tls, host),
  });
}
