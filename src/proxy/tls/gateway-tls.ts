// TLS termination on an ingress gateway's HTTPS port (a listener whose config has
// tls.mode 'terminate'): the first bytes must be a TLS ClientHello (anything else is closed), the
// SNI picks the filter chain (exact server name, then the most specific *.suffix, then the chain
// without server_names; none: the handshake fails), whose SDS certificate comes from the config
// current at that handshake. So a Secret changed by `trellis apply` serves every new connection
// while open ones keep theirs. A listener with several certificates serves the ones whose SANs name
// the SNI (exact before wildcard, else the first; RSA and ECDSA side by side: the client's
// signature algorithms choose). A port with client certificate validation (Gateway API GEP-91,
// spec.tls.frontend; an inline validation_context) requires a client certificate its CAs verify,
// else the handshake fails. ALPN h2 / http/1.1; TLS 1.2+.
// Then the connection is HTTP like a plaintext one (HTTP/1.1, or HTTP/2 by ALPN or preface).
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { chainForServerName } from '../config/decode-gateway-tls.js';
import type { GatewayListenerTlsConfig, ServerTlsChain, TlsSecretConfig } from '../config/decode-tls.js';
import { dispatchConnection } from '../h2/h2-dispatch.js';
import { detectProtocol } from '../listener/detect.js';
import type { ProtocolHost } from '../listener/protocol-handlers.js';
import { awaitServerHandshake, Handshaking } from './handshake.js';
// node:crypto without its ESM namespace, whose getters load webcrypto (docs/sidecar.md "Memory").
const { X509Certificate } = process.getBuiltinModule('node:crypto');

/** How long a client has to send its ClientHello and finish the handshake. */
export const GATEWAY_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A number per secret object (a new Secret version is a new object): context cache keys. */
const secretIds = new WeakMap<TlsSecretConfig, number>();
let nextSecretId = 0;
const idOf = (s: TlsSecretConfig): number => {
  let id = secretIds.get(s);
  if (id === undefined) secretIds.set(s, (id = ++nextSecretId));
  return id;
};

/** Secure contexts per (first secret object, every secret's id, chain settings). */
const contexts = new WeakMap<TlsSecretConfig, Map<string, SecureContext>>();
let noCertificate: SecureContext | undefined;

/** What a certificate is picked by: its leaf's DNS SANs (lower-cased) and key type. */
interface Leaf {
  readonly dns: readonly string[];
  readonly keyType: string;
}
const leaves = new WeakMap<TlsSecretConfig, Leaf>();

function leafOf(secret: TlsSecretConfig): Leaf {
  let l = leaves.get(secret);
  if (l === undefined) {
    try {
      const x = new X509Certificate(secret.certificateChain);
      const dns = (x.subjectAltName ?? '')
        .split(', ')
        .filter((e) => e.startsWith('DNS:'))
        .map((e) => e.slice(4).toLowerCase());
      l = { dns, keyType: x.publicKey.asymmetricKeyType ?? '' };
    } catch {
      l = { dns: [], keyType: '' };
    }
    leaves.set(secret, l);
  }
  return l;
}

/** RFC 6125: `*.example.com` covers exactly one more label (`a.example.com`, not `a.b.example.com`). */
const wildcardCovers = (san: string, sni: string): boolean =>
  san.startsWith('*.') && sni.endsWith(san.slice(1)) && !sni.slice(0, -san.length + 1).includes('.');

/**
 * The certificates a handshake gets from a listener's several ones: those whose SANs name the SNI
 * exactly, else those covering it with a wildcard, else the first; at most one per key type (the
 * first), so an RSA and an ECDSA certificate for one name both go in the context and OpenSSL
 * serves the one the client's signature algorithms accept.
 */
export function selectCertificates(
  secrets: readonly TlsSecretConfig[],
  servername: string | undefined,
): TlsSecretConfig[] {
  if (secrets.length <= 1) return [...secrets];
  const sni = (servername ?? '').toLowerCase();
  let tier: TlsSecretConfig[] = [];
  if (sni !== '') {
    tier = secrets.filter((s) => leafOf(s).dns.includes(sni));
    if (tier.length === 0) tier = secrets.filter((s) => leafOf(s).dns.some((d) => wildcardCovers(d, sni)));
  }
  if (tier.length === 0) tier = [secrets[0] as TlsSecretConfig];
  const seen = new Set<string>();
  return tier.filter((s) => {
    const k = leafOf(s).keyType;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function contextFor(secrets: readonly TlsSecretConfig[], chain: ServerTlsChain): SecureContext {
  const first = secrets[0] as TlsSecretConfig;
  let byChain = contexts.get(first);
  if (byChain === undefined) contexts.set(first, (byChain = new Map()));
  const k = `${chain.minVersion}|${chain.maxVersion}|${secrets.map(idOf).join(',')}|${chain.clientCa ?? ''}`;
  let ctx = byChain.get(k);
  if (ctx === undefined) {
    ctx = createSecureContext({
      cert: secrets.map((s) => s.certificateChain),
      key: secrets.map((s) => s.privateKey),
      minVersion: chain.minVersion,
      maxVersion: chain.maxVersion,
      // Client certificates are verified against these CAs only (never the default roots).
      ...(chain.clientCa !== undefined && { ca: chain.clientCa }),
    });
    byChain.set(k, ctx);
  }
  return ctx;
}

/** A context without a certificate: a handshake on it fails (no chain, or its Secret not yet here). */
function refusing(): SecureContext {
  return (noCertificate ??= createSecureContext({ minVersion: 'TLSv1.2' }));
}

/**
 * The verification result of the client's chain against the context's CAs: OpenSSL's own (a
 * missing certificate already failed the handshake, as requestCert + rejectUnauthorized ask; an
 * unverifiable one is reported here). A TLSSocket made outside a tls.Server never sets
 * `authorized`, so this reads the handle as tls.Server does; without one it refuses (fail closed).
 */
function clientVerifyError(tls: TLSSocket): string | undefined {
  const handle = (tls as unknown as { _handle?: { verifyError?: () => Error | null | undefined } })._handle;
  if (typeof handle?.verifyError !== 'function') return 'cannot read the verification result';
  const e = handle.verifyError();
  if (e === null || e === undefined) return undefined;
  return (e as NodeJS.ErrnoException).code ?? e.message;
}

type Pick = { readonly ok: true; readonly ctx: SecureContext } | { readonly ok: false; readonly why: string };

function pick(host: ProtocolHost, cfg: GatewayListenerTlsConfig, servername: string | undefined): Pick {
  const chain = chainForServerName(cfg.chains, servername);
  if (chain === undefined)
    return { ok: false, why: `no certificate for server name ${JSON.stringify(servername ?? '')}` };
  // A listener with several certificates: one entry per certificate, same name and server names.
  const siblings = cfg.chains.filter((c) => c.name === chain.name && c.serverNames === chain.serverNames);
  const all = host.context.plane.current().secrets;
  const secrets: TlsSecretConfig[] = [];
  for (const c of siblings) {
    const s = all?.get(c.certSecret);
    if (s !== undefined) secrets.push(s);
  }
  if (secrets.length === 0) return { ok: false, why: `certificate ${chain.certSecret} not received yet` };
  // Fail closed: a port verifying clients against no CA (its ConfigMaps are gone) refuses all.
  if (chain.clientCa !== undefined && chain.clientCa.trim() === '')
    return { ok: false, why: 'no CA certificates to verify client certificates against' };
  const chosen = selectCertificates(secrets, servername);
  try {
    return { ok: true, ctx: contextFor(chosen, chain) };
  } catch (e) {
    return {
      ok: false,
      why: `certificate ${chosen.map((s) => s.name).join(', ')} unusable: ${(e as Error).message}`,
    };
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
    // GEP-91 client certificate validation is per port: every chain asks, or none does.
    const clientAuth = cfg.chains.some((c) => c.clientCa !== undefined);
    // Without SNI, SNICallback is not called: the default chain's context (or a refusing one).
    const dflt = pick(host, cfg, undefined);
    let failure: string | undefined = dflt.ok ? undefined : dflt.why;
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: dflt.ok ? dflt.ctx : refusing(),
      ALPNProtocols: [...opts],
      requestCert: clientAuth,
      rejectUnauthorized: clientAuth,
      SNICallback: (servername, cb) => {
        const p = pick(host, cfg, servername);
        failure = p.ok ? undefined : p.why;
        cb(null, p.ok ? p.ctx : refusing());
      },
    });
    awaitServerHandshake(pending, tls, GATEWAY_HANDSHAKE_TIMEOUT_MS, {
      timeout: () => refuse('handshake timeout', remote),
      failed: (e) => refuse(failure ?? `handshake failed: ${e.message}`, remote),
      // With client certificates: only a chain the port's CAs verify (and none missing).
      verify: () => {
        if (!clientAuth) return true;
        const err = clientVerifyError(tls);
        if (err === undefined) return true;
        refuse(`client certificate refused: ${err}`, remote);
        return false;
      },
      established: () => dispatchConnection(tls, host),
    });
  });
}
