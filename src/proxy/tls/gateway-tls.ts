// TLS termination on an ingress gateway's HTTPS port (a listener whose config has
// tls.mode 'terminate'): the first bytes must be a TLS ClientHello (anything else is closed), the
// SNI picks the filter chain (exact server name, then the most specific *.suffix, then the chain
// without server_names; none: the handshake fails), whose SDS certificate comes from the config
// current at that handshake. So a Secret changed by `trellis apply` serves every new connection
// while open ones keep theirs. No client certificate is asked for; ALPN h2 / http/1.1; TLS 1.2+.
// Then the connection is HTTP like a plaintext one (HTTP/1.1, or HTTP/2 by ALPN or preface).
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { chainForServerName } from '../config/decode-gateway-tls.js';
import type { GatewayListenerTlsConfig, ServerTlsChain, TlsSecretConfig } from '../config/decode-tls.js';
import { dispatchConnection } from '../h2/h2-dispatch.js';
import { detectProtocol } from '../listener/detect.js';
import type { ProtocolHost } from '../listener/protocol-handlers.js';
import { awaitServerHandshake, Handshaking } from './handshake.js';

/** How long a client has to send its ClientHello and finish the handshake. */
export const GATEWAY_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Secure contexts per (secret object, chain settings): a new Secret version is a new object. */
const contexts = new WeakMap<TlsSecretConfig, Map<string, SecureContext>>();
let noCertificate: SecureContext | undefined;

function contextFor(secret: TlsSecretConfig, chain: ServerTlsChain): SecureContext {
  let byChain = contexts.get(secret);
  if (byChain === undefined) contexts.set(secret, (byChain = new Map()));
  const k = `${chain.minVersion}|${chain.maxVersion}`;
  let ctx = byChain.get(k);
  if (ctx === undefined) {
    ctx = createSecureContext({
      cert: secret.certificateChain,
      key: secret.privateKey,
      minVersion: chain.minVersion,
      maxVersion: chain.maxVersion,
    });
    byChain.set(k, ctx);
  }
  return ctx;
}

/** A context without a certificate: a handshake on it fails (no chain, or its Secret not yet here). */
function refusing(): SecureContext {
  return (noCertificate ??= createSecureContext({ minVersion: 'TLSv1.2' }));
}

type Pick = { readonly ok: true; readonly ctx: SecureContext } | { readonly ok: false; readonly why: string };

function pick(host: ProtocolHost, cfg: GatewayListenerTlsConfig, servername: string | undefined): Pick {
  const chain = chainForServerName(cfg.chains, servername);
  if (chain === undefined)
    return { ok: false, why: `no certificate for server name ${JSON.stringify(servername ?? '')}` };
  const secret = host.context.plane.current().secrets?.get(chain.certSecret);
  if (secret === undefined) return { ok: false, why: `certificate ${chain.certSecret} not received yet` };
  try {
    return { ok: true, ctx: contextFor(secret, chain) };
  } catch (e) {
    return { ok: false, why: `certificate ${chain.certSecret} unusable: ${(e as Error).message}` };
  }
}

export function acceptGatewayTls(host: ProtocolHost, socket: Socket, cfg: GatewayListenerTlsConfig): void {
  const name = host.context.name;
  const log = host.context.plane.logger;
  const pending = new Handshaking(host, socket);
  const refuse = (why: string, remote: string | undefined): void =>
    log.info({ listener: name, remote, reason: why }, 'TLS connection refused');
  pending.cancel = detectProtocol(socket, { timeoutMs: GATEWAY_HANDSHAKE_TIMEOUT_MS }, (d) => {
    if (d.protocol !== 'tls') {
      refuse(`not TLS (${d.protocol}) on an HTTPS port`, socket.remoteAddress);
      socket.destroy();
      return;
    }
    if (d.head !== null) socket.unshift(d.head);
    const remote = socket.remoteAddress;
    const opts = cfg.chains[0]?.alpn ?? ['h2', 'http/1.1'];
    // Without SNI, SNICallback is not called: the default chain's context (or a refusing one).
    const dflt = pick(host, cfg, undefined);
    let failure: string | undefined = dflt.ok ? undefined : dflt.why;
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: dflt.ok ? dflt.ctx : refusing(),
      ALPNProtocols: [...opts],
      requestCert: false,
      SNICallback: (servername, cb) => {
        const p = pick(host, cfg, servername);
        failure = p.ok ? undefined : p.why;
        cb(null, p.ok ? p.ctx : refusing());
      },
    });
    awaitServerHandshake(pending, tls, GATEWAY_HANDSHAKE_TIMEOUT_MS, {
      timeout: () => refuse('handshake timeout', remote),
      failed: (e) => refuse(failure ?? `handshake failed: ${e.message}`, remote),
      established: () => dispatchConnection(tls, host),
    });
  });
}
